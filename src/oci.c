#include "distill/oci.h"
#include "distill/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <jansson.h>
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
string_map(const struct recipe_map *m)
{
  json_t *o = json_object();
  for (size_t i = 0; i < m->n; i++)
    json_object_set_new(o, m->items[i].key, json_string(m->items[i].value));
  return o;
}

/* The proleptic Gregorian date of a day count from 1970-01-01, computed
 * in 400-year eras of 146097 days (March-based years put the leap day
 * last).  Arithmetic only: glibc's gmtime_r() reads the host's time zone
 * file, which must have no say in an image. */
static void
civil_date(int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
  int64_t z = days + 719468; /* days since 0000-03-01 */
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned) (z - era * 146097);                          /* day of era, 0..146096 */
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  /* year of era, 0..399 */
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                 /* day of March-year */
  unsigned mp = (5 * doy + 2) / 153;                                      /* March = 0 */

  *day = doy - (153 * mp + 2) / 5 + 1;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = (int64_t) yoe + era * 400 + (*month <= 2);
}

void
oci_time(int64_t epoch, char out[32])
{
  int64_t days = epoch / 86400, secs = epoch % 86400, year;
  unsigned month, day;

  if (secs < 0) {
    secs += 86400;
    days--;
  }
  civil_date(days, &year, &month, &day);
  /* Epochs are bounded to year 9999, so this always fits. */
  if (snprintf(out, 32, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long) year, month, day, (int) (secs / 3600),
               (int) (secs / 60 % 60), (int) (secs % 60)) >= 32)
    out[31] = '\0';
}

static json_t *
container_config(const struct oci_image *img)
{
  const struct recipe *r = img->recipe;
  json_t *c = json_object();
  char user[32];

  snprintf(user, sizeof user, "%u:%u", img->uid, img->gid);
  json_object_set_new(c, "User", json_string(user));
  json_object_set_new(c, "Env", string_array(&img->env));
  if (img->has_entrypoint)
    json_object_set_new(c, "Entrypoint", string_array(&img->entrypoint));
  if (r->has_cmd)
    json_object_set_new(c, "Cmd", string_array(&r->cmd));
  if (r->work_dir)
    json_object_set_new(c, "WorkingDir", json_string(r->work_dir));
  if (r->ports.n)
    json_object_set_new(c, "ExposedPorts", empty_object_set(&r->ports));
  if (r->volumes.n)
    json_object_set_new(c, "Volumes", empty_object_set(&r->volumes));
  if (r->labels.n)
    json_object_set_new(c, "Labels", string_map(&r->labels));
  if (r->stop_signal)
    json_object_set_new(c, "StopSignal", json_string(r->stop_signal));
  return c;
}

char *
oci_config_json(const struct oci_image *img)
{
  json_t *j = json_object(), *diff_ids = json_array(), *history = json_array();
  char created[32];

  oci_time(img->epoch, created);
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
  json_object_set_new(j, "config", container_config(img));
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
  if (img->recipe->annotations.n)
    json_object_set_new(j, "annotations", string_map(&img->recipe->annotations));
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

char *
oci_index_json(const struct oci_image *img, const char *manifest_digest, uint64_t manifest_size)
{
  cleanup_free char *name = full_name(img);
  json_t *d = descriptor(MT_MANIFEST, manifest_digest, manifest_size);

  json_object_set_new(d, "annotations", json_pack("{s:s, s:s}", "io.containerd.image.name", name,
                                                  "org.opencontainers.image.ref.name", img->tag));
  return dump(json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType", MT_INDEX, "manifests", d));
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

struct member {
  char name[96];
  const char *data; /* in memory, or */
  int fd;           /* a blob file */
  uint64_t size;
};

/* libarchive's message, with the system's reason when it has one
 * ("Write error" alone does not say the disk is full). */
static int
archive_failed(struct archive *a, const char *what, struct derror *err)
{
  if (archive_errno(a) > 0)
    return derror_errno(err, archive_errno(a), "%s", what);
  return derror_set(err, "%s: %s", what, archive_error_string(a));
}

static int
write_member(struct archive *a, struct archive_entry *ae, const struct member *m, int64_t epoch,
             struct derror *err)
{
  size_t len = strlen(m->name);
  bool dir = len > 0 && m->name[len - 1] == '/';

  archive_entry_clear(ae);
  archive_entry_set_pathname(ae, m->name);
  archive_entry_set_filetype(ae, dir ? AE_IFDIR : AE_IFREG);
  archive_entry_set_perm(ae, dir ? 0755 : 0644);
  archive_entry_set_mtime(ae, epoch, 0);
  archive_entry_set_size(ae, dir ? 0 : (la_int64_t) m->size);
  if (archive_write_header(a, ae) < ARCHIVE_WARN)
    return archive_failed(a, m->name, err);
  if (dir || m->size == 0)
    return 0;
  if (m->data) {
    if (archive_write_data(a, m->data, m->size) != (la_ssize_t) m->size)
      return archive_failed(a, m->name, err);
    return 0;
  }
  cleanup_free char *chunk = xmalloc(128 * 1024);
  uint64_t left = m->size;
  off_t off = 0;
  while (left > 0) {
    ssize_t r = pread(m->fd, chunk, left < 128 * 1024 ? left : 128 * 1024, off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return derror_errno(err, r < 0 ? errno : EIO, "read back %s", m->name);
    if (archive_write_data(a, chunk, (size_t) r) != r)
      return archive_failed(a, m->name, err);
    left -= (uint64_t) r;
    off += r;
  }
  return 0;
}

static int
member_cmp(const void *a, const void *b)
{
  return strcmp(((const struct member *) a)->name, ((const struct member *) b)->name);
}

static void
add_member(struct member *m, size_t *n, const char *name, const char *data, int fd, uint64_t size)
{
  struct member *x = &m[(*n)++];
  snprintf(x->name, sizeof x->name, "%s", name);
  x->data = data;
  x->fd = fd;
  x->size = size;
}

int
oci_write_archive(const struct oci_image *img, int fd, char manifest_digest[DIGEST_STR_LEN], struct derror *err)
{
  cleanup_free char *config = oci_config_json(img);
  char config_digest[DIGEST_STR_LEN];
  digest_buffer(config, strlen(config), config_digest);
  cleanup_free char *manifest = oci_manifest_json(img, config_digest, strlen(config));
  digest_buffer(manifest, strlen(manifest), manifest_digest);
  cleanup_free char *index = oci_index_json(img, manifest_digest, strlen(manifest));
  cleanup_free char *docker = oci_docker_manifest_json(img, config_digest);
  cleanup_free char *repositories = oci_repositories_json(img);
  static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
  cleanup_free struct member *m = xcalloc(img->n_layers + 8, sizeof *m);
  size_t n = 0;
  char name[96];
  int ret = -1;

  add_member(m, &n, "blobs/", NULL, -1, 0);
  add_member(m, &n, "blobs/sha256/", NULL, -1, 0);
  snprintf(name, sizeof name, "blobs/sha256/%s", config_digest + 7);
  add_member(m, &n, name, config, -1, strlen(config));
  snprintf(name, sizeof name, "blobs/sha256/%s", manifest_digest + 7);
  add_member(m, &n, name, manifest, -1, strlen(manifest));
  for (size_t i = 0; i < img->n_layers; i++) {
    bool seen = false;
    snprintf(name, sizeof name, "blobs/sha256/%s", img->layers[i].digest + 7);
    for (size_t j = 0; j < n; j++)
      seen |= strcmp(m[j].name, name) == 0;
    if (!seen) /* two equal layers are one blob */
      add_member(m, &n, name, NULL, img->layers[i].fd, img->layers[i].size);
  }
  add_member(m, &n, "index.json", index, -1, strlen(index));
  add_member(m, &n, "manifest.json", docker, -1, strlen(docker));
  add_member(m, &n, "oci-layout", layout, -1, sizeof layout - 1);
  add_member(m, &n, "repositories", repositories, -1, strlen(repositories));
  qsort(m, n, sizeof *m, member_cmp);

  struct archive *a = archive_write_new();
  struct archive_entry *ae = archive_entry_new();
  if (a == NULL || ae == NULL)
    oom();
  if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK || archive_write_open_fd(a, fd) != ARCHIVE_OK) {
    derror_set(err, "libarchive: %s", archive_error_string(a));
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    if (write_member(a, ae, &m[i], img->epoch, err) < 0)
      goto out;
  if (archive_write_close(a) != ARCHIVE_OK) {
    archive_failed(a, "the archive", err);
    goto out;
  }
  ret = 0;
out:
  archive_write_free(a);
  archive_entry_free(ae);
  return ret;
}
