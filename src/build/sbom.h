/* The image's software bill of materials: an SPDX 2.3 JSON document with
 * the image as its root package, every Debian package its files come from
 * (name, version, architecture, declared license, purl) and every regular
 * file with its SHA-1 and SHA-256, each contained by its package or, when no
 * package has it, by the image.  Like the image, the document depends only
 * on the inputs: `created` is the source-date-epoch and the namespace is
 * named after the manifest digest. */
#ifndef DISTILL_SBOM_H
#define DISTILL_SBOM_H

#include "lib/error.h"
#include "plan/plan.h"
#include "recipe/recipe.h"

#include <stdint.h>

/* The LicenseRef-s a document uses: their ids, the names they stand for and
 * the package whose copyright file names them (set by the caller). */
struct sbom_refs {
  struct strv ids, names, owners;
};

/* The SPDX expression a Debian copyright file (machine-readable format 1.0)
 * declares: the License of its header and of each Files paragraph, joined
 * by AND, with Debian's short names translated to SPDX identifiers and
 * others as LicenseRef-<name> (added to `refs`); NULL when the file does
 * not say (another format, or no License field). */
char *sbom_declared_license(const char *copyright, size_t len, struct sbom_refs *refs);
void sbom_refs_free(struct sbom_refs *refs);

/* Write the document to `path` (a temporary file renamed into place). */
int sbom_write(const char *path, const struct recipe *r, const struct plan *p, const char *manifest_digest,
               int64_t epoch, struct derror *err);

#endif
