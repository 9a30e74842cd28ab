/* The directories of paths, resolved inside the sysroot, for the Debian
 * packages (dpkg.c): a list names /lib/x where the image has /usr/lib/x
 * on a merged /usr, and both are one file. */
#ifndef DISTILL_DPKG_DIRS_H
#define DISTILL_DPKG_DIRS_H

#include "lib/alloc.h"
#include "lib/strmap.h"
#include "plan/sysroot.h"

/* Directories resolved inside the sysroot, each once: a directory is its
 * resolved parent and one more component, so a new one costs one lstat
 * (a symlink, a full resolution).  Thousands of list lines name files in
 * thousands of directories; resolving each path from the root again was
 * ten stats a line. */
struct dpkg_dirs {
  struct strmap index;  /* directory -> 1 + its index in `resolved`, 0: not a directory there */
  struct strv resolved;
};

/* `path` (in-root) with its directory resolved inside the sysroot, or NULL
 * when the directory is not there. */
char *dpkg_canonical(const struct sysroot *root, struct dpkg_dirs *c, const char *path);
void dpkg_dirs_free(struct dpkg_dirs *c);

/* status.d/<name>.md5sums of `p` into `out` (dpkg_md5sums.c): -1 with
 * `err` when a file dpkg has no sum of cannot be read. */
struct dpkg_package;
struct derror;
int dpkg_md5sums(const struct sysroot *root, struct dpkg_dirs *dirs, const struct dpkg_package *p, struct buf *out,
                 struct derror *err);

#endif
