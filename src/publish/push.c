/* Push: see push.h. */
#include "publish/push.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "publish/attached.h"
#include "publish/attest.h"
#include "publish/cosign.h"
#include "publish/layout.h"
#include "publish/store.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define DOC_MAX (4u << 20) /* a manifest or an index */
/* Blobs go on PUSH_JOBS connections at once, each a sender: the
 * registry's own work on one (hashing, writing) overlaps the others'. */
#define PUSH_JOBS 4

struct pusher {
  struct registry *r;
  struct layout l;
  const struct image_ref *ref;
  const struct registry_options *o;
  struct push_report *rep;
  struct strv blobs;     /* digests to push, each once, in order */
  struct strv manifests; /* digests of an index's manifests */
  struct strv types;     /* and their media types */
  pthread_mutex_t lock;  /* over the two below */
  size_t next;           /* the next blob a sender takes */
  bool failed;           /* a sender failed: the others stop */
};

struct sender {
  struct pusher *p;
  struct registry *r;
  struct push_report rep; /* its counts */
  struct derror err;
  pthread_t thread;
};

static bool
is_index(const char *mt)
{
  return mt && (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0);
}

static bool
is_manifest(const char *mt)
{
  return mt && (strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_MANIFEST) == 0);
}

static void
want_blob(struct pusher *p, const char *digest)
{
  if (!strv_contains(&p->blobs, digest))
    strv_push(&p->blobs, digest);
}

/* A descriptor's digest, when it names a blob the archive has, of the
 * size it says. */
static const char *
described(struct pusher *p, json_t *d, const char *what, struct derror *err)
{
  const char *digest = json_string_value(json_object_get(d, "digest"));
  json_t *size = json_object_get(d, "size");
  const struct layout_blob *b = digest ? layout_blob(&p->l, digest) : NULL;

  if (digest == NULL || !json_is_integer(size)) {
    derror_set(err, "`%s`: %s: a descriptor without a digest or a size", p->l.path, what);
    return NULL;
  }
  if (b == NULL) {
    derror_set(err, "`%s`: %s names %s, which the archive does not have", p->l.path, what, digest);
    return NULL;
  }
  if ((json_int_t) b->size != json_integer_value(size)) {
    derror_set(err, "`%s`: %s says %s has %lld bytes; the archive's has %llu", p->l.path, what, digest,
               (long long) json_integer_value(size), (unsigned long long) b->size);
    return NULL;
  }
  return digest;
}

/* A manifest or an index of the archive, read and parsed. */
static json_t *
read_document(struct pusher *p, const char *digest, struct derror *err)
{
  struct buf text = { 0 };
  json_error_t jerr;
  json_t *j = NULL;

  if (layout_read(&p->l, layout_blob(&p->l, digest), DOC_MAX, &text, err) == 0) {
    j = json_loadb(text.data, text.len, 0, &jerr);
    if (!json_is_object(j))
      derror_set(err, "`%s`: %s, line %d: %s", p->l.path, digest, jerr.line, j ? "not a JSON object" : jerr.text);
  }
  buf_free(&text);
  if (err->msg) {
    json_decref(j);
    return NULL;
  }
  return j;
}

/* A manifest's config and layers, to push before it. */
static int
plan_manifest(struct pusher *p, const char *digest, struct derror *err)
{
  cleanup_json json_t *m = read_document(p, digest, err);

  if (m == NULL)
    return -1;
  json_t *layers = json_object_get(m, "layers");
  const char *config = described(p, json_object_get(m, "config"), "the manifest's config", err);
  if (config == NULL)
    return derror_wrap(err, "manifest %s", digest);
  want_blob(p, config);
  if (!json_is_array(layers))
    return derror_set(err, "`%s`: manifest %s has no layers", p->l.path, digest);
  for (size_t i = 0; i < json_array_size(layers); i++) {
    const char *layer = described(p, json_array_get(layers, i), "a layer", err);
    if (layer == NULL)
      return derror_wrap(err, "manifest %s", digest);
    want_blob(p, layer);
  }
  return 0;
}

/* What index.json names: one manifest, or one index of manifests (and
 * what is attached to it: attached_push's). */
static int
plan_push(struct pusher *p, json_t **top, struct derror *err)
{
  if ((*top = attached_archive_image(&p->l, err)) == NULL)
    return -1;
  const char *mt = json_string_value(json_object_get(*top, "mediaType"));
  const char *digest = described(p, *top, "index.json", err);
  if (digest == NULL)
    return -1;
  if (is_manifest(mt))
    return plan_manifest(p, digest, err);
  if (!is_index(mt))
    return derror_set(err, "`%s`: index.json names a %s, neither a manifest nor an index", p->l.path,
                      mt ? mt : "descriptor without a mediaType");
  cleanup_json json_t *index = read_document(p, digest, err);
  if (index == NULL)
    return -1;
  json_t *children = json_object_get(index, "manifests");
  for (size_t i = 0; i < json_array_size(children); i++) {
    json_t *d = json_array_get(children, i);
    const char *child = described(p, d, "the index", err);
    if (child == NULL)
      return -1;
    if (!is_manifest(json_string_value(json_object_get(d, "mediaType"))))
      return derror_set(err, "`%s`: the index names %s, which is no image manifest", p->l.path, child);
    if (plan_manifest(p, child, err) < 0)
      return -1;
    strv_push(&p->manifests, child);
    strv_push(&p->types, json_string_value(json_object_get(d, "mediaType")));
  }
  return 0;
}

/* The blob on the registry: there already, mounted, or uploaded. */
static int
push_blob(struct sender *s, const struct layout_blob *b)
{
  static const char *const how[] = { [STORE_THERE] = "already there", [STORE_MOUNTED] = "mounted",
                                     [STORE_UPLOADED] = "uploaded" };
  const struct pusher *p = s->p;
  struct store_object o = { .digest = b->digest, .fd = p->l.fd, .offset = b->offset, .size = b->size };
  int r = store_blob(s->r, p->ref->repo, p->o->from, &o, &s->rep.bytes_sent, p->o->verbose, &s->err);

  if (r < 0)
    return -1;
  s->rep.mounted += r == STORE_MOUNTED;
  s->rep.uploaded += r == STORE_UPLOADED;
  if (p->o->verbose)
    fprintf(stderr, "blob %s %llu bytes: %s\n", b->digest, (unsigned long long) b->size, how[r]);
  return 0;
}

/* A sender's loop: the next blob, until none is left or one failed. */
static void *
send_blobs(void *data)
{
  struct sender *s = data;
  struct pusher *p = s->p;

  for (;;) {
    pthread_mutex_lock(&p->lock);
    size_t i = p->failed ? p->blobs.n : p->next++;
    pthread_mutex_unlock(&p->lock);
    if (i >= p->blobs.n)
      return NULL;
    if (push_blob(s, layout_blob(&p->l, p->blobs.items[i])) < 0) {
      pthread_mutex_lock(&p->lock);
      p->failed = true;
      pthread_mutex_unlock(&p->lock);
      return NULL;
    }
  }
}

/* A sender's counts into the report, its error into `err` when that has
 * none yet. */
static void
sender_done(struct sender *s, struct push_report *rep, struct derror *err)
{
  rep->uploaded += s->rep.uploaded;
  rep->mounted += s->rep.mounted;
  rep->bytes_sent += s->rep.bytes_sent;
  if (s->err.msg && err->msg == NULL)
    *err = s->err;
  else
    derror_clear(&s->err);
}

/* Every blob onto the registry, on up to PUSH_JOBS connections (the
 * first the session's own); the counts summed, the first error kept. */
static int
send_all(struct pusher *p, struct derror *err)
{
  struct sender s[PUSH_JOBS];
  size_t n = 0;

  memset(s, 0, sizeof s);
  for (size_t i = 0; i < PUSH_JOBS && i < p->blobs.n; i++) {
    s[n].p = p;
    s[n].r = i == 0 ? p->r : registry_clone(p->r);
    if (s[n].r == NULL)
      break;
    if (pthread_create(&s[n].thread, NULL, send_blobs, &s[n]) != 0) {
      if (i > 0)
        registry_close(s[n].r);
      break;
    }
    n++;
  }
  if (n == 0 && p->blobs.n > 0) { /* no thread at all: on this one */
    struct sender one = { .p = p, .r = p->r };
    send_blobs(&one);
    sender_done(&one, p->rep, err);
  }
  for (size_t i = 0; i < n; i++) {
    pthread_join(s[i].thread, NULL);
    sender_done(&s[i], p->rep, err);
    if (i > 0)
      registry_close(s[i].r);
  }
  return err->msg || p->failed ? -1 : 0;
}

/* A manifest or index under `name` (a tag or its digest), with its media
 * type. */
static int
put_manifest(struct pusher *p, const char *digest, const char *media_type, const char *name, struct derror *err)
{
  const struct layout_blob *b = layout_blob(&p->l, digest);
  struct store_object o = { .digest = digest, .fd = p->l.fd, .offset = b->offset, .size = b->size };

  if (store_put_manifest(p->r, p->ref->repo, name, &o, media_type, err) < 0)
    return -1;
  p->rep->bytes_sent += b->size;
  return 0;
}

int
push_archive(const char *archive, const struct image_ref *ref, const struct registry_options *o,
             bool image_only, struct push_report *rep, struct derror *err)
{
  struct pusher p = { .ref = ref, .o = o, .rep = rep, .lock = PTHREAD_MUTEX_INITIALIZER };
  json_t *top = NULL;
  int ret;

  memset(rep, 0, sizeof *rep);
  if (layout_open(archive, &p.l, err) < 0)
    return -1;
  ret = plan_push(&p, &top, err);
  const char *digest = ret == 0 ? json_string_value(json_object_get(top, "digest")) : NULL;
  const char *mt = ret == 0 ? json_string_value(json_object_get(top, "mediaType")) : NULL;
  if (ret == 0 && ref->digest && strcmp(ref->digest, digest) != 0)
    ret = derror_set(err, "`%s` holds %s, not the %s that the reference names", archive, digest, ref->digest);
  if (ret == 0 && !image_only)
    ret = cosign_check_archive(&p.l, digest, ref, &rep->attached, err);
  if (ret == 0 && (p.r = registry_open(ref, o, err)) == NULL)
    ret = -1;
  if (ret == 0)
    ret = send_all(&p, err);
  for (size_t i = 0; ret == 0 && i < p.manifests.n; i++)
    ret = put_manifest(&p, p.manifests.items[i], p.types.items[i], p.manifests.items[i], err);
  if (ret == 0)
    ret = put_manifest(&p, digest, mt, ref->tag ? ref->tag : ref->digest, err);
  if (ret == 0 && rep->attached)
    ret = cosign_push_archive(p.r, ref, &p.l, digest, &rep->bytes_sent, err) < 0
            || attest_push_archive(p.r, ref, &p.l, digest, &rep->bytes_sent, err) < 0 ? -1 : 0;
  if (ret == 0) {
    snprintf(rep->digest, sizeof rep->digest, "%s", digest);
    rep->blobs = p.blobs.n;
  }
  registry_close(p.r);
  layout_close(&p.l);
  strv_free(&p.blobs);
  strv_free(&p.manifests);
  strv_free(&p.types);
  return ret;
}
