/* A layer cache kept in a registry: see remote_cache.h. */
#include "publish/remote_cache.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "publish/layout.h"
#include "publish/ref.h"
#include "publish/store.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define CONFIG_MAX (4u << 20)
#define ACCEPT_CACHE MT_OCI_MANIFEST

/* One --cache-from: its session and its entries. */
struct source {
  struct image_ref ref;
  struct registry *r;
  struct remote_entry *entries;
  size_t n;
  bool used;
};

struct remote_cache {
  struct source *src;
  size_t n;
};

void
remote_entry_free(struct remote_entry *e)
{
  free(e->media_type);
  e->media_type = NULL;
}

static const char *
str(json_t *j, const char *key)
{
  return json_string_value(json_object_get(j, key));
}

/* `out` from the text of `s`: a sha256 digest, or false. */
static bool
take_digest(json_t *j, const char *key, char out[DIGEST_STR_LEN])
{
  const char *s = str(j, key);

  if (!digest_valid(s))
    return false;
  memcpy(out, s, DIGEST_STR_LEN);
  return true;
}

int
remote_cache_parse(const struct buf *text, const char *where, struct remote_entry **out, size_t *n,
                   struct derror *err)
{
  json_error_t jerr;
  cleanup_json json_t *j = json_loadb(text->data, text->len, JSON_REJECT_DUPLICATES, &jerr);
  json_t *list = json_object_get(j, "entries"), *e;
  size_t i;

  *out = NULL;
  *n = 0;
  if (!json_is_array(list) || json_integer_value(json_object_get(j, "distill-cache")) != 1)
    return derror_set(err, "%s: its config is not a distill cache (version 1)%s%s", where, j ? "" : ": ",
                      j ? "" : jerr.text);
  if (json_array_size(list) > REMOTE_CACHE_MAX * 4)
    return derror_set(err, "%s: %zu entries, more than a cache keeps", where, json_array_size(list));
  *out = xcalloc(json_array_size(list) + 1, sizeof **out);
  json_array_foreach (list, i, e) {
    struct remote_entry *x = &(*out)[*n];
    json_t *size = json_object_get(e, "size");
    if (!take_digest(e, "content", x->content_key) || !take_digest(e, "shape", x->shape_key)
        || !take_digest(e, "diff_id", x->diff_id) || !take_digest(e, "digest", x->digest) || !json_is_integer(size)
        || json_integer_value(size) < 0 || !str(e, "mediaType"))
      continue; /* an entry that cannot be used is no entry */
    x->size = (uint64_t) json_integer_value(size);
    x->media_type = xstrdup(str(e, "mediaType"));
    (*n)++;
  }
  return 0;
}

/* The manifest under the tag and its config: 1, 0 when the tag is not
 * there, -1. */
static int
read_cache(struct registry *r, const struct image_ref *ref, struct remote_entry **out, size_t *n, struct derror *err)
{
  struct buf body = { 0 }, config = { 0 };
  char digest[DIGEST_STR_LEN];
  cleanup_free char *name = image_ref_name(ref);
  cleanup_free char *where = xasprintf("%s:%s", name, ref->tag ? ref->tag : ref->digest);
  int found = store_get_manifest(r, ref->repo, ref->tag ? ref->tag : ref->digest, ACCEPT_CACHE, &body, digest,
                                 NULL, err);

  if (found == 1) {
    cleanup_json json_t *m = json_loadb(body.data, body.len, JSON_REJECT_DUPLICATES, NULL);
    json_t *c = json_object_get(m, "config");
    const char *mt = str(c, "mediaType"), *cd = str(c, "digest");
    if (mt == NULL || strcmp(mt, REMOTE_CACHE_CONFIG) != 0 || !digest_valid(cd))
      found = derror_code(err, DERROR_USAGE, "%s is not a distill cache (its config is %s)", where,
                          mt ? mt : "missing");
    else if (store_get_blob(r, ref->repo, cd, CONFIG_MAX, &config, err) < 0)
      found = -1;
    else if (remote_cache_parse(&config, where, out, n, err) < 0)
      found = -1;
  }
  buf_free(&body);
  buf_free(&config);
  return found;
}

int
remote_cache_open(char *const *refs, size_t n, const struct registry_options *o, struct strv *warnings,
                  struct remote_cache **out, struct derror *err)
{
  struct registry_options ro = *o;
  struct remote_cache *rc = xcalloc(1, sizeof *rc);

  ro.pull_only = true;
  rc->src = xcalloc(n ? n : 1, sizeof *rc->src);
  for (size_t i = 0; i < n; i++) {
    struct source *s = &rc->src[rc->n++];
    if (image_ref_parse(refs[i], &s->ref, err) == 0 && (s->r = registry_open(&s->ref, &ro, err)) != NULL
        && read_cache(s->r, &s->ref, &s->entries, &s->n, err) >= 0)
      continue;
    if (derror_is(err, DERROR_USAGE)) { /* not a cache: the reference is wrong */
      remote_cache_close(rc);
      return derror_wrap(err, "--cache-from %s", refs[i]);
    }
    /* a registry that cannot be asked now: a cache the build goes without */
    strv_push_take(warnings, xasprintf("--cache-from %s: %s: building without it", refs[i], err->msg));
    derror_clear(err);
    rc->n--;
    registry_close(s->r);
    image_ref_free(&s->ref);
    memset(s, 0, sizeof *s);
  }
  *out = rc;
  return 0;
}

void
remote_cache_close(struct remote_cache *rc)
{
  if (rc == NULL)
    return;
  for (size_t i = 0; i < rc->n; i++) {
    for (size_t k = 0; k < rc->src[i].n; k++)
      remote_entry_free(&rc->src[i].entries[k]);
    free(rc->src[i].entries);
    registry_close(rc->src[i].r);
    image_ref_free(&rc->src[i].ref);
  }
  free(rc->src);
  free(rc);
}

bool
remote_cache_knows_shape(const struct remote_cache *rc, const char *shape_key)
{
  for (size_t i = 0; rc && i < rc->n; i++)
    for (size_t k = 0; k < rc->src[i].n; k++)
      if (strcmp(rc->src[i].entries[k].shape_key, shape_key) == 0)
        return true;
  return false;
}

int
remote_cache_fetch(struct remote_cache *rc, const char *shape_key, const char *content_key, int fd,
                   const struct remote_entry **entry, struct derror *err)
{
  for (size_t i = 0; rc && i < rc->n; i++) {
    struct source *s = &rc->src[i];
    for (size_t k = 0; k < s->n; k++) {
      if (content_key ? strcmp(s->entries[k].content_key, content_key) != 0
                      : strcmp(s->entries[k].shape_key, shape_key) != 0)
        continue;
      if (store_get_blob_to(s->r, s->ref.repo, s->entries[k].digest, s->entries[k].size, fd, err) < 0)
        return -1;
      s->used = true;
      *entry = &s->entries[k];
      return 1;
    }
  }
  return 0;
}

const char *
remote_cache_used_repo(const struct remote_cache *rc, const char *host)
{
  for (size_t i = 0; rc && i < rc->n; i++)
    if (rc->src[i].used && strcmp(rc->src[i].ref.host, host) == 0)
      return rc->src[i].ref.repo;
  return NULL;
}

/* ---- --cache-to -------------------------------------------------------- */

static json_t *
entry_json(const struct remote_entry *e)
{
  return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "content", e->content_key, "shape", e->shape_key, "diff_id",
                   e->diff_id, "digest", e->digest, "size", (json_int_t) e->size, "mediaType", e->media_type);
}

static bool
listed(json_t *list, const char *content_key)
{
  size_t i;
  json_t *e;

  json_array_foreach (list, i, e)
    if (strcmp(str(e, "content"), content_key) == 0)
      return true;
  return false;
}

/* The entries to keep: ours, then the tag's own (`old`) whose blobs are
 * there. */
static int
merged_entries(struct registry *r, const struct image_ref *ref, const struct remote_entry *ours, size_t n,
               struct remote_entry *old, size_t n_old, json_t *list, struct derror *err)
{
  int ret = 0;

  for (size_t i = 0; i < n; i++)
    if (!listed(list, ours[i].content_key))
      json_array_append_new(list, entry_json(&ours[i]));
  for (size_t i = 0; ret >= 0 && i < n_old && json_array_size(list) < REMOTE_CACHE_MAX; i++) {
    if (listed(list, old[i].content_key))
      continue;
    int there = store_has_blob(r, ref->repo, old[i].digest, err);
    if (there < 0)
      ret = -1;
    else if (there)
      json_array_append_new(list, entry_json(&old[i]));
  }
  return ret < 0 ? -1 : 0;
}

/* The manifest of `list`: its config put, each entry's blob a layer. */
static int
put_manifest(struct registry *r, const struct image_ref *ref, json_t *list, struct derror *err)
{
  cleanup_json json_t *doc = json_pack("{s:i, s:O}", "distill-cache", 1, "entries", list);
  cleanup_free char *config = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
  json_t *layers = json_array(), *e;
  char config_digest[DIGEST_STR_LEN], digest[DIGEST_STR_LEN];
  struct strv seen = { 0 };
  uint64_t sent = 0;
  size_t i;

  digest_buffer(config, strlen(config), config_digest);
  json_array_foreach (list, i, e) {
    if (strv_contains(&seen, str(e, "digest")))
      continue;
    strv_push(&seen, str(e, "digest"));
    json_array_append_new(layers, json_pack("{s:s, s:s, s:O}", "mediaType", str(e, "mediaType"), "digest",
                                            str(e, "digest"), "size", json_object_get(e, "size")));
  }
  strv_free(&seen);
  cleanup_json json_t *manifest = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                                            MT_OCI_MANIFEST, "config", "mediaType", REMOTE_CACHE_CONFIG, "digest",
                                            config_digest, "size", (json_int_t) strlen(config), "layers", layers);
  cleanup_free char *text = json_dumps(manifest, JSON_COMPACT);
  digest_buffer(text, strlen(text), digest);
  struct store_object c = { .digest = config_digest, .fd = -1, .data = config, .size = strlen(config) };
  struct store_object m = { .digest = digest, .fd = -1, .data = text, .size = strlen(text) };
  if (store_blob(r, ref->repo, NULL, &c, &sent, 0, err) < 0)
    return -1;
  return store_put_manifest(r, ref->repo, ref->tag ? ref->tag : ref->digest, &m, MT_OCI_MANIFEST, err);
}

/* Each entry's blob, from the archive, onto the repository. */
static int
put_blobs(struct registry *r, const struct image_ref *ref, const char *from, const struct layout *l,
          const struct remote_entry *entries, size_t n, struct derror *err)
{
  uint64_t sent = 0;

  for (size_t i = 0; i < n; i++) {
    const struct layout_blob *b = layout_blob(l, entries[i].digest);
    if (b == NULL)
      return derror_set(err, "`%s` does not have the blob %s", l->path, entries[i].digest);
    struct store_object o = { .digest = b->digest, .fd = l->fd, .offset = b->offset, .size = b->size };
    if (store_blob(r, ref->repo, from, &o, &sent, 0, err) < 0)
      return -1;
  }
  return 0;
}

int
remote_cache_put(const char *text, const struct registry_options *o, const char *archive,
                 const struct remote_entry *entries, size_t n, struct derror *err)
{
  struct image_ref ref = { 0 };
  struct layout l = { 0 };
  struct registry *r = NULL;
  struct remote_entry *old = NULL;
  size_t n_old = 0;
  cleanup_json json_t *list = json_array();
  int ret = image_ref_parse(text, &ref, err);

  if (ret == 0)
    ret = layout_open(archive, &l, err);
  if (ret == 0 && (r = registry_open(&ref, o, err)) == NULL)
    ret = -1;
  /* the tag first: one that holds anything but a cache is refused before
   * a blob goes there */
  if (ret == 0)
    ret = read_cache(r, &ref, &old, &n_old, err) < 0 ? -1 : 0;
  if (ret == 0)
    ret = put_blobs(r, &ref, o->from, &l, entries, n, err);
  if (ret == 0)
    ret = merged_entries(r, &ref, entries, n, old, n_old, list, err);
  if (ret == 0)
    ret = put_manifest(r, &ref, list, err);
  for (size_t i = 0; i < n_old; i++)
    remote_entry_free(&old[i]);
  free(old);
  registry_close(r);
  if (l.path)
    layout_close(&l);
  image_ref_free(&ref);
  return ret < 0 ? derror_wrap(err, "--cache-to %s", text) : 0;
}
