/* cosign's signatures in a registry: see cosign.h. */
#include "publish/cosign.h"
#include "lib/cleanup.h"
#include "publish/keys.h"
#include "publish/simplesign.h"
#include "publish/store.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PAYLOAD_MAX (1u << 20)
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define ACCEPT_SIGNATURES MT_OCI_MANIFEST ", " MT_DOCKER_MANIFEST

/* The signature manifest of `tag` parsed, or NULL in `*m` when there is
 * none. */
static int
fetch_signatures(struct registry *r, const struct image_ref *ref, const char *tag, json_t **m, struct derror *err)
{
  struct buf body = { 0 };
  char digest[DIGEST_STR_LEN];
  json_error_t jerr;
  int found = store_get_manifest(r, ref->repo, tag, ACCEPT_SIGNATURES, &body, digest, NULL, err);

  *m = NULL;
  if (found == 1) {
    *m = json_loadb(body.data, body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(*m) || !json_is_array(json_object_get(*m, "layers")))
      found = derror_set(err, "registry %s: %s:%s: not an image manifest with layers%s%s", registry_host(r),
                         ref->repo, tag, *m ? "" : ": ", *m ? "" : jerr.text);
  }
  buf_free(&body);
  if (found < 0) {
    json_decref(*m);
    *m = NULL;
    return -1;
  }
  return 0;
}

static const char *
str_or_empty(json_t *j)
{
  const char *s = json_string_value(j);
  return s ? s : "";
}

static const char *
layer_signature(json_t *layer)
{
  return json_string_value(json_object_get(json_object_get(layer, "annotations"), COSIGN_SIGNATURE_ANNOTATION));
}

/* cosign's duplicate rule: a layer of the same payload whose signature
 * verifies with the key is this signature already. */
static bool
signed_already(json_t *layers, const char *digest, const struct buf *payload, EVP_PKEY *key)
{
  size_t i;
  json_t *l;

  json_array_foreach (layers, i, l) {
    const char *sig = layer_signature(l);
    const char *mt = json_string_value(json_object_get(l, "mediaType"));
    struct buf der = { 0 };
    bool same = sig && mt && strcmp(mt, MT_SIMPLESIGN) == 0
                && strcmp(str_or_empty(json_object_get(l, "digest")), digest) == 0
                && base64_decode(sig, &der) == 0 && key_verify(key, payload->data, payload->len, der.data, der.len);
    buf_free(&der);
    if (same)
      return true;
  }
  return false;
}

/* The config go-containerregistry writes for empty.Image with these
 * layers appended: each layer's digest its diff_id (a signature layer is
 * not compressed), an empty history entry each. */
static void
config_bytes(json_t *layers, struct buf *out)
{
  size_t i;
  json_t *l;

  buf_printf(out, "{\"architecture\":\"\",\"created\":\"0001-01-01T00:00:00Z\",\"history\":[");
  for (i = 0; i < json_array_size(layers); i++)
    buf_printf(out, "%s{\"created\":\"0001-01-01T00:00:00Z\"}", i ? "," : "");
  buf_printf(out, "],\"os\":\"\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[");
  json_array_foreach (layers, i, l)
    buf_printf(out, "%s\"%s\"", i ? "," : "", str_or_empty(json_object_get(l, "digest")));
  buf_printf(out, "]},\"config\":{}}");
}

static json_t *
descriptor(const char *media_type, size_t size, const char *digest)
{
  return json_pack("{s:s, s:I, s:s}", "mediaType", media_type, "size", (json_int_t) size, "digest", digest);
}

/* Blobs, then the manifest `m` (its layers final) with its config. */
static int
put_signatures(struct registry *r, const struct image_ref *ref, const char *tag, json_t *m, const struct buf *payload,
               const char *payload_digest, struct derror *err)
{
  const char *mt = json_string_value(json_object_get(m, "mediaType"));
  bool docker = mt && strcmp(mt, MT_DOCKER_MANIFEST) == 0;
  struct buf config = { 0 };
  char config_digest[DIGEST_STR_LEN], digest[DIGEST_STR_LEN];
  uint64_t sent = 0;

  config_bytes(json_object_get(m, "layers"), &config);
  digest_buffer(config.data, config.len, config_digest);
  json_object_set_new(m, "config", descriptor(docker ? MT_DOCKER_CONFIG : MT_OCI_CONFIG, config.len, config_digest));
  struct store_object p = { .digest = payload_digest, .fd = -1, .data = payload->data, .size = payload->len };
  struct store_object c = { .digest = config_digest, .fd = -1, .data = config.data, .size = config.len };
  int ret = store_blob(r, ref->repo, NULL, &p, &sent, 0, err) < 0 || store_blob(r, ref->repo, NULL, &c, &sent, 0, err) < 0
              ? -1 : 0;
  buf_free(&config);
  if (ret < 0)
    return -1;
  cleanup_free char *text = json_dumps(m, JSON_COMPACT);
  if (text == NULL)
    oom();
  digest_buffer(text, strlen(text), digest);
  struct store_object o = { .digest = digest, .fd = -1, .data = text, .size = strlen(text) };
  return store_put_manifest(r, ref->repo, tag, &o, docker ? MT_DOCKER_MANIFEST : MT_OCI_MANIFEST, err);
}

/* The signature of `payload` beside the others in the manifest of `tag`. */
static int
add_signature(struct registry *r, const struct image_ref *ref, EVP_PKEY *key, const struct buf *payload,
              struct cosign_signed *out, struct derror *err)
{
  cleanup_json json_t *m = NULL;
  char digest[DIGEST_STR_LEN];
  struct buf der = { 0 };

  if (fetch_signatures(r, ref, out->tag, &m, err) < 0)
    return -1;
  if (m == NULL)
    m = json_pack("{s:i, s:s, s:n, s:[]}", "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST, "config", "layers");
  json_t *layers = json_object_get(m, "layers");
  digest_buffer(payload->data, payload->len, digest);
  out->already = signed_already(layers, digest, payload, key);
  out->signatures = json_array_size(layers) + !out->already;
  if (out->already)
    return 0;
  if (key_sign(key, payload->data, payload->len, &der, err) < 0)
    return -1;
  cleanup_free char *b64 = base64_encode(der.data, der.len);
  buf_free(&der);
  json_t *layer = descriptor(MT_SIMPLESIGN, payload->len, digest);
  json_object_set_new(layer, "annotations", json_pack("{s:s}", COSIGN_SIGNATURE_ANNOTATION, b64));
  json_array_append_new(layers, layer);
  return put_signatures(r, ref, out->tag, m, payload, digest, err);
}

static void
signature_tag(const char *digest, char tag[DIGEST_STR_LEN + 4])
{
  snprintf(tag, DIGEST_STR_LEN + 4, "sha256-%s.sig", digest + 7);
}

int
cosign_sign(const struct image_ref *ref, const struct registry_options *o, EVP_PKEY *key,
            const struct strv *annotations, struct cosign_signed *out, struct derror *err)
{
  struct registry *r = registry_open(ref, o, err);
  struct buf payload = { 0 };
  int ret = r ? store_resolve(r, ref, out->digest, err) : -1;

  if (ret == 0) {
    signature_tag(out->digest, out->tag);
    cleanup_free char *identity = simplesign_identity(ref);
    ret = simplesign_payload(identity, out->digest, annotations, &payload, err);
  }
  if (ret == 0)
    ret = add_signature(r, ref, key, &payload, out, err);
  buf_free(&payload);
  registry_close(r);
  return ret;
}

/* ---- verification ----------------------------------------------------- */

static int
check_set(struct cosign_check *c, enum cosign_status status, const char *fmt, ...) DISTILL_PRINTF(3, 4);
static int
check_set(struct cosign_check *c, enum cosign_status status, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  c->status = status;
  c->reason = xvasprintf(fmt, ap);
  va_end(ap);
  return 0;
}

/* What the payload claims, against the image: the type, its digest, its
 * repository. */
static int
check_claims(const struct image_ref *ref, const char *digest, const struct buf *payload, struct cosign_check *c)
{
  struct simplesign_claims claims;
  struct derror err = DERROR_INIT;

  if (simplesign_parse(payload->data, payload->len, &claims, &err) < 0) {
    check_set(c, COSIGN_FALSE_CLAIM, "signed by the key, but %s", err.msg);
    derror_clear(&err);
    return 0;
  }
  cleanup_free char *name = image_ref_name(ref);
  if (strcmp(claims.digest, digest) != 0)
    check_set(c, COSIGN_FALSE_CLAIM, "signed by the key for the image %s, not %s", claims.digest, digest);
  else if (!simplesign_identity_matches(claims.identity, ref))
    check_set(c, COSIGN_FALSE_CLAIM, "signed by the key for the repository %s, not %s", claims.identity, name);
  else
    c->status = COSIGN_VERIFIED;
  simplesign_claims_free(&claims);
  return 0;
}

/* One layer of the signature manifest, checked in the order that needs
 * least: its form, its payload's bytes against its digest, the signature,
 * the claims. */
static void
check_layer(struct registry *r, const struct image_ref *ref, EVP_PKEY *key, const char *digest, json_t *layer,
            struct cosign_check *c)
{
  const char *mt = json_string_value(json_object_get(layer, "mediaType"));
  const char *sig = layer_signature(layer);
  struct buf der = { 0 }, payload = { 0 };
  struct derror err = DERROR_INIT;

  snprintf(c->layer, sizeof c->layer, "%s", str_or_empty(json_object_get(layer, "digest")));
  if (mt == NULL || strcmp(mt, MT_SIMPLESIGN) != 0)
    check_set(c, COSIGN_DAMAGED, "a layer of type %s, not a simple signing payload", mt ? mt : "(none)");
  else if (!digest_valid(c->layer))
    check_set(c, COSIGN_DAMAGED, "a layer without a sha256 digest");
  else if (sig == NULL || base64_decode(sig, &der) < 0)
    check_set(c, COSIGN_DAMAGED, "no base64 signature in the annotation %s", COSIGN_SIGNATURE_ANNOTATION);
  else if (store_get_blob(r, ref->repo, c->layer, PAYLOAD_MAX, &payload, &err) < 0)
    check_set(c, COSIGN_DAMAGED, "the payload: %s", err.msg);
  else if (!key_verify(key, payload.data, payload.len, der.data, der.len))
    check_set(c, COSIGN_NOT_KEYS, "the signature does not verify with the key: another key's, or the payload "
                                  "was changed");
  else
    check_claims(ref, digest, &payload, c);
  derror_clear(&err);
  buf_free(&der);
  buf_free(&payload);
}

int
cosign_verify(const struct image_ref *ref, const struct registry_options *o, EVP_PKEY *key,
              struct cosign_verified *out, struct derror *err)
{
  struct registry *r = registry_open(ref, o, err);
  cleanup_json json_t *m = NULL;
  int ret = r ? store_resolve(r, ref, out->digest, err) : -1;

  if (ret == 0) {
    signature_tag(out->digest, out->tag);
    ret = fetch_signatures(r, ref, out->tag, &m, err);
  }
  json_t *layers = json_object_get(m, "layers");
  out->found = m != NULL;
  out->n = json_array_size(layers);
  out->checks = out->n ? xcalloc(out->n, sizeof *out->checks) : NULL;
  for (size_t i = 0; ret == 0 && i < out->n; i++) {
    check_layer(r, ref, key, out->digest, json_array_get(layers, i), &out->checks[i]);
    out->verified += out->checks[i].status == COSIGN_VERIFIED;
    out->false_claims += out->checks[i].status == COSIGN_FALSE_CLAIM;
  }
  registry_close(r);
  return ret;
}

void
cosign_verified_free(struct cosign_verified *v)
{
  for (size_t i = 0; i < v->n; i++)
    free(v->checks[i].reason);
  free(v->checks);
  memset(v, 0, sizeof *v);
}

const char *
cosign_status_name(enum cosign_status s)
{
  switch (s) {
  case COSIGN_VERIFIED:
    return "verified";
  case COSIGN_NOT_KEYS:
    return "not-this-key";
  case COSIGN_DAMAGED:
    return "damaged";
  case COSIGN_FALSE_CLAIM:
    return "false-claim";
  }
  return "?";
}


int
cosign_fetch_manifest(struct registry *r, const struct image_ref *ref, const char *tag, json_t **m, struct derror *err)
{
  return fetch_signatures(r, ref, tag, m, err);
}

int
cosign_put_manifest(struct registry *r, const struct image_ref *ref, const char *tag, json_t *m,
                    const struct buf *blob, const char *blob_digest, struct derror *err)
{
  return put_signatures(r, ref, tag, m, blob, blob_digest, err);
}
