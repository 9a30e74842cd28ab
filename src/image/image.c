/* Reading an image archive: the members, the manifest, each layer into
 * the history, the merged tree; and looking names up in that tree. */
#include "image/image.h"
#include "image/reader.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "lib/path.h"
#include "plan/view.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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

int
image_bounds(uint64_t *layer_max, uint64_t *image_max, struct derror *err)
{
  if (env_bound("DISTILL_MAX_LAYER_BYTES", IMAGE_MAX_LAYER_BYTES, layer_max, err) < 0
      || env_bound("DISTILL_MAX_IMAGE_BYTES", IMAGE_MAX_IMAGE_BYTES, image_max, err) < 0)
    return -1;
  return 0;
}

static int
read_image(const char *archive, struct image *img, struct derror *err)
{
  struct reader rd = { .archive = archive, .img = img };
  cleanup_members struct members m = { 0 };
  cleanup_plan_layers struct plan_layers pl = { 0 };

  if (image_bounds(&rd.layer_max, &rd.image_max, err) < 0)
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

size_t
image_first_below(const struct image *img, const char *path)
{
  cleanup_free char *prefix = xasprintf("%s/", path);
  size_t len = strlen(prefix), lo = 0, hi = img->n_files;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(img->files[mid].path, prefix) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < img->n_files && strncmp(img->files[lo].path, prefix, len) == 0 ? lo : img->n_files;
}

/* Whether names of the tree lie below `path`. */
static bool
names_below(const struct image *img, const char *path)
{
  return image_first_below(img, path) < img->n_files;
}

/* The merged tree as the walker of view.c sees it.  A name with names
 * below it is a directory to the walk whatever entry it has, or none: a
 * layer need not list the parents of its entries, and the merge keeps
 * what a layer wrote below a name a later entry made a file, which the
 * checks must still find. */
static int
tree_lookup(const struct view *v, const char *path, bool lower, struct view_node *out, struct derror *err)
{
  const struct image *img = v->data;
  const struct image_file *f = image_find(img, path);

  memset(out, 0, sizeof *out);
  if (f && f->type == 'l') {
    out->type = VIEW_SYMLINK;
    out->target = f->target;
  } else if ((f && f->type == 'd') || names_below(img, path)) {
    out->type = VIEW_DIR;
  } else if (f) {
    out->type = f->type == 'f' ? VIEW_FILE : VIEW_OTHER;
  }
  return 0;
}

const struct image_file *
image_lookup(const struct image *img, const char *path, bool follow, struct derror *err)
{
  cleanup_free char *normal = path_normalize(path);
  cleanup_free char *resolved = NULL;
  struct view v = { tree_lookup, (void *) img, "the image" };
  struct view_node node;
  int r;

  /* a relative path, or one that climbs with "..", names nothing */
  if (normal == NULL)
    return NULL;
  if (follow)
    r = view_resolve(&v, path, true, NULL, NULL, NULL, &resolved, &node, err);
  else
    r = view_resolve_nofollow(&v, path, true, &resolved, &node, err);
  /* absent is no error here; the root is no entry of the tree */
  if (r < 0 && derror_is(err, DERROR_NOT_FOUND))
    derror_clear(err);
  if (r < 0 || strcmp(resolved, "/") == 0)
    return NULL;
  return image_find(img, resolved);
}
