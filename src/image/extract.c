/* Reading a layer again, for the bytes of some of its files: the entry a
 * file of the tree has its bytes from is found by its place in the
 * layer's tar, as image_read saw it, and must still bear its name. */
#include "image/reader.h"
#include "image/image.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "lib/file.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The outer member holding layer `li`: the blob of its digest, else the
 * member docker's manifest names with that digest. */
static char *
layer_member(const char *archive, const struct image *img, size_t li, struct derror *err)
{
  cleanup_members struct members m = { 0 };
  cleanup_free char *name = blob_member(img->layers[li].digest);

  if (read_members(archive, &m, err) < 0)
    return NULL;
  if (member_find(&m, name) == NULL) {
    for (size_t i = 0; i < m.n; i++)
      if (strcmp(m.items[i].digest, img->layers[li].digest) == 0)
        return xstrdup(m.items[i].name);
  }
  return steal_pointer(&name);
}

/* Open layer `li` again, bounded as when it was first read. */
static int
layer_reopen(struct layer_reader *lr, const char *archive, const struct image *img, size_t li, struct derror *err)
{
  struct layer_limit limit = { 0, 0, false };
  cleanup_free char *name = NULL;

  memset(lr, 0, sizeof *lr);
  if (env_bound("DISTILL_MAX_LAYER_BYTES", IMAGE_MAX_LAYER_BYTES, &limit.left, err) < 0)
    return -1;
  limit.bound = limit.left;
  if ((name = layer_member(archive, img, li, err)) == NULL)
    return -1;
  return layer_open(lr, archive, li, name, img->layers[li].media_type, &limit, err);
}

/* Whether an entry of the history is one reading the layer's tar again
 * counts: the root directory is none (normalize_entry makes it NULL), in
 * case a described image recorded it. */
static bool
in_tar(const struct image_file *e)
{
  return strcmp(e->path, "/") != 0;
}

/* The history entry a file of the tree or of the history has its bytes
 * from, and its place among the entries of its layer as the layer's tar
 * lists them (the root directory, no entry, aside), as read_layer saw them. */
static size_t
content_entry(const struct image *img, const struct image_file *f, size_t *ordinal)
{
  size_t src = f >= img->history && f < img->history + img->n_history ? (size_t) (f - img->history) : f->src;

  *ordinal = 0;
  if (src >= img->n_history)
    return NONE;
  for (size_t i = 0; i < src; i++)
    *ordinal += img->history[i].layer == img->history[src].layer && in_tar(&img->history[i]);
  return src;
}

/* Move a reopened layer to its entry number `ordinal`, from `*at`; it must
 * still be `path`. */
static int
seek_entry(struct layer_reader *lr, const char *archive, int layer, size_t *at, size_t ordinal, const char *path,
           struct derror *err)
{
  struct archive_entry *ae;
  int r;

  while ((r = archive_read_next_header(lr->tar, &ae)) == ARCHIVE_OK) {
    cleanup_free char *p = NULL;
    const char *raw = archive_entry_pathname(ae);
    if (normalize_entry(raw ? raw : "", &p) < 0 || p == NULL || (*at)++ != ordinal)
      continue;
    if (strcmp(p, path) != 0)
      return derror_set(err, "`%s`: layer %d: entry %zu is `%s`, not `%s` as when the image was read", archive,
                        layer + 1, ordinal + 1, p, path);
    if (archive_entry_sparse_count(ae) > 0)
      return derror_set(err, "`%s`: layer %d: `%s` is a sparse file", archive, layer + 1, path);
    return 0;
  }
  if (r != ARCHIVE_EOF)
    return layer_error(archive, (size_t) layer, &lr->stream, lr->tar, path, err);
  return derror_set(err, "`%s`: `%s`: not found in layer %d", archive, path, layer + 1);
}

int
image_read_file(const char *archive, const struct image *img, const struct image_file *f, size_t max,
                struct buf *out, struct derror *err)
{
  cleanup_layer_reader struct layer_reader lr = { 0 };
  size_t ordinal, at = 0, src = content_entry(img, f, &ordinal);

  if (f->type != 'f' || src == NONE)
    return derror_set(err, "`%s`: not a regular file", f->path);
  const struct image_file *e = &img->history[src];
  if (layer_reopen(&lr, archive, img, (size_t) e->layer, err) < 0
      || seek_entry(&lr, archive, e->layer, &at, ordinal, e->path, err) < 0)
    return -1;
  char chunk[8192];
  la_ssize_t n;
  while ((n = archive_read_data(lr.tar, chunk, sizeof chunk)) > 0) {
    if (out->len + (size_t) n > max)
      return derror_set(err, "`%s`: larger than %zu bytes", f->path, max);
    buf_append(out, chunk, (size_t) n);
  }
  if (n < 0)
    return derror_set(err, "`%s`: %s", f->path, archive_error_string(lr.tar));
  if (out->data == NULL)
    buf_append(out, "", 0);
  return 0;
}

/* Copy at most `max` bytes of the current entry to `path`. */
static int
extract_entry(struct archive *tar, const char *path, uint64_t max, struct derror *err)
{
  cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  char chunk[16384];
  uint64_t done = 0;
  la_ssize_t n = 0;

  if (fd < 0)
    return derror_errno(err, errno, "`%s`", path);
  while (done < max && (n = archive_read_data(tar, chunk, sizeof chunk)) > 0) {
    size_t take = (uint64_t) n < max - done ? (size_t) n : (size_t) (max - done);
    if (write_all(fd, chunk, take) < 0)
      return derror_errno(err, errno, "write `%s`", path);
    done += take;
  }
  if (n < 0)
    return derror_set(err, "`%s`: %s", path, archive_error_string(tar));
  return 0;
}

/* A file to extract: the entry its bytes are, and how many to keep. */
struct wanted {
  int layer;
  size_t ordinal, file;
  uint64_t max;
};

static int
wanted_cmp(const void *a, const void *b)
{
  const struct wanted *x = a, *y = b;
  if (x->layer != y->layer)
    return x->layer < y->layer ? -1 : 1;
  if (x->ordinal != y->ordinal)
    return x->ordinal < y->ordinal ? -1 : 1;
  return x->file < y->file ? -1 : x->file > y->file;
}

/* The files of one layer, in the order of its entries: each entry once,
 * its other names (hardlinks, or a name written again) linked to it. */
static int
extract_layer(const char *archive, const struct image *img, const struct wanted *w, size_t n, const char *dir,
              struct derror *err)
{
  cleanup_layer_reader struct layer_reader lr = { 0 };
  size_t at = 0;

  if (layer_reopen(&lr, archive, img, (size_t) w[0].layer, err) < 0)
    return -1;
  for (size_t k = 0, end; k < n; k = end) {
    uint64_t max = 0;
    for (end = k; end < n && w[end].ordinal == w[k].ordinal; end++)
      max = w[end].max > max ? w[end].max : max;
    const struct image_file *e = &img->history[img->files[w[k].file].src];
    cleanup_free char *first = xasprintf("%s/%zu", dir, w[k].file);
    if (seek_entry(&lr, archive, w[k].layer, &at, w[k].ordinal, e->path, err) < 0
        || extract_entry(lr.tar, first, max, err) < 0)
      return -1;
    for (size_t j = k + 1; j < end; j++) {
      cleanup_free char *other = xasprintf("%s/%zu", dir, w[j].file);
      if (link(first, other) < 0)
        return derror_errno(err, errno, "link `%s` to `%s`", other, first);
    }
  }
  return 0;
}

int
image_extract(const char *archive, const struct image *img, image_extract_fn want, void *data, const char *dir,
              struct derror *err)
{
  cleanup_free size_t *ordinals = xcalloc(img->n_history ? img->n_history : 1, sizeof *ordinals);
  cleanup_free size_t *count = xcalloc(img->n_layers + 1, sizeof *count);
  cleanup_free struct wanted *w = xcalloc(img->n_files ? img->n_files : 1, sizeof *w);
  size_t n = 0;

  for (size_t i = 0; i < img->n_history; i++) {
    int l = img->history[i].layer;
    ordinals[i] = l >= 0 && (size_t) l < img->n_layers && in_tar(&img->history[i]) ? count[l]++ : 0;
  }
  for (size_t i = 0; i < img->n_files; i++) {
    const struct image_file *f = &img->files[i];
    if (f->type != 'f' || f->src >= img->n_history)
      continue;
    int l = img->history[f->src].layer;
    uint64_t max = l >= 0 && (size_t) l < img->n_layers ? want(data, f) : 0;
    if (max)
      w[n++] = (struct wanted) { l, ordinals[f->src], i, max };
  }
  qsort(w, n, sizeof *w, wanted_cmp);
  for (size_t k = 0, end; k < n; k = end) {
    for (end = k; end < n && w[end].layer == w[k].layer; end++)
      ;
    if (extract_layer(archive, img, w + k, end - k, dir, err) < 0)
      return -1;
  }
  return 0;
}
