/* A layer cache kept in a registry (build --cache-from, --cache-to):
 * under a tag of a repository (docker://HOST/REPO:TAG), an OCI image
 * manifest whose config (media type REMOTE_CACHE_CONFIG) lists entries,
 * and whose layers are the entries' blobs, so that the registry keeps
 * every blob an entry names and refuses a manifest that names a missing
 * one.  An entry: a layer's content key and shape key (build/layer.h),
 * its diff_id, and its blob (digest, size, media type).
 *
 * What a registry's cache says is a claim: a blob is checked against its
 * digest as it comes, and the layer cache checks once that it decompresses
 * to its diff_id before using it (lib/cache.h); the content key is the
 * builder's own, made from its own files. */
#ifndef DISTILL_PUBLISH_REMOTE_CACHE_H
#define DISTILL_PUBLISH_REMOTE_CACHE_H

#include "lib/digest.h"
#include "lib/error.h"
#include "publish/registry.h"

#include <stdbool.h>
#include <stdint.h>

#define REMOTE_CACHE_CONFIG "application/vnd.distill.cache.config.v1+json"
/* The entries a cache keeps, the newest first. */
#define REMOTE_CACHE_MAX 512

struct remote_entry {
  char content_key[DIGEST_STR_LEN], shape_key[DIGEST_STR_LEN];
  char diff_id[DIGEST_STR_LEN], digest[DIGEST_STR_LEN];
  uint64_t size;
  char *media_type;
};

struct remote_cache;

/* The caches of `refs` read (a tag that is not there is an empty cache).
 * One that cannot be read now (the registry cannot be reached, refuses
 * the credentials, fails) is left out, why pushed onto `warnings`: a build
 * goes on without it.  -1 with `err` when a tag holds something else than
 * a distill cache. */
int remote_cache_open(char *const *refs, size_t n, const struct registry_options *o, struct strv *warnings,
                      struct remote_cache **out, struct derror *err);
void remote_cache_close(struct remote_cache *rc);
/* Does one of the caches have a layer of this shape? */
bool remote_cache_knows_shape(const struct remote_cache *rc, const char *shape_key);
/* The blob of the entry of `content_key`, or when that is NULL of the
 * newest entry of the shape `shape_key` (the first cache's first), into
 * `fd` (from its offset), checked against its digest as it comes: 1 and
 * `*entry`, 0 when no cache has one, -1 with `err`. */
int remote_cache_fetch(struct remote_cache *rc, const char *shape_key, const char *content_key, int fd,
                       const struct remote_entry **entry, struct derror *err);
/* The repository of `host` a fetch took blobs from (for push to mount
 * them), or NULL. */
const char *remote_cache_used_repo(const struct remote_cache *rc, const char *host);

/* --cache-to: the blobs of `entries`, from the image archive `archive`,
 * onto `ref`'s repository (mounted from `from` when given and the
 * registry can), then its manifest: these entries, then those the tag had
 * whose blobs are still there, up to REMOTE_CACHE_MAX.  Several writers:
 * the last one's manifest stays; none names a blob that is not there. */
int remote_cache_put(const char *ref, const struct registry_options *o, const char *archive,
                     const struct remote_entry *entries, size_t n, struct derror *err);
void remote_entry_free(struct remote_entry *e);

/* The entries of a cache's config (`where` names it in messages), those
 * that cannot be used left out: -1 with `err` when it is not a cache's
 * config.  `*out` is the caller's, freed entry by entry. */
int remote_cache_parse(const struct buf *text, const char *where, struct remote_entry **out, size_t *n,
                       struct derror *err);

#endif
