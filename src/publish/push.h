/* distill push: an image archive's blobs, manifests and tag to a
 * registry, its bytes as they are in the archive. */
#ifndef DISTILL_PUBLISH_PUSH_H
#define DISTILL_PUBLISH_PUSH_H

#include "lib/digest.h"
#include "lib/error.h"
#include "publish/ref.h"
#include "publish/registry.h"

#include <stdbool.h>
#include <stdint.h>

struct push_report {
  char digest[DIGEST_STR_LEN]; /* of what the tag names: the archive's manifest or index */
  size_t blobs, uploaded, mounted;
  size_t attached;             /* signature and attestation manifests the archive carried */
  uint64_t bytes_sent;
};

/* Blobs first (each looked for with HEAD, mounted from `o->from` when
 * given, else uploaded: whole, or in chunks when large), then the
 * manifests of a multi-platform index by digest, then what the archive's
 * index.json names, under the reference's tag (or digest).  A tag is put
 * last, so it never names what the registry does not have.  Then the
 * signatures and attestations the archive carries (attached.h), merged
 * with the registry's; refused before anything is sent when a signature
 * names another repository.  With `image_only`, the image alone. */
int push_archive(const char *archive, const struct image_ref *ref, const struct registry_options *o,
                 bool image_only, struct push_report *rep, struct derror *err);

#endif
