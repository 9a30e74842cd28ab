/* The images of one archive: the recipe's own, or one per platform, each
 * planned from its sysroot. */
#include "build/target.h"
#include "lib/alloc.h"
#include "lib/cache.h"
#include "lib/error.h"
#include "lib/platform.h"
#include "recipe/recipe.h"
#include "plan/plan.h"
#include "plan/rootfs.h"
#include "plan/sysroot.h"
#include "image/image.h"
#include "build/build.h"

#include <stdlib.h>
#include <string.h>

static void
target_init(struct target *t, const char *platform, const char *sysroot)
{
  t->platform = platform ? xstrdup(platform) : NULL;
  t->sysroot = xstrdup(sysroot);
  for (size_t k = 0; k < LAYER_MAX; k++)
    t->pend[k].tmp = -1;
}

/* One image, as the recipe and --platform say, from --sysroot, else the
 * platform's in the recipe's platforms map, else the recipe's. */
static struct target *
one_target(const struct build_request *req)
{
  const struct recipe *r = req->recipe;
  const char *platform = req->platforms.n ? req->platforms.items[0] : NULL;
  const char *sysroot = req->sysroot ? req->sysroot : r->sysroot ? r->sysroot : "/";
  struct target *t = xcalloc(1, sizeof *t);

  for (size_t i = 0; platform && !req->sysroot && i < r->platforms.n; i++)
    if (strcmp(r->platforms.items[i].key, platform) == 0)
      sysroot = r->platforms.items[i].value;
  target_init(t, platform, sysroot);
  return t;
}

/* The images to build: the recipe's own; or, with --platform P1,P2 or the
 * recipe's platforms map, one per platform with its sysroot. */
int
targets_choose(const struct build_request *req, struct target **out, size_t *n, struct derror *err)
{
  const struct recipe *r = req->recipe;
  struct strv want = { 0 };

  *n = 0;
  *out = NULL;
  if (req->platforms.n > 1) {
    for (size_t i = 0; i < req->platforms.n; i++)
      if (!strv_contains(&want, req->platforms.items[i]))
        strv_push(&want, req->platforms.items[i]);
  } else if (req->platforms.n == 0 && r->platforms.n) {
    for (size_t i = 0; i < r->platforms.n; i++)
      strv_push(&want, r->platforms.items[i].key);
  } else {
    *out = one_target(req);
    *n = 1;
    return 0;
  }
  if (req->sysroot) {
    strv_free(&want);
    return derror_set(err, "--sysroot names one sysroot; the recipe's platforms name one for each platform");
  }
  *out = xcalloc(want.n, sizeof **out);
  for (size_t i = 0; i < want.n; i++) {
    const char *arch, *variant, *sysroot = NULL;
    if (platform_parse(want.items[i], &arch, &variant) < 0) {
      derror_set(err, "--platform: \"%s\" is not a platform such as linux/amd64", want.items[i]);
      break;
    }
    for (size_t k = 0; k < r->platforms.n; k++)
      if (strcmp(r->platforms.items[k].key, want.items[i]) == 0)
        sysroot = r->platforms.items[k].value;
    if (sysroot == NULL) {
      derror_set(err, "%s: %s: the recipe's platforms give no sysroot for it", r->file, want.items[i]);
      break;
    }
    target_init(&(*out)[(*n)++], want.items[i], sysroot);
  }
  strv_free(&want);
  if (err->msg == NULL)
    return 0;
  targets_free(*out, *n);
  *out = NULL;
  *n = 0;
  return -1;
}

/* --platform and the recipe's platform must say the same. */
static int
same_platform(const struct recipe *r, const char *platform, struct derror *err)
{
  const char *arch, *variant;

  platform_parse(platform, &arch, &variant);
  if (r->platform && (strcmp(arch, r->platform_arch) != 0 || (variant && r->platform_variant
                                                              && strcmp(variant, r->platform_variant) != 0)))
    return derror_set(err, "--platform %s disagrees with the recipe's platform %s", platform, r->platform);
  return 0;
}

/* Plan one of `n` targets.  With several, each platform is its own and
 * none the recipe's; a single one must agree with it. */
int
target_plan(const struct build_request *req, size_t n, struct target *t, struct cache *cache, struct derror *err)
{
  const struct recipe *r = req->recipe;

  if (t->platform && n == 1 && same_platform(r, t->platform, err) < 0)
    return -1;
  if (sysroot_open(&t->root, t->sysroot, err) < 0)
    return -1;
  if (req->context && sysroot_set_context(&t->root, req->context, err) < 0)
    return -1;
  if (plan_build(r, t->platform, &t->root, cache, &t->out->plan, err) < 0) {
    if (t->platform && req->platforms.n > 1)
      derror_wrap(err, "%s", t->platform);
    return -1;
  }
  return 0;
}

void
targets_free(struct target *targets, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    struct target *t = &targets[i];
    for (size_t k = 0; k < LAYER_MAX; k++) {
      if (t->pend[k].tmp >= 0)
        cache_discard(t->pend[k].tmp, t->pend[k].tmp_name);
      strv_free(&t->pend[k].marks);
      free(t->comment_text[k]);
    }
    image_free(&t->rec.img);
    sysroot_close(&t->root);
    free(t->platform);
    free(t->sysroot);
  }
  free(targets);
}
