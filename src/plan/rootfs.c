#include "plan/rootfs.h"
#include "lib/path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Deep trees are refused rather than exhausting the stack. */
#define TREE_MAX_DEPTH 128

static struct rootfs_entry *
add_entry(struct rootfs *fs, const char *path, enum rootfs_type type, rootfs_layer layer,
          const char *origin)
{
  if (fs->n == fs->cap) {
    fs->cap = fs->cap ? fs->cap * 2 : 64;
    fs->items = xreallocarray(fs->items, fs->cap, sizeof(*fs->items));
  }
  struct rootfs_entry *e = &fs->items[fs->n++];
  memset(e, 0, sizeof *e);
  e->path = xstrdup(path);
  e->type = type;
  e->layer = layer;
  e->origin = xstrdup(origin);
  return e;
}

struct rootfs_entry *
rootfs_add_dir(struct rootfs *fs, const char *path, rootfs_layer layer, mode_t mode, const char *origin)
{
  struct rootfs_entry *e = add_entry(fs, path, ROOTFS_DIR, layer, origin);
  e->mode = mode;
  return e;
}

struct rootfs_entry *
rootfs_add_file(struct rootfs *fs, const char *path, rootfs_layer layer, const char *source, uint64_t size,
                mode_t mode, const char *origin)
{
  struct rootfs_entry *e = add_entry(fs, path, ROOTFS_FILE, layer, origin);
  e->source = xstrdup(source);
  e->size = size;
  e->mode = mode;
  return e;
}

struct rootfs_entry *
rootfs_add_data(struct rootfs *fs, const char *path, rootfs_layer layer, const char *data, size_t size,
                mode_t mode, const char *origin)
{
  struct rootfs_entry *e = add_entry(fs, path, ROOTFS_FILE, layer, origin);
  e->data = xmalloc(size);
  memcpy(e->data, data, size);
  e->size = size;
  e->mode = mode;
  return e;
}

struct rootfs_entry *
rootfs_add_symlink(struct rootfs *fs, const char *path, rootfs_layer layer, const char *target,
                   const char *origin)
{
  struct rootfs_entry *e = add_entry(fs, path, ROOTFS_SYMLINK, layer, origin);
  e->target = xstrdup(target);
  e->mode = 0777;
  return e;
}

/* ---- trees ------------------------------------------------------------ */

static bool
excluded(const struct strv *exclude, const char *name, const char *rel)
{
  for (size_t i = 0; exclude && i < exclude->n; i++)
    if (fnmatch(exclude->items[i], name, 0) == 0 || fnmatch(exclude->items[i], rel, FNM_PATHNAME) == 0)
      return true;
  return false;
}

static int add_tree_at(struct rootfs *fs, const char *host, const char *image, const char *rel,
                       const struct strv *exclude, rootfs_layer layer, const char *origin, int depth,
                       struct derror *err);

static int
add_tree_node(struct rootfs *fs, const char *host, const char *image, const char *rel, const struct strv *exclude,
              rootfs_layer layer, const char *origin, int depth, struct derror *err)
{
  struct stat st;

  if (lstat(host, &st) < 0)
    return derror_errno(err, errno, "%s: `%s`", origin, host);
  if (S_ISDIR(st.st_mode)) {
    rootfs_add_dir(fs, image, layer, st.st_mode & 07777, origin);
    return add_tree_at(fs, host, image, rel, exclude, layer, origin, depth + 1, err);
  }
  if (S_ISREG(st.st_mode)) {
    struct rootfs_entry *e = rootfs_add_file(fs, image, layer, host, (uint64_t) st.st_size, st.st_mode & 07777,
                                             origin);
    e->linked = st.st_nlink > 1;
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    return 0;
  }
  if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlink(host, target, sizeof target - 1);
    if (n < 0)
      return derror_errno(err, errno, "%s: readlink `%s`", origin, host);
    target[n] = '\0';
    rootfs_add_symlink(fs, image, layer, target, origin);
    return 0;
  }
  return derror_set(err, "%s: `%s`: a device, FIFO or socket cannot be put in an image", origin, host);
}

static int
add_tree_at(struct rootfs *fs, const char *host, const char *image, const char *rel, const struct strv *exclude,
            rootfs_layer layer, const char *origin, int depth, struct derror *err)
{
  struct strv names = { 0 };
  DIR *d;
  struct dirent *de;
  int ret = 0;

  if (depth > TREE_MAX_DEPTH)
    return derror_set(err, "%s: `%s`: nested deeper than %d directories", origin, host, TREE_MAX_DEPTH);
  d = opendir(host);
  if (d == NULL)
    return derror_errno(err, errno, "%s: open directory `%s`", origin, host);
  while ((errno = 0, de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      strv_push(&names, de->d_name);
  if (errno)
    ret = derror_errno(err, errno, "%s: read directory `%s`", origin, host);
  closedir(d);
  /* Directory order differs between file systems; the image must not. */
  strv_sort(&names);
  for (size_t i = 0; ret == 0 && i < names.n; i++) {
    const char *name = names.items[i];
    cleanup_free char *crel = *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
    if (excluded(exclude, name, crel))
      continue;
    cleanup_free char *chost = path_join(host, name);
    cleanup_free char *cimage = path_join(image, name);
    ret = add_tree_node(fs, chost, cimage, crel, exclude, layer, origin, depth, err);
  }
  strv_free(&names);
  return ret;
}

int
rootfs_add_tree(struct rootfs *fs, const char *host_dir, const char *image_dir, const struct strv *exclude,
                rootfs_layer layer, const char *origin, struct derror *err)
{
  struct stat st;

  if (stat(host_dir, &st) < 0)
    return derror_errno(err, errno, "%s: `%s`", origin, host_dir);
  if (!S_ISDIR(st.st_mode))
    return derror_set(err, "%s: `%s` is not a directory", origin, host_dir);
  rootfs_add_dir(fs, image_dir, layer, st.st_mode & 07777, origin);
  return add_tree_at(fs, host_dir, image_dir, "", exclude, layer, origin, 0, err);
}

/* ---- finishing -------------------------------------------------------- */

static int
entry_cmp(const void *a, const void *b)
{
  const struct rootfs_entry *x = a, *y = b;
  int c = strcmp(x->path, y->path);

  if (c)
    return c;
  /* Equal paths: the earlier layer first, so the survivor is stable. */
  if (x->layer != y->layer)
    return (int) x->layer - (int) y->layer;
  /* qsort is not stable: within a layer the origin decides, so the
   * survivor of a merge and the wording of a conflict do not depend on the
   * order the claims were added in. */
  return strcmp(x->origin, y->origin);
}

static void
entry_free(struct rootfs_entry *e)
{
  free(e->path);
  free(e->source);
  free(e->data);
  free(e->target);
  free(e->origin);
}

/* Free an entry whose slot stays in the table until it is compacted away:
 * zeroed, a second free of it frees nothing. */
static void
entry_drop(struct rootfs_entry *e)
{
  entry_free(e);
  memset(e, 0, sizeof *e);
}

static const char *
type_name(enum rootfs_type t)
{
  switch (t) {
  case ROOTFS_FILE:
    return "a file";
  case ROOTFS_DIR:
    return "a directory";
  case ROOTFS_SYMLINK:
    return "a symlink";
  case ROOTFS_HARDLINK:
    return "a hardlink";
  }
  return "?";
}

/* Two claims on one path are the same when they would write the same entry;
 * the closure meets `/lib -> usr/lib` once per library, for instance. */
static bool
same_entry(const struct rootfs_entry *a, const struct rootfs_entry *b)
{
  if (a->type != b->type || a->mode != b->mode || a->uid != b->uid || a->gid != b->gid)
    return false;
  switch (a->type) {
  case ROOTFS_SYMLINK:
  case ROOTFS_HARDLINK:
    return strcmp(a->target, b->target) == 0;
  case ROOTFS_DIR:
    return true;
  case ROOTFS_FILE:
    if (a->source && b->source)
      return strcmp(a->source, b->source) == 0;
    return !a->source && !b->source && a->size == b->size && memcmp(a->data, b->data, a->size) == 0;
  }
  return false;
}

/* Both claims take their content from one host file: the same name, or
 * the same inode when both were read from a tree. */
static bool
same_source(const struct rootfs_entry *a, const struct rootfs_entry *b)
{
  if (!a->source || !b->source)
    return false;
  if (strcmp(a->source, b->source) == 0)
    return true;
  return a->ino && b->ino && a->dev == b->dev && a->ino == b->ino;
}

/* A mode somebody chose (the recipe's `mode`, or an entry whose owner and
 * mode are fixed) rather than one copied from the host or a default. */
static bool
mode_explicit(const struct rootfs_entry *e)
{
  return e->mode_set || e->fixed;
}

/* One host file claimed twice with only the modes differing: the closure
 * adds every library at 0755 while `contents.files` keeps the host's 0644,
 * and the two are one file, not a conflict.  `keep` (the earlier layer)
 * absorbs `dup`:
 * - a mode chosen on purpose wins over one that was not, and its flags
 *   (`mode_set`, `fixed`) come with it so that policy keeps that mode;
 *   two chosen modes that disagree are a real conflict;
 * - otherwise the union of the two modes: what either claim needs (a
 *   library the loader maps stays executable) and nobody chose it, so the
 *   flags stay clear and policy normalises it as it would either claim.
 * The inode identity goes to `keep` when only `dup` has it, so that the
 * merge does not depend on which claim sorted first.
 * Returns false, changing nothing, when the claims cannot be merged. */
static bool
merge_modes(struct rootfs_entry *keep, const struct rootfs_entry *dup)
{
  bool keep_set = mode_explicit(keep), dup_set = mode_explicit(dup);

  if (keep->type != ROOTFS_FILE || dup->type != ROOTFS_FILE || !same_source(keep, dup) ||
      keep->uid != dup->uid || keep->gid != dup->gid)
    return false;
  if (keep_set && dup_set && keep->mode != dup->mode)
    return false;
  if (dup_set && !keep_set)
    keep->mode = dup->mode;
  else if (!keep_set)
    keep->mode |= dup->mode;
  keep->mode_set = keep->mode_set || dup->mode_set;
  keep->fixed = keep->fixed || dup->fixed;
  if (!keep->ino && dup->ino) {
    keep->dev = dup->dev;
    keep->ino = dup->ino;
    keep->linked = dup->linked;
  }
  return true;
}

/* One claim for a conflict's message: "as a file by ORIGIN (source `/a`,
 * mode 0644, owner 0:0)".  A link's mode means nothing and is left out. */
static char *
describe_claim(const struct rootfs_entry *e)
{
  cleanup_free char *what = NULL;

  switch (e->type) {
  case ROOTFS_FILE:
    if (e->source)
      what = xasprintf("source `%s`, mode %04o", e->source, (unsigned) e->mode);
    else
      what = xasprintf("generated content of %llu byte%s, mode %04o", (unsigned long long) e->size,
                       e->size == 1 ? "" : "s", (unsigned) e->mode);
    break;
  case ROOTFS_SYMLINK:
  case ROOTFS_HARDLINK:
    what = xasprintf("target `%s`", e->target);
    break;
  case ROOTFS_DIR:
    what = xasprintf("mode %04o", (unsigned) e->mode);
    break;
  }
  return xasprintf("as %s by %s (%s, owner %u:%u)", type_name(e->type), e->origin, what ? what : "?", e->uid,
                   e->gid);
}

static bool
same_content(const struct rootfs_entry *a, const struct rootfs_entry *b)
{
  if (a->source || b->source)
    return same_source(a, b);
  return a->size == b->size && memcmp(a->data, b->data, a->size) == 0;
}

/* What sets two claims of one type apart, as "the sources and modes
 * differ": the reader should not have to diff the two descriptions. */
static char *
describe_difference(const struct rootfs_entry *a, const struct rootfs_entry *b)
{
  const char *what[3];
  size_t n = 0;

  if (a->type != b->type)
    return xstrdup("the types differ");
  if (a->type == ROOTFS_FILE && !same_content(a, b))
    what[n++] = a->source && b->source ? "sources" : "contents";
  if ((a->type == ROOTFS_SYMLINK || a->type == ROOTFS_HARDLINK) && strcmp(a->target, b->target) != 0)
    what[n++] = "link targets";
  if (a->mode != b->mode)
    what[n++] = "modes";
  if (a->uid != b->uid || a->gid != b->gid)
    what[n++] = "owners";
  if (n == 0)
    return xstrdup("they differ");
  /* Only the modes of one file differ: merge_modes refused because both
   * were chosen on purpose, which the reader could not guess. */
  if (n == 1 && a->type == ROOTFS_FILE && a->mode != b->mode && mode_explicit(a) && mode_explicit(b))
    return xstrdup("the modes differ, and both are explicit");
  if (n == 1)
    return xasprintf("the %s differ", what[0]);
  if (n == 2)
    return xasprintf("the %s and %s differ", what[0], what[1]);
  return xasprintf("the %s, %s and %s differ", what[0], what[1], what[2]);
}

static int
conflict(const struct rootfs_entry *a, const struct rootfs_entry *b, struct derror *err)
{
  cleanup_free char *first = describe_claim(a);
  cleanup_free char *second = describe_claim(b);
  cleanup_free char *how = describe_difference(a, b);

  return derror_set(err, "`%s` is claimed twice: %s and %s: %s", a->path, first, second, how);
}

/* Resolve a second claim `dup` of `keep`'s path.  Returns 0 when `dup` was
 * absorbed (its slot is then dead), -1 with `dup` untouched on a conflict. */
static int
merge_claim(struct rootfs_entry *keep, struct rootfs_entry *dup, struct derror *err)
{
  /* A directory implied by one source and listed by another. */
  if (keep->type == ROOTFS_DIR && dup->type == ROOTFS_DIR && (keep->implicit || dup->implicit)) {
    if (keep->implicit) {
      dup->layer = keep->layer < dup->layer ? keep->layer : dup->layer;
      entry_free(keep);
      *keep = *dup;
      /* its pointers now belong to `keep` */
      memset(dup, 0, sizeof *dup);
    } else {
      entry_drop(dup);
    }
    return 0;
  }
  if (same_entry(keep, dup) || merge_modes(keep, dup)) {
    entry_drop(dup);
    return 0;
  }
  return conflict(keep, dup, err);
}

/* Merge the claims of each path of the sorted table into one entry, in
 * place: the survivors are compacted into items[0, out).  Whatever way it
 * returns, the table holds every live entry exactly once and `fs->n`
 * counts them, so that rootfs_free() frees each pointer once. */
static int
dedupe(struct rootfs *fs, struct derror *err)
{
  size_t out = 0, i, rest;
  int ret = 0;

  for (i = 0; i < fs->n; i++) {
    if (out > 0 && strcmp(fs->items[out - 1].path, fs->items[i].path) == 0) {
      if (merge_claim(&fs->items[out - 1], &fs->items[i], err) == 0)
        continue;
      ret = -1;
      break;
    }
    if (out != i)
      fs->items[out] = fs->items[i];
    out++;
  }
  /* On a conflict items[i, n) were not visited yet: move them down over
   * the dead slots (absorbed claims, and copies left behind by the moves)
   * rather than leave those to be freed a second time. */
  rest = fs->n - i;
  if (rest && out != i)
    memmove(&fs->items[out], &fs->items[i], rest * sizeof *fs->items);
  fs->n = out + rest;
  return ret;
}

static void
sort_entries(struct rootfs *fs)
{
  if (fs->n)
    qsort(fs->items, fs->n, sizeof(*fs->items), entry_cmp);
}

struct rootfs_entry *
rootfs_find_in(const struct rootfs *fs, size_t n, const char *path)
{
  size_t lo = 0, hi = n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(fs->items[mid].path, path);
    if (c == 0)
      return &fs->items[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

struct rootfs_entry *
rootfs_find(const struct rootfs *fs, const char *path)
{
  return rootfs_find_in(fs, fs->n, path);
}

static int
inode_cmp(const void *a, const void *b, void *data)
{
  const struct rootfs *fs = data;
  const struct rootfs_entry *x = &fs->items[*(const size_t *) a], *y = &fs->items[*(const size_t *) b];

  if (x->dev != y->dev)
    return x->dev < y->dev ? -1 : 1;
  if (x->ino != y->ino)
    return x->ino < y->ino ? -1 : 1;
  if (x->layer != y->layer)
    return (int) x->layer - (int) y->layer;
  return strcmp(x->path, y->path);
}

/* Names of one inode within a layer: the first in bytewise order keeps the
 * content, the others point to it.  The choice depends on the names only,
 * never on the order a directory lists them. */
static void
link_hardlinks(struct rootfs *fs)
{
  size_t *idx = xcalloc(fs->n, sizeof(size_t)), n = 0;

  for (size_t i = 0; i < fs->n; i++)
    if (fs->items[i].type == ROOTFS_FILE && fs->items[i].linked && fs->items[i].source)
      idx[n++] = i;
  if (n)
    qsort_r(idx, n, sizeof(size_t), inode_cmp, fs);
  for (size_t i = 1; i < n; i++) {
    struct rootfs_entry *first = &fs->items[idx[i - 1]], *e = &fs->items[idx[i]];
    if (e->dev != first->dev || e->ino != first->ino || e->layer != first->layer)
      continue;
    /* keep pointing at the group's first entry */
    while (first->type == ROOTFS_HARDLINK)
      first = rootfs_find(fs, first->target);
    e->type = ROOTFS_HARDLINK;
    e->target = xstrdup(first->path);
    free(e->source);
    e->source = NULL;
    e->size = 0;
  }
  free(idx);
}

int
rootfs_finish(struct rootfs *fs, struct derror *err)
{
  size_t n_before;

  sort_entries(fs);
  if (dedupe(fs, err) < 0)
    return -1;
  /* Every ancestor of every entry must be a directory of the image.  The
   * parents added here go after the sorted part and are merged (keeping
   * the earliest layer) by the second dedupe. */
  n_before = fs->n;
  for (size_t i = 0; i < n_before; i++) {
    cleanup_free char *parent = path_dirname(fs->items[i].path);
    rootfs_layer layer = fs->items[i].layer;
    cleanup_free char *child = xstrdup(fs->items[i].path);
    cleanup_free char *origin = xstrdup(fs->items[i].origin);
    while (strcmp(parent, "/") != 0) {
      struct rootfs_entry *p = rootfs_find_in(fs, n_before, parent);
      /* Parents are only appended: the table is whole on this return. */
      if (p && p->type != ROOTFS_DIR)
        return derror_set(err, "`%s` (from %s) is below `%s`, which is %s (from %s)", child, origin, parent,
                          type_name(p->type), p->origin);
      if (p)
        break;
      struct rootfs_entry *d = rootfs_add_dir(fs, parent, layer, 0755, origin);
      d->implicit = true;
      char *up = path_dirname(parent);
      free(parent);
      parent = up;
    }
  }
  sort_entries(fs);
  if (dedupe(fs, err) < 0)
    return -1;
  link_hardlinks(fs);
  return 0;
}

void
rootfs_free(struct rootfs *fs)
{
  for (size_t i = 0; i < fs->n; i++)
    entry_free(&fs->items[i]);
  for (size_t i = 0; i < fs->layers.n; i++)
    free(fs->layers.names[i]);
  free(fs->items);
  memset(fs, 0, sizeof *fs);
}
