/* cosign's "simple signing" payload (containers-signature(5)'s JSON
 * format, cosign's critical.type), written byte for byte as cosign writes
 * it (Go's encoding/json of sigstore's payload.SimpleContainerImage) and
 * read as cosign reads it. */
#ifndef DISTILL_PUBLISH_SIMPLESIGN_H
#define DISTILL_PUBLISH_SIMPLESIGN_H

#include "lib/alloc.h"
#include "lib/error.h"
#include "publish/ref.h"

#include <stdbool.h>

#define SIMPLESIGN_TYPE "cosign container image signature"
#define MT_SIMPLESIGN "application/vnd.dev.cosign.simplesigning.v1+json"
#define COSIGN_SIGNATURE_ANNOTATION "dev.cosignproject.cosign/signature"

/* The payload for the manifest `digest` of the image `identity`
 * ("HOST/REPO"), with `annotations` ("KEY=VALUE" each, the last of a key
 * kept) as "optional", or null when there are none.  -1 when an
 * annotation has no '=' or an empty key, or is not UTF-8. */
int simplesign_payload(const char *identity, const char *digest, const struct strv *annotations, struct buf *out,
                       struct derror *err);

/* What cosign writes as critical.identity.docker-reference for `ref`:
 * go-containerregistry's repository name, "HOST/REPO" (Docker Hub's host
 * as "index.docker.io"). */
char *simplesign_identity(const struct image_ref *ref);
/* Does `claimed` name the repository of `ref`: HOST/REPO (Docker Hub's as
 * index.docker.io, docker.io or none), alone or with a :TAG or @DIGEST? */
bool simplesign_identity_matches(const char *claimed, const struct image_ref *ref);

struct simplesign_claims {
  char *identity; /* critical.identity.docker-reference */
  char *digest;   /* critical.image.docker-manifest-digest */
};
/* A payload's claims; -1 when it is not a JSON object of the format (a
 * key twice, no critical, a critical.type other than cosign's).  Keys are
 * matched as Go's encoding/json matches them: exactly, else ignoring
 * case. */
int simplesign_parse(const void *data, size_t n, struct simplesign_claims *c, struct derror *err);
void simplesign_claims_free(struct simplesign_claims *c);

/* Standard base64, with padding. */
char *base64_encode(const void *data, size_t n);
/* -1 when `text` is not standard base64. */
int base64_decode(const char *text, struct buf *out);

#endif
