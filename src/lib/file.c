#include "lib/file.h"
#include "lib/alloc.h"
#include "lib/path.h"
#include "lib/timing.h"
#include "lib/tmpguard.h" /* a killed build leaves no temporary output */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a file is, for the message refusing it. */
static const char *
file_kind(mode_t mode)
{
  switch (mode & S_IFMT) {
  case S_IFIFO:
    return "a FIFO";
  case S_IFDIR:
    return "a directory";
  case S_IFCHR:
    return "a character device";
  case S_IFBLK:
    return "a block device";
  case S_IFSOCK:
    return "a socket";
  case S_IFLNK:
    return "a symbolic link";
  default:
    return "something";
  }
}

/* The type is looked at twice: before the open, so that a device is never
 * opened at all (opening some acts, a FIFO's waits for a writer); and on
 * the descriptor, opened O_NONBLOCK, for a file replaced in between. */
int
open_input(const char *path, const char *name, int flags, struct stat *st, struct derror *err)
{
  const char *what = name ? name : path;
  struct stat before, after;
  bool nofollow = (flags & O_NOFOLLOW) != 0;

  if ((nofollow ? lstat(path, &before) : stat(path, &before)) < 0)
    return derror_errno(err, errno, "open `%s`", what);
  if (!S_ISREG(before.st_mode))
    return derror_set(err, "`%s`: %s, not a regular file", what, file_kind(before.st_mode));
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (flags & O_NOFOLLOW));
  if (fd < 0)
    return derror_errno(err, errno, "open `%s`", what);
  if (fstat(fd, &after) < 0) {
    int e = errno;
    close(fd);
    return derror_errno(err, e, "stat `%s`", what);
  }
  if (!S_ISREG(after.st_mode)) {
    close(fd);
    return derror_set(err, "`%s`: %s, not a regular file", what, file_kind(after.st_mode));
  }
  /* No effect on a regular file's reads today; cleared all the same, so
   * that the descriptor reads as every other one does. */
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
    int e = errno;
    close(fd);
    return derror_errno(err, e, "open `%s`", what);
  }
  if (st)
    *st = after;
  return fd;
}

int
read_file_flags(const char *path, int flags, size_t max, struct buf *out, struct derror *err)
{
  struct stat st;
  cleanup_close int fd = open_input(path, NULL, flags, &st, err);

  if (fd < 0)
    return -1;
  /* a size past the bound is refused before room is made for it */
  if ((uint64_t) st.st_size > max)
    return derror_set(err, "`%s`: larger than %zu bytes", path, max);
  for (;;) {
    /* room for the file as it was, and a little more: read in place */
    if (out->cap < out->len + 65536 + 1) {
      size_t want = out->len + (size_t) st.st_size + 65536 + 1;
      out->data = xreallocarray(out->data, want, 1);
      out->cap = want;
    }
    ssize_t r = read(fd, out->data + out->len, out->cap - out->len - 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return derror_errno(err, errno, "read `%s`", path);
    if (r == 0)
      break;
    if (out->len + (size_t) r > max)
      return derror_set(err, "`%s`: larger than %zu bytes", path, max);
    out->len += (size_t) r;
  }
  out->data[out->len] = '\0';
  return 0;
}

int
read_file(const char *path, size_t max, struct buf *out, struct derror *err)
{
  return read_file_flags(path, 0, max, out, err);
}

int
write_all(int fd, const void *data, size_t n)
{
  const char *p = data;

  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    p += w;
    n -= (size_t) w;
  }
  return 0;
}

/* The output has no name until it is complete: an O_TMPFILE inode is
 * linked under a temporary name only at commit, then renamed over the
 * destination, so a build killed at any point leaves no partial file.
 * File systems without O_TMPFILE get a named temporary file instead. */
int
atomic_open(struct atomic_file *f, const char *path, struct derror *err)
{
  struct stat st;

  memset(f, 0, sizeof *f);
  f->fd = -1;
  f->dir = AT_FDCWD;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return derror_set(err, "output `%s` is a directory", path);
  cleanup_free char *dir = path_dirname(path);
  mode_t mask = umask(0);
  umask(mask);
  f->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0666 & ~mask);
  if (f->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    f->tmp = xasprintf("%s/.%s.XXXXXX", dir, path_basename(path));
    f->fd = mkostemp(f->tmp, O_CLOEXEC);
    if (f->fd >= 0)
      tmpfile_guard(AT_FDCWD, f->tmp);
    if (f->fd >= 0 && fchmod(f->fd, 0666 & ~mask) < 0) {
      int e = errno;
      atomic_abort(f);
      return derror_errno(err, e, "create a temporary file in `%s`", dir);
    }
  }
  if (f->fd < 0) {
    int e = errno;
    free(f->tmp);
    f->tmp = NULL;
    return derror_errno(err, e, "create a temporary file in `%s`", dir);
  }
  f->path = xstrdup(path);
  return 0;
}

void
atomic_adopt(struct atomic_file *f, const char *path, int dir, char *tmp, int fd)
{
  memset(f, 0, sizeof *f);
  f->path = xstrdup(path);
  f->dir = dir;
  f->tmp = tmp;
  f->fd = fd;
}

/* Give an unnamed O_TMPFILE inode a temporary name beside the output. */
static int
name_tmpfile(struct atomic_file *f)
{
  cleanup_free char *dir = path_dirname(f->path);
  char proc[64];

  snprintf(proc, sizeof proc, "/proc/self/fd/%d", f->fd);
  for (int tries = 0; tries < 100; tries++) {
    char *tmp = xasprintf("%s/.%s.%06x", dir, path_basename(f->path), (unsigned) random() & 0xffffff);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0) {
      tmpfile_guard(AT_FDCWD, tmp);
      f->tmp = tmp;
      return 0;
    }
    free(tmp);
    if (errno != EEXIST)
      return -1;
  }
  return -1;
}

/* `tmp` renamed to `path` without making the rename wait for the disk:
 * ext4 (auto_da_alloc) writes a file's data back before a rename of it
 * over another file returns, which costs as long as the fsync a durable
 * output has anyway.  The two names are exchanged instead, then the old
 * file, now under `tmp`, is removed or handed to `replaced`.  A plain
 * rename when there is nothing to replace or the file system cannot
 * exchange. */
static int
replace(struct atomic_file *f)
{
  if (renameat2(f->dir, f->tmp, AT_FDCWD, f->path, RENAME_EXCHANGE) < 0)
    return renameat(f->dir, f->tmp, AT_FDCWD, f->path);
  if (f->replaced)
    f->replaced(f->replaced_ctx, f->dir, f->tmp);
  else
    unlinkat(f->dir, f->tmp, 0);
  return 0;
}

/* The directory of `path` to the disk: the names in it. */
static int
sync_dir(const char *path)
{
  cleanup_free char *dir = path_dirname(path);
  enum timing_part was = timing_switch(TIMING_SYNC);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int r = fd >= 0 && fsync(fd) == 0 ? 0 : -1;
  int e = errno;

  if (fd >= 0)
    close(fd);
  timing_switch(was);
  errno = e;
  return r;
}

int
atomic_commit(struct atomic_file *f, struct derror *err)
{
  enum timing_part was = timing_switch(TIMING_SYNC);
  int synced = f->durable ? fsync(f->fd) : 0;
  timing_switch(was);
  if (synced < 0 || (f->tmp == NULL && name_tmpfile(f) < 0)) {
    derror_errno(err, errno, "write `%s`", f->path);
    atomic_abort(f);
    return -1;
  }
  if (close(f->fd) < 0) {
    f->fd = -1;
    derror_errno(err, errno, "write `%s`", f->path);
    atomic_abort(f);
    return -1;
  }
  f->fd = -1;
  was = timing_switch(TIMING_RENAME);
  int renamed = replace(f);
  timing_switch(was);
  if (renamed < 0) {
    derror_errno(err, errno, "rename to `%s`", f->path);
    atomic_abort(f);
    return -1;
  }
  tmpfile_unguard(f->tmp, false);
  if (f->durable && sync_dir(f->path) < 0) {
    derror_errno(err, errno, "write `%s`: its directory", f->path);
    free(f->tmp);
    free(f->path);
    f->tmp = f->path = NULL;
    return -1;
  }
  free(f->tmp);
  free(f->path);
  f->tmp = f->path = NULL;
  return 0;
}

void
atomic_abort(struct atomic_file *f)
{
  if (f->fd >= 0)
    close(f->fd);
  f->fd = -1;
  if (f->tmp) {
    unlinkat(f->dir, f->tmp, 0);
    tmpfile_unguard(f->tmp, false);
  }
  free(f->tmp);
  free(f->path);
  f->tmp = f->path = NULL;
}

/* Start writing back what came since the last call, every 8 MiB, without
 * waiting: the final fsync then finds little left to do. */
void
write_behind(int fd, uint64_t *started, uint64_t written)
{
  if (written - *started < (8u << 20))
    return;
  sync_file_range(fd, (off64_t) *started, (off64_t) (written - *started), SYNC_FILE_RANGE_WRITE);
  *started = written;
}
