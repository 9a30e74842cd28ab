/* An image's merged tree written out as a directory: the rootfs a runtime
 * would see, for builders that can only copy a directory.  The tree is
 * anyone's, so nothing of it is followed while writing: every name is
 * made relative to a descriptor of its parent, reached from the output
 * directory one component at a time without following a symlink. */
#ifndef DISTILL_EXPORT_H
#define DISTILL_EXPORT_H

#include "image/image.h"
#include "lib/error.h"

#include <stddef.h>
#include <stdint.h>

/* How many distinct owners a report names. */
#define EXPORT_MAX_OWNERS 4

/* What could not be kept as the image has it, by kind; nothing of this is
 * an error: without root, owners and device nodes cannot be made, and the
 * kernel clears a setgid bit for a group its caller is not in.  Each kind
 * names its first path, for the message. */
struct export_report {
  size_t owners;     /* entries left with the caller's owner */
  uint32_t uids[EXPORT_MAX_OWNERS]; /* the image's owners of those, the first distinct ones */
  size_t n_uids;
  size_t modes;      /* entries whose mode bits the kernel did not keep */
  char *mode_path;
  size_t devices;    /* device nodes not made (mknod needs CAP_MKNOD) */
  char *device_path;
  size_t sockets;    /* sockets: a socket is made by the program that listens on it */
  char *socket_path;
};

/* Write the merged tree of `img`, read from `archive`, into `dir`, which
 * must not exist or be an empty directory (a non-empty one is refused,
 * DERROR_USAGE).  Owners, modes (setuid, setgid, sticky), symlink targets,
 * hardlinks, contents and modification times are those of the image;
 * directories get theirs after their contents.  An entry below one that is
 * not a directory of the tree (a symlink `/etc -> /` and a file
 * `/etc/passwd`) is an error, never written through the link.  On failure
 * what was written stays in `dir` for inspection; the report says what was
 * not kept.  Free the report with export_report_free(). */
int image_export(const char *archive, const struct image *img, const char *dir, struct export_report *rep,
                 struct derror *err);
void export_report_free(struct export_report *rep);

#endif
