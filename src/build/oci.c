#include "build/oci.h"
#include "lib/alloc.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "lib/file.h"
#include "lib/time.h"
#include "plan/config.h"
#include "recipe/check_ids.h"
#include "image/check.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"

/* Compact, with sorted keys: the bytes depend on the values only. */
static char *
dump(json_t *j)
{
  char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(j);
  if (s == NULL)
    oom();
  return s;
}

static json_t *
string_array(const struct strv *v)
{
  json_t *a = json_array();
  for (size_t i = 0; i < v->n; i++)
    json_array_append_new(a, json_string(v->items[i]));
  return a;
}

/* {"8080/tcp": {}, ...}, the shape of ExposedPorts and Volumes. */
static json_t *
empty_object_set(const struct strv *v)
{
  json_t *o = json_object();
  for (size_t i = 0; i < v->n; i++)
    json_object_set_new(o, v->items[i], json_object());
  return o;
}

static json_t *
string_map(const struct config_map *m)
{
  json_t *o = json_object();
  for (size_t i = 0; i < m->keys.n; i++)
    json_object_set_new(o, m->keys.items[i], json_string(m->values.items[i]));
  return o;
}

/* Docker's Healthcheck: Test in the exec form ("CMD" first), durations in
 * nanoseconds, what the recipe left out left to the engine. */
static json_t *
healthcheck(const struct image_config *cfg)
{
  json_t *test = json_array(), *h;

  json_array_append_new(test, json_string("CMD"));
  for (size_t i = 0; i < cfg->health_test.n; i++)
    json_array_append_new(test, json_string(cfg->health_test.items[i]));
  h = json_pack("{s:o}", "Test", test);
  if (cfg->health_interval)
    json_object_set_new(h, "Interval", json_integer(cfg->health_interval));
  if (cfg->health_timeout)
    json_object_set_new(h, "Timeout", json_integer(cfg->health_timeout));
  if (cfg->health_start_period)
    json_object_set_new(h, "StartPeriod", json_integer(cfg->health_start_period));
  if (cfg->health_retries)
    json_object_set_new(h, "Retries", json_integer(cfg->health_retries));
  return h;
}

static json_t *
container_config(const struct image_config *cfg)
{
  json_t *c = json_object();
  char user[32];

  snprintf(user, sizeof user, "%u:%u", cfg->uid, cfg->gid);
  json_object_set_new(c, "User", json_string(user));
  json_object_set_new(c, "Env", string_array(&cfg->env));
  if (cfg->has_entrypoint)
    json_object_set_new(c, "Entrypoint", string_array(&cfg->entrypoint));
  if (cfg->has_cmd)
    json_object_set_new(c, "Cmd", string_array(&cfg->cmd));
  if (cfg->work_dir)
    json_object_set_new(c, "WorkingDir", json_string(cfg->work_dir));
  if (cfg->ports.n)
    json_object_set_new(c, "ExposedPorts", empty_object_set(&cfg->ports));
  if (cfg->volumes.n)
    json_object_set_new(c, "Volumes", empty_object_set(&cfg->volumes));
  if (cfg->labels.keys.n)
    json_object_set_new(c, "Labels", string_map(&cfg->labels));
  if (cfg->stop_signal)
    json_object_set_new(c, "StopSignal", json_string(cfg->stop_signal));
  if (cfg->health_test.n)
    json_object_set_new(c, "Healthcheck", healthcheck(cfg));
  return c;
}

char *
oci_config_json(const struct oci_image *img)
{
  json_t *j = json_object(), *diff_ids = json_array(), *history = json_array();
  char created[32];

  time_rfc3339(img->epoch, created);
  for (size_t i = 0; i < img->n_layers; i++) {
    json_array_append_new(diff_ids, json_string(img->layers[i].diff_id));
    json_array_append_new(history, json_pack("{s:s, s:s}", "created", created, "created_by",
                                             img->layer_comments[i]));
  }
  json_object_set_new(j, "architecture", json_string(img->arch));
  if (img->variant)
    json_object_set_new(j, "variant", json_string(img->variant));
  json_object_set_new(j, "os", json_string("linux"));
  json_object_set_new(j, "created", json_string(created));
  json_object_set_new(j, "config", container_config(img->config));
  json_object_set_new(j, "rootfs", json_pack("{s:s, s:o}", "type", "layers", "diff_ids", diff_ids));
  json_object_set_new(j, "history", history);
  return dump(j);
}

static json_t *
descriptor(const char *media_type, const char *digest, uint64_t size)
{
  return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest, "size", (json_int_t) size);
}

char *
oci_manifest_json(const struct oci_image *img, const char *config_digest, uint64_t config_size)
{
  json_t *layers = json_array();
  json_t *j;

  for (size_t i = 0; i < img->n_layers; i++)
    json_array_append_new(layers, descriptor(img->layers[i].media_type, img->layers[i].digest, img->layers[i].size));
  j = json_pack("{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType", MT_MANIFEST, "config",
                descriptor(MT_CONFIG, config_digest, config_size), "layers", layers);
  const struct image_config *cfg = img->config;
  json_t *annotations = string_map(&cfg->annotations);
  /* the findings the recipe waived, for whoever inspects the image later */
  if (cfg->n_waivers) {
    cleanup_free char *list = check_waivers_json(cfg->waivers, cfg->n_waivers);
    json_object_set_new(annotations, CHECK_WAIVED_ANNOTATION, json_string(list));
  }
  if (json_object_size(annotations))
    json_object_set_new(j, "annotations", annotations);
  else
    json_decref(annotations);
  return dump(j);
}

/* The full name containerd and Docker store the image under. */
static char *
full_name(const struct oci_image *img)
{
  const char *slash = strchr(img->name, '/');
  bool has_registry = slash && (memchr(img->name, '.', (size_t) (slash - img->name))
                                || memchr(img->name, ':', (size_t) (slash - img->name))
                                || strncmp(img->name, "localhost/", 10) == 0);

  if (has_registry)
    return xasprintf("%s:%s", img->name, img->tag);
  return xasprintf("docker.io/%s%s:%s", slash ? "" : "library/", img->name, img->tag);
}

/* index.json's descriptor of the image, with its names. */
static json_t *
index_descriptor(const struct oci_image *img, const char *media_type, const char *digest, uint64_t size)
{
  cleanup_free char *name = full_name(img);
  json_t *d = descriptor(media_type, digest, size);

  json_object_set_new(d, "annotations", json_pack("{s:s, s:s}", "io.containerd.image.name", name,
                                                  "org.opencontainers.image.ref.name", img->tag));
  return d;
}

char *
oci_index_json(const struct oci_image *img, const char *media_type, const char *digest, uint64_t size)
{
  return dump(json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType", MT_INDEX, "manifests",
                        index_descriptor(img, media_type, digest, size)));
}

char *
oci_docker_manifest_json(const struct oci_image *img, const char *config_digest)
{
  json_t *layers = json_array();
  cleanup_free char *tag = xasprintf("%s:%s", img->name, img->tag);

  for (size_t i = 0; i < img->n_layers; i++)
    json_array_append_new(layers, json_sprintf("blobs/sha256/%s", img->layers[i].digest + 7));
  return dump(json_pack("[{s:o, s:[s], s:o}]", "Config", json_sprintf("blobs/sha256/%s", config_digest + 7),
                        "RepoTags", tag, "Layers", layers));
}

char *
oci_repositories_json(const struct oci_image *img)
{
  const char *top = img->n_layers ? img->layers[img->n_layers - 1].digest + 7 : "";
  return dump(json_pack("{s:{s:s}}", img->name, img->tag, top));
}

/* ---- the archive ------------------------------------------------------ */

/* A numeric header field: octal digits and a NUL when they fit, else
 * base-256 (the high bit of the first byte set), which GNU tar, libarchive
 * and Go's archive/tar read: sizes from 8 GiB, times after 2242. */
static void
tar_number(char *field, size_t len, uint64_t v)
{
  if (v < (1ull << (3 * (len - 1)))) {
    snprintf(field, len, "%0*llo", (int) len - 1, (unsigned long long) v);
    return;
  }
  memset(field, 0, len);
  field[0] = (char) 0x80;
  for (size_t i = len - 1; i > 0 && v; i--, v >>= 8)
    field[i] = (char) (v & 0xff);
}

/* A ustar header (POSIX.1-1988) for a member of the outer archive: names
 * are short (blobs/sha256/ and 64 hex digits at most), owners 0:0. */
static void
tar_header(char block[512], const char *name, bool dir, uint64_t size, int64_t mtime)
{
  unsigned sum = 0;

  memset(block, 0, 512);
  memcpy(block, name, strlen(name));
  tar_number(block + 100, 8, dir ? 0755 : 0644);
  tar_number(block + 108, 8, 0);
  tar_number(block + 116, 8, 0);
  tar_number(block + 124, 12, size);
  tar_number(block + 136, 12, (uint64_t) mtime);
  block[156] = dir ? '5' : '0';
  memcpy(block + 257, "ustar", 6);
  memcpy(block + 263, "00", 2);
  memset(block + 148, ' ', 8);
  for (int i = 0; i < 512; i++)
    sum += (unsigned char) block[i];
  snprintf(block + 148, 8, "%06o", sum);
}

static int
put(struct oci_archive *a, const void *data, size_t n, const char *what, struct derror *err)
{
  if (write_all(a->fd, data, n) < 0)
    return derror_errno(err, errno, "write %s", what);
  a->off += (off_t) n;
  return 0;
}

static int
pad(struct oci_archive *a, const char *what, struct derror *err)
{
  static const char zeros[512];
  size_t rest = (size_t) (a->off % 512);
  return rest ? put(a, zeros, 512 - rest, what, err) : 0;
}

static int
member(struct oci_archive *a, const char *name, const void *data, size_t n, struct derror *err)
{
  char block[512];
  size_t len = strlen(name);

  tar_header(block, name, len && name[len - 1] == '/', n, a->epoch);
  if (put(a, block, sizeof block, name, err) < 0 || put(a, data, n, name, err) < 0)
    return -1;
  return pad(a, name, err);
}

int
oci_archive_open(struct oci_archive *a, int fd, int64_t epoch, struct derror *err)
{
  memset(a, 0, sizeof *a);
  a->fd = fd;
  a->epoch = epoch;
  a->off = lseek(fd, 0, SEEK_CUR);
  if (a->off < 0)
    return derror_errno(err, errno, "the archive");
  if (member(a, "blobs/", NULL, 0, err) < 0 || member(a, "blobs/sha256/", NULL, 0, err) < 0)
    return -1;
  return 0;
}

int
oci_archive_blob_begin(struct oci_archive *a, struct derror *err)
{
  static const char placeholder[512];

  a->blob_at = a->off;
  return put(a, placeholder, sizeof placeholder, "a blob", err);
}

int
oci_archive_blob_end(struct oci_archive *a, const char *digest, uint64_t size, struct derror *err)
{
  char name[96], block[512];

  snprintf(name, sizeof name, "blobs/sha256/%s", digest + 7);
  for (size_t i = 0; i < a->blobs.n; i++)
    if (strcmp(a->blobs.items[i], digest) == 0) {
      /* the same blob twice (two equal layers): one member */
      if (ftruncate(a->fd, a->blob_at) < 0 || lseek(a->fd, a->blob_at, SEEK_SET) < 0)
        return derror_errno(err, errno, "write %s", name);
      a->off = a->blob_at;
      return 0;
    }
  a->off = a->blob_at + 512 + (off_t) size;
  if (lseek(a->fd, 0, SEEK_CUR) != a->off)
    return derror_set(err, "write %s: the blob is not %llu bytes", name, (unsigned long long) size);
  if (pad(a, name, err) < 0)
    return -1;
  tar_header(block, name, false, size, a->epoch);
  if (pwrite(a->fd, block, sizeof block, a->blob_at) != (ssize_t) sizeof block)
    return derror_errno(err, errno, "write %s", name);
  strv_push(&a->blobs, digest);
  return 0;
}

int
oci_archive_blob_cancel(struct oci_archive *a, struct derror *err)
{
  if (ftruncate(a->fd, a->blob_at) < 0 || lseek(a->fd, a->blob_at, SEEK_SET) < 0)
    return derror_errno(err, errno, "write the archive");
  a->off = a->blob_at;
  return 0;
}

/* The image index of a multi-platform image: each manifest with its
 * platform. */
static char *
platform_index_json(const struct oci_image *imgs, size_t n, char (*digests)[DIGEST_STR_LEN], const size_t *sizes)
{
  json_t *manifests = json_array();

  for (size_t i = 0; i < n; i++) {
    json_t *d = descriptor(MT_MANIFEST, digests[i], sizes[i]);
    json_t *platform = json_pack("{s:s, s:s}", "architecture", imgs[i].arch, "os", "linux");
    if (imgs[i].variant)
      json_object_set_new(platform, "variant", json_string(imgs[i].variant));
    json_object_set_new(d, "platform", platform);
    json_array_append_new(manifests, d);
  }
  return dump(json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", MT_INDEX, "manifests", manifests));
}

/* A blob of the documents, once: the config two platforms share is one
 * member. */
static int
document(struct oci_archive *a, const char *digest, const void *data, size_t n, struct derror *err)
{
  char name[96];

  if (strv_contains(&a->blobs, digest))
    return 0;
  snprintf(name, sizeof name, "blobs/sha256/%s", digest + 7);
  if (member(a, name, data, n, err) < 0)
    return -1;
  strv_push(&a->blobs, digest);
  return 0;
}

int
oci_archive_manifests(struct oci_archive *a, const struct oci_image *imgs, size_t n,
                      char (*digests)[DIGEST_STR_LEN], char top[DIGEST_STR_LEN], struct derror *err)
{
  char config_digest[DIGEST_STR_LEN];
  size_t *sizes = xcalloc(n, sizeof *sizes);
  int ret = -1;

  for (size_t i = 0; i < n; i++) {
    cleanup_free char *config = oci_config_json(&imgs[i]);
    digest_buffer(config, strlen(config), config_digest);
    if (i == 0)
      memcpy(a->first_config, config_digest, sizeof config_digest);
    cleanup_free char *manifest = oci_manifest_json(&imgs[i], config_digest, strlen(config));
    digest_buffer(manifest, strlen(manifest), digests[i]);
    sizes[i] = strlen(manifest);
    if (document(a, config_digest, config, strlen(config), err) < 0
        || document(a, digests[i], manifest, strlen(manifest), err) < 0)
      goto out;
  }
  if (n == 1) {
    a->top_type = MT_MANIFEST;
    a->top_size = sizes[0];
    memcpy(top, digests[0], DIGEST_STR_LEN);
  } else {
    cleanup_free char *list = platform_index_json(imgs, n, digests, sizes);
    a->top_type = MT_INDEX;
    a->top_size = strlen(list);
    digest_buffer(list, strlen(list), top);
    if (document(a, top, list, strlen(list), err) < 0)
      goto out;
  }
  memcpy(a->top, top, DIGEST_STR_LEN);
  ret = 0;
out:
  free(sizes);
  return ret;
}

/* The index of the extras, which index.json's descriptor of the image
 * names: each extra's manifest as cosign's layouts list it. */
static char *
extras_index_json(const struct oci_extra *extras, size_t n_extras)
{
  json_t *list = json_array();

  for (size_t i = 0; i < n_extras; i++) {
    char digest[DIGEST_STR_LEN];
    digest_buffer(extras[i].manifest.data, extras[i].manifest.len, digest);
    json_t *x = descriptor(MT_MANIFEST, digest, extras[i].manifest.len);
    json_object_set_new(x, "annotations", json_pack("{s:s, s:s, s:s*}", "kind", extras[i].kind,
                                                    "org.opencontainers.image.ref.name", extras[i].name,
                                                    OCI_SIGNER_ANNOTATION, extras[i].signer));
    json_array_append_new(list, x);
  }
  return dump(json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", MT_INDEX, "manifests", list));
}

/* An extra's blobs, then its manifest. */
static int
put_extra(struct oci_archive *a, const struct oci_extra *x, struct derror *err)
{
  char digest[DIGEST_STR_LEN];

  for (size_t i = 0; i < x->n_blobs; i++) {
    digest_buffer(x->blobs[i].data, x->blobs[i].len, digest);
    if (document(a, digest, x->blobs[i].data, x->blobs[i].len, err) < 0)
      return -1;
  }
  digest_buffer(x->manifest.data, x->manifest.len, digest);
  return document(a, digest, x->manifest.data, x->manifest.len, err);
}

int
oci_archive_close(struct oci_archive *a, const struct oci_image *imgs, const struct oci_extra *extras,
                  size_t n_extras, struct derror *err)
{
  static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
  static const char end[1024];
  char *index = NULL, *docker = NULL, *repositories = NULL;
  int ret = -1;

  json_t *d = index_descriptor(&imgs[0], a->top_type, a->top, a->top_size);
  for (size_t i = 0; i < n_extras; i++)
    if (put_extra(a, &extras[i], err) < 0)
      goto out;
  if (n_extras) {
    cleanup_free char *list = extras_index_json(extras, n_extras);
    char digest[DIGEST_STR_LEN];
    digest_buffer(list, strlen(list), digest);
    if (document(a, digest, list, strlen(list), err) < 0)
      goto out;
    json_object_set_new(json_object_get(d, "annotations"), OCI_EXTRAS_ANNOTATION, json_string(digest));
  }
  index = dump(json_pack("{s:i, s:s, s:[O]}", "schemaVersion", 2, "mediaType", MT_INDEX, "manifests", d));
  docker = oci_docker_manifest_json(&imgs[0], a->first_config);
  repositories = oci_repositories_json(&imgs[0]);
  if (member(a, "index.json", index, strlen(index), err) < 0
      || member(a, "manifest.json", docker, strlen(docker), err) < 0
      || member(a, "oci-layout", layout, sizeof layout - 1, err) < 0
      || member(a, "repositories", repositories, strlen(repositories), err) < 0
      || put(a, end, sizeof end, "the end of the archive", err) < 0)
    goto out;
  /* the file may be one written over, longer than this archive */
  if (ftruncate(a->fd, a->off) < 0) {
    derror_errno(err, errno, "the end of the archive");
    goto out;
  }
  ret = 0;
out:
  json_decref(d);
  free(index);
  free(docker);
  free(repositories);
  strv_free(&a->blobs);
  return ret;
}

int
oci_archive_member(struct oci_archive *a, const char *name, const void *data, size_t n, struct derror *err)
{
  return member(a, name, data, n, err);
}

int
oci_archive_end(struct oci_archive *a, struct derror *err)
{
  static const char end[1024];

  strv_free(&a->blobs);
  if (put(a, end, sizeof end, "the end of the archive", err) < 0)
    return -1;
  if (ftruncate(a->fd, a->off) < 0)
    return derror_errno(err, errno, "the end of the archive");
  return 0;
}

void
oci_archive_abort(struct oci_archive *a)
{
  strv_free(&a->blobs);
}

void
oci_extra_free(struct oci_extra *x)
{
  free(x->name);
  free(x->signer);
  buf_free(&x->manifest);
  for (size_t i = 0; i < x->n_blobs; i++)
    buf_free(&x->blobs[i]);
  free(x->blobs);
  memset(x, 0, sizeof *x);
}
