/* From a recipe to the image's entry table: the base, the contents, the
 * closure of every program and library, then policy. */
#ifndef DISTILL_PLAN_H
#define DISTILL_PLAN_H

#include "lib/alloc.h"
#include "lib/cache.h"
#include "lib/error.h"
#include "recipe/recipe.h"
#include "plan/closure.h"
#include "plan/config.h"
#include "plan/dpkg.h"
#include "plan/rootfs.h"
#include "plan/sysroot.h"
#include "plan/view.h"

struct plan {
  struct rootfs fs;
  const char *arch;    /* OCI architecture */
  const char *variant; /* or NULL */
  struct image_config config; /* what the runtime starts, as whom */
  struct strv warnings; /* for stderr: what the image may lack */
  struct strv hints;    /* libraries the programs may dlopen */
  struct dpkg_packages packages; /* the Debian packages its files come from */
};

/* The closure as the build computes it: over the planned image laid on the
 * sysroot.  plan_closure() places the recipe's contents in p->fs and
 * resolves; libraries not found are in closure.missing, not an error.
 * The platform is the recipe's. */
struct plan_closure {
  struct view lower;
  struct rootfs_view view;
  struct closure closure;
};
int plan_closure(const struct recipe *r, const struct sysroot *root, struct plan *p, struct plan_closure *pc,
                 struct derror *err);
void plan_closure_free(struct plan_closure *pc);

/* The image of `r` for `platform` ("linux/arm64"; NULL: the recipe's
 * own, if it states one), whose programs must be for it; the recipe is
 * only read, so one recipe plans the image of each platform in turn.
 * `cache` (or NULL) keeps what slow lookups found (dpkg_annotate).
 * With `from-recipe`, the base recipe's image (from its own sysroot)
 * first, then this recipe's own layers (from_recipe.c). */
int plan_build(const struct recipe *r, const char *platform, const struct sysroot *root, struct cache *cache,
               struct plan *out, struct derror *err);
/* The image of `r` alone, as plan_build() has it, but for `from-recipe`. */
int plan_recipe(const struct recipe *r, const char *platform, const struct sysroot *root, struct cache *cache,
                struct plan *out, struct derror *err);
void plan_free(struct plan *p);
/* The planned image must start: the rule of `distill check`'s can-start. */
int plan_check_start(const struct recipe *r, struct plan *p, struct derror *err);

#endif
