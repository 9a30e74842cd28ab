/* The registry client's inputs: references as skopeo writes them. */
#include "testlib.h"

#include "publish/ref.h"

/* References */

struct ref_case {
  const char *text, *host, *api, *repo, *tag, *digest;
};

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void
expect_field(const char *text, const char *field, const char *got, const char *want)
{
  if (want == NULL && got == NULL)
    return;
  if (want == NULL || got == NULL || strcmp(got, want) != 0)
    fail_msg("%s: %s is %s%s%s, not %s", text, field, got ? "\"" : "", got ? got : "NULL", got ? "\"" : "",
             want ? want : "NULL");
}

static void
test_ref_valid(void **state)
{
  static const struct ref_case cases[] = {
    { "docker://127.0.0.1:5000/distill/curl:1.0", "127.0.0.1:5000", "127.0.0.1:5000", "distill/curl", "1.0", NULL },
    { "docker://localhost:5000/app", "localhost:5000", "localhost:5000", "app", "latest", NULL },
    { "docker://localhost/app", "localhost", "localhost", "app", "latest", NULL },
    { "docker://localhost:65535/a", "localhost:65535", "localhost:65535", "a", "latest", NULL },
    { "docker://localhost:1/a", "localhost:1", "localhost:1", "a", "latest", NULL },
    { "docker://alpine", "docker.io", "registry-1.docker.io", "library/alpine", "latest", NULL },
    { "docker://alpine:3.19", "docker.io", "registry-1.docker.io", "library/alpine", "3.19", NULL },
    { "docker://docker.io/alpine", "docker.io", "registry-1.docker.io", "library/alpine", "latest", NULL },
    { "docker://docker.io/library/alpine:edge", "docker.io", "registry-1.docker.io", "library/alpine", "edge", NULL },
    { "docker://index.docker.io/user/app", "docker.io", "registry-1.docker.io", "user/app", "latest", NULL },
    { "docker://user/app:v1", "docker.io", "registry-1.docker.io", "user/app", "v1", NULL },
    { "docker://quay.io/org/app@sha256:" HEX64, "quay.io", "quay.io", "org/app", NULL, "sha256:" HEX64 },
    { "docker://alpine@sha256:" HEX64, "docker.io", "registry-1.docker.io", "library/alpine", NULL,
      "sha256:" HEX64 },
    { "docker://Registry.Example.COM:443/a/b", "registry.example.com:443", "registry.example.com:443", "a/b",
      "latest", NULL },
    { "docker://ghcr.io/a-b/c__d/e.f/g---h:_T.a-g", "ghcr.io", "ghcr.io", "a-b/c__d/e.f/g---h", "_T.a-g", NULL },
    /* docker's reading too: without a '/' there is no host, and ":5000" is a tag */
    { "docker://localhost:5000", "docker.io", "registry-1.docker.io", "library/localhost", "5000", NULL },
    { "docker://[::1]:5000/app", "[::1]:5000", "[::1]:5000", "app", "latest", NULL },
    { "docker://my-registry.local/x/y/z:1", "my-registry.local", "my-registry.local", "x/y/z", "1", NULL },
  };
  (void) state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const struct ref_case *c = &cases[i];
    struct image_ref ref;
    struct derror err = DERROR_INIT;
    if (image_ref_parse(c->text, &ref, &err) != 0)
      fail_msg("%s: refused: %s", c->text, err.msg);
    assert_null(err.msg);
    expect_field(c->text, "host", ref.host, c->host);
    expect_field(c->text, "api", ref.api, c->api);
    expect_field(c->text, "repo", ref.repo, c->repo);
    expect_field(c->text, "tag", ref.tag, c->tag);
    expect_field(c->text, "digest", ref.digest, c->digest);
    image_ref_free(&ref);
    assert_null(ref.host);
  }
}

struct bad_case {
  const char *text, *says;
};

static void
expect_refused(const char *text, const char *says)
{
  struct image_ref ref;
  struct derror err = DERROR_INIT;

  if (image_ref_parse(text, &ref, &err) != -1)
    fail_msg("%s: taken", text);
  assert_non_null(err.msg);
  if (strstr(err.msg, says) == NULL)
    fail_msg("%s: the error \"%s\" does not say \"%s\"", text, err.msg, says);
  /* nothing is left to free after a refusal */
  assert_null(ref.host);
  assert_null(ref.repo);
  assert_null(ref.tag);
  assert_null(ref.digest);
  derror_clear(&err);
}

static void
test_ref_invalid(void **state)
{
  static const struct bad_case cases[] = {
    { "alpine", "`alpine`: no docker:// transport" },
    { "oci:/tmp/x", "no docker:// transport" },
    { "docker:alpine", "no docker:// transport" },
    { "DOCKER://alpine", "the transport is not docker://" },
    { "oci-archive:///tmp/x.tar", "the transport is not docker://" },
    { "docker://", "no repository" },
    { "docker://localhost:5000/", "no repository" },
    { "docker://Alpine", "`docker://Alpine`: the repository `Alpine` has upper case" },
    { "docker://localhost:5000/App", "the repository `App` has upper case" },
    { "docker://ghcr.io/org/MyApp:1", "has upper case" },
    { "docker://a//b", "the repository `a//b` has an empty component" },
    { "docker://a/", "has an empty component" },
    { "docker:///a", "has an empty component" },
    { "docker://a/-b", "begins or ends with" },
    { "docker://a/b.", "begins or ends with" },
    { "docker://a/_b", "begins or ends with" },
    { "docker://a/b..c", "separators together" },
    { "docker://a/b___c", "separators together" },
    { "docker://a/b._c", "separators together" },
    { "docker://a/b c", "a character other than" },
    { "docker://a/b+c", "a character other than" },
    { "docker://alpine:", "an empty tag" },
    { "docker://alpine:.x", "the tag `.x` begins with '.'" },
    { "docker://alpine:-x", "begins with '-'" },
    { "docker://alpine:a+b", "the tag `a+b` has a character other than" },
    { "docker://alpine@sha256:abc", "the digest `sha256:abc` has 3 hex digits, not 64" },
    { "docker://alpine@sha256:" HEX64 "0", "has 65 hex digits" },
    { "docker://alpine@sha512:" HEX64, "is not sha256:<64 hex digits>" },
    { "docker://alpine@", "is not sha256:" },
    { "docker://alpine@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
      "no lower-case hex digit" },
    { "docker://alpine:1@sha256:" HEX64, "both a tag and a digest" },
    { "docker://localhost:0/a", "the port 0 is not one of 1 to 65535" },
    { "docker://localhost:70000/a", "the port 70000 is not one of 1 to 65535" },
    { "docker://localhost:99999999999999999999/a", "is not one of 1 to 65535" },
    { "docker://localhost:/a", "no port" },
    { "docker://localhost:5x/a", "the port `5x` is not a number" },
    { "docker://-bad.example/a", "the host `-bad.example` is not a host name" },
    { "docker://exa_mple.com/a", "is not a host name" },
    { "docker://example..com/a", "is not a host name" },
    { "docker://example.com./a", "is not a host name" },
    { "docker://[::1/a", "is not a host name" },
    /* shown escaped: an escape sequence cannot reach the terminal */
    { "docker://a/\x1b[31m", "`docker://a/\\x1b[31m`" },
  };
  (void) state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    expect_refused(cases[i].text, cases[i].says);
}

/* `n` bytes of 'a'. */
static char *
as(size_t n)
{
  char *s = xmalloc(n + 1);
  memset(s, 'a', n);
  s[n] = '\0';
  return s;
}

/* The bounds: 255 bytes of a name with its host, 128 of a tag. */
static void
test_ref_bounds(void **state)
{
  struct image_ref ref;
  struct derror err = DERROR_INIT;
  /* "example.com/" is 12 bytes; Docker Hub's "docker.io/library/" 18 */
  cleanup_free char *long_repo = as(255 - 12), *longer_repo = as(256 - 12);
  cleanup_free char *hub_repo = as(255 - 18), *hub_longer = as(256 - 18);
  cleanup_free char *tag = as(128), *long_tag = as(129);
  cleanup_free char *ok1 = xasprintf("docker://example.com/%s", long_repo);
  cleanup_free char *bad1 = xasprintf("docker://example.com/%s", longer_repo);
  cleanup_free char *ok2 = xasprintf("docker://%s", hub_repo), *bad2 = xasprintf("docker://%s", hub_longer);
  cleanup_free char *ok3 = xasprintf("docker://a:%s", tag), *bad3 = xasprintf("docker://a:%s", long_tag);

  (void) state;
  assert_int_equal(image_ref_parse(ok1, &ref, &err), 0);
  assert_int_equal(strlen(ref.repo), 243);
  image_ref_free(&ref);
  expect_refused(bad1, "a name of 256 bytes with its host, more than 255");
  assert_int_equal(image_ref_parse(ok2, &ref, &err), 0);
  image_ref_free(&ref);
  expect_refused(bad2, "a name of 256 bytes");
  assert_int_equal(image_ref_parse(ok3, &ref, &err), 0);
  assert_int_equal(strlen(ref.tag), 128);
  image_ref_free(&ref);
  expect_refused(bad3, "a tag of 129 bytes, more than 128");
  assert_null(err.msg);
}

static void
test_ref_name(void **state)
{
  static const char *const cases[][2] = {
    { "docker://alpine", "docker.io/library/alpine" },
    { "docker://index.docker.io/user/app:1", "docker.io/user/app" },
    { "docker://127.0.0.1:5000/distill/curl@sha256:" HEX64, "127.0.0.1:5000/distill/curl" },
  };
  (void) state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct image_ref ref;
    struct derror err = DERROR_INIT;
    assert_int_equal(image_ref_parse(cases[i][0], &ref, &err), 0);
    cleanup_free char *name = image_ref_name(&ref);
    assert_string_equal(name, cases[i][1]);
    image_ref_free(&ref);
  }
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ref_valid),
    cmocka_unit_test(test_ref_invalid),
    cmocka_unit_test(test_ref_bounds),
    cmocka_unit_test(test_ref_name),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
