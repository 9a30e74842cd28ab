/* The image documents (config, manifest, index, Docker's manifest.json and
 * repositories) with jansson, and the one archive that holds them with the
 * blobs (DESIGN.md section 4). */
#ifndef DISTILL_OCI_H
#define DISTILL_OCI_H

#include "distill/error.h"
#include "distill/layer.h"
#include "distill/recipe.h"

#include <stdint.h>

struct oci_image {
  const struct recipe *recipe;
  const char *name;    /* repository */
  const char *tag;
  const char *arch;    /* OCI architecture */
  const char *variant; /* or NULL */
  uint32_t uid, gid;   /* the user the image runs as */
  struct strv env;     /* "KEY=value", in order */
  struct strv entrypoint;
  bool has_entrypoint;
  int64_t epoch;
  struct layer_blob *layers;
  const char **layer_comments;
  size_t n_layers;
};

/* Each returns a compact JSON text with sorted keys; the caller frees it. */
char *oci_config_json(const struct oci_image *img);
char *oci_manifest_json(const struct oci_image *img, const char *config_digest, uint64_t config_size);
char *oci_index_json(const struct oci_image *img, const char *manifest_digest, uint64_t manifest_size);
char *oci_docker_manifest_json(const struct oci_image *img, const char *config_digest);
char *oci_repositories_json(const struct oci_image *img);

/* RFC 3339 UTC time of an epoch ("1970-01-01T00:00:00Z"). */
void oci_time(int64_t epoch, char out[32]);

/* Write the image archive to `fd`; `manifest_digest` receives the digest
 * of the image manifest. */
int oci_write_archive(const struct oci_image *img, int fd, char manifest_digest[DIGEST_STR_LEN],
                      struct derror *err);

#endif
