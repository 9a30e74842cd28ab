/* The image documents (config, manifest, index, Docker's manifest.json and
 * repositories) with jansson, and the one archive that holds them with the
 * blobs (DESIGN.md section 4). */
#ifndef DISTILL_OCI_H
#define DISTILL_OCI_H

#include "lib/alloc.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "plan/config.h"
#include "build/layer.h"

#include <stdint.h>
#include <sys/types.h>

struct oci_image {
  const char *name;    /* repository */
  const char *tag;
  const char *arch;    /* OCI architecture */
  const char *variant; /* or NULL */
  const struct image_config *config; /* the plan's: config and manifest annotations */
  int64_t epoch;
  struct layer_blob *layers;
  const char **layer_comments;
  size_t n_layers;
};

/* Each returns a compact JSON text with sorted keys; the caller frees it. */
char *oci_config_json(const struct oci_image *img);
char *oci_manifest_json(const struct oci_image *img, const char *config_digest, uint64_t config_size);
/* index.json: one descriptor (a manifest, or the image index of several
 * platforms) with the image's names. */
char *oci_index_json(const struct oci_image *img, const char *media_type, const char *digest, uint64_t size);
char *oci_docker_manifest_json(const struct oci_image *img, const char *config_digest);
char *oci_repositories_json(const struct oci_image *img);


/* The image archive, written in one pass to a seekable file: ustar members
 * "blobs/", "blobs/sha256/", the layer blobs in layer order (each streamed
 * straight into the archive behind a header filled in once its digest and
 * size are known), the config and manifest blobs, index.json,
 * manifest.json, oci-layout and repositories.  Owners 0:0, every mtime the
 * epoch. */
struct oci_archive {
  int fd;
  off_t off;      /* where the next member starts */
  off_t blob_at;  /* the header of the blob being written */
  int64_t epoch;
  struct strv blobs; /* digests written */
  /* what index.json will point at, and the first image's config */
  char top[DIGEST_STR_LEN], first_config[DIGEST_STR_LEN];
  const char *top_type;
  uint64_t top_size;
};

int oci_archive_open(struct oci_archive *a, int fd, int64_t epoch, struct derror *err);
/* Between begin and end the caller writes the blob's bytes to a->fd. */
int oci_archive_blob_begin(struct oci_archive *a, struct derror *err);
int oci_archive_blob_end(struct oci_archive *a, const char *digest, uint64_t size, struct derror *err);
/* Forget the blob begun: the archive ends where it started. */
int oci_archive_blob_cancel(struct oci_archive *a, struct derror *err);
/* The configs and manifests of `n` images, whose layers are in: one
 * image, index.json will point at its manifest; several (one per
 * platform), at an image index listing their manifests with their
 * platforms, written here too.  `digests[i]` receives each manifest's
 * digest, `top` the digest index.json will point at. */
int oci_archive_manifests(struct oci_archive *a, const struct oci_image *imgs, size_t n,
                          char (*digests)[DIGEST_STR_LEN], char top[DIGEST_STR_LEN], struct derror *err);

/* A manifest the layout carries beside the image's: a signature or an
 * attestation manifest of it.  Not in index.json, where every consumer
 * would take it for an image (containerd's import fails to unpack it,
 * skopeo wants a tag): listed in an image index of their own, with the
 * annotations cosign's layouts give them (its "kind", its tag as the
 * ref.name), which index.json's descriptor of the image names in
 * OCI_EXTRAS_ANNOTATION. */
#define OCI_EXTRAS_ANNOTATION "org.distill.attached"
#define OCI_SIGNER_ANNOTATION "org.distill.signer"
#define OCI_KIND_SIGNATURES "dev.cosignproject.cosign/sigs"
#define OCI_KIND_ATTESTATIONS "dev.cosignproject.cosign/atts"
struct oci_extra {
  char *name;          /* org.opencontainers.image.ref.name: "sha256-<hex>.sig" */
  const char *kind;    /* OCI_KIND_SIGNATURES or OCI_KIND_ATTESTATIONS */
  char *signer;        /* its descriptor's OCI_SIGNER_ANNOTATION, or NULL */
  struct buf manifest; /* an OCI image manifest */
  struct buf *blobs;   /* its config and layers */
  size_t n_blobs;
};
void oci_extra_free(struct oci_extra *x);

/* After oci_archive_manifests: the extras (their blobs, their manifests,
 * their index), index.json (the image, named as imgs[0] says), Docker's
 * manifest.json and repositories (the first image), and the end. */
int oci_archive_close(struct oci_archive *a, const struct oci_image *imgs, const struct oci_extra *extras,
                      size_t n_extras, struct derror *err);
void oci_archive_abort(struct oci_archive *a);
/* For an archive of other documents (a registry's image, fetch.c): a
 * member of its own name, and the end, without the image's documents. */
int oci_archive_member(struct oci_archive *a, const char *name, const void *data, size_t n, struct derror *err);
int oci_archive_end(struct oci_archive *a, struct derror *err);

#endif
