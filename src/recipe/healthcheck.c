/* healthcheck: the command Docker (and engines that read Docker's image
 * config) runs in the container to tell a healthy service from a stuck
 * one.  Exec form only: the image has no shell to run a string. */
#include "recipe/parse.h"
#include "recipe/keys.h"
#include "recipe/recipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* A duration as Docker's HEALTHCHECK takes it: numbers with units h, m,
 * s, ms, us, ns ("30s", "1m30s", "500ms"), in nanoseconds; -1 when it is
 * not one, or is 0 or more than a day. */
static int64_t
duration(const char *s)
{
  static const struct {
    const char *unit;
    int64_t ns;
  } units[] = { { "ms", 1000000 }, { "us", 1000 }, { "ns", 1 }, { "h", 3600000000000 }, { "m", 60000000000 },
                { "s", 1000000000 } };
  int64_t total = 0;

  if (*s == '\0')
    return -1;
  while (*s) {
    char *end;
    unsigned long long n = strtoull(s, &end, 10);
    size_t k;
    if (end == s || *s == '-' || *s == '+')
      return -1;
    for (k = 0; k < sizeof units / sizeof *units; k++)
      if (strncmp(end, units[k].unit, strlen(units[k].unit)) == 0)
        break;
    if (k == sizeof units / sizeof *units || n > 86400000000000ull / (unsigned long long) units[k].ns)
      return -1;
    total += (int64_t) n * units[k].ns;
    if (total > 86400000000000)
      return -1;
    s = end + strlen(units[k].unit);
  }
  return total > 0 ? total : -1;
}

static int
duration_value(struct parse_ctx *c, yaml_node_t *v, const char *kp, int64_t *out)
{
  cleanup_free char *s = NULL;

  if (parse_nonempty(c, v, kp, &s) < 0)
    return -1;
  if ((*out = duration(s)) < 0)
    return parse_error(c, v, kp, "\"%s\" is not a duration such as 30s, 1m30s or 500ms (more than 0, at most a day)",
                       s);
  return 0;
}

/* test: the exec form, a program of the image by its absolute path and its
 * arguments. */
static int
test_value(struct parse_ctx *c, yaml_node_t *v, const char *kp, struct strv *out)
{
  if (v->type == YAML_SCALAR_NODE)
    return parse_error(c, v, kp, "a string is the shell form, which needs a shell the image does not have: give "
                                 "the program and its arguments as a list, [/path/to/program, arg, ...]");
  if (parse_strings(c, v, kp, out) < 0)
    return -1;
  if (out->n == 0 || out->items[0][0] != '/')
    return parse_error(c, v, kp, "the first item must be the program's absolute path in the image");
  return 0;
}

static int
healthcheck_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp)
{
  struct recipe_healthcheck *h = obj;
  cleanup_free char *s = NULL;
  unsigned long long n;

  switch ((enum healthcheck_key) key) {
  case HEALTH_TEST:
    return test_value(c, v, kp, &h->test);
  case HEALTH_INTERVAL:
    return duration_value(c, v, kp, &h->interval_ns);
  case HEALTH_TIMEOUT:
    return duration_value(c, v, kp, &h->timeout_ns);
  case HEALTH_START_PERIOD:
    return duration_value(c, v, kp, &h->start_period_ns);
  case HEALTH_RETRIES:
    if (parse_nonempty(c, v, kp, &s) < 0)
      return -1;
    if (parse_uint(s, 1000, &n) < 0 || n == 0)
      return parse_error(c, v, kp, "\"%s\" is not a number of retries from 1 to 1000", s);
    h->retries = (int) n;
    return 0;
  }
  return parse_unhandled(c, v, kp);
}

int
recipe_healthcheck(struct parse_ctx *c, yaml_node_t *v, const char *kp, struct recipe_healthcheck *out)
{
  if (v->type == YAML_SCALAR_NODE)
    return parse_error(c, v, kp, "a mapping with test (the exec form: a list) and, if you like, interval, timeout, "
                                 "start-period and retries");
  out->set = true;
  return parse_mapping(c, v, kp, KEYS(healthcheck_keys), healthcheck_value, out);
}
