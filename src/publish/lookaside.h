/* Lookaside storage: signatures of containers' own format kept beside a
 * registry rather than in it (containers-signature(5)), where
 * containers-registries.d(5) says they are, as containers/image reads
 * that configuration (docker/registries_d.go): the most precise scope of
 * the `docker` mapping that has a URL for the purpose, else
 * `default-docker`, else the built-in directory. */
#ifndef DISTILL_PUBLISH_LOOKASIDE_H
#define DISTILL_PUBLISH_LOOKASIDE_H

#include "lib/error.h"
#include "publish/ref.h"

#include <stddef.h>

/* The URL to add a signature of `ref` at: a section's
 * `lookaside-staging`, else `sigstore-staging`, `lookaside`, `sigstore`
 * (containers/image's order for writing).  The sections come from the
 * *.yaml files of `dir`, or when NULL of $HOME/.config/containers/
 * registries.d if it exists, else /etc/containers/registries.d; a missing
 * directory is an empty configuration.  A section is looked for under the
 * reference in full ("HOST/REPO:TAG" or "@DIGEST"), then under
 * "HOST/REPO" and each parent namespace up to "HOST"; a section with no
 * URL for writing is passed over.  With none configured, the built-in
 * default: file:///var/lib/containers/sigstore for root, else
 * file://$HOME/.local/share/containers/sigstore.  -1 with `err` naming the
 * file for YAML that is not the format, or a scope (or default-docker)
 * defined in two files, which containers/image refuses too. */
int lookaside_staging_url(const char *dir, const struct image_ref *ref, char **url, struct derror *err);

/* The directory a file:// URL names (%XX decoded; an empty host or
 * "localhost"); -1 for any other URL: distill writes to no server. */
int lookaside_url_dir(const char *url, char **dir, struct derror *err);

/* Add `sig` as BASE/REPO@sha256=HEX/signature-N under the directory
 * `base`, N the first index from 1 with no file (containers/image reads
 * signature-1, -2, ... up to the first missing), its directories made as
 * needed.  The file appears whole or not at all: written under a
 * temporary name and linked to its own, which fails rather than replaces
 * when another writer took N first (then N+1 is tried).  Its path in
 * `*written`. */
int lookaside_write(const char *base, const char *repo, const char *digest, const void *sig, size_t n,
                    char **written, struct derror *err);

#endif
