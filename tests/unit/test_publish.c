/* The registry client's inputs: references as skopeo writes them, the
 * credentials of the auth files in their order, and WWW-Authenticate
 * challenges. */
#include "testlib.h"

#include "publish/auth.h"
#include "publish/ref.h"

#include <openssl/evp.h>

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

/* Credentials */

static const char *const auth_vars[] = { "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "DOCKER_CONFIG",
                                         "HOME" };

static int
auth_setup(void **state)
{
  char *d = tl_tmpdir();

  for (size_t i = 0; i < sizeof auth_vars / sizeof *auth_vars; i++)
    unsetenv(auth_vars[i]);
  char *home = xasprintf("%s/home", d);
  setenv("HOME", home, 1);
  free(home);
  *state = d;
  return 0;
}

static int
auth_teardown(void **state)
{
  for (size_t i = 0; i < sizeof auth_vars / sizeof *auth_vars; i++)
    unsetenv(auth_vars[i]);
  tl_rmtree(*state);
  return 0;
}

/* base64 by OpenSSL, not by the decoder under test. */
static char *
b64(const char *plain)
{
  size_t n = strlen(plain);
  char *out = xmalloc(4 * ((n + 2) / 3) + 1);
  EVP_EncodeBlock((unsigned char *) out, (const unsigned char *) plain, (int) n);
  return out;
}

/* An auth file at dir/rel whose "auths" has `key` for `user`:pw-`user`. */
static char *
auth_file(const char *dir, const char *rel, const char *key, const char *user)
{
  cleanup_free char *plain = xasprintf("%s:pw-%s", user, user);
  cleanup_free char *enc = b64(plain);
  cleanup_free char *text = xasprintf("{\"auths\": {\"%s\": {\"auth\": \"%s\"}}}\n", key, enc);
  return tl_write(dir, rel, text);
}

/* The user found for host and repo; NULL when none (and no note); the
 * lookup must not fail. */
static char *
user_for(const char *authfile, const char *host, const char *repo, char **file)
{
  struct registry_creds c;
  struct derror err = DERROR_INIT;
  int r = auth_lookup(authfile, host, repo, &c, &err);

  if (r < 0)
    fail_msg("lookup of %s failed: %s", host, err.msg);
  if (r == 0) {
    assert_null(c.username);
    if (err.msg)
      fail_msg("lookup of %s: a note: %s", host, err.msg);
    return NULL;
  }
  assert_null(err.msg);
  assert_non_null(c.password);
  cleanup_free char *pw = xasprintf("pw-%s", c.username);
  assert_string_equal(c.password, pw);
  if (file)
    *file = xstrdup(c.file);
  char *user = xstrdup(c.username);
  registry_creds_free(&c);
  return user;
}

static void
expect_user(const char *authfile, const char *host, const char *repo, const char *want, const char *want_file)
{
  char *file = NULL;
  cleanup_free char *user = user_for(authfile, host, repo, &file);

  if (want == NULL) {
    if (user)
      fail_msg("%s %s: found %s, expected none", host, repo ? repo : "", user);
    return;
  }
  if (user == NULL || strcmp(user, want) != 0)
    fail_msg("%s %s: found %s, expected %s", host, repo ? repo : "", user ? user : "none", want);
  if (want_file && strcmp(file, want_file) != 0)
    fail_msg("%s: from %s, expected %s", host, file, want_file);
  free(file);
}

/* containers-auth.json(5)'s order, each file unset in turn. */
static void
test_auth_order(void **state)
{
  const char *d = *state;
  cleanup_free char *f1 = auth_file(d, "env/auth.json", "reg.example.com", "u1");
  cleanup_free char *f2 = auth_file(d, "run/containers/auth.json", "reg.example.com", "u2");
  cleanup_free char *f3 = auth_file(d, "xdg/containers/auth.json", "reg.example.com", "u3");
  cleanup_free char *f4 = auth_file(d, "home/.config/containers/auth.json", "reg.example.com", "u4");
  cleanup_free char *f5 = auth_file(d, "dc/config.json", "reg.example.com", "u5");
  cleanup_free char *f6 = auth_file(d, "home/.docker/config.json", "reg.example.com", "u6");
  cleanup_free char *run = xasprintf("%s/run", d), *xdg = xasprintf("%s/xdg", d), *dc = xasprintf("%s/dc", d);

  setenv("REGISTRY_AUTH_FILE", f1, 1);
  setenv("XDG_RUNTIME_DIR", run, 1);
  setenv("XDG_CONFIG_HOME", xdg, 1);
  setenv("DOCKER_CONFIG", dc, 1);
  expect_user(NULL, "reg.example.com", "a/b", "u1", f1);
  unsetenv("REGISTRY_AUTH_FILE");
  expect_user(NULL, "reg.example.com", "a/b", "u2", f2);
  unsetenv("XDG_RUNTIME_DIR");
  expect_user(NULL, "reg.example.com", "a/b", "u3", f3);
  /* empty is unset, as XDG says */
  setenv("XDG_CONFIG_HOME", "", 1);
  expect_user(NULL, "reg.example.com", "a/b", "u4", f4);
  unlink(f4);
  expect_user(NULL, "reg.example.com", "a/b", "u5", f5);
  unsetenv("DOCKER_CONFIG");
  expect_user(NULL, "reg.example.com", "a/b", "u6", f6);
  unlink(f6);
  expect_user(NULL, "reg.example.com", "a/b", NULL, NULL);
  /* without HOME, the files under it are not looked for */
  unsetenv("HOME");
  expect_user(NULL, "reg.example.com", "a/b", NULL, NULL);
}

/* The first file with an entry for the host wins: files without one, and
 * docker's empty entries, are passed over. */
static void
test_auth_first_with_entry(void **state)
{
  const char *d = *state;
  cleanup_free char *f1 = auth_file(d, "env/auth.json", "other.example.com", "u1");
  free(tl_write(d, "run/containers/auth.json", "{\"auths\": {\"reg.example.com\": {}}}"));
  free(tl_write(d, "xdg/containers/auth.json",
                "{\"auths\": {\"reg.example.com\": {\"auth\": \"\", \"identitytoken\": \"\"}}}"));
  cleanup_free char *f4 = auth_file(d, "dc/config.json", "reg.example.com", "u4");
  cleanup_free char *run = xasprintf("%s/run", d), *xdg = xasprintf("%s/xdg", d), *dc = xasprintf("%s/dc", d);

  setenv("REGISTRY_AUTH_FILE", f1, 1);
  setenv("XDG_RUNTIME_DIR", run, 1);
  setenv("XDG_CONFIG_HOME", xdg, 1);
  setenv("DOCKER_CONFIG", dc, 1);
  expect_user(NULL, "reg.example.com", "a", "u4", f4);
  expect_user(NULL, "other.example.com", "a", "u1", f1);
  expect_user(NULL, "third.example.com", "a", NULL, NULL);
  /* a missing file of the search is no error */
  cleanup_free char *gone = xasprintf("%s/missing/auth.json", d);
  setenv("REGISTRY_AUTH_FILE", gone, 1);
  expect_user(NULL, "reg.example.com", "a", "u4", f4);
}

/* --authfile: that file only, and it must exist. */
static void
test_auth_authfile(void **state)
{
  const char *d = *state;
  cleanup_free char *env_file = auth_file(d, "env/auth.json", "reg.example.com", "u1");
  cleanup_free char *given = auth_file(d, "given.json", "other.example.com", "u2");
  cleanup_free char *gone = xasprintf("%s/missing.json", d);
  struct registry_creds c;
  struct derror err = DERROR_INIT;

  (void) state;
  setenv("REGISTRY_AUTH_FILE", env_file, 1);
  expect_user(given, "other.example.com", NULL, "u2", given);
  expect_user(given, "reg.example.com", NULL, NULL, NULL);
  expect_user(NULL, "reg.example.com", NULL, "u1", env_file);
  assert_int_equal(auth_lookup(gone, "reg.example.com", NULL, &c, &err), -1);
  assert_non_null(strstr(err.msg, gone));
  assert_non_null(strstr(err.msg, "No such file"));
  assert_null(c.username);
  derror_clear(&err);
}

/* -1 with a message that says `says` and names the file, and shows no
 * part of the credential `secret`. */
static void
expect_file_error(const char *d, const char *text, const char *says, const char *secret)
{
  cleanup_free char *f = tl_write(d, "bad.json", text);
  struct registry_creds c;
  struct derror err = DERROR_INIT;

  /* a later file with an entry does not hide the broken one */
  free(auth_file(d, "home/.docker/config.json", "reg.example.com", "later"));
  setenv("REGISTRY_AUTH_FILE", f, 1);
  if (auth_lookup(NULL, "reg.example.com", "a/b", &c, &err) != -1)
    fail_msg("%s: taken", text);
  assert_null(c.username);
  assert_null(c.file);
  if (strstr(err.msg, says) == NULL || strstr(err.msg, f) == NULL)
    fail_msg("%s: the error \"%s\" does not say \"%s\" and name the file", text, err.msg, says);
  if (secret && strstr(err.msg, secret))
    fail_msg("%s: the error \"%s\" shows the credential", text, err.msg);
  derror_clear(&err);
}

static void
test_auth_bad_files(void **state)
{
  const char *d = *state;
  cleanup_free char *nocolon = b64("nocolon"), *nouser = b64(":pw"), *ok = b64("user:pw-user");
  char text[512];

  expect_file_error(d, "{\"auths\": {\"reg.example.com\": {\"auth\": \"dXNlcjpzZWNyZXQ", "not JSON",
                    "dXNlcjpzZWNyZXQ");
  expect_file_error(d, "{\"auths\": [1]}", "\"auths\" is not an object", NULL);
  expect_file_error(d, "[]", "not a JSON object", NULL);
  expect_file_error(d, "{\"auths\": {\"reg.example.com\": {\"auth\": \"!!!!\"}}}",
                    "auths.\"reg.example.com\".auth is not base64", NULL);
  /* base64 without its padding, as Go's decoder also refuses it */
  expect_file_error(d, "{\"auths\": {\"reg.example.com\": {\"auth\": \"dXNlcjpwdw\"}}}", "is not base64", NULL);
  expect_file_error(d, "{\"auths\": {\"reg.example.com\": {\"auth\": \"dX=lcjpw\"}}}", "is not base64", NULL);
  snprintf(text, sizeof text, "{\"auths\": {\"reg.example.com\": {\"auth\": \"%s\"}}}", nocolon);
  expect_file_error(d, text, "is not base64 of \"user:password\" (no ':' in it)", "nocolon");
  snprintf(text, sizeof text, "{\"auths\": {\"reg.example.com\": {\"auth\": \"%s\"}}}", nouser);
  expect_file_error(d, text, "(an empty user name)", NULL);
  expect_file_error(d, "{\"auths\": {\"reg.example.com\": {\"auth\": 5}}}", ".auth is not a string", NULL);
  expect_file_error(d, "{\"auths\": {\"reg.example.com\": \"x\"}}", "auths.\"reg.example.com\" is not an object",
                    NULL);
  /* an entry of another host is not looked into */
  snprintf(text, sizeof text, "{\"auths\": {\"x.example.com\": 5, \"reg.example.com\": {\"auth\": \"%s\"}}}", ok);
  cleanup_free char *f = tl_write(d, "fine.json", text);
  expect_user(f, "reg.example.com", NULL, "user", f);
}

/* The lookup of host and repo chooses the key `want` (NULL: none) in a
 * file with the keys in the order given, then in the reverse order.  The
 * user of keys[i] is "k<i>". */
static void
expect_keys(const char *d, const char *const *keys, size_t n, const char *host, const char *repo, const char *want)
{
  cleanup_free char *want_user = NULL;

  for (size_t i = 0; want && i < n; i++)
    if (strcmp(keys[i], want) == 0)
      want_user = xasprintf("k%zu", i);
  assert_true(want == NULL || want_user != NULL);
  for (int reverse = 0; reverse < 2; reverse++) {
    struct buf text = { 0 };
    buf_printf(&text, "{\"auths\": {");
    for (size_t k = 0; k < n; k++) {
      size_t i = reverse ? n - 1 - k : k;
      cleanup_free char *plain = xasprintf("k%zu:pw-k%zu", i, i);
      cleanup_free char *enc = b64(plain);
      buf_printf(&text, "%s\"%s\": {\"auth\": \"%s\"}", k ? ", " : "", keys[i], enc);
    }
    buf_printf(&text, "}}");
    cleanup_free char *f = tl_write(d, "auth.json", text.data);
    buf_free(&text);
    expect_user(f, host, repo, want_user, f);
  }
}

/* Several keys for the host: a namespace the repository is in, the
 * longest, by whole components; then the host; then its URLs. */
static void
test_auth_keys(void **state)
{
  const char *d = *state;
  static const char *const keys[] = { "reg.example.com/team/app", "reg.example.com", "reg.example.com/te",
                                      "https://reg.example.com/v2/", "reg.example.com/team", "127.0.0.1:5000" };
  const size_t n = sizeof keys / sizeof *keys;

  expect_keys(d, keys, n, "reg.example.com", "team/app", "reg.example.com/team/app");
  expect_keys(d, keys, n, "reg.example.com", "team/app/sub", "reg.example.com/team/app");
  expect_keys(d, keys, n, "reg.example.com", "team/other", "reg.example.com/team");
  expect_keys(d, keys, n, "reg.example.com", "team", "reg.example.com/team");
  expect_keys(d, keys, n, "reg.example.com", "teamx/y", "reg.example.com");
  expect_keys(d, keys, n, "reg.example.com", "team-app", "reg.example.com");
  expect_keys(d, keys, n, "reg.example.com", NULL, "reg.example.com");
  expect_keys(d, keys + 2, 2, "reg.example.com", "team/app", "https://reg.example.com/v2/");
  /* a port is part of the host */
  expect_keys(d, keys, n, "127.0.0.1:5000", "x", "127.0.0.1:5000");
  expect_keys(d, keys, n, "127.0.0.1", "x", NULL);
  expect_keys(d, keys, n, "127.0.0.1:5001", "x", NULL);
  expect_keys(d, keys, n, "example.com", "x", NULL);
  /* a key's host name in any case, as DNS reads it */
  cleanup_free char *mixed = auth_file(d, "mixed.json", "Mixed.Example.COM/Team", "mixed");
  expect_user(mixed, "mixed.example.com", "Team/app", "mixed", mixed);
  expect_user(mixed, "mixed.example.com", "team/app", NULL, NULL);
  /* an entry without credentials is passed over, even a closer one */
  cleanup_free char *h = b64("host:pw-host");
  cleanup_free char *text = xasprintf("{\"auths\": {\"reg.example.com/team\": {\"auth\": \"\"}, "
                                      "\"reg.example.com\": {\"auth\": \"%s\"}}}", h);
  cleanup_free char *empty = tl_write(d, "empty.json", text);
  expect_user(empty, "reg.example.com", "team/app", "host", empty);
}

/* Keys as URLs (podman's and docker's older ones), and Docker Hub's
 * legacy key. */
static void
test_auth_urls(void **state)
{
  const char *d = *state;
  cleanup_free char *s = b64("https:pw-https"), *h = b64("http:pw-http"), *hub = b64("hub:pw-hub");
  cleanup_free char *text = xasprintf(
    "{\"auths\": {\"https://reg.example.com\": {\"auth\": \"%s\"}, \"http://plain.example.com:5000/v2/\": "
    "{\"auth\": \"%s\"}, \"https://index.docker.io/v1/\": {\"auth\": \"%s\"}}}",
    s, h, hub);
  cleanup_free char *f = tl_write(d, "auth.json", text);
  cleanup_free char *bare = auth_file(d, "bare.json", "docker.io", "bare");
  cleanup_free char *both_text = xasprintf("{\"auths\": {\"https://index.docker.io/v1/\": {\"auth\": \"%s\"},"
                                           " \"docker.io\": {\"auth\": \"%s\"}}}", hub, h);
  cleanup_free char *both = tl_write(d, "both.json", both_text);

  (void) state;
  expect_user(f, "reg.example.com", "a", "https", f);
  expect_user(f, "plain.example.com:5000", "a", "http", f);
  expect_user(f, "plain.example.com", "a", NULL, NULL);
  expect_user(f, "docker.io", "library/alpine", "hub", f);
  expect_user(f, "index.docker.io.example.com", "a", NULL, NULL);
  expect_user(bare, "docker.io", "library/alpine", "bare", bare);
  /* the host itself before the URL, wherever it is in the file */
  expect_user(both, "docker.io", "library/alpine", "http", both);
  /* of two URLs, the first in the file */
  cleanup_free char *two_text = xasprintf("{\"auths\": {\"http://reg.example.com\": {\"auth\": \"%s\"},"
                                          " \"https://reg.example.com\": {\"auth\": \"%s\"}}}", h, s);
  cleanup_free char *two = tl_write(d, "two.json", two_text);
  expect_user(two, "reg.example.com", "a", "http", two);
}

/* The identity token, beside or without "auth". */
static void
test_auth_identity_token(void **state)
{
  const char *d = *state;
  cleanup_free char *a = b64("user:pw");
  cleanup_free char *text = xasprintf("{\"auths\": {\"reg.example.com\": {\"auth\": \"%s\", \"identitytoken\": "
                                      "\"tok\"}, \"tok.example.com\": {\"identitytoken\": \"only\"}}}", a);
  cleanup_free char *f = tl_write(d, "auth.json", text);
  struct registry_creds c;
  struct derror err = DERROR_INIT;

  assert_int_equal(auth_lookup(f, "reg.example.com", "a", &c, &err), 1);
  assert_string_equal(c.username, "user");
  assert_string_equal(c.password, "pw");
  assert_string_equal(c.identity_token, "tok");
  registry_creds_free(&c);
  assert_int_equal(auth_lookup(f, "tok.example.com", "a", &c, &err), 1);
  assert_null(c.username);
  assert_string_equal(c.identity_token, "only");
  assert_string_equal(c.file, f);
  registry_creds_free(&c);
  assert_null(err.msg);
}

/* A helper keeps the credentials: 0 and a note naming it and the file,
 * unless a later file has an entry. */
static void
test_auth_helpers(void **state)
{
  const char *d = *state;
  cleanup_free char *store = tl_write(d, "home/.docker/config.json",
                                      "{\"auths\": {\"https://index.docker.io/v1/\": {}}, \"credsStore\": \"desktop\","
                                      " \"credHelpers\": {\"gcr.io\": \"gcloud\"}}");
  cleanup_free char *helpers = tl_write(d, "helpers.json", "{\"credHelpers\": {\"gcr.io\": \"gcloud\"}}");
  struct registry_creds c;
  struct derror err = DERROR_INIT;

  assert_int_equal(auth_lookup(NULL, "docker.io", "library/alpine", &c, &err), 0);
  assert_non_null(err.msg);
  assert_non_null(strstr(err.msg, "docker-credential-desktop (\"credsStore\")"));
  assert_non_null(strstr(err.msg, store));
  assert_null(c.username);
  derror_clear(&err);
  /* credHelpers for the host comes before credsStore */
  assert_int_equal(auth_lookup(NULL, "gcr.io", "p/app", &c, &err), 0);
  assert_non_null(strstr(err.msg, "docker-credential-gcloud (\"credHelpers\")"));
  derror_clear(&err);
  /* a helper of another host says nothing */
  assert_int_equal(auth_lookup(helpers, "quay.io", "a", &c, &err), 0);
  assert_null(err.msg);
  /* a later file's entry is taken, and the note goes */
  cleanup_free char *f = auth_file(d, "dc/config.json", "docker.io", "later");
  setenv("REGISTRY_AUTH_FILE", store, 1);
  cleanup_free char *dc = path_dirname(f);
  setenv("DOCKER_CONFIG", dc, 1);
  expect_user(NULL, "docker.io", "library/alpine", "later", f);
}

/* Challenges */

static void
expect_challenge(const char *value, bool bearer, const char *realm, const char *service, const char *scope)
{
  struct auth_challenge c;
  struct derror err = DERROR_INIT;

  if (auth_challenge_parse(value, &c, &err) != 0)
    fail_msg("%s: refused: %s", value, err.msg);
  if (c.bearer != bearer)
    fail_msg("%s: taken as %s", value, c.bearer ? "Bearer" : "Basic");
  expect_field(value, "realm", c.realm, realm);
  expect_field(value, "service", c.service, service);
  expect_field(value, "scope", c.scope, scope);
  auth_challenge_free(&c);
  assert_null(c.realm);
}

static void
test_challenge_valid(void **state)
{
  (void) state;
  expect_challenge("Basic realm=\"Registry Realm\"", false, "Registry Realm", NULL, NULL);
  expect_challenge("Basic", false, NULL, NULL, NULL);
  expect_challenge("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                   "scope=\"repository:library/alpine:pull,push\"",
                   true, "https://auth.docker.io/token", "registry.docker.io", "repository:library/alpine:pull,push");
  /* scheme and parameter names in any case, token values, spaces */
  expect_challenge("bEaReR REALM=\"https://a/t\" ,  Service=registry.local ,scope = \"x\"", true, "https://a/t",
                   "registry.local", "x");
  expect_challenge("Bearer realm=\"a\\\"b\\\\c\\d\"", true, "a\"b\\cd", NULL, NULL);
  expect_challenge("Bearer realm=\"a, b=c\", service=\"s\"", true, "a, b=c", "s", NULL);
  /* several challenges: the first Basic or Bearer is taken */
  expect_challenge("Negotiate abc+/==, Basic realm=\"r\"", false, "r", NULL, NULL);
  expect_challenge("Negotiate YWJj==, Bearer realm=\"t\"", true, "t", NULL, NULL);
  expect_challenge("Negotiate, NTLM, Bearer realm=\"t\"", true, "t", NULL, NULL);
  expect_challenge("Foo realm=\"f\", scope=\"x\", Bearer realm=\"t\",service=\"s\"", true, "t", "s", NULL);
  expect_challenge("Basic realm=\"b\", Bearer realm=\"t\", service=\"s\"", false, "b", NULL, NULL);
  expect_challenge("Bearer realm=\"t\", Basic realm=\"b\"", true, "t", NULL, NULL);
  /* empty list elements, and parameters this client does not keep */
  expect_challenge(", Bearer realm=\"t\",, error=\"invalid_token\",", true, "t", NULL, NULL);
}

static void
expect_challenge_refused(const char *value, const char *says)
{
  struct auth_challenge c;
  struct derror err = DERROR_INIT;

  if (auth_challenge_parse(value, &c, &err) != -1)
    fail_msg("%s: taken", value);
  if (err.msg == NULL || strstr(err.msg, says) == NULL)
    fail_msg("%s: the error \"%s\" does not say \"%s\"", value, err.msg, says);
  assert_null(c.realm);
  assert_null(c.service);
  assert_null(c.scope);
  derror_clear(&err);
}

static void
test_challenge_invalid(void **state)
{
  (void) state;
  expect_challenge_refused("Bearer service=\"s\", scope=\"x\"", "a Bearer challenge without a realm");
  expect_challenge_refused("Bearer realm=\"\"", "without a realm");
  expect_challenge_refused("Bearer", "without a realm");
  expect_challenge_refused("", "no challenge");
  expect_challenge_refused("Negotiate, NTLM abc=", "no Basic or Bearer challenge, only Negotiate, NTLM");
  expect_challenge_refused("Bearer realm=\"t", "without its closing '\"'");
  expect_challenge_refused("Bearer realm=\"t\\", "without its closing '\"'");
  expect_challenge_refused("realm=\"t\", Bearer", "a parameter before any scheme");
  expect_challenge_refused("Bearer realm=\"a\" service=\"b\"", "no ','");
  expect_challenge_refused("Bearer realm=\"a\", realm=\"b\"", "the parameter realm given twice");
  expect_challenge_refused("Bearer \"x\"", "neither a token68 nor a parameter");
  expect_challenge_refused("Bearer realm=\"a\", @", "begins no scheme");
  /* the value is the server's: shown escaped, with where it went wrong */
  expect_challenge_refused("Bearer realm=\"a\x1b[2J\"", "`Bearer realm=\"a\\x1b[2J\"`: a control character");
  expect_challenge_refused("Bearer realm=\"a\" x", "(at byte 17)");
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ref_valid),
    cmocka_unit_test(test_ref_invalid),
    cmocka_unit_test(test_ref_bounds),
    cmocka_unit_test(test_ref_name),
    cmocka_unit_test_setup_teardown(test_auth_order, auth_setup, auth_teardown),
    cmocka_unit_test_setup_teardown(test_auth_first_with_entry, auth_setup, auth_teardown),
    cmocka_unit_test_setup_teardown(test_auth_authfile, auth_setup, auth_teardown),
    cmocka_unit_test_setup_teardown(test_auth_bad_files, auth_setup, auth_teardown),
    cmocka_unit_test_setup_teardown(test_auth_keys, auth_setup, auth_teardown),
    cmocka_unit_test_setup_teardown(test_auth_urls, auth_setup, auth_teardown),
    cmocka_unit_test_setup_teardown(test_auth_identity_token, auth_setup, auth_teardown),
    cmocka_unit_test_setup_teardown(test_auth_helpers, auth_setup, auth_teardown),
    cmocka_unit_test(test_challenge_valid),
    cmocka_unit_test(test_challenge_invalid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
