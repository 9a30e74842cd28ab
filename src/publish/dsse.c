/* DSSE envelopes of in-toto statements: see dsse.h. */
#include "publish/dsse.h"
#include "lib/cleanup.h"
#include "lib/digest.h"
#include "publish/keys.h"
#include "publish/simplesign.h"

#include <inttypes.h>
#include <string.h>

void
dsse_pae(const char *type, const void *body, size_t n, struct buf *out)
{
  buf_printf(out, "DSSEv1 %zu %s %zu ", strlen(type), type, n);
  buf_append(out, body, n);
}

void
intoto_statement(const char *name, const char *digest, const char *predicate_type, json_t *predicate,
                 struct buf *out)
{
  cleanup_json json_t *st = json_pack("{s:s, s:[{s:s, s:{s:s}}], s:s, s:O}", "_type", INTOTO_STATEMENT_V1, "subject",
                                      "name", name, "digest", "sha256", digest + 7, "predicateType", predicate_type,
                                      "predicate", predicate);
  if (st == NULL)
    oom();
  cleanup_free char *text = json_dumps(st, JSON_SORT_KEYS | JSON_COMPACT);
  if (text == NULL)
    oom();
  buf_append(out, text, strlen(text));
}

int
dsse_sign(EVP_PKEY *key, const struct buf *payload, struct buf *envelope, struct derror *err)
{
  struct buf pae = { 0 }, sig = { 0 };

  dsse_pae(DSSE_INTOTO_TYPE, payload->data, payload->len, &pae);
  int r = key_sign(key, pae.data, pae.len, &sig, err);
  buf_free(&pae);
  if (r < 0)
    return -1;
  cleanup_free char *b64sig = base64_encode(sig.data, sig.len);
  cleanup_free char *b64 = base64_encode(payload->data, payload->len);
  buf_free(&sig);
  cleanup_json json_t *env = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "payload", b64, "payloadType", DSSE_INTOTO_TYPE,
                                       "signatures", "keyid", "", "sig", b64sig);
  cleanup_free char *text = env ? json_dumps(env, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
  if (text == NULL)
    oom();
  buf_append(envelope, text, strlen(text));
  return 0;
}

int
dsse_parse(const void *data, size_t n, struct dsse_envelope *e, struct derror *err)
{
  json_error_t jerr;
  cleanup_json json_t *j = json_loadb(data, n, JSON_REJECT_DUPLICATES, &jerr);
  const char *type = json_string_value(json_object_get(j, "payloadType"));
  const char *payload = json_string_value(json_object_get(j, "payload"));
  json_t *sigs = json_object_get(j, "signatures");
  size_t i;
  json_t *s;

  memset(e, 0, sizeof *e);
  if (j == NULL)
    return derror_set(err, "not JSON: %s", jerr.text);
  if (!json_is_object(j) || type == NULL || payload == NULL || !json_is_array(sigs))
    return derror_set(err, "not a DSSE envelope: no payloadType, payload or signatures");
  e->payload_type = xstrdup(type);
  if (base64_decode(payload, &e->payload) < 0)
    return derror_set(err, "the envelope's payload is not base64");
  e->sigs = json_array_size(sigs) ? xcalloc(json_array_size(sigs), sizeof *e->sigs) : NULL;
  json_array_foreach (sigs, i, s) {
    const char *sig = json_string_value(json_object_get(s, "sig"));
    e->n++;
    if (sig == NULL || base64_decode(sig, &e->sigs[i]) < 0)
      return derror_set(err, "signature %zu of the envelope has no base64 sig", i + 1);
  }
  return 0;
}

void
dsse_envelope_free(struct dsse_envelope *e)
{
  free(e->payload_type);
  buf_free(&e->payload);
  for (size_t i = 0; i < e->n; i++)
    buf_free(&e->sigs[i]);
  free(e->sigs);
  memset(e, 0, sizeof *e);
}

bool
dsse_verify(EVP_PKEY *key, const struct dsse_envelope *e)
{
  struct buf pae = { 0 };
  bool ok = false;

  dsse_pae(e->payload_type, e->payload.data, e->payload.len, &pae);
  for (size_t i = 0; !ok && i < e->n; i++)
    ok = key_verify(key, pae.data, pae.len, e->sigs[i].data, e->sigs[i].len) == 1;
  buf_free(&pae);
  return ok;
}

/* Does a subject of the statement name `hex` as its sha256? */
static bool
subject_names(json_t *subjects, const char *hex)
{
  size_t i;
  json_t *s;

  json_array_foreach (subjects, i, s) {
    const char *d = json_string_value(json_object_get(json_object_get(s, "digest"), "sha256"));
    if (d && strcmp(d, hex) == 0)
      return true;
  }
  return false;
}

int
intoto_check(const struct buf *payload, const char *digest, char **predicate_type, struct derror *err)
{
  json_error_t jerr;
  cleanup_json json_t *j = json_loadb(payload->data, payload->len, JSON_REJECT_DUPLICATES, &jerr);
  const char *type = json_string_value(json_object_get(j, "_type"));
  const char *pt = json_string_value(json_object_get(j, "predicateType"));
  json_t *subjects = json_object_get(j, "subject");

  *predicate_type = NULL;
  if (j == NULL)
    return derror_set(err, "the payload is not JSON: %s", jerr.text);
  if (type == NULL || strcmp(type, INTOTO_STATEMENT_V1) != 0)
    return derror_set(err, "the payload is not an in-toto v1 statement (_type %s)", type ? type : "missing");
  if (pt == NULL || !json_is_object(json_object_get(j, "predicate")) || !json_is_array(subjects)
      || json_array_size(subjects) == 0)
    return derror_set(err, "the statement has no predicateType, predicate object or subject");
  *predicate_type = xstrdup(pt);
  if (!subject_names(subjects, digest + 7)) {
    const char *other = json_string_value(json_object_get(json_object_get(json_array_get(subjects, 0), "digest"),
                                                          "sha256"));
    derror_set(err, "a statement about sha256:%s, not %s", other ? other : "(none)", digest);
    return 1;
  }
  return 0;
}
