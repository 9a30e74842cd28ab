/* What a registry stores, one object at a time: a blob made sure of
 * (HEAD, mount, upload whole or in chunks), a manifest put or fetched.
 * push.c sends an archive's objects through these, sign.c its own. */
#ifndef DISTILL_PUBLISH_STORE_H
#define DISTILL_PUBLISH_STORE_H

#include "lib/alloc.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "publish/registry.h"

#include <stdint.h>

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

/* An object's bytes: `size` bytes of the file `fd` from `offset`, or of
 * `data` when `fd` is -1; `digest` is theirs. */
struct store_object {
  const char *digest;
  int fd;
  const void *data;
  uint64_t offset, size;
};

enum store_outcome { STORE_THERE, STORE_MOUNTED, STORE_UPLOADED };

/* The blob in `repo`: there already (HEAD), mounted from `from` (or
 * NULL), or uploaded, in CHUNK-byte PATCHes when large, once more from
 * the start when an upload fails midway.  The outcome, bytes sent added to
 * `*sent`; -1 with `err` naming the blob and the request. */
int store_blob(struct registry *r, const char *repo, const char *from, const struct store_object *b, uint64_t *sent,
               int verbose, struct derror *err);

/* HEAD: 1 when `repo` has the blob, 0 when not, -1 with `err`. */
int store_has_blob(struct registry *r, const char *repo, const char *digest, struct derror *err);

/* The manifest or index `m` under `name` (a tag or its digest) with its
 * media type; the digest the registry answers with must be m->digest. */
int store_put_manifest(struct registry *r, const char *repo, const char *name, const struct store_object *m,
                       const char *media_type, struct derror *err);

/* GET the manifest `name` (a tag or a digest) of `repo`, accepting
 * `accept`: its bytes (at most REGISTRY_BODY_MAX) in `out`, their sha256
 * in `digest`, which a Docker-Content-Digest header must agree with, and
 * its media type in `*media_type` (or NULL).  1 when found, 0 when the
 * registry has no such manifest (404), -1 with `err`. */
int store_get_manifest(struct registry *r, const char *repo, const char *name, const char *accept, struct buf *out,
                       char digest[DIGEST_STR_LEN], char **media_type, struct derror *err);

/* The digest `ref` names on its registry: the sha256 of its manifest's
 * bytes as they come (an image manifest or index, OCI or Docker), which a
 * digest in the reference must be; "no such image" naming it on a 404. */
struct image_ref;
int store_resolve(struct registry *r, const struct image_ref *ref, char digest[DIGEST_STR_LEN], struct derror *err);

/* GET a blob of `size` bytes into `fd`, from its offset now (truncated
 * back there before a retry), counted and checked against its digest as
 * it comes: -1 with `err` when it is not the blob. */
int store_get_blob_to(struct registry *r, const char *repo, const char *digest, uint64_t size, int fd,
                      struct derror *err);

/* GET a blob of at most `max` bytes, checked against its digest. */
int store_get_blob(struct registry *r, const char *repo, const char *digest, size_t max, struct buf *out,
                   struct derror *err);

#endif
