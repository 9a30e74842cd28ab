/* Can the image start?  The rule `distill build` refuses an image by and
 * `distill check` reports as `can-start`, on any image: the program the
 * runtime executes (the entrypoint, else cmd[0], found on PATH when it has
 * no slash) exists in the image, is a regular file the run-as user may
 * execute, through directories the user may search; a `#!` script's
 * interpreter is there too; an ELF program's interpreter is in the image
 * and its closure, computed over the image's own tree as its loader will
 * see it, is complete. */
#ifndef DISTILL_START_H
#define DISTILL_START_H

#include "lib/error.h"
#include "lib/alloc.h"
#include "plan/view.h"

#include <stdbool.h>
#include <stdint.h>

struct start_config {
  const struct strv *entrypoint; /* or NULL */
  const struct strv *cmd;        /* or NULL */
  const struct strv *env;        /* "KEY=VALUE", or NULL */
  const char *work_dir;          /* or NULL: "/" */
  uint32_t uid, gid;             /* the user the runtime starts it as */
};

/* What stops the image from starting goes to `problems`, one sentence
 * each; what may stop it on some machines to `notes`.  -1 only when the
 * image cannot be examined (err set). */
int start_check(const struct view *image, const struct start_config *cfg, struct strv *problems, struct strv *notes,
                struct derror *err);

/* The user of an image config's "User" ("65532", "65532:65532", "app" or
 * "app:grp", names looked up in the image's /etc/passwd and /etc/group).
 * -1 with err set when a name is not there. */
int start_user(const struct view *image, const char *user, uint32_t *uid, uint32_t *gid, struct derror *err);

#endif
