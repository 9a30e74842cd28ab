/* build_image(): the request's images planned, written and checked, in
 * the order the pipeline runs (DESIGN.md section 6). */
#include "build/build.h"
#include "lib/alloc.h"
#include "lib/cache.h"
#include "lib/error.h"
#include "lib/path.h"
#include "lib/timing.h"
#include "recipe/recipe.h"
#include "plan/plan.h"
#include "build/target.h"

#include <stdlib.h>
#include <string.h>

char *
build_sbom_path(const char *path, const char *arch, const char *variant, size_t n_images)
{
  if (n_images == 1)
    return xstrdup(path);
  const char *base = path_basename(path);
  const char *dot = strchr(base, '.');
  size_t stem = dot ? (size_t) (dot - path) : strlen(path);
  return xasprintf("%.*s.linux-%s%s%s%s", (int) stem, path, arch, variant ? "-" : "", variant ? variant : "",
                   dot ? dot : "");
}

/* The cache, when it can be used: an explicit one that cannot is an
 * error; the default one is left out, said as a detail, or always when it
 * is refused as unsafe (someone else's doing). */
static int
open_cache(const struct build_request *req, struct cache *c, struct derror *err)
{
  const struct build_observer *obs = &req->observer;
  int r = req->no_cache ? 0 : cache_open(c, req->cache_dir, err);

  if (r == 0 || req->cache_dir)
    return r < 0 ? -1 : 0;
  if (obs->warning) {
    cleanup_free char *msg = xasprintf("%s; building without the cache", err->msg);
    obs->warning(obs->ctx, msg, !derror_is(err, DERROR_UNSAFE));
  }
  derror_clear(err);
  return 0;
}

/* Each target's plan, told to the observer as it is made. */
static int
plan_targets(const struct build_request *req, struct target *targets, size_t n, struct cache *cache,
             struct derror *err)
{
  const struct build_observer *obs = &req->observer;

  for (size_t i = 0; i < n; i++) {
    const struct plan *p = &targets[i].out->plan;
    enum timing_part was = timing_switch(TIMING_PLAN);
    int r = target_plan(req, n, &targets[i], cache, err);
    timing_switch(was);
    if (r < 0)
      return -1;
    for (size_t k = 0; obs->warning && k < p->warnings.n; k++)
      obs->warning(obs->ctx, p->warnings.items[k], false);
    if (obs->planned)
      obs->planned(obs->ctx, p);
  }
  return 0;
}

/* The names and outputs: the request's, else the recipe's; the archive
 * by default NAME.tar in the working directory. */
static void
result_names(const struct build_request *req, struct build_result *res)
{
  const struct recipe *r = req->recipe;

  res->name = xstrdup(req->name ? req->name : r->name);
  res->tag = xstrdup(req->tag ? req->tag : r->tag);
  res->output = req->output ? xstrdup(req->output) : xasprintf("%s.tar", path_basename(res->name));
  res->sbom = req->sbom ? xstrdup(req->sbom) : r->sbom ? xstrdup(r->sbom) : NULL;
}

int
build_image(const struct build_request *req, struct build_result *res, struct derror *err)
{
  struct target *targets = NULL;
  size_t n = 0;
  struct cache cache = { 0 };
  int ret = -1;

  memset(res, 0, sizeof *res);
  result_names(req, res);
  if (targets_choose(req, &targets, &n, err) < 0 || outputs_check(req, targets, n, res->output, err) < 0
      || open_cache(req, &cache, err) < 0)
    goto out;
  res->images = xcalloc(n, sizeof *res->images);
  res->n_images = n;
  for (size_t i = 0; i < n; i++)
    targets[i].out = &res->images[i];
  if (plan_targets(req, targets, n, cache.dir ? &cache : NULL, err) < 0
      || write_image(req, cache.dir ? &cache : NULL, targets, n, res, err) < 0)
    goto out;
  ret = 0;
out:
  cache_close(&cache);
  targets_free(targets, n);
  if (ret < 0)
    build_result_free(res);
  return ret;
}

void
build_result_free(struct build_result *res)
{
  for (size_t i = 0; i < res->n_images; i++)
    plan_free(&res->images[i].plan);
  free(res->images);
  free(res->output);
  free(res->sbom);
  free(res->name);
  free(res->tag);
  memset(res, 0, sizeof *res);
}
