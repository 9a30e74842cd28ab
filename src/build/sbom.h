/* The image's software bill of materials: an SPDX 2.3 JSON document with
 * the image as its root package, every Debian package its files come from
 * (name, version, architecture, declared license, purl) and every regular
 * file with its SHA-1 and SHA-256, each contained by its package or, when no
 * package has it, by the image.  Like the image, the document depends only
 * on the inputs: `created` is the source-date-epoch and the namespace is
 * named after the manifest digest.  The packages' licenses are
 * sbom_license.h's. */
#ifndef DISTILL_SBOM_H
#define DISTILL_SBOM_H

#include "lib/error.h"
#include "plan/plan.h"

#include <jansson.h>
#include <stdint.h>

/* The image the document describes, by the name and tag it is built as. */
struct sbom_image {
  const char *name, *tag;
};

/* Write the document to `path` (a temporary file renamed into place; on
 * the disk when `durable`). */
int sbom_write(const char *path, const struct sbom_image *r, const struct plan *p, const char *manifest_digest,
               int64_t epoch, bool durable, struct derror *err);

/* The document itself (for an attestation's predicate), or NULL with
 * `err`. */
json_t *sbom_document(const struct sbom_image *r, const struct plan *p, const char *manifest_digest, int64_t epoch,
                      struct derror *err);
/* The distribution's ID in the image's os-release ("debian" when none),
 * as purls name it. */
char *sbom_distro_id(const struct rootfs *fs);
/* A package's purl, as the document names it. */
char *sbom_purl(const struct dpkg_package *pk, const char *distro);
/* The sha256 (hex) of an entry's content, read again from its source. */
int sbom_entry_sha256(const struct rootfs_entry *e, char hex[65], struct derror *err);

#endif
