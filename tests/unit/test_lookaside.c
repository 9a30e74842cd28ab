/* The lookaside storage: registries.d's scopes looked up as containers/image
 * looks them up, file:// URLs, signature-N written side by side; and the
 * payload of containers' own signatures, byte for byte. */
#include "testlib.h"

#include "publish/gpgsign.h"
#include "publish/lookaside.h"
#include "publish/ref.h"

#define D_HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D "sha256:" D_HEX

/* The URL registries.d in `dir` gives for `ref`, or NULL with `err`. */
static char *
url_for(const char *dir, const char *text, struct derror *err)
{
  struct image_ref ref = { 0 };
  char *url = NULL;

  assert_int_equal(image_ref_parse(text, &ref, err), 0);
  if (lookaside_staging_url(dir, &ref, &url, err) < 0)
    url = NULL;
  image_ref_free(&ref);
  return url;
}

static void
expect_url(const char *dir, const char *ref, const char *want)
{
  struct derror err = DERROR_INIT;
  char *url = url_for(dir, ref, &err);

  if (url == NULL)
    fail_msg("%s: %s", ref, err.msg);
  assert_string_equal(url, want);
  free(url);
}

static void
test_scopes(void **state)
{
  char *dir = tl_tmpdir();
  (void) state;

  free(tl_write(dir, "a.yaml",
                "default-docker:\n  lookaside: file:///default\n"
                "docker:\n"
                "  reg.example.com:\n    lookaside: file:///host\n"
                "  reg.example.com/team:\n    lookaside: https://read.example.com\n"
                "    lookaside-staging: file:///team-staging\n"
                "  reg.example.com/team/app:v1:\n    sigstore: file:///legacy-v1\n"
                "  reg.example.com/quiet:\n    use-sigstore-attachments: true\n"
                "  '*.example.org':\n    sigstore-staging: file:///wild\n"));
  free(tl_write(dir, "b.yaml", "docker:\n  localhost:5000:\n    lookaside: file:///local%20host\n"));
  free(tl_write(dir, "ignored.yml", "docker: [not, read]\n"));
  expect_url(dir, "docker://reg.example.com/team/app:v1", "file:///legacy-v1");
  expect_url(dir, "docker://reg.example.com/team/app:v2", "file:///team-staging");
  expect_url(dir, "docker://reg.example.com/team/a/b@" D, "file:///team-staging");
  expect_url(dir, "docker://reg.example.com/other", "file:///host");
  /* a scope with no URL is passed over, to its parent's */
  expect_url(dir, "docker://reg.example.com/quiet/x", "file:///host");
  expect_url(dir, "docker://r.eu.example.org:8443/x", "file:///wild");
  expect_url(dir, "docker://localhost:5000/x", "file:///local%20host");
  /* the port-less host is no parent scope of host:port */
  expect_url(dir, "docker://reg.example.com:444/x", "file:///default");
  tl_rmtree(dir);
}

static void
test_defaults(void **state)
{
  char *dir = tl_tmpdir();
  char *missing = xasprintf("%s/none", dir);
  char *want = NULL;
  (void) state;

  want = geteuid() == 0 ? xstrdup("file:///var/lib/containers/sigstore")
                        : xasprintf("file://%s/.local/share/containers/sigstore", getenv("HOME"));
  expect_url(missing, "docker://reg.example.com/x", want);
  free(tl_write(dir, "empty.yaml", ""));
  free(tl_write(dir, "comment.yaml", "# nothing\n"));
  expect_url(dir, "docker://reg.example.com/x", want);
  free(want);
  free(missing);
  tl_rmtree(dir);
}

static void
expect_refused(const char *files[][2], size_t n, const char *says)
{
  char *dir = tl_tmpdir();
  struct derror err = DERROR_INIT;

  for (size_t i = 0; i < n; i++)
    free(tl_write(dir, files[i][0], files[i][1]));
  char *url = url_for(dir, "docker://reg.example.com/x", &err);
  assert_null(url);
  if (strstr(err.msg, says) == NULL)
    fail_msg("`%s` does not say `%s`", err.msg, says);
  derror_clear(&err);
  tl_rmtree(dir);
}

static void
test_refused(void **state)
{
  const char *twice[][2] = { { "a.yaml", "docker:\n  reg.example.com:\n    lookaside: file:///a\n" },
                             { "b.yaml", "docker:\n  reg.example.com:\n    lookaside: file:///b\n" } };
  const char *defaults[][2] = { { "a.yaml", "default-docker:\n  lookaside: file:///a\n" },
                                { "b.yaml", "default-docker:\n  lookaside: file:///b\n" } };
  const char *list[][2] = { { "a.yaml", "- a\n- b\n" } };
  const char *bad[][2] = { { "a.yaml", "docker: {\n" } };
  const char *section[][2] = { { "a.yaml", "docker:\n  reg.example.com: [1]\n" } };
  const char *value[][2] = { { "a.yaml", "docker:\n  reg.example.com:\n    lookaside: [1]\n" } };
  (void) state;

  expect_refused(twice, 2, "is defined both in");
  expect_refused(defaults, 2, "default-docker is defined both in");
  expect_refused(list, 1, "not a YAML mapping");
  expect_refused(bad, 1, "a.yaml: line");
  expect_refused(section, 1, "a section is not a mapping");
  expect_refused(value, 1, "lookaside is not a string");
}

static void
test_url_dir(void **state)
{
  struct derror err = DERROR_INIT;
  char *dir = NULL;
  (void) state;

  assert_int_equal(lookaside_url_dir("file:///srv/sig%20s", &dir, &err), 0);
  assert_string_equal(dir, "/srv/sig s");
  free(dir);
  assert_int_equal(lookaside_url_dir("file://localhost/srv", &dir, &err), 0);
  assert_string_equal(dir, "/srv");
  free(dir);
  assert_int_equal(lookaside_url_dir("https://example.com/sigs", &dir, &err), -1);
  assert_non_null(strstr(err.msg, "not a file:// URL"));
  derror_clear(&err);
  assert_int_equal(lookaside_url_dir("file://other/srv", &dir, &err), -1);
  derror_clear(&err);
  assert_int_equal(lookaside_url_dir("file:///a%00b", &dir, &err), -1);
  derror_clear(&err);
}

/* Write "sig" and check that it went to signature-N. */
static void
expect_written(const char *dir, int n)
{
  struct derror err = DERROR_INIT;
  char *path = NULL, *want = xasprintf("%s/team/app@sha256=%s/signature-%d", dir, D_HEX, n);
  size_t len;

  assert_int_equal(lookaside_write(dir, "team/app", D, "sig", 3, &path, &err), 0);
  assert_string_equal(path, want);
  char *bytes = tl_read(path, &len);
  assert_int_equal(len, 3);
  assert_memory_equal(bytes, "sig", 3);
  free(bytes), free(path), free(want);
}

static void
test_write(void **state)
{
  char *dir = tl_tmpdir();
  char *sigs = xasprintf("%s/team/app@sha256=%s", dir, D_HEX);
  (void) state;

  expect_written(dir, 1);
  expect_written(dir, 2);
  expect_written(dir, 3);
  /* a gap is filled first: the readers stop at it */
  assert_int_equal(tl_sh("rm '%s/signature-2'", sigs), 0);
  expect_written(dir, 2);
  /* no temporary file left beside them */
  assert_int_equal(tl_sh("test $(ls -A '%s' | wc -l) = 3", sigs), 0);
  free(sigs);
  tl_rmtree(dir);
}

static void
test_payload(void **state)
{
  struct buf b = { 0 };
  struct image_ref ref = { 0 };
  struct derror err = DERROR_INIT;
  (void) state;

  gpgsign_payload("127.0.0.1:5000/distill/curl:1", D, "distill 0.1.0", 1700000000, &b);
  buf_append(&b, "", 1);
  assert_string_equal(b.data, "{\"critical\":{\"identity\":{\"docker-reference\":\"127.0.0.1:5000/distill/curl:1\"},"
                              "\"image\":{\"docker-manifest-digest\":\"" D "\"},"
                              "\"type\":\"atomic container signature\"},"
                              "\"optional\":{\"creator\":\"distill 0.1.0\",\"timestamp\":1700000000}}");
  buf_free(&b);
  assert_int_equal(image_ref_parse("docker://alpine", &ref, &err), 0);
  char *id = gpgsign_identity(&ref);
  assert_string_equal(id, "docker.io/library/alpine:latest");
  free(id);
  image_ref_free(&ref);
  assert_int_equal(image_ref_parse("docker://127.0.0.1:5000/a/b@" D, &ref, &err), 0);
  id = gpgsign_identity(&ref);
  assert_string_equal(id, "127.0.0.1:5000/a/b@" D);
  free(id);
  image_ref_free(&ref);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_scopes),  cmocka_unit_test(test_defaults), cmocka_unit_test(test_refused),
    cmocka_unit_test(test_url_dir), cmocka_unit_test(test_write),    cmocka_unit_test(test_payload),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
