/* Attestations of an image as cosign keeps them (cosign's
 * ATTESTATION_SPEC): in-toto statements about the image's manifest digest,
 * each in a DSSE envelope (dsse.h) signed with the key `sign` uses, stored
 * as the layers of an OCI image manifest tagged "sha256-<hex>.att" in the
 * image's repository: media type application/vnd.dsse.envelope.v1+json,
 * the annotation predicateType, and cosign's signature annotation empty
 * (the signature is inside the envelope).  No transparency log. */
#ifndef DISTILL_PUBLISH_ATTEST_H
#define DISTILL_PUBLISH_ATTEST_H

#include "lib/digest.h"
#include "lib/error.h"
#include "publish/cosign.h"
#include "publish/ref.h"
#include "publish/registry.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>

/* A statement to attach: its predicate (only read) and type. */
struct attest_predicate {
  const char *type;
  json_t *predicate;
};

struct attest_added {
  char digest[DIGEST_STR_LEN];  /* the manifest (or index) the reference names */
  char tag[ATTACHED_TAG_LEN]; /* "sha256-<hex>.att" */
  size_t added;                 /* envelopes added now */
  size_t attestations;          /* layers of the attestation manifest now */
};

/* Resolve `ref`, make the statement of each predicate about its digest,
 * sign each envelope with `key` and put those that are not there yet (a
 * layer of the same statement whose envelope verifies with the key is
 * that attestation already) beside the others, in one manifest put. */
int attest_attach(const struct image_ref *ref, const struct registry_options *o, EVP_PKEY *key,
                  const struct attest_predicate *preds, size_t n, struct attest_added *out, struct derror *err);

/* For an archive (build --sign-key): the attestation manifest of the
 * image `digest`, a statement of each predicate naming `identity`'s
 * repository, each signed by `key`, as an extra of the archive's layout. */
int attest_extra(const struct image_ref *identity, const char *digest, EVP_PKEY *key, const struct attest_predicate *preds,
                 size_t n, struct oci_extra *out, struct derror *err);

/* After the image's tag: the archive's attestation manifest merged into
 * the registry's (attached_merge), a statement the registry has from the
 * same signer not added twice. */
int attest_push_archive(struct registry *r, const struct image_ref *ref, const struct layout *l, const char *digest,
                        uint64_t *sent, struct derror *err);

struct attest_check {
  char layer[DIGEST_STR_LEN];
  char *predicate_type; /* the statement's, once read; else the layer's annotation, or NULL */
  enum cosign_status status;
  char *reason; /* why not verified, or NULL */
};

struct attest_verified {
  char digest[DIGEST_STR_LEN];
  char tag[ATTACHED_TAG_LEN];
  bool found; /* the registry has an attestation manifest for the digest */
  struct attest_check *checks;
  size_t n, false_claims;
  size_t sbom, provenance; /* verified attestations of each kind */
};

/* Check every envelope of `ref`'s digest: the layer's bytes against its
 * digest, payloadType, a signature over the PAE with `key`, the statement's
 * _type, its subject (the digest) and its predicateType, which must be
 * one distill knows (SPDX, SLSA provenance v1).  -1 with `err` only when
 * the registry could not be asked or has no image under `ref`. */
int attest_verify(const struct image_ref *ref, const struct registry_options *o, EVP_PKEY *key,
                  struct attest_verified *out, struct derror *err);
/* The same for the image of an archive, from the attestation manifest its
 * layout carries. */
int attest_verify_archive(const char *path, EVP_PKEY *key, struct attest_verified *out, struct derror *err);
void attest_verified_free(struct attest_verified *v);

#endif
