/* SLSA provenance v1 of a build (slsa.dev/spec/v1.0/provenance): the
 * predicate of an in-toto statement about the image.  buildDefinition
 * holds the recipe (path and sha256), the platforms, the compression and
 * the epoch as externalParameters, and as resolvedDependencies every input
 * file (its source path, its sha256, its path in the image) and every
 * Debian package of the sysroot the image takes files from (name, version,
 * architecture, purl).  Like the image it depends on the inputs alone: no
 * time but the epoch, no invocation id, the keys sorted when written. */
#ifndef DISTILL_BUILD_PROVENANCE_H
#define DISTILL_BUILD_PROVENANCE_H

#include "lib/error.h"
#include "build/build.h"

#include <jansson.h>

#define PROVENANCE_BUILD_TYPE "urn:distill:build:v1"
#define PROVENANCE_BUILDER_ID "urn:distill:builder"

/* The predicate of the build `req` made into `res`, or NULL with `err`
 * (an input that cannot be read again, or that changed). */
json_t *provenance_predicate(const struct build_request *req, const struct build_result *res, struct derror *err);

/* The predicate written to `path` (sorted keys, one line), renamed into
 * place. */
int provenance_write(const char *path, json_t *predicate, struct derror *err);

/* A predicate distill wrote, read back: -1 when `path` is not a JSON
 * object with this buildType. */
json_t *provenance_read(const char *path, struct derror *err);

#endif
