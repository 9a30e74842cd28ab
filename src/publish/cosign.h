/* Signatures of an image as cosign keeps them in a registry (cosign's
 * SIGNATURE_SPEC: tag-based discovery, the OCI image manifest object,
 * simple signing payloads, ECDSA P-256 with SHA-256): an OCI image
 * manifest tagged "sha256-<hex>.sig" in the image's repository, one layer
 * per signature, each layer a payload with the base64 of its DER
 * signature as the annotation dev.cosignproject.cosign/signature.  No
 * transparency log (Rekor) is written or read, and no certificate: keys
 * only. */
#ifndef DISTILL_PUBLISH_COSIGN_H
#define DISTILL_PUBLISH_COSIGN_H

#include "lib/alloc.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "build/oci.h"
#include "publish/attached.h"
#include "publish/ref.h"
#include "publish/registry.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>

struct cosign_signed {
  char digest[DIGEST_STR_LEN]; /* the manifest (or index) the reference names */
  char tag[ATTACHED_TAG_LEN]; /* "sha256-<hex>.sig" */
  bool already;                /* a signature of this key over this payload was there: none added */
  size_t signatures;           /* layers of the signature manifest now */
};

/* Resolve `ref` to its manifest digest (GET, the sha256 of the bytes
 * received), sign its payload (annotations "KEY=VALUE" as "optional")
 * with `key`, and put the signature beside those already in the
 * signature manifest: its payload blob, the config cosign writes (the
 * layers as go-containerregistry's empty image appended to has them), the
 * manifest under the tag. */
int cosign_sign(const struct image_ref *ref, const struct registry_options *o, EVP_PKEY *key,
                const struct strv *annotations, struct cosign_signed *out, struct derror *err);

/* For an archive (build --sign-key): the signature manifest of the image
 * `digest`, one signature by `key` of the payload naming `identity`'s
 * repository, as an extra of the archive's layout (attached.h). */
int cosign_sign_extra(const struct image_ref *identity, const char *digest, EVP_PKEY *key, struct oci_extra *out,
                      struct derror *err);

/* Before an archive is pushed to `ref`: each signature it carries must be
 * for its image `digest` and name `ref`'s repository, or it would verify
 * nowhere; every attached manifest must be about `digest`.  -1 with `err`
 * saying so; `*n` gets how many attached manifests it carries. */
int cosign_check_archive(const struct layout *l, const char *digest, const struct image_ref *ref, size_t *n,
                         struct derror *err);
/* After the image's tag: the archive's signature manifest merged into the
 * registry's (attached_merge), a signature the registry has from the
 * same signer over the same payload not added twice. */
int cosign_push_archive(struct registry *r, const struct image_ref *ref, const struct layout *l, const char *digest,
                        uint64_t *sent, struct derror *err);

enum cosign_status {
  COSIGN_VERIFIED,    /* the key's signature, over a payload that names this image */
  COSIGN_NOT_KEYS,    /* the signature does not verify with the key (another key's, or changed) */
  COSIGN_DAMAGED,     /* not a signature that can be checked: its payload or its annotation */
  COSIGN_FALSE_CLAIM, /* the key's signature over a payload for another image */
};

struct cosign_check {
  char layer[DIGEST_STR_LEN];
  enum cosign_status status;
  char *reason; /* why not verified, or NULL */
};

struct cosign_verified {
  char digest[DIGEST_STR_LEN];
  char tag[ATTACHED_TAG_LEN];
  bool found; /* the registry has a signature manifest for the digest */
  struct cosign_check *checks;
  size_t n, verified, false_claims;
};

/* Check every signature of `ref`'s digest against `key`: `out` filled;
 * -1 with `err` only when the registry could not be asked or has no
 * image under `ref`, or the signature manifest is no manifest.  The
 * verdict is the caller's (cmd_verify.c). */
int cosign_verify(const struct image_ref *ref, const struct registry_options *o, EVP_PKEY *key,
                  struct cosign_verified *out, struct derror *err);
/* The same for the image of an archive, from the signature manifest its
 * layout carries, but for the repository: what the archive calls the
 * image is not signed, so it proves nothing; each payload's repository is
 * checked when the archive is pushed (cosign_check_archive). */
int cosign_verify_archive(const char *path, EVP_PKEY *key, struct cosign_verified *out, struct derror *err);
void cosign_verified_free(struct cosign_verified *v);
const char *cosign_status_name(enum cosign_status s);

#endif
