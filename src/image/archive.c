/* The outer archive: a plain tar whose members are hashed in one pass,
 * the small ones (documents) kept; and what the rest of the reader needs
 * to bound and tell apart what it holds. */
#include "image/reader.h"
#include "image/image.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/digest.h"
#include "lib/error.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_MEMBERS 200000

/* ---- bounds ----------------------------------------------------------- */

/* "16 GiB", or the bytes when not a round number: for messages. */
char *
human_size(uint64_t n)
{
  static const char *const units[] = { "TiB", "GiB", "MiB", "KiB" };

  for (int i = 0; i < 4; i++) {
    uint64_t u = 1ull << (10 * (4 - i));
    if (n >= u && n % u == 0)
      return xasprintf("%" PRIu64 " %s", n / u, units[i]);
  }
  return xasprintf("%" PRIu64 " bytes", n);
}

/* A bound from the environment: bytes, or a number with K, M, G or T
 * (powers of 1024, either case); `fallback` when unset. */
int
env_bound(const char *name, uint64_t fallback, uint64_t *out, struct derror *err)
{
  static const char suffixes[] = "KMGT";
  const char *v = getenv(name), *s;
  char *end;
  int shift = 0;

  *out = fallback;
  if (v == NULL || *v == '\0')
    return 0;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  /* as DISTILL_CACHE_MAX: either case */
  if (*end && (s = strchr(suffixes, toupper((unsigned char) *end))) != NULL) {
    shift = 10 * (int) (s - suffixes + 1);
    end++;
  }
  /* strtoull takes "-1" and " 1": a size is digits */
  if (*v < '0' || *v > '9' || errno || *end || n == 0 || n > (UINT64_MAX >> shift))
    return derror_set(err, "%s=\"%s\" is not a size (bytes, or a number followed by K, M, G or T)", name, v);
  *out = (uint64_t) n << shift;
  return 0;
}

/* ---- compression, told by its first bytes ---------------------------- */

/* The compression whose magic number starts `p`, or NULL: only for what
 * errors say (a layer is decoded by the one filter its media type names,
 * never by one libarchive guesses). */
const char *
compression_magic(const unsigned char *p, size_t n)
{
  static const struct {
    const char *name, *magic;
    size_t len;
  } magics[] = {
    { "gzip", "\x1f\x8b", 2 },      { "zstd", "\x28\xb5\x2f\xfd", 4 }, { "xz", "\xfd" "7zXZ\0", 6 },
    { "lz4", "\x04\x22\x4d\x18", 4 }, { "lzip", "LZIP", 4 },           { "compress (.Z)", "\x1f\x9d", 2 },
  };

  for (size_t i = 0; i < sizeof magics / sizeof *magics; i++)
    if (n >= magics[i].len && memcmp(p, magics[i].magic, magics[i].len) == 0)
      return magics[i].name;
  /* zstd may start with a skippable frame, 0x184D2A50 to 0x184D2A5F */
  if (n >= 4 && (p[0] & 0xf0) == 0x50 && memcmp(p + 1, "\x2a\x4d\x18", 3) == 0)
    return "zstd";
  /* bzip2: "BZh", the block size, then a block's or the end's magic; a tar
   * could start with a file named "BZh9", hardly with the rest */
  if (n >= 10 && memcmp(p, "BZh", 3) == 0 && p[3] >= '1' && p[3] <= '9'
      && (memcmp(p + 4, "1AY&SY", 6) == 0 || memcmp(p + 4, "\x17\x72\x45\x38\x50\x90", 6) == 0))
    return "bzip2";
  return NULL;
}

static const char *
file_compression(const char *path)
{
  unsigned char head[16];
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read(fd, head, sizeof head);

  return n > 0 ? compression_magic(head, (size_t) n) : NULL;
}

/* The one filter a layer's media type names (ARCHIVE_FILTER_NONE, _GZIP or
 * _ZSTD), or -1 when it names no tar layer. */
int
media_type_filter(const char *media_type)
{
  static const struct {
    const char *type;
    int filter;
  } types[] = {
    { "application/vnd.oci.image.layer.v1.tar", ARCHIVE_FILTER_NONE },
    { "application/vnd.oci.image.layer.v1.tar+gzip", ARCHIVE_FILTER_GZIP },
    { "application/vnd.oci.image.layer.v1.tar+zstd", ARCHIVE_FILTER_ZSTD },
    { "application/vnd.oci.image.layer.nondistributable.v1.tar", ARCHIVE_FILTER_NONE },
    { "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", ARCHIVE_FILTER_GZIP },
    { "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", ARCHIVE_FILTER_ZSTD },
    { "application/vnd.docker.image.rootfs.diff.tar", ARCHIVE_FILTER_NONE },
    { "application/vnd.docker.image.rootfs.diff.tar.gzip", ARCHIVE_FILTER_GZIP },
    { "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", ARCHIVE_FILTER_GZIP },
    { "application/vnd.docker.image.rootfs.diff.tar.zstd", ARCHIVE_FILTER_ZSTD },
  };

  for (size_t i = 0; media_type && i < sizeof types / sizeof *types; i++)
    if (strcmp(media_type, types[i].type) == 0)
      return types[i].filter;
  return -1;
}

const char *
filter_name(int filter)
{
  return filter == ARCHIVE_FILTER_GZIP ? "gzip" : filter == ARCHIVE_FILTER_ZSTD ? "zstd" : NULL;
}

/* ---- reading entries -------------------------------------------------- */

/* Every byte of the current entry, block by block, to `fn`: 0, -1 on an
 * error of the archive, 1 on a hole.  A sparse file (GNU or pax sparse
 * headers) is refused, never read as zeros: a few bytes of map can stand
 * for terabytes, and a hole at the end is no bytes at all. */
int
read_entry_data(struct archive *a, bytes_fn fn, void *data)
{
  uint64_t at = 0;

  for (;;) {
    const void *p;
    size_t n;
    la_int64_t off;
    int r = archive_read_data_block(a, &p, &n, &off);
    if (r == ARCHIVE_EOF)
      return (uint64_t) off == at ? 0 : 1; /* at the end: the size */
    if (r != ARCHIVE_OK)
      return -1;
    if (off < 0 || (uint64_t) off != at)
      return 1;
    fn(data, p, n);
    at += n;
  }
}

/* ---- the outer archive ------------------------------------------------ */

void
members_free(struct members *m)
{
  for (size_t i = 0; i < m->n; i++) {
    free(m->items[i].name);
    free(m->items[i].data);
  }
  free(m->items);
}

const struct member *
member_find(const struct members *m, const char *name)
{
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->items[i].name, name) == 0)
      return &m->items[i];
  return NULL;
}

/* "./x", "x" and "/x" name the same member. */
const char *
member_name(const char *name)
{
  while (name[0] == '.' && name[1] == '/')
    name += 2;
  while (name[0] == '/')
    name++;
  return name;
}

/* The archive is not a tar: say so, and whether it is a compressed one. */
static int
outer_error(const char *path, struct archive *a, struct derror *err)
{
  const char *comp = file_compression(path);

  if (comp)
    return derror_set(err, "`%s`: the archive is compressed with %s: distill reads an image archive as the plain tar "
                           "docker save, podman save and skopeo write (decompress it first)", path, comp);
  return derror_set(err, "`%s`: %s", path, archive_error_string(a));
}

/* The image archive is a plain tar, as docker save, podman save and skopeo
 * write it: no filter is offered to libarchive, so that nothing the
 * archive says makes it decompress anything here. */
struct archive *
open_outer(const char *path, struct derror *err)
{
  cleanup_archive_read struct archive *a = archive_read_new();

  if (a == NULL)
    oom();
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, path, 64 * 1024) != ARCHIVE_OK) {
    outer_error(path, a, err);
    return NULL;
  }
  return steal_pointer(&a);
}

struct member_sink {
  struct member *x;
  struct digest d;
  struct buf keep;
  bool small;
};

static void
member_bytes(void *data, const void *bytes, size_t n)
{
  struct member_sink *s = data;
  size_t head = sizeof s->x->head - s->x->head_len;

  if (head > n)
    head = n;
  memcpy(s->x->head + s->x->head_len, bytes, head);
  s->x->head_len += head;
  digest_update(&s->d, bytes, n);
  if (s->small)
    buf_append(&s->keep, bytes, n);
}

/* Hash one member, keep it when small. */
static int
read_member(const char *path, struct archive *a, struct archive_entry *ae, struct member *x, struct derror *err)
{
  const char *raw = archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "";
  struct member_sink s = { .x = x, .small = archive_entry_size(ae) <= IMAGE_MAX_JSON };

  if (strlen(raw) >= IMAGE_MAX_PATH)
    return derror_set(err, "`%s`: a member's name is %zu bytes long (`%.48s...`), more than %d (PATH_MAX)", path,
                      strlen(raw), raw, IMAGE_MAX_PATH - 1);
  x->name = xstrdup(member_name(raw));
  if (archive_entry_sparse_count(ae) > 0)
    return derror_set(err, "`%s`: member `%s` is a sparse file: distill reads no sparse entries", path, x->name);
  digest_init(&s.d);
  int r = read_entry_data(a, member_bytes, &s);
  if (r != 0) {
    digest_abort(&s.d);
    buf_free(&s.keep);
    if (r > 0)
      return derror_set(err, "`%s`: member `%s` is a sparse file: distill reads no sparse entries", path, x->name);
    return derror_set(err, "`%s`: member `%s`: %s", path, x->name, archive_error_string(a));
  }
  x->size = s.d.size;
  digest_final(&s.d, x->digest);
  x->data = s.keep.data ? s.keep.data : (s.small ? xstrdup("") : NULL);
  /* A blob is named by its digest: anything else is corruption. */
  if (strncmp(x->name, "blobs/sha256/", 13) == 0 && strcmp(x->name + 13, x->digest + 7) != 0)
    return derror_set(err, "`%s`: blob `%s` does not match its content (%s)", path, x->name, x->digest);
  return 0;
}

/* One pass over the archive: every member hashed, small ones kept. */
int
read_members(const char *path, struct members *m, struct derror *err)
{
  cleanup_archive_read struct archive *a = open_outer(path, err);
  struct archive_entry *ae;
  bool first = true;
  int r;

  if (a == NULL)
    return -1;
  for (; (r = archive_read_next_header(a, &ae)) == ARCHIVE_OK; first = false) {
    if (archive_entry_filetype(ae) != AE_IFREG)
      continue;
    if (m->n == MAX_MEMBERS)
      return derror_set(err, "`%s`: more than %d members", path, MAX_MEMBERS);
    if (m->n == m->cap) {
      m->cap = m->cap ? m->cap * 2 : 32;
      m->items = xreallocarray(m->items, m->cap, sizeof *m->items);
    }
    struct member *x = &m->items[m->n++];
    memset(x, 0, sizeof *x);
    if (read_member(path, a, ae, x, err) < 0)
      return -1;
  }
  if (r == ARCHIVE_EOF)
    return 0;
  if (first)
    return outer_error(path, a, err);
  return derror_set(err, "`%s`: %s", path, archive_error_string(a));
}

json_t *
member_json(const char *archive, const struct members *m, const char *name, struct derror *err)
{
  const struct member *x = member_find(m, name);
  json_error_t jerr;

  if (x == NULL) {
    derror_set(err, "`%s`: no `%s` in the archive", archive, name);
    return NULL;
  }
  if (x->data == NULL) {
    derror_set(err, "`%s`: `%s` is larger than %u bytes", archive, name, IMAGE_MAX_JSON);
    return NULL;
  }
  json_t *j = json_loadb(x->data, x->size, JSON_REJECT_DUPLICATES, &jerr);
  if (j == NULL)
    derror_set(err, "`%s`: `%s`:%d:%d: %s", archive, name, jerr.line, jerr.column, jerr.text);
  return j;
}

char *
blob_member(const char *digest)
{
  return xasprintf("blobs/sha256/%s", digest + 7);
}
