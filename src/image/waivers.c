/* Waivers: the list a build records in the image's manifest, as JSON,
 * and that list read back from an archive. */
#include "image/check.h"
#include "image/escape.h"
#include "image/image.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "recipe/check_ids.h"

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *
json_text(const char *s)
{
  json_t *j = json_string(s);
  /* jansson takes UTF-8 only; a recipe's strings are (libyaml reads
   * nothing else), a command line's may not be */
  if (j == NULL) {
    cleanup_free char *e = escape_json(s);
    j = json_string(e);
  }
  return j;
}

char *
check_waivers_json(const struct check_waiver *w, size_t n)
{
  cleanup_json json_t *list = json_array();

  for (size_t i = 0; i < n; i++) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_text(w[i].id));
    json_object_set_new(o, "path", json_text(w[i].path));
    json_object_set_new(o, "reason", json_text(w[i].reason));
    json_array_append_new(list, o);
  }
  char *s = json_dumps(list, JSON_COMPACT | JSON_SORT_KEYS);
  if (s == NULL)
    oom();
  return s;
}

void
check_waivers_free(struct check_waiver *w, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    free((char *) w[i].id);
    free((char *) w[i].path);
    free((char *) w[i].reason);
  }
  free(w);
}

/* The current member's bytes, at most `max`. */
static int
read_member_data(const char *archive, const char *name, struct archive *a, size_t max, struct buf *out,
                 struct derror *err)
{
  char chunk[16384];
  la_ssize_t n;

  buf_append(out, "", 0);
  while ((n = archive_read_data(a, chunk, sizeof chunk)) > 0 && out->len + (size_t) n <= max)
    buf_append(out, chunk, (size_t) n);
  if (n != 0)
    return derror_set(err, "`%s`: `%s`: %s", archive, name, n < 0 ? archive_error_string(a) : "too large");
  return 0;
}

/* The member `name` of the archive, at most `max` bytes; NULL data when
 * the archive has no such member. */
static int
read_member(const char *archive, const char *name, size_t max, struct buf *out, struct derror *err)
{
  cleanup_archive_read struct archive *a = archive_read_new();
  struct archive_entry *ae;
  int r;

  if (a == NULL)
    oom();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, archive, 64 * 1024) != ARCHIVE_OK)
    return derror_set(err, "`%s`: %s", archive, archive_error_string(a));
  while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
    const char *m = archive_entry_pathname(ae);
    while (m[0] == '.' && m[1] == '/')
      m += 2;
    while (m[0] == '/')
      m++;
    if (archive_entry_filetype(ae) != AE_IFREG || strcmp(m, name) != 0)
      continue;
    if (archive_entry_size(ae) < 0 || (uint64_t) archive_entry_size(ae) > max)
      return derror_set(err, "`%s`: `%s` is larger than %zu bytes", archive, name, max);
    if (read_member_data(archive, name, a, max, out, err) < 0) {
      buf_free(out);
      return -1;
    }
    return 0;
  }
  if (r != ARCHIVE_EOF)
    return derror_set(err, "`%s`: %s", archive, archive_error_string(a));
  return 0;
}

int
check_recorded_waivers(const char *archive, const struct image *img, struct check_waiver **out, size_t *n,
                       struct derror *err)
{
  struct buf b = { 0 };
  char got[DIGEST_STR_LEN];
  size_t i;
  json_t *x;

  *out = NULL;
  *n = 0;
  if (!digest_valid(img->manifest_digest))
    return 0;
  cleanup_free char *name = xasprintf("blobs/sha256/%s", img->manifest_digest + 7);
  if (read_member(archive, name, IMAGE_MAX_JSON, &b, err) < 0)
    return -1;
  if (b.data == NULL)
    return 0; /* docker save keeps no OCI manifest */
  /* what image_read verified, not what the file holds now */
  digest_buffer(b.data, b.len, got);
  if (strcmp(got, img->manifest_digest) != 0) {
    buf_free(&b);
    return derror_set(err, "`%s`: `%s` changed while it was read", archive, name);
  }
  cleanup_json json_t *manifest = json_loadb(b.data, b.len, 0, NULL);
  buf_free(&b);
  const char *text = json_string_value(json_object_get(json_object_get(manifest, "annotations"),
                                                       CHECK_WAIVED_ANNOTATION));
  cleanup_json json_t *list = text ? json_loads(text, 0, NULL) : NULL;
  json_array_foreach(list, i, x)
  {
    const char *id = json_string_value(json_object_get(x, "id"));
    const char *path = json_string_value(json_object_get(x, "path"));
    const char *reason = json_string_value(json_object_get(x, "reason"));
    if (id == NULL || path == NULL || reason == NULL)
      continue;
    *out = xreallocarray(*out, *n + 1, sizeof **out);
    (*out)[(*n)++] = (struct check_waiver) { xstrdup(id), xstrdup(path), xstrdup(reason) };
  }
  return 0;
}
