/* Fetch: see fetch.h. */
#include "publish/fetch.h"
#include "build/oci.h"
#include "image/image.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/file.h"
#include "lib/platform.h"
#include "lib/tmpguard.h"
#include "publish/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACCEPT MT_OCI_MANIFEST ", " MT_OCI_INDEX ", " MT_DOCKER_MANIFEST ", " MT_DOCKER_LIST

/* Two levels: an index, then the image manifest it names. */
#define INDEX_DEPTH 2

struct fetcher {
  struct registry *r;
  const struct image_ref *ref;
  struct oci_archive ar;
  uint64_t layer_max, image_max, total; /* blob bytes: bounds, and so far */
};

/* A manifest or an index as the registry sent it, its digest and type. */
struct doc {
  struct buf bytes;
  char digest[DIGEST_STR_LEN];
  char *media_type;
  json_t *json;
};

static void
doc_free(struct doc *d)
{
  buf_free(&d->bytes);
  free(d->media_type);
  json_decref(d->json);
  memset(d, 0, sizeof *d);
}

static bool
is_index(const char *mt)
{
  return mt && (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0);
}

static bool
is_manifest(const char *mt)
{
  return mt && (strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_MANIFEST) == 0);
}

/* The document's media type: its own mediaType, else the Content-Type
 * (an OCI manifest may leave its mediaType out); parameters dropped. */
static char *
doc_type(json_t *j, const char *content_type)
{
  const char *mt = json_string_value(json_object_get(j, "mediaType"));

  if (mt)
    return xstrdup(mt);
  if (content_type == NULL)
    return xstrdup("");
  return xstrndup(content_type, strcspn(content_type, "; "));
}

/* GET manifests/`reference`: the bytes must hash to `want` when given (a
 * digest the reference or an index names), and to the
 * Docker-Content-Digest the registry sends when it sends one. */
static int
get_doc(struct fetcher *f, const char *reference, const char *want, struct doc *d, struct derror *err)
{
  cleanup_free char *target = xasprintf("/v2/%s/manifests/%s", f->ref->repo, reference);
  struct registry_response resp = { 0 };
  json_error_t jerr;
  int ret = -1;

  if (registry_request(f->r, "GET", target, NULL, ACCEPT, &resp, err) < 0)
    return -1;
  if (resp.status != 200) {
    registry_error(f->r, "GET", target, &resp, err);
  } else if (resp.length > IMAGE_MAX_JSON || resp.body.len >= REGISTRY_BODY_MAX) {
    derror_set(err, "the manifest %s is larger than %u bytes", reference, IMAGE_MAX_JSON);
  } else {
    d->bytes = resp.body;
    memset(&resp.body, 0, sizeof resp.body);
    digest_buffer(d->bytes.data ? d->bytes.data : "", d->bytes.len, d->digest);
    if (want && strcmp(want, d->digest) != 0)
      derror_set(err, "the manifest %s: the bytes served hash to %s (digest mismatch)", want, d->digest);
    else if (resp.digest && strcmp(resp.digest, d->digest) != 0)
      derror_set(err, "the manifest %s: the registry says its digest is %s, its bytes hash to %s (digest mismatch)",
                 reference, resp.digest, d->digest);
    else if ((d->json = json_loadb(d->bytes.data ? d->bytes.data : "", d->bytes.len, 0, &jerr)) == NULL
             || !json_is_object(d->json))
      derror_set(err, "the manifest %s is not a JSON object: %s", reference, d->json ? "" : jerr.text);
    else {
      d->media_type = doc_type(d->json, resp.content_type);
      ret = 0;
    }
  }
  registry_response_free(&resp);
  return ret;
}

/* "linux/arm64/v8" of a descriptor's platform, for messages. */
static char *
platform_name(json_t *p)
{
  const char *os = json_string_value(json_object_get(p, "os"));
  const char *arch = json_string_value(json_object_get(p, "architecture"));
  const char *variant = json_string_value(json_object_get(p, "variant"));

  return xasprintf("%s/%s%s%s", os ? os : "?", arch ? arch : "?", variant ? "/" : "", variant ? variant : "");
}

/* The descriptor of the index's image for linux/`arch` (and `variant`,
 * when one is asked for); an error listing the platforms it has when it
 * has none. */
static json_t *
pick_platform(json_t *index, const char *arch, const char *variant, const char *asked, struct derror *err)
{
  json_t *manifests = json_object_get(index, "manifests"), *d;
  size_t i;
  struct buf have = { 0 };

  json_array_foreach(manifests, i, d)
  {
    json_t *p = json_object_get(d, "platform");
    const char *os = json_string_value(json_object_get(p, "os"));
    const char *a = json_string_value(json_object_get(p, "architecture"));
    const char *v = json_string_value(json_object_get(p, "variant"));
    if (os && a && strcmp(os, "linux") == 0 && strcmp(a, arch) == 0
        && (variant == NULL || (v && strcmp(v, variant) == 0))) {
      buf_free(&have);
      return d;
    }
    cleanup_free char *name = platform_name(p);
    if (have.len)
      buf_append(&have, ", ", 2);
    buf_append(&have, name, strlen(name));
  }
  buf_append(&have, "", 1);
  derror_set(err, "the index has no image for %s; it has: %s", asked, have.len > 1 ? have.data : "(no platforms)");
  buf_free(&have);
  return NULL;
}

/* ---- blobs ------------------------------------------------------------ */

/* The blob a descriptor names, of at most `bound` bytes, into the
 * archive. */
static int
fetch_blob(struct fetcher *f, json_t *desc, const char *what, uint64_t bound, struct derror *err)
{
  const char *digest = json_string_value(json_object_get(desc, "digest"));
  json_t *size = json_object_get(desc, "size");

  if (!digest_valid(digest) || !json_is_integer(size) || json_integer_value(size) < 0)
    return derror_set(err, "%s has no valid digest and size in the manifest", what);
  uint64_t want = (uint64_t) json_integer_value(size);
  if (want > bound)
    return derror_set(err, "%s %s is %" PRIu64 " bytes, more than the %" PRIu64 " a blob may have here%s", what,
                      digest, want, bound, bound == f->layer_max ? " (DISTILL_MAX_LAYER_BYTES)" : "");
  if (want > f->image_max - f->total)
    return derror_set(err, "the image's blobs are more than %" PRIu64 " bytes (DISTILL_MAX_IMAGE_BYTES)",
                      f->image_max);
  f->total += want;
  if (oci_archive_blob_begin(&f->ar, err) < 0)
    return -1;
  if (store_get_blob_to(f->r, f->ref->repo, digest, want, f->ar.fd, err) < 0)
    return derror_wrap(err, "%s", what);
  return oci_archive_blob_end(&f->ar, digest, want, err);
}

/* A document already in memory, as a blob. */
static int
put_doc(struct fetcher *f, const struct doc *d, struct derror *err)
{
  if (oci_archive_blob_begin(&f->ar, err) < 0)
    return -1;
  if (d->bytes.len && write_all(f->ar.fd, d->bytes.data, d->bytes.len) < 0)
    return derror_errno(err, errno, "write the manifest to the temporary archive");
  return oci_archive_blob_end(&f->ar, d->digest, d->bytes.len, err);
}

/* ---- the archive ------------------------------------------------------ */

/* index.json: the manifest, named by the reference as containerd names
 * an image ("HOST/REPO:TAG" or "HOST/REPO@DIGEST"); and oci-layout. */
static int
put_index(struct fetcher *f, const struct doc *m, struct derror *err)
{
  static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
  cleanup_free char *repo = image_ref_name(f->ref);
  cleanup_free char *name = f->ref->tag ? xasprintf("%s:%s", repo, f->ref->tag)
                                        : xasprintf("%s@%s", repo, f->ref->digest);
  json_t *desc = json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType", m->media_type, "digest", m->digest, "size",
                           (json_int_t) m->bytes.len, "annotations", "io.containerd.image.name", name);
  json_t *index = json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX, "manifests", desc);
  cleanup_free char *text = json_dumps(index, JSON_COMPACT | JSON_SORT_KEYS);

  json_decref(index);
  if (oci_archive_member(&f->ar, "index.json", text, strlen(text), err) < 0
      || oci_archive_member(&f->ar, "oci-layout", layout, sizeof layout - 1, err) < 0)
    return -1;
  return oci_archive_end(&f->ar, err);
}

/* The image manifest of the reference: the document itself, or the one
 * of the platform an index names. */
static int
find_manifest(struct fetcher *f, const char *platform, struct doc *m, struct derror *err)
{
  const char *arch = platform_host_arch(), *variant = NULL;

  if (platform && platform_parse(platform, &arch, &variant) < 0)
    return derror_set(err, "\"%s\" is not a platform such as linux/amd64 or linux/arm64", platform);
  if (get_doc(f, f->ref->digest ? f->ref->digest : f->ref->tag, f->ref->digest, m, err) < 0)
    return -1;
  for (int depth = 1; is_index(m->media_type); depth++) {
    cleanup_free char *asked = xasprintf("linux/%s%s%s", arch, variant ? "/" : "", variant ? variant : "");
    json_t *d = depth < INDEX_DEPTH ? pick_platform(m->json, arch, variant, asked, err) : NULL;
    if (depth >= INDEX_DEPTH)
      return derror_set(err, "an index names another index (%s)", m->digest);
    if (d == NULL)
      return -1;
    cleanup_free char *digest = xstrdup(json_string_value(json_object_get(d, "digest")) ?: "");
    if (!digest_valid(digest))
      return derror_set(err, "the index names the image for %s without a valid digest", asked);
    doc_free(m);
    if (get_doc(f, digest, digest, m, err) < 0)
      return -1;
  }
  if (!is_manifest(m->media_type))
    return derror_set(err, "the manifest %s is of the media type \"%s\", not an OCI or Docker v2 image manifest",
                      m->digest, m->media_type);
  return 0;
}

static int
fetch_image(struct fetcher *f, const char *platform, char digest[DIGEST_STR_LEN], struct derror *err)
{
  struct doc m = { 0 };
  json_t *layers;
  int ret = -1;

  if (find_manifest(f, platform, &m, err) < 0)
    goto out;
  layers = json_object_get(m.json, "layers");
  if (!json_is_array(layers) || json_array_size(layers) > IMAGE_MAX_LAYERS) {
    derror_set(err, "the manifest %s has no layers, or more than %d", m.digest, IMAGE_MAX_LAYERS);
    goto out;
  }
  for (size_t i = 0; i < json_array_size(layers); i++) {
    char what[32];
    snprintf(what, sizeof what, "layer %zu", i + 1);
    if (fetch_blob(f, json_array_get(layers, i), what, f->layer_max, err) < 0)
      goto out;
  }
  if (fetch_blob(f, json_object_get(m.json, "config"), "the config", IMAGE_MAX_JSON, err) < 0
      || put_doc(f, &m, err) < 0 || put_index(f, &m, err) < 0)
    goto out;
  memcpy(digest, m.digest, DIGEST_STR_LEN);
  ret = 0;
out:
  doc_free(&m);
  return ret;
}

int
registry_fetch(const struct image_ref *ref, const struct registry_options *o, const char *platform, int fd,
               char digest[DIGEST_STR_LEN], struct derror *err)
{
  struct registry_options ro = *o;
  struct fetcher f = { .ref = ref };
  int ret = -1;

  ro.pull_only = true;
  ro.from = NULL;
  if (image_bounds(&f.layer_max, &f.image_max, err) < 0)
    return -1;
  if (oci_archive_open(&f.ar, fd, 0, err) < 0)
    return derror_wrap(err, "the temporary archive");
  if ((f.r = registry_open(ref, &ro, err)) != NULL) {
    ret = fetch_image(&f, platform, digest, err);
    registry_close(f.r);
  }
  oci_archive_abort(&f.ar);
  return ret;
}

char *
fetch_temporary(const char *text, const struct registry_options *o, const char *platform,
                char digest[DIGEST_STR_LEN], struct derror *err)
{
  const char *dir = getenv("TMPDIR");
  struct image_ref ref = { 0 };

  if (image_ref_parse(text, &ref, err) < 0)
    return NULL;
  char *path = xasprintf("%s/distill-fetch.XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) {
    derror_errno(err, errno, "a temporary file in `%s`", dir && *dir ? dir : "/tmp");
    free(path);
    image_ref_free(&ref);
    return NULL;
  }
  if (tmpfile_guard(AT_FDCWD, path) < 0) {
    derror_errno(err, errno, "guard the temporary file `%s`", path);
    unlink(path);
  } else if (registry_fetch(&ref, o, platform, fd, digest, err) < 0) {
    derror_wrap(err, "%s", text);
    tmpfile_unguard(path, true);
  } else {
    close(fd);
    image_ref_free(&ref);
    return path;
  }
  close(fd);
  free(path);
  image_ref_free(&ref);
  return NULL;
}

void
fetch_remove(char *path)
{
  if (path == NULL)
    return;
  tmpfile_unguard(path, true);
  free(path);
}
