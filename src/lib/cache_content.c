/* The layer cache by content: its notes in content/ (the shape of a
 * layer kept, the claims checked), and the check of a blob's claim.  See
 * cache.h. */
#include "lib/cache.h"
#include "lib/cache_store.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/decompress.h"
#include "lib/digest.h"
#include "lib/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A note in content/, as portable as the records there. */
static void
content_note_put(struct cache *c, const char *key, const char *data)
{
  cache_record_put(c->content, key, NOTE_HEAD, data, strlen(data));
}

static bool
content_note_is(struct cache *c, const char *key, const char *data)
{
  struct buf b = { 0 };
  bool is = cache_record_get(c->content, key, NOTE_HEAD, NOTE_MAX, &b) == 0 && b.len == strlen(data)
            && memcmp(b.data, data, b.len) == 0;

  buf_free(&b);
  return is;
}

#define CLAIM_NOTE "checked"

/* The note that says this cache checked that the blob of `digest`
 * decompresses to `diff_id`. */
static void
claim_key(const struct cache_hit *hit, char out[DIGEST_STR_LEN])
{
  cleanup_free char *text = xasprintf("distill claim 1\n%s\n%s\n%s\n", hit->digest, hit->diff_id,
                                      compression_name(hit->comp));
  digest_buffer(text, strlen(text), out);
}

/* The digest of the file's bytes, read from its start. */
static int
hash_file(int fd, char out[DIGEST_STR_LEN], struct derror *err)
{
  cleanup_free char *chunk = xmalloc(COMPRESS_CHUNK);
  struct digest d;
  off_t at = 0;

  digest_init(&d);
  for (;;) {
    ssize_t n = pread(fd, chunk, COMPRESS_CHUNK, at);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      digest_abort(&d);
      return derror_errno(err, errno, "read");
    }
    if (n == 0)
      break;
    digest_update(&d, chunk, (size_t) n);
    at += n;
  }
  digest_final(&d, out);
  return 0;
}

/* The blob's bytes against its digest, then what they decompress to
 * against its diff_id: 0, or -1 with `err`. */
static int
check_blob(int fd, const struct cache_hit *hit, const char *path, struct derror *err)
{
  char got[DIGEST_STR_LEN];
  struct stat st;

  if (fstat(fd, &st) < 0)
    return derror_errno(err, errno, "cache: stat `%s`", path);
  if (!cache_own_file(&st) || (uint64_t) st.st_size != hit->size)
    return derror_set(err, "cache: `%s` is not the regular file of %llu bytes its record says", path,
                      (unsigned long long) hit->size);
  if (hash_file(fd, got, err) < 0)
    return derror_wrap(err, "cache: `%s`", path);
  if (strcmp(got, hit->digest) != 0)
    return derror_set(err, "cache: `%s` is corrupt (%s, expected %s)", path, got, hit->digest);
  if (decompress_digest(fd, hit->size, hit->comp, got, err) < 0)
    return derror_wrap(err, "cache: `%s`", path);
  if (strcmp(got, hit->diff_id) != 0)
    return derror_set(err, "cache: `%s` decompresses to the layer %s, not to %s as its record claims", path, got,
                      hit->diff_id);
  return 0;
}

int
cache_check_claim(struct cache *c, const struct cache_hit *hit, struct derror *err)
{
  char note[DIGEST_STR_LEN];

  claim_key(hit, note);
  if (content_note_is(c, note, CLAIM_NOTE))
    return 0;
  cleanup_free char *name = cache_blob_name(hit->diff_id, hit->comp);
  cleanup_free char *path = xasprintf("%s/layers/%s", c->dir, name);
  cleanup_close int fd = openat(c->layers, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  int r = fd < 0 ? derror_errno(err, errno, "cache: open `%s`", path) : check_blob(fd, hit, path, err);
  if (r < 0) {
    /* said once: neither the blob nor the record that claims it stays */
    unlinkat(c->layers, name, 0);
    if (digest_valid(hit->key))
      unlinkat(hit->by_content ? c->content : c->keys, hit->key + 7, 0);
    cleanup_free char *why = xstrdup(err->msg);
    derror_clear(err);
    return derror_set(err, "%s: removed", why);
  }
  content_note_put(c, note, CLAIM_NOTE);
  return 0;
}

void
cache_put_content(struct cache *c, const char *content_key, const char *shape_key, const struct cache_hit *what,
                  bool checked)
{
  char note[DIGEST_STR_LEN];
  struct cache_hit alias = *what;

  alias.by_content = true;
  cache_alias(c, content_key, &alias);
  content_note_put(c, shape_key, content_key);
  claim_key(what, note);
  if (checked)
    content_note_put(c, note, CLAIM_NOTE);
}

bool
cache_claim_known(struct cache *c, const char *digest, const char *diff_id, enum compression comp)
{
  struct cache_hit what = { .comp = comp };
  char note[DIGEST_STR_LEN];

  snprintf(what.digest, sizeof what.digest, "%s", digest);
  snprintf(what.diff_id, sizeof what.diff_id, "%s", diff_id);
  claim_key(&what, note);
  return content_note_is(c, note, CLAIM_NOTE);
}

bool
cache_knows_shape(struct cache *c, const char *shape_key, char content_key[DIGEST_STR_LEN])
{
  struct buf b = { 0 };
  bool known = cache_record_get(c->content, shape_key, NOTE_HEAD, NOTE_MAX, &b) == 0 && b.len == DIGEST_STR_LEN - 1
               && digest_valid(b.data);

  if (known)
    memcpy(content_key, b.data, DIGEST_STR_LEN);
  buf_free(&b);
  return known;
}

