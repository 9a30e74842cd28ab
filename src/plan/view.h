/* The file tree a program's loader will see, looked up path by path: a
 * sysroot on the build machine, the image being planned laid over that
 * sysroot, or the merged tree of an image archive.  One walker resolves
 * paths through any of them, as a chroot would: ".." stops at the root,
 * absolute symlink targets restart at the root, and symlink hops are
 * bounded as the kernel bounds them. */
#ifndef DISTILL_VIEW_H
#define DISTILL_VIEW_H

#include "lib/error.h"
#include "plan/rootfs.h"
#include "lib/strmap.h"
#include "lib/alloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

/* The loader and the kernel give up after 40 symlinks (ELOOP).  The one
 * bound on links followed over any tree: the walker's, and the hardlink
 * chains the views follow to a link's content. */
#define VIEW_MAX_SYMLINKS 40

enum view_type { VIEW_ABSENT, VIEW_FILE, VIEW_DIR, VIEW_SYMLINK, VIEW_OTHER };

/* One path of the tree, symlinks not followed.  Strings point into the
 * view's own storage (or into `buf`) and live as long as the view. */
struct view_node {
  enum view_type type;
  const char *target; /* VIEW_SYMLINK */
  const char *host;   /* VIEW_FILE: the host file holding its bytes, or NULL */
  const char *data;   /* VIEW_FILE without host: its bytes in memory */
  uint64_t size;
  mode_t mode;        /* permission bits as the tree has them */
  uint32_t uid, gid;
  bool lower;         /* comes from the lower tree (the sysroot under a planned image) */
  bool lower_below;   /* VIEW_DIR: the lower tree's directory of this path shows through */
  struct stat st;     /* lower entries: the host's lstat() */
  char buf[4096];     /* storage for a symlink target read from disk */
};

struct view;
/* Look up the single path `path` whose parent is a directory of the tree;
 * `lower` says whether the lower tree may answer.  Returns 0 with
 * out->type VIEW_ABSENT when nothing is there, -1 with err on failure. */
typedef int (*view_lookup_fn)(const struct view *v, const char *path, bool lower, struct view_node *out,
                              struct derror *err);

struct view {
  view_lookup_fn lookup;
  void *data;
  const char *name; /* for messages: "the sysroot `/srv/root`", "the image" */
};

/* A symlink met on the way: `path` (absolute) points to `target`; `lower`
 * when the link is the lower tree's. */
typedef int (*view_link_fn)(void *data, const char *path, const char *target, bool lower, struct derror *err);

/* Resolve the absolute `path` through every symlink (with `lower` false,
 * in the upper tree alone), calling `on_link`
 * (may be NULL) for each one crossed, in order.  Returns 0 with
 * `*resolved` the path of the final object and `node` describing it; or
 * -1 with `err` set: code DERROR_NOT_FOUND when a component does not
 * exist or is not a directory where one is needed (`*resolved` then the
 * path found missing), DERROR_LOOP past VIEW_MAX_SYMLINKS symlinks.
 * Directories along the way are passed to `on_dir` (may be NULL) with
 * their node, for permission checks. */
typedef void (*view_dir_fn)(void *data, const char *path, const struct view_node *dir);
int view_resolve(const struct view *v, const char *path, bool lower, view_link_fn on_link, view_dir_fn on_dir,
                 void *data, char **resolved, struct view_node *node, struct derror *err);

/* As view_resolve, but a symlink at the end is the node itself, as
 * lstat() sees it: symlinks are followed in the parents only. */
int view_resolve_nofollow(const struct view *v, const char *path, bool lower, char **resolved, struct view_node *node,
                          struct derror *err);

/* True when `path` resolves to an object of `type`; any failure is false. */
bool view_is(const struct view *v, const char *path, enum view_type type);

/* The whole content of a resolved file (at most `max` bytes). */
int view_read(const struct view_node *node, const char *path, size_t max, struct buf *out, struct derror *err);

/* The view of a host directory used as a root ("" for "/"); `root` must
 * outlive the view. */
void view_host(struct view *v, const char *root);

/* The image being planned (`fs`, read as it grows), laid over `lower`
 * (or NULL: the image alone).  A path the image has hides the lower
 * tree's; a directory of the image shows the lower one's entries below it
 * only when the lower tree has a directory there too.  Directories above
 * any entry exist in the image whether listed or not. */
struct rootfs_view {
  struct view view;
  const struct rootfs *fs;
  const struct view *lower;
  struct strmap index; /* path -> entry index + 1 */
  size_t indexed;      /* entries of fs indexed so far */
};
void rootfs_view_init(struct rootfs_view *rv, const struct rootfs *fs, const struct view *lower);
void rootfs_view_free(struct rootfs_view *rv);

#endif
