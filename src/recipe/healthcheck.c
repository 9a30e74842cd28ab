/* healthcheck: the command Docker (and engines that read Docker's image
 * config) runs in the container to tell a healthy service from a stuck
 * one.  Exec form only: the image has no shell to run a string.  Or
 * distill's probe (probe/probe.c), given a URL: http or tcp, to an IP
 * address or localhost, since the image has no resolver and the probe
 * looks no name up. */
#include "recipe/parse.h"
#include "recipe/keys.h"
#include "recipe/recipe.h"

#include <arpa/inet.h>
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

/* ---- the probe's URL ---------------------------------------------------- */

/* HOST[:PORT] at the start of `s` (PORT required unless `default_port`):
 * an IPv4 address, an IPv6 one in brackets or localhost, checked as
 * inet_pton has it.  Sets *rest after it; NULL, or why not. */
static const char *
probe_authority(const char *s, bool default_port, const char **rest)
{
  const char *end = s[0] == '[' ? strchr(s, ']') : s + strcspn(s, ":/");
  unsigned long long port;
  unsigned char ip[16];

  if (memchr(s, '@', strcspn(s, "/")))
    return "a URL with a user name: the probe sends no credentials";
  if (end == NULL)
    return "an IPv6 address in brackets has no ']'";
  if (s[0] == '[')
    end++;
  cleanup_free char *host = xstrndup(s, (size_t) (end - s));
  if (host[0] == '[') {
    host[strlen(host) - 1] = '\0';
    if (inet_pton(AF_INET6, host + 1, ip) != 1)
      return "not an IPv6 address between the brackets";
  } else if (strcmp(host, "localhost") != 0 && inet_pton(AF_INET, host, ip) != 1) {
    return *host ? "a host name: the probe looks no name up (the image has no resolver); give an IP address "
                   "(127.0.0.1, [::1]) or localhost"
                 : "no host";
  }
  *rest = end;
  if (*end != ':')
    return default_port ? NULL : "no port: HOST:PORT, such as 127.0.0.1:8080";
  end++;
  size_t n = strspn(end, "0123456789");
  cleanup_free char *digits = xstrndup(end, n);
  if (parse_uint(digits, 65535, &port) < 0 || port == 0)
    return "the port is not a number from 1 to 65535";
  *rest = end + n;
  return NULL;
}

/* http://HOST[:PORT][/PATH]: the path goes into the request as it is, so
 * it has no space or control character; a fragment is no part of one. */
static const char *
probe_http(const char *url)
{
  const char *rest, *why;

  if (strncmp(url, "https://", 8) == 0)
    return "https: the probe speaks plain HTTP only (it has no TLS, to stay a few KB): probe a plain HTTP "
           "port on the loopback, or give test: a program of the image";
  if (strncmp(url, "http://", 7) != 0)
    return "not an http:// URL";
  if ((why = probe_authority(url + 7, true, &rest)) != NULL)
    return why;
  if (*rest != '\0' && *rest != '/')
    return "the path must start with '/'";
  for (const char *p = rest; *p; p++)
    if ((unsigned char) *p <= ' ' || *p == 0x7f || *p == '#')
      return "the path has a space, a control character or a '#'";
  return NULL;
}

static int
probe_value(struct parse_ctx *c, yaml_node_t *v, const char *kp, bool http, struct recipe_healthcheck *h)
{
  cleanup_free char *s = NULL;
  const char *why, *rest = NULL;
  unsigned long long port;

  if (h->test.n || h->probe_url)
    return parse_error(c, v, kp, "give exactly one of test, http and tcp");
  if (parse_nonempty(c, v, kp, &s) < 0)
    return -1;
  if (http) {
    why = probe_http(s);
    h->probe_url = why ? NULL : xstrdup(s);
  } else if (s[strspn(s, "0123456789")] == '\0') {
    why = parse_uint(s, 65535, &port) < 0 || port == 0 ? "the port is not a number from 1 to 65535" : NULL;
    h->probe_url = why ? NULL : xasprintf("tcp://127.0.0.1:%llu", port);
  } else {
    why = probe_authority(s, false, &rest);
    if (why == NULL && *rest != '\0')
      why = "not PORT or HOST:PORT, such as 8080 or 127.0.0.1:8080";
    h->probe_url = why ? NULL : xasprintf("tcp://%s", s);
  }
  if (why)
    return parse_error(c, v, kp, "\"%s\": %s", s, why);
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
    if (h->probe_url)
      return parse_error(c, v, kp, "give exactly one of test, http and tcp");
    return test_value(c, v, kp, &h->test);
  case HEALTH_HTTP:
    return probe_value(c, v, kp, true, h);
  case HEALTH_TCP:
    return probe_value(c, v, kp, false, h);
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
    return parse_error(c, v, kp, "a mapping with test (the exec form: a list), http or tcp (distill's probe) and, "
                                 "if you like, interval, timeout, start-period and retries");
  out->set = true;
  if (parse_mapping(c, v, kp, KEYS(healthcheck_keys), healthcheck_value, out) < 0)
    return -1;
  if (out->test.n == 0 && out->probe_url == NULL)
    return parse_error(c, v, kp, "no check: give test (a program of the image and its arguments), http "
                                 "(http://127.0.0.1:PORT/PATH) or tcp (a port)");
  return 0;
}
