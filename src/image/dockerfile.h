/* An image config as Dockerfile instructions, for builders that can only
 * start `FROM scratch` and copy the tree `distill export` wrote.  The
 * config is anyone's: no value can end its line or start an instruction. */
#ifndef DISTILL_DOCKERFILE_H
#define DISTILL_DOCKERFILE_H

#include "lib/alloc.h"

#include <jansson.h>
#include <stdbool.h>

/* `s` as one double-quoted word of a Dockerfile: `"`, `\` and `$` (which
 * ENV, LABEL, USER and WORKDIR would substitute) escaped with a backslash,
 * control characters written as \n, \t, \r or \xHH.  A Dockerfile has no
 * escape for a control character and keeps those as written: `*lossy` says
 * whether there was one.  Returns a new string. */
char *dockerfile_quote(const char *s, bool *lossy);

/* The instructions of `image_config` (the image's config document, its
 * "config" object within): FROM scratch, a comment with the COPY of
 * `tree` (the directory export wrote, or NULL), then USER, ENV, WORKDIR,
 * EXPOSE, VOLUME, ENTRYPOINT, CMD, LABEL and STOPSIGNAL, those the config
 * has.  Exec forms are JSON arrays.  A value that cannot be written as it
 * is gets a comment line saying so. */
void dockerfile_write(const json_t *image_config, const char *tree, struct buf *out);

#endif
