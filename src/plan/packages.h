/* contents.packages: a Debian package of the sysroot taken whole.  Its
 * files are the ones its list (var/lib/dpkg/info/NAME[:ARCH].list) names,
 * less documentation (packages_is_doc) and what the item's `exclude`
 * names; each is placed at its name in the sysroot with every directory
 * resolved (the name dpkg_annotate matches, so /lib/x is /usr/lib/x on a
 * merged /usr).  Files keep their mode less the bits policy drops,
 * symlinks their target, directories their type; the owner is root.  The
 * closure of the ELF objects among them is the caller's (plan.c), and the
 * status.d stanza, md5sums and copyright follow from dpkg_annotate. */
#ifndef DISTILL_PACKAGES_H
#define DISTILL_PACKAGES_H

#include "lib/alloc.h"
#include "lib/error.h"
#include "plan/rootfs.h"
#include "plan/sysroot.h"
#include "recipe/recipe.h"

#include <stdbool.h>

/* The layer of a package's files: one place, so that a `layer:` key can
 * route them later. */
rootfs_layer packages_layer(const struct recipe_package *pkg);

/* Add the files of r->packages[i] to `fs`.  Refused, naming the item: a
 * package that is not installed ("ok installed") in the sysroot, one
 * whose list is missing, and one that would bring a shell or a package
 * manager (policy.h) that its excludes do not leave out.  Files its list
 * names that the sysroot lacks are left out with one warning in
 * `warnings`. */
int packages_add(const struct recipe *r, size_t i, const struct sysroot *root, struct rootfs *fs,
                 struct strv *warnings, struct derror *err);

/* Documentation no program reads: /usr/share/doc (the copyright file
 * comes back through dpkg_annotate), man, info, lintian and locale, each
 * with what is below it. */
bool packages_is_doc(const char *path);

/* The absolute `path` or one of its directories matches a pattern of
 * `exclude`: fnmatch(3) on its base name, or on the whole path with '*'
 * stopping at '/'. */
bool packages_excluded(const struct strv *exclude, const char *path);

/* The status paragraph of the installed package `name` (`arch`: its
 * Architecture, or NULL: the only one installed) in the status file
 * `text`: its architecture in *arch_out.  -1 with the reason in `err`
 * when it is not there, not "ok installed", or installed for more than
 * one architecture and `arch` is NULL. */
int packages_find_installed(const char *text, size_t len, const char *name, const char *arch, char **arch_out,
                            struct derror *err);

#endif
