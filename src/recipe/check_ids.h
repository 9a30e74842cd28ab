/* The names of the checks: what `distill check` reports, what a recipe's
 * checks.allow (and `--allow ID:PATH`) may waive, and the manifest
 * annotation the build records the recipe's waivers in.  The recipe reads
 * them first, so they live here; src/image/check.c runs the checks. */
#ifndef DISTILL_CHECK_IDS_H
#define DISTILL_CHECK_IDS_H

#define CHECK_COUNT 12

/* A finding accepted: `path` exactly (no pattern: a waiver must not cover
 * a file added later), for the check `id`. */
struct check_waiver {
  const char *id;
  const char *path;
  const char *reason;
};

/* The ids of the checks, in order, NULL-terminated. */
extern const char *const check_ids[];
/* NULL when a waiver may name `id`, else why not: an unknown id, or a
 * check whose findings name no file (user-nonroot, unprivileged-ports,
 * can-start, healthcheck). */
const char *check_waivable(const char *id);

/* The manifest annotation the build records its recipe's waivers in: a
 * JSON list of {"id", "path", "reason"}. */
#define CHECK_WAIVED_ANNOTATION "org.distill.checks.waived"

#endif
