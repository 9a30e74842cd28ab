/* The archive: the layers of every image (from the cache when it has them,
 * else through one compressor shared by all, kept in the cache once out),
 * the documents, the self-check and the SBOMs, in a temporary file renamed
 * into place only when all is well. */
#include "build/target.h"
#include "lib/alloc.h"
#include "lib/cache.h"
#include "lib/compress.h"
#include "lib/decompress.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "lib/file.h"
#include "lib/lane.h"
#include "lib/timing.h"
#include "recipe/recipe.h"
#include "plan/plan.h"
#include "plan/rootfs.h"
#include "build/build.h"
#include "build/layer.h"
#include "build/oci.h"
#include "build/sbom.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The history's created_by of a layer, which `docker history` shows and
 * `distill inspect` reads the layer's name from ("distill: NAME ..."). */
static char *
layer_comment(const char *name)
{
  if (strcmp(name, "base") == 0)
    return xstrdup("distill: base (accounts, name service, os-release, certificates)");
  if (strcmp(name, "libraries") == 0)
    return xstrdup("distill: libraries (the loader and the shared-library closure)");
  if (strcmp(name, "app") == 0)
    return xstrdup("distill: application (binaries, files, directories, symlinks, paths)");
  return xasprintf("distill: %s (a layer of the recipe)", name);
}

/* How far the layers are, told to the observer. */
struct progress {
  struct build_progress pg;
  const struct build_observer *obs;
};

/* What writing the archive needs at every step. */
struct writer {
  const struct build_request *req;
  struct cache *cache; /* or NULL */
  struct atomic_file out;
  struct oci_archive arc;
  struct compressor *comp;
  struct lane *hash_lane, *scan_lane; /* beside the compressor's threads */
  struct progress progress;
};

static void
progress_tell(struct progress *p)
{
  if (p->obs->progress)
    p->obs->progress(p->obs->ctx, &p->pg);
}

static void
progress_update(void *ctx, uint64_t bytes, size_t entries)
{
  struct progress *p = ctx;

  p->pg.bytes += bytes;
  p->pg.entries += entries;
  progress_tell(p);
}

static void
progress_done(struct progress *p)
{
  if (p->pg.done)
    return;
  p->pg.done = true;
  progress_tell(p);
}

/* The entries and content bytes a layer holds. */
static size_t
layer_size(const struct rootfs *fs, rootfs_layer layer, uint64_t *bytes)
{
  cleanup_free size_t *idx = NULL;
  size_t n = layer_entries(fs, layer, &idx);

  *bytes = 0;
  for (size_t k = 0; k < n; k++)
    if (fs->items[idx[k]].type == ROOTFS_FILE)
      *bytes += fs->items[idx[k]].size;
  return n;
}

/* The start: what all the layers hold. */
static void
progress_start(struct progress *p, const struct target *targets, size_t n)
{
  for (size_t i = 0; i < n; i++)
    for (int l = 0; l < LAYER_MAX; l++) {
      uint64_t bytes;
      if (layer_is_empty(&targets[i].out->plan.fs, (rootfs_layer) l))
        continue;
      p->pg.n_layers++;
      p->pg.total_entries += layer_size(&targets[i].out->plan.fs, (rootfs_layer) l, &bytes);
      p->pg.total_bytes += bytes;
    }
  progress_tell(p);
}

static int
pending_begin(void *ctx, struct derror *err)
{
  struct pending *pl = ctx;

  return oci_archive_blob_begin(pl->arc, err);
}

static int
pending_done(void *ctx, struct layer_blob *b, struct derror *err)
{
  struct pending *pl = ctx;
  struct cache_hit what = { .comp = pl->comp };

  if (oci_archive_blob_end(pl->arc, b->digest, b->size, err) < 0)
    return -1;
  if (pl->tmp >= 0 && !b->tee_failed) {
    snprintf(what.digest, sizeof what.digest, "%s", b->digest);
    snprintf(what.diff_id, sizeof what.diff_id, "%s", b->diff_id);
    what.size = b->size;
    what.marks = pl->marks;
    cache_put(pl->cache, pl->tmp, pl->tmp_name, pl->key, &what);
    struct layer_options lo = { .comp = pl->comp, .epoch = pl->epoch };
    char content[DIGEST_STR_LEN];
    layer_content_key(&lo, b->diff_id, content);
    cache_put_content(pl->cache, content, pl->shape, &what, true);
  } else if (pl->tmp >= 0) {
    cache_discard(pl->tmp, pl->tmp_name);
  }
  pl->tmp = -1;
  pl->tmp_name = NULL;
  return 0;
}

/* A layer the cache has, its claim checked, copied into the archive once
 * the layers before it are out, and told to the record and the progress
 * as if written.  0 also when the cache's copy is unusable: said,
 * forgotten, and pl->from_cache false, for the layer to be written anew. */
static int
put_cached(struct writer *w, const struct plan *p, rootfs_layer l, struct record *rec, struct pending *pl,
           const struct cache_hit *hit, struct layer_blob *b, struct derror *err)
{
  const struct build_observer *obs = &w->req->observer;
  size_t before = rec->img.n_history;
  uint64_t bytes;

  if (compressor_drain(w->comp) < 0) {
    if (err->msg == NULL)
      derror_set(err, "%s: compression failed", compression_library(w->req->comp));
    return -1;
  }
  enum timing_part was = timing_switch(TIMING_CACHE);
  /* a blob is used only once this cache knows it is the layer it claims */
  if (cache_check_claim(w->cache, hit, err) < 0) {
    timing_switch(was);
    if (obs->warning)
      obs->warning(obs->ctx, err->msg, false);
    derror_clear(err);
    return 0;
  }
  int r = oci_archive_blob_begin(pl->arc, err);
  if (r == 0)
    r = cache_copy(w->cache, hit, w->out.fd, w->req->sync, err);
  timing_switch(was);
  if (r == 0 && record_replay(rec, &p->fs, l, hit) < 0)
    r = derror_set(err, "cache: the record of %s does not match the layer", pl->key);
  if (r < 0) {
    if (derror_is(err, DERROR_OUTPUT))
      return -1;
    if (obs->warning)
      obs->warning(obs->ctx, err->msg, false);
    derror_clear(err);
    record_forget(rec, before);
    return oci_archive_blob_cancel(pl->arc, err);
  }
  snprintf(b->digest, sizeof b->digest, "%s", hit->digest);
  snprintf(b->diff_id, sizeof b->diff_id, "%s", hit->diff_id);
  b->size = hit->size;
  b->media_type = compression_media_type(w->req->comp);
  b->n_entries = hit->marks.n;
  layer_size(&p->fs, l, &bytes);
  progress_update(&w->progress, bytes, b->n_entries);
  pl->from_cache = true;
  return oci_archive_blob_end(pl->arc, b->digest, b->size, err);
}

/* A registry's layer of a shape, fetched into a new file of the local
 * cache and its claim checked, on a thread of its own while the layer is
 * hashed here. */
struct prefetch {
  const struct build_remote *rm;
  struct cache *cache;
  const char *shape;
  const char *want; /* a content key, or NULL: the newest of the shape */
  enum compression comp;
  int fd;
  char *name;
  struct layer_blob b;
  char content[DIGEST_STR_LEN];
  int r;      /* the fetch's: 1 fetched, 0 none, -1 failed */
  bool valid; /* and it decompresses to its diff_id */
  struct derror err;
  pthread_t thread;
};

static void *
prefetch_run(void *data)
{
  struct prefetch *f = data;
  char got[DIGEST_STR_LEN];

  f->r = f->rm->fetch(f->rm->ctx, f->shape, f->want, f->fd, &f->b, f->content, &f->err);
  /* checked by this cache before (its blob is not here, its note is) */
  if (f->r == 1 && cache_claim_known(f->cache, f->b.digest, f->b.diff_id, f->comp)) {
    f->valid = true;
    return NULL;
  }
  if (f->r == 1 && decompress_digest(f->fd, f->b.size, f->comp, got, &f->err) == 0)
    f->valid = strcmp(got, f->b.diff_id) == 0;
  if (f->r == 1 && !f->valid && f->err.msg == NULL)
    derror_set(&f->err, "the registry's cache: blob %s decompresses to the layer %s, not to %s as it claims: not used",
               f->b.digest, got, f->b.diff_id);
  return NULL;
}

/* What was prefetched is another layer of the same shape: the one of
 * `content` fetched now, when the registry's cache has it. */
static void
refetch(struct writer *w, struct prefetch *f, const char *content)
{
  cache_discard(f->fd, f->name);
  f->name = NULL;
  f->want = content;
  f->r = 0;
  f->valid = false;
  derror_clear(&f->err);
  if ((f->fd = cache_begin(w->cache, &f->name)) >= 0)
    prefetch_run(f);
}

/* The prefetched layer, when it is the one of `content`: kept in the
 * local cache with this build's own marks and its claim noted, then found
 * there by the layer's key.  1 and `hit`, or 0 (its file dropped). */
static int
prefetched(struct writer *w, struct pending *pl, struct prefetch *f, const char *content, const struct strv *marks,
           struct cache_hit *hit)
{
  if (f->r != 1 || !f->valid || strcmp(f->content, content) != 0) {
    cache_discard(f->fd, f->name);
    return 0;
  }
  struct cache_hit what = { .comp = w->req->comp, .size = f->b.size, .marks = *marks };
  snprintf(what.digest, sizeof what.digest, "%s", f->b.digest);
  snprintf(what.diff_id, sizeof what.diff_id, "%s", f->b.diff_id);
  cache_put(w->cache, f->fd, f->name, pl->key, &what);
  cache_put_content(w->cache, content, pl->shape, &what, true);
  return cache_lookup(w->cache, pl->key, w->req->comp, hit) == 0;
}

/* The layer by its content, when its files are new to the local cache but
 * a layer of its shape was kept there, or in a registry's cache: the layer
 * tarred and hashed (and scanned, for the registry's: its marks are this
 * build's own), then looked for by its content key here, or taken from
 * what was fetched from there meanwhile.  1 and `hit` filled, or 0 (what
 * went wrong said, the layer to be written anew). */
static int
content_hit(struct writer *w, const struct plan *p, rootfs_layer l, const struct layer_options *lo,
            struct pending *pl, struct cache_hit *hit)
{
  const struct build_observer *obs = &w->req->observer;
  const struct build_remote *rm = &w->req->remote;
  struct derror err = DERROR_INIT;
  char diff_id[DIGEST_STR_LEN], content[DIGEST_STR_LEN];
  struct strv marks = { 0 };
  char last[DIGEST_STR_LEN];
  struct cache_hit known = { 0 };
  bool local = cache_knows_shape(w->cache, pl->shape, last);
  /* the record of the last layer of this shape here: its marks, and,
   * when its blob is here too, the registry's is not fetched */
  bool noted = local && cache_content_record(w->cache, last, w->req->comp, &known) == 0;
  bool here = noted && cache_lookup_content(w->cache, last, w->req->comp, hit) == 0;
  struct prefetch f = { .rm = rm, .cache = w->cache, .shape = pl->shape, .comp = w->req->comp, .err = DERROR_INIT };
  bool remote = !here && rm->fetch && rm->knows_shape(rm->ctx, pl->shape)
                && (f.fd = cache_begin(w->cache, &f.name)) >= 0;
  struct layer_options o = *lo;

  if (here)
    cache_hit_free(hit);
  if (!local && !remote)
    return 0;
  bool threaded = remote && pthread_create(&f.thread, NULL, prefetch_run, &f) == 0;
  if (remote && !threaded) /* here, then */
    prefetch_run(&f);
  /* a fetched layer needs its marks: this build's scan, unless the record
   * here knows the layer (then the scan is only a loss when it is
   * another: that layer is compressed anew) */
  o.written = remote && !noted ? record_marks : NULL;
  o.ctx = &marks;
  enum timing_part was = timing_switch(TIMING_CACHE);
  int r = layer_diff_id(&p->fs, l, &o, diff_id, &err) == 0 ? 1 : 0;
  if (r == 1)
    layer_content_key(lo, diff_id, content);
  if (threaded)
    pthread_join(f.thread, NULL);
  if (r == 1 && local) {
    r = cache_lookup_content(w->cache, content, w->req->comp, hit) == 0;
    if (r == 1 && strcmp(hit->diff_id, diff_id) != 0) { /* another layer's record: a miss */
      cache_hit_free(hit);
      r = 0;
    }
  } else {
    r = 0;
  }
  /* the marks of the layer: this build's scan, or the record here of it */
  const struct strv *m = !noted ? &marks : err.msg == NULL && strcmp(content, last) == 0 ? &known.marks : NULL;
  if (remote && r == 0 && err.msg == NULL && m && f.r == 1 && strcmp(f.content, content) != 0)
    refetch(w, &f, content);
  if (remote && r == 0 && err.msg == NULL && m)
    r = prefetched(w, pl, &f, content, m, hit);
  else if (remote)
    cache_discard(f.fd, f.name);
  cache_hit_free(&known);
  timing_switch(was);
  if (obs->warning && (err.msg || f.err.msg))
    obs->warning(obs->ctx, err.msg ? err.msg : f.err.msg, false);
  derror_clear(&err);
  derror_clear(&f.err);
  strv_free(&marks);
  return r;
}

/* One layer into the archive: from the cache when its key is known there
 * (or its content, content_hit), else written by the shared compressor
 * and kept in the cache once out (pending_done). */
static int
put_layer(struct writer *w, const struct plan *p, rootfs_layer l, struct record *rec, struct pending *pl,
          struct layer_blob *b, struct derror *err)
{
  const struct build_request *req = w->req;
  struct layer_options lo = {
    .epoch = req->epoch, .comp = req->comp, .jobs = req->jobs, .written = record_entry, .ctx = rec,
    .progress = progress_update, .progress_ctx = &w->progress, .compressor = w->comp,
    .begin = pending_begin, .done = pending_done, .blob_ctx = pl, .blob_err = err, .durable = req->sync,
    .hash_lane = w->hash_lane, .scan_lane = w->scan_lane,
  };
  struct cache_hit hit;
  bool keyed = w->cache && layer_key(&p->fs, l, &lo, pl->key) == 0;

  pl->tmp = -1;
  pl->epoch = req->epoch;
  if (keyed && cache_lookup(w->cache, pl->key, req->comp, &hit) == 0) {
    int r = put_cached(w, p, l, rec, pl, &hit, b, err);
    cache_hit_free(&hit);
    if (r < 0 || pl->from_cache)
      return r;
  }
  if (keyed)
    layer_shape_key(&p->fs, l, &lo, pl->shape);
  if (keyed && content_hit(w, p, l, &lo, pl, &hit) == 1) {
    int r = put_cached(w, p, l, rec, pl, &hit, b, err);
    if (r == 0 && pl->from_cache) { /* known by its files here from now on */
      hit.by_content = false;
      cache_alias(w->cache, pl->key, &hit);
    }
    cache_hit_free(&hit);
    if (r < 0 || pl->from_cache)
      return r;
  }
  pl->tmp = keyed ? cache_begin(w->cache, &pl->tmp_name) : -1;
  lo.tee_fd = pl->tmp;
  rec->marks = pl->tmp >= 0 ? &pl->marks : NULL;
  int r = layer_write(&p->fs, l, &lo, w->out.fd, b, err);
  rec->marks = NULL;
  return r;
}

/* The image of a target as the OCI writer takes it. */
static void
target_image(const struct build_request *req, const struct build_result *res, struct target *t)
{
  struct oci_image *img = &t->img;
  const struct plan *p = &t->out->plan;

  t->rec.epoch = req->epoch;
  img->name = res->name;
  img->tag = res->tag;
  img->arch = p->arch;
  img->variant = p->variant;
  img->config = &p->config;
  img->epoch = req->epoch;
  img->layers = t->out->layers;
  img->layer_comments = t->comments;
}

/* The layers of one target into the archive. */
static int
put_layers(struct writer *w, struct target *t, struct derror *err)
{
  const struct plan *p = &t->out->plan;

  for (int l = 0; l < (int) p->fs.layers.n; l++) {
    if (layer_is_empty(&p->fs, (rootfs_layer) l))
      continue;
    struct pending *pl = &t->pend[t->img.n_layers];
    pl->arc = &w->arc;
    pl->cache = w->cache;
    pl->comp = w->req->comp;
    t->rec.layer = (int) t->img.n_layers;
    w->progress.pg.layer++;
    if (put_layer(w, p, (rootfs_layer) l, &t->rec, pl, &t->out->layers[t->img.n_layers], err) < 0)
      return -1;
    t->comment_text[t->img.n_layers] = layer_comment(p->fs.layers.names[l]);
    t->comments[t->img.n_layers] = t->comment_text[t->img.n_layers];
    t->img.n_layers++;
  }
  return 0;
}

/* Every layer of every target, out once this returns. */
static int
write_layers(struct writer *w, struct target *targets, size_t n, struct build_result *res, struct derror *err)
{
  const struct build_request *req = w->req;

  if (oci_archive_open(&w->arc, w->out.fd, req->epoch, err) < 0)
    return -1;
  progress_start(&w->progress, targets, n);
  w->comp = compressor_new(req->comp, req->jobs);
  w->hash_lane = req->jobs > 1 ? lane_new() : NULL;
  w->scan_lane = req->jobs > 1 ? lane_new() : NULL;
  if (w->comp == NULL)
    return derror_set(err, "%s: cannot start compression", compression_library(req->comp));
  for (size_t i = 0; i < n; i++)
    if (put_layers(w, &targets[i], err) < 0)
      return -1;
  if (compressor_drain(w->comp) < 0) {
    if (err->msg == NULL)
      derror_set(err, "%s: compression failed", compression_library(req->comp));
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    targets[i].out->n_layers = targets[i].img.n_layers;
    for (size_t k = 0; k < targets[i].img.n_layers; k++)
      targets[i].out->from_cache[k] = targets[i].pend[k].from_cache;
  }
  if (req->observer.layers_out)
    req->observer.layers_out(req->observer.ctx, res);
  progress_done(&w->progress);
  return 0;
}

/* The manifests, what the caller attaches to them, the documents and the
 * end of the archive; then the check of each image as written. */
static int
write_documents(struct writer *w, struct target *targets, size_t n, struct build_result *res, struct derror *err)
{
  struct oci_image *imgs = xcalloc(n, sizeof *imgs);
  char (*digests)[DIGEST_STR_LEN] = xcalloc(n, sizeof *digests);
  const struct build_attach *at = &w->req->attach;
  struct oci_extra *extras = NULL;
  size_t n_extras = 0;
  int ret;

  for (size_t i = 0; i < n; i++)
    imgs[i] = targets[i].img;
  ret = oci_archive_manifests(&w->arc, imgs, n, digests, res->digest, err);
  for (size_t i = 0; ret == 0 && i < n; i++)
    memcpy(targets[i].out->manifest_digest, digests[i], DIGEST_STR_LEN);
  if (ret == 0 && at->fn)
    ret = at->fn(at->ctx, w->req, res, &extras, &n_extras, err);
  if (ret == 0)
    ret = oci_archive_close(&w->arc, imgs, extras, n_extras, err);
  for (size_t i = 0; ret == 0 && i < n; i++) {
    ret = self_check(w->out.fd, &targets[i].img, digests[i], &targets[i].rec, err);
    if (ret < 0 && n > 1)
      derror_wrap(err, "linux/%s", targets[i].img.arch);
  }
  for (size_t i = 0; i < n_extras; i++)
    oci_extra_free(&extras[i]);
  free(extras);
  free(imgs);
  free(digests);
  return ret;
}

/* The SBOMs before the image gets its name: when one cannot be written,
 * neither is the image. */
static int
write_sboms(const struct build_request *req, const struct target *targets, size_t n, const struct build_result *res,
            struct derror *err)
{
  /* named as the image is: the recipe's name and tag, or the request's */
  struct sbom_image named = { res->name, res->tag };

  for (size_t i = 0; res->sbom && i < n; i++) {
    cleanup_free char *path = build_sbom_path(res->sbom, targets[i].img.arch, targets[i].img.variant, n);
    if (sbom_write(path, &named, &targets[i].out->plan, targets[i].out->manifest_digest, req->epoch, req->sync,
                   err) < 0)
      return -1;
  }
  return 0;
}

int
write_image(const struct build_request *req, struct cache *cache, struct target *targets, size_t n,
            struct build_result *res, struct derror *err)
{
  struct writer w = { .req = req, .cache = cache, .progress.obs = &req->observer };

  for (size_t i = 0; i < n; i++)
    target_image(req, res, &targets[i]);
  if (cache_output_open(cache, res->output, &w.out, err) < 0)
    return -1;
  w.out.durable = req->sync;
  int r = write_layers(&w, targets, n, res, err);
  enum timing_part was = timing_switch(TIMING_FINISH);
  if (r == 0)
    r = write_documents(&w, targets, n, res, err) < 0 || write_sboms(req, targets, n, res, err) < 0 ? -1 : 0;
  timing_switch(was);
  if (r < 0) {
    progress_done(&w.progress);
    derror_wrap(err, "write `%s`", res->output);
    oci_archive_abort(&w.arc);
    atomic_abort(&w.out);
  } else {
    r = atomic_commit(&w.out, err);
  }
  compressor_free(w.comp); /* before the lanes: its streams' ends may still hash */
  lane_free(w.hash_lane);
  lane_free(w.scan_lane);
  return r;
}
