/* libFuzzer: the image reader and the checks, as `distill check` runs them,
 * and the packages it says it has, as `diff` and `inspect --packages` read
 * them (status.d stanzas and md5sums, package.json, METADATA, RECORD).
 *
 * An input is an image archive, or "LAYERS\n", a mode byte and layer blobs
 * separated by "\n--LAYER--\n": the blobs are wrapped here into an archive
 * whose digests, sizes and diff_ids match, so that every mutation of a
 * layer's bytes reaches the tar reader and the merge (hardlinks, whiteouts,
 * sparse headers, filters) instead of stopping at a digest.  The mode's
 * bit 0 chooses docker's format over OCI's, bits 1-2 the OCI media type
 * (plain, gzip, zstd; the diff_id is then the blob's own, wrong unless the
 * blob is plain after all: the filters are fuzzed all the same). */
#include "image/check.h"
#include "image/packages.h"
#include "memfile.h"

#include <archive.h>
#include <archive_entry.h>
#include <string.h>

#define PREFIX "LAYERS\n"
#define SEPARATOR "\n--LAYER--\n"
#define MAX_LAYERS 8

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
  /* bounds a fuzzer's bombs reach in a moment, not in minutes */
  setenv("DISTILL_MAX_LAYER_BYTES", "64M", 1);
  setenv("DISTILL_MAX_IMAGE_BYTES", "128M", 1);
  return 0;
}

static int
add_member(struct archive *a, const char *name, const void *data, size_t n)
{
  struct archive_entry *ae = archive_entry_new();
  int r;

  archive_entry_set_pathname(ae, name);
  archive_entry_set_filetype(ae, AE_IFREG);
  archive_entry_set_perm(ae, 0644);
  archive_entry_set_size(ae, (la_int64_t) n);
  r = archive_write_header(a, ae) == ARCHIVE_OK && (n == 0 || archive_write_data(a, data, n) == (la_ssize_t) n);
  archive_entry_free(ae);
  return r ? 0 : -1;
}

/* A JSON document as a member: `name`, else the blob of its digest. */
static int
add_json(struct archive *a, json_t *doc, const char *name, char digest[DIGEST_STR_LEN], size_t *len)
{
  cleanup_free char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(doc);
  digest_buffer(text, strlen(text), digest);
  *len = strlen(text);
  cleanup_free char *member = name ? xstrdup(name) : xasprintf("blobs/sha256/%s", digest + 7);
  return add_member(a, member, text, *len);
}

/* OCI's index.json, manifest and config, or docker's manifest.json and
 * config, for the layers `descs` (OCI) or `names` (docker) hold. */
static int
add_documents(struct archive *a, unsigned mode, json_t *diff_ids, json_t *descs, json_t *names)
{
  char config[DIGEST_STR_LEN], manifest[DIGEST_STR_LEN], index[DIGEST_STR_LEN];
  size_t config_len, manifest_len, index_len;
  json_t *cfg = json_pack("{s:s, s:s, s:{s:s, s:[s]}, s:{s:s, s:o}}", "architecture", "amd64", "os", "linux",
                          "config", "User", "65532", "Entrypoint", "/bin/x", "rootfs", "type", "layers",
                          "diff_ids", diff_ids);

  if (mode & 1) {
    json_decref(descs);
    if (add_json(a, cfg, "config.json", config, &config_len) < 0) {
      json_decref(names);
      return -1;
    }
    return add_json(a, json_pack("[{s:s, s:o}]", "Config", "config.json", "Layers", names), "manifest.json",
                    manifest, &manifest_len);
  }
  json_decref(names);
  if (add_json(a, cfg, NULL, config, &config_len) < 0) {
    json_decref(descs);
    return -1;
  }
  json_t *m = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                        "application/vnd.oci.image.manifest.v1+json", "config", "mediaType",
                        "application/vnd.oci.image.config.v1+json", "digest", config, "size",
                        (json_int_t) config_len, "layers", descs);
  if (add_json(a, m, NULL, manifest, &manifest_len) < 0)
    return -1;
  return add_json(a, json_pack("{s:i, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2, "manifests", "mediaType",
                               "application/vnd.oci.image.manifest.v1+json", "digest", manifest, "size",
                               (json_int_t) manifest_len),
                  "index.json", index, &index_len);
}

/* An archive around `n` layer blobs, in `out`; -1 when it does not fit. */
static int
wrap(struct buf *out, unsigned mode, const uint8_t **blobs, const size_t *sizes, size_t n)
{
  static const char *const media[] = { "application/vnd.oci.image.layer.v1.tar",
                                       "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "application/vnd.oci.image.layer.v1.tar+zstd",
                                       "application/vnd.oci.image.layer.v1.tar" };
  struct archive *a = archive_write_new();
  json_t *diff_ids = json_array(), *descs = json_array(), *names = json_array();
  char digest[DIGEST_STR_LEN];
  size_t used = 0, cap = 65536 + 8192 * (n + 4);
  int ret = -1;

  for (size_t i = 0; i < n; i++)
    cap += sizes[i];
  out->data = xmalloc(cap);
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  if (archive_write_open_memory(a, out->data, cap, &used) != ARCHIVE_OK)
    goto out;
  for (size_t i = 0; i < n; i++) {
    digest_buffer(blobs[i], sizes[i], digest);
    cleanup_free char *name = (mode & 1) ? xasprintf("%s/layer.tar", digest + 7)
                                         : xasprintf("blobs/sha256/%s", digest + 7);
    if (add_member(a, name, blobs[i], sizes[i]) < 0)
      goto out;
    json_array_append_new(diff_ids, json_string(digest));
    json_array_append_new(names, json_string(name));
    json_array_append_new(descs, json_pack("{s:s, s:s, s:I}", "mediaType", media[(mode >> 1) & 3], "digest", digest,
                                           "size", (json_int_t) sizes[i]));
  }
  ret = add_documents(a, mode, diff_ids, descs, names);
  diff_ids = descs = names = NULL;
  if (ret == 0 && archive_write_close(a) != ARCHIVE_OK)
    ret = -1;
  out->len = used;
out:
  json_decref(diff_ids);
  json_decref(descs);
  json_decref(names);
  archive_write_free(a);
  return ret;
}

static void
read_image(const char *path)
{
  struct derror err = DERROR_INIT;
  struct image img;
  struct check_report rep;

  if (image_read(path, &img, &err) == 0) {
    struct image_packages pk;
    if (check_image(path, &img, true, NULL, &rep, &err) == 0)
      check_report_free(&rep);
    derror_clear(&err);
    if (image_packages(path, &img, &pk, &err) == 0)
      image_packages_free(&pk);
    image_free(&img);
  }
  derror_clear(&err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const uint8_t *blobs[MAX_LAYERS];
  size_t sizes[MAX_LAYERS], n = 0;
  struct buf archive = { 0 };

  if (size <= strlen(PREFIX) || memcmp(data, PREFIX, strlen(PREFIX)) != 0) {
    read_image(memfile(data, size));
    return 0;
  }
  unsigned mode = data[strlen(PREFIX)];
  const uint8_t *p = data + strlen(PREFIX) + 1, *end = data + size;
  while (n < MAX_LAYERS) {
    const uint8_t *sep = memmem(p, (size_t) (end - p), SEPARATOR, strlen(SEPARATOR));
    blobs[n] = p;
    sizes[n++] = (size_t) ((sep ? sep : end) - p);
    if (sep == NULL)
      break;
    p = sep + strlen(SEPARATOR);
  }
  if (wrap(&archive, mode, blobs, sizes, n) == 0)
    read_image(memfile((const uint8_t *) archive.data, archive.len));
  free(archive.data);
  return 0;
}
