/* From a recipe to the image's entry table: the base, the contents, the
 * closure of every program and library, then policy. */
#ifndef DISTILL_PLAN_H
#define DISTILL_PLAN_H

#include "distill/dpkg.h"
#include "distill/error.h"
#include "distill/recipe.h"
#include "distill/rootfs.h"
#include "distill/sysroot.h"

struct plan {
  struct rootfs fs;
  const char *arch;    /* OCI architecture */
  const char *variant; /* or NULL */
  uint32_t uid, gid;   /* the user the image runs as */
  struct strv warnings; /* for stderr: what the image may lack */
  struct strv hints;    /* for -v: libraries the programs may dlopen */
  struct dpkg_packages packages; /* the Debian packages its files come from */
};

/* `cache` (or NULL) keeps what slow lookups found (dpkg_annotate). */
int plan_build(const struct recipe *r, const struct sysroot *root, struct cache *cache, struct plan *out,
               struct derror *err);
void plan_free(struct plan *p);

#endif
