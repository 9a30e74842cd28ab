#include "image/image.h"
#include "lib/path.h"
#include "lib/file.h"
#include "plan/policy.h"
#include "image/scan.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (128 * 1024)
#define MAX_MEMBERS 200000
#define MAX_SYMLINK_HOPS 40
#define NONE SIZE_MAX

/* ---- bounds ----------------------------------------------------------- */

/* "16 GiB", or the bytes when not a round number: for messages. */
static char *
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
static int
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
static const char *
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
static int
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

static const char *
filter_name(int filter)
{
  return filter == ARCHIVE_FILTER_GZIP ? "gzip" : filter == ARCHIVE_FILTER_ZSTD ? "zstd" : NULL;
}

/* ---- reading entries -------------------------------------------------- */

typedef void (*bytes_fn)(void *data, const void *bytes, size_t n);

/* Every byte of the current entry, block by block, to `fn`: 0, -1 on an
 * error of the archive, 1 on a hole.  A sparse file (GNU or pax sparse
 * headers) is refused, never read as zeros: a few bytes of map can stand
 * for terabytes, and a hole at the end is no bytes at all. */
static int
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

struct member {
  char *name;
  uint64_t size;
  char digest[DIGEST_STR_LEN];
  char *data;               /* kept when small enough to be a document */
  unsigned char head[16];   /* the first bytes: a compression's magic */
  size_t head_len;
};

struct members {
  struct member *items;
  size_t n, cap;
};

static void
members_free(struct members *m)
{
  for (size_t i = 0; i < m->n; i++) {
    free(m->items[i].name);
    free(m->items[i].data);
  }
  free(m->items);
}

static const struct member *
member_find(const struct members *m, const char *name)
{
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->items[i].name, name) == 0)
      return &m->items[i];
  return NULL;
}

/* "./x", "x" and "/x" name the same member. */
static const char *
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
static struct archive *
open_outer(const char *path, struct derror *err)
{
  struct archive *a = archive_read_new();

  if (a == NULL)
    oom();
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, path, 64 * 1024) != ARCHIVE_OK) {
    outer_error(path, a, err);
    archive_read_free(a);
    return NULL;
  }
  return a;
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
static int
read_members(const char *path, struct members *m, struct derror *err)
{
  struct archive *a = open_outer(path, err);
  struct archive_entry *ae;
  bool first = true;
  int r, ret = -1;

  if (a == NULL)
    return -1;
  for (; (r = archive_read_next_header(a, &ae)) == ARCHIVE_OK; first = false) {
    if (archive_entry_filetype(ae) != AE_IFREG)
      continue;
    if (m->n == MAX_MEMBERS) {
      derror_set(err, "`%s`: more than %d members", path, MAX_MEMBERS);
      goto out;
    }
    if (m->n == m->cap) {
      m->cap = m->cap ? m->cap * 2 : 32;
      m->items = xreallocarray(m->items, m->cap, sizeof *m->items);
    }
    struct member *x = &m->items[m->n++];
    memset(x, 0, sizeof *x);
    if (read_member(path, a, ae, x, err) < 0)
      goto out;
  }
  if (r != ARCHIVE_EOF) {
    if (first)
      outer_error(path, a, err);
    else
      derror_set(err, "`%s`: %s", path, archive_error_string(a));
    goto out;
  }
  ret = 0;
out:
  archive_read_free(a);
  return ret;
}

static json_t *
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

static const char *
jstr(json_t *o, const char *key)
{
  return json_string_value(json_object_get(o, key));
}

static char *
blob_name(const char *digest)
{
  return xasprintf("blobs/sha256/%s", digest + 7);
}

/* ---- finding the manifest --------------------------------------------- */

struct plan_layers {
  char **members; /* member names of the layer blobs, in order */
  size_t n;
};

static void
set_layer(struct image *img, size_t i, const char *digest, const char *media_type, uint64_t size)
{
  struct image_layer *l = &img->layers[i];
  snprintf(l->digest, sizeof l->digest, "%s", digest);
  l->media_type = xstrdup(media_type ? media_type : "");
  l->size = size;
}

static int
alloc_layers(const char *archive, struct image *img, struct plan_layers *pl, size_t n, struct derror *err)
{
  if (n > IMAGE_MAX_LAYERS)
    return derror_set(err, "`%s`: %zu layers, more than %d", archive, n, IMAGE_MAX_LAYERS);
  img->layers = xcalloc(n ? n : 1, sizeof *img->layers);
  pl->members = xcalloc(n ? n : 1, sizeof(char *));
  return 0;
}

/* The blob an OCI descriptor names, of the size it says. */
static const struct member *
desc_member(const char *archive, const struct members *m, json_t *desc, const char *what, struct derror *err)
{
  const char *digest = jstr(desc, "digest");
  json_t *size = json_object_get(desc, "size");

  if (!digest_valid(digest)) {
    derror_set(err, "`%s`: %s has an invalid digest", archive, what);
    return NULL;
  }
  cleanup_free char *name = blob_name(digest);
  const struct member *x = member_find(m, name);
  if (x == NULL) {
    derror_set(err, "`%s`: %s is %s, which the archive does not hold", archive, what, digest);
    return NULL;
  }
  if (!json_is_integer(size) || json_integer_value(size) < 0 || (uint64_t) json_integer_value(size) != x->size) {
    cleanup_free char *says = json_dumps(size ? size : json_null(), JSON_ENCODE_ANY);
    derror_set(err, "`%s`: %s %s is %" PRIu64 " bytes, but its descriptor gives the size %s", archive, what, digest,
               x->size, says ? says : "?");
    return NULL;
  }
  return x;
}

/* A layer blob is what its media type says: compressed with the one
 * filter named, or a plain tar. */
static int
check_layer_blob(const char *archive, size_t li, const struct member *x, const char *media_type, struct derror *err)
{
  int filter = media_type_filter(media_type);
  const char *is = compression_magic(x->head, x->head_len), *says;

  if (filter < 0)
    return derror_set(err, "`%s`: layer %zu has the media type %s%s%s, not one of a tar layer (plain, gzip or zstd)",
                      archive, li + 1, media_type ? "\"" : "", media_type ? media_type : "(none)",
                      media_type ? "\"" : "");
  says = filter_name(filter);
  if (is == NULL && says == NULL)
    return 0;
  if (is && says && strcmp(is, says) == 0)
    return 0;
  return derror_set(err, "`%s`: layer %zu is %s%s, but its media type %s says %s", archive, li + 1,
                    is ? "compressed with " : "not compressed", is ? is : "", media_type,
                    says ? says : "a plain tar");
}

/* index.json's first manifest, through indexes of indexes (skopeo's
 * multi-platform archives) to the first image manifest. */
static json_t *
first_manifest(const char *archive, const struct members *m, json_t *index, json_t **nested, struct derror *err)
{
  json_t *desc = json_array_get(json_object_get(index, "manifests"), 0);

  for (int depth = 0; desc && depth < 4; depth++) {
    const char *mt = jstr(desc, "mediaType");
    if (mt == NULL || (strcmp(mt, "application/vnd.oci.image.index.v1+json")
                       && strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json")))
      break;
    const struct member *x = desc_member(archive, m, desc, "the index", err);
    if (x == NULL)
      return NULL;
    json_decref(*nested);
    if ((*nested = member_json(archive, m, x->name, err)) == NULL)
      return NULL;
    desc = json_array_get(json_object_get(*nested, "manifests"), 0);
  }
  if (!digest_valid(jstr(desc, "digest"))) {
    derror_set(err, "`%s`: index.json names no image manifest", archive);
    return NULL;
  }
  return desc;
}

static int
oci_layers(const char *archive, const struct members *m, json_t *layers, struct image *img, struct plan_layers *pl,
           struct derror *err)
{
  size_t n = json_array_size(layers);

  if (alloc_layers(archive, img, pl, n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    json_t *l = json_array_get(layers, i);
    char what[32];
    snprintf(what, sizeof what, "layer %zu", i + 1);
    const struct member *x = desc_member(archive, m, l, what, err);
    if (x == NULL)
      return -1;
    pl->members[i] = xstrdup(x->name);
    pl->n = img->n_layers = i + 1;
    set_layer(img, i, jstr(l, "digest"), jstr(l, "mediaType"), x->size);
    if (check_layer_blob(archive, i, x, jstr(l, "mediaType"), err) < 0)
      return -1;
  }
  return 0;
}

static int
oci_manifest(const char *archive, const struct members *m, struct image *img, struct plan_layers *pl,
             struct derror *err)
{
  json_t *index = member_json(archive, m, "index.json", err), *manifest = NULL, *nested = NULL;
  json_t *desc, *ann, *layers, *config;
  const char *ref;
  const struct member *x;
  int ret = -1;

  if (index == NULL)
    return -1;
  if ((desc = first_manifest(archive, m, index, &nested, err)) == NULL)
    goto out;
  ann = json_object_get(json_array_get(json_object_get(index, "manifests"), 0), "annotations");
  ref = jstr(ann, "io.containerd.image.name");
  if (ref == NULL)
    ref = jstr(ann, "org.opencontainers.image.ref.name");
  img->name = ref ? xstrdup(ref) : NULL;
  snprintf(img->manifest_digest, sizeof img->manifest_digest, "%s", jstr(desc, "digest"));
  if ((x = desc_member(archive, m, desc, "the image manifest", err)) == NULL)
    goto out;
  if ((manifest = member_json(archive, m, x->name, err)) == NULL) {
    derror_wrap(err, "the manifest %s", img->manifest_digest);
    goto out;
  }
  config = json_object_get(manifest, "config");
  layers = json_object_get(manifest, "layers");
  if (!digest_valid(jstr(config, "digest")) || !json_is_array(layers)) {
    derror_set(err, "`%s`: the manifest %s has no config or layers", archive, img->manifest_digest);
    goto out;
  }
  snprintf(img->config_digest, sizeof img->config_digest, "%s", jstr(config, "digest"));
  if (oci_layers(archive, m, layers, img, pl, err) < 0)
    goto out;
  if ((x = desc_member(archive, m, config, "the config", err)) == NULL)
    goto out;
  if ((img->config = member_json(archive, m, x->name, err)) == NULL) {
    derror_wrap(err, "the config %s", img->config_digest);
    goto out;
  }
  ret = 0;
out:
  json_decref(index);
  json_decref(nested);
  json_decref(manifest);
  return ret;
}

/* Docker's manifest.json names layer members, no media types: a layer is a
 * plain tar or, as docker load also takes, a gzip one. */
static int
docker_layer(const char *archive, struct image *img, size_t i, const struct member *l, struct derror *err)
{
  const char *is = compression_magic(l->head, l->head_len);

  if (is && strcmp(is, "gzip") != 0)
    return derror_set(err, "`%s`: layer `%s` is compressed with %s: a layer of docker's format is a plain or a gzip "
                           "tar", archive, l->name, is);
  set_layer(img, i, l->digest,
            is ? "application/vnd.docker.image.rootfs.diff.tar.gzip" : "application/vnd.docker.image.rootfs.diff.tar",
            l->size);
  return 0;
}

static int
docker_manifest(const char *archive, const struct members *m, struct image *img, struct plan_layers *pl,
                struct derror *err)
{
  json_t *doc = member_json(archive, m, "manifest.json", err), *first, *layers;
  const char *config, *tag;
  const struct member *c;
  size_t n;
  int ret = -1;

  if (doc == NULL)
    return -1;
  first = json_array_get(doc, 0);
  config = jstr(first, "Config");
  layers = json_object_get(first, "Layers");
  if (config == NULL || !json_is_array(layers)) {
    derror_set(err, "`%s`: manifest.json has no Config or Layers", archive);
    goto out;
  }
  tag = json_string_value(json_array_get(json_object_get(first, "RepoTags"), 0));
  img->name = tag ? xstrdup(tag) : NULL;
  c = member_find(m, member_name(config));
  if (c == NULL) {
    derror_set(err, "`%s`: manifest.json names the config `%s`, which the archive does not hold", archive, config);
    goto out;
  }
  snprintf(img->config_digest, sizeof img->config_digest, "%s", c->digest);
  n = json_array_size(layers);
  if (alloc_layers(archive, img, pl, n, err) < 0)
    goto out;
  for (size_t i = 0; i < n; i++) {
    const char *name = json_string_value(json_array_get(layers, i));
    const struct member *l = name ? member_find(m, member_name(name)) : NULL;
    if (l == NULL) {
      derror_set(err, "`%s`: manifest.json names layer `%s`, which the archive does not hold", archive,
                 name ? name : "?");
      goto out;
    }
    pl->members[i] = xstrdup(l->name);
    pl->n = img->n_layers = i + 1;
    if (docker_layer(archive, img, i, l, err) < 0)
      goto out;
  }
  if ((img->config = member_json(archive, m, member_name(config), err)) == NULL)
    goto out;
  ret = 0;
out:
  json_decref(doc);
  return ret;
}

/* ---- one layer -------------------------------------------------------- */

static int
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

/* How many bytes a layer may uncompress to. */
struct layer_limit {
  uint64_t left;  /* bytes the layer may have */
  uint64_t bound; /* the bound that says so, for messages */
  bool image;     /* the image's bound, not the layer's */
};

/* The layer's bytes, uncompressed by the one filter its media type names
 * and hashed on the way to the tar reader: their digest is the diff_id.
 * They are counted against `limit`. */
struct layer_stream {
  struct archive *raw; /* the filter over the outer member */
  struct digest diff;
  char *buf;
  bool eof;
  const char *filter;  /* its name, NULL for none */
  uint64_t bytes;
  struct layer_limit limit;
  bool over;           /* stopped at the limit */
  bool ratio;          /* stopped at IMAGE_MAX_RATIO */
  const char *nested;  /* the compression found under the filter */
};

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

static la_ssize_t
outer_read(struct archive *a, void *data, const void **out)
{
  struct archive *outer = data;
  static __thread char buf[CHUNK];
  la_ssize_t n = archive_read_data(outer, buf, sizeof buf);

  if (n < 0)
    archive_set_error(a, EIO, "%s", archive_error_string(outer));
  *out = buf;
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

struct layer_reader {
  struct archive *outer, *raw, *tar;
  struct layer_stream stream;
};

/* What stopped reading layer `li` (at `path`, when not NULL): a bound, a
 * second compression, or what libarchive says. */
static int
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

static int
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
  if (archive_read_open(lr->raw, lr->outer, NULL, outer_read, NULL) != ARCHIVE_OK
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

static void
layer_close(struct layer_reader *lr)
{
  if (lr->tar)
    archive_read_free(lr->tar);
  if (lr->raw)
    archive_read_free(lr->raw);
  if (lr->outer)
    archive_read_free(lr->outer);
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

/* Reading an archive: where, and what it has cost so far. */
struct reader {
  const char *archive;
  struct image *img;
  uint64_t layer_max, image_max; /* uncompressed bytes */
  uint64_t image_bytes;          /* uncompressed so far */
  uint64_t name_bytes;           /* names and link targets so far */
};

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

static int
read_layer(struct reader *rd, size_t li, const char *member, const char *want_diff_id, struct derror *err)
{
  struct image *img = rd->img;
  struct layer_reader lr;
  struct archive_entry *ae;
  uint64_t left = rd->image_max - rd->image_bytes;
  struct layer_limit limit = { rd->layer_max, rd->layer_max, false };
  int r, ret = -1;

  if (left < rd->layer_max)
    limit = (struct layer_limit) { left, rd->image_max, true };
  if (layer_open(&lr, rd->archive, li, member, img->layers[li].media_type, &limit, err) < 0)
    goto out;
  while ((r = archive_read_next_header(lr.tar, &ae)) == ARCHIVE_OK)
    if (add_entry(rd, li, &lr, ae, err) < 0)
      goto out;
  if (r != ARCHIVE_EOF) {
    layer_error(rd->archive, li, &lr.stream, lr.tar, NULL, err);
    goto out;
  }
  /* the diff_id covers the whole stream, padding after the end included */
  const void *rest;
  la_ssize_t n;
  while ((n = layer_read(lr.tar, &lr.stream, &rest)) > 0)
    ;
  if (n < 0) {
    layer_error(rd->archive, li, &lr.stream, lr.tar, NULL, err);
    goto out;
  }
  rd->image_bytes += lr.stream.bytes;
  digest_final(&lr.stream.diff, img->layers[li].diff_id);
  if (want_diff_id && strcmp(want_diff_id, img->layers[li].diff_id) != 0) {
    derror_set(err, "`%s`: layer %zu: its content is %s, but the config says %s", rd->archive, li + 1,
               img->layers[li].diff_id, want_diff_id);
    goto out;
  }
  ret = 0;
out:
  layer_close(&lr);
  return ret;
}

/* ---- the merged tree -------------------------------------------------- */

/* A set of the numbers below n with insert, remove and find-next in
 * O(log n): words of bits, and above each level words saying which words
 * of the level below are not empty. */
#define BITS_LEVELS 12
struct bits {
  uint64_t *level[BITS_LEVELS];
  size_t words[BITS_LEVELS];
  size_t n_levels;
};

static void
bits_init(struct bits *b, size_t n)
{
  memset(b, 0, sizeof *b);
  do {
    n = (n + 63) / 64;
    b->words[b->n_levels] = n ? n : 1;
    b->level[b->n_levels] = xcalloc(b->words[b->n_levels], sizeof(uint64_t));
    b->n_levels++;
  } while (n > 1);
}

static void
bits_free(struct bits *b)
{
  for (size_t l = 0; l < b->n_levels; l++)
    free(b->level[l]);
}

static bool
bits_has(const struct bits *b, size_t i)
{
  return (b->level[0][i >> 6] >> (i & 63)) & 1;
}

static void
bits_add(struct bits *b, size_t i)
{
  for (size_t l = 0; l < b->n_levels; l++, i >>= 6) {
    uint64_t *w = &b->level[l][i >> 6];
    bool was_empty = *w == 0;
    *w |= 1ull << (i & 63);
    if (!was_empty)
      return;
  }
}

static void
bits_del(struct bits *b, size_t i)
{
  for (size_t l = 0; l < b->n_levels; l++, i >>= 6) {
    uint64_t *w = &b->level[l][i >> 6];
    *w &= ~(1ull << (i & 63));
    if (*w)
      return;
  }
}

/* The first member >= i, or NONE: up while the words are empty, then down
 * along the first bits set. */
static size_t
bits_next(const struct bits *b, size_t i)
{
  size_t l = 0;

  for (;;) {
    if (l == b->n_levels || (i >> 6) >= b->words[l])
      return NONE;
    uint64_t w = b->level[l][i >> 6] & (~0ull << (i & 63));
    if (w) {
      i = (i & ~(size_t) 63) | (size_t) __builtin_ctzll(w);
      break;
    }
    i = (i >> 6) + 1;
    l++;
  }
  while (l-- > 0)
    i = (i << 6) | (size_t) __builtin_ctzll(b->level[l][i]);
  return i;
}

/* What is at a name of the tree: history indexes of the entry that wrote
 * the name and of the one whose inode it is (itself, or for a hardlink the
 * entry its target was when the link was applied). */
struct slot {
  size_t name, inode;
};

/* The tree while the history is applied.  Every name of the history is
 * sorted once (its rank), so that the names below "/a" are one range of
 * ranks, from "/a/" up to "/a0" ('0' follows '/').  `live` holds the ranks
 * now in the tree and `lower` those of them written by layers below the one
 * being applied: whiteouts apply only to lower layers, so they walk `lower`
 * alone and never even visit an entry of their own layer.  Removing a name
 * and what is below it costs O(log n) and O(1) per entry removed. */
struct tree {
  struct image *img;
  const char *archive; /* NULL: a described image, whose links are not checked */
  const char **names;  /* by rank */
  size_t n;
  size_t *rank;        /* by history index */
  struct slot *slots;  /* by rank */
  struct bits live, lower;
  size_t *fresh;       /* ranks written by the layer being applied */
  size_t n_fresh;
  int layer;
};

static int
by_path(const void *a, const void *b, void *data)
{
  const struct image_file *h = data;
  return strcmp(h[*(const size_t *) a].path, h[*(const size_t *) b].path);
}

static void
tree_init(struct tree *t, struct image *img, const char *archive)
{
  size_t n = img->n_history;
  cleanup_free size_t *order = xcalloc(n ? n : 1, sizeof *order);

  memset(t, 0, sizeof *t);
  t->img = img;
  t->archive = archive;
  t->layer = -1;
  t->names = xcalloc(n ? n : 1, sizeof *t->names);
  t->rank = xcalloc(n ? n : 1, sizeof *t->rank);
  t->fresh = xcalloc(n ? n : 1, sizeof *t->fresh);
  for (size_t i = 0; i < n; i++)
    order[i] = i;
  qsort_r(order, n, sizeof *order, by_path, img->history);
  for (size_t i = 0; i < n; i++) {
    const char *p = img->history[order[i]].path;
    if (t->n == 0 || strcmp(t->names[t->n - 1], p) != 0)
      t->names[t->n++] = p;
    t->rank[order[i]] = t->n - 1;
  }
  t->slots = xcalloc(t->n ? t->n : 1, sizeof *t->slots);
  bits_init(&t->live, t->n);
  bits_init(&t->lower, t->n);
}

static void
tree_free(struct tree *t)
{
  free(t->names);
  free(t->rank);
  free(t->slots);
  free(t->fresh);
  bits_free(&t->live);
  bits_free(&t->lower);
}

/* The first rank whose name is not below `p` (len bytes) followed by `c`. */
static size_t
bound(const struct tree *t, const char *p, size_t len, char c)
{
  size_t lo = 0, hi = t->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const char *s = t->names[mid];
    int r = strncmp(s, p, len);
    if (r == 0)
      r = (unsigned char) s[len] < (unsigned char) c ? -1 : 0;
    if (r < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static size_t
find_name(const struct tree *t, const char *p)
{
  size_t len = strlen(p), r = bound(t, p, len, '\0');
  return r < t->n && strcmp(t->names[r], p) == 0 ? r : NONE;
}

/* Remove from the tree the members of `set` named below `p` (len bytes). */
static void
remove_below(struct tree *t, struct bits *set, const char *p, size_t len)
{
  size_t lo = 0, hi = t->n;

  if (len > 1) { /* else the root: everything */
    lo = bound(t, p, len, '/');
    hi = bound(t, p, len, '0');
  }
  for (size_t i = bits_next(set, lo); i < hi; i = bits_next(set, i + 1)) {
    bits_del(&t->live, i);
    bits_del(&t->lower, i);
  }
}

/* The entries of the layer just applied are lower for the next one. */
static void
next_layer(struct tree *t, int layer)
{
  for (size_t i = 0; i < t->n_fresh; i++)
    if (bits_has(&t->live, t->fresh[i]))
      bits_add(&t->lower, t->fresh[i]);
  t->n_fresh = 0;
  t->layer = layer;
}

/* ".wh.NAME" removes NAME and ".wh..wh..opq" what its directory held, as
 * lower layers wrote them: an entry of the whiteout's own layer stays,
 * before or after it in the tar (OCI image spec, as umoci applies it). */
static void
apply_whiteout(struct tree *t, const struct image_file *e)
{
  const char *base = strrchr(e->path, '/') + 1, *name = base + 4;
  size_t dir = (size_t) (base - e->path); /* with its '/' */

  if (strcmp(name, ".wh..opq") == 0) {
    remove_below(t, &t->lower, e->path, dir > 1 ? dir - 1 : 1);
    return;
  }
  /* ".wh..wh.*" is reserved; ".wh.", ".wh.." and ".wh..." name nothing */
  if (strncmp(name, ".wh.", 4) == 0 || *name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return;
  cleanup_free char *gone = xasprintf("%.*s%s", (int) dir, e->path, name);
  size_t r = find_name(t, gone);
  if (r != NONE && bits_has(&t->lower, r)) {
    bits_del(&t->live, r);
    bits_del(&t->lower, r);
  }
  remove_below(t, &t->lower, gone, strlen(gone));
}

/* The inode a hardlink names: its target as the tree has it now, in the
 * link's layer or below (a later entry of its layer is not there yet). */
static int
link_inode(const struct tree *t, const struct image_file *e, size_t *inode, struct derror *err)
{
  size_t r = e->target ? find_name(t, e->target) : NONE;

  if (r == NONE || !bits_has(&t->live, r)) {
    if (t->archive == NULL)
      return 0;
    return derror_set(err, "`%s`: layer %d: hardlink `%s` names `%s`, which is not in the image (in its layer or "
                           "below, before the link)", t->archive, e->layer + 1, e->path, e->target ? e->target : "");
  }
  size_t target = t->slots[r].inode;
  if (t->img->history[target].type == 'd') {
    if (t->archive == NULL)
      return 0;
    return derror_set(err, "`%s`: layer %d: hardlink `%s` names the directory `%s`", t->archive, e->layer + 1,
                      e->path, e->target);
  }
  *inode = target;
  return 0;
}

static int
apply_entry(struct tree *t, size_t h, struct derror *err)
{
  const struct image_file *e = &t->img->history[h];
  const char *base = strrchr(e->path, '/') + 1;
  size_t r = t->rank[h], inode = h;

  if (e->layer != t->layer)
    next_layer(t, e->layer);
  if (strncmp(base, ".wh.", 4) == 0) {
    apply_whiteout(t, e);
    return 0;
  }
  if (e->type == 'h' && link_inode(t, e, &inode, err) < 0)
    return -1;
  if (bits_has(&t->live, r)) {
    /* a directory stays a directory with its children; anything else
     * replaces the old entry, and a directory's children with it */
    if (!(t->img->history[t->slots[r].inode].type == 'd' && t->img->history[inode].type == 'd'))
      remove_below(t, &t->live, e->path, strlen(e->path));
    bits_del(&t->lower, r);
  }
  t->slots[r] = (struct slot) { h, inode };
  bits_add(&t->live, r);
  t->fresh[t->n_fresh++] = r;
  return 0;
}

/* The tree, in the order of the ranks: sorted by path. */
static void
tree_files(struct tree *t)
{
  struct image *img = t->img;
  size_t n = 0;

  for (size_t r = bits_next(&t->live, 0); r != NONE; r = bits_next(&t->live, r + 1))
    n++;
  img->files = xcalloc(n ? n : 1, sizeof *img->files);
  img->n_files = 0;
  for (size_t r = bits_next(&t->live, 0); r != NONE; r = bits_next(&t->live, r + 1)) {
    const struct slot *s = &t->slots[r];
    struct image_file *f = &img->files[img->n_files++];
    *f = img->history[s->inode];
    f->path = img->history[s->name].path;
    f->layer = img->history[s->name].layer;
    f->src = s->inode;
  }
}

static int
merge(struct image *img, const char *archive, struct derror *err)
{
  struct tree t;
  int ret = -1;

  tree_init(&t, img, archive);
  for (size_t i = 0; i < img->n_history; i++)
    if (apply_entry(&t, i, err) < 0)
      goto out;
  tree_files(&t);
  ret = 0;
out:
  tree_free(&t);
  return ret;
}

void
image_merge(struct image *img)
{
  merge(img, NULL, NULL);
}

int
image_read(const char *archive, struct image *img, struct derror *err)
{
  struct reader rd = { .archive = archive, .img = img };
  struct members m = { 0 };
  struct plan_layers pl = { 0 };
  json_t *diff_ids;
  int ret = -1;

  memset(img, 0, sizeof *img);
  if (env_bound("DISTILL_MAX_LAYER_BYTES", IMAGE_MAX_LAYER_BYTES, &rd.layer_max, err) < 0
      || env_bound("DISTILL_MAX_IMAGE_BYTES", IMAGE_MAX_IMAGE_BYTES, &rd.image_max, err) < 0)
    goto out;
  if (read_members(archive, &m, err) < 0)
    goto out;
  if (member_find(&m, "index.json") ? oci_manifest(archive, &m, img, &pl, err) < 0
                                     : docker_manifest(archive, &m, img, &pl, err) < 0)
    goto out;
  diff_ids = json_object_get(json_object_get(img->config, "rootfs"), "diff_ids");
  if (json_array_size(diff_ids) != img->n_layers) {
    derror_set(err, "`%s`: the config lists %zu diff_ids for %zu layers", archive, json_array_size(diff_ids),
               img->n_layers);
    goto out;
  }
  for (size_t i = 0; i < img->n_layers; i++) {
    /* a diff_id that is no string would verify nothing */
    const char *want = json_string_value(json_array_get(diff_ids, i));
    if (want == NULL) {
      derror_set(err, "`%s`: the config's diff_id %zu is not a string: layer %zu cannot be verified", archive, i + 1,
                 i + 1);
      goto out;
    }
    if (read_layer(&rd, i, pl.members[i], want, err) < 0)
      goto out;
  }
  if (merge(img, archive, err) < 0)
    goto out;
  ret = 0;
out:
  for (size_t i = 0; i < pl.n; i++)
    free(pl.members[i]);
  free(pl.members);
  members_free(&m);
  if (ret < 0)
    image_free(img);
  return ret;
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

/* ---- reading a layer again -------------------------------------------- */

/* The outer member holding layer `li`: the blob of its digest, else the
 * member docker's manifest names with that digest. */
static char *
layer_member(const char *archive, const struct image *img, size_t li, struct derror *err)
{
  struct members m = { 0 };
  char *name = blob_name(img->layers[li].digest);

  if (read_members(archive, &m, err) < 0) {
    free(name);
    return NULL;
  }
  if (member_find(&m, name) == NULL) {
    for (size_t i = 0; i < m.n; i++)
      if (strcmp(m.items[i].digest, img->layers[li].digest) == 0) {
        free(name);
        name = xstrdup(m.items[i].name);
        break;
      }
  }
  members_free(&m);
  return name;
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
  struct layer_reader lr;
  size_t ordinal, at = 0, src = content_entry(img, f, &ordinal);
  int ret = -1;

  memset(&lr, 0, sizeof lr);
  if (f->type != 'f' || src == NONE)
    return derror_set(err, "`%s`: not a regular file", f->path);
  const struct image_file *e = &img->history[src];
  if (layer_reopen(&lr, archive, img, (size_t) e->layer, err) < 0
      || seek_entry(&lr, archive, e->layer, &at, ordinal, e->path, err) < 0)
    goto out;
  char chunk[8192];
  la_ssize_t n;
  while ((n = archive_read_data(lr.tar, chunk, sizeof chunk)) > 0) {
    if (out->len + (size_t) n > max) {
      derror_set(err, "`%s`: larger than %zu bytes", f->path, max);
      goto out;
    }
    buf_append(out, chunk, (size_t) n);
  }
  if (n < 0) {
    derror_set(err, "`%s`: %s", f->path, archive_error_string(lr.tar));
    goto out;
  }
  if (out->data == NULL)
    buf_append(out, "", 0);
  ret = 0;
out:
  layer_close(&lr);
  return ret;
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
  struct layer_reader lr;
  size_t at = 0;
  int ret = -1;

  if (layer_reopen(&lr, archive, img, (size_t) w[0].layer, err) < 0)
    goto out;
  for (size_t k = 0, end; k < n; k = end) {
    uint64_t max = 0;
    for (end = k; end < n && w[end].ordinal == w[k].ordinal; end++)
      max = w[end].max > max ? w[end].max : max;
    const struct image_file *e = &img->history[img->files[w[k].file].src];
    cleanup_free char *first = xasprintf("%s/%zu", dir, w[k].file);
    if (seek_entry(&lr, archive, w[k].layer, &at, w[k].ordinal, e->path, err) < 0
        || extract_entry(lr.tar, first, max, err) < 0)
      goto out;
    for (size_t j = k + 1; j < end; j++) {
      cleanup_free char *other = xasprintf("%s/%zu", dir, w[j].file);
      if (link(first, other) < 0) {
        derror_errno(err, errno, "link `%s` to `%s`", other, first);
        goto out;
      }
    }
  }
  ret = 0;
out:
  layer_close(&lr);
  return ret;
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
