/* The packages of other ecosystems among an image's files (for its SBOM,
 * and for diff's packages; the SPDX document is build/sbom.c's): npm packages
 * (node_modules/.../package.json), Python distributions (*.dist-info and
 * *.egg-info), the crates a Rust program was built from (`cargo auditable`'s
 * .dep-v0 section) and the modules of a Go program (its build info).
 * Every metadata file is untrusted: sizes are bounded, and one that does
 * not parse gives no package rather than an error. */
#ifndef DISTILL_PLAN_ECOSYSTEM_H
#define DISTILL_PLAN_ECOSYSTEM_H

#include "lib/alloc.h"
#include "plan/rootfs.h"

#include <stdbool.h>
#include <stddef.h>

struct eco_package {
  const char *kind; /* "npm", "pypi", "cargo", "golang": the purl type */
  char *name, *version; /* version: NULL when unknown */
  char *license;        /* an SPDX expression, or NULL (NOASSERTION) */
  char *purl;
  char *at;             /* image path of its metadata file, or of the program */
  char *comment;        /* or NULL */
  /* npm, pypi: the image paths of its files, sorted, each once */
  struct strv files;
  /* cargo, golang: how the program `at` relates to it, an SPDX 2.3
   * relationship type (STATIC_LINK, GENERATED_FROM) */
  const char *relation;
};

struct eco_packages {
  struct eco_package *items;
  size_t n, cap;
};

/* The metadata file an image path is, by its name alone: a package.json
 * of a package in a node_modules (the application's own, beside a
 * node_modules, needs the tree: eco_scan's), a dist-info's METADATA, an
 * egg-info's PKG-INFO, or an egg-info that is one file. */
enum eco_metadata { ECO_NONE, ECO_NPM, ECO_DIST_INFO, ECO_EGG_INFO_DIR, ECO_EGG_INFO_FILE };
enum eco_metadata eco_metadata_of(const char *path);

/* Every package of `fs` (after rootfs_finish()), sorted by kind, name,
 * version, then place. */
void eco_scan(const struct rootfs *fs, struct eco_packages *out);
void eco_packages_free(struct eco_packages *pkgs);
void eco_package_free(struct eco_package *pk);

/* The parsers, on metadata already read (for the tests). */
/* package.json: name, version, license, purl; false when it names no
 * package. */
bool eco_npm_manifest(const char *text, size_t len, struct eco_package *out);
/* METADATA or PKG-INFO (the email-header format of core metadata): Name,
 * Version, License-Expression or License; false without Name. */
bool eco_pypi_metadata(const char *text, size_t len, struct eco_package *out);
/* The image paths a RECORD (CSV: the path is the first field, relative to
 * `site`, the directory holding the dist-info) lists, ".." taken
 * lexically and stopping at the root; a path no file of the image has is
 * left out later. */
void eco_pypi_record(const char *text, size_t len, const char *site, struct strv *paths);
/* The crates of a .dep-v0 section (zlib-compressed JSON) of the program
 * at `at`; false when it does not parse. */
bool eco_cargo_section(const void *data, size_t len, const char *at, struct eco_packages *out);
/* The modules of a .go.buildinfo section (Go 1.18's format) of the program
 * at `at`; false when it does not parse. */
bool eco_go_buildinfo(const void *data, size_t len, const char *at, struct eco_packages *out);

/* `pk` added to `pkgs`, which owns its fields from then on. */
struct eco_package *eco_push(struct eco_packages *pkgs, const struct eco_package *pk);

/* Internal to ecosystem.c and ecosystem_binaries.c. */
struct eco_package *eco_add(struct eco_packages *pkgs, const char *kind, const char *name, const char *version);
/* The package's purl: pkg:KIND/NAME[@VERSION], NAME given already
 * escaped where it needs to be. */
char *eco_purl(const char *kind, const char *escaped_name, const char *version);
/* A purl's name, version or qualifier value: everything but unreserved
 * characters percent-encoded. */
char *eco_purl_escape(const char *s);
/* The content of a file of the image, at most `max` bytes; false when
 * it cannot be read or is larger. */
bool eco_read(const struct rootfs *fs, const struct rootfs_entry *e, size_t max, struct buf *out);
/* The crates and modules of every ELF program of `fs` (ecosystem_binaries.c). */
void eco_scan_binaries(const struct rootfs *fs, struct eco_packages *out);

#endif
