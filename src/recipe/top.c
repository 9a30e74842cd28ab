/* The top level of a recipe: the image's name and tag, where its files
 * are read from (sysroot, platforms), and its config (entrypoint, cmd,
 * environment, ports, ...), each value checked and normalised as it will
 * be written. */
#include "recipe/parse.h"
#include "lib/alloc.h"
#include "lib/path.h"
#include "lib/platform.h"
#include "recipe/check_ids.h"
#include "recipe/keys.h"
#include "recipe/recipe.h"

#include <ctype.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* ---- image config values ---------------------------------------------- */

static bool
valid_env_name(const char *s)
{
  if (!(isalpha((unsigned char) *s) || *s == '_'))
    return false;
  for (s++; *s; s++)
    if (!(isalnum((unsigned char) *s) || *s == '_'))
      return false;
  return true;
}

/* An ordered mapping of strings (environment, labels, annotations,
 * platforms); a null value is the empty string. */
static int
string_map(struct parse_ctx *c, yaml_node_t *n, const char *kp, struct recipe_map *out, bool env)
{
  if (n->type != YAML_MAPPING_NODE)
    return parse_error(c, n, kp, "must be a mapping of strings");
  size_t count = (size_t) (n->data.mapping.pairs.top - n->data.mapping.pairs.start);
  out->items = xcalloc(count, sizeof(*out->items));
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = parse_node(c, p->key), *v = parse_node(c, p->value);
    struct recipe_kv *kv = &out->items[out->n];
    kv->pos = parse_pos(k);
    if (parse_nonempty(c, k, kp, &kv->key) < 0)
      return -1;
    out->n++;
    cleanup_free char *vkp = xasprintf("%s.%s", kp, kv->key);
    if (env && !valid_env_name(kv->key))
      return parse_error(c, k, vkp, "not a valid environment variable name");
    for (size_t i = 0; i + 1 < out->n; i++)
      if (strcmp(out->items[i].key, kv->key) == 0)
        return parse_error(c, k, vkp, "duplicate key");
    if (v->type != YAML_SCALAR_NODE)
      return parse_error(c, v, vkp, "must be a string");
    kv->value = xstrdup(parse_is_null(v) ? "" : parse_text(v));
  }
  return 0;
}

/* "8080", "8080/tcp", "53/udp", "9/sctp"; normalised to "PORT/PROTO". */
static int
port(struct parse_ctx *c, yaml_node_t *n, const char *kp, char **out)
{
  cleanup_free char *s = NULL;
  unsigned long long number;
  const char *proto = "tcp";

  if (n->type != YAML_SCALAR_NODE || parse_is_null(n))
    return parse_error(c, n, kp, "must be a port such as 8080/tcp");
  s = xstrdup(parse_text(n));
  char *slash = strchr(s, '/');
  if (slash) {
    *slash = '\0';
    proto = slash + 1;
  }
  if (parse_uint(s, 65535, &number) < 0 || number == 0)
    return parse_error(c, n, kp, "\"%s\": port must be a number from 1 to 65535", parse_text(n));
  if (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp"))
    return parse_error(c, n, kp, "\"%s\": protocol must be tcp, udp or sctp", parse_text(n));
  *out = xasprintf("%llu/%s", number, proto);
  return 0;
}

static const struct {
  const char *name;
  int number;
} signals[] = {
  { "HUP", SIGHUP },   { "INT", SIGINT },     { "QUIT", SIGQUIT },   { "ILL", SIGILL },     { "TRAP", SIGTRAP },
  { "ABRT", SIGABRT }, { "BUS", SIGBUS },     { "FPE", SIGFPE },     { "KILL", SIGKILL },   { "USR1", SIGUSR1 },
  { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },   { "PIPE", SIGPIPE },   { "ALRM", SIGALRM },   { "TERM", SIGTERM },
  { "CHLD", SIGCHLD }, { "CONT", SIGCONT },   { "STOP", SIGSTOP },   { "TSTP", SIGTSTP },   { "TTIN", SIGTTIN },
  { "TTOU", SIGTTOU }, { "URG", SIGURG },     { "XCPU", SIGXCPU },   { "XFSZ", SIGXFSZ },   { "VTALRM", SIGVTALRM },
  { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO },       { "PWR", SIGPWR },     { "SYS", SIGSYS },
};

/* "SIGTERM", "TERM", "15", "SIGRTMIN+3"; normalised to "SIGTERM" or "15". */
static int
stop_signal(struct parse_ctx *c, yaml_node_t *n, const char *kp, char **out)
{
  cleanup_free char *s = NULL;
  unsigned long long num;

  if (parse_nonempty(c, n, kp, &s) < 0)
    return -1;
  if (parse_uint(s, 64, &num) == 0 && num > 0) {
    *out = xasprintf("%llu", num);
    return 0;
  }
  const char *name = strncmp(s, "SIG", 3) == 0 ? s + 3 : s;
  for (size_t i = 0; i < sizeof signals / sizeof *signals; i++)
    if (strcmp(signals[i].name, name) == 0) {
      *out = xasprintf("SIG%s", name);
      return 0;
    }
  if (strncmp(name, "RTMIN+", 6) == 0 && parse_uint(name + 6, 30, &num) == 0) {
    *out = xasprintf("SIG%s", name);
    return 0;
  }
  return parse_error(c, n, kp, "\"%s\" is not a signal name such as SIGTERM", s);
}

/* The grammar of a repository name in a Docker reference, lower case. */
static bool
valid_image_name(const char *s)
{
  size_t n = strlen(s);

  if (n == 0 || n > 255)
    return false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    bool alnum = islower((unsigned char) ch) || isdigit((unsigned char) ch);
    if (alnum)
      continue;
    if (strchr("._-/", ch) == NULL)
      return false;
    /* separators sit between alphanumerics ("__" is allowed by Docker) */
    if (i == 0 || i == n - 1 || !(islower((unsigned char) s[i + 1]) || isdigit((unsigned char) s[i + 1])
                                  || (ch == '_' && s[i + 1] == '_') || (ch == '-' && s[i + 1] == '-')))
      return false;
  }
  return true;
}

static bool
valid_tag(const char *s)
{
  size_t n = strlen(s);

  if (n == 0 || n > 128 || !(isalnum((unsigned char) s[0]) || s[0] == '_'))
    return false;
  for (size_t i = 1; i < n; i++)
    if (!(isalnum((unsigned char) s[i]) || strchr("_.-", s[i])))
      return false;
  return true;
}

/* A host path written relative to the recipe's directory made absolute. */
static void
relative_to_recipe(const struct recipe *r, char **path)
{
  if ((*path)[0] != '/') {
    char *abs = path_join(r->dir, *path);
    free(*path);
    *path = abs;
  }
}

static int
host_path(struct parse_ctx *c, yaml_node_t *v, const char *kp, char **out)
{
  if (parse_nonempty(c, v, kp, out) < 0)
    return -1;
  relative_to_recipe(c->r, out);
  return 0;
}

/* ---- the top-level keys ----------------------------------------------- */

static int
top_name(struct parse_ctx *c, yaml_node_t *v, const char *kp, struct recipe *r)
{
  if (parse_nonempty(c, v, kp, &r->name) < 0)
    return -1;
  if (!valid_image_name(r->name))
    return parse_error(c, v, kp, "\"%s\" is not a valid image name (lower case letters, digits, '.', '_', '-', '/')",
                       r->name);
  return 0;
}

static int
top_tag(struct parse_ctx *c, yaml_node_t *v, const char *kp, struct recipe *r)
{
  if (parse_nonempty(c, v, kp, &r->tag) < 0)
    return -1;
  if (!valid_tag(r->tag))
    return parse_error(c, v, kp, "\"%s\" is not a valid tag (letters, digits, '_', '.', '-'; at most 128)", r->tag);
  return 0;
}

/* true (the sysroot's bundle), false, or the path of a PEM bundle. */
static int
top_ca_certificates(struct parse_ctx *c, yaml_node_t *v, const char *kp, struct recipe *r)
{
  if (v->type == YAML_SCALAR_NODE && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
      && (strcasecmp(parse_text(v), "true") == 0 || strcasecmp(parse_text(v), "false") == 0)) {
    bool on = false;
    if (parse_bool(c, v, kp, &on) < 0)
      return -1;
    r->ca = on ? RECIPE_CA_SYSROOT : RECIPE_CA_NONE;
    return 0;
  }
  if (v->type != YAML_SCALAR_NODE || parse_is_null(v))
    return parse_error(c, v, kp, "must be true, false or the path of a PEM bundle");
  r->ca = RECIPE_CA_PATH;
  return parse_source(c, v, kp, &r->ca_source);
}

static int
top_ports(struct parse_ctx *c, yaml_node_t *v, const char *kp, struct recipe *r)
{
  if (v->type != YAML_SEQUENCE_NODE)
    return parse_error(c, v, kp, "must be a list of ports such as 8080/tcp");
  for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
    cleanup_free char *ikp = xasprintf("%s[%td]", kp, it - v->data.sequence.items.start);
    cleanup_free char *p = NULL;
    if (port(c, parse_node(c, *it), ikp, &p) < 0)
      return -1;
    if (strv_contains(&r->ports, p))
      return parse_error(c, parse_node(c, *it), ikp, "duplicate port");
    strv_push_take(&r->ports, steal_pointer(&p));
  }
  return 0;
}

static int
top_volumes(struct parse_ctx *c, yaml_node_t *v, const char *kp, struct recipe *r)
{
  if (v->type != YAML_SEQUENCE_NODE)
    return parse_error(c, v, kp, "must be a list of absolute paths");
  for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
    cleanup_free char *ikp = xasprintf("%s[%td]", kp, it - v->data.sequence.items.start);
    char *path = NULL;
    if (parse_image_path(c, parse_node(c, *it), ikp, &path) < 0)
      return -1;
    strv_push_take(&r->volumes, path);
  }
  return 0;
}

static int
top_annotations(struct parse_ctx *c, yaml_node_t *v, const char *kp, struct recipe *r)
{
  if (string_map(c, v, kp, &r->annotations, false) < 0)
    return -1;
  /* the build writes it from checks.allow, and nothing else may */
  for (size_t i = 0; i < r->annotations.n; i++)
    if (strcmp(r->annotations.items[i].key, CHECK_WAIVED_ANNOTATION) == 0)
      return parse_error(c, v, "annotations." CHECK_WAIVED_ANNOTATION, "reserved: the build records checks.allow in it");
  return 0;
}

/* platform -> the sysroot of its files, for an image of several. */
static int
top_platforms(struct parse_ctx *c, yaml_node_t *v, const char *kp, struct recipe *r)
{
  if (string_map(c, v, kp, &r->platforms, false) < 0)
    return -1;
  for (size_t i = 0; i < r->platforms.n; i++) {
    struct recipe_kv *kv = &r->platforms.items[i];
    const char *arch, *variant;
    cleanup_free char *ikp = xasprintf("%s.%s", kp, kv->key);
    if (platform_parse(kv->key, &arch, &variant) < 0)
      return parse_error(c, v, ikp, "\"%s\" is not a platform such as linux/amd64, linux/arm64 or linux/arm/v7",
                         kv->key);
    if (kv->value[0] == '\0')
      return parse_error(c, v, ikp, "must name the sysroot of that platform");
    relative_to_recipe(r, &kv->value);
  }
  return 0;
}

static int
top_platform(struct parse_ctx *c, yaml_node_t *v, const char *kp, struct recipe *r)
{
  if (parse_nonempty(c, v, kp, &r->platform) < 0)
    return -1;
  if (platform_parse(r->platform, &r->platform_arch, &r->platform_variant) < 0)
    return parse_error(c, v, kp, "\"%s\" is not a platform such as linux/amd64, linux/arm64 or linux/arm/v7",
                       r->platform);
  return 0;
}

int
top_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp)
{
  struct recipe *r = c->r;

  switch ((enum top_key) key) {
  case TOP_NAME:
    return top_name(c, v, kp, r);
  case TOP_TAG:
    return top_tag(c, v, kp, r);
  case TOP_SYSROOT:
    return host_path(c, v, kp, &r->sysroot);
  case TOP_CONTENTS:
    return parse_mapping(c, v, kp, KEYS(contents_keys), contents_value, r);
  case TOP_CA_CERTIFICATES:
    return top_ca_certificates(c, v, kp, r);
  case TOP_TZDATA:
    return parse_bool(c, v, kp, &r->tzdata);
  case TOP_ACCOUNTS:
    return parse_mapping(c, v, kp, KEYS(accounts_keys), accounts_value, r);
  case TOP_PATHS:
    return parse_list(c, v, kp, (void **) &r->paths, &r->n_paths, sizeof(*r->paths), accounts_path_item);
  case TOP_ENTRYPOINT:
    r->has_entrypoint = true;
    return parse_strings(c, v, kp, &r->entrypoint);
  case TOP_CMD:
    r->has_cmd = true;
    return parse_strings(c, v, kp, &r->cmd);
  case TOP_ENVIRONMENT:
    return string_map(c, v, kp, &r->environment, true);
  case TOP_WORK_DIR:
    return parse_image_path(c, v, kp, &r->work_dir);
  case TOP_PORTS:
    return top_ports(c, v, kp, r);
  case TOP_VOLUMES:
    return top_volumes(c, v, kp, r);
  case TOP_LABELS:
    return string_map(c, v, kp, &r->labels, false);
  case TOP_ANNOTATIONS:
    return top_annotations(c, v, kp, r);
  case TOP_STOP_SIGNAL:
    return stop_signal(c, v, kp, &r->stop_signal);
  case TOP_PLATFORM:
    return top_platform(c, v, kp, r);
  case TOP_PLATFORMS:
    return top_platforms(c, v, kp, r);
  case TOP_SBOM:
    return host_path(c, v, kp, &r->sbom);
  case TOP_HEALTHCHECK:
    return recipe_healthcheck(c, v, kp, &r->healthcheck);
  case TOP_CHECKS:
    return parse_mapping(c, v, kp, KEYS(checks_keys), checks_value, r);
  case TOP_LAYERS:
    return layers_value(c, v, kp);
  case TOP_FROM_RECIPE:
    return from_recipe_value(c, v, kp);
  }
  return parse_unhandled(c, v, kp);
}

/* The keys that exclude each other: each platform of `platforms` has its
 * own sysroot. */
int
top_check(struct parse_ctx *c, yaml_node_t *root)
{
  const struct recipe *r = c->r;

  if (r->platforms.n && (r->platform || r->sysroot))
    return parse_error(c, root, "platforms",
                       "names each platform's sysroot: neither \"platform\" nor \"sysroot\" goes with it");
  return 0;
}
