#include "plan/dpkg.h"
#include "plan/dpkg_dirs.h"
#include "lib/alloc.h"
#include "lib/cache.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "lib/file.h"
#include "lib/path.h"
#include "plan/rootfs.h"
#include "plan/sysroot.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATUS "/var/lib/dpkg/status"
#define INFO "/var/lib/dpkg/info"
#define MAX_DB_FILE (256u << 20)

/* A file of the image that may come from a package: its name in the
 * sysroot with every directory resolved, and its entry. */
struct candidate {
  const char *base; /* into canonical */
  char *canonical;
  size_t entry;
  struct dpkg_package *owner;
};

static int
base_only(const void *a, const void *b)
{
  return strcmp(((const struct candidate *) a)->base, ((const struct candidate *) b)->base);
}

static int
by_base(const void *a, const void *b)
{
  const struct candidate *x = a, *y = b;
  int c = strcmp(x->base, y->base);
  return c ? c : strcmp(x->canonical, y->canonical);
}

char *
dpkg_field(const char *para, size_t len, const char *name)
{
  size_t n = strlen(name);

  for (const char *line = para; line < para + len;) {
    const char *eol = memchr(line, '\n', (size_t) (para + len - line));
    if (eol == NULL)
      eol = para + len;
    if ((size_t) (eol - line) > n && strncmp(line, name, n) == 0 && line[n] == ':') {
      const char *v = line + n + 1;
      while (v < eol && (*v == ' ' || *v == '\t'))
        v++;
      return xstrndup(v, (size_t) (eol - v));
    }
    line = eol + 1;
  }
  return NULL;
}

static int
by_name_arch(const void *a, const void *b)
{
  const struct dpkg_package *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : strcmp(x->arch, y->arch);
}

static void
package_free(struct dpkg_package *p)
{
  free(p->name);
  free(p->arch);
  free(p->version);
  free(p->maintainer);
  free(p->stanza);
  free(p->copyright);
  free(p->status_path);
  free(p->origin);
  strv_free(&p->files);
  strv_free(&p->canonical);
}

/* Every installed package of var/lib/dpkg/status, read into `b`; their
 * stanzas are copied later, for the packages an image has. */
static int
read_status(const char *host, struct buf *out, struct dpkg_packages *db, struct derror *err)
{
  struct buf b = { 0 };
  size_t cap = 0;

  if (read_file(host, MAX_DB_FILE, &b, err) < 0) {
    buf_free(&b);
    return -1;
  }
  for (const char *p = b.data; p < b.data + b.len;) {
    const char *end = strstr(p, "\n\n");
    size_t len = end ? (size_t) (end - p) + 1 : strlen(p);
    cleanup_free char *status = dpkg_field(p, len, "Status");
    cleanup_free char *name = dpkg_field(p, len, "Package");
    cleanup_free char *arch = dpkg_field(p, len, "Architecture");
    cleanup_free char *version = dpkg_field(p, len, "Version");
    size_t l = status ? strlen(status) : 0;
    if (name && arch && version && l >= 10 && strcmp(status + l - 10, " installed") == 0) {
      if (db->n == cap)
        db->items = xreallocarray(db->items, cap = cap ? cap * 2 : 256, sizeof *db->items);
      struct dpkg_package *pk = &db->items[db->n++];
      memset(pk, 0, sizeof *pk);
      pk->name = steal_pointer(&name);
      pk->arch = steal_pointer(&arch);
      pk->version = steal_pointer(&version);
      pk->at = (size_t) (p - b.data);
      pk->len = len;
      pk->layer = LAYER_MAX;
    }
    p += len;
    while (*p == '\n')
      p++;
  }
  *out = b;
  if (db->n)
    qsort(db->items, db->n, sizeof *db->items, by_name_arch);
  return 0;
}

/* The package a list file (info/NAME.list or info/NAME:ARCH.list) is of:
 * without an architecture, the only one of that name. */
static struct dpkg_package *
package_of_list(struct dpkg_packages *db, const char *file)
{
  cleanup_free char *name = xstrndup(file, strlen(file) - 5);
  char *colon = strchr(name, ':');
  size_t lo = 0, hi = db->n;

  if (colon)
    *colon++ = '\0';
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(db->items[mid].name, name) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (size_t i = lo; i < db->n && strcmp(db->items[i].name, name) == 0; i++)
    if (colon == NULL || strcmp(db->items[i].arch, colon) == 0)
      return &db->items[i];
  return NULL;
}

/* Read each list file, in name order, and give each candidate it names the
 * first package that names it. */
static int
read_lists(const struct sysroot *root, struct dpkg_dirs *dirs, struct dpkg_packages *db, struct candidate *cand,
           size_t n_cand, struct derror *err)
{
  cleanup_free char *dir_host = sysroot_host_path(root, INFO);
  DIR *d = opendir(dir_host);
  struct strv names = { 0 };
  struct buf b = { 0 };
  struct dirent *de;
  int ret = -1;

  if (d == NULL)
    return errno == ENOENT ? 0 : derror_errno(err, errno, "open `%s`", dir_host);
  while ((de = readdir(d)) != NULL) {
    size_t l = strlen(de->d_name);
    if (l > 5 && strcmp(de->d_name + l - 5, ".list") == 0)
      strv_push(&names, de->d_name);
  }
  closedir(d);
  strv_sort(&names);
  for (size_t i = 0; i < names.n; i++) {
    struct dpkg_package *pk = package_of_list(db, names.items[i]);
    if (pk == NULL)
      continue;
    cleanup_free char *host = path_join(dir_host, names.items[i]);
    b.len = 0; /* one buffer for every list */
    if (read_file(host, MAX_DB_FILE, &b, err) < 0)
      goto out;
    for (char *line = b.data; line < b.data + b.len;) {
      char *eol = strchr(line, '\n');
      if (eol)
        *eol = '\0';
      const char *slash = strrchr(line, '/');
      if (line[0] == '/' && slash) {
        struct candidate key = { .base = slash + 1 };
        struct candidate *c = bsearch(&key, cand, n_cand, sizeof *cand, base_only);
        /* bsearch finds one of the candidates of that name: walk to the first */
        while (c && c > cand && strcmp(c[-1].base, key.base) == 0)
          c--;
        if (c && strcmp(c->base, key.base) == 0) {
          cleanup_free char *canon = dpkg_canonical(root, dirs, line);
          for (; canon && c < cand + n_cand && strcmp(c->base, key.base) == 0; c++)
            if (c->owner == NULL && strcmp(c->canonical, canon) == 0)
              c->owner = pk;
        }
      }
      if (eol == NULL)
        break;
      line = eol + 1;
    }
  }
  ret = 0;
out:
  buf_free(&b);
  strv_free(&names);
  return ret;
}

/* The cache's key of what the lists say of these candidates: the database
 * known by the identity and times of its status file and list directory
 * (dpkg replaces both when it installs or removes anything). */
static int
owners_key(const struct sysroot *root, const struct candidate *cand, size_t n, char key[DIGEST_STR_LEN])
{
  cleanup_free char *status = sysroot_host_path(root, STATUS);
  cleanup_free char *info = sysroot_host_path(root, INFO);
  struct stat st, si;
  struct buf b = { 0 };

  if (stat(status, &st) < 0 || stat(info, &si) < 0)
    return -1;
  buf_printf(&b, "distill dpkg owners 1\n%s\n", root->root);
  buf_printf(&b, "%llu %llu %lld %lld.%09ld %lld.%09ld\n", (unsigned long long) st.st_dev,
             (unsigned long long) st.st_ino, (long long) st.st_size, (long long) st.st_mtim.tv_sec,
             st.st_mtim.tv_nsec, (long long) st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
  buf_printf(&b, "%llu %llu %lld.%09ld %lld.%09ld\n", (unsigned long long) si.st_dev,
             (unsigned long long) si.st_ino, (long long) si.st_mtim.tv_sec, si.st_mtim.tv_nsec,
             (long long) si.st_ctim.tv_sec, si.st_ctim.tv_nsec);
  for (size_t i = 0; i < n; i++)
    buf_append(&b, cand[i].canonical, strlen(cand[i].canonical) + 1);
  digest_buffer(b.data, b.len, key);
  buf_free(&b);
  return 0;
}

static struct dpkg_package *
find_package(struct dpkg_packages *db, const char *name, const char *arch)
{
  struct dpkg_package key = { .name = (char *) name, .arch = (char *) arch };
  return bsearch(&key, db->items, db->n, sizeof *db->items, by_name_arch);
}

/* The owners a previous build found for the same candidates: "NAME ARCH"
 * or "-" per candidate, in order.  -1 when there is no such note or it
 * does not fit (it is then found again). */
static int
owners_from_note(struct dpkg_packages *db, const struct buf *note, struct candidate *cand, size_t n)
{
  char *save = NULL, *copy = xstrndup(note->data, note->len);
  char *line = strtok_r(copy, "\n", &save);
  int ret = -1;

  if (line == NULL || strcmp(line, "distill dpkg owners 1") != 0)
    goto out;
  for (size_t i = 0; i < n; i++) {
    line = strtok_r(NULL, "\n", &save);
    char *sp = line ? strchr(line, ' ') : NULL;
    if (line == NULL || (strcmp(line, "-") != 0 && sp == NULL))
      goto out;
    if (sp) {
      *sp = '\0';
      if ((cand[i].owner = find_package(db, line, sp + 1)) == NULL)
        goto out;
    }
  }
  ret = strtok_r(NULL, "\n", &save) == NULL ? 0 : -1;
out:
  if (ret < 0)
    for (size_t i = 0; i < n; i++)
      cand[i].owner = NULL;
  free(copy);
  return ret;
}

static void
owners_to_note(struct cache *c, const char *key, const struct candidate *cand, size_t n)
{
  struct buf b = { 0 };

  buf_printf(&b, "distill dpkg owners 1\n");
  for (size_t i = 0; i < n; i++)
    if (cand[i].owner)
      buf_printf(&b, "%s %s\n", cand[i].owner->name, cand[i].owner->arch);
    else
      buf_printf(&b, "-\n");
  cache_note_put(c, key, b.data, b.len);
  buf_free(&b);
}

static bool
path_taken(const struct rootfs *fs, const char *path)
{
  for (size_t i = 0; i < fs->n; i++)
    if (strcmp(fs->items[i].path, path) == 0)
      return true;
  return false;
}

/* status.d (the stanza and the md5sums) and the copyright file of each
 * package that has files here. */
static int
add_metadata(struct rootfs *fs, const struct sysroot *root, struct dpkg_dirs *dirs, struct dpkg_packages *db,
             struct derror *err)
{
  for (size_t i = 0; i < db->n; i++) {
    struct dpkg_package *p = &db->items[i];
    bool twice = (i > 0 && strcmp(db->items[i - 1].name, p->name) == 0 && db->items[i - 1].files.n)
                 || (i + 1 < db->n && strcmp(db->items[i + 1].name, p->name) == 0 && db->items[i + 1].files.n);
    p->status_path = twice ? xasprintf("/var/lib/dpkg/status.d/%s:%s", p->name, p->arch)
                           : xasprintf("/var/lib/dpkg/status.d/%s", p->name);
    if (!path_taken(fs, p->status_path))
      rootfs_add_data(fs, p->status_path, p->layer, p->stanza, strlen(p->stanza), 0644, "dpkg status");
    cleanup_free char *sums_path = xasprintf("%s.md5sums", p->status_path);
    struct buf sums = { 0 };
    if (!path_taken(fs, sums_path)) {
      if (dpkg_md5sums(root, dirs, p, &sums, err) < 0)
        return -1;
      rootfs_add_data(fs, sums_path, p->layer, sums.data ? sums.data : "", sums.len, 0644, "dpkg md5sums");
      buf_free(&sums);
    }

    cleanup_free char *doc = xasprintf("/usr/share/doc/%s/copyright", p->name);
    cleanup_free char *resolved = NULL;
    struct derror e = DERROR_INIT;
    struct stat st;
    if (sysroot_resolve(root, doc, NULL, NULL, &resolved, &st, &e) == 0 && S_ISREG(st.st_mode)) {
      p->copyright = sysroot_host_path(root, resolved);
      if (!path_taken(fs, doc))
        rootfs_add_file(fs, doc, p->layer, p->copyright, (uint64_t) st.st_size, 0644, "dpkg copyright");
    }
    derror_clear(&e);
  }
  return 0;
}

static int
by_path(const void *a, const void *b)
{
  return strcmp(((const struct dpkg_owned *) a)->path, ((const struct dpkg_owned *) b)->path);
}

/* The regular files of the tree read from the sysroot, under the name dpkg
 * knows them by (every directory resolved), sorted by base name; returns
 * how many. */
static size_t
collect_candidates(const struct rootfs *fs, const struct sysroot *root, struct dpkg_dirs *dirs,
                   struct candidate *cand)
{
  size_t n_cand = 0, prefix = strlen(root->root);

  for (size_t i = 0; i < fs->n; i++) {
    const struct rootfs_entry *e = &fs->items[i];
    if (e->type != ROOTFS_FILE || e->source == NULL || strncmp(e->source, root->root, prefix) != 0
        || e->source[prefix] != '/')
      continue;
    char *canon = dpkg_canonical(root, dirs, e->source + prefix);
    if (canon == NULL)
      continue;
    cand[n_cand] = (struct candidate) { .base = path_basename(canon), .canonical = canon, .entry = i };
    n_cand++;
  }
  if (n_cand)
    qsort(cand, n_cand, sizeof *cand, by_base);
  return n_cand;
}

/* Each candidate's package: what the cache noted for this set of files and
 * this database, else the packages' lists (noted then for the next build). */
static int
find_owners(struct cache *cache, const struct sysroot *root, struct dpkg_dirs *dirs, struct dpkg_packages *db,
            struct candidate *cand, size_t n_cand, struct derror *err)
{
  char key[DIGEST_STR_LEN];
  struct buf note = { 0 };
  int ret = 0;

  if (n_cand == 0)
    return 0;
  bool keyed = cache && owners_key(root, cand, n_cand, key) == 0;
  if (!keyed || cache_note_get(cache, key, &note) < 0 || owners_from_note(db, &note, cand, n_cand) < 0) {
    ret = read_lists(root, dirs, db, cand, n_cand, err);
    if (ret == 0 && keyed)
      owners_to_note(cache, key, cand, n_cand);
  }
  buf_free(&note);
  return ret;
}

/* Each package's files in the entries' order, which the recipe fixes, and
 * the lowest layer that holds one. */
static void
assign_files(const struct rootfs *fs, const struct candidate *cand, size_t n_cand)
{
  struct dpkg_package **owner = xcalloc(fs->n ? fs->n : 1, sizeof *owner);
  const char **canon = xcalloc(fs->n ? fs->n : 1, sizeof *canon);

  for (size_t k = 0; k < n_cand; k++) {
    owner[cand[k].entry] = cand[k].owner;
    canon[cand[k].entry] = cand[k].canonical;
  }
  for (size_t i = 0; i < fs->n; i++) {
    struct dpkg_package *p = owner[i];
    if (p == NULL)
      continue;
    strv_push(&p->files, fs->items[i].path);
    strv_push(&p->canonical, canon[i]);
    if (fs->items[i].layer < p->layer)
      p->layer = fs->items[i].layer;
  }
  free(owner);
  free(canon);
}

/* Only the packages that have files here, each with its stanza of the
 * status file `text`; then the index of every owned path. */
static void
keep_owning(struct dpkg_packages *db, const struct buf *text)
{
  size_t kept = 0;

  for (size_t i = 0; i < db->n; i++) {
    struct dpkg_package *p = &db->items[i];
    if (p->files.n == 0) {
      package_free(p);
      continue;
    }
    p->stanza = xstrndup(text->data + p->at, p->len);
    p->maintainer = dpkg_field(p->stanza, p->len, "Maintainer");
    db->items[kept++] = *p;
  }
  db->n = kept;
  for (size_t i = 0; i < db->n; i++)
    db->n_owned += db->items[i].files.n;
  db->owned = xcalloc(db->n_owned ? db->n_owned : 1, sizeof *db->owned);
  for (size_t i = 0, k = 0; i < db->n; i++)
    for (size_t j = 0; j < db->items[i].files.n; j++)
      db->owned[k++] = (struct dpkg_owned) { db->items[i].files.items[j], i };
  if (db->n_owned)
    qsort(db->owned, db->n_owned, sizeof *db->owned, by_path);
}

int
dpkg_annotate(struct rootfs *fs, const struct sysroot *root, struct cache *cache, struct dpkg_packages *out,
              struct derror *err)
{
  cleanup_free char *status = sysroot_host_path(root, STATUS);
  struct dpkg_packages db = { 0 };
  struct candidate *cand = NULL;
  struct buf text = { 0 };
  struct dpkg_dirs dirs = { 0 };
  size_t n_cand = 0;
  int ret = -1;

  memset(out, 0, sizeof *out);
  if (access(status, F_OK) < 0)
    return 0;
  if (read_status(status, &text, &db, err) < 0)
    goto out;
  cand = xcalloc(fs->n ? fs->n : 1, sizeof *cand);
  n_cand = collect_candidates(fs, root, &dirs, cand);
  if (find_owners(cache, root, &dirs, &db, cand, n_cand, err) < 0)
    goto out;
  assign_files(fs, cand, n_cand);
  keep_owning(&db, &text);
  if (add_metadata(fs, root, &dirs, &db, err) < 0)
    goto out;
  *out = db;
  db = (struct dpkg_packages) { 0 };
  ret = 0;
out:
  dpkg_dirs_free(&dirs);
  for (size_t k = 0; k < n_cand; k++)
    free(cand[k].canonical);
  free(cand);
  buf_free(&text);
  dpkg_packages_free(&db);
  return ret;
}

ssize_t
dpkg_package_of(const struct dpkg_packages *pkgs, const char *path)
{
  struct dpkg_owned key = { path, 0 };
  const struct dpkg_owned *o = pkgs->n_owned ? bsearch(&key, pkgs->owned, pkgs->n_owned, sizeof key, by_path) : NULL;
  return o ? (ssize_t) o->package : -1;
}

void
dpkg_packages_free(struct dpkg_packages *pkgs)
{
  for (size_t i = 0; i < pkgs->n; i++)
    package_free(&pkgs->items[i]);
  free(pkgs->items);
  free(pkgs->owned);
  pkgs->items = NULL;
  pkgs->owned = NULL;
  pkgs->n = pkgs->n_owned = 0;
}
