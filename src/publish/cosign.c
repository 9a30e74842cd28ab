/* cosign's signatures in a registry: see cosign.h. */
#include "publish/cosign.h"
#include "publish/attached.h"
#include "lib/cleanup.h"
#include "publish/keys.h"
#include "publish/simplesign.h"
#include "publish/store.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PAYLOAD_MAX (1u << 20)

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

static json_t *
descriptor(const char *media_type, size_t size, const char *digest)
{
  return json_pack("{s:s, s:I, s:s}", "mediaType", media_type, "size", (json_int_t) size, "digest", digest);
}

/* The layer of a new signature of `payload` (its digest `digest`),
 * appended to `layers`. */
static int
append_signature(json_t *layers, EVP_PKEY *key, const struct buf *payload, const char *digest, struct derror *err)
{
  struct buf der = { 0 };

  if (key_sign(key, payload->data, payload->len, &der, err) < 0)
    return -1;
  cleanup_free char *b64 = base64_encode(der.data, der.len);
  buf_free(&der);
  json_t *layer = descriptor(MT_SIMPLESIGN, payload->len, digest);
  json_object_set_new(layer, "annotations", json_pack("{s:s}", COSIGN_SIGNATURE_ANNOTATION, b64));
  json_array_append_new(layers, layer);
  return 0;
}

/* The signature of `payload` beside the others in the manifest of `tag`. */
static int
add_signature(struct registry *r, const struct image_ref *ref, EVP_PKEY *key, const struct buf *payload,
              struct cosign_signed *out, struct derror *err)
{
  struct attached_source s = { .r = r, .ref = ref };
  cleanup_json json_t *m = NULL;
  char digest[DIGEST_STR_LEN];
  uint64_t sent = 0;

  if (attached_manifest(&s, out->tag, &m, err) < 0)
    return -1;
  if (m == NULL)
    m = attached_new_manifest();
  json_t *layers = json_object_get(m, "layers");
  digest_buffer(payload->data, payload->len, digest);
  out->already = signed_already(layers, digest, payload, key);
  out->signatures = json_array_size(layers) + !out->already;
  if (out->already)
    return 0;
  struct store_object p = { .digest = digest, .fd = -1, .data = payload->data, .size = payload->len };
  if (append_signature(layers, key, payload, digest, err) < 0 || store_blob(r, ref->repo, NULL, &p, &sent, 0, err) < 0)
    return -1;
  return attached_put(r, ref, out->tag, m, err);
}

int
cosign_sign(const struct image_ref *ref, const struct registry_options *o, EVP_PKEY *key,
            const struct strv *annotations, struct cosign_signed *out, struct derror *err)
{
  struct registry *r = registry_open(ref, o, err);
  struct buf payload = { 0 };
  int ret = r ? store_resolve(r, ref, out->digest, err) : -1;

  if (ret == 0) {
    attached_tag(out->digest, "sig", out->tag);
    cleanup_free char *identity = simplesign_identity(ref);
    ret = simplesign_payload(identity, out->digest, annotations, &payload, err);
  }
  if (ret == 0)
    ret = add_signature(r, ref, key, &payload, out, err);
  buf_free(&payload);
  registry_close(r);
  return ret;
}

int
cosign_sign_extra(const struct image_ref *identity, const char *digest, EVP_PKEY *key, struct oci_extra *out,
                  struct derror *err)
{
  cleanup_free char *name = simplesign_identity(identity);
  cleanup_json json_t *m = attached_new_manifest();
  struct buf payload = { 0 };
  char payload_digest[DIGEST_STR_LEN], tag[ATTACHED_TAG_LEN];

  if (simplesign_payload(name, digest, NULL, &payload, err) < 0)
    return -1;
  digest_buffer(payload.data, payload.len, payload_digest);
  if (append_signature(json_object_get(m, "layers"), key, &payload, payload_digest, err) < 0) {
    buf_free(&payload);
    return -1;
  }
  attached_tag(digest, "sig", tag);
  attached_extra(m, &payload, 1, tag, OCI_KIND_SIGNATURES, key, out);
  return 0;
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
check_claims(const struct image_ref *identity, const char *digest, const struct buf *payload, struct cosign_check *c)
{
  struct simplesign_claims claims;
  struct derror err = DERROR_INIT;

  if (simplesign_parse(payload->data, payload->len, &claims, &err) < 0) {
    check_set(c, COSIGN_FALSE_CLAIM, "signed by the key, but %s", err.msg);
    derror_clear(&err);
    return 0;
  }
  cleanup_free char *name = identity ? image_ref_name(identity) : NULL;
  if (strcmp(claims.digest, digest) != 0)
    check_set(c, COSIGN_FALSE_CLAIM, "signed by the key for the image %s, not %s", claims.digest, digest);
  else if (identity && !simplesign_identity_matches(claims.identity, identity))
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
check_layer(const struct attached_source *s, const struct image_ref *identity, EVP_PKEY *key, const char *digest,
            json_t *layer, struct cosign_check *c)
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
  else if (attached_blob(s, c->layer, PAYLOAD_MAX, &payload, &err) < 0)
    check_set(c, COSIGN_DAMAGED, "the payload: %s", err.msg);
  else if (!key_verify(key, payload.data, payload.len, der.data, der.len))
    check_set(c, COSIGN_NOT_KEYS, "the signature does not verify with the key: another key's, or the payload "
                                  "was changed");
  else
    check_claims(identity, digest, &payload, c);
  derror_clear(&err);
  buf_free(&der);
  buf_free(&payload);
}

/* Every layer of the signature manifest of out->digest in `s`. */
static int
verify_from(const struct attached_source *s, const struct image_ref *identity, EVP_PKEY *key,
            struct cosign_verified *out, struct derror *err)
{
  cleanup_json json_t *m = NULL;

  attached_tag(out->digest, "sig", out->tag);
  if (attached_manifest(s, out->tag, &m, err) < 0)
    return -1;
  json_t *layers = json_object_get(m, "layers");
  out->found = m != NULL;
  out->n = json_array_size(layers);
  out->checks = out->n ? xcalloc(out->n, sizeof *out->checks) : NULL;
  for (size_t i = 0; i < out->n; i++) {
    check_layer(s, identity, key, out->digest, json_array_get(layers, i), &out->checks[i]);
    out->verified += out->checks[i].status == COSIGN_VERIFIED;
    out->false_claims += out->checks[i].status == COSIGN_FALSE_CLAIM;
  }
  return 0;
}

int
cosign_verify(const struct image_ref *ref, const struct registry_options *o, EVP_PKEY *key,
              struct cosign_verified *out, struct derror *err)
{
  struct registry *r = registry_open(ref, o, err);
  struct attached_source s = { .r = r, .ref = ref };
  int ret = r ? store_resolve(r, ref, out->digest, err) : -1;

  if (ret == 0)
    ret = verify_from(&s, ref, key, out, err);
  registry_close(r);
  return ret;
}

int
cosign_verify_archive(const char *path, EVP_PKEY *key, struct cosign_verified *out, struct derror *err)
{
  struct layout l = { 0 };
  struct attached_source s = { .l = &l };
  int ret = attached_archive_open(path, &l, out->digest, err);

  if (ret == 0)
    ret = verify_from(&s, NULL, key, out, err);
  layout_close(&l);
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


/* ---- an archive's, pushed --------------------------------------------- */

/* One signature layer of the archive: a payload for `digest` naming
 * `ref`'s repository. */
static int
check_pushed(const struct layout *l, json_t *layer, const char *digest, const struct image_ref *ref,
             struct derror *err)
{
  struct attached_source s = { .l = l };
  struct buf payload = { 0 };
  struct simplesign_claims c = { 0 };
  const char *d = json_string_value(json_object_get(layer, "digest"));
  int ret = d == NULL ? derror_set(err, "`%s`: a signature layer without a digest", l->path)
                      : attached_blob(&s, d, PAYLOAD_MAX, &payload, err);

  if (ret == 0 && (ret = simplesign_parse(payload.data, payload.len, &c, err)) < 0)
    derror_wrap(err, "`%s`: the signature %s", l->path, d);
  cleanup_free char *name = ret == 0 ? image_ref_name(ref) : NULL;
  if (ret == 0 && strcmp(c.digest, digest) != 0)
    ret = derror_set(err, "`%s`: the signature %s is for the image %s, not %s", l->path, d, c.digest, digest);
  else if (ret == 0 && !simplesign_identity_matches(c.identity, ref))
    ret = derror_set(err, "`%s` is signed for the repository %s, not %s, where its signature would not verify: "
                          "build it with -t or --push naming %s, or push it with --image-only and sign it "
                          "there (distill sign)", l->path, c.identity, name, name);
  simplesign_claims_free(&c);
  buf_free(&payload);
  return ret;
}

int
cosign_check_archive(const struct layout *l, const char *digest, const struct image_ref *ref, size_t *n,
                     struct derror *err)
{
  struct attached_source s = { .l = l };
  char tag[ATTACHED_TAG_LEN];
  cleanup_json json_t *m = NULL, *all = attached_archive_list(l, err);
  size_t i;
  json_t *d;

  if (all == NULL)
    return -1;
  *n = 0;
  json_array_foreach (all, i, d) {
    const char *name = json_string_value(json_object_get(json_object_get(d, "annotations"),
                                                         "org.opencontainers.image.ref.name"));
    if (strncmp(name + 7, digest + 7, DIGEST_HEX_LEN) != 0)
      return derror_set(err, "`%s` carries %s, which is not about its image %s", l->path, name, digest);
    (*n)++;
  }
  attached_tag(digest, "sig", tag);
  if (attached_manifest(&s, tag, &m, err) < 0)
    return -1;
  json_array_foreach (json_object_get(m, "layers"), i, d)
    if (check_pushed(l, d, digest, ref, err) < 0)
      return -1;
  return 0;
}

/* A signature of the archive is on the registry already: the same layer,
 * or (cosign's rule) one of the same payload by the same signer. */
static int
signature_there(EVP_PKEY *signer, const struct attached_source *s, json_t *layers, json_t *layer,
                const struct buf *blob, struct derror *err)
{
  const char *digest = json_string_value(json_object_get(layer, "digest"));

  (void) s, (void) err;
  return attached_has_layer(layers, layer) || (signer && digest && signed_already(layers, digest, blob, signer));
}

int
cosign_push_archive(struct registry *r, const struct image_ref *ref, const struct layout *l, const char *digest,
                    uint64_t *sent, struct derror *err)
{
  static const struct attached_merger how = { .suffix = "sig", .max = PAYLOAD_MAX, .there = signature_there };
  return attached_merge(r, ref, l, digest, &how, sent, err);
}
