/* The build's own pieces, shared by its files (build.c, target.c,
 * outputs.c, write.c, selfcheck.c) and by no other stage: the image of one
 * platform on its way into the archive. */
#ifndef DISTILL_TARGET_H
#define DISTILL_TARGET_H

#include "lib/alloc.h"
#include "lib/cache.h"
#include "lib/compress.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "plan/rootfs.h"
#include "plan/sysroot.h"
#include "image/image.h"
#include "image/scan.h"
#include "build/build.h"
#include "build/layer.h"
#include "build/oci.h"

#include <stdbool.h>
#include <stdint.h>

/* The build's record of what it wrote, in the image reader's terms: every
 * entry of every layer in order, with what the scan of its bytes found as
 * they went into the layer. */
struct record {
  struct image img;
  int layer;     /* index among the image's layers */
  int64_t epoch;
  struct strv *marks; /* also "MARKS WHAT SECRET" per entry, for the cache; or NULL */
};

/* A layer written but maybe not yet out: what its blob's begin and end
 * need, in the compressor's own time. */
struct pending {
  struct oci_archive *arc;
  struct cache *cache;
  enum compression comp;
  int64_t epoch;
  char key[DIGEST_STR_LEN];   /* layer_key: the files as they are here */
  char shape[DIGEST_STR_LEN]; /* layer_shape_key */
  int tmp; /* the cache's copy being written, or -1 */
  char *tmp_name;
  struct strv marks;
  bool from_cache;
};

/* One image of the archive (one per platform): where it is read from, its
 * plan (in the result), its layers on their way, and the build's record of
 * what went into them. */
struct target {
  char *platform;   /* as asked, or NULL: the recipe's own */
  char *sysroot;
  struct sysroot root;
  struct built_image *out; /* in the result: the plan, the layers, the manifest digest */
  struct oci_image img;
  const char *comments[LAYER_MAX]; /* the history's, by layer of the image */
  char *comment_text[LAYER_MAX];
  struct pending pend[LAYER_MAX];
  struct record rec;
};

/* target.c: the images to build, as the request and the recipe say (each
 * with its platform and sysroot), and their plans. */
int targets_choose(const struct build_request *req, struct target **out, size_t *n, struct derror *err);
int target_plan(const struct build_request *req, size_t n, struct target *t, struct cache *cache,
                struct derror *err);
void targets_free(struct target *targets, size_t n);

/* outputs.c: an output that is an input, or the other output, would
 * destroy it (the archive is renamed over its path at the end): refused
 * before the build starts, DERROR_USAGE. */
int outputs_check(const struct build_request *req, const struct target *targets, size_t n, const char *output,
                  struct derror *err);

/* selfcheck.c: the record, kept as layers are written (record_entry is a
 * layer_options.written) or replayed from the cache; then the checks. */
void record_entry(void *ctx, const struct rootfs_entry *e, const struct scan *content);
/* What the scan found of an entry, as the cache keeps it ("MARKS WHAT
 * SECRET"), onto the strv `ctx`: a layer_options.written. */
void record_marks(void *ctx, const struct rootfs_entry *e, const struct scan *content);
int record_replay(struct record *rec, const struct rootfs *fs, rootfs_layer layer, const struct cache_hit *hit);
void record_forget(struct record *rec, size_t from);
int self_check(int fd, const struct oci_image *img, const char *manifest_digest, struct record *rec,
               struct derror *err);

/* write.c: the layers of every target, the documents, the self-check and
 * the SBOMs into res->output, renamed into place only when all is well. */
int write_image(const struct build_request *req, struct cache *cache, struct target *targets, size_t n,
                struct build_result *res, struct derror *err);

#endif
