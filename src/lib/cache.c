/* The layer cache: see cache.h.  Its files, how they are named, written,
 * trusted and evicted, are cache_store.c's. */
#include "lib/cache.h"
#include "lib/cache_store.h"
#include "lib/alloc.h"
#include "lib/compress.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "lib/file.h"
#include "lib/tmpguard.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_MAX (64u << 20)  /* a key's record: a line per entry */
#define NOTE_MAX (16u << 20) /* a note */

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
  if (cache_record_get(c, key, RECORD_HEAD, KEY_MAX, &b) < 0) {
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
    cleanup_free char *blob = cache_blob_name(hit->diff_id, comp);
    struct stat st;
    ok = fstatat(c->layers, blob, &st, AT_SYMLINK_NOFOLLOW) == 0 && cache_own_file(&st) && (uint64_t) st.st_size == size;
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
  cleanup_free char *name = cache_blob_name(hit->diff_id, hit->comp);
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
  if (!cache_own_file(&st))
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
  return cache_tmp_open(c->layers, tmp);
}

void
cache_put(struct cache *c, int tmp_fd, char *tmp_name, const char *key, const struct cache_hit *what)
{
  cleanup_free char *blob = cache_blob_name(what->diff_id, what->comp);
  cleanup_free char *name = tmp_name;
  struct buf b = { 0 };

  /* No fsync: a blob cut short by a crash fails its digest when used, and
   * is rebuilt. Renamed over an existing blob of the same diff_id: the same
   * bytes. */
  if (cache_tmp_keep(c->layers, tmp_fd, name, blob) < 0)
    return;
  buf_printf(&b, "digest %s\ndiff_id %s\nsize %llu\ncompression %s\nentries %zu\n", what->digest, what->diff_id,
             (unsigned long long) what->size, compression_name(what->comp), what->marks.n);
  for (size_t i = 0; i < what->marks.n; i++)
    buf_printf(&b, "%s\n", what->marks.items[i]);
  cache_record_put(c, key, RECORD_HEAD, b.data, b.len);
  buf_free(&b);
  cache_evict(c);
}

void
cache_note_put(struct cache *c, const char *key, const char *data, size_t len)
{
  cache_record_put(c, key, NOTE_HEAD, data, len);
}

int
cache_note_get(struct cache *c, const char *key, struct buf *out)
{
  return cache_record_get(c, key, NOTE_HEAD, NOTE_MAX, out);
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
