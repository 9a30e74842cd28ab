/* Credentials in the values of a recipe: an image's config is read by
 * anyone who pulls the image, so a credential there is published with it.
 * The last pass of the parser refuses them, before anything is built. */
#include "recipe/parse.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "lib/secrets.h"
#include "recipe/recipe.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <yaml.h>

/* What a rule finds, as a noun: its text without the details that speak
 * of formats and files (" (ghp_, ...)", " assigned in a .env file"), which
 * would mislead about a value of the config. */
static char *
rule_noun(const char *id)
{
  static const char *const details[] = { " (", " assigned", " in a ", NULL };

  for (const struct secret_rule_info *r = secret_rules; r->id; r++) {
    if (strcmp(r->id, id) != 0)
      continue;
    size_t n = strlen(r->what);
    for (size_t i = 0; details[i]; i++) {
      const char *at = strstr(r->what, details[i]);
      if (at && (size_t) (at - r->what) < n)
        n = (size_t) (at - r->what);
    }
    return xstrndup(r->what, n);
  }
  return xstrdup("a credential");
}

static int
secret_error(struct parse_ctx *c, struct recipe_pos pos, const char *kp, const char *rule)
{
  cleanup_free char *what = rule_noun(rule);

  return derror_set(c->err, "%s:%u:%u: %s: %s (%s): credentials never go in an image's config; pass them at run time",
                    c->file, pos.line, pos.column, kp, what, rule);
}

static bool
is_arg_name(int ch)
{
  return isalnum((unsigned char) ch) || ch == '_' || ch == '-';
}

const char *
recipe_secret_in_argument(const char *arg)
{
  const char *rule = secrets_in_value("ARG", arg), *p = arg;
  size_t n = 0;

  if (rule)
    return rule;
  /* --db-password=VALUE read as DB_PASSWORD=VALUE, so that the rule for
   * secret-ish names applies (and spares --password-file=/run/x as it
   * spares DB_PASSWORD_FILE) */
  while (*p == '-')
    p++;
  while (is_arg_name(p[n]))
    n++;
  /* $VAR: the shell of `sh -c` fills it in at run time */
  if (n == 0 || p[n] != '=' || p[n + 1] == '$')
    return NULL;
  cleanup_free char *name = xstrndup(p, n);
  for (char *q = name; *q; q++)
    if (*q == '-')
      *q = '_';
  return secrets_in_value(name, p + n + 1);
}

/* Each value of the map under its own name, as an environment file's
 * line would be read. */
static int
check_map_secrets(struct parse_ctx *c, const char *kp, const struct recipe_map *m)
{
  for (size_t i = 0; i < m->n; i++) {
    const char *rule = secrets_in_value(m->items[i].key, m->items[i].value);
    if (rule) {
      cleanup_free char *ikp = xasprintf("%s.%s", kp, m->items[i].key);
      return secret_error(c, m->items[i].pos, ikp, rule);
    }
  }
  return 0;
}

/* The arguments of entrypoint or cmd; their positions are their nodes'
 * (the list parsed them all, one string each). */
static int
check_arg_secrets(struct parse_ctx *c, yaml_node_t *root, const char *key, const struct strv *args)
{
  yaml_node_t *seq = parse_lookup(c, root, key);

  for (size_t i = 0; seq && i < args->n; i++) {
    const char *rule = recipe_secret_in_argument(args->items[i]);
    if (rule) {
      cleanup_free char *ikp = xasprintf("%s[%zu]", key, i);
      return secret_error(c, parse_pos(parse_node(c, seq->data.sequence.items.start[i])), ikp, rule);
    }
  }
  return 0;
}

/* The probe's URL (healthcheck.http) goes into the config too: read whole
 * for token formats, and each NAME=VALUE of its query as an argument is
 * (?api_key=...). */
static int
check_probe_secrets(struct parse_ctx *c, yaml_node_t *root)
{
  const char *url = c->r->healthcheck.probe_url, *rule;
  yaml_node_t *h = parse_lookup(c, root, "healthcheck");
  yaml_node_t *v = h && h->type == YAML_MAPPING_NODE ? parse_lookup(c, h, "http") : NULL;

  if (url == NULL || v == NULL)
    return 0;
  rule = secrets_in_value("ARG", url);
  for (const char *q = strchr(url, '?'); rule == NULL && q; q = strchr(q + 1, '&')) {
    cleanup_free char *pair = xstrndup(q + 1, strcspn(q + 1, "&"));
    rule = recipe_secret_in_argument(pair);
  }
  return rule ? secret_error(c, parse_pos(v), "healthcheck.http", rule) : 0;
}

/* Over the values that go into the image's config and manifest as written:
 * no credential in any (secrets_in_value's rules).  (A health check's
 * arguments will be read as cmd's are.) */
int
credentials_check(struct parse_ctx *c, yaml_node_t *root)
{
  struct recipe *r = c->r;

  if (check_map_secrets(c, "environment", &r->environment) < 0
      || check_arg_secrets(c, root, "entrypoint", &r->entrypoint) < 0
      || check_arg_secrets(c, root, "cmd", &r->cmd) < 0 || check_map_secrets(c, "labels", &r->labels) < 0
      || check_map_secrets(c, "annotations", &r->annotations) < 0 || check_probe_secrets(c, root) < 0)
    return -1;
  return 0;
}
