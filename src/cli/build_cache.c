/* build --cache-from and --cache-to: a layer cache kept in a registry
 * (publish/remote_cache.h), read before the build as its build_remote and
 * written after it (and after its push) from the archive. */
#include "config.h"
#include "cli/commands.h"

#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "build/build.h"
#include "build/layer.h"

#include <stdio.h>
#include <string.h>

#if DISTILL_REGISTRY
#include "publish/ref.h"
#include "publish/remote_cache.h"

static bool
knows_shape(void *ctx, const char *shape_key)
{
  return remote_cache_knows_shape(ctx, shape_key);
}

static int
fetch(void *ctx, const char *shape_key, const char *want, int fd, struct layer_blob *b,
      char content_key[DIGEST_STR_LEN], struct derror *err)
{
  const struct remote_entry *e;
  int r = remote_cache_fetch(ctx, shape_key, want, fd, &e, err);

  if (r == 1) {
    memcpy(b->digest, e->digest, DIGEST_STR_LEN);
    memcpy(b->diff_id, e->diff_id, DIGEST_STR_LEN);
    memcpy(content_key, e->content_key, DIGEST_STR_LEN);
    b->size = e->size;
  }
  return r;
}

static struct registry_options
options_of(const struct registry_args *a)
{
  return (struct registry_options){ .authfile = a->authfile, .cert_dir = a->cert_dir, .insecure = a->insecure };
}

int
build_cache_from(const struct strv *refs, const struct registry_args *a, struct remote_cache **rc,
                 struct build_remote *remote)
{
  struct derror err = DERROR_INIT;
  struct registry_options o = options_of(a);
  struct strv warnings = { 0 };

  *rc = NULL;
  if (refs->n == 0)
    return EXIT_OK;
  int r = remote_cache_open(refs->items, refs->n, &o, &warnings, rc, &err);
  for (size_t i = 0; i < warnings.n; i++)
    fprintf(stderr, "distill: warning: %s\n", warnings.items[i]);
  strv_free(&warnings);
  if (r < 0) {
    fprintf(stderr, "distill: build: %s\n", err.msg);
    derror_clear(&err);
    return EXIT_FAIL;
  }
  *remote = (struct build_remote){ .ctx = *rc, .knows_shape = knows_shape, .fetch = fetch };
  return EXIT_OK;
}

void
build_cache_close(struct remote_cache *rc)
{
  remote_cache_close(rc);
}

const char *
build_cache_mount(struct remote_cache *rc, const char *push)
{
  struct image_ref ref = { 0 };
  struct derror err = DERROR_INIT;
  const char *repo = NULL;

  if (rc && push && image_ref_parse(push, &ref, &err) == 0)
    repo = remote_cache_used_repo(rc, ref.host);
  derror_clear(&err);
  image_ref_free(&ref);
  return repo;
}

/* Each layer of each image: an entry. */
static struct remote_entry *
entries_of(const struct build_request *req, const struct build_result *res, size_t *n)
{
  struct remote_entry *all = xcalloc(res->n_images * LAYER_MAX + 1, sizeof *all);
  struct layer_options lo = { .comp = req->comp, .epoch = req->epoch };

  *n = 0;
  for (size_t i = 0; i < res->n_images; i++) {
    const struct built_image *img = &res->images[i];
    for (int l = 0, k = 0; l < LAYER_MAX && (size_t) k < img->n_layers; l++) {
      if (layer_is_empty(&img->plan.fs, (rootfs_layer) l))
        continue;
      struct remote_entry *e = &all[(*n)++];
      const struct layer_blob *b = &img->layers[k++];
      layer_shape_key(&img->plan.fs, (rootfs_layer) l, &lo, e->shape_key);
      layer_content_key(&lo, b->diff_id, e->content_key);
      memcpy(e->diff_id, b->diff_id, DIGEST_STR_LEN);
      memcpy(e->digest, b->digest, DIGEST_STR_LEN);
      e->size = b->size;
      e->media_type = xstrdup(b->media_type);
    }
  }
  return all;
}

/* The repository of `push` when it is on `ref`'s registry, or NULL. */
static char *
same_registry(const char *ref, const char *push)
{
  struct image_ref a = { 0 }, b = { 0 };
  struct derror err = DERROR_INIT;
  char *repo = NULL;

  if (push && image_ref_parse(ref, &a, &err) == 0 && image_ref_parse(push, &b, &err) == 0
      && strcmp(a.host, b.host) == 0)
    repo = xstrdup(b.repo);
  derror_clear(&err);
  image_ref_free(&a);
  image_ref_free(&b);
  return repo;
}

int
build_cache_to(const char *ref, const struct registry_args *a, const char *push, const struct build_request *req,
               const struct build_result *res)
{
  struct derror err = DERROR_INIT;
  struct registry_options o = options_of(a);
  size_t n;
  struct remote_entry *entries = entries_of(req, res, &n);
  cleanup_free char *from = same_registry(ref, push);

  o.from = from;
  int r = remote_cache_put(ref, &o, res->output, entries, n, &err);
  for (size_t i = 0; i < n; i++)
    remote_entry_free(&entries[i]);
  free(entries);
  if (r == 0)
    return EXIT_OK;
  fprintf(stderr, "distill: build: %s\n", err.msg);
  derror_clear(&err);
  return EXIT_FAIL;
}
#else
int
build_cache_from(const struct strv *refs, const struct registry_args *a, struct remote_cache **rc,
                 struct build_remote *remote)
{
  (void) a, (void) remote;
  *rc = NULL;
  return refs->n ? no_registry("build") : EXIT_OK;
}

void
build_cache_close(struct remote_cache *rc)
{
  (void) rc;
}

const char *
build_cache_mount(struct remote_cache *rc, const char *push)
{
  (void) rc, (void) push;
  return NULL;
}

int
build_cache_to(const char *ref, const struct registry_args *a, const char *push, const struct build_request *req,
               const struct build_result *res)
{
  (void) ref, (void) a, (void) push, (void) req, (void) res;
  return no_registry("build");
}
#endif
