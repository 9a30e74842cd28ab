/* Before the image gets its name it passes the checks of `distill check`
 * (check_image), run on the build's record of every entry and byte it
 * wrote; the CA bundle is read back from the archive itself.  An image that
 * fails a check is never written. */
#include "build/target.h"
#include "lib/alloc.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "lib/secrets.h"
#include "image/check.h"
#include "image/image.h"
#include "image/scan.h"
#include "build/layer.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

void
record_entry(void *ctx, const struct rootfs_entry *e, const struct scan *content)
{
  struct record *r = ctx;
  struct image_file *f = image_history_add(&r->img);
  static const char types[] = { [ROOTFS_FILE] = 'f', [ROOTFS_DIR] = 'd', [ROOTFS_SYMLINK] = 'l',
                                [ROOTFS_HARDLINK] = 'h' };

  f->path = xstrdup(e->path);
  f->type = types[e->type];
  f->mode = e->mode & 07777;
  f->uid = e->uid;
  f->gid = e->gid;
  f->size = e->type == ROOTFS_FILE ? e->size : 0;
  f->mtime = r->epoch;
  f->target = e->target ? xstrdup(e->target) : NULL;
  f->layer = r->layer;
  f->marks = content->marks;
  f->what = content->what;
  f->secret = content->secret;
  if (r->marks)
    record_marks(r->marks, e, content);
}

void
record_marks(void *ctx, const struct rootfs_entry *e, const struct scan *content)
{
  (void) e;
  strv_push_take(ctx, xasprintf("%u %s %s", content->marks, content->what ? content->what : "-",
                                content->secret ? content->secret : "-"));
}

/* A layer from the cache: its entries told to the record as if written,
 * with the marks the cache kept. -1 when they do not match the layer. */
int
record_replay(struct record *rec, const struct rootfs *fs, rootfs_layer layer, const struct cache_hit *hit)
{
  cleanup_free size_t *idx = NULL;
  size_t n = layer_entries(fs, layer, &idx);

  if (n != hit->marks.n)
    return -1;
  for (size_t k = 0; k < n; k++) {
    struct scan sc;
    char what[64], secret[64];
    scan_init(&sc);
    /* a record from before the credential rules has two fields: rebuilt */
    if (sscanf(hit->marks.items[k], "%u %63s %63s", &sc.marks, what, secret) != 3)
      return -1;
    sc.what = scan_known(what);
    sc.secret = secrets_rule(secret);
    record_entry(rec, &fs->items[idx[k]], &sc);
  }
  return 0;
}

/* The entries told since the record had `from`: a layer given up. */
void
record_forget(struct record *rec, size_t from)
{
  while (rec->img.n_history > from) {
    struct image_file *f = &rec->img.history[--rec->img.n_history];
    free(f->path);
    free(f->target);
  }
}

/* The record made an image as image_read() would have read it. */
static int
record_image(const struct oci_image *oimg, const char *manifest_digest, struct image *img, struct derror *err)
{
  cleanup_free char *config = oci_config_json(oimg);

  img->config = json_loads(config, 0, NULL);
  if (img->config == NULL)
    return derror_set(err, "the image config is not JSON");
  digest_buffer(config, strlen(config), img->config_digest);
  snprintf(img->manifest_digest, sizeof img->manifest_digest, "%s", manifest_digest);
  img->n_layers = oimg->n_layers;
  img->layers = xcalloc(oimg->n_layers ? oimg->n_layers : 1, sizeof *img->layers);
  for (size_t i = 0; i < oimg->n_layers; i++) {
    const struct layer_blob *b = &oimg->layers[i];
    snprintf(img->layers[i].digest, sizeof img->layers[i].digest, "%s", b->digest);
    snprintf(img->layers[i].diff_id, sizeof img->layers[i].diff_id, "%s", b->diff_id);
    img->layers[i].media_type = xstrdup(b->media_type);
    img->layers[i].size = b->size;
    img->layers[i].n_entries = b->n_entries;
  }
  image_merge(img);
  return 0;
}

int
self_check(int fd, const struct oci_image *oimg, const char *manifest_digest, struct record *rec,
           struct derror *err)
{
  char path[64];
  struct check_report rep;
  struct buf failed = { 0 };
  /* the recipe's waivers (checks.allow), recorded in the manifest */
  struct check_options opt = { .allow = oimg->config->waivers, .n_allow = oimg->config->n_waivers };

  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  if (record_image(oimg, manifest_digest, &rec->img, err) < 0)
    return -1;
  check_image(path, &rec->img, false, &opt, &rep, err);
  for (size_t i = 0; i < CHECK_COUNT; i++)
    for (size_t j = 0; rep.results[i].status == CHECK_FAIL && j < rep.results[i].findings.n; j++)
      buf_printf(&failed, "\n  %s: %s", rep.results[i].id, rep.results[i].findings.items[j]);
  if (failed.data)
    derror_set(err, "the image fails distill check:%s", failed.data);
  buf_free(&failed);
  check_report_free(&rep);
  return err->msg ? -1 : 0;
}
