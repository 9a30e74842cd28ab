/* The OCI layout of an image archive, for push: see layout.h. */
#include "publish/layout.h"
#include "lib/cleanup.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define INDEX_MAX (4u << 20)
#define MEMBERS_MAX 1000000

/* "./blobs/x", "/blobs/x" and "blobs/x" are one member. */
static const char *
plain_name(const char *name)
{
  while (name[0] == '/' || (name[0] == '.' && name[1] == '/'))
    name += name[0] == '/' ? 1 : 2;
  return name;
}

static bool
is_hex(const char *s, size_t n)
{
  return strspn(s, "0123456789abcdef") == n && s[n] == '\0';
}

/* A member under blobs/sha256/: its digest and where its bytes are (the
 * reader has consumed the header: its position is the data's). */
static int
add_blob(struct layout *l, struct archive *a, struct archive_entry *ae, const char *name, struct derror *err)
{
  const char *hex = name + strlen("blobs/sha256/");

  if (!is_hex(hex, DIGEST_HEX_LEN))
    return derror_set(err, "`%s`: member `%s` is not named by a sha256 digest", l->path, name);
  if (archive_entry_filetype(ae) != AE_IFREG || archive_entry_sparse_count(ae) > 0)
    return derror_set(err, "`%s`: member `%s` is not a regular file", l->path, name);
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->blobs[i].digest + 7, hex) == 0)
      return derror_set(err, "`%s`: member `%s` is there twice", l->path, name);
  if (l->n == MEMBERS_MAX)
    return derror_set(err, "`%s`: more than %d blobs", l->path, MEMBERS_MAX);
  if (l->n == l->cap)
    l->blobs = xreallocarray(l->blobs, l->cap = l->cap ? l->cap * 2 : 32, sizeof *l->blobs);
  struct layout_blob *b = &l->blobs[l->n++];
  snprintf(b->digest, sizeof b->digest, "sha256:%s", hex);
  b->size = (uint64_t) archive_entry_size(ae);
  b->offset = (uint64_t) archive_filter_bytes(a, 0);
  return 0;
}

/* index.json, read whole. */
static int
read_index(struct layout *l, struct archive *a, struct archive_entry *ae, struct derror *err)
{
  struct buf text = { 0 };
  json_error_t jerr;

  if (l->index)
    return derror_set(err, "`%s`: index.json is there twice", l->path);
  if (archive_entry_size(ae) > INDEX_MAX)
    return derror_set(err, "`%s`: index.json is larger than %u bytes", l->path, INDEX_MAX);
  text.data = xmalloc((size_t) archive_entry_size(ae) + 1);
  text.cap = (size_t) archive_entry_size(ae) + 1;
  la_ssize_t got = archive_read_data(a, text.data, (size_t) archive_entry_size(ae));
  if (got != archive_entry_size(ae)) {
    buf_free(&text);
    return derror_set(err, "`%s`: index.json: %s", l->path, got < 0 ? archive_error_string(a) : "cut short");
  }
  l->index = json_loadb(text.data, (size_t) got, 0, &jerr);
  buf_free(&text);
  if (l->index == NULL || !json_is_object(l->index))
    return derror_set(err, "`%s`: index.json, line %d: %s", l->path, jerr.line,
                      l->index ? "not a JSON object" : jerr.text);
  return 0;
}

static int
read_members(struct layout *l, struct archive *a, struct derror *err)
{
  struct archive_entry *ae;
  int r;

  while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
    const char *name = plain_name(archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "");
    if (archive_filter_count(a) > 1)
      return derror_set(err, "`%s`: a compressed archive (%s): push reads a plain tar, as build writes it", l->path,
                        archive_filter_name(a, 0));
    if (strncmp(name, "blobs/sha256/", 13) == 0 && name[13] != '\0') {
      if (add_blob(l, a, ae, name, err) < 0)
        return -1;
    } else if (strcmp(name, "index.json") == 0) {
      if (read_index(l, a, ae, err) < 0)
        return -1;
    }
  }
  if (r != ARCHIVE_EOF)
    return derror_set(err, "`%s`: %s", l->path, archive_error_string(a));
  if (l->index == NULL)
    return derror_set(err, "`%s`: no index.json: not an OCI image layout (docker save's archives cannot be "
                           "pushed as they are; build and skopeo write OCI archives)", l->path);
  return 0;
}

int
layout_open(const char *path, struct layout *l, struct derror *err)
{
  memset(l, 0, sizeof *l);
  l->path = xstrdup(path);
  l->fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
  if (l->fd < 0) {
    derror_errno(err, errno, "open `%s`", path);
    layout_close(l);
    return -1;
  }
  cleanup_archive_read struct archive *a = archive_read_new();
  archive_read_support_format_tar(a);
  archive_read_support_filter_all(a); /* to say what it is, then refuse it */
  int r = archive_read_open_fd(a, l->fd, 65536) == ARCHIVE_OK ? read_members(l, a, err)
                                                              : derror_set(err, "`%s`: %s", path, archive_error_string(a));
  if (r < 0)
    layout_close(l);
  return r;
}

void
layout_close(struct layout *l)
{
  if (l->fd >= 0)
    close(l->fd);
  free(l->path);
  free(l->blobs);
  json_decref(l->index);
  memset(l, 0, sizeof *l);
  l->fd = -1;
}

const struct layout_blob *
layout_blob(const struct layout *l, const char *digest)
{
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->blobs[i].digest, digest) == 0)
      return &l->blobs[i];
  return NULL;
}

int
layout_read(const struct layout *l, const struct layout_blob *b, size_t max, struct buf *out, struct derror *err)
{
  char got[DIGEST_STR_LEN];

  if (b->size > max)
    return derror_set(err, "`%s`: blob %s is larger than %zu bytes", l->path, b->digest, max);
  out->data = xreallocarray(out->data, (size_t) b->size + 1, 1);
  out->cap = (size_t) b->size + 1;
  ssize_t n = pread(l->fd, out->data, (size_t) b->size, (off_t) b->offset);
  if (n != (ssize_t) b->size)
    return n < 0 ? derror_errno(err, errno, "read `%s`", l->path) : derror_set(err, "`%s`: cut short", l->path);
  out->len = (size_t) n;
  out->data[n] = '\0';
  digest_buffer(out->data, out->len, got);
  if (strcmp(got, b->digest) != 0)
    return derror_set(err, "`%s`: blob %s holds bytes of digest %s", l->path, b->digest, got);
  return 0;
}
