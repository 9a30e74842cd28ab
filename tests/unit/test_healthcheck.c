/* healthcheck's probe forms: the URLs the recipe takes and those it
 * refuses (FILE:LINE:COL and why, credentials in the query too), the
 * config's Test that runs the probe, and the probes this build embedded. */
#include "testlib.h"

#include "plan/config.h"
#include "lib/platform.h"
#include "plan/probe.h"
#include "recipe/recipe.h"

#include <elf.h>

static void
parses_to(const char *yaml, const char *url)
{
  struct recipe r;
  struct derror err = DERROR_INIT;
  cleanup_free char *text = xasprintf("name: x\nhealthcheck: %s\n", yaml);

  if (recipe_parse("t.yaml", text, strlen(text), &r, &err) < 0)
    fail_msg("%s: %s", yaml, err.msg);
  assert_non_null(r.healthcheck.probe_url);
  assert_string_equal(r.healthcheck.probe_url, url);
  assert_int_equal(r.healthcheck.test.n, 0);
  recipe_free(&r);
}

static void
test_probe_forms(void **state)
{
  parses_to("{http: \"http://127.0.0.1:8080/healthz\"}", "http://127.0.0.1:8080/healthz");
  parses_to("{http: \"http://[::1]:8080/a?b=c\"}", "http://[::1]:8080/a?b=c");
  parses_to("{http: \"http://localhost\"}", "http://localhost");
  parses_to("{tcp: 8080}", "tcp://127.0.0.1:8080");
  parses_to("{tcp: \"127.0.0.1:5432\"}", "tcp://127.0.0.1:5432");
  parses_to("{tcp: \"[::1]:6379\", interval: 5s}", "tcp://[::1]:6379");
  parses_to("{tcp: \"localhost:1\"}", "tcp://localhost:1");
}

static const struct {
  const char *yaml, *error;
} bad[] = {
  { "{test: [/a], http: \"http://127.0.0.1/\"}", "t.yaml:2:33: healthcheck.http: give exactly one of test, http and tcp" },
  { "{tcp: 80, test: [/a]}", "t.yaml:2:30: healthcheck.test: give exactly one of test, http and tcp" },
  { "{http: \"http://127.0.0.1/\", tcp: 80}", "t.yaml:2:47: healthcheck.tcp: give exactly one of test, http and tcp" },
  { "{http: \"https://127.0.0.1:8443/healthz\"}",
    "t.yaml:2:21: healthcheck.http: \"https://127.0.0.1:8443/healthz\": https: the probe speaks plain HTTP only (it "
    "has no TLS, to stay a few KB): probe a plain HTTP port on the loopback, or give test: a program of the image" },
  { "{http: \"http://app.internal:8080/\"}",
    "t.yaml:2:21: healthcheck.http: \"http://app.internal:8080/\": a host name: the probe looks no name up (the "
    "image has no resolver); give an IP address (127.0.0.1, [::1]) or localhost" },
  { "{tcp: \"db:5432\"}",
    "t.yaml:2:20: healthcheck.tcp: \"db:5432\": a host name: the probe looks no name up (the image has no "
    "resolver); give an IP address (127.0.0.1, [::1]) or localhost" },
  { "{tcp: 65536}", "t.yaml:2:20: healthcheck.tcp: \"65536\": the port is not a number from 1 to 65535" },
  { "{tcp: \"127.0.0.1:80/x\"}",
    "t.yaml:2:20: healthcheck.tcp: \"127.0.0.1:80/x\": not PORT or HOST:PORT, such as 8080 or 127.0.0.1:8080" },
  { "{tcp: 0}", "t.yaml:2:20: healthcheck.tcp: \"0\": the port is not a number from 1 to 65535" },
  { "{tcp: \"127.0.0.1:99999\"}",
    "t.yaml:2:20: healthcheck.tcp: \"127.0.0.1:99999\": the port is not a number from 1 to 65535" },
  { "{tcp: \"127.0.0.1\"}", "t.yaml:2:20: healthcheck.tcp: \"127.0.0.1\": no port: HOST:PORT, such as 127.0.0.1:8080" },
  { "{http: \"http://127.0.0.1:0/\"}",
    "t.yaml:2:21: healthcheck.http: \"http://127.0.0.1:0/\": the port is not a number from 1 to 65535" },
  { "{http: \"http://127.0.0.1:80x/\"}", "t.yaml:2:21: healthcheck.http: \"http://127.0.0.1:80x/\": the path must start with '/'" },
  { "{http: \"http://127.0.0.1/a b\"}",
    "t.yaml:2:21: healthcheck.http: \"http://127.0.0.1/a b\": the path has a space, a control character or a '#'" },
  { "{http: \"http://[::1/\"}", "t.yaml:2:21: healthcheck.http: \"http://[::1/\": an IPv6 address in brackets has no ']'" },
  { "{http: \"http://[fe80::1%eth0]/\"}",
    "t.yaml:2:21: healthcheck.http: \"http://[fe80::1%eth0]/\": not an IPv6 address between the brackets" },
  { "{http: \"http://u:p@127.0.0.1/\"}",
    "t.yaml:2:21: healthcheck.http: \"http://u:p@127.0.0.1/\": a URL with a user name: the probe sends no credentials" },
  { "{http: \"ftp://127.0.0.1/\"}", "t.yaml:2:21: healthcheck.http: \"ftp://127.0.0.1/\": not an http:// URL" },
  { "{http: \"http://010.0.0.1/\"}",
    "t.yaml:2:21: healthcheck.http: \"http://010.0.0.1/\": a host name: the probe looks no name up (the image has no "
    "resolver); give an IP address (127.0.0.1, [::1]) or localhost" },
};

static void
test_probe_errors(void **state)
{
  int failures = 0;

  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    struct recipe r;
    struct derror err = DERROR_INIT;
    cleanup_free char *text = xasprintf("name: x\nhealthcheck: %s\n", bad[i].yaml);
    int ret = recipe_parse("t.yaml", text, strlen(text), &r, &err);
    if (ret == 0 || err.msg == NULL || strcmp(err.msg, bad[i].error) != 0) {
      print_error("case %zu:\n  yaml:     %s\n  expected: %s\n  got:      %s\n", i, bad[i].yaml, bad[i].error,
                  err.msg ? err.msg : "(success)");
      failures++;
    }
    derror_clear(&err);
    recipe_free(&r);
  }
  assert_int_equal(failures, 0);
}

/* The URL goes into the config: a credential in its query is refused as
 * one in cmd is (the value is made here, never written whole in this
 * file, where a scanner would take it for a leaked one). */
static void
test_probe_secrets(void **state)
{
  struct recipe r;
  struct derror err = DERROR_INIT;
  cleanup_free char *text = xasprintf("name: x\nhealthcheck: {http: \"http://127.0.0.1/h?v=1&%s=%s%s\"}\n",
                                      "pass" "word", "Zq8vN3xK7p", "L2mR9tW4yB");

  assert_int_equal(recipe_parse("t.yaml", text, strlen(text), &r, &err), -1);
  assert_string_equal(err.msg, "t.yaml:2:21: healthcheck.http: a password, secret or token (env-secret): "
                               "credentials never go in an image's config; pass them at run time");
  derror_clear(&err);
  recipe_free(&r);
}

/* The config runs the probe by its path, with the engine's timeout as its
 * own (rounded up to a millisecond). */
static void
test_probe_config(void **state)
{
  static const char text[] = "name: x\nhealthcheck: {tcp: 8080, timeout: 1500us, retries: 2}\n";
  struct recipe r;
  struct image_config c;
  struct derror err = DERROR_INIT;

  assert_int_equal(recipe_parse("t.yaml", text, strlen(text), &r, &err), 0);
  image_config_init(&c, &r);
  assert_int_equal(c.health_test.n, 4);
  assert_string_equal(c.health_test.items[0], PROBE_PATH);
  assert_string_equal(c.health_test.items[1], "-t");
  assert_string_equal(c.health_test.items[2], "2");
  assert_string_equal(c.health_test.items[3], "tcp://127.0.0.1:8080");
  assert_int_equal(c.health_retries, 2);
  image_config_free(&c);
  recipe_free(&r);
}

/* The host's probe is always embedded: a static executable (no PT_INTERP)
 * of a few KB; a platform without one is refused naming the compiler. */
static void
test_probe_embedded(void **state)
{
  const struct probe_binary *p = probe_for(platform_host_arch());
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;

  assert_non_null(p);
  assert_true(p->len > sizeof(Elf32_Ehdr) && p->len < 64 * 1024);
  assert_memory_equal(p->bytes, ELFMAG, SELFMAG);
  assert_int_equal(((const Elf32_Ehdr *) p->bytes)->e_type, ET_EXEC);
  assert_null(probe_for("s390x"));
  assert_int_equal(probe_add(&fs, "t.yaml", "s390x", NULL, &err), -1);
  assert_string_equal(err.msg, "t.yaml: healthcheck: this distill has no probe for linux/s390x: the probe has no "
                               "system calls for it; use test: a program of the image");
  derror_clear(&err);
  assert_int_equal(probe_add(&fs, "t.yaml", platform_host_arch(), NULL, &err), 0);
  assert_int_equal(fs.n, 1);
  assert_string_equal(fs.items[0].path, PROBE_PATH);
  assert_int_equal(fs.items[0].mode, 0755);
  rootfs_free(&fs);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_probe_forms),
    cmocka_unit_test(test_probe_errors),
    cmocka_unit_test(test_probe_secrets),
    cmocka_unit_test(test_probe_config),
    cmocka_unit_test(test_probe_embedded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
