/* The Debian packages an image says it has (its /var/lib/dpkg/status.d
 * stanzas, as distill and distroless write them), and how two images'
 * differ: added, removed, upgraded, downgraded, by dpkg's order of
 * versions. */
#ifndef DISTILL_IMAGE_PACKAGES_H
#define DISTILL_IMAGE_PACKAGES_H

#include "lib/error.h"
#include "image/image.h"

#include <stddef.h>

struct image_package {
  char *name, *arch, *version;
  int layer; /* the layer that wrote its stanza */
};

struct image_packages {
  struct image_package *items; /* by name, then architecture */
  size_t n;
};

/* Each stanza's Package, Architecture and Version (a stanza without a
 * Package or a Version is left out); none when the image has no
 * status.d. */
int image_packages(const char *archive, const struct image *img, struct image_packages *out, struct derror *err);
void image_packages_free(struct image_packages *p);

/* dpkg's order of two versions ([epoch:]upstream[-revision]): < 0, 0 or
 * > 0 as `a` is older than, the same as, or newer than `b`. */
int debian_version_cmp(const char *a, const char *b);

enum package_change { PACKAGE_ADDED, PACKAGE_REMOVED, PACKAGE_UPGRADED, PACKAGE_DOWNGRADED };

struct package_diff {
  const char *name, *arch;
  const char *old_version, *new_version; /* NULL: absent on that side */
  enum package_change change;
};

/* The packages that differ between `a` and `b`, by name then
 * architecture; the strings are theirs. */
size_t packages_diff(const struct image_packages *a, const struct image_packages *b, struct package_diff **out);
const char *package_change_name(enum package_change c);

#endif
