/* Files in and out: inputs opened without blocking or following what
 * they must not, whole small files read, outputs written in full and
 * renamed into place only when complete. */
#ifndef DISTILL_FILE_H
#define DISTILL_FILE_H

#include "lib/alloc.h"
#include "lib/error.h"

#include <stddef.h>
#include <stdint.h>

/* Open an input to read, never blocking on the open: anything but a
 * regular file (a FIFO would wait for a writer forever, a device may act
 * on being opened) is refused as "`NAME`: a FIFO, not a regular file",
 * `name` (or the path when NULL) naming it in errors.  `flags` may add
 * O_NOFOLLOW for a path whose symlinks were already resolved.  Returns the
 * descriptor (blocking reads, close-on-exec) and its fstat() in `st` when
 * not NULL; -1 with `err` set. */
struct stat;
int open_input(const char *path, const char *name, int flags, struct stat *st, struct derror *err);
/* Read a whole regular file of at most `max` bytes, opened as above. */
int read_file(const char *path, size_t max, struct buf *out, struct derror *err);
/* The same with open_input()'s `flags`. */
int read_file_flags(const char *path, int flags, size_t max, struct buf *out, struct derror *err);
/* Write all of `n` bytes, retrying on short writes and EINTR. */
int write_all(int fd, const void *data, size_t n);
/* Writeback of a file being written at offsets [*started, written) begun
 * every 8 MiB (sync_file_range), so that its fsync waits less: for durable
 * outputs only. */
void write_behind(int fd, uint64_t *started, uint64_t written);

/* Output written to a temporary file beside its destination and renamed
 * into place on commit; on abort (or a crash) the destination is untouched
 * and no temporary file remains.  A durable one is also on the disk, its
 * name too, before commit returns (fsync of the file, then of its
 * directory); otherwise the kernel writes it back in its own time, as with
 * any file, and a power cut soon after may lose it (but never leaves a
 * part of it under the destination's name on file systems that order a
 * rename over a file after its data, as ext4 and btrfs do). */
struct atomic_file {
  char *path; /* destination */
  char *tmp;  /* temporary name, while the file has one */
  int dir;    /* what `tmp` is relative to: AT_FDCWD, or a directory */
  int fd;
  bool durable; /* set by the caller before commit */
  /* The file that commit replaced at `path`, now under `name` in `dir`:
   * removed, unless the caller sets this after the open; it must then
   * rename or remove it. */
  void (*replaced)(void *ctx, int dir, const char *name);
  void *replaced_ctx;
};
int atomic_open(struct atomic_file *f, const char *path, struct derror *err);
/* Write `path` over an existing file instead: `fd`, open to read and
 * write, named `tmp` (taken) in `dir` (which the caller keeps open) and
 * guarded against signals already.  It may hold more bytes than the
 * writer writes: the writer must set its size (ftruncate) before commit. */
void atomic_adopt(struct atomic_file *f, const char *path, int dir, char *tmp, int fd);
int atomic_commit(struct atomic_file *f, struct derror *err);
void atomic_abort(struct atomic_file *f);

#endif
