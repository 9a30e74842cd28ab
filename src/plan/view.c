#include "plan/view.h"
#include "lib/path.h"
#include "lib/file.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

/* ---- the walker -------------------------------------------------------- */

/* The walk's state: `done` is the resolved prefix ("" is the root); for
 * each of its components, `lower` keeps whether the lower tree still
 * shows through below it, so that ".." gives back the parent's. */
struct walk {
  struct buf done;
  struct buf lower; /* one byte per component of done, plus the root's */
};

static void
walk_reset(struct walk *w)
{
  w->done.len = 0;
  w->done.data[0] = '\0';
  w->lower.len = 1; /* the root's flag, as the walk began */
}

static void
walk_pop(struct walk *w)
{
  char *slash = strrchr(w->done.data, '/');

  if (slash == NULL)
    return; /* ".." at the root stays at the root */
  *slash = '\0';
  w->done.len = (size_t) (slash - w->done.data);
  if (w->lower.len > 1)
    w->lower.len--;
}

static bool
lower_visible(const struct walk *w)
{
  return w->lower.data[w->lower.len - 1] != 0;
}

/* Continue with a symlink's target in place of the link, then the rest. */
static void
follow_link(struct walk *w, char **todo, size_t *pos, size_t saved, size_t saved_lower, const char *target)
{
  char *next = xasprintf("%s/%s", target, *todo + *pos);

  free(*todo);
  *todo = next;
  *pos = 0;
  if (target[0] == '/') {
    walk_reset(w);
  } else {
    w->done.len = saved;
    w->done.data[saved] = '\0';
    w->lower.len = saved_lower;
  }
}

/* What a walk does besides resolving: whether the lower tree may answer,
 * whether a symlink at the end is followed, and whom it tells. */
struct walk_how {
  bool lower, follow_last;
  view_link_fn on_link;
  view_dir_fn on_dir;
  void *data;
};

static int
resolve(const struct view *v, const char *path, const struct walk_how *how, char **resolved, struct view_node *node,
        struct derror *err)
{
  struct walk w = { { 0 }, { 0 } };
  cleanup_free char *todo = xstrdup(path);
  size_t pos = 0;
  int hops = 0, ret = -1;
  char root_lower = how->lower;

  *resolved = NULL;
  buf_append(&w.done, "", 0);
  buf_append(&w.lower, &root_lower, 1);
  if (path[0] != '/') {
    derror_set(err, "`%s`: not an absolute path", path);
    goto out;
  }
  memset(node, 0, sizeof *node);
  node->type = VIEW_DIR; /* the root */
  node->lower_below = true;
  for (;;) {
    while (todo[pos] == '/')
      pos++;
    if (todo[pos] == '\0')
      break;
    size_t start = pos;
    while (todo[pos] && todo[pos] != '/')
      pos++;
    size_t clen = pos - start;
    if (clen == 1 && todo[start] == '.')
      continue;
    if (clen == 2 && todo[start] == '.' && todo[start + 1] == '.') {
      walk_pop(&w);
      continue;
    }
    size_t saved = w.done.len, saved_lower = w.lower.len;
    buf_append(&w.done, "/", 1);
    buf_append(&w.done, todo + start, clen);
    if (v->lookup(v, w.done.data, lower_visible(&w), node, err) < 0)
      goto out;
    bool last = todo[pos + strspn(todo + pos, "/")] == '\0';
    if (node->type == VIEW_ABSENT || (!last && node->type != VIEW_DIR && node->type != VIEW_SYMLINK)) {
      derror_code(err, DERROR_NOT_FOUND, "`%s`: not found in %s", path, v->name ? v->name : "the tree");
      *resolved = steal_pointer(&w.done.data);
      goto out;
    }
    if (node->type == VIEW_DIR) {
      char below = node->lower_below;
      buf_append(&w.lower, &below, 1);
      if (how->on_dir && !last)
        how->on_dir(how->data, w.done.data, node);
      continue;
    }
    if (node->type != VIEW_SYMLINK || (last && !how->follow_last))
      continue;
    if (++hops > VIEW_MAX_SYMLINKS) {
      derror_code(err, DERROR_LOOP, "`%s`: more than %d symlinks (a loop at `%s`?)", path, VIEW_MAX_SYMLINKS,
                  w.done.data);
      goto out;
    }
    if (how->on_link && how->on_link(how->data, w.done.data, node->target, node->lower, err) < 0)
      goto out;
    follow_link(&w, &todo, &pos, saved, saved_lower, node->target);
  }
  if (w.done.len == 0) {
    buf_append(&w.done, "/", 1);
    memset(node, 0, sizeof *node);
    node->type = VIEW_DIR;
    node->lower_below = true;
  }
  *resolved = steal_pointer(&w.done.data);
  ret = 0;
out:
  buf_free(&w.done);
  buf_free(&w.lower);
  return ret;
}

int
view_resolve(const struct view *v, const char *path, bool lower, view_link_fn on_link, view_dir_fn on_dir,
             void *data, char **resolved, struct view_node *node, struct derror *err)
{
  struct walk_how how = { lower, true, on_link, on_dir, data };

  return resolve(v, path, &how, resolved, node, err);
}

int
view_resolve_nofollow(const struct view *v, const char *path, bool lower, char **resolved, struct view_node *node,
                      struct derror *err)
{
  struct walk_how how = { lower, false, NULL, NULL, NULL };

  return resolve(v, path, &how, resolved, node, err);
}

bool
view_is(const struct view *v, const char *path, enum view_type type)
{
  cleanup_free char *resolved = NULL;
  struct derror err = DERROR_INIT;
  struct view_node node;
  int r = view_resolve(v, path, true, NULL, NULL, NULL, &resolved, &node, &err);

  derror_clear(&err);
  return r == 0 && node.type == type;
}

int
view_read(const struct view_node *node, const char *path, size_t max, struct buf *out, struct derror *err)
{
  if (node->type != VIEW_FILE)
    return derror_set(err, "`%s`: not a regular file", path);
  if (node->host)
    return read_file(node->host, max, out, err);
  if (node->size > max)
    return derror_set(err, "`%s`: larger than %zu bytes", path, max);
  buf_append(out, node->data ? node->data : "", (size_t) node->size);
  return 0;
}

/* ---- a host directory as the root ------------------------------------- */

static enum view_type
type_of(mode_t mode)
{
  switch (mode & S_IFMT) {
  case S_IFREG:
    return VIEW_FILE;
  case S_IFDIR:
    return VIEW_DIR;
  case S_IFLNK:
    return VIEW_SYMLINK;
  default:
    return VIEW_OTHER;
  }
}

/* The host path is kept in node->buf after the link target, so that it
 * lives as long as the node. */
static int
host_lookup(const struct view *v, const char *path, bool lower, struct view_node *out, struct derror *err)
{
  const char *root = v->data;
  cleanup_free char *host = xasprintf("%s%s", root, path);

  memset(out, 0, sizeof *out);
  if (!lower)
    return 0;
  if (lstat(host, &out->st) < 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return 0;
    return derror_errno(err, errno, "`%s`", path);
  }
  out->type = type_of(out->st.st_mode);
  out->mode = out->st.st_mode & 07777;
  out->uid = out->st.st_uid;
  out->gid = out->st.st_gid;
  out->size = (uint64_t) out->st.st_size;
  out->lower = true;
  out->lower_below = true;
  if (out->type == VIEW_SYMLINK) {
    ssize_t n = readlink(host, out->buf, sizeof out->buf - 1);
    if (n < 0)
      return derror_errno(err, errno, "readlink `%s`", path);
    out->buf[n] = '\0';
    out->target = out->buf;
  } else if (out->type == VIEW_FILE && strlen(host) < sizeof out->buf) {
    strcpy(out->buf, host);
    out->host = out->buf;
  } else if (out->type == VIEW_FILE) {
    return derror_set(err, "`%s`: path too long", path);
  }
  return 0;
}

void
view_host(struct view *v, const char *root)
{
  v->lookup = host_lookup;
  v->data = (void *) root;
  v->name = "the sysroot";
}

/* ---- the planned image over a lower tree ------------------------------ */

/* Index values: the entry's index + 1, or IMPLICIT_DIR for a directory
 * that exists because something is below it. */
#define IMPLICIT_DIR ((size_t) -1)

/* Index the entries added since the last lookup: the table only grows
 * while a plan is made, and the first claim of a path is the one seen. */
static void
index_new_entries(struct rootfs_view *rv)
{
  for (; rv->indexed < rv->fs->n; rv->indexed++) {
    const struct rootfs_entry *e = &rv->fs->items[rv->indexed];
    size_t old;
    if (strmap_get(&rv->index, e->path, &old) && old == IMPLICIT_DIR && e->type == ROOTFS_DIR)
      strmap_put(&rv->index, e->path, rv->indexed + 1, true);
    else
      strmap_put(&rv->index, e->path, rv->indexed + 1, false);
    cleanup_free char *parent = path_dirname(e->path);
    while (strcmp(parent, "/") != 0 && strmap_put(&rv->index, parent, IMPLICIT_DIR, false)) {
      char *up = path_dirname(parent);
      free(parent);
      parent = up;
    }
  }
}

/* A hardlink's content is its target's. */
static const struct rootfs_entry *
entry_content(const struct rootfs_view *rv, const struct rootfs_entry *e)
{
  for (int hops = 0; e && e->type == ROOTFS_HARDLINK && hops < VIEW_MAX_SYMLINKS; hops++) {
    size_t idx;
    e = strmap_get(&rv->index, e->target, &idx) && idx != IMPLICIT_DIR ? &rv->fs->items[idx - 1] : NULL;
  }
  return e && e->type == ROOTFS_FILE ? e : NULL;
}

static void
entry_node(const struct rootfs_view *rv, const struct rootfs_entry *e, struct view_node *out)
{
  const struct rootfs_entry *content = entry_content(rv, e);

  out->mode = e->mode;
  out->uid = e->uid;
  out->gid = e->gid;
  switch (e->type) {
  case ROOTFS_DIR:
    out->type = VIEW_DIR;
    break;
  case ROOTFS_SYMLINK:
    out->type = VIEW_SYMLINK;
    out->target = e->target;
    break;
  case ROOTFS_FILE:
  case ROOTFS_HARDLINK:
    out->type = content ? VIEW_FILE : VIEW_OTHER;
    out->host = content ? content->source : NULL;
    out->data = content ? content->data : NULL;
    out->size = content ? content->size : 0;
    break;
  }
}

static int
rootfs_lookup(const struct view *v, const char *path, bool lower, struct view_node *out, struct derror *err)
{
  struct rootfs_view *rv = v->data;
  size_t idx;

  index_new_entries(rv);
  if (!strmap_get(&rv->index, path, &idx)) {
    if (rv->lower == NULL || !lower) {
      memset(out, 0, sizeof *out);
      return 0;
    }
    return rv->lower->lookup(rv->lower, path, true, out, err);
  }
  memset(out, 0, sizeof *out);
  if (idx == IMPLICIT_DIR) {
    out->type = VIEW_DIR;
    out->mode = 0755;
  } else {
    entry_node(rv, &rv->fs->items[idx - 1], out);
  }
  if (out->type == VIEW_DIR && lower && rv->lower) {
    /* the sysroot's directory shows through only where it is one too */
    struct view_node below;
    if (rv->lower->lookup(rv->lower, path, true, &below, err) < 0)
      return -1;
    out->lower_below = below.type == VIEW_DIR;
  }
  return 0;
}

void
rootfs_view_init(struct rootfs_view *rv, const struct rootfs *fs, const struct view *lower)
{
  memset(rv, 0, sizeof *rv);
  rv->fs = fs;
  rv->lower = lower;
  rv->view.lookup = rootfs_lookup;
  rv->view.data = rv;
  rv->view.name = "the image";
}

void
rootfs_view_free(struct rootfs_view *rv)
{
  strmap_free(&rv->index);
  memset(rv, 0, sizeof *rv);
}
