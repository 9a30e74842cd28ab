#include "plan/config.h"
#include "plan/probe.h"
#include "recipe/recipe.h"
#include "lib/alloc.h"

#include <string.h>

/* The user the image runs as: a default account, else one of the recipe's
 * (the recipe has refused a name that is neither). */
static void
run_as_ids(const struct recipe *r, uint32_t *uid, uint32_t *gid)
{
  *uid = *gid = 65532;
  if (strcmp(r->run_as, "nobody") == 0)
    *uid = *gid = 65534;
  for (size_t i = 0; i < r->n_users; i++)
    if (strcmp(r->users[i].name, r->run_as) == 0) {
      *uid = r->users[i].uid;
      *gid = r->users[i].gid;
    }
}

/* The image config's Env: a PATH and, with a CA bundle, SSL_CERT_FILE,
 * unless the recipe sets them; then the recipe's, in its order. */
static void
config_env(const struct recipe *r, struct strv *env)
{
  bool has_path = false, has_cert = false;

  for (size_t i = 0; i < r->environment.n; i++) {
    has_path |= strcmp(r->environment.items[i].key, "PATH") == 0;
    has_cert |= strcmp(r->environment.items[i].key, "SSL_CERT_FILE") == 0;
  }
  if (!has_path)
    strv_push(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (!has_cert && r->ca != RECIPE_CA_NONE)
    strv_push(env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt");
  for (size_t i = 0; i < r->environment.n; i++)
    strv_push_take(env, xasprintf("%s=%s", r->environment.items[i].key, r->environment.items[i].value));
}

static void
config_entrypoint(const struct recipe *r, struct image_config *c)
{
  if (r->has_entrypoint) {
    c->has_entrypoint = true;
    for (size_t i = 0; i < r->entrypoint.n; i++)
      strv_push(&c->entrypoint, r->entrypoint.items[i]);
  } else if (r->n_binaries == 1 && !r->has_cmd) {
    /* One program and no word on how to start it: start it. */
    c->has_entrypoint = true;
    strv_push(&c->entrypoint, r->binaries[0].path);
  }
}

static void
copy_strv(struct strv *to, const struct strv *from)
{
  for (size_t i = 0; i < from->n; i++)
    strv_push(to, from->items[i]);
}

/* The probe's own time limit is the engine's (so that it says why before
 * being killed), or its default of 3s when the recipe leaves the engine's. */
static void
config_health_test(const struct recipe *r, struct strv *test)
{
  const struct recipe_healthcheck *h = &r->healthcheck;

  if (h->probe_url == NULL) {
    copy_strv(test, &h->test);
    return;
  }
  strv_push(test, PROBE_PATH);
  if (h->timeout_ns) {
    cleanup_free char *ms = xasprintf("%lld", (long long) (h->timeout_ns + 999999) / 1000000);
    strv_push(test, "-t");
    strv_push(test, ms);
  }
  strv_push(test, h->probe_url);
}

static void
copy_map(struct config_map *to, const struct recipe_map *from)
{
  for (size_t i = 0; i < from->n; i++) {
    strv_push(&to->keys, from->items[i].key);
    strv_push(&to->values, from->items[i].value);
  }
}

void
image_config_init(struct image_config *c, const struct recipe *r)
{
  memset(c, 0, sizeof *c);
  run_as_ids(r, &c->uid, &c->gid);
  config_env(r, &c->env);
  config_entrypoint(r, c);
  c->has_cmd = r->has_cmd;
  copy_strv(&c->cmd, &r->cmd);
  c->work_dir = r->work_dir ? xstrdup(r->work_dir) : NULL;
  copy_strv(&c->ports, &r->ports);
  copy_strv(&c->volumes, &r->volumes);
  copy_map(&c->labels, &r->labels);
  c->stop_signal = r->stop_signal ? xstrdup(r->stop_signal) : NULL;
  config_health_test(r, &c->health_test);
  c->health_interval = r->healthcheck.interval_ns;
  c->health_timeout = r->healthcheck.timeout_ns;
  c->health_start_period = r->healthcheck.start_period_ns;
  c->health_retries = r->healthcheck.retries;
  copy_map(&c->annotations, &r->annotations);
  c->n_waivers = r->n_waivers;
  c->waivers = xcalloc(r->n_waivers ? r->n_waivers : 1, sizeof *c->waivers);
  for (size_t i = 0; i < r->n_waivers; i++)
    c->waivers[i] = (struct check_waiver) { xstrdup(r->waivers[i].id), xstrdup(r->waivers[i].path),
                                            xstrdup(r->waivers[i].reason) };
}

static void
map_free(struct config_map *m)
{
  strv_free(&m->keys);
  strv_free(&m->values);
}

void
image_config_free(struct image_config *c)
{
  strv_free(&c->env);
  strv_free(&c->entrypoint);
  strv_free(&c->cmd);
  free(c->work_dir);
  strv_free(&c->ports);
  strv_free(&c->volumes);
  map_free(&c->labels);
  free(c->stop_signal);
  strv_free(&c->health_test);
  map_free(&c->annotations);
  for (size_t i = 0; i < c->n_waivers; i++) {
    free((char *) c->waivers[i].id);
    free((char *) c->waivers[i].path);
    free((char *) c->waivers[i].reason);
  }
  free(c->waivers);
  memset(c, 0, sizeof *c);
}
