/* Finding the image in the archive: an OCI layout's index.json, through
 * indexes of indexes, to the first image manifest; or docker's
 * manifest.json.  Every blob named is checked against its descriptor. */
#include "image/reader.h"
#include "image/image.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/digest.h"
#include "lib/error.h"

#include <archive.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
jstr(json_t *o, const char *key)
{
  return json_string_value(json_object_get(o, key));
}

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
  cleanup_free char *name = blob_member(digest);
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
  cleanup_json json_t *index = member_json(archive, m, "index.json", err);
  cleanup_json json_t *nested = NULL, *manifest = NULL;
  json_t *desc, *ann, *layers, *config;
  const char *ref;
  const struct member *x;

  if (index == NULL || (desc = first_manifest(archive, m, index, &nested, err)) == NULL)
    return -1;
  ann = json_object_get(json_array_get(json_object_get(index, "manifests"), 0), "annotations");
  ref = jstr(ann, "io.containerd.image.name");
  if (ref == NULL)
    ref = jstr(ann, "org.opencontainers.image.ref.name");
  img->name = ref ? xstrdup(ref) : NULL;
  snprintf(img->manifest_digest, sizeof img->manifest_digest, "%s", jstr(desc, "digest"));
  if ((x = desc_member(archive, m, desc, "the image manifest", err)) == NULL)
    return -1;
  if ((manifest = member_json(archive, m, x->name, err)) == NULL)
    return derror_wrap(err, "the manifest %s", img->manifest_digest);
  config = json_object_get(manifest, "config");
  layers = json_object_get(manifest, "layers");
  if (!digest_valid(jstr(config, "digest")) || !json_is_array(layers))
    return derror_set(err, "`%s`: the manifest %s has no config or layers", archive, img->manifest_digest);
  snprintf(img->config_digest, sizeof img->config_digest, "%s", jstr(config, "digest"));
  if (oci_layers(archive, m, layers, img, pl, err) < 0)
    return -1;
  if ((x = desc_member(archive, m, config, "the config", err)) == NULL)
    return -1;
  if ((img->config = member_json(archive, m, x->name, err)) == NULL)
    return derror_wrap(err, "the config %s", img->config_digest);
  return 0;
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
  cleanup_json json_t *doc = member_json(archive, m, "manifest.json", err);
  json_t *first = json_array_get(doc, 0), *layers = json_object_get(first, "Layers");
  const char *config = jstr(first, "Config"), *tag;
  const struct member *c;
  size_t n;

  if (doc == NULL)
    return -1;
  if (config == NULL || !json_is_array(layers))
    return derror_set(err, "`%s`: manifest.json has no Config or Layers", archive);
  tag = json_string_value(json_array_get(json_object_get(first, "RepoTags"), 0));
  img->name = tag ? xstrdup(tag) : NULL;
  c = member_find(m, member_name(config));
  if (c == NULL)
    return derror_set(err, "`%s`: manifest.json names the config `%s`, which the archive does not hold", archive,
                      config);
  snprintf(img->config_digest, sizeof img->config_digest, "%s", c->digest);
  n = json_array_size(layers);
  if (alloc_layers(archive, img, pl, n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    const char *name = json_string_value(json_array_get(layers, i));
    const struct member *l = name ? member_find(m, member_name(name)) : NULL;
    if (l == NULL)
      return derror_set(err, "`%s`: manifest.json names layer `%s`, which the archive does not hold", archive,
                        name ? name : "?");
    pl->members[i] = xstrdup(l->name);
    pl->n = img->n_layers = i + 1;
    if (docker_layer(archive, img, i, l, err) < 0)
      return -1;
  }
  if ((img->config = member_json(archive, m, member_name(config), err)) == NULL)
    return -1;
  return 0;
}

void
plan_layers_free(struct plan_layers *pl)
{
  for (size_t i = 0; i < pl->n; i++)
    free(pl->members[i]);
  free(pl->members);
  memset(pl, 0, sizeof *pl);
}

int
read_manifest(const char *archive, const struct members *m, struct image *img, struct plan_layers *pl,
              struct derror *err)
{
  if (member_find(m, "index.json"))
    return oci_manifest(archive, m, img, pl, err);
  return docker_manifest(archive, m, img, pl, err);
}
