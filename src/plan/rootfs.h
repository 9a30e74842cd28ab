/* The image's entry table: every path of the image with its type, owner,
 * mode, content and layer.  Entries are added in any order; rootfs_finish()
 * drops identical duplicates, merges claims of one host file that differ
 * only in mode, refuses conflicts, adds missing parent directories and
 * sorts by path, bytewise. */
#ifndef DISTILL_ROOTFS_H
#define DISTILL_ROOTFS_H

#include "lib/error.h"
#include "lib/alloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A hardlink names an earlier ROOTFS_FILE of the same layer (its target). */
enum rootfs_type { ROOTFS_FILE, ROOTFS_DIR, ROOTFS_SYMLINK, ROOTFS_HARDLINK };

/* A layer is an index into the image's list of layers (struct
 * rootfs_layers), in image order; an empty layer is left out of the image.
 * A recipe without `layers:` has the three built-in ones, at these
 * indexes; with it, their indexes are where it puts them. */
typedef unsigned rootfs_layer;
enum { LAYER_BASE, LAYER_LIBRARIES, LAYER_APP };
/* At most this many layers in an image (the recipe's, a base recipe's too). */
#define LAYER_MAX 32

/* The layers of an image by name, and where distill's own entries go:
 * accounts and certificates in `base`, the closure in `libraries`, what
 * the recipe places without a `layer:` in `app`.  All zero: no list (a
 * table only looked at, never written). */
struct rootfs_layers {
  char *names[LAYER_MAX];
  size_t n;
  rootfs_layer base, libraries, app;
};

struct rootfs_entry {
  char *path; /* absolute and normalised; "/" is never an entry */
  enum rootfs_type type;
  rootfs_layer layer;
  mode_t mode; /* permission bits, sticky included */
  uint32_t uid, gid;
  bool fixed;    /* owner and mode chosen on purpose: policy keeps them */
  bool mode_set; /* mode given by the recipe: kept less unsafe bits */
  bool implicit; /* a parent directory nobody asked for */
  char *source;  /* ROOTFS_FILE: host path of the content, or NULL */
  char *data;    /* ROOTFS_FILE without source: the content */
  uint64_t size;
  char *target;  /* ROOTFS_SYMLINK, ROOTFS_HARDLINK */
  dev_t dev;     /* with ino: the source's identity, when it has links */
  ino_t ino;
  bool linked;   /* the source has more than one name */
  char *origin;  /* what added it, for errors ("contents.files[2]") */
};

struct rootfs {
  struct rootfs_entry *items;
  size_t n, cap;
  struct rootfs_layers layers;
};

/* Name the layers of `fs` (`names`: n of them, at most LAYER_MAX, each
 * once; NULL: base, libraries, app) and find the built-in ones among
 * them, which must all be there. */
void rootfs_set_layers(struct rootfs *fs, char *const *names, size_t n);
/* Copy `e` into `fs` at layer `layer`: for an image made of another's. */
struct rootfs_entry *rootfs_add_copy(struct rootfs *fs, const struct rootfs_entry *e, rootfs_layer layer);
/* Sort by path, for a table whose paths are each there once (rootfs_find). */
void rootfs_sort(struct rootfs *fs);

/* Each returns the new entry, valid until the next addition. */
struct rootfs_entry *rootfs_add_dir(struct rootfs *fs, const char *path, rootfs_layer layer, mode_t mode,
                                    const char *origin);
struct rootfs_entry *rootfs_add_file(struct rootfs *fs, const char *path, rootfs_layer layer,
                                     const char *source, uint64_t size, mode_t mode, const char *origin);
struct rootfs_entry *rootfs_add_data(struct rootfs *fs, const char *path, rootfs_layer layer,
                                     const char *data, size_t size, mode_t mode, const char *origin);
struct rootfs_entry *rootfs_add_symlink(struct rootfs *fs, const char *path, rootfs_layer layer,
                                        const char *target, const char *origin);

/* Add the tree under the host directory `host_dir` at `image_dir`, without
 * following symlinks inside it.  Names matching an `exclude` pattern
 * (fnmatch on the base name or on the path relative to the tree) are left
 * out with what is below them. */
int rootfs_add_tree(struct rootfs *fs, const char *host_dir, const char *image_dir, const struct strv *exclude,
                    rootfs_layer layer, const char *origin, struct derror *err);

/* Sort, merge, add parents; then files of one tree that are one inode
 * become hardlinks to the first of their names in sorted order.  On an
 * error the table is left whole (each entry once), for rootfs_free(). */
int rootfs_finish(struct rootfs *fs, struct derror *err);
/* After rootfs_finish(): the entry at `path`, or NULL. */
struct rootfs_entry *rootfs_find(const struct rootfs *fs, const char *path);
/* The entry at `path` among the first `n` of `fs`, which are sorted by
 * path, or NULL. */
struct rootfs_entry *rootfs_find_in(const struct rootfs *fs, size_t n, const char *path);
void rootfs_free(struct rootfs *fs);

#endif
