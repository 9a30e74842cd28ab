/* From a recipe to the image's entry table: the base, the contents, the
 * closure of every program and library, then policy. */
#ifndef DISTILL_PLAN_H
#define DISTILL_PLAN_H

#include "plan/closure.h"
#include "plan/dpkg.h"
#include "lib/error.h"
#include "recipe/recipe.h"
#include "plan/rootfs.h"
#include "plan/sysroot.h"

struct plan {
  struct rootfs fs;
  const char *arch;    /* OCI architecture */
  const char *variant; /* or NULL */
  uint32_t uid, gid;   /* the user the image runs as */
  struct strv warnings; /* for stderr: what the image may lack */
  struct strv hints;    /* for -v: libraries the programs may dlopen */
  struct dpkg_packages packages; /* the Debian packages its files come from */
  struct strv env;        /* the config's Env: defaults, then the recipe's */
  struct strv entrypoint; /* the config's Entrypoint, when has_entrypoint */
  bool has_entrypoint;
};

/* The closure as the build computes it: over the planned image laid on the
 * sysroot.  plan_closure() places the recipe's contents in p->fs and
 * resolves; libraries not found are in closure.missing, not an error. */
struct plan_closure {
  struct view lower;
  struct rootfs_view view;
  struct closure closure;
};
int plan_closure(const struct recipe *r, const struct sysroot *root, struct plan *p, struct plan_closure *pc,
                 struct derror *err);
void plan_closure_free(struct plan_closure *pc);

/* `cache` (or NULL) keeps what slow lookups found (dpkg_annotate). */
int plan_build(const struct recipe *r, const struct sysroot *root, struct cache *cache, struct plan *out,
               struct derror *err);
void plan_free(struct plan *p);

#endif
