/* The layer cache: see cache.h. */
#include "distill/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEY_MAX (64u << 20) /* a key's record: a line per entry */

static int
mkdir_p(const char *path)
{
  if (mkdir(path, 0755) == 0 || errno == EEXIST)
    return 0;
  if (errno != ENOENT)
    return -1;
  cleanup_free char *copy = xstrdup(path);

  for (char *p = copy + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(copy, 0755) < 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  return mkdir(copy, 0755) < 0 && errno != EEXIST ? -1 : 0;
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

int
cache_open(struct cache *c, const char *dir, struct derror *err)
{
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME"), *max = getenv("DISTILL_CACHE_MAX");

  memset(c, 0, sizeof *c);
  if (dir)
    c->dir = xstrdup(dir);
  else if (xdg && xdg[0] == '/')
    c->dir = xasprintf("%s/distill", xdg);
  else if (home && home[0] == '/')
    c->dir = xasprintf("%s/.cache/distill", home);
  else
    return derror_set(err, "no cache: neither $XDG_CACHE_HOME nor $HOME is set");
  c->max = max && *max ? parse_max(max) : CACHE_DEFAULT_MAX;
  cleanup_free char *layers = xasprintf("%s/layers", c->dir);
  cleanup_free char *keys = xasprintf("%s/keys", c->dir);
  if (mkdir_p(layers) < 0 || mkdir_p(keys) < 0) {
    derror_errno(err, errno, "cache `%s`", c->dir);
    cache_close(c);
    return -1;
  }
  return 0;
}

void
cache_close(struct cache *c)
{
  free(c->dir);
  c->dir = NULL;
}

static char *
blob_path(const struct cache *c, const char *diff_id, enum compression comp)
{
  return xasprintf("%s/layers/%s.%s-%d", c->dir, diff_id + 7, compression_name(comp), compression_level(comp));
}

static char *
key_path(const struct cache *c, const char *key)
{
  return xasprintf("%s/keys/%s", c->dir, key + 7);
}

void
cache_hit_free(struct cache_hit *hit)
{
  strv_free(&hit->marks);
}

/* The key's record; anything unexpected is a miss, and the record goes. */
int
cache_lookup(struct cache *c, const char *key, enum compression comp, struct cache_hit *hit)
{
  cleanup_free char *path = key_path(c, key);
  struct buf b = { 0 };
  struct derror err = DERROR_INIT;
  unsigned long long size = 0, entries = 0;
  char comp_name[16];
  int ok = 0;

  memset(hit, 0, sizeof *hit);
  if (access(path, F_OK) < 0) /* the usual miss, without an error's words */
    return -1;
  if (read_file(path, KEY_MAX, &b, &err) < 0) {
    derror_clear(&err);
    return -1;
  }
  buf_append(&b, "", 1);
  char *save = NULL, *line = strtok_r(b.data, "\n", &save);
  ok = line && strcmp(line, "distill-cache 1") == 0;
  ok = ok && (line = strtok_r(NULL, "\n", &save)) && sscanf(line, "digest %71s", hit->digest) == 1;
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
    cleanup_free char *blob = blob_path(c, hit->diff_id, comp);
    struct stat st;
    ok = stat(blob, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t) st.st_size == size;
  }
  if (!ok) {
    unlink(path);
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
  cleanup_free char *path = blob_path(c, hit->diff_id, hit->comp);
  cleanup_close int in = open(path, O_RDONLY | O_CLOEXEC);
  cleanup_free char *bufs = xmalloc(2 * (size_t) COPY_CHUNK);
  struct hasher h = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
  char got[DIGEST_STR_LEN];
  pthread_t t;
  ssize_t n;
  int ret = 0, which = 0;

  if (in < 0)
    return derror_errno(err, errno, "cache: open `%s`", path);
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
      derror_errno(err, errno, "write");
      ret = -2;
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
    unlink(path);
    return derror_set(err, "cache: `%s` is corrupt (%s, %llu bytes; expected %s, %llu bytes): removed", path,
                      got, (unsigned long long) size, hit->digest, (unsigned long long) hit->size);
  }
  futimens(in, NULL); /* recently used */
  return 0;
}

int
cache_begin(struct cache *c, char **tmp)
{
  *tmp = xasprintf("%s/layers/.tmp.XXXXXX", c->dir);
  int fd = mkostemp(*tmp, O_CLOEXEC);

  if (fd < 0) {
    free(*tmp);
    *tmp = NULL;
  }
  return fd;
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

/* Least recently used blobs go until the rest fit under the bound;
 * temporary files left by killed builds go after a day. */
static void
evict(struct cache *c)
{
  cleanup_free char *dir = xasprintf("%s/layers", c->dir);
  DIR *d = opendir(dir);
  struct aged *all = NULL;
  size_t n = 0, cap = 0;
  uint64_t total = 0;
  struct dirent *de;
  time_t now = time(NULL);

  if (d == NULL)
    return;
  while ((de = readdir(d)) != NULL) {
    struct stat st;
    if (de->d_name[0] == '.' && strncmp(de->d_name, ".tmp.", 5) != 0)
      continue;
    if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
      continue;
    if (de->d_name[0] == '.') {
      if (now - st.st_mtime > 86400)
        unlinkat(dirfd(d), de->d_name, 0);
      continue;
    }
    if (n == cap)
      all = xreallocarray(all, cap = cap ? cap * 2 : 64, sizeof *all);
    all[n++] = (struct aged){ xstrdup(de->d_name), st.st_mtim, (uint64_t) st.st_size };
    total += (uint64_t) st.st_size;
  }
  if (total > c->max && n > 0) {
    qsort(all, n, sizeof *all, aged_cmp);
    for (size_t i = 0; i < n && total > c->max; i++)
      if (unlinkat(dirfd(d), all[i].name, 0) == 0)
        total -= all[i].size;
  }
  for (size_t i = 0; i < n; i++)
    free(all[i].name);
  free(all);
  closedir(d);
}

void
cache_put(struct cache *c, int tmp_fd, char *tmp_name, const char *key, const struct cache_hit *what)
{
  cleanup_free char *blob = blob_path(c, what->diff_id, what->comp);
  cleanup_free char *name = tmp_name;
  struct buf b = { 0 };

  /* No fsync: a blob cut short by a crash fails its digest when used, and
   * is rebuilt. Renamed over an existing blob of the same diff_id: the same
   * bytes. */
  if (close(tmp_fd) < 0 || rename(name, blob) < 0) {
    unlink(name);
    return;
  }
  buf_printf(&b, "distill-cache 1\ndigest %s\ndiff_id %s\nsize %llu\ncompression %s\nentries %zu\n", what->digest,
             what->diff_id, (unsigned long long) what->size, compression_name(what->comp), what->marks.n);
  for (size_t i = 0; i < what->marks.n; i++)
    buf_printf(&b, "%s\n", what->marks.items[i]);
  cache_note_put(c, key, b.data, b.len);
  buf_free(&b);
  evict(c);
}

void
cache_note_put(struct cache *c, const char *key, const char *data, size_t len)
{
  cleanup_free char *kpath = key_path(c, key);
  cleanup_free char *tmp = xasprintf("%s/keys/.tmp.XXXXXX", c->dir);
  int fd = mkostemp(tmp, O_CLOEXEC);

  if (fd < 0)
    return;
  bool ok = write_all(fd, data, len) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, kpath) < 0)
    unlink(tmp);
}

int
cache_note_get(struct cache *c, const char *key, struct buf *out)
{
  cleanup_free char *kpath = key_path(c, key);
  struct derror err = DERROR_INIT;

  if (access(kpath, R_OK) < 0)
    return -1;
  if (read_file(kpath, 1u << 24, out, &err) < 0) {
    derror_clear(&err);
    buf_free(out);
    return -1;
  }
  return 0;
}

void
cache_discard(int tmp_fd, char *tmp_name)
{
  if (tmp_fd >= 0)
    close(tmp_fd);
  if (tmp_name)
    unlink(tmp_name);
  free(tmp_name);
}
