/* containers' own signatures, the "simple signing" format of
 * containers-signature(5) that podman, skopeo and CRI-O check with a
 * policy's `signedBy` (GPGKeys): an "atomic container signature" payload
 * in an OpenPGP signed message, made by GnuPG through gpgme as
 * containers/image makes it (signature/mechanism_gpgme.go), kept in a
 * lookaside storage (lookaside.h). */
#ifndef DISTILL_PUBLISH_GPGSIGN_H
#define DISTILL_PUBLISH_GPGSIGN_H

#include "lib/alloc.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "publish/ref.h"
#include "publish/registry.h"

#include <stdint.h>

#define ATOMIC_SIGNATURE_TYPE "atomic container signature"

/* The payload for the manifest `digest` of the image `identity`
 * ("HOST/REPO:TAG"), as containers/image writes it (Go's encoding/json of
 * maps: keys sorted, compact): critical.type, .image.docker-manifest-
 * digest, .identity.docker-reference; optional.creator and .timestamp
 * (seconds since the epoch). */
void gpgsign_payload(const char *identity, const char *digest, const char *creator, int64_t timestamp,
                     struct buf *out);

/* What the payload names as the image's identity: the reference in full,
 * "HOST/REPO:TAG", or "HOST/REPO@DIGEST" when it has a digest and no
 * tag; a policy's default signedIdentity (matchRepoDigestOrExact) takes a
 * signature whose identity is the reference pulled. */
char *gpgsign_identity(const struct image_ref *ref);

/* `payload` signed by the key `key` (a fingerprint, or anything GnuPG
 * takes as a key's name) of the keyring of $GNUPGHOME: an OpenPGP signed
 * message (not a detached signature), binary.  `passphrase`, when not
 * NULL, is given to gpg-agent by loopback; else the agent asks as it
 * would for gpg. */
int gpgsign_sign(const char *key, const char *passphrase, const struct buf *payload, struct buf *sig,
                 struct derror *err);

struct gpgsign_request {
  const char *key;          /* --gpg-key */
  const char *passphrase;   /* or NULL */
  const char *lookaside;    /* --lookaside DIR, or NULL: registries.d's staging URL */
  const char *registries_d; /* --registries-d DIR, or NULL: the usual directories */
  const char *creator;      /* optional.creator: "distill VERSION" */
};

struct gpgsign_result {
  char digest[DIGEST_STR_LEN]; /* the manifest (or index) the reference names */
  char *path;                  /* the signature file written */
};

/* Resolve `ref` to its manifest digest on its registry (the sha256 of
 * the bytes served), sign the payload for it and write the signature into
 * the lookaside storage, beside the signatures already there. */
int gpgsign_image(const struct image_ref *ref, const struct registry_options *o, const struct gpgsign_request *req,
                  struct gpgsign_result *out, struct derror *err);
void gpgsign_result_free(struct gpgsign_result *r);

#endif
