/* What cosign attaches to an image: its signature manifest, tagged
 * "sha256-<hex>.sig", and its attestation manifest, "sha256-<hex>.att",
 * each an OCI image manifest whose layers are signatures or DSSE
 * envelopes.  They are kept in one of two places:
 *   - a registry repository, under those tags, beside the image;
 *   - the OCI layout of an image archive: the entries of an image index of
 *     their own, which index.json's image names (oci.h: not index.json
 *     itself, where consumers would take them for images), each with its
 *     tag as org.opencontainers.image.ref.name and cosign's "kind"
 *     annotation, as `cosign save` lists them; such entries of index.json
 *     itself (a layout cosign wrote) are read too.  `distill push`
 *     publishes them with the image.
 * cosign.c and attest.c sign and verify through here; push.c publishes
 * an archive's. */
#ifndef DISTILL_PUBLISH_ATTACHED_H
#define DISTILL_PUBLISH_ATTACHED_H

#include "lib/alloc.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "build/oci.h"
#include "publish/layout.h"
#include "publish/ref.h"
#include "publish/registry.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#define ATTACHED_TAG_LEN (DIGEST_STR_LEN + 4)

/* "sha256-<hex>.sig" or ".att" for the image `digest`. */
void attached_tag(const char *digest, const char *suffix, char tag[ATTACHED_TAG_LEN]);
/* Is `name` such a tag? */
bool attached_is_tag(const char *name);

/* Where attached manifests are read from: a repository (r and ref) or an
 * archive's layout (l). */
struct attached_source {
  struct registry *r;
  const struct image_ref *ref;
  const struct layout *l;
};

/* The manifest under `tag`, parsed: NULL in `*m` when there is none; -1
 * when it cannot be read or is not an image manifest with layers. */
int attached_manifest(const struct attached_source *s, const char *tag, json_t **m, struct derror *err);
/* A blob of at most `max` bytes, checked against its digest. */
int attached_blob(const struct attached_source *s, const char *digest, size_t max, struct buf *out,
                  struct derror *err);

/* An archive's image, for verify: its layout opened, and the digest its
 * index.json names for the image (the one entry that is not attached).
 * -1 with `err`. */
int attached_archive_open(const char *path, struct layout *l, char digest[DIGEST_STR_LEN], struct derror *err);
/* The descriptors of the attached manifests an archive carries, in a new
 * array: the index.json entries so tagged (a layout cosign wrote) and the
 * entries of the index that index.json's image names in
 * OCI_EXTRAS_ANNOTATION (build --sign-key's).  NULL with `err`. */
json_t *attached_archive_list(const struct layout *l, struct derror *err);
/* The index.json entry of the image, or NULL with `err`: exactly one entry
 * is not an attached manifest. */
json_t *attached_archive_image(const struct layout *l, struct derror *err);

/* A new, empty attached manifest. */
json_t *attached_new_manifest(void);
/* The config go-containerregistry writes for the manifest `m`'s layers
 * (cosign's), set as its config; `config` gets its bytes, `text` the
 * manifest's (compact), `digest` theirs.  Docker's config media type when
 * `m` is a Docker manifest. */
void attached_finish(json_t *m, struct buf *config, struct buf *text, char digest[DIGEST_STR_LEN]);
/* The finished manifest `m` put under `tag`, after its config; its layers'
 * blobs must be there already. */
int attached_put(struct registry *r, const struct image_ref *ref, const char *tag, json_t *m, struct derror *err);
/* `m` with its blobs (`layers`, in the order of its layers; taken),
 * finished, as an extra of the archive under `tag`, of `kind`, signed by
 * `signer` (OCI_SIGNER_ANNOTATION). */
void attached_extra(json_t *m, struct buf *layers, size_t n, const char *tag, const char *kind, EVP_PKEY *signer,
                    struct oci_extra *out);

/* The public key of whoever signed an archive's attached manifest `tag`:
 * its descriptor's OCI_SIGNER_ANNOTATION (base64 of the
 * SubjectPublicKeyInfo), so that a push can tell a signature already on
 * the registry from a new one; NULL when it has none.  Only the archive's
 * index of them, which is not pushed, carries it. */
EVP_PKEY *attached_signer(const struct layout *l, const char *tag);
char *attached_signer_text(EVP_PKEY *key);

/* Has `layers` a layer of the same digest and annotations as `layer`? */
bool attached_has_layer(json_t *layers, json_t *layer);

/* How an archive's attached manifest of one kind ("sig", "att") joins
 * the registry's: whether a layer of the archive (its blob of at most
 * `max` bytes read) is there already among `layers`, read from `s` when
 * needed, `signer` the archive's (or NULL): 1 yes, 0 no, -1. */
struct attached_merger {
  const char *suffix;
  size_t max;
  int (*there)(EVP_PKEY *signer, const struct attached_source *s, json_t *layers, json_t *layer,
               const struct buf *blob, struct derror *err);
};
/* The archive's manifest of that kind for the image `digest`, when it
 * carries one, merged into the registry's under the same tag: each layer
 * not there already appended (so that signatures made elsewhere are kept)
 * after its blob is uploaded; the manifest put when one was.  Bytes sent
 * added to `*sent`. */
int attached_merge(struct registry *r, const struct image_ref *ref, const struct layout *l, const char *digest,
                   const struct attached_merger *how, uint64_t *sent, struct derror *err);

#endif
