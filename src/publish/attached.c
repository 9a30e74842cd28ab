/* Signature and attestation manifests in a registry or an archive: see
 * attached.h. */
#include "publish/attached.h"
#include "lib/cleanup.h"
#include "publish/keys.h"
#include "publish/simplesign.h"
#include "publish/store.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#define MANIFEST_MAX (4u << 20)
#define PAYLOAD_MAX (1u << 20)
#define REF_NAME "org.opencontainers.image.ref.name"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define ACCEPT_ATTACHED MT_OCI_MANIFEST ", " MT_DOCKER_MANIFEST

void
attached_tag(const char *digest, const char *suffix, char tag[ATTACHED_TAG_LEN])
{
  snprintf(tag, ATTACHED_TAG_LEN, "sha256-%.64s.%s", digest + 7, suffix);
}

bool
attached_is_tag(const char *name)
{
  size_t hex = strlen("sha256-"), end = hex + DIGEST_HEX_LEN;

  return name && strlen(name) == end + 4 && strncmp(name, "sha256-", hex) == 0
         && strspn(name + hex, "0123456789abcdef") == DIGEST_HEX_LEN
         && (strcmp(name + end, ".sig") == 0 || strcmp(name + end, ".att") == 0);
}

static const char *
str(json_t *j, const char *key)
{
  return json_string_value(json_object_get(j, key));
}

static const char *
ref_name(json_t *desc)
{
  return str(json_object_get(desc, "annotations"), REF_NAME);
}

/* A manifest's text parsed: an object with a layers array, or -1. */
static int
parse_manifest(const struct buf *text, const char *where, const char *tag, json_t **m, struct derror *err)
{
  json_error_t jerr;

  *m = json_loadb(text->data, text->len, JSON_REJECT_DUPLICATES, &jerr);
  if (json_is_object(*m) && json_is_array(json_object_get(*m, "layers")))
    return 0;
  derror_set(err, "%s: %s: not an image manifest with layers%s%s", where, tag, *m ? "" : ": ",
             *m ? "" : jerr.text);
  json_decref(*m);
  *m = NULL;
  return -1;
}

json_t *
attached_archive_list(const struct layout *l, struct derror *err)
{
  json_t *all = json_array(), *d;
  const char *extras = NULL;
  size_t i;

  json_array_foreach (json_object_get(l->index, "manifests"), i, d) {
    if (attached_is_tag(ref_name(d)))
      json_array_append(all, d);
    else if (extras == NULL)
      extras = str(json_object_get(d, "annotations"), OCI_EXTRAS_ANNOTATION);
  }
  if (extras == NULL)
    return all;
  const struct layout_blob *b = layout_blob(l, extras);
  struct buf text = { 0 };
  json_t *index = NULL;
  if (b == NULL)
    derror_set(err, "`%s`: index.json names %s for its signatures and attestations, which the archive does not "
                    "have", l->path, extras);
  else if (layout_read(l, b, MANIFEST_MAX, &text, err) == 0) {
    index = json_loadb(text.data, text.len, 0, NULL); /* not inside json_is_array: a macro */
    if (!json_is_array(json_object_get(index, "manifests")))
      derror_set(err, "`%s`: %s, the index of its signatures and attestations, is not an image index", l->path,
                 extras);
  }
  buf_free(&text);
  json_array_foreach (json_object_get(index, "manifests"), i, d)
    if (attached_is_tag(ref_name(d)))
      json_array_append(all, d);
  json_decref(index);
  if (err->msg) {
    json_decref(all);
    return NULL;
  }
  return all;
}

/* The descriptor of the archive's attached manifest `tag` (a new
 * reference), or NULL: none, or with `err` set. */
static json_t *
layout_entry_named(const struct layout *l, const char *tag, struct derror *err)
{
  json_t *all = attached_archive_list(l, err), *d, *found = NULL;
  size_t i;

  json_array_foreach (all, i, d)
    if (strcmp(ref_name(d), tag) == 0) {
      found = json_incref(d);
      break;
    }
  json_decref(all);
  return found;
}

int
attached_manifest(const struct attached_source *s, const char *tag, json_t **m, struct derror *err)
{
  struct buf body = { 0 };
  int found;

  *m = NULL;
  if (s->l) {
    cleanup_json json_t *d = layout_entry_named(s->l, tag, err);
    const char *digest = str(d, "digest");
    const struct layout_blob *b = digest ? layout_blob(s->l, digest) : NULL;
    if (err->msg)
      return -1;
    if (d && b == NULL)
      return derror_set(err, "`%s`: its index names %s for %s, which the archive does not have", s->l->path,
                        digest ? digest : "no digest", tag);
    found = b == NULL ? 0 : layout_read(s->l, b, MANIFEST_MAX, &body, err) < 0 ? -1 : 1;
  } else {
    char digest[DIGEST_STR_LEN];
    found = store_get_manifest(s->r, s->ref->repo, tag, ACCEPT_ATTACHED, &body, digest, NULL, err);
  }
  if (found == 1) {
    cleanup_free char *where = s->l ? xasprintf("`%s`", s->l->path)
                                    : xasprintf("registry %s: %s", registry_host(s->r), s->ref->repo);
    found = parse_manifest(&body, where, tag, m, err) < 0 ? -1 : 1;
  }
  buf_free(&body);
  return found < 0 ? -1 : 0;
}

int
attached_blob(const struct attached_source *s, const char *digest, size_t max, struct buf *out, struct derror *err)
{
  if (s->r)
    return store_get_blob(s->r, s->ref->repo, digest, max, out, err);
  const struct layout_blob *b = layout_blob(s->l, digest);
  if (b == NULL)
    return derror_set(err, "`%s` does not have the blob %s", s->l->path, digest);
  return layout_read(s->l, b, max, out, err);
}

json_t *
attached_archive_image(const struct layout *l, struct derror *err)
{
  json_t *list = json_object_get(l->index, "manifests"), *image = NULL, *d;
  size_t i, n = 0;

  json_array_foreach (list, i, d) {
    if (attached_is_tag(ref_name(d)))
      continue;
    image = d;
    n++;
  }
  if (n != 1) {
    derror_set(err, "`%s`: index.json names %zu images besides signatures and attestations; an archive of one "
                    "(or of one index) is needed", l->path, n);
    return NULL;
  }
  return image;
}

int
attached_archive_open(const char *path, struct layout *l, char digest[DIGEST_STR_LEN], struct derror *err)
{
  json_t *image;

  if (layout_open(path, l, err) < 0)
    return -1;
  if ((image = attached_archive_image(l, err)) == NULL)
    return -1;
  if (!digest_valid(str(image, "digest")))
    return derror_set(err, "`%s`: index.json names the image without a sha256 digest", path);
  snprintf(digest, DIGEST_STR_LEN, "%s", str(image, "digest"));
  return 0;
}

/* ---- writing ---------------------------------------------------------- */

json_t *
attached_new_manifest(void)
{
  return json_pack("{s:i, s:s, s:n, s:[]}", "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST, "config", "layers");
}

/* The config go-containerregistry writes for empty.Image with these
 * layers appended: each layer's digest its diff_id (a signature layer is
 * not compressed), an empty history entry each. */
static void
config_bytes(json_t *layers, struct buf *out)
{
  size_t i;
  json_t *l;

  buf_printf(out, "{\"architecture\":\"\",\"created\":\"0001-01-01T00:00:00Z\",\"history\":[");
  for (i = 0; i < json_array_size(layers); i++)
    buf_printf(out, "%s{\"created\":\"0001-01-01T00:00:00Z\"}", i ? "," : "");
  buf_printf(out, "],\"os\":\"\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[");
  json_array_foreach (layers, i, l)
    buf_printf(out, "%s\"%s\"", i ? "," : "", str(l, "digest") ? str(l, "digest") : "");
  buf_printf(out, "]},\"config\":{}}");
}

void
attached_finish(json_t *m, struct buf *config, struct buf *text, char digest[DIGEST_STR_LEN])
{
  const char *mt = str(m, "mediaType");
  bool docker = mt && strcmp(mt, MT_DOCKER_MANIFEST) == 0;
  char config_digest[DIGEST_STR_LEN];

  config_bytes(json_object_get(m, "layers"), config);
  digest_buffer(config->data, config->len, config_digest);
  json_object_set_new(m, "config", json_pack("{s:s, s:I, s:s}", "mediaType", docker ? MT_DOCKER_CONFIG : MT_OCI_CONFIG,
                                             "size", (json_int_t) config->len, "digest", config_digest));
  char *dump = json_dumps(m, JSON_COMPACT);
  if (dump == NULL)
    oom();
  buf_append(text, dump, strlen(dump));
  free(dump);
  digest_buffer(text->data, text->len, digest);
}

int
attached_put(struct registry *r, const struct image_ref *ref, const char *tag, json_t *m, struct derror *err)
{
  const char *mt = str(m, "mediaType");
  struct buf config = { 0 }, text = { 0 };
  char config_digest[DIGEST_STR_LEN], digest[DIGEST_STR_LEN];
  uint64_t sent = 0;

  attached_finish(m, &config, &text, digest);
  digest_buffer(config.data, config.len, config_digest);
  struct store_object c = { .digest = config_digest, .fd = -1, .data = config.data, .size = config.len };
  struct store_object o = { .digest = digest, .fd = -1, .data = text.data, .size = text.len };
  int ret = store_blob(r, ref->repo, NULL, &c, &sent, 0, err) < 0
              ? -1
              : store_put_manifest(r, ref->repo, tag, &o, mt ? mt : MT_OCI_MANIFEST, err);
  buf_free(&config);
  buf_free(&text);
  return ret;
}

void
attached_extra(json_t *m, struct buf *layers, size_t n, const char *tag, const char *kind, EVP_PKEY *signer,
               struct oci_extra *out)
{
  memset(out, 0, sizeof *out);
  out->name = xstrdup(tag);
  out->kind = kind;
  out->signer = attached_signer_text(signer);
  out->blobs = xcalloc(n + 1, sizeof *out->blobs);
  char digest[DIGEST_STR_LEN];
  attached_finish(m, &out->blobs[0], &out->manifest, digest);
  for (size_t i = 0; i < n; i++) {
    out->blobs[i + 1] = layers[i];
    memset(&layers[i], 0, sizeof layers[i]);
  }
  out->n_blobs = n + 1;
}

/* ---- an archive's, pushed --------------------------------------------- */

bool
attached_has_layer(json_t *layers, json_t *layer)
{
  size_t i;
  json_t *x;

  json_array_foreach (layers, i, x)
    if (json_equal(json_object_get(x, "digest"), json_object_get(layer, "digest"))
        && json_equal(json_object_get(x, "annotations"), json_object_get(layer, "annotations")))
      return true;
  return false;
}

EVP_PKEY *
attached_signer(const struct layout *l, const char *tag)
{
  struct derror ignored = DERROR_INIT;
  cleanup_json json_t *d = layout_entry_named(l, tag, &ignored);
  const char *b64 = str(json_object_get(d, "annotations"), OCI_SIGNER_ANNOTATION);
  struct buf der = { 0 };
  EVP_PKEY *key = NULL;

  derror_clear(&ignored);
  if (b64 && base64_decode(b64, &der) == 0) {
    const unsigned char *p = (const unsigned char *) der.data;
    key = d2i_PUBKEY(NULL, &p, (long) der.len);
  }
  buf_free(&der);
  return key;
}

char *
attached_signer_text(EVP_PKEY *key)
{
  unsigned char *der = NULL;
  int n = i2d_PUBKEY(key, &der);

  if (n <= 0)
    oom();
  char *b64 = base64_encode(der, (size_t) n);
  OPENSSL_free(der);
  return b64;
}

int
attached_merge(struct registry *r, const struct image_ref *ref, const struct layout *l, const char *digest,
               const struct attached_merger *how, uint64_t *sent, struct derror *err)
{
  struct attached_source from = { .l = l }, to = { .r = r, .ref = ref };
  cleanup_json json_t *mine = NULL, *theirs = NULL;
  char tag[ATTACHED_TAG_LEN];
  size_t i, added = 0;
  json_t *layer;

  attached_tag(digest, how->suffix, tag);
  if (attached_manifest(&from, tag, &mine, err) < 0)
    return -1;
  if (mine == NULL)
    return 0;
  if (attached_manifest(&to, tag, &theirs, err) < 0)
    return -1;
  if (theirs == NULL)
    theirs = attached_new_manifest();
  cleanup_pkey EVP_PKEY *signer = attached_signer(l, tag);
  json_t *layers = json_object_get(theirs, "layers");
  json_array_foreach (json_object_get(mine, "layers"), i, layer) {
    const char *d = str(layer, "digest");
    const struct layout_blob *b = d ? layout_blob(l, d) : NULL;
    struct buf blob = { 0 };
    if (b == NULL)
      return derror_set(err, "`%s`: %s names a layer the archive does not have", l->path, tag);
    if (layout_read(l, b, how->max, &blob, err) < 0)
      return -1;
    int there = how->there(signer, &to, layers, layer, &blob, err);
    buf_free(&blob);
    if (there < 0)
      return -1;
    if (there)
      continue;
    struct store_object o = { .digest = b->digest, .fd = l->fd, .offset = b->offset, .size = b->size };
    if (store_blob(r, ref->repo, NULL, &o, sent, 0, err) < 0)
      return -1;
    json_array_append(layers, layer);
    added++;
  }
  return added ? attached_put(r, ref, tag, theirs, err) : 0;
}
