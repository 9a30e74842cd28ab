/* Confined path resolution inside a root directory, as a chroot would see it:
 * ".." stops at the root and absolute symlink targets restart at the root.
 * Content sources are confined too: relative ones to the build context,
 * and no source is a credential store or a kernel interface. */
#ifndef DISTILL_SYSROOT_H
#define DISTILL_SYSROOT_H

#include "lib/error.h"
#include "lib/alloc.h"
#include "plan/view.h"

#include <stdbool.h>
#include <sys/stat.h>

struct sysroot {
  char *root;    /* host path of the root, without trailing slash ("" for "/") */
  char *context; /* real host path relative sources stay in, or NULL: the recipe's directory */
};

/* A symlink met on the way: `path` (in-root, absolute) points to `target`. */
typedef int (*sysroot_link_fn)(void *data, const char *path, const char *target, struct derror *err);

int sysroot_open(struct sysroot *s, const char *root, struct derror *err);
void sysroot_close(struct sysroot *s);

/* The build context (--context): the host directory that sources relative
 * to the recipe must stay in, after `..` and symlinks. */
int sysroot_set_context(struct sysroot *s, const char *dir, struct derror *err);

/* Resolve the in-root absolute `path` through every symlink, calling `on_link`
 * (which may be NULL) for each symlink crossed, in order.  On success
 * `*resolved` is the in-root path of the final object and `st` its lstat(),
 * and 0 is returned.  When a component does not exist (or is not a
 * directory where one is needed) the error is DERROR_NOT_FOUND and
 * `*resolved` the path that was missing; a caller to whom that is no error
 * clears it.  A symlink loop is DERROR_LOOP. */
int sysroot_resolve(const struct sysroot *s, const char *path, sysroot_link_fn on_link, void *data,
                    char **resolved, struct stat *st, struct derror *err);

/* Locate a content source: an absolute one inside the sysroot (resolved as
 * above; missing is an error), a relative one under `base_dir` on the host
 * (symlinks followed), which must stay in the context (default: `base_dir`).
 * Gives the host path to read and its stat().  A credential store or
 * kernel interface (sysroot.c's table) is refused whatever the sysroot:
 * the path as written, each symlink crossed and the object reached; on the
 * host, unless it holds `base_dir`.  A device, FIFO or socket is given
 * back for the caller to refuse, as it reads nothing but files. */
int sysroot_locate(const struct sysroot *s, const char *base_dir, const char *source, struct stat *st,
                   char **host_path, struct derror *err);
/* The same for a directory copied whole: refused too when it holds a
 * credential store or kernel interface that `exclude` (the tree walker's
 * patterns) does not leave out. */
int sysroot_locate_tree(const struct sysroot *s, const char *base_dir, const char *source,
                        const struct strv *exclude, struct stat *st, char **host_path, struct derror *err);

/* True when the in-root `path` resolves to an object of type `type`
 * (S_IFDIR, S_IFREG); any failure is false. */
bool sysroot_is(const struct sysroot *s, const char *path, mode_t type);

/* The host path of an in-root path (no resolution). */
char *sysroot_host_path(const struct sysroot *s, const char *in_root);

#endif
