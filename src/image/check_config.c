/* The checks of the image's config: the user it runs as, credentials in
 * the text anyone who pulls it reads, its ports, its health check. */
#include "image/escape.h"
#include "image/finding.h"
#include "image/image.h"
#include "lib/alloc.h"
#include "lib/secrets.h"
#include "recipe/recipe.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void
check_user(const struct image *img, struct check_result *r)
{
  const char *user = json_string_value(json_object_get(json_object_get(img->config, "config"), "User"));
  char *end;

  if (user == NULL || *user == '\0') {
    finding(r, CHECK_FAIL, NULL, "no User: the image runs as root");
    return;
  }
  cleanup_free char *shown = escape_text(user);
  cleanup_free char *uid = xstrndup(user, strcspn(user, ":"));
  unsigned long v = strtoul(uid, &end, 10);
  if (*uid == '\0' || *end)
    finding(r, CHECK_FAIL, NULL, "User \"%s\" is not numeric: Kubernetes runAsNonRoot cannot verify it", shown);
  else if (v == 0)
    finding(r, CHECK_FAIL, NULL, "User \"%s\" is root", shown);
}

/* ---- credentials in the config (no-secrets) ---------------------------- */

/* The config is read by anyone who pulls the image, as its layers are.
 * A finding's path is "config:WHERE:NAME", which no file's can be (those
 * start with '/'), so that a waiver names exactly one value; the message
 * names the value, never what it holds. */
static void
config_finding(struct check_result *r, const char *where, const char *name, const char *shown, const char *rule)
{
  cleanup_free char *path = xasprintf("config:%s:%s", where, name);
  cleanup_free char *what = escape_text(shown);

  finding(r, CHECK_FAIL, path, "config %s: %s", what, rule);
}

/* Env: "NAME=VALUE", as the recipe's environment is read. */
static void
config_env(json_t *config, struct check_result *r)
{
  size_t i;
  json_t *v;

  json_array_foreach(json_object_get(config, "Env"), i, v)
  {
    const char *entry = json_string_value(v);
    if (entry == NULL)
      continue;
    const char *eq = strchr(entry, '=');
    cleanup_free char *name = xstrndup(entry, eq ? (size_t) (eq - entry) : strlen(entry));
    const char *rule = secrets_in_value(name, eq ? eq + 1 : "");
    if (rule) {
      cleanup_free char *shown = xasprintf("Env %s", name);
      config_finding(r, "Env", name, shown, rule);
    }
  }
}

static void
config_labels(json_t *config, struct check_result *r)
{
  const char *key;
  json_t *v;

  json_object_foreach(json_object_get(config, "Labels"), key, v)
  {
    const char *rule = json_is_string(v) ? secrets_in_value(key, json_string_value(v)) : NULL;
    if (rule) {
      cleanup_free char *shown = xasprintf("label %s", key);
      config_finding(r, "label", key, shown, rule);
    }
  }
}

/* Entrypoint and Cmd, argument by argument, as the recipe's are read. */
static void
config_args(json_t *config, const char *key, struct check_result *r)
{
  size_t i;
  json_t *v;

  json_array_foreach(json_object_get(config, key), i, v)
  {
    const char *rule = json_is_string(v) ? recipe_secret_in_argument(json_string_value(v)) : NULL;
    if (rule) {
      cleanup_free char *index = xasprintf("%zu", i);
      cleanup_free char *shown = xasprintf("%s[%zu]", key, i);
      config_finding(r, key, index, shown, rule);
    }
  }
}

/* A command line of the history as a whole (a token, `aws_secret_access_key
 * = ...`), then each NAME=VALUE word of it as an argument: a Dockerfile's
 * ENV and ARG leave `ENV DB_PASSWORD=...` and `RUN |1 TOKEN=... /bin/sh -c`
 * there. */
static const char *
history_secret(const char *line)
{
  const char *rule = secrets_in_value("ARG", line);

  for (const char *p = line; !rule && *p;) {
    size_t n = strcspn(p, " \t\n");
    if (n > 0 && memchr(p, '=', n)) {
      cleanup_free char *word = xstrndup(p, n);
      rule = recipe_secret_in_argument(word);
    }
    p += n;
    p += strspn(p, " \t\n");
  }
  return rule;
}

static void
config_history(json_t *history, struct check_result *r)
{
  size_t i;
  json_t *v;

  json_array_foreach(history, i, v)
  {
    const char *line = json_string_value(json_object_get(v, "created_by"));
    const char *rule = line ? history_secret(line) : NULL;
    if (rule) {
      cleanup_free char *index = xasprintf("%zu", i);
      cleanup_free char *shown = xasprintf("history[%zu] created_by", i);
      config_finding(r, "history", index, shown, rule);
    }
  }
}

/* The config's values that are text anyone reads: its environment,
 * labels, command and history, by the rules a recipe's are refused by. */
void
check_config_secrets(const struct image *img, struct check_result *r)
{
  json_t *config = json_object_get(img->config, "config");

  config_env(config, r);
  config_labels(config, r);
  config_args(config, "Entrypoint", r);
  config_args(config, "Cmd", r);
  config_history(json_object_get(img->config, "history"), r);
}

void
check_ports(const struct image *img, struct check_result *r)
{
  json_t *ports = json_object_get(json_object_get(img->config, "config"), "ExposedPorts");
  const char *key;
  json_t *v;

  json_object_foreach(ports, key, v)
  {
    cleanup_free char *port = escape_text(key);
    if (strtoul(key, NULL, 10) < 1024)
      finding(r, CHECK_WARN, NULL, "%s: below 1024, a non-root user cannot bind it without a capability", port);
  }
}

/* A service (it exposes ports) that runs long is what an engine should
 * watch: without a Healthcheck a stuck one still looks "running".  A
 * warning, since the orchestrator may probe it from outside instead
 * (Kubernetes ignores the image's Healthcheck). */
void
check_healthcheck(const struct image *img, struct check_result *r)
{
  json_t *config = json_object_get(img->config, "config");
  json_t *ports = json_object_get(config, "ExposedPorts");
  json_t *test = json_object_get(json_object_get(config, "Healthcheck"), "Test");
  const char *first = json_string_value(json_array_get(test, 0));

  if (json_object_size(ports) == 0)
    return;
  if (first == NULL || strcmp(first, "NONE") == 0)
    finding(r, CHECK_WARN, NULL, "the image exposes ports (a service) but has no Healthcheck: give the recipe a "
                                 "healthcheck (test, or distill's probe: http or tcp)");
}
