/* The Debian packages an image's files come from, read from the sysroot's
 * dpkg database (var/lib/dpkg/status and var/lib/dpkg/info/ *.list), and the
 * metadata that lets vulnerability scanners see them: each package's status
 * stanza as /var/lib/dpkg/status.d/<package> (the layout of distroless
 * images, which Trivy, Grype and Syft read) and its copyright file. */
#ifndef DISTILL_DPKG_H
#define DISTILL_DPKG_H

#include "lib/cache.h"
#include "lib/error.h"
#include "plan/rootfs.h"
#include "plan/sysroot.h"
#include "lib/alloc.h"

#include <sys/types.h>

struct dpkg_package {
  char *name, *arch, *version;
  char *maintainer; /* or NULL */
  char *stanza;     /* its paragraph of var/lib/dpkg/status, as written there */
  char *copyright;  /* host path of its copyright file, or NULL when it has none */
  char *status_path; /* /var/lib/dpkg/status.d/<name> in the image ("<name>:<arch>" when
                        two architectures of one package are there) */
  struct strv files; /* the image paths of its files, in the order they were added */
  struct strv canonical; /* and their names in the sysroot, every directory resolved */
  rootfs_layer layer; /* the lowest layer holding one of its files */
  size_t at, len; /* where its stanza is in the status file */
  char *origin; /* who publishes it, by dpkg_origins(), or NULL: unknown */
};

/* An image path and the index of the package it belongs to. */
struct dpkg_owned {
  const char *path; /* into the package's files */
  size_t package;
};

struct dpkg_packages {
  struct dpkg_package *items; /* by name, then architecture */
  size_t n;
  struct dpkg_owned *owned; /* every package's files, by path */
  size_t n_owned;
};

/* Find the package of every regular file of `fs` whose source lies in the
 * sysroot: a file belongs to a package when the package's list names it,
 * directories of both resolved inside the sysroot (so /lib/x and
 * /usr/lib/x are one file on a merged /usr).  Then add, for each package
 * found, /var/lib/dpkg/status.d/<name>, status.d/<name>.md5sums (each of
 * its files here with its MD5, as dpkg's info/<name>.md5sums lists them,
 * which Trivy and Syft read to map files to packages; dpkg_md5sums.c) and
 * /usr/share/doc/<name>/copyright to `fs`, in the layer of its first
 * files.  A sysroot without
 * var/lib/dpkg/status has no packages: 0 and nothing added.  Reading every
 * list costs ~50 ms on a system of 1400 packages, so what they said of a
 * set of files is kept in `cache` (when not NULL) under a key of the
 * database's identity and times.  Call before rootfs_finish(). */
int dpkg_annotate(struct rootfs *fs, const struct sysroot *root, struct cache *cache, struct dpkg_packages *out,
                  struct derror *err);

/* Each package's origin: the Origin field of its status stanza, else the
 * Origin of the Release (or InRelease) file of an APT repository whose
 * list in the sysroot's var/lib/apt/lists (plain or gzip) has the exact
 * name, version and architecture ("Debian" winning over others); else
 * unknown.  Lists are read bounded; what cannot be read says nothing. */
void dpkg_origins(struct dpkg_packages *pkgs, const struct sysroot *root);

/* The value of the field `name` in a status paragraph of `len` bytes (its
 * first line), or NULL. */
char *dpkg_field(const char *para, size_t len, const char *name);

/* The index in `pkgs` of the package an image path belongs to, or -1. */
ssize_t dpkg_package_of(const struct dpkg_packages *pkgs, const char *path);

void dpkg_packages_free(struct dpkg_packages *pkgs);

#endif
