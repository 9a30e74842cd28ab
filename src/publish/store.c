/* Objects one at a time: see store.h. */
#include "publish/store.h"
#include "publish/ref.h"
#include "lib/alloc.h"

#include "lib/file.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNKED_FROM (64ull << 20) /* larger blobs go in chunks */
#define CHUNK (32ull << 20)

/* What a request sends of `b`: its bytes from `from` on. */
static struct registry_body
body_of(const struct store_object *b, uint64_t from, uint64_t n)
{
  struct registry_body body = { .fd = b->fd, .offset = b->offset + from, .size = n,
                                .content_type = "application/octet-stream" };
  if (b->fd < 0)
    body.data = (const char *) b->data + from;
  return body;
}

/* `location` with `query` appended ('?' or '&'). */
static char *
with_query(const char *location, const char *query)
{
  return xasprintf("%s%c%s", location, strchr(location, '?') ? '&' : '?', query);
}

/* PUT the upload at `location` closed with the blob's digest, after
 * `from` bytes went in chunks (all of them, or none: then the PUT carries
 * the whole blob). */
static int
upload_close(struct registry *r, const struct store_object *b, const char *location, uint64_t from, uint64_t *sent,
             struct derror *err)
{
  cleanup_free char *q = xasprintf("digest=%s", b->digest);
  cleanup_free char *url = with_query(location, q);
  struct registry_body body = body_of(b, from, b->size - from);
  struct registry_response resp = { 0 };
  int ret = registry_request(r, "PUT", url, &body, NULL, &resp, err);

  if (ret == 0 && resp.status != 201)
    ret = registry_error(r, "PUT", "the upload of a blob", &resp, err);
  if (ret == 0)
    *sent += b->size - from;
  registry_response_free(&resp);
  return ret;
}

/* Chunks of CHUNK bytes by PATCH, each to the Location the last gave. */
static int
upload_chunks(struct registry *r, const struct store_object *b, char **location, uint64_t *sent, struct derror *err)
{
  for (uint64_t at = 0; at < b->size; at += CHUNK) {
    uint64_t n = b->size - at < CHUNK ? b->size - at : CHUNK;
    char range[64];
    snprintf(range, sizeof range, "%llu-%llu", (unsigned long long) at, (unsigned long long) (at + n - 1));
    struct registry_body body = body_of(b, at, n);
    body.content_range = range;
    struct registry_response resp = { 0 };
    int ret = registry_request(r, "PATCH", *location, &body, NULL, &resp, err);
    if (ret == 0 && (resp.status != 202 || resp.location == NULL))
      ret = registry_error(r, "PATCH", "a chunk of a blob", &resp, err);
    if (ret == 0) {
      free(*location);
      *location = steal_pointer(&resp.location);
      *sent += n;
    }
    registry_response_free(&resp);
    if (ret < 0)
      return -1;
  }
  return 0;
}

/* A new upload session (or the blob mounted from `from` at once): 1
 * mounted, 0 with `location` to send to, -1. */
static int
upload_start(struct registry *r, const char *repo, const char *from, const struct store_object *b, char **location,
             struct derror *err)
{
  cleanup_free char *path = NULL;
  struct registry_response resp = { 0 };

  if (from) {
    char *escaped = curl_escape(from, 0);
    path = xasprintf("/v2/%s/blobs/uploads/?mount=%s&from=%s", repo, b->digest, escaped);
    curl_free(escaped);
  } else {
    path = xasprintf("/v2/%s/blobs/uploads/", repo);
  }
  struct registry_body none = { .fd = -1 };
  int ret = registry_request(r, "POST", path, &none, NULL, &resp, err);
  if (ret == 0 && resp.status == 201 && from)
    ret = 1;
  else if (ret == 0 && (resp.status != 202 || resp.location == NULL))
    ret = registry_error(r, "POST", path, &resp, err);
  else if (ret == 0)
    *location = steal_pointer(&resp.location);
  registry_response_free(&resp);
  return ret;
}

/* Mounted or uploaded, once more from the start when an upload fails. */
static int
upload(struct registry *r, const char *repo, const char *from, const struct store_object *b, uint64_t *sent,
       int verbose, struct derror *err)
{
  for (int attempt = 1;; attempt++) {
    cleanup_free char *location = NULL;
    int s = upload_start(r, repo, from, b, &location, err);
    if (s == 1)
      return STORE_MOUNTED;
    if (s == 0 && b->size >= CHUNKED_FROM)
      s = upload_chunks(r, b, &location, sent, err);
    if (s == 0)
      s = upload_close(r, b, location, b->size >= CHUNKED_FROM ? b->size : 0, sent, err);
    if (s == 0)
      return STORE_UPLOADED;
    if (attempt == 2)
      return derror_wrap(err, "blob %s", b->digest);
    if (verbose)
      fprintf(stderr, "distill: push: blob %s: %s; the upload starts again\n", b->digest, err->msg);
    derror_clear(err);
  }
}

int
store_has_blob(struct registry *r, const char *repo, const char *digest, struct derror *err)
{
  cleanup_free char *path = xasprintf("/v2/%s/blobs/%s", repo, digest);
  struct registry_response resp = { 0 };
  int ret = registry_request(r, "HEAD", path, NULL, NULL, &resp, err);

  if (ret == 0 && resp.status != 200 && resp.status != 404)
    ret = registry_error(r, "HEAD", path, &resp, err);
  bool there = ret == 0 && resp.status == 200;
  registry_response_free(&resp);
  return ret < 0 ? -1 : there;
}

int
store_blob(struct registry *r, const char *repo, const char *from, const struct store_object *b, uint64_t *sent,
           int verbose, struct derror *err)
{
  int there = store_has_blob(r, repo, b->digest, err);

  if (there < 0)
    return -1;
  return there ? STORE_THERE : upload(r, repo, from, b, sent, verbose, err);
}

int
store_put_manifest(struct registry *r, const char *repo, const char *name, const struct store_object *m,
                   const char *media_type, struct derror *err)
{
  cleanup_free char *path = xasprintf("/v2/%s/manifests/%s", repo, name);
  struct registry_body body = body_of(m, 0, m->size);
  body.content_type = media_type;
  struct registry_response resp = { 0 };
  int ret = registry_request(r, "PUT", path, &body, NULL, &resp, err);

  if (ret == 0 && resp.status != 201)
    ret = registry_error(r, "PUT", path, &resp, err);
  else if (ret == 0 && resp.digest && strcmp(resp.digest, m->digest) != 0)
    ret = derror_set(err, "registry %s: PUT %s: it took the manifest as %s, not %s", registry_host(r), path,
                     resp.digest, m->digest);
  registry_response_free(&resp);
  return ret;
}

/* The body of a 200 to GET `path`, whole: not cut at REGISTRY_BODY_MAX
 * or `max`.  1, 0 on 404, -1. */
static int
get_whole(struct registry *r, const char *path, const char *accept, size_t max, struct registry_response *resp,
          struct derror *err)
{
  if (registry_request(r, "GET", path, NULL, accept, resp, err) < 0)
    return -1;
  if (resp->status == 404)
    return 0;
  if (resp->status != 200)
    return registry_error(r, "GET", path, resp, err);
  if (resp->body.len >= max || (resp->length && resp->length != resp->body.len))
    return derror_set(err, "registry %s: GET %s: %llu bytes, more than the %zu this takes", registry_host(r), path,
                      (unsigned long long) (resp->length > resp->body.len ? resp->length : resp->body.len), max);
  return 1;
}

int
store_get_manifest(struct registry *r, const char *repo, const char *name, const char *accept, struct buf *out,
                   char digest[DIGEST_STR_LEN], char **media_type, struct derror *err)
{
  cleanup_free char *path = xasprintf("/v2/%s/manifests/%s", repo, name);
  struct registry_response resp = { 0 };
  int ret = get_whole(r, path, accept, REGISTRY_BODY_MAX, &resp, err);

  if (ret == 1) {
    digest_buffer(resp.body.data, resp.body.len, digest);
    if (resp.digest && strcmp(resp.digest, digest) != 0)
      ret = derror_set(err, "registry %s: GET %s: the registry says %s, the bytes it sent are %s", registry_host(r),
                       path, resp.digest, digest);
    else if (strncmp(name, "sha256:", 7) == 0 && strcmp(name, digest) != 0)
      ret = derror_set(err, "registry %s: GET %s: the bytes it sent are %s", registry_host(r), path, digest);
  }
  if (ret == 1) {
    *out = resp.body;
    memset(&resp.body, 0, sizeof resp.body);
    if (media_type)
      *media_type = steal_pointer(&resp.content_type);
  }
  registry_response_free(&resp);
  return ret;
}

int
store_get_blob(struct registry *r, const char *repo, const char *digest, size_t max, struct buf *out,
               struct derror *err)
{
  cleanup_free char *path = xasprintf("/v2/%s/blobs/%s", repo, digest);
  struct registry_response resp = { 0 };
  char got[DIGEST_STR_LEN];
  int ret = get_whole(r, path, NULL, max, &resp, err);

  if (ret == 0)
    ret = derror_set(err, "registry %s: GET %s: 404: the registry has no such blob", registry_host(r), path);
  if (ret == 1) {
    digest_buffer(resp.body.data, resp.body.len, got);
    if (strcmp(got, digest) != 0)
      ret = derror_set(err, "registry %s: GET %s: the bytes it sent are %s", registry_host(r), path, got);
  }
  if (ret == 1) {
    *out = resp.body;
    memset(&resp.body, 0, sizeof resp.body);
    ret = 0;
  }
  registry_response_free(&resp);
  return ret;
}

/* A blob streamed into a file as it comes: counted against its size and
 * hashed. */
struct blob_sink {
  int fd;
  off_t start;
  uint64_t want, got;
  struct digest d;
  bool over;  /* more bytes than the descriptor's size */
  int errnum; /* a write failed */
};

static int
sink_write(void *data, const void *bytes, size_t n)
{
  struct blob_sink *s = data;

  if (n > s->want - s->got) {
    s->over = true;
    return -1;
  }
  if (write_all(s->fd, bytes, n) < 0) {
    s->errnum = errno;
    return -1;
  }
  digest_update(&s->d, bytes, n);
  s->got += n;
  return 0;
}

static void
sink_reset(void *data)
{
  struct blob_sink *s = data;

  digest_abort(&s->d);
  digest_init(&s->d);
  s->got = 0;
  s->over = false;
  /* only when there is something to cut: ext4 takes a cut to size 0 as
   * a file being replaced, and writes all its pages out when it is
   * closed, a stall of a tenth of a second after a layer of 80 MB */
  struct stat st;
  if (fstat(s->fd, &st) < 0)
    s->errnum = errno;
  else if (st.st_size > s->start && (ftruncate(s->fd, s->start) < 0 || lseek(s->fd, s->start, SEEK_SET) < 0))
    s->errnum = errno;
}

/* Why a download is not the blob, or 0. */
static int
blob_verdict(struct registry *r, struct blob_sink *s, const char *digest, struct derror *err)
{
  char got[DIGEST_STR_LEN];

  if (s->errnum)
    return derror_errno(err, s->errnum, "write blob %s", digest);
  if (s->over)
    return derror_set(err, "registry %s: blob %s: it sent more than the %" PRIu64 " bytes its descriptor gives",
                      registry_host(r), digest, s->want);
  if (s->got != s->want)
    return derror_set(err, "registry %s: blob %s: it sent %" PRIu64 " bytes, its descriptor gives %" PRIu64,
                      registry_host(r), digest, s->got, s->want);
  digest_final(&s->d, got);
  digest_init(&s->d);
  if (strcmp(got, digest) != 0)
    return derror_set(err, "registry %s: blob %s: the bytes served hash to %s (digest mismatch)", registry_host(r),
                      digest, got);
  return 0;
}

int
store_get_blob_to(struct registry *r, const char *repo, const char *digest, uint64_t size, int fd,
                  struct derror *err)
{
  struct blob_sink s = { .fd = fd, .want = size };
  struct registry_sink sink = { sink_write, sink_reset, &s };
  struct registry_body body = { .fd = -1, .sink = &sink };
  struct registry_response resp = { 0 };
  cleanup_free char *target = xasprintf("/v2/%s/blobs/%s", repo, digest);

  s.start = lseek(fd, 0, SEEK_CUR);
  if (s.start < 0)
    return derror_errno(err, errno, "write blob %s", digest);
  digest_init(&s.d);
  int ret = registry_request(r, "GET", target, &body, NULL, &resp, err);
  if (s.over || s.errnum) {
    derror_clear(err);
    ret = blob_verdict(r, &s, digest, err);
  } else if (ret == 0 && resp.status != 200) {
    ret = registry_error(r, "GET", target, &resp, err);
  } else if (ret == 0) {
    ret = blob_verdict(r, &s, digest, err);
  }
  digest_abort(&s.d);
  registry_response_free(&resp);
  return ret;
}

#define ACCEPT_IMAGE MT_OCI_MANIFEST ", " MT_OCI_INDEX ", " MT_DOCKER_MANIFEST ", " MT_DOCKER_LIST

int
store_resolve(struct registry *r, const struct image_ref *ref, char digest[DIGEST_STR_LEN], struct derror *err)
{
  const char *name = ref->tag ? ref->tag : ref->digest;
  struct buf body = { 0 };
  int found = store_get_manifest(r, ref->repo, name, ACCEPT_IMAGE, &body, digest, NULL, err);

  buf_free(&body);
  if (found == 0) {
    cleanup_free char *n = image_ref_name(ref);
    return derror_set(err, "registry %s: %s%c%s: no such image (404)", registry_host(r), n, ref->tag ? ':' : '@',
                      name);
  }
  return found < 0 ? -1 : 0;
}
