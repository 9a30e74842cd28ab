/* The layer cache: see cache.h.  Its files, how they are named, written,
 * trusted and evicted, are cache_store.c's. */
#include "lib/cache.h"
#include "lib/cache_store.h"
#include "lib/alloc.h"
#include "lib/compress.h"
#include "lib/copy.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "lib/file.h"
#include "lib/tmpguard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEY_MAX (64u << 20) /* a key's record: a line per entry */

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
  c->fd = c->layers = c->keys = c->content = -1;
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
  cleanup_free char *content = xasprintf("%s/content", c->dir);
  int r = mkdir_p(c->dir) < 0 ? derror_errno(err, errno, "cache `%s`", c->dir) : 0;
  if (r == 0)
    r = open_dir(AT_FDCWD, c->dir, c->dir, false, &c->fd, err);
  if (r == 0)
    r = open_dir(c->fd, "layers", layers, true, &c->layers, err);
  if (r == 0)
    r = open_dir(c->fd, "keys", keys, true, &c->keys, err);
  if (r == 0)
    r = open_dir(c->fd, "content", content, true, &c->content, err);
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
  if (c->content >= 0)
    close(c->content);
  c->fd = c->layers = c->keys = c->content = -1;
  free(c->dir);
  free(c->spare_slot);
  c->dir = c->spare_slot = NULL;
}

void
cache_hit_free(struct cache_hit *hit)
{
  strv_free(&hit->marks);
}

#define RECORD_HEAD "distill-cache 4"

/* "seen DEV INO MTIME CTIME" (as struct cache_seen, the size is the
 * record's), or "seen -" when the blob's file was not looked at. */
static bool
parse_seen(const char *line, struct cache_hit *hit)
{
  struct cache_seen *s = &hit->seen;
  unsigned long long dev, ino;
  long long msec, csec;
  int end = 0;

  if (strcmp(line, "seen -") == 0)
    return true;
  if (sscanf(line, "seen %llu %llu %lld.%ld %lld.%ld%n", &dev, &ino, &msec, &s->mtime_nsec, &csec, &s->ctime_nsec,
             &end) != 6 || line[end] != '\0')
    return false;
  s->dev = dev;
  s->ino = ino;
  s->mtime_sec = msec;
  s->ctime_sec = csec;
  hit->has_seen = true;
  return true;
}

static void
seen_of(const struct stat *st, struct cache_seen *s)
{
  *s = (struct cache_seen){
    .dev = (uint64_t) st->st_dev, .ino = (uint64_t) st->st_ino, .size = (uint64_t) st->st_size,
    .mtime_sec = (int64_t) st->st_mtim.tv_sec, .mtime_nsec = st->st_mtim.tv_nsec,
    .ctime_sec = (int64_t) st->st_ctim.tv_sec, .ctime_nsec = st->st_ctim.tv_nsec,
  };
}

static bool
seen_same(const struct cache_seen *a, const struct cache_seen *b)
{
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_sec == b->mtime_sec
         && a->mtime_nsec == b->mtime_nsec && a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}

/* A key's record, in `dir`: what its layer was, and the blob's file as
 * last seen (NULL: not looked at). */
static void
record_put(int dir, const char *key, const struct cache_hit *what, const struct cache_seen *seen)
{
  struct buf b = { 0 };

  buf_printf(&b, "digest %s\ndiff_id %s\nsize %llu\ncompression %s\n", what->digest, what->diff_id,
             (unsigned long long) what->size, compression_name(what->comp));
  if (seen)
    buf_printf(&b, "seen %llu %llu %lld.%09ld %lld.%09ld\n", (unsigned long long) seen->dev,
               (unsigned long long) seen->ino, (long long) seen->mtime_sec, seen->mtime_nsec,
               (long long) seen->ctime_sec, seen->ctime_nsec);
  else
    buf_printf(&b, "seen -\n");
  buf_printf(&b, "entries %zu\n", what->marks.n);
  for (size_t i = 0; i < what->marks.n; i++)
    buf_printf(&b, "%s\n", what->marks.items[i]);
  cache_record_put(dir, key, RECORD_HEAD, b.data, b.len);
  buf_free(&b);
}

/* Where a hit's record is. */
static int
record_dir(const struct cache *c, const struct cache_hit *hit)
{
  return hit->by_content ? c->content : c->keys;
}

/* The key's record in keys/ or content/; anything unexpected is a miss,
 * and the record goes. */
static int
lookup(struct cache *c, const char *key, bool by_content, bool need_blob, enum compression comp,
       struct cache_hit *hit)
{
  struct buf b = { 0 };
  unsigned long long size = 0, entries = 0;
  char comp_name[16];
  int ok = 0;

  memset(hit, 0, sizeof *hit);
  snprintf(hit->key, sizeof hit->key, "%s", key);
  hit->by_content = by_content;
  int dir = record_dir(c, hit);
  if (cache_record_get(dir, key, RECORD_HEAD, KEY_MAX, &b) < 0) {
    if (errno != ENOENT && digest_valid(key))
      unlinkat(dir, key + 7, 0);
    return -1;
  }
  char *save = NULL, *line = strtok_r(b.data, "\n", &save);
  ok = line && sscanf(line, "digest %71s", hit->digest) == 1;
  ok = ok && (line = strtok_r(NULL, "\n", &save)) && sscanf(line, "diff_id %71s", hit->diff_id) == 1;
  ok = ok && (line = strtok_r(NULL, "\n", &save)) && sscanf(line, "size %llu", &size) == 1;
  ok = ok && (line = strtok_r(NULL, "\n", &save)) && sscanf(line, "compression %15s", comp_name) == 1;
  ok = ok && (line = strtok_r(NULL, "\n", &save)) && parse_seen(line, hit);
  ok = ok && (line = strtok_r(NULL, "\n", &save)) && sscanf(line, "entries %llu", &entries) == 1;
  ok = ok && digest_valid(hit->digest) && digest_valid(hit->diff_id) && strcmp(comp_name, compression_name(comp)) == 0;
  for (unsigned long long i = 0; ok && i < entries; i++) {
    ok = (line = strtok_r(NULL, "\n", &save)) != NULL;
    if (ok)
      strv_push(&hit->marks, line);
  }
  buf_free(&b);
  hit->size = size;
  hit->seen.size = size; /* the record says it once */
  hit->comp = comp;
  if (!ok) {
    unlinkat(dir, key + 7, 0);
    cache_hit_free(hit);
    return -1;
  }
  cleanup_free char *blob = cache_blob_name(hit->diff_id, comp);
  struct stat st;
  if (need_blob && !(fstatat(c->layers, blob, &st, AT_SYMLINK_NOFOLLOW) == 0 && cache_own_file(&st)
                     && (uint64_t) st.st_size == size)) {
    /* a record without its blob: stale here; in content/, what a CI cache
     * restored without the blobs, which a registry's cache may bring */
    if (!by_content)
      unlinkat(dir, key + 7, 0);
    cache_hit_free(hit);
    return -1;
  }
  return 0;
}

int
cache_lookup(struct cache *c, const char *key, enum compression comp, struct cache_hit *hit)
{
  return lookup(c, key, false, true, comp, hit);
}

int
cache_lookup_content(struct cache *c, const char *key, enum compression comp, struct cache_hit *hit)
{
  return lookup(c, key, true, true, comp, hit);
}

int
cache_content_record(struct cache *c, const char *key, enum compression comp, struct cache_hit *hit)
{
  return lookup(c, key, true, false, comp, hit);
}

/* A blob's mtime says when it was last used, to the hour: one used again
 * within the hour keeps its file as its record saw it. */
#define USED_AGAIN 3600

int
cache_copy(struct cache *c, const struct cache_hit *hit, int fd, bool durable, struct derror *err)
{
  cleanup_free char *name = cache_blob_name(hit->diff_id, hit->comp);
  cleanup_free char *path = xasprintf("%s/layers/%s", c->dir, name);
  cleanup_close int in = openat(c->layers, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  struct cache_seen seen;
  struct digest d = { 0 };
  char got[DIGEST_STR_LEN];
  struct stat st;
  int r = 1;

  if (in < 0)
    return derror_errno(err, errno, "cache: open `%s`", path);
  /* looked at by cache_lookup, but it may have been replaced since */
  if (fstat(in, &st) < 0)
    return derror_errno(err, errno, "cache: stat `%s`", path);
  if (!cache_own_file(&st))
    return derror_set(err, "cache: `%s` is not a regular file of uid %u that only it can write: not used", path,
                      (unsigned) geteuid());
  seen_of(&st, &seen);
  bool trusted = hit->has_seen && seen_same(&hit->seen, &seen) && seen.size == hit->size;
  off_t at = lseek(fd, 0, SEEK_CUR), base = durable ? at : -1;
  /* its blocks taken at once: the copy then writes into them (a fifth
   * faster on ext4 than reserving block by block); where the file system
   * cannot, the copy goes on without */
  if (trusted && at >= 0)
    (void) fallocate(fd, FALLOC_FL_KEEP_SIZE, at, (off_t) hit->size);
  if (trusted)
    r = copy_kernel(in, fd, hit->size, base, err);
  if (r == 1)
    r = copy_buffered(in, fd, base, trusted ? NULL : &d, err);
  if (r < 0) {
    if (!derror_is(err, DERROR_OUTPUT))
      derror_wrap(err, "cache: `%s`", path);
    return -1;
  }
  /* trusted, nothing read here: what was copied must still be its size */
  off_t end = lseek(fd, 0, SEEK_CUR);
  if (trusted && at >= 0 && end >= 0 && (uint64_t) (end - at) != hit->size)
    return derror_set(err, "cache: `%s` changed while it was copied (%llu bytes, expected %llu)", path,
                      (unsigned long long) (end - at), (unsigned long long) hit->size);
  if (!trusted) {
    uint64_t size = d.size;
    digest_final(&d, got);
    if (size != hit->size || strcmp(got, hit->digest) != 0) {
      unlinkat(c->layers, name, 0);
      return derror_set(err, "cache: `%s` is corrupt (%s, %llu bytes; expected %s, %llu bytes): removed", path,
                        got, (unsigned long long) size, hit->digest, (unsigned long long) hit->size);
    }
  }
  bool touched = time(NULL) - st.st_mtime >= USED_AGAIN && futimens(in, NULL) == 0 && fstat(in, &st) == 0;
  if (!trusted || touched) {
    seen_of(&st, &seen);
    record_put(record_dir(c, hit), hit->key, hit, &seen);
  }
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
  struct cache_seen seen;
  struct stat st;

  /* No fsync: a blob cut short by a crash has another size than its record
   * says, or fails its digest when used, and is rebuilt.  Renamed over an
   * existing blob of the same diff_id: the same bytes.  The file as it is
   * now holds the bytes just hashed: its record says so. */
  if (cache_tmp_keep(c->layers, tmp_fd, name, blob) < 0)
    return;
  bool looked = fstatat(c->layers, blob, &st, AT_SYMLINK_NOFOLLOW) == 0 && cache_own_file(&st)
                && (uint64_t) st.st_size == what->size;
  if (looked)
    seen_of(&st, &seen);
  record_put(c->keys, key, what, looked ? &seen : NULL);
  cache_evict(c);
}

void
cache_note_put(struct cache *c, const char *key, const char *data, size_t len)
{
  cache_record_put(c->keys, key, NOTE_HEAD, data, len);
}

int
cache_note_get(struct cache *c, const char *key, struct buf *out)
{
  return cache_record_get(c->keys, key, NOTE_HEAD, NOTE_MAX, out);
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

/* ---- by content (the rest is cache_content.c's) ----------------------- */

void
cache_alias(struct cache *c, const char *key, const struct cache_hit *what)
{
  cleanup_free char *blob = cache_blob_name(what->diff_id, what->comp);
  struct cache_seen seen;
  struct stat st;
  bool looked = fstatat(c->layers, blob, &st, AT_SYMLINK_NOFOLLOW) == 0 && cache_own_file(&st)
                && (uint64_t) st.st_size == what->size;

  if (looked)
    seen_of(&st, &seen);
  /* seen only when the record it comes from saw the file so: else
   * its digest is checked at the next use */
  record_put(record_dir(c, what), key, what, looked && what->has_seen && seen_same(&what->seen, &seen) ? &seen : NULL);
}
