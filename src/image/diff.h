/* How two images differ, from their packages down to each file's bytes,
 * so that a rebuild that does not reproduce says why: a list of
 * differences, each {"kind", "where", "what"} (prose), with "field",
 * "old" and "new" beside where there are values to compare. */
#ifndef DISTILL_IMAGE_DIFF_H
#define DISTILL_IMAGE_DIFF_H

#include "lib/error.h"
#include "image/image.h"

#include <jansson.h>
#include <stdbool.h>

struct image_diff {
  json_t *items;
};

/* The differences of `a` (read from the archive `path_a`) and `b`, in
 * order: the Debian packages (added, removed, upgraded, downgraded:
 * packages.h), what a pull of `b` downloads where `a` is, the names (when
 * `names`), the config's keys, each file, the layers; when nothing else
 * differs, that the archive around the same image does (`name_a` names
 * it).  -1 with `err` when a layer cannot be read again. */
int image_diff(const char *path_a, const struct image *a, const char *path_b, const struct image *b, const char *name_a,
               bool names, struct image_diff *d, struct derror *err);

#endif
