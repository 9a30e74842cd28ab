/* The Debian packages an image says it has (its /var/lib/dpkg/status.d
 * stanzas, as distill and distroless write them), and how two images'
 * differ: added, removed, upgraded, downgraded, by dpkg's order of
 * versions. */
#ifndef DISTILL_IMAGE_PACKAGES_H
#define DISTILL_IMAGE_PACKAGES_H

#include "lib/error.h"
#include "image/image.h"
#include "plan/dpkg.h"
#include "image/versions.h"
#include "lib/alloc.h"

#include <stddef.h>

struct image_package {
  const char *kind; /* "deb", "npm" or "pypi" (NULL: "deb") */
  char *name, *arch, *version; /* arch: "" but for Debian's */
  char *at; /* npm: its directory; pypi: its site (the dist-info's directory) */
  int layer; /* the layer that wrote its stanza */
  struct strv files; /* its stanza, its md5sums and the files that lists */
};

struct image_packages {
  struct image_package *items; /* by name, then architecture */
  size_t n;
  struct dpkg_owned *owned; /* every package's files, by path */
  size_t n_owned;
};

/* Each status.d stanza's Package, Architecture and Version (a stanza
 * without a Package or a Version is left out), and its files as the
 * stanza's md5sums beside it names them; then each npm package of a
 * node_modules (its package.json; its files those below it but in a
 * nested node_modules) and Python distribution (a dist-info, whose RECORD
 * lists its files, or an egg-info), read with plan/ecosystem.h's rules.
 * Sorted by kind, name, architecture and place. */
int image_packages(const char *archive, const struct image *img, struct image_packages *out, struct derror *err);
void image_packages_free(struct image_packages *p);

/* "name:arch" for Debian's, "name (npm, /app/node_modules/name)" for
 * the others. */
char *image_package_label(const struct image_package *p);

/* The package whose files (by its status.d md5sums) include the image path
 * `path`, or NULL. */
const struct image_package *image_package_of(const struct image_packages *p, const char *path);

enum package_change { PACKAGE_ADDED, PACKAGE_REMOVED, PACKAGE_UPGRADED, PACKAGE_DOWNGRADED };

struct package_diff {
  const struct image_package *pkg; /* a's, or b's when a has none */
  const char *old_version, *new_version; /* NULL: absent on that side */
  enum package_change change;
};

/* The packages that differ between `a` and `b`, by name then
 * architecture; the strings are theirs. */
size_t packages_diff(const struct image_packages *a, const struct image_packages *b, struct package_diff **out);
const char *package_change_name(enum package_change c);

#endif
