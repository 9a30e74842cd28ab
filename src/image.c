#include "distill/image.h"
#include "distill/policy.h"
#include "distill/scan.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#define CHUNK (128 * 1024)
#define MAX_MEMBERS 200000
#define MAX_SYMLINK_HOPS 40

/* ---- the outer archive ------------------------------------------------ */

struct member {
  char *name;
  uint64_t size;
  char digest[DIGEST_STR_LEN];
  char *data; /* kept when small enough to be a document */
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

static struct archive *
open_outer(const char *path, struct derror *err)
{
  struct archive *a = archive_read_new();

  if (a == NULL)
    oom();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, path, 64 * 1024) != ARCHIVE_OK) {
    derror_set(err, "`%s`: %s", path, archive_error_string(a));
    archive_read_free(a);
    return NULL;
  }
  return a;
}

/* One pass over the archive: every member hashed, small ones kept. */
static int
read_members(const char *path, struct members *m, struct derror *err)
{
  struct archive *a = open_outer(path, err);
  struct archive_entry *ae;
  cleanup_free char *chunk = xmalloc(CHUNK);
  int r, ret = -1;

  if (a == NULL)
    return -1;
  while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
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
    x->name = xstrdup(member_name(archive_entry_pathname(ae)));
    struct digest d;
    struct buf keep = { 0 };
    bool small = archive_entry_size(ae) <= IMAGE_MAX_JSON;
    digest_init(&d);
    for (;;) {
      la_ssize_t n = archive_read_data(a, chunk, CHUNK);
      if (n < 0) {
        digest_abort(&d);
        buf_free(&keep);
        derror_set(err, "`%s`: member `%s`: %s", path, x->name, archive_error_string(a));
        goto out;
      }
      if (n == 0)
        break;
      digest_update(&d, chunk, (size_t) n);
      if (small)
        buf_append(&keep, chunk, (size_t) n);
    }
    x->size = d.size;
    digest_final(&d, x->digest);
    x->data = keep.data ? keep.data : (small ? xstrdup("") : NULL);
    /* A blob is named by its digest: anything else is corruption. */
    if (strncmp(x->name, "blobs/sha256/", 13) == 0 && strcmp(x->name + 13, x->digest + 7) != 0) {
      derror_set(err, "`%s`: blob `%s` does not match its content (%s)", path, x->name, x->digest);
      goto out;
    }
  }
  if (r != ARCHIVE_EOF) {
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

static int
set_layer(struct image *img, size_t i, const char *digest, const char *media_type, uint64_t size)
{
  struct image_layer *l = &img->layers[i];
  snprintf(l->digest, sizeof l->digest, "%s", digest);
  l->media_type = xstrdup(media_type ? media_type : "");
  l->size = size;
  return 0;
}

static int
alloc_layers(const char *archive, struct image *img, struct plan_layers *pl, size_t n, struct derror *err)
{
  if (n > IMAGE_MAX_LAYERS)
    return derror_set(err, "`%s`: %zu layers, more than %d", archive, n, IMAGE_MAX_LAYERS);
  img->layers = xcalloc(n, sizeof *img->layers);
  pl->members = xcalloc(n, sizeof(char *));
  return 0;
}

static int
oci_manifest(const char *archive, const struct members *m, struct image *img, struct plan_layers *pl,
             struct derror *err)
{
  json_t *index = member_json(archive, m, "index.json", err), *manifest = NULL, *nested = NULL;
  json_t *desc, *ann, *layers;
  const char *digest, *ref, *cdigest;
  cleanup_free char *mname = NULL, *cname = NULL;
  size_t n;
  int ret = -1;

  if (index == NULL)
    return -1;
  desc = json_array_get(json_object_get(index, "manifests"), 0);
  digest = jstr(desc, "digest");
  /* an index of indexes (skopeo's multi-platform archives): its first */
  for (int depth = 0; desc && depth < 4; depth++) {
    const char *mt = jstr(desc, "mediaType");
    if (mt == NULL || (strcmp(mt, "application/vnd.oci.image.index.v1+json")
                       && strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json")))
      break;
    if (!digest_valid(digest)) {
      derror_set(err, "`%s`: index.json: invalid digest", archive);
      goto out;
    }
    cleanup_free char *name = blob_name(digest);
    json_decref(nested);
    if ((nested = member_json(archive, m, name, err)) == NULL)
      goto out;
    desc = json_array_get(json_object_get(nested, "manifests"), 0);
    digest = jstr(desc, "digest");
  }
  if (!digest_valid(digest)) {
    derror_set(err, "`%s`: index.json names no image manifest", archive);
    goto out;
  }
  ann = json_object_get(json_array_get(json_object_get(index, "manifests"), 0), "annotations");
  ref = jstr(ann, "io.containerd.image.name");
  if (ref == NULL)
    ref = jstr(ann, "org.opencontainers.image.ref.name");
  img->name = ref ? xstrdup(ref) : NULL;
  snprintf(img->manifest_digest, sizeof img->manifest_digest, "%s", digest);
  mname = blob_name(digest);
  if ((manifest = member_json(archive, m, mname, err)) == NULL) {
    derror_wrap(err, "the manifest %s", digest);
    goto out;
  }
  cdigest = jstr(json_object_get(manifest, "config"), "digest");
  layers = json_object_get(manifest, "layers");
  if (!digest_valid(cdigest) || !json_is_array(layers)) {
    derror_set(err, "`%s`: the manifest %s has no config or layers", archive, digest);
    goto out;
  }
  snprintf(img->config_digest, sizeof img->config_digest, "%s", cdigest);
  n = json_array_size(layers);
  if (alloc_layers(archive, img, pl, n, err) < 0)
    goto out;
  for (size_t i = 0; i < n; i++, img->n_layers++) {
    json_t *l = json_array_get(layers, i);
    const char *ld = jstr(l, "digest");
    if (!digest_valid(ld)) {
      derror_set(err, "`%s`: layer %zu of the manifest has an invalid digest", archive, i + 1);
      goto out;
    }
    pl->members[i] = blob_name(ld);
    pl->n = i + 1;
    if (member_find(m, pl->members[i]) == NULL) {
      derror_set(err, "`%s`: the manifest names layer %s, which the archive does not hold", archive, ld);
      goto out;
    }
    set_layer(img, i, ld, jstr(l, "mediaType"), (uint64_t) json_integer_value(json_object_get(l, "size")));
  }
  cname = blob_name(cdigest);
  if ((img->config = member_json(archive, m, cname, err)) == NULL) {
    derror_wrap(err, "the config %s", cdigest);
    goto out;
  }
  ret = 0;
out:
  json_decref(index);
  json_decref(nested);
  json_decref(manifest);
  return ret;
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
  for (size_t i = 0; i < n; i++, img->n_layers++, pl->n++) {
    const char *name = json_string_value(json_array_get(layers, i));
    const struct member *l = name ? member_find(m, member_name(name)) : NULL;
    if (l == NULL) {
      derror_set(err, "`%s`: manifest.json names layer `%s`, which the archive does not hold", archive,
                 name ? name : "?");
      goto out;
    }
    pl->members[i] = xstrdup(l->name);
    set_layer(img, i, l->digest, "application/vnd.docker.image.rootfs.diff.tar", l->size);
  }
  if ((img->config = member_json(archive, m, member_name(config), err)) == NULL)
    goto out;
  ret = 0;
out:
  json_decref(doc);
  return ret;
}

/* ---- the merged tree -------------------------------------------------- */

/* Paths to indexes of img->files, open addressing (FNV-1a); a removed
 * file keeps its slot with a NULL path. */
struct pathmap {
  size_t *slots; /* index + 1, or 0 */
  size_t cap, used;
};

static uint64_t
hash_path(const char *s)
{
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char) *s) * 1099511628211ULL;
  return h;
}

static size_t *
map_slot(struct pathmap *map, const struct image *img, const char *path)
{
  size_t i = hash_path(path) & (map->cap - 1);
  for (;; i = (i + 1) & (map->cap - 1)) {
    size_t v = map->slots[i];
    if (v == 0 || (img->files[v - 1].path && strcmp(img->files[v - 1].path, path) == 0))
      return &map->slots[i];
  }
}

static void
map_grow(struct pathmap *map, const struct image *img)
{
  struct pathmap bigger = { xcalloc(map->cap ? map->cap * 2 : 1024, sizeof(size_t)), map->cap ? map->cap * 2 : 1024,
                            0 };
  for (size_t i = 0; i < map->cap; i++)
    if (map->slots[i] && img->files[map->slots[i] - 1].path) {
      *map_slot(&bigger, img, img->files[map->slots[i] - 1].path) = map->slots[i];
      bigger.used++;
    }
  free(map->slots);
  *map = bigger;
}

static void
file_free(struct image_file *f)
{
  free(f->path);
  free(f->target);
  f->path = f->target = NULL;
}

static void
remove_file(struct image *img, size_t i)
{
  file_free(&img->files[i]);
}

/* Remove everything below `dir` written by layers before `layer`. */
static void
remove_below(struct image *img, const char *dir, int layer)
{
  size_t len = strlen(dir);
  for (size_t i = 0; i < img->n_files; i++) {
    struct image_file *f = &img->files[i];
    if (f->path && f->layer < layer && strncmp(f->path, dir, len) == 0 && (f->path[len] == '/' || len == 1))
      remove_file(img, i);
  }
}

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

/* ---- one layer -------------------------------------------------------- */

/* The layer's bytes, uncompressed by libarchive and hashed on the way to
 * the tar reader: their digest is the diff_id. */
struct layer_stream {
  struct archive *raw; /* filters over the outer member */
  struct digest diff;
  char *buf;
  bool eof;
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

static int
layer_open(struct layer_reader *lr, const char *archive, const char *member, struct derror *err)
{
  struct archive_entry *ae;

  memset(lr, 0, sizeof *lr);
  if ((lr->outer = open_outer(archive, err)) == NULL)
    return -1;
  if (seek_member(lr->outer, archive, member, err) < 0)
    return -1;
  lr->raw = archive_read_new();
  lr->tar = archive_read_new();
  if (lr->raw == NULL || lr->tar == NULL)
    oom();
  archive_read_support_filter_all(lr->raw);
  archive_read_support_format_raw(lr->raw);
  if (archive_read_open(lr->raw, lr->outer, NULL, outer_read, NULL) != ARCHIVE_OK
      || archive_read_next_header(lr->raw, &ae) != ARCHIVE_OK)
    return derror_set(err, "`%s`: layer `%s`: %s", archive, member, archive_error_string(lr->raw));
  lr->stream.raw = lr->raw;
  lr->stream.buf = xmalloc(CHUNK);
  digest_init(&lr->stream.diff);
  archive_read_support_format_tar(lr->tar);
  if (archive_read_open(lr->tar, &lr->stream, NULL, layer_read, NULL) != ARCHIVE_OK)
    return derror_set(err, "`%s`: layer `%s`: %s", archive, member, archive_error_string(lr->tar));
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

/* Apply one entry to the merged tree. */
static void
apply_entry(struct image *img, struct pathmap *map, const struct image_file *e)
{
  const char *base = strrchr(e->path, '/') + 1;

  if (strcmp(base, ".wh..wh..opq") == 0) {
    cleanup_free char *dir = path_dirname(e->path);
    remove_below(img, dir, e->layer);
    return;
  }
  if (strncmp(base, ".wh.", 4) == 0) {
    cleanup_free char *dir = path_dirname(e->path);
    cleanup_free char *gone = path_join(dir, base + 4);
    size_t *slot = map_slot(map, img, gone);
    if (*slot && img->files[*slot - 1].path)
      remove_file(img, *slot - 1);
    remove_below(img, gone, e->layer);
    return;
  }
  if (map->used * 2 >= map->cap)
    map_grow(map, img);
  size_t *slot = map_slot(map, img, e->path);
  if (*slot && img->files[*slot - 1].path) {
    struct image_file *old = &img->files[*slot - 1];
    /* a directory stays a directory with its children; anything else
     * replaces the old entry, and a directory's children with it */
    if (!(old->type == 'd' && e->type == 'd'))
      remove_below(img, e->path, e->layer + 1);
    file_free(old);
    *old = *e;
    old->path = xstrdup(e->path);
    old->target = e->target ? xstrdup(e->target) : NULL;
    return;
  }
  size_t n = img->n_files;
  img->files = xreallocarray(img->files, n + 1, sizeof *img->files);
  img->files[n] = *e;
  img->files[n].path = xstrdup(e->path);
  img->files[n].target = e->target ? xstrdup(e->target) : NULL;
  img->n_files++;
  *slot = n + 1;
  map->used++;
}

static int
read_layer(const char *archive, struct image *img, size_t li, const char *member, const char *want_diff_id,
           struct derror *err)
{
  struct layer_reader lr;
  struct archive_entry *ae;
  cleanup_free char *chunk = xmalloc(CHUNK);
  int r, ret = -1;

  if (layer_open(&lr, archive, member, err) < 0)
    goto out;
  while ((r = archive_read_next_header(lr.tar, &ae)) == ARCHIVE_OK) {
    char *path = NULL;
    if (normalize_entry(archive_entry_pathname(ae), &path) < 0) {
      derror_set(err, "`%s`: layer %zu: entry `%s` climbs out of the image root with \"..\"", archive, li + 1,
                 archive_entry_pathname(ae));
      goto out;
    }
    if (path == NULL)
      continue; /* the root directory itself */
    if (img->n_history >= IMAGE_MAX_ENTRIES) {
      free(path);
      derror_set(err, "`%s`: more than %u entries", archive, IMAGE_MAX_ENTRIES);
      goto out;
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
    if (e->type == 'l')
      e->target = xstrdup(archive_entry_symlink(ae) ? archive_entry_symlink(ae) : "");
    if (e->type == 'h') {
      char *t = NULL;
      if (normalize_entry(archive_entry_hardlink(ae), &t) < 0 || t == NULL) {
        free(t);
        derror_set(err, "`%s`: layer %zu: hardlink `%s` points out of the image root", archive, li + 1, path);
        goto out;
      }
      e->target = t;
    }
    if (e->type == 'f') {
      struct scan s;
      scan_init(&s);
      struct digest d;
      digest_init(&d);
      for (;;) {
        la_ssize_t n = archive_read_data(lr.tar, chunk, CHUNK);
        if (n < 0) {
          digest_abort(&d);
          derror_set(err, "`%s`: layer %zu: `%s`: %s", archive, li + 1, path, archive_error_string(lr.tar));
          goto out;
        }
        if (n == 0)
          break;
        scan_chunk(&s, chunk, (size_t) n);
        digest_update(&d, chunk, (size_t) n);
      }
      digest_final(&d, e->digest);
      e->marks = s.marks;
      e->what = s.what;
    }
    img->layers[li].n_entries++;
  }
  if (r != ARCHIVE_EOF) {
    derror_set(err, "`%s`: layer %zu: %s", archive, li + 1, archive_error_string(lr.tar));
    goto out;
  }
  /* the diff_id covers the whole stream, padding after the end included */
  const void *rest;
  while (layer_read(lr.tar, &lr.stream, &rest) > 0)
    ;
  digest_final(&lr.stream.diff, img->layers[li].diff_id);
  if (want_diff_id && strcmp(want_diff_id, img->layers[li].diff_id) != 0) {
    derror_set(err, "`%s`: layer %zu: its content is %s, but the config says %s", archive, li + 1,
               img->layers[li].diff_id, want_diff_id);
    goto out;
  }
  ret = 0;
out:
  layer_close(&lr);
  return ret;
}

static int
file_cmp(const void *a, const void *b)
{
  return strcmp(((const struct image_file *) a)->path, ((const struct image_file *) b)->path);
}

void
image_merge(struct image *img)
{
  struct pathmap map = { 0 };
  size_t n = 0;

  map_grow(&map, img);
  for (size_t i = 0; i < img->n_history; i++)
    apply_entry(img, &map, &img->history[i]);
  free(map.slots);
  /* drop what whiteouts removed, then sort */
  for (size_t i = 0; i < img->n_files; i++)
    if (img->files[i].path)
      img->files[n++] = img->files[i];
  img->n_files = n;
  if (n)
    qsort(img->files, n, sizeof *img->files, file_cmp);
}

int
image_read(const char *archive, struct image *img, struct derror *err)
{
  struct members m = { 0 };
  struct plan_layers pl = { 0 };
  json_t *diff_ids;
  int ret = -1;

  memset(img, 0, sizeof *img);
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
  for (size_t i = 0; i < img->n_layers; i++)
    if (read_layer(archive, img, i, pl.members[i], json_string_value(json_array_get(diff_ids, i)), err) < 0)
      goto out;
  image_merge(img);
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
  for (size_t i = 0; i < img->n_files; i++)
    file_free(&img->files[i]);
  for (size_t i = 0; i < img->n_history; i++)
    file_free(&img->history[i]);
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

static const struct image_file *
find_exact(const struct image *img, const char *path)
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
      f = find_exact(img, done.data);
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

int
image_read_file(const char *archive, const struct image *img, const struct image_file *f, size_t max,
                struct buf *out, struct derror *err)
{
  struct layer_reader lr;
  struct archive_entry *ae;
  cleanup_free char *name = NULL;
  int r, ret = -1;

  memset(&lr, 0, sizeof lr);
  if (f->type != 'f')
    return derror_set(err, "`%s`: not a regular file", f->path);
  if ((name = layer_member(archive, img, (size_t) f->layer, err)) == NULL)
    goto out;
  if (layer_open(&lr, archive, name, err) < 0)
    goto out;
  while ((r = archive_read_next_header(lr.tar, &ae)) == ARCHIVE_OK) {
    cleanup_free char *path = NULL;
    if (normalize_entry(archive_entry_pathname(ae), &path) < 0 || path == NULL || strcmp(path, f->path) != 0)
      continue;
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
    goto out;
  }
  derror_set(err, "`%s`: not found in layer %d", f->path, f->layer + 1);
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
  la_ssize_t n;

  if (fd < 0)
    return derror_errno(err, errno, "`%s`", path);
  while (done < max && (n = archive_read_data(tar, chunk, sizeof chunk)) > 0) {
    size_t take = (uint64_t) n < max - done ? (size_t) n : (size_t) (max - done);
    if (write_all(fd, chunk, take) < 0)
      return derror_errno(err, errno, "write `%s`", path);
    done += take;
  }
  return 0;
}

static int
extract_layer(const char *archive, const struct image *img, size_t li, image_extract_fn want, void *data,
              const char *dir, struct derror *err)
{
  struct layer_reader lr;
  struct archive_entry *ae;
  cleanup_free char *name = layer_member(archive, img, li, err);
  int r, ret = -1;

  memset(&lr, 0, sizeof lr);
  if (name == NULL || layer_open(&lr, archive, name, err) < 0)
    goto out;
  while ((r = archive_read_next_header(lr.tar, &ae)) == ARCHIVE_OK) {
    cleanup_free char *path = NULL;
    if (normalize_entry(archive_entry_pathname(ae), &path) < 0 || path == NULL)
      continue;
    const struct image_file *f = find_exact(img, path);
    uint64_t max = f && f->type == 'f' && f->layer == (int) li ? want(data, f) : 0;
    if (max == 0)
      continue;
    cleanup_free char *file = xasprintf("%s/%zu", dir, (size_t) (f - img->files));
    if (extract_entry(lr.tar, file, max, err) < 0)
      goto out;
  }
  if (r != ARCHIVE_EOF) {
    derror_set(err, "`%s`: layer %zu: %s", archive, li + 1, archive_error_string(lr.tar));
    goto out;
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
  for (size_t li = 0; li < img->n_layers; li++)
    if (extract_layer(archive, img, li, want, data, dir, err) < 0)
      return -1;
  return 0;
}
