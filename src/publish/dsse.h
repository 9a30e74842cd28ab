/* In-toto v1 statements in DSSE envelopes (secure-systems-lab/dsse
 * protocol.md and envelope.md; in-toto's Statement v1): the statement's
 * bytes, the pre-authentication encoding a signature covers, the envelope
 * JSON, and each read back.  Signatures are ECDSA P-256 with SHA-256 over
 * PAE(payloadType, payload), as cosign makes them with a key; nothing here
 * touches a registry (attest.h stores them). */
#ifndef DISTILL_PUBLISH_DSSE_H
#define DISTILL_PUBLISH_DSSE_H

#include "lib/alloc.h"
#include "lib/error.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>

#define MT_DSSE_ENVELOPE "application/vnd.dsse.envelope.v1+json"
#define DSSE_INTOTO_TYPE "application/vnd.in-toto+json"
#define INTOTO_STATEMENT_V1 "https://in-toto.io/Statement/v1"
#define PREDICATE_SPDX "https://spdx.dev/Document"
#define PREDICATE_SLSA_V1 "https://slsa.dev/provenance/v1"

/* "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII
 * decimal: the bytes a signature covers. */
void dsse_pae(const char *type, const void *body, size_t n, struct buf *out);

/* The statement about the manifest `digest` ("sha256:<hex>") of the image
 * `name` ("HOST/REPO"): its keys sorted, no white space, so that the same
 * predicate gives the same bytes.  `predicate` is only read. */
void intoto_statement(const char *name, const char *digest, const char *predicate_type, json_t *predicate,
                      struct buf *out);

/* The envelope of `payload` signed with `key` over its PAE: {payload,
 * payloadType, signatures: [{keyid: "", sig}]}, keyid empty as cosign
 * leaves it (a hint only: the key is the verifier's). */
int dsse_sign(EVP_PKEY *key, const struct buf *payload, struct buf *envelope, struct derror *err);

struct dsse_envelope {
  char *payload_type;
  struct buf payload; /* decoded */
  struct buf *sigs;   /* decoded signatures */
  size_t n;
};
/* -1 when not an envelope: a JSON object with a string payloadType, a
 * base64 payload and signatures, each with a base64 sig. */
int dsse_parse(const void *data, size_t n, struct dsse_envelope *e, struct derror *err);
void dsse_envelope_free(struct dsse_envelope *e);
/* Does a signature of `e` verify with `key` over PAE(payloadType, payload)? */
bool dsse_verify(EVP_PKEY *key, const struct dsse_envelope *e);

/* A statement checked against the image: `_type`, a subject whose sha256
 * is `digest`'s, a string predicateType (into `*predicate_type`, or NULL)
 * and an object predicate.  0 when it is about the image; 1 when it is a
 * well-formed statement about another digest; -1 when not a statement. The
 * reason in `err` for 1 and -1. */
int intoto_check(const struct buf *payload, const char *digest, char **predicate_type, struct derror *err);

#endif
