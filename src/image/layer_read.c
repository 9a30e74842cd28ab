/* One layer: the outer member, uncompressed by the one filter its media
 * type names and bounded on the way, read as a tar into the history,
 * every regular file hashed and scanned. */
#include "image/reader.h"
#include "image/image.h"
#include "image/scan.h"
#include "lib/alloc.h"
#include "lib/digest.h"
#include "lib/error.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (128 * 1024)

int
normalize_entry(const char *raw, char **out)
{
  struct buf b = { 0 };
  const char *p = raw;

  while (*p) {
    while (*p == '/')
      p++;
    const char *start = p;
    while (*p && *p != '/')
      p++;
    size_t n = (size_t) (p - start);
    if (n == 0 || (n == 1 && start[0] == '.'))
      continue;
    if (n == 2 && start[0] == '.' && start[1] == '.') {
      buf_free(&b);
      return -1;
    }
    buf_append(&b, "/", 1);
    buf_append(&b, start, n);
  }
  *out = b.data; /* NULL for the root itself */
  return 0;
}

struct image_file *
image_history_add(struct image *img)
{
  if (img->n_history == img->cap_history) {
    img->cap_history = img->cap_history ? img->cap_history * 2 : 256;
    img->history = xreallocarray(img->history, img->cap_history, sizeof *img->history);
  }
  struct image_file *f = &img->history[img->n_history++];
  memset(f, 0, sizeof *f);
  return f;
}

static la_ssize_t
layer_read(struct archive *a, void *data, const void **out)
{
  struct layer_stream *s = data;
  la_ssize_t n = s->eof ? 0 : archive_read_data(s->raw, s->buf, CHUNK);

  if (n < 0) {
    archive_set_error(a, EIO, "%s", archive_error_string(s->raw));
    return -1;
  }
  if (n == 0)
    s->eof = true;
  /* a compression under the filter would be a tar to libarchive's tar
   * reader only by chance: said plainly instead */
  if (s->bytes == 0 && n > 0 && (s->nested = compression_magic((const unsigned char *) s->buf, (size_t) n))) {
    archive_set_error(a, EINVAL, "compressed twice");
    return -1;
  }
  if ((uint64_t) n > s->limit.left - s->bytes) {
    s->over = true;
    archive_set_error(a, EFBIG, "too large");
    return -1;
  }
  if (s->filter && s->bytes > IMAGE_RATIO_FROM) {
    uint64_t in = (uint64_t) archive_filter_bytes(s->raw, -1);
    if (in == 0 || s->bytes / in > IMAGE_MAX_RATIO) {
      s->ratio = true;
      archive_set_error(a, EFBIG, "too compressed");
      return -1;
    }
  }
  s->bytes += (uint64_t) n;
  digest_update(&s->diff, s->buf, (size_t) n);
  *out = s->buf;
  return n;
}

/* The outer member's bytes, into the reader's own buffer: libarchive
 * reads from the block it was given until it asks for the next, so a
 * buffer shared by readers would be safe only while no two are open. */
static la_ssize_t
outer_read(struct archive *a, void *data, const void **out)
{
  struct layer_reader *lr = data;
  la_ssize_t n = archive_read_data(lr->outer, lr->outer_buf, CHUNK);

  if (n < 0)
    archive_set_error(a, EIO, "%s", archive_error_string(lr->outer));
  *out = lr->outer_buf;
  return n;
}

/* Position the outer archive at member `name`. */
static int
seek_member(struct archive *outer, const char *archive, const char *name, struct derror *err)
{
  struct archive_entry *ae;
  int r;

  while ((r = archive_read_next_header(outer, &ae)) == ARCHIVE_OK)
    if (archive_entry_filetype(ae) == AE_IFREG && strcmp(member_name(archive_entry_pathname(ae)), name) == 0)
      return 0;
  return derror_set(err, "`%s`: member `%s` vanished: %s", archive, name,
                    r == ARCHIVE_EOF ? "end of archive" : archive_error_string(outer));
}

int
layer_error(const char *archive, size_t li, const struct layer_stream *s, struct archive *a, const char *path,
            struct derror *err)
{
  if (s->nested && s->filter)
    return derror_set(err, "`%s`: layer %zu is compressed twice (%s inside %s): a layer is one tar under at most "
                           "the one compression its media type names", archive, li + 1, s->nested, s->filter);
  if (s->nested)
    return derror_set(err, "`%s`: layer %zu is compressed with %s, but its media type says a plain tar", archive,
                      li + 1, s->nested);
  if (s->ratio)
    return derror_set(err, "`%s`: layer %zu uncompresses to more than %d times its size past the first GiB: a "
                           "decompression bomb, not a layer", archive, li + 1, IMAGE_MAX_RATIO);
  if (s->over) {
    cleanup_free char *bound = human_size(s->limit.bound);
    if (s->limit.image)
      return derror_set(err, "`%s`: the layers uncompress to more than %s (at layer %zu), the bound per image "
                             "(DISTILL_MAX_IMAGE_BYTES)", archive, bound, li + 1);
    return derror_set(err, "`%s`: layer %zu uncompresses to more than %s, the bound per layer "
                           "(DISTILL_MAX_LAYER_BYTES)", archive, li + 1, bound);
  }
  if (path)
    return derror_set(err, "`%s`: layer %zu: `%s`: %s", archive, li + 1, path, archive_error_string(a));
  return derror_set(err, "`%s`: layer %zu: %s", archive, li + 1, archive_error_string(a));
}

int
layer_open(struct layer_reader *lr, const char *archive, size_t li, const char *member, const char *media_type,
           const struct layer_limit *limit, struct derror *err)
{
  struct archive_entry *ae;
  int filter = media_type_filter(media_type);

  memset(lr, 0, sizeof *lr);
  if (filter < 0)
    return derror_set(err, "`%s`: layer %zu has the media type \"%s\", not one of a tar layer", archive, li + 1,
                      media_type ? media_type : "");
  if ((lr->outer = open_outer(archive, err)) == NULL)
    return -1;
  if (seek_member(lr->outer, archive, member, err) < 0)
    return -1;
  lr->raw = archive_read_new();
  lr->tar = archive_read_new();
  if (lr->raw == NULL || lr->tar == NULL)
    oom();
  /* the one filter, appended: libarchive then bids no other, so nothing
   * inside decides to be decompressed again */
  if (filter != ARCHIVE_FILTER_NONE && archive_read_append_filter(lr->raw, filter) != ARCHIVE_OK)
    return derror_set(err, "`%s`: layer %zu: %s", archive, li + 1, archive_error_string(lr->raw));
  archive_read_support_format_raw(lr->raw);
  lr->outer_buf = xmalloc(CHUNK);
  if (archive_read_open(lr->raw, lr, NULL, outer_read, NULL) != ARCHIVE_OK
      || archive_read_next_header(lr->raw, &ae) != ARCHIVE_OK)
    return derror_set(err, "`%s`: layer %zu: %s", archive, li + 1, archive_error_string(lr->raw));
  lr->stream.raw = lr->raw;
  lr->stream.buf = xmalloc(CHUNK);
  lr->stream.filter = filter_name(filter);
  lr->stream.limit = *limit;
  digest_init(&lr->stream.diff);
  archive_read_support_format_tar(lr->tar);
  if (archive_read_open(lr->tar, &lr->stream, NULL, layer_read, NULL) != ARCHIVE_OK)
    return layer_error(archive, li, &lr->stream, lr->tar, NULL, err);
  return 0;
}

void
layer_close(struct layer_reader *lr)
{
  if (lr->tar)
    archive_read_free(lr->tar);
  if (lr->raw)
    archive_read_free(lr->raw);
  if (lr->outer)
    archive_read_free(lr->outer);
  free(lr->outer_buf);
  if (lr->stream.buf) {
    free(lr->stream.buf);
    if (lr->stream.diff.ctx)
      digest_abort(&lr->stream.diff);
  }
  memset(lr, 0, sizeof *lr);
}

static char
entry_type(struct archive_entry *ae)
{
  if (archive_entry_hardlink(ae))
    return 'h';
  switch (archive_entry_filetype(ae)) {
  case AE_IFREG:
    return 'f';
  case AE_IFDIR:
    return 'd';
  case AE_IFLNK:
    return 'l';
  case AE_IFCHR:
    return 'c';
  case AE_IFBLK:
    return 'b';
  case AE_IFIFO:
    return 'p';
  case AE_IFSOCK:
    return 's';
  default:
    return '?';
  }
}

/* A name or link target longer than PATH_MAX is no file a runtime makes;
 * thousands of them would fill the memory of the history. */
static int
check_name(const struct reader *rd, size_t li, const char *what, const char *name, struct derror *err)
{
  size_t n = strlen(name);

  if (n < IMAGE_MAX_PATH)
    return 0;
  return derror_set(err, "`%s`: layer %zu: %s is %zu bytes long (`%.48s...`), more than %d (PATH_MAX)", rd->archive,
                    li + 1, what, n, name, IMAGE_MAX_PATH - 1);
}

static int
sparse_error(const struct reader *rd, size_t li, const char *path, struct derror *err)
{
  return derror_set(err, "`%s`: layer %zu: `%s` is a sparse file (GNU or pax sparse headers): distill reads no "
                         "sparse entries, whose map can stand for terabytes of zeros", rd->archive, li + 1, path);
}

struct content {
  struct scan scan;
  struct digest digest;
};

static void
content_bytes(void *data, const void *bytes, size_t n)
{
  struct content *c = data;
  scan_chunk(&c->scan, bytes, n);
  digest_update(&c->digest, bytes, n);
}

/* A regular file's bytes: their digest and what they reveal. */
static int
read_content(const struct reader *rd, size_t li, struct layer_reader *lr, struct image_file *e, struct derror *err)
{
  struct content c;

  scan_begin(&c.scan, e->path);
  digest_init(&c.digest);
  int r = read_entry_data(lr->tar, content_bytes, &c);
  scan_finish(&c.scan);
  if (r != 0) {
    digest_abort(&c.digest);
    return r > 0 ? sparse_error(rd, li, e->path, err)
                 : layer_error(rd->archive, li, &lr->stream, lr->tar, e->path, err);
  }
  digest_final(&c.digest, e->digest);
  e->marks = c.scan.marks;
  e->what = c.scan.what;
  e->secret = c.scan.secret;
  return 0;
}

/* The target of a link, kept, its bytes counted. */
static int
link_target(struct reader *rd, size_t li, struct image_file *e, struct archive_entry *ae, struct derror *err)
{
  const char *t = e->type == 'l' ? archive_entry_symlink(ae) : archive_entry_hardlink(ae);

  if (t == NULL)
    t = "";
  if (check_name(rd, li, e->type == 'l' ? "a symlink's target" : "a hardlink's target", t, err) < 0)
    return -1;
  if (e->type == 'l')
    e->target = xstrdup(t);
  else if (normalize_entry(t, &e->target) < 0 || e->target == NULL)
    return derror_set(err, "`%s`: layer %zu: hardlink `%s` points out of the image root", rd->archive, li + 1,
                      e->path);
  rd->name_bytes += strlen(e->target);
  return 0;
}

/* One entry of layer `li` into the history. */
static int
add_entry(struct reader *rd, size_t li, struct layer_reader *lr, struct archive_entry *ae, struct derror *err)
{
  struct image *img = rd->img;
  const char *raw = archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "";
  char *path = NULL;

  if (check_name(rd, li, "an entry's name", raw, err) < 0)
    return -1;
  if (normalize_entry(raw, &path) < 0)
    return derror_set(err, "`%s`: layer %zu: entry `%s` climbs out of the image root with \"..\"", rd->archive, li + 1,
                      raw);
  if (path == NULL)
    return 0; /* the root directory itself */
  if (check_name(rd, li, "an entry's name", path, err) < 0) {
    free(path);
    return -1;
  }
  if (img->n_history >= IMAGE_MAX_ENTRIES) {
    free(path);
    return derror_set(err, "`%s`: more than %u entries", rd->archive, IMAGE_MAX_ENTRIES);
  }
  struct image_file *e = image_history_add(img);
  e->path = path;
  e->type = entry_type(ae);
  e->mode = archive_entry_perm(ae) & 07777;
  e->uid = (uint32_t) archive_entry_uid(ae);
  e->gid = (uint32_t) archive_entry_gid(ae);
  e->size = e->type == 'f' ? (uint64_t) archive_entry_size(ae) : 0;
  e->mtime = archive_entry_mtime(ae);
  e->rdev = e->type == 'c' || e->type == 'b' ? archive_entry_rdev(ae) : 0;
  e->layer = (int) li;
  rd->name_bytes += strlen(path);
  if (e->type == 'f' && archive_entry_sparse_count(ae) > 0)
    return sparse_error(rd, li, path, err);
  if ((e->type == 'l' || e->type == 'h') && link_target(rd, li, e, ae, err) < 0)
    return -1;
  if (rd->name_bytes > IMAGE_MAX_NAME_BYTES) {
    cleanup_free char *max = human_size(IMAGE_MAX_NAME_BYTES);
    return derror_set(err, "`%s`: layer %zu: the names and link targets of the entries add up to more than %s",
                      rd->archive, li + 1, max);
  }
  if (e->type == 'f' && read_content(rd, li, lr, e, err) < 0)
    return -1;
  img->layers[li].n_entries++;
  return 0;
}

int
read_layer(struct reader *rd, size_t li, const char *member, const char *want_diff_id, struct derror *err)
{
  struct image *img = rd->img;
  cleanup_layer_reader struct layer_reader lr = { 0 };
  struct archive_entry *ae;
  uint64_t left = rd->image_max - rd->image_bytes;
  struct layer_limit limit = { rd->layer_max, rd->layer_max, false };
  int r;

  if (left < rd->layer_max)
    limit = (struct layer_limit) { left, rd->image_max, true };
  if (layer_open(&lr, rd->archive, li, member, img->layers[li].media_type, &limit, err) < 0)
    return -1;
  while ((r = archive_read_next_header(lr.tar, &ae)) == ARCHIVE_OK)
    if (add_entry(rd, li, &lr, ae, err) < 0)
      return -1;
  if (r != ARCHIVE_EOF)
    return layer_error(rd->archive, li, &lr.stream, lr.tar, NULL, err);
  /* the diff_id covers the whole stream, padding after the end included */
  const void *rest;
  la_ssize_t n;
  while ((n = layer_read(lr.tar, &lr.stream, &rest)) > 0)
    ;
  if (n < 0)
    return layer_error(rd->archive, li, &lr.stream, lr.tar, NULL, err);
  rd->image_bytes += lr.stream.bytes;
  digest_final(&lr.stream.diff, img->layers[li].diff_id);
  if (want_diff_id && strcmp(want_diff_id, img->layers[li].diff_id) != 0)
    return derror_set(err, "`%s`: layer %zu: its content is %s, but the config says %s", rd->archive, li + 1,
                      img->layers[li].diff_id, want_diff_id);
  return 0;
}
