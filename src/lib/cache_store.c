/* The cache's files: the names it writes, the files it trusts, writing
 * under a temporary name then renaming, records under their key, and
 * eviction.  See cache.h for the rules they keep. */
#include "lib/cache_store.h"
#include "lib/alloc.h"
#include "lib/compress.h"
#include "lib/digest.h"
#include "lib/file.h"
#include "lib/tmpguard.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_PREFIX ".tmp."
#define TMP_RANDOM 6 /* [A-Za-z0-9] after TMP_PREFIX */
#define TMP_STALE 86400 /* seconds after which a temporary file is a killed build's */

char *
cache_blob_name(const char *diff_id, enum compression comp)
{
  return xasprintf("%s.%s-%d", diff_id + 7, compression_name(comp), compression_level(comp));
}

/* What the cache may name in layers/: its blobs, HEX.NAME-LEVEL, and its
 * temporary files; eviction touches nothing else. */
static bool
is_blob_name(const char *s)
{
  static const enum compression kinds[] = { COMPRESSION_GZIP, COMPRESSION_ZSTD, COMPRESSION_NONE };

  if (strspn(s, "0123456789abcdef") != DIGEST_HEX_LEN || s[DIGEST_HEX_LEN] != '.')
    return false;
  s += DIGEST_HEX_LEN + 1;
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
    size_t n = strlen(compression_name(kinds[i]));
    if (strncmp(s, compression_name(kinds[i]), n) == 0 && s[n] == '-') {
      size_t digits = strspn(s + n + 1, "0123456789");
      return digits >= 1 && digits <= 2 && s[n + 1 + digits] == '\0';
    }
  }
  return false;
}

static bool
is_tmp_name(const char *s)
{
  static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  size_t p = strlen(TMP_PREFIX);

  return strncmp(s, TMP_PREFIX, p) == 0 && strspn(s + p, alnum) == TMP_RANDOM && s[p + TMP_RANDOM] == '\0';
}

bool
cache_is_spare_name(const char *s)
{
  static const char hex[] = "0123456789abcdef";
  size_t n;

  if (strncmp(s, "spare-", 6) != 0)
    return false;
  s += 6;
  if ((n = strspn(s, hex)) == 0 || s[n] != '.')
    return false;
  s += n + 1;
  if ((n = strspn(s, hex)) == 0 || s[n] != '-')
    return false;
  s += n + 1;
  n = strspn(s, hex);
  return n > 0 && s[n] == '\0';
}

/* A file the cache may trust: one only this user could have written. */
bool
cache_own_file(const struct stat *st)
{
  return S_ISREG(st->st_mode) && st->st_uid == geteuid() && !(st->st_mode & 022);
}

/* `name` in `dir`, read whole when it is this user's own regular file of
 * at most `max` bytes; -1 when not (errno ENOENT: the usual miss). */
static int
read_own(int dir, const char *name, size_t max, struct buf *out)
{
  cleanup_close int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  struct stat st;

  if (fd < 0 || fstat(fd, &st) < 0)
    return -1;
  if (!cache_own_file(&st) || (uint64_t) st.st_size > max) {
    errno = EPERM;
    return -1;
  }
  for (;;) {
    char chunk[65536];
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 || out->len + (size_t) r > max) {
      buf_free(out);
      errno = r < 0 ? errno : EFBIG;
      return -1;
    }
    if (r == 0)
      break;
    buf_append(out, chunk, (size_t) r);
  }
  buf_append(out, "", 0); /* a string even when empty */
  return 0;
}

static void
random_name(char name[sizeof TMP_PREFIX + TMP_RANDOM])
{
  static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char r[TMP_RANDOM];

  if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t) sizeof r)
    for (size_t i = 0; i < sizeof r; i++)
      r[i] = (unsigned char) random();
  memcpy(name, TMP_PREFIX, strlen(TMP_PREFIX));
  for (size_t i = 0; i < TMP_RANDOM; i++)
    name[strlen(TMP_PREFIX) + i] = alnum[r[i] % (sizeof alnum - 1)];
  name[strlen(TMP_PREFIX) + TMP_RANDOM] = '\0';
}

char *
cache_tmp_name(void)
{
  char n[sizeof TMP_PREFIX + TMP_RANDOM];

  random_name(n);
  return xstrdup(n);
}

/* A new temporary file in `dir`: unnamed (`*name` NULL) where the file
 * system allows, else under a fresh name guarded against signals (a name
 * that cannot be guarded is not kept). */
int
cache_tmp_open(int dir, char **name)
{
  char n[sizeof TMP_PREFIX + TMP_RANDOM];

  *name = NULL;
  int fd = openat(dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
    return fd;
  for (int tries = 0; tries < 100; tries++) {
    random_name(n);
    fd = openat(dir, n, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
      continue;
    if (fd < 0)
      return -1;
    if (tmpfile_guard(dir, n) < 0) {
      int e = errno;
      unlinkat(dir, n, 0);
      close(fd);
      if (e == EEXIST) /* the same name in another directory */
        continue;
      return -1;
    }
    *name = xstrdup(n);
    return fd;
  }
  return -1;
}

/* Link the unnamed file `fd` into `dir` under a fresh temporary name,
 * guarded from then on. */
static char *
tmp_link(int dir, int fd)
{
  char n[sizeof TMP_PREFIX + TMP_RANDOM], proc[64];

  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  for (int tries = 0; tries < 100; tries++) {
    random_name(n);
    /* /proc first: AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH on older kernels */
    int r = linkat(AT_FDCWD, proc, dir, n, AT_SYMLINK_FOLLOW);
    if (r < 0 && errno != EEXIST)
      r = linkat(fd, "", dir, n, AT_EMPTY_PATH);
    if (r < 0 && errno == EEXIST)
      continue;
    if (r < 0)
      return NULL;
    /* a full table leaves it unguarded for an instant; the same name in
     * another directory would be forgotten with this one: another name */
    if (tmpfile_guard(dir, n) < 0 && errno == EEXIST) {
      unlinkat(dir, n, 0);
      continue;
    }
    return xstrdup(n);
  }
  return NULL;
}

/* Give the file written on `fd` (closed here) the name `final` in `dir`,
 * replacing any: renamed from `tmp`, or, unnamed, linked under a temporary
 * name first. */
int
cache_tmp_keep(int dir, int fd, const char *tmp, const char *final)
{
  cleanup_free char *linked = tmp ? NULL : tmp_link(dir, fd);
  const char *from = tmp ? tmp : linked;
  bool ok = close(fd) == 0 && from != NULL;

  ok = ok && renameat(dir, from, dir, final) == 0;
  if (from) {
    if (!ok)
      unlinkat(dir, from, 0);
    tmpfile_unguard(from, false);
  }
  return ok ? 0 : -1;
}

/* A record or note: its header names its key, so that it counts only
 * under that key. */
void
cache_record_put(int dir, const char *key, const char *head, const char *data, size_t len)
{
  cleanup_free char *tmp = NULL;
  struct buf b = { 0 };

  if (!digest_valid(key))
    return;
  int fd = cache_tmp_open(dir, &tmp);
  if (fd < 0)
    return;
  buf_printf(&b, "%s\nkey %s\n", head, key);
  buf_append(&b, data, len);
  if (write_all(fd, b.data, b.len) < 0) {
    close(fd);
    if (tmp)
      tmpfile_unguard(tmp, true);
  } else {
    cache_tmp_keep(dir, fd, tmp, key + 7);
  }
  buf_free(&b);
}

/* The record or note under `key`, its header checked and taken off: the
 * rest in `out`. -1 when absent or not to be trusted. */
int
cache_record_get(int dir, const char *key, const char *head, size_t max, struct buf *out)
{
  if (!digest_valid(key)) {
    errno = EINVAL;
    return -1;
  }
  if (read_own(dir, key + 7, max, out) < 0)
    return -1;
  cleanup_free char *want = xasprintf("%s\nkey %s\n", head, key);
  size_t n = strlen(want);
  if (out->len < n || memcmp(out->data, want, n) != 0) {
    buf_free(out);
    errno = EINVAL;
    return -1;
  }
  memmove(out->data, out->data + n, out->len - n + 1);
  out->len -= n;
  return 0;
}

struct aged {
  char *name;
  struct timespec used;
  uint64_t size;
};

static int
aged_cmp(const void *a, const void *b)
{
  const struct aged *x = a, *y = b;
  if (x->used.tv_sec != y->used.tv_sec)
    return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
  if (x->used.tv_nsec != y->used.tv_nsec)
    return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
  return strcmp(x->name, y->name);
}

/* A fresh listing of `dir` (its own offset, not the held fd's). */
static DIR *
list_dir(int dir)
{
  int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

  if (d == NULL && fd >= 0)
    close(fd);
  return d;
}

/* Temporary files of this user's killed builds: gone after a day (younger
 * ones may be a running build's). */
static void
sweep_stale(int dir, time_t now)
{
  DIR *d = list_dir(dir);
  struct dirent *de;

  if (d == NULL)
    return;
  while ((de = readdir(d)) != NULL) {
    struct stat st;
    if (is_tmp_name(de->d_name) && fstatat(dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && cache_own_file(&st)
        && now - st.st_mtime > TMP_STALE)
      unlinkat(dir, de->d_name, 0);
  }
  closedir(d);
}

/* Least recently used blobs and spares go until the rest fit under the
 * bound.  Only the names the cache writes, this user's regular files, are
 * counted or removed: anything else in the directory is left as it is. */
void
cache_evict(struct cache *c)
{
  DIR *d = list_dir(c->layers);
  struct aged *all = NULL;
  size_t n = 0, cap = 0;
  uint64_t total = 0;
  struct dirent *de;

  c->evicted = true;
  if (d == NULL)
    return;
  while ((de = readdir(d)) != NULL) {
    struct stat st;
    bool spare = cache_is_spare_name(de->d_name);
    /* a spare keeps its output's mode, which may let its group write */
    if (!(spare || is_blob_name(de->d_name)) || fstatat(c->layers, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
        || !(spare ? S_ISREG(st.st_mode) && st.st_uid == geteuid() : cache_own_file(&st)))
      continue;
    if (n == cap)
      all = xreallocarray(all, cap = cap ? cap * 2 : 64, sizeof *all);
    all[n++] = (struct aged){ xstrdup(de->d_name), st.st_mtim, (uint64_t) st.st_size };
    total += (uint64_t) st.st_size;
  }
  closedir(d);
  if (total > c->max && n > 0) {
    qsort(all, n, sizeof *all, aged_cmp);
    for (size_t i = 0; i < n && total > c->max; i++)
      if (unlinkat(c->layers, all[i].name, 0) == 0)
        total -= all[i].size;
  }
  for (size_t i = 0; i < n; i++)
    free(all[i].name);
  free(all);
  sweep_stale(c->layers, time(NULL));
  sweep_stale(c->keys, time(NULL));
  sweep_stale(c->content, time(NULL));
}
