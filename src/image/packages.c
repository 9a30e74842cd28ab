/* An image's packages and their differences: see packages.h; the order of
 * versions is versions.c's. */
#include "image/packages.h"
#include "plan/dpkg.h"
#include "plan/ecosystem.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/file.h"
#include "lib/path.h"
#include "lib/tmpguard.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATUS_D "/var/lib/dpkg/status.d/"
#define STANZA_MAX (1u << 20)

#define MD5SUMS_SUFFIX ".md5sums"
#define MD5SUMS_MAX (8u << 20)
/* a package.json, METADATA or PKG-INFO; a RECORD */
#define ECO_META_MAX (1u << 20)
#define RECORD_MAX (8u << 20)

/* A regular file directly in status.d: a stanza, or a stanza's md5sums. */
static bool
in_status_d(const struct image_file *f)
{
  const char *rest = f->path + strlen(STATUS_D);

  return f->type == 'f' && strncmp(f->path, STATUS_D, strlen(STATUS_D)) == 0 && *rest && !strchr(rest, '/');
}

static bool
is_md5sums(const char *path)
{
  size_t n = strlen(path), k = strlen(MD5SUMS_SUFFIX);
  return n > k && strcmp(path + n - k, MD5SUMS_SUFFIX) == 0;
}

/* A stanza of status.d (not an md5sums). */
static uint64_t
want_stanza(void *data, const struct image_file *f)
{
  (void) data;
  if (!in_status_d(f) || is_md5sums(f->path))
    return 0;
  return f->size < STANZA_MAX ? f->size : STANZA_MAX;
}

/* A dist-info's RECORD, which lists its distribution's files. */
static bool
is_record(const char *path)
{
  const char *base = path_basename(path);
  size_t dl = (size_t) (base - path);
  return strcmp(base, "RECORD") == 0 && dl > 11 && strncmp(base - 11, ".dist-info/", 11) == 0;
}

static uint64_t
capped(const struct image_file *f, uint64_t max)
{
  return f->size < max ? f->size : max;
}

/* A stanza, the md5sums that lists its package's files, an npm or Python
 * package's metadata, or a RECORD. */
static uint64_t
want_record(void *data, const struct image_file *f)
{
  (void) data;
  if (f->type != 'f')
    return 0;
  if (in_status_d(f))
    return capped(f, is_md5sums(f->path) ? MD5SUMS_MAX : STANZA_MAX);
  if (eco_metadata_of(f->path) != ECO_NONE)
    return capped(f, ECO_META_MAX);
  return is_record(f->path) ? capped(f, RECORD_MAX) : 0;
}

static const char *
kind_of(const struct image_package *p)
{
  return p->kind ? p->kind : "deb";
}

/* A Python distribution's name as PEP 503 compares them: lowercase, each
 * run of '-', '_' and '.' one '-'. */
static char *
pypi_normal(const char *name)
{
  char *n = xstrdup(name), *o = n;

  for (const char *p = name; *p; p++) {
    if (strchr("-_.", *p)) {
      if (o == n || o[-1] != '-')
        *o++ = '-';
    } else {
      *o++ = (char) tolower((unsigned char) *p);
    }
  }
  *o = '\0';
  return n;
}

static int
name_cmp(const struct image_package *a, const struct image_package *b)
{
  if (strcmp(kind_of(a), "pypi") != 0)
    return strcmp(a->name, b->name);
  cleanup_free char *na = pypi_normal(a->name), *nb = pypi_normal(b->name);
  return strcmp(na, nb);
}

/* By kind, name, architecture, then place. */
static int
by_name_arch(const void *pa, const void *pb)
{
  const struct image_package *a = pa, *b = pb;
  int c = strcmp(kind_of(a), kind_of(b));
  if (c == 0)
    c = name_cmp(a, b);
  if (c == 0)
    c = strcmp(a->arch, b->arch);
  return c ? c : strcmp(a->at ? a->at : "", b->at ? b->at : "");
}

char *
image_package_label(const struct image_package *p)
{
  if (p->at == NULL)
    return xasprintf("%s:%s", p->name, p->arch);
  return xasprintf("%s (%s, %s)", p->name, kind_of(p), p->at);
}

/* The files of a package's md5sums, extracted to `dir` (lines "MD5  PATH",
 * PATH without its leading slash), as image paths; its stanza and md5sums
 * are its own too.  An image without the md5sums has only those. */
static int
read_files(const struct image *img, const char *dir, size_t stanza, struct strv *files, struct derror *err)
{
  const char *path = img->files[stanza].path;
  cleanup_free char *sums = xasprintf("%s%s", path, MD5SUMS_SUFFIX);
  const struct image_file *f = image_find(img, sums);
  struct buf text = { 0 };

  strv_push(files, path);
  if (f == NULL || want_record(NULL, f) == 0)
    return 0;
  strv_push(files, sums);
  cleanup_free char *file = xasprintf("%s/%zu", dir, (size_t) (f - img->files));
  if (read_file(file, MD5SUMS_MAX, &text, err) < 0)
    return -1;
  for (size_t at = 0; at < text.len;) {
    const char *line = text.data + at, *eol = memchr(line, '\n', text.len - at);
    size_t n = eol ? (size_t) (eol - line) : text.len - at;
    at += n + 1;
    if (n > 34 && line[32] == ' ' && line[33] == ' ') {
      cleanup_free char *name = xstrndup(line + 34, n - 34);
      strv_push_take(files, xasprintf("/%s", name));
    }
  }
  buf_free(&text);
  return 0;
}

static int
by_path(const void *pa, const void *pb)
{
  const struct dpkg_owned *a = pa, *b = pb;
  return strcmp(a->path, b->path);
}

/* Every package's files, by path. */
static void
index_files(struct image_packages *out)
{
  for (size_t i = 0; i < out->n; i++)
    for (size_t k = 0; k < out->items[i].files.n; k++) {
      out->owned = xreallocarray(out->owned, out->n_owned + 1, sizeof *out->owned);
      out->owned[out->n_owned++] = (struct dpkg_owned){ out->items[i].files.items[k], i };
    }
  if (out->n_owned)
    qsort(out->owned, out->n_owned, sizeof *out->owned, by_path);
}

/* An extracted file of the image, its bytes (at most `max`). */
static bool
extracted(const struct image *img, const char *dir, const struct image_file *f, size_t max, struct buf *text)
{
  cleanup_free char *path = xasprintf("%s/%zu", dir, (size_t) (f - img->files));
  struct derror ignored = DERROR_INIT;
  bool ok = read_file(path, max, text, &ignored) == 0;

  derror_clear(&ignored);
  return ok;
}

/* The files of an npm package (below its directory, but in a nested
 * node_modules) or of an egg-info directory (below it). */
static void
files_below(const struct image *img, const char *dir, bool npm, struct strv *files)
{
  size_t n = strlen(dir);

  for (size_t i = image_first_below(img, dir); i < img->n_files; i++) {
    const char *p = img->files[i].path;
    if (strncmp(p, dir, n) != 0 || p[n] != '/')
      break;
    if (!(npm && strstr(p + n, "/node_modules/")))
      strv_push(files, p);
  }
}

/* A Python distribution's files: its RECORD's (extracted to `xdir`),
 * else its directory's. */
static void
pypi_files(const struct image *img, const char *xdir, const char *dir, const char *meta, enum eco_metadata form,
           struct strv *files)
{
  cleanup_free char *record = xasprintf("%s/RECORD", dir);
  cleanup_free char *site = path_dirname(dir);
  const struct image_file *r = form == ECO_DIST_INFO ? image_find(img, record) : NULL;
  struct buf text = { 0 };

  if (form == ECO_EGG_INFO_FILE)
    strv_push(files, meta);
  else if (r && want_record(NULL, r) && extracted(img, xdir, r, RECORD_MAX, &text))
    eco_pypi_record(text.data ? text.data : "", text.len, site, files);
  else
    files_below(img, dir, false, files);
  buf_free(&text);
}

/* The npm packages and Python distributions extracted to `dir`: a
 * metadata file that does not parse gives none. */
static void
read_ecosystem(const struct image *img, const char *dir, struct image_packages *out)
{
  for (size_t i = 0; i < img->n_files; i++) {
    const struct image_file *f = &img->files[i];
    enum eco_metadata form = f->type == 'f' ? eco_metadata_of(f->path) : ECO_NONE;
    struct buf text = { 0 };
    struct eco_package pk = { 0 };
    if (form == ECO_NONE || !extracted(img, dir, f, ECO_META_MAX, &text))
      continue;
    const char *t = text.data ? text.data : "";
    bool ok = form == ECO_NPM ? eco_npm_manifest(t, text.len, &pk) : eco_pypi_metadata(t, text.len, &pk);
    buf_free(&text);
    if (!ok || pk.version == NULL) {
      eco_package_free(&pk);
      continue;
    }
    /* a distribution is known by its site, not by its dist-info, whose
     * name holds the version */
    cleanup_free char *meta_dir = path_dirname(f->path);
    struct image_package p = { .kind = form == ECO_NPM ? "npm" : "pypi", .name = steal_pointer(&pk.name),
                               .arch = xstrdup(""), .version = steal_pointer(&pk.version),
                               .at = form == ECO_NPM || form == ECO_EGG_INFO_FILE ? xstrdup(meta_dir)
                                                                                 : path_dirname(meta_dir),
                               .layer = f->layer };
    eco_package_free(&pk);
    if (form == ECO_NPM)
      files_below(img, p.at, true, &p.files);
    else
      pypi_files(img, dir, meta_dir, f->path, form, &p.files);
    out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
    out->items[out->n++] = p;
  }
}

/* The stanzas and the other packages' metadata extracted to `dir`,
 * read. */
static int
read_stanzas(const struct image *img, const char *dir, struct image_packages *out, struct derror *err)
{
  for (size_t i = 0; i < img->n_files; i++) {
    if (want_stanza(NULL, &img->files[i]) == 0)
      continue;
    cleanup_free char *path = xasprintf("%s/%zu", dir, i);
    struct buf text = { 0 };
    if (read_file(path, STANZA_MAX, &text, err) < 0)
      return -1;
    const char *t = text.data ? text.data : "";
    struct image_package p = { .name = dpkg_field(t, text.len, "Package"),
                               .arch = dpkg_field(t, text.len, "Architecture"),
                               .version = dpkg_field(t, text.len, "Version"), .layer = img->files[i].layer };
    buf_free(&text);
    if (p.name == NULL || p.version == NULL) {
      free(p.name), free(p.arch), free(p.version);
      continue;
    }
    if (p.arch == NULL)
      p.arch = xstrdup("all");
    out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
    out->items[out->n++] = p;
    if (read_files(img, dir, i, &out->items[out->n - 1].files, err) < 0)
      return -1;
  }
  read_ecosystem(img, dir, out);
  if (out->n)
    qsort(out->items, out->n, sizeof *out->items, by_name_arch);
  index_files(out);
  return 0;
}

const struct image_package *
image_package_of(const struct image_packages *p, const char *path)
{
  struct dpkg_owned key = { path, 0 };
  const struct dpkg_owned *o = p->n_owned ? bsearch(&key, p->owned, p->n_owned, sizeof key, by_path) : NULL;

  return o ? &p->items[o->package] : NULL;
}

/* What image_extract wrote to `dir` (the stanzas, by index), and `dir`. */
static void
remove_stanzas(const struct image *img, const char *dir)
{
  for (size_t i = 0; i < img->n_files; i++)
    if (want_record(NULL, &img->files[i]) > 0) {
      cleanup_free char *file = xasprintf("%s/%zu", dir, i);
      unlink(file);
    }
  rmdir(dir);
}

int
image_packages(const char *archive, const struct image *img, struct image_packages *out, struct derror *err)
{
  const char *base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  cleanup_free char *dir = xasprintf("%s/distill-packages.XXXXXX", base);
  bool any = false;
  int ret;

  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < img->n_files && !any; i++)
    any = want_record(NULL, &img->files[i]) > 0;
  if (!any)
    return 0;
  if (mkdtemp(dir) == NULL)
    return derror_errno(err, errno, "a temporary directory in `%s`", base);
  ret = image_extract(archive, img, want_record, NULL, dir, err);
  if (ret == 0)
    ret = read_stanzas(img, dir, out, err);
  remove_stanzas(img, dir);
  if (ret < 0)
    image_packages_free(out);
  return ret;
}

void
image_packages_free(struct image_packages *p)
{
  for (size_t i = 0; i < p->n; i++) {
    free(p->items[i].name);
    free(p->items[i].arch);
    free(p->items[i].version);
    free(p->items[i].at);
    strv_free(&p->items[i].files);
  }
  free(p->items);
  free(p->owned);
  memset(p, 0, sizeof *p);
}

/* ---- two images' ------------------------------------------------------- */

/* Two versions of a package, in its ecosystem's order. */
static int
version_cmp(const struct image_package *p, const char *a, const char *b)
{
  const char *kind = kind_of(p);

  if (strcmp(kind, "npm") == 0)
    return semver_cmp(a, b);
  if (strcmp(kind, "pypi") == 0)
    return pep440_cmp(a, b);
  return debian_version_cmp(a, b);
}

size_t
packages_diff(const struct image_packages *a, const struct image_packages *b, struct package_diff **out)
{
  size_t i = 0, k = 0, n = 0;

  *out = xcalloc(a->n + b->n + 1, sizeof **out);
  while (i < a->n || k < b->n) {
    int c = i == a->n ? 1 : k == b->n ? -1 : by_name_arch(&a->items[i], &b->items[k]);
    const struct image_package *x = i < a->n ? &a->items[i] : NULL, *y = k < b->n ? &b->items[k] : NULL;
    struct package_diff *d = &(*out)[n];
    if (c < 0) {
      *d = (struct package_diff){ x, x->version, NULL, PACKAGE_REMOVED };
      i++, n++;
    } else if (c > 0) {
      *d = (struct package_diff){ y, NULL, y->version, PACKAGE_ADDED };
      k++, n++;
    } else {
      int v = version_cmp(x, x->version, y->version);
      if (v)
        *d = (struct package_diff){ x, x->version, y->version, v < 0 ? PACKAGE_UPGRADED : PACKAGE_DOWNGRADED };
      n += v != 0;
      i++, k++;
    }
  }
  return n;
}

const char *
package_change_name(enum package_change c)
{
  switch (c) {
  case PACKAGE_ADDED:
    return "added";
  case PACKAGE_REMOVED:
    return "removed";
  case PACKAGE_UPGRADED:
    return "upgrade";
  case PACKAGE_DOWNGRADED:
    return "downgrade";
  }
  return "?";
}
