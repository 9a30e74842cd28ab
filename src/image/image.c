/* Reading an image archive: the members, the manifest, each layer into
 * the history, the merged tree; and looking names up in that tree. */
#include "image/image.h"
#include "image/reader.h"
#include "lib/alloc.h"
#include "lib/path.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SYMLINK_HOPS 40

/* The verified layers of the archive's image, in order, into the history,
 * then merged. */
static int
read_layers(struct reader *rd, const struct plan_layers *pl, struct derror *err)
{
  struct image *img = rd->img;
  json_t *diff_ids = json_object_get(json_object_get(img->config, "rootfs"), "diff_ids");

  if (json_array_size(diff_ids) != img->n_layers)
    return derror_set(err, "`%s`: the config lists %zu diff_ids for %zu layers", rd->archive,
                      json_array_size(diff_ids), img->n_layers);
  for (size_t i = 0; i < img->n_layers; i++) {
    /* a diff_id that is no string would verify nothing */
    const char *want = json_string_value(json_array_get(diff_ids, i));
    if (want == NULL)
      return derror_set(err, "`%s`: the config's diff_id %zu is not a string: layer %zu cannot be verified",
                        rd->archive, i + 1, i + 1);
    if (read_layer(rd, i, pl->members[i], want, err) < 0)
      return -1;
  }
  return tree_merge(img, rd->archive, err);
}

static int
read_image(const char *archive, struct image *img, struct derror *err)
{
  struct reader rd = { .archive = archive, .img = img };
  cleanup_members struct members m = { 0 };
  cleanup_plan_layers struct plan_layers pl = { 0 };

  if (env_bound("DISTILL_MAX_LAYER_BYTES", IMAGE_MAX_LAYER_BYTES, &rd.layer_max, err) < 0
      || env_bound("DISTILL_MAX_IMAGE_BYTES", IMAGE_MAX_IMAGE_BYTES, &rd.image_max, err) < 0)
    return -1;
  if (read_members(archive, &m, err) < 0 || read_manifest(archive, &m, img, &pl, err) < 0)
    return -1;
  return read_layers(&rd, &pl, err);
}

int
image_read(const char *archive, struct image *img, struct derror *err)
{
  memset(img, 0, sizeof *img);
  if (read_image(archive, img, err) < 0) {
    image_free(img);
    return -1;
  }
  return 0;
}

void
image_free(struct image *img)
{
  /* the merged tree's strings are the history's */
  for (size_t i = 0; i < img->n_history; i++) {
    free(img->history[i].path);
    free(img->history[i].target);
  }
  for (size_t i = 0; i < img->n_layers; i++)
    free(img->layers[i].media_type);
  free(img->files);
  free(img->history);
  free(img->layers);
  free(img->name);
  json_decref(img->config);
  memset(img, 0, sizeof *img);
}

/* ---- lookups ---------------------------------------------------------- */

const struct image_file *
image_find(const struct image *img, const char *path)
{
  size_t lo = 0, hi = img->n_files;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(img->files[mid].path, path);
    if (c == 0)
      return &img->files[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

const struct image_file *
image_lookup(const struct image *img, const char *path, bool follow, struct derror *err)
{
  cleanup_free char *cur = path_normalize(path);
  int hops = 0;

  if (cur == NULL)
    return NULL;
  for (;;) {
    /* resolve symlinks in the parents first, component by component */
    struct buf done = { 0 };
    const char *p = cur + 1;
    const struct image_file *f = NULL;
    bool restarted = false;
    while (*p && !restarted) {
      const char *slash = strchr(p, '/');
      size_t n = slash ? (size_t) (slash - p) : strlen(p);
      buf_append(&done, "/", 1);
      buf_append(&done, p, n);
      p += n + (slash ? 1 : 0);
      f = image_find(img, done.data);
      bool last = *p == '\0';
      if (f == NULL || f->type != 'l' || (last && !follow))
        continue;
      if (++hops > MAX_SYMLINK_HOPS) {
        derror_set(err, "`%s`: more than %d symlinks (a loop at `%s`?)", path, MAX_SYMLINK_HOPS, done.data);
        buf_free(&done);
        return NULL;
      }
      cleanup_free char *dir = path_dirname(done.data);
      cleanup_free char *joined = f->target[0] == '/' ? xasprintf("%s/%s", f->target, p)
                                                       : xasprintf("%s/%s/%s", dir, f->target, p);
      /* ".." in a target is resolved lexically here: symlinks in the
       * image's parents were resolved on the way */
      struct strv parts = { 0 };
      char *save = NULL;
      for (char *t = strtok_r(joined, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (strcmp(t, ".") == 0)
          continue;
        if (strcmp(t, "..") == 0) {
          if (parts.n)
            free(parts.items[--parts.n]);
          continue;
        }
        strv_push(&parts, t);
      }
      struct buf next = { 0 };
      for (size_t i = 0; i < parts.n; i++)
        buf_printf(&next, "/%s", parts.items[i]);
      if (next.data == NULL)
        buf_append(&next, "/", 1);
      strv_free(&parts);
      free(cur);
      cur = next.data;
      restarted = true;
    }
    buf_free(&done);
    if (!restarted)
      return f;
  }
}
