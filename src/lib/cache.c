/* The layer cache: see cache.h. */
#include "lib/cache.h"
#include "lib/file.h"
#include "lib/tmpguard.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEY_MAX (64u << 20)  /* a key's record: a line per entry */
#define NOTE_MAX (16u << 20) /* a note */
#define TMP_PREFIX ".tmp."
#define TMP_RANDOM 6 /* [A-Za-z0-9] after TMP_PREFIX */
#define TMP_STALE 86400 /* seconds after which a temporary file is a killed build's */

/* Made 0700: the cache's own directories, and the parents it makes. */
static int
mkdir_p(const char *path)
{
  if (mkdir(path, 0700) == 0 || errno == EEXIST)
    return 0;
  if (errno != ENOENT)
    return -1;
  cleanup_free char *copy = xstrdup(path);

  for (char *p = copy + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(copy, 0700) < 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  return mkdir(copy, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static uint64_t
parse_max(const char *s)
{
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s)
    return CACHE_DEFAULT_MAX;
  switch (*end) {
  case 'K': case 'k': v <<= 10; end++; break;
  case 'M': case 'm': v <<= 20; end++; break;
  case 'G': case 'g': v <<= 30; end++; break;
  default: break;
  }
  return *end ? CACHE_DEFAULT_MAX : v;
}

/* Open a directory of the cache, `name` in `at`, made 0700 when `create`:
 * DERROR_UNSAFE when another user could write in it, it being theirs,
 * writable by group or others, or a symbolic link (to anywhere: eviction
 * would remove files there). */
static int
open_dir(int at, const char *name, const char *shown, bool create, int *out, struct derror *err)
{
  struct stat st;

  if (create && mkdirat(at, name, 0700) < 0 && errno != EEXIST)
    return derror_errno(err, errno, "cache `%s`", shown);
  *out = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (*out < 0) {
    int e = errno;
    if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
      return derror_code(err, DERROR_UNSAFE,
                         "cache `%s` is a symbolic link: refused, the cache must be a directory of its own", shown);
    return derror_errno(err, e, "cache `%s`", shown);
  }
  if (fstat(*out, &st) < 0)
    return derror_errno(err, errno, "cache `%s`", shown);
  if (st.st_uid != geteuid())
    return derror_code(err, DERROR_UNSAFE,
                       "cache `%s` is owned by uid %u, not by uid %u who builds: refused, its owner could plant layers",
                       shown, (unsigned) st.st_uid, (unsigned) geteuid());
  if (st.st_mode & 022)
    return derror_code(err, DERROR_UNSAFE, "cache `%s` is writable by %s (mode %04o): refused, they could plant layers",
                       shown, (st.st_mode & 022) == 022 ? "group and others" : st.st_mode & 020 ? "its group" : "others",
                       (unsigned) (st.st_mode & 07777));
  return 0;
}

int
cache_open(struct cache *c, const char *dir, struct derror *err)
{
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME"), *max = getenv("DISTILL_CACHE_MAX");

  memset(c, 0, sizeof *c);
  c->fd = c->layers = c->keys = -1;
  if (dir)
    c->dir = xstrdup(dir);
  else if (xdg && xdg[0] == '/')
    c->dir = xasprintf("%s/distill", xdg);
  else if (home && home[0] == '/')
    c->dir = xasprintf("%s/.cache/distill", home);
  else
    return derror_set(err, "no cache: neither $XDG_CACHE_HOME nor $HOME is set");
  /* "DIR/" would follow DIR, a symbolic link */
  for (size_t n = strlen(c->dir); n > 1 && c->dir[n - 1] == '/'; n--)
    c->dir[n - 1] = '\0';
  c->max = max && *max ? parse_max(max) : CACHE_DEFAULT_MAX;
  cleanup_free char *layers = xasprintf("%s/layers", c->dir);
  cleanup_free char *keys = xasprintf("%s/keys", c->dir);
  int r = mkdir_p(c->dir) < 0 ? derror_errno(err, errno, "cache `%s`", c->dir) : 0;
  if (r == 0)
    r = open_dir(AT_FDCWD, c->dir, c->dir, false, &c->fd, err);
  if (r == 0)
    r = open_dir(c->fd, "layers", layers, true, &c->layers, err);
  if (r == 0)
    r = open_dir(c->fd, "keys", keys, true, &c->keys, err);
  if (r < 0)
    cache_close(c);
  return r;
}

void
cache_close(struct cache *c)
{
  if (c->dir == NULL) /* never opened: { 0 } */
    return;
  if (c->fd >= 0)
    close(c->fd);
  if (c->layers >= 0)
    close(c->layers);
  if (c->keys >= 0)
    close(c->keys);
  c->fd = c->layers = c->keys = -1;
  free(c->dir);
  c->dir = NULL;
}

static char *
blob_name(const char *diff_id, enum compression comp)
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

/* A file the cache may trust: one only this user could have written. */
static bool
own_file(const struct stat *st)
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
  if (!own_file(&st) || (uint64_t) st.st_size > max) {
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

/* A new temporary file in `dir`: unnamed (`*name` NULL) where the file
 * system allows, else under a fresh name guarded against signals (a name
 * that cannot be guarded is not kept). */
static int
tmp_open(int dir, char **name)
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
static int
tmp_keep(int dir, int fd, const char *tmp, const char *final)
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
static void
record_put(struct cache *c, const char *key, const char *head, const char *data, size_t len)
{
  cleanup_free char *tmp = NULL;
  struct buf b = { 0 };

  if (!digest_valid(key))
    return;
  int fd = tmp_open(c->keys, &tmp);
  if (fd < 0)
    return;
  buf_printf(&b, "%s\nkey %s\n", head, key);
  buf_append(&b, data, len);
  if (write_all(fd, b.data, b.len) < 0) {
    close(fd);
    if (tmp)
      tmpfile_unguard(tmp, true);
  } else {
    tmp_keep(c->keys, fd, tmp, key + 7);
  }
  buf_free(&b);
}

/* The record or note under `key`, its header checked and taken off: the
 * rest in `out`. -1 when absent or not to be trusted. */
static int
record_get(struct cache *c, const char *key, const char *head, size_t max, struct buf *out)
{
  if (!digest_valid(key)) {
    errno = EINVAL;
    return -1;
  }
  if (read_own(c->keys, key + 7, max, out) < 0)
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

void
cache_hit_free(struct cache_hit *hit)
{
  strv_free(&hit->marks);
}

#define RECORD_HEAD "distill-cache 3"
#define NOTE_HEAD "distill-note 1"

/* The key's record; anything unexpected is a miss, and the record goes. */
int
cache_lookup(struct cache *c, const char *key, enum compression comp, struct cache_hit *hit)
{
  struct buf b = { 0 };
  unsigned long long size = 0, entries = 0;
  char comp_name[16];
  int ok = 0;

  memset(hit, 0, sizeof *hit);
  if (record_get(c, key, RECORD_HEAD, KEY_MAX, &b) < 0) {
    if (errno != ENOENT && digest_valid(key))
      unlinkat(c->keys, key + 7, 0);
    return -1;
  }
  char *save = NULL, *line = strtok_r(b.data, "\n", &save);
  ok = line && sscanf(line, "digest %71s", hit->digest) == 1;
  ok = ok && (line = strtok_r(NULL, "\n", &save)) && sscanf(line, "diff_id %71s", hit->diff_id) == 1;
  ok = ok && (line = strtok_r(NULL, "\n", &save)) && sscanf(line, "size %llu", &size) == 1;
  ok = ok && (line = strtok_r(NULL, "\n", &save)) && sscanf(line, "compression %15s", comp_name) == 1;
  ok = ok && (line = strtok_r(NULL, "\n", &save)) && sscanf(line, "entries %llu", &entries) == 1;
  ok = ok && digest_valid(hit->digest) && digest_valid(hit->diff_id) && strcmp(comp_name, compression_name(comp)) == 0;
  for (unsigned long long i = 0; ok && i < entries; i++) {
    ok = (line = strtok_r(NULL, "\n", &save)) != NULL;
    if (ok)
      strv_push(&hit->marks, line);
  }
  buf_free(&b);
  hit->size = size;
  hit->comp = comp;
  if (ok) {
    cleanup_free char *blob = blob_name(hit->diff_id, comp);
    struct stat st;
    ok = fstatat(c->layers, blob, &st, AT_SYMLINK_NOFOLLOW) == 0 && own_file(&st) && (uint64_t) st.st_size == size;
  }
  if (!ok) {
    unlinkat(c->keys, key + 7, 0);
    cache_hit_free(hit);
    return -1;
  }
  return 0;
}

/* A second thread hashes each chunk while the first writes it out. */
struct hasher {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  const char *buf; /* to hash; NULL when idle */
  size_t n;
  bool stop;
  struct digest d;
};

static void *
hasher_run(void *arg)
{
  struct hasher *h = arg;

  pthread_mutex_lock(&h->lock);
  for (;;) {
    while (h->buf == NULL && !h->stop)
      pthread_cond_wait(&h->cond, &h->lock);
    if (h->buf == NULL)
      break;
    pthread_mutex_unlock(&h->lock);
    digest_update(&h->d, h->buf, h->n);
    pthread_mutex_lock(&h->lock);
    h->buf = NULL;
    pthread_cond_broadcast(&h->cond);
  }
  pthread_mutex_unlock(&h->lock);
  return NULL;
}

static void
hasher_give(struct hasher *h, const char *buf, size_t n)
{
  pthread_mutex_lock(&h->lock);
  while (h->buf != NULL)
    pthread_cond_wait(&h->cond, &h->lock);
  h->buf = buf;
  h->n = n;
  pthread_cond_broadcast(&h->cond);
  pthread_mutex_unlock(&h->lock);
}

static void
hasher_wait(struct hasher *h)
{
  pthread_mutex_lock(&h->lock);
  while (h->buf != NULL)
    pthread_cond_wait(&h->cond, &h->lock);
  pthread_mutex_unlock(&h->lock);
}

#define COPY_CHUNK (1u << 20)

int
cache_copy(struct cache *c, const struct cache_hit *hit, int fd, struct derror *err)
{
  cleanup_free char *name = blob_name(hit->diff_id, hit->comp);
  cleanup_free char *path = xasprintf("%s/layers/%s", c->dir, name);
  cleanup_close int in = openat(c->layers, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  cleanup_free char *bufs = xmalloc(2 * (size_t) COPY_CHUNK);
  struct hasher h = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
  char got[DIGEST_STR_LEN];
  struct stat st;
  pthread_t t;
  ssize_t n;
  int ret = 0, which = 0;

  if (in < 0)
    return derror_errno(err, errno, "cache: open `%s`", path);
  /* looked at by cache_lookup, but it may have been replaced since */
  if (fstat(in, &st) < 0)
    return derror_errno(err, errno, "cache: stat `%s`", path);
  if (!own_file(&st))
    return derror_set(err, "cache: `%s` is not a regular file of uid %u that only it can write: not used", path,
                      (unsigned) geteuid());
  off_t base = lseek(fd, 0, SEEK_CUR);
  uint64_t started = base > 0 ? (uint64_t) base : 0, copied = 0;
  digest_init(&h.d);
  bool threaded = pthread_create(&t, NULL, hasher_run, &h) == 0;
  for (;;) {
    char *buf = bufs + (size_t) which * COPY_CHUNK;
    /* the hasher may still read the other buffer, never this one: it was
     * given this one two rounds ago and has taken the other since */
    n = read(in, buf, COPY_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    if (threaded)
      hasher_give(&h, buf, (size_t) n);
    else
      digest_update(&h.d, buf, (size_t) n);
    if (write_all(fd, buf, (size_t) n) < 0) {
      ret = derror_errno(err, errno, "write");
      err->code = DERROR_OUTPUT;
      break;
    }
    copied += (uint64_t) n;
    if (base >= 0)
      write_behind(fd, &started, (uint64_t) base + copied);
    which ^= 1; /* hasher_give waits until the hasher is done with it */
  }
  if (n < 0 && ret == 0)
    ret = derror_errno(err, errno, "cache: read `%s`", path);
  if (threaded) {
    hasher_wait(&h);
    pthread_mutex_lock(&h.lock);
    h.stop = true;
    pthread_cond_broadcast(&h.cond);
    pthread_mutex_unlock(&h.lock);
    pthread_join(t, NULL);
  }
  if (ret < 0) {
    digest_abort(&h.d);
    return ret;
  }
  uint64_t size = h.d.size;
  digest_final(&h.d, got);
  if (size != hit->size || strcmp(got, hit->digest) != 0) {
    unlinkat(c->layers, name, 0);
    return derror_set(err, "cache: `%s` is corrupt (%s, %llu bytes; expected %s, %llu bytes): removed", path,
                      got, (unsigned long long) size, hit->digest, (unsigned long long) hit->size);
  }
  futimens(in, NULL); /* recently used */
  return 0;
}

int
cache_begin(struct cache *c, char **tmp)
{
  return tmp_open(c->layers, tmp);
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
    if (is_tmp_name(de->d_name) && fstatat(dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && own_file(&st)
        && now - st.st_mtime > TMP_STALE)
      unlinkat(dir, de->d_name, 0);
  }
  closedir(d);
}

/* Least recently used blobs go until the rest fit under the bound.  Only
 * the names the cache writes, this user's regular files, are counted or
 * removed: anything else in the directory is left as it is. */
static void
evict(struct cache *c)
{
  DIR *d = list_dir(c->layers);
  struct aged *all = NULL;
  size_t n = 0, cap = 0;
  uint64_t total = 0;
  struct dirent *de;

  if (d == NULL)
    return;
  while ((de = readdir(d)) != NULL) {
    struct stat st;
    if (!is_blob_name(de->d_name) || fstatat(c->layers, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
        || !own_file(&st))
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
}

void
cache_put(struct cache *c, int tmp_fd, char *tmp_name, const char *key, const struct cache_hit *what)
{
  cleanup_free char *blob = blob_name(what->diff_id, what->comp);
  cleanup_free char *name = tmp_name;
  struct buf b = { 0 };

  /* No fsync: a blob cut short by a crash fails its digest when used, and
   * is rebuilt. Renamed over an existing blob of the same diff_id: the same
   * bytes. */
  if (tmp_keep(c->layers, tmp_fd, name, blob) < 0)
    return;
  buf_printf(&b, "digest %s\ndiff_id %s\nsize %llu\ncompression %s\nentries %zu\n", what->digest, what->diff_id,
             (unsigned long long) what->size, compression_name(what->comp), what->marks.n);
  for (size_t i = 0; i < what->marks.n; i++)
    buf_printf(&b, "%s\n", what->marks.items[i]);
  record_put(c, key, RECORD_HEAD, b.data, b.len);
  buf_free(&b);
  evict(c);
}

void
cache_note_put(struct cache *c, const char *key, const char *data, size_t len)
{
  record_put(c, key, NOTE_HEAD, data, len);
}

int
cache_note_get(struct cache *c, const char *key, struct buf *out)
{
  return record_get(c, key, NOTE_HEAD, NOTE_MAX, out);
}

void
cache_discard(int tmp_fd, char *tmp_name)
{
  if (tmp_fd >= 0)
    close(tmp_fd);
  if (tmp_name) /* guarded: the guard knows its directory */
    tmpfile_unguard(tmp_name, true);
  free(tmp_name);
}
