/* Spares: the output a build replaced, kept in the cache to be written
 * over by the next build into the same directory.  Writing over a file's
 * blocks costs less than making a new file and freeing the old one, by
 * far where freeing discards the blocks on the device at once (ext4
 * mounted `discard`, usual on virtual machines): an image of 80 MB took
 * 60-70 ms to remove there, as long as the rest of a warm build.
 *
 *   DIR/layers/spare-<major>.<minor>-<ino>   the spare of the directory
 *                                            <ino> on device <major>:<minor>
 *
 * At most one per directory; each counts in DISTILL_CACHE_MAX like a blob.
 * Only a plain file becomes or serves as a spare: a regular file of the
 * effective user, of one link (another name would see it change), of no
 * extended attributes (an ACL or a security label is not the new file's),
 * of at least SPARE_MIN bytes, and open nowhere (a reader of the old
 * output keeps reading the old output): anything else is removed as
 * before.  A spare being written has a temporary name in the cache, so a
 * killed build leaves nothing beside its output. */
#include "lib/cache.h"
#include "lib/cache_store.h"
#include "lib/file.h"
#include "lib/path.h"
#include "lib/tmpguard.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define SPARE_MIN (1u << 20) /* smaller outputs gain nothing worth a file */

/* No other open file description, anywhere: a write lease is granted only
 * then.  It is let go at once; its break signal, should another open come
 * in between, is one ignored by default. */
static bool
open_nowhere(int fd)
{
  if (fcntl(fd, F_SETSIG, SIGURG) < 0 || fcntl(fd, F_SETLEASE, F_WRLCK) < 0)
    return false;
  return fcntl(fd, F_SETLEASE, F_UNLCK) == 0;
}

static bool
plain_file(int fd)
{
  struct stat st;

  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && st.st_nlink == 1 && st.st_size >= SPARE_MIN
         && flistxattr(fd, NULL, 0) == 0 && open_nowhere(fd);
}

/* The spare's name for the directory of `path`, when the cache's layers
 * are on its very mount (a rename from one to the other can work). */
static char *
slot_name(struct cache *c, const char *path)
{
  cleanup_free char *dir = path_dirname(path);
  struct statx in, out;

  if (statx(c->layers, "", AT_EMPTY_PATH, STATX_MNT_ID, &in) < 0 || statx(AT_FDCWD, dir, 0, STATX_MNT_ID, &out) < 0
      || !(in.stx_mask & out.stx_mask & STATX_MNT_ID) || in.stx_mnt_id != out.stx_mnt_id || !S_ISDIR(out.stx_mode))
    return NULL;
  return xasprintf("spare-%x.%x-%llx", out.stx_dev_major, out.stx_dev_minor, (unsigned long long) out.stx_ino);
}

/* The group a new file in the directory of `path` would have. */
static gid_t
new_file_group(const char *path)
{
  cleanup_free char *dir = path_dirname(path);
  struct stat st;

  return stat(dir, &st) == 0 && (st.st_mode & S_ISGID) ? st.st_gid : getegid();
}

/* Made what a new output would be: the mode the umask gives, the group. */
static bool
as_new(int fd, const char *path)
{
  mode_t mask = umask(0);
  gid_t gid = new_file_group(path);
  struct stat st;

  umask(mask);
  if (fchmod(fd, 0666 & ~mask) < 0 || fstat(fd, &st) < 0)
    return false;
  return st.st_gid == gid || fchown(fd, (uid_t) -1, gid) == 0;
}

/* The slot's spare, under a temporary name of the cache's, open to be
 * written over; -1 when there is none to use. */
static int
take(struct cache *c, const char *slot, const char *path, char **tmp)
{
  char *name = NULL;

  for (int tries = 0; tries < 10 && name == NULL; tries++) {
    name = cache_tmp_name();
    if (renameat2(c->layers, slot, c->layers, name, RENAME_NOREPLACE) == 0)
      break;
    free(name);
    name = NULL;
    if (errno != EEXIST)
      return -1;
  }
  if (name == NULL || tmpfile_guard(c->layers, name) < 0) {
    if (name)
      unlinkat(c->layers, name, 0);
    free(name);
    return -1;
  }
  int fd = openat(c->layers, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
  if (fd < 0 || !plain_file(fd) || !as_new(fd, path) || fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
    if (fd >= 0)
      close(fd);
    tmpfile_unguard(name, true);
    free(name);
    return -1;
  }
  *tmp = name;
  return fd;
}

/* atomic_file's `replaced`: the old output becomes the slot's spare when
 * it is a plain file and the slot is free; else it is removed. */
static void
keep(void *ctx, int dir, const char *name)
{
  struct cache *c = ctx;
  struct stat st;
  bool kept = false;

  if (c->spare_slot && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
    cleanup_close int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    kept = fd >= 0 && plain_file(fd) && renameat2(dir, name, c->layers, c->spare_slot, RENAME_NOREPLACE) == 0;
  }
  if (!kept)
    unlinkat(dir, name, 0);
  /* the cache grew by a spare, or blobs were put while the spare taken
   * had a temporary name (not counted): back under its bound */
  else if (!c->spare_taken || c->evicted)
    cache_evict(c);
}

int
cache_output_open(struct cache *c, const char *path, struct atomic_file *f, struct derror *err)
{
  struct stat st;

  if (c == NULL || c->dir == NULL)
    return atomic_open(f, path, err);
  free(c->spare_slot);
  c->spare_slot = slot_name(c, path);
  char *tmp = NULL;
  int fd = -1;
  if (c->spare_slot && !(stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
    fd = take(c, c->spare_slot, path, &tmp);
  c->spare_taken = fd >= 0;
  if (fd >= 0)
    atomic_adopt(f, path, c->layers, tmp, fd);
  else if (atomic_open(f, path, err) < 0)
    return -1;
  f->replaced = keep;
  f->replaced_ctx = c;
  return 0;
}
