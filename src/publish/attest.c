/* Attestations in a registry as cosign keeps them: see attest.h. */
#include "publish/attest.h"
#include "publish/attached.h"
#include "lib/cleanup.h"
#include "publish/dsse.h"
#include "publish/keys.h"
#include "publish/simplesign.h"
#include "publish/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ENVELOPE_MAX (64u << 20)
#define PREDICATE_TYPE_ANNOTATION "predicateType"

static const char *
layer_string(json_t *layer, const char *key)
{
  return json_string_value(json_object_get(layer, key));
}

/* Is the statement `payload` there already, in an envelope the key
 * signed?  Each layer of the same predicate type is read and checked. */
static int
attested_already(const struct attached_source *s, json_t *layers, const char *type, const struct buf *payload,
                 EVP_PKEY *key, bool *already, struct derror *err)
{
  size_t i;
  json_t *l;

  *already = false;
  json_array_foreach (layers, i, l) {
    const char *pt = json_string_value(json_object_get(json_object_get(l, "annotations"), PREDICATE_TYPE_ANNOTATION));
    const char *mt = layer_string(l, "mediaType"), *digest = layer_string(l, "digest");
    struct buf body = { 0 };
    struct dsse_envelope e;
    struct derror ignored = DERROR_INIT;
    if (!pt || !mt || !digest || strcmp(pt, type) != 0 || strcmp(mt, MT_DSSE_ENVELOPE) != 0)
      continue;
    if (attached_blob(s, digest, ENVELOPE_MAX, &body, err) < 0)
      return buf_free(&body), -1;
    if (dsse_parse(body.data, body.len, &e, &ignored) == 0 && e.payload.len == payload->len
        && memcmp(e.payload.data, payload->data, payload->len) == 0 && dsse_verify(key, &e))
      *already = true;
    dsse_envelope_free(&e);
    derror_clear(&ignored);
    buf_free(&body);
    if (*already)
      return 0;
  }
  return 0;
}

/* The layer of an envelope (its digest `digest`) of a statement of type
 * `type`, appended to `m`. */
static void
append_layer(json_t *m, const struct buf *envelope, const char *digest, const char *type)
{
  json_t *layer = json_pack("{s:s, s:I, s:s, s:{s:s, s:s}}", "mediaType", MT_DSSE_ENVELOPE, "size",
                            (json_int_t) envelope->len, "digest", digest, "annotations", COSIGN_SIGNATURE_ANNOTATION,
                            "", PREDICATE_TYPE_ANNOTATION, type);
  json_array_append_new(json_object_get(m, "layers"), layer);
}

/* One statement about out->digest, signed into `envelope` unless the
 * source `s` (NULL: nothing there yet) has it already: 1 when signed. */
static int
make_envelope(const struct attached_source *s, const struct image_ref *identity, EVP_PKEY *key,
              const struct attest_predicate *p, json_t *m, const char *image, struct buf *envelope,
              struct derror *err)
{
  cleanup_free char *name = simplesign_identity(identity);
  struct buf payload = { 0 };
  bool already = false;

  intoto_statement(name, image, p->type, p->predicate, &payload);
  int ret = s ? attested_already(s, json_object_get(m, "layers"), p->type, &payload, key, &already, err) : 0;
  if (ret == 0 && !already)
    ret = dsse_sign(key, &payload, envelope, err);
  buf_free(&payload);
  return ret < 0 ? -1 : !already;
}

/* Each statement not there yet: its envelope uploaded, its layer added;
 * then the manifest, when one was. */
static int
attach(struct registry *r, const struct image_ref *ref, EVP_PKEY *key, const struct attest_predicate *preds, size_t n,
       struct attest_added *out, struct derror *err)
{
  struct attached_source s = { .r = r, .ref = ref };
  cleanup_json json_t *m = NULL;
  int ret = attached_manifest(&s, out->tag, &m, err);

  if (ret == 0 && m == NULL)
    m = attached_new_manifest();
  for (size_t i = 0; ret == 0 && i < n; i++) {
    struct buf envelope = { 0 };
    char digest[DIGEST_STR_LEN];
    uint64_t sent = 0;
    int made = make_envelope(&s, ref, key, &preds[i], m, out->digest, &envelope, err);
    if (made == 1) {
      digest_buffer(envelope.data, envelope.len, digest);
      struct store_object b = { .digest = digest, .fd = -1, .data = envelope.data, .size = envelope.len };
      made = store_blob(r, ref->repo, NULL, &b, &sent, 0, err) < 0 ? -1 : 1;
      if (made == 1) {
        append_layer(m, &envelope, digest, preds[i].type);
        out->added++;
      }
    }
    buf_free(&envelope);
    ret = made < 0 ? -1 : 0;
  }
  out->attestations = json_array_size(json_object_get(m, "layers"));
  if (ret == 0 && out->added)
    ret = attached_put(r, ref, out->tag, m, err);
  return ret;
}

int
attest_attach(const struct image_ref *ref, const struct registry_options *o, EVP_PKEY *key,
              const struct attest_predicate *preds, size_t n, struct attest_added *out, struct derror *err)
{
  struct registry *r = registry_open(ref, o, err);
  int ret = r ? store_resolve(r, ref, out->digest, err) : -1;

  if (ret == 0) {
    attached_tag(out->digest, "att", out->tag);
    ret = attach(r, ref, key, preds, n, out, err);
  }
  registry_close(r);
  return ret;
}

int
attest_extra(const struct image_ref *identity, const char *digest, EVP_PKEY *key, const struct attest_predicate *preds,
             size_t n, struct oci_extra *out, struct derror *err)
{
  cleanup_json json_t *m = attached_new_manifest();
  struct buf *envelopes = xcalloc(n ? n : 1, sizeof *envelopes);
  char layer_digest[DIGEST_STR_LEN], tag[ATTACHED_TAG_LEN];
  int ret = 0;

  for (size_t i = 0; ret == 0 && i < n; i++) {
    ret = make_envelope(NULL, identity, key, &preds[i], m, digest, &envelopes[i], err) < 0 ? -1 : 0;
    if (ret == 0) {
      digest_buffer(envelopes[i].data, envelopes[i].len, layer_digest);
      append_layer(m, &envelopes[i], layer_digest, preds[i].type);
    }
  }
  if (ret == 0) {
    attached_tag(digest, "att", tag);
    attached_extra(m, envelopes, n, tag, OCI_KIND_ATTESTATIONS, key, out);
  }
  for (size_t i = 0; i < n; i++)
    buf_free(&envelopes[i]);
  free(envelopes);
  return ret;
}

/* ---- verification ----------------------------------------------------- */

static void
check_set(struct attest_check *c, enum cosign_status status, const char *fmt, ...) DISTILL_PRINTF(3, 4);
static void
check_set(struct attest_check *c, enum cosign_status status, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  c->status = status;
  c->reason = xvasprintf(fmt, ap);
  va_end(ap);
}

static bool
known_type(const char *t)
{
  return strcmp(t, PREDICATE_SPDX) == 0 || strcmp(t, PREDICATE_SLSA_V1) == 0;
}

/* An envelope the key signed: what its statement claims. */
static void
check_statement(const struct dsse_envelope *e, const char *digest, struct attest_check *c)
{
  struct derror err = DERROR_INIT;
  char *type = NULL;
  int r = intoto_check(&e->payload, digest, &type, &err);

  if (type) {
    free(c->predicate_type);
    c->predicate_type = type;
  }
  if (r < 0)
    check_set(c, COSIGN_DAMAGED, "signed by the key, but %s", err.msg);
  else if (r > 0)
    check_set(c, COSIGN_FALSE_CLAIM, "signed by the key, but %s", err.msg);
  else if (!known_type(type))
    check_set(c, COSIGN_DAMAGED, "a predicate of type %s, which distill does not know", type);
  else
    c->status = COSIGN_VERIFIED;
  derror_clear(&err);
}

/* One layer: its form, its bytes, the envelope, the signature, the
 * statement, in that order. */
static void
check_layer(const struct attached_source *s, EVP_PKEY *key, const char *digest, json_t *layer, struct attest_check *c)
{
  const char *mt = layer_string(layer, "mediaType");
  const char *pt = json_string_value(json_object_get(json_object_get(layer, "annotations"), PREDICATE_TYPE_ANNOTATION));
  struct buf body = { 0 };
  struct dsse_envelope e = { 0 };
  struct derror err = DERROR_INIT;

  snprintf(c->layer, sizeof c->layer, "%s", layer_string(layer, "digest") ? layer_string(layer, "digest") : "");
  c->predicate_type = pt ? xstrdup(pt) : NULL;
  if (mt == NULL || strcmp(mt, MT_DSSE_ENVELOPE) != 0)
    check_set(c, COSIGN_DAMAGED, "a layer of type %s, not a DSSE envelope", mt ? mt : "(none)");
  else if (!digest_valid(c->layer))
    check_set(c, COSIGN_DAMAGED, "a layer without a sha256 digest");
  else if (attached_blob(s, c->layer, ENVELOPE_MAX, &body, &err) < 0)
    check_set(c, COSIGN_DAMAGED, "the envelope: %s", err.msg);
  else if (dsse_parse(body.data, body.len, &e, &err) < 0)
    check_set(c, COSIGN_DAMAGED, "%s", err.msg);
  else if (strcmp(e.payload_type, DSSE_INTOTO_TYPE) != 0)
    check_set(c, COSIGN_DAMAGED, "a payload of type %s, not %s", e.payload_type, DSSE_INTOTO_TYPE);
  else if (!dsse_verify(key, &e))
    check_set(c, COSIGN_NOT_KEYS, "no signature of the envelope verifies with the key: another key's, or the "
                                  "envelope was changed");
  else
    check_statement(&e, digest, c);
  dsse_envelope_free(&e);
  derror_clear(&err);
  buf_free(&body);
}

static void
count(struct attest_verified *v, const struct attest_check *c)
{
  v->false_claims += c->status == COSIGN_FALSE_CLAIM;
  if (c->status != COSIGN_VERIFIED)
    return;
  v->sbom += strcmp(c->predicate_type, PREDICATE_SPDX) == 0;
  v->provenance += strcmp(c->predicate_type, PREDICATE_SLSA_V1) == 0;
}

/* Every layer of the attestation manifest of out->digest in `s`. */
static int
verify_from(const struct attached_source *s, EVP_PKEY *key, struct attest_verified *out, struct derror *err)
{
  cleanup_json json_t *m = NULL;

  attached_tag(out->digest, "att", out->tag);
  if (attached_manifest(s, out->tag, &m, err) < 0)
    return -1;
  json_t *layers = json_object_get(m, "layers");
  out->found = m != NULL;
  out->n = json_array_size(layers);
  out->checks = out->n ? xcalloc(out->n, sizeof *out->checks) : NULL;
  for (size_t i = 0; i < out->n; i++) {
    check_layer(s, key, out->digest, json_array_get(layers, i), &out->checks[i]);
    count(out, &out->checks[i]);
  }
  return 0;
}

int
attest_verify(const struct image_ref *ref, const struct registry_options *o, EVP_PKEY *key,
              struct attest_verified *out, struct derror *err)
{
  struct registry *r = registry_open(ref, o, err);
  struct attached_source s = { .r = r, .ref = ref };
  int ret = r ? store_resolve(r, ref, out->digest, err) : -1;

  if (ret == 0)
    ret = verify_from(&s, key, out, err);
  registry_close(r);
  return ret;
}

int
attest_verify_archive(const char *path, EVP_PKEY *key, struct attest_verified *out, struct derror *err)
{
  struct layout l = { 0 };
  struct attached_source s = { .l = &l };
  int ret = attached_archive_open(path, &l, out->digest, err);

  if (ret == 0)
    ret = verify_from(&s, key, out, err);
  layout_close(&l);
  return ret;
}

void
attest_verified_free(struct attest_verified *v)
{
  for (size_t i = 0; i < v->n; i++) {
    free(v->checks[i].predicate_type);
    free(v->checks[i].reason);
  }
  free(v->checks);
  memset(v, 0, sizeof *v);
}

/* ---- an archive's, pushed --------------------------------------------- */

/* An envelope of the archive is on the registry already: the same layer,
 * or one of the same statement by the same signer. */
static int
envelope_there(EVP_PKEY *signer, const struct attached_source *s, json_t *layers, json_t *layer,
               const struct buf *blob, struct derror *err)
{
  const char *type = json_string_value(json_object_get(json_object_get(layer, "annotations"),
                                                       PREDICATE_TYPE_ANNOTATION));
  struct dsse_envelope e = { 0 };
  struct derror ignored = DERROR_INIT;
  bool already = false;
  int ret = 0;

  if (attached_has_layer(layers, layer))
    return 1;
  if (signer && type && dsse_parse(blob->data, blob->len, &e, &ignored) == 0)
    ret = attested_already(s, layers, type, &e.payload, signer, &already, err);
  dsse_envelope_free(&e);
  derror_clear(&ignored);
  return ret < 0 ? -1 : already;
}

int
attest_push_archive(struct registry *r, const struct image_ref *ref, const struct layout *l, const char *digest,
                    uint64_t *sent, struct derror *err)
{
  static const struct attached_merger how = { .suffix = "att", .max = ENVELOPE_MAX, .there = envelope_there };
  return attached_merge(r, ref, l, digest, &how, sent, err);
}
