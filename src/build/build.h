/* The build: a recipe to one image archive (DESIGN.md sections 3-5), one
 * image per platform, through the plan, the layers (from the cache when it
 * has them), the build's own `distill check` of what it wrote, and the
 * archive renamed into place; with an SBOM beside it when asked.  What the
 * command line decides comes in a request; what it prints comes back in the
 * result and, as the build goes, through an observer.  Messages name the
 * request's fields by their options (--platform, --sysroot, -o, --sbom). */
#ifndef DISTILL_BUILD_H
#define DISTILL_BUILD_H

#include "lib/alloc.h"
#include "lib/compress.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "recipe/recipe.h"
#include "plan/plan.h"
#include "plan/rootfs.h"
#include "build/layer.h"
#include "build/oci.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How far the layers are: content bytes and entries gone in, of all. */
struct build_progress {
  int layer, n_layers;          /* the layer being written, from 1 */
  size_t entries, total_entries;
  uint64_t bytes, total_bytes;
  bool done;                    /* the last call: the layers are out, or the build failed */
};

struct build_result;
struct build_request;

/* What the build tells as it goes; each callback may be NULL. */
struct build_observer {
  void *ctx;
  /* For stderr: what an image may lack, a cache left out or unusable.
   * `detail`: only for whoever asked for detail (-v). */
  void (*warning)(void *ctx, const char *msg, bool detail);
  /* An image planned (after its warnings), before anything is written. */
  void (*planned)(void *ctx, const struct plan *p);
  /* Layers going out: first with nothing done yet (the start), then as
   * content goes in, very often (a display should throttle itself). */
  void (*progress)(void *ctx, const struct build_progress *pg);
  /* Every layer of every image out, before the archive gets its
   * documents: res->images[i].layers are filled in. */
  void (*layers_out)(void *ctx, const struct build_result *res);
};

/* Manifests the archive carries beside the images: their signatures and
 * attestations.  Called once every image's manifest is written, `res`
 * holding their digests (res->digest, images[i].manifest_digest), names
 * and plans, before index.json: `*extras` (malloc'd, n of them) are put
 * into the archive and freed by the build. */
struct build_attach {
  void *ctx;
  int (*fn)(void *ctx, const struct build_request *req, const struct build_result *res, struct oci_extra **extras,
            size_t *n, struct derror *err);
};

/* Layers a registry keeps (--cache-from), asked for a layer whose files
 * are new to the local cache and whose shape the local cache does not
 * know but the registry's does: its blob is fetched, and its claim (it
 * decompresses to its diff_id) checked, while the layer is tarred, hashed
 * and scanned here; it is used when its content key is the layer's. */
struct build_remote {
  void *ctx;
  bool (*knows_shape)(void *ctx, const char *shape_key);
  /* The blob of the entry of `want` (a content key), or when that is NULL
   * of the newest entry of the shape, into `fd`: 1 with its digest,
   * diff_id and size in `b` and its content key, 0 when there is none, -1
   * with `err`.  Called on a thread of the build's, one call at a time. */
  int (*fetch)(void *ctx, const char *shape_key, const char *want, int fd, struct layer_blob *b,
               char content_key[DIGEST_STR_LEN], struct derror *err);
};

struct build_request {
  const struct recipe *recipe; /* only read */
  const char *name, *tag;  /* the image's names; NULL: the recipe's */
  const char *output;      /* the archive; NULL: NAME.tar, NAME's last component */
  const char *sbom;        /* an SPDX document to write too; NULL: the recipe's sbom, if any */
  const char *provenance;  /* a file the caller writes after the build (NULL: none), checked
                            * with the outputs: it must not be an input or another output */
  /* As given to --platform: none, the recipe's platform (or its platforms
   * map, one image each); one, that platform (the recipe's must agree);
   * more, one image each (duplicates dropped), each from its sysroot in
   * the recipe's platforms map. */
  struct strv platforms;
  const char *sysroot;     /* NULL: the recipe's, or the platform's in its platforms map */
  const char *context;     /* where relative sources must stay; NULL: the recipe's directory */
  int64_t epoch;           /* every time in the image */
  enum compression comp;   /* at the level compression_level() says */
  unsigned jobs;           /* compression threads; the bytes do not depend on it */
  const char *cache_dir;   /* NULL: the default cache, left out when it cannot be used */
  bool no_cache;
  bool sync;               /* the archive and SBOMs on the disk before build_image returns */
  struct build_observer observer;
  struct build_attach attach; /* fn NULL: nothing attached */
  struct build_remote remote; /* fetch NULL: no registry's cache */
};

/* One image of the archive: one per platform. */
struct built_image {
  struct plan plan; /* its entries, config, packages and hints */
  struct layer_blob layers[LAYER_MAX];
  bool from_cache[LAYER_MAX];
  size_t n_layers;
  char manifest_digest[DIGEST_STR_LEN];
};

struct build_result {
  char *output;   /* the archive written */
  char *sbom;     /* the SBOM written (one per platform when several: build_sbom_path), or NULL */
  char *name, *tag;
  char digest[DIGEST_STR_LEN]; /* what index.json points at: the manifest, or the image index */
  struct built_image *images;
  size_t n_images;
};

/* -1 with `err` set on failure, and `res` then empty; the previous output
 * and SBOM are untouched.  An output that would overwrite an input, or the
 * other output, is refused before anything is read, with code
 * DERROR_USAGE. */
int build_image(const struct build_request *req, struct build_result *res, struct derror *err);
void build_result_free(struct build_result *res);

/* Where the SBOM of one platform goes when there are several:
 * app.spdx.json -> app.linux-arm64.spdx.json. */
char *build_sbom_path(const char *path, const char *arch, const char *variant, size_t n_images);

#endif
