/* Licenses in SPDX terms, for the SBOM: what a Debian package's copyright
 * file declares, and whether a package's metadata names an SPDX
 * expression. */
#ifndef DISTILL_PLAN_LICENSE_H
#define DISTILL_PLAN_LICENSE_H

#include "lib/alloc.h"

#include <stddef.h>

/* The LicenseRef-s a document uses: their ids, the names they stand for and
 * the package whose copyright file names them (set by the caller). */
struct license_refs {
  struct strv ids, names, owners;
};

/* The SPDX expression a Debian copyright file (machine-readable format 1.0)
 * declares: the License of its header and of each Files paragraph, joined
 * by AND, with Debian's short names translated to SPDX identifiers and
 * others as LicenseRef-<name> (added to `refs`); NULL when the file does
 * not say (another format, or no License field). */
char *license_declared(const char *copyright, size_t len, struct license_refs *refs);
void license_refs_free(struct license_refs *refs);

/* `s` as an SPDX idstring: letters, digits, '.' and '-' ('+' becomes
 * "plus", runs of anything else one '-'; "none" when nothing is left). */
char *license_idstring(const char *s);

/* `s` when it is an SPDX license expression (AND, OR, WITH, parentheses,
 * '+') of identifiers of the SPDX license list that this file knows,
 * spelled as the list does; else NULL (free text, an unknown name, a
 * LicenseRef the document would not define). */
char *license_spdx_expression(const char *s);

#endif
