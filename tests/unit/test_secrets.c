/* Credentials by content: every rule fires on a synthetic token of its
 * format (made here, never a real one), under an ordinary name and inside
 * a larger file, across any chunk seam; a near miss of each does not. */
#include "testlib.h"

#include "lib/secrets.h"

/* `n` characters cycling through `alphabet`, from `seed`. */
static char *
filler(size_t n, const char *alphabet, unsigned seed)
{
  size_t k = strlen(alphabet);
  char *s = xmalloc(n + 1);

  for (size_t i = 0; i < n; i++)
    s[i] = alphabet[(seed + i * 7) % k];
  s[n] = '\0';
  return s;
}

#define UPPER32 "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define URLSAFE ALNUM "_-"
#define B64 ALNUM "+/"

/* The rules found in `data` read as `path`, in chunks of `step` bytes. */
static void
scan(const char *path, const char *data, size_t step, struct secrets *s)
{
  size_t n = strlen(data);

  secrets_init(s, path);
  for (size_t i = 0; i < n; i += step)
    secrets_chunk(s, data + i, n - i < step ? n - i : step);
  secrets_end(s);
}

static bool
has(const struct secrets *s, const char *rule)
{
  for (size_t i = 0; i < s->n_findings; i++)
    if (strcmp(s->findings[i].rule, rule) == 0)
      return true;
  return false;
}

/* Found in every chunking, alone and inside 100 KB of text around it. */
static void
expect(const char *rule, const char *path, const char *content, bool want)
{
  static const size_t steps[] = { 1, 3, 64, 4096, 65536 };
  struct secrets *s = xmalloc(sizeof *s);
  cleanup_free char *pad = filler(50000, "lorem ipsum dolor sit amet\n", 1);
  cleanup_free char *big = xasprintf("%s\n%s\n%s", pad, content, pad);

  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
    scan(path, content, steps[i], s);
    if (has(s, rule) != want)
      fail_msg("%s in %s (chunks of %zu): %s\n%s", rule, path, steps[i], want ? "not found" : "found", content);
    scan(path, big, steps[i], s);
    if (has(s, rule) != want)
      fail_msg("%s in %s inside a larger file (chunks of %zu): %s", rule, path, steps[i],
               want ? "not found" : "found");
  }
  free(s);
}

static void
test_tokens(void **state)
{
  cleanup_free char *aws_id = filler(16, UPPER32, 3), *aws_secret = filler(40, B64, 5);
  cleanup_free char *gh = filler(36, ALNUM, 7), *ghpat = filler(82, ALNUM "_", 11);
  cleanup_free char *gl = filler(20, URLSAFE, 13), *npm = filler(36, ALNUM, 17), *pypi = filler(60, URLSAFE, 19);
  cleanup_free char *stripe = filler(24, ALNUM, 23), *gkey = filler(35, URLSAFE, 29), *azure = filler(86, B64, 31);
  cleanup_free char *auth = filler(24, B64, 37), *jwt1 = filler(30, URLSAFE, 41), *jwt2 = filler(30, URLSAFE, 43);
  char buf[1024];

  (void) state;
  snprintf(buf, sizeof buf, "key: AKIA%s\n", aws_id);
  expect("aws-access-key-id", "/srv/app/settings.txt", buf, true);
  snprintf(buf, sizeof buf, "[default]\naws_access_key_id = ASIA%s\naws_secret_access_key = %s\n", aws_id,
           aws_secret);
  expect("aws-secret-access-key", "/etc/app/creds", buf, true);
  expect("aws-access-key-id", "/etc/app/creds", buf, true);
  snprintf(buf, sizeof buf, "machine github.com login x password ghp_%s\n", gh);
  expect("github-token", "/etc/app/n", buf, true);
  expect("netrc-password", "/etc/app/n", buf, true);
  snprintf(buf, sizeof buf, "token=github_pat_%s\n", ghpat);
  expect("github-token", "/opt/x", buf, true);
  snprintf(buf, sizeof buf, "GITLAB=glpat-%s\n", gl);
  expect("gitlab-token", "/opt/x", buf, true);
  snprintf(buf, sizeof buf, "//registry.npmjs.org/:_authToken=npm_%s\n", npm);
  expect("npm-token", "/opt/app/npmrc", buf, true);
  snprintf(buf, sizeof buf, "password = pypi-AgEIcHlwaS5vcmc%s\n", pypi);
  expect("pypi-token", "/opt/x", buf, true);
  expect("slack-token", "/opt/x", "hook: xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp\n", true);
  snprintf(buf, sizeof buf, "STRIPE=sk_live_%s\n", stripe);
  expect("stripe-live-key", "/opt/x", buf, true);
  snprintf(buf, sizeof buf, "maps: AIza%s\n", gkey);
  expect("google-api-key", "/opt/x", buf, true);
  snprintf(buf, sizeof buf, "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=%s==;EndpointSuffix=x\n",
           azure);
  expect("azure-storage-key", "/opt/x", buf, true);
  snprintf(buf, sizeof buf, "{\n  \"auths\": {\n    \"registry.example\": {\n      \"auth\": \"%s\"\n    }\n  }\n}\n",
           auth);
  expect("docker-auth", "/etc/app/config.json", buf, true);
  expect("gcp-service-account", "/srv/key.json",
         "{\"type\": \"service_account\", \"project_id\": \"p\", \"private_key\": \"-----BEGIN PRIVATE KEY-----"
         "\\nMIIE\\n-----END PRIVATE KEY-----\\n\"}",
         true);
  expect("env-secret", "/app/.env", "DB_HOST=db\nDB_PASSWORD=Xy7pQ2wLk9\n", true);
  snprintf(buf, sizeof buf, "token: eyJ%s.eyJ%s.%s\n", jwt1, jwt2, jwt1);
  expect("jwt", "/etc/app/app.yaml", buf, true);
}

/* Bytes left out (secrets_gap): a token inside them is not seen, one
 * after them is, at its offset in the file; the first byte after a gap
 * starts a word. */
static void
test_gap(void **state)
{
  struct secrets *s = xmalloc(sizeof *s);

  cleanup_free char *id = filler(16, UPPER32, 3);
  char key[64];

  snprintf(key, sizeof key, "AKIA%s\n", id);
  /* the same token whole: found */
  secrets_init(s, "/usr/lib/libx.so");
  secrets_chunk(s, key, strlen(key));
  secrets_end(s);
  assert_int_equal(s->n_findings, 1);
  /* split by a gap: not a token */
  secrets_init(s, "/usr/lib/libx.so");
  secrets_chunk(s, "prefix ", 7);
  secrets_chunk(s, key, 8);
  secrets_gap(s, 1000);
  secrets_chunk(s, key + 8, strlen(key) - 8);
  secrets_end(s);
  assert_int_equal(s->n_findings, 0);

  secrets_init(s, "/usr/lib/libx.so");
  secrets_chunk(s, "0123456789", 10);
  secrets_gap(s, 5000);
  secrets_chunk(s, key, strlen(key));
  secrets_end(s);
  assert_int_equal(s->n_findings, 1);
  assert_string_equal(s->findings[0].rule, "aws-access-key-id");
  assert_int_equal(s->findings[0].offset, 10 + 5000);
  free(s);
}

static void
test_near_misses(void **state)
{
  cleanup_free char *aws_id = filler(15, UPPER32, 3), *gh = filler(35, ALNUM, 7), *gkey = filler(34, URLSAFE, 29);
  cleanup_free char *auth = filler(24, B64, 37), *jwt1 = filler(30, URLSAFE, 41);
  char buf[1024];

  (void) state;
  snprintf(buf, sizeof buf, "key: AKIA%s\n", aws_id); /* one short */
  expect("aws-access-key-id", "/opt/x", buf, false);
  expect("aws-access-key-id", "/opt/x", "AKIAIOSFODNN7EXAMPLE\n", false); /* AWS's documented example */
  snprintf(buf, sizeof buf, "xAKIA%sQ\n", aws_id); /* inside a longer word */
  expect("aws-access-key-id", "/opt/x", buf, false);
  snprintf(buf, sizeof buf, "ghp_%s\n", gh);
  expect("github-token", "/opt/x", buf, false);
  snprintf(buf, sizeof buf, "AIza%s\n", gkey);
  expect("google-api-key", "/opt/x", buf, false);
  expect("npm-token", "/opt/app/npmrc", "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n", false);
  expect("stripe-live-key", "/opt/x", "sk_test_4eC39HqLyjWDarjtT1zdp7dc\n", false);
  expect("slack-token", "/opt/x", "use an xoxb- token here\n", false);
  snprintf(buf, sizeof buf, "{\"auth\": \"%s\"}\n", auth); /* no "auths": not an auth file */
  expect("docker-auth", "/etc/app/config.json", buf, false);
  expect("docker-auth", "/etc/app/config.json", "{\"auths\": {\"r\": {\"auth\": \"\"}}}\n", false);
  expect("gcp-service-account", "/srv/key.json", "{\"type\": \"service_account\", \"client_email\": \"a\"}", false);
  expect("env-secret", "/app/.env", "DB_PASSWORD=${DB_PASSWORD}\nTOKEN=changeme\nAPI_KEY=\n", false);
  expect("env-secret", "/app/settings.txt", "DB_PASSWORD=Xy7pQ2wLk9\n", false); /* not a .env file */
  expect("netrc-password", "/usr/share/doc/curl/netrc.txt", "machine example.com login me password secret1\n",
         false);
  expect("netrc-password", "/etc/app/n", "the password is in the vault\n", false); /* no machine entry */
  snprintf(buf, sizeof buf, "eyJ%s.eyJ%s.%s\n", jwt1, jwt1, jwt1);
  expect("jwt", "/usr/lib/python3/test_jwt.py", buf, false); /* not configuration */
}

static void
test_values(void **state)
{
  cleanup_free char *gh = filler(36, ALNUM, 7);
  cleanup_free char *token = xasprintf("ghp_%s", gh);

  (void) state;
  assert_string_equal(secrets_in_value("GITHUB_TOKEN", token), "github-token");
  assert_string_equal(secrets_in_value("DB_PASSWORD", "Xy7pQ2wLk9"), "env-secret");
  assert_null(secrets_in_value("TZ", "UTC"));
  assert_null(secrets_in_value("PATH", "/usr/bin:/bin"));
  assert_null(secrets_in_value("DB_PASSWORD_FILE", "/run/secrets/db"));
  assert_null(secrets_in_value("TOKEN_URL", "https://auth.example.org/token"));
  assert_null(secrets_in_value("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"));
}

static void
test_rules_listed(void **state)
{
  size_t n = 0;

  (void) state;
  for (; secret_rules[n].id; n++)
    assert_non_null(secret_rules[n].what);
  assert_int_equal(n, 15);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tokens),
    cmocka_unit_test(test_gap),
    cmocka_unit_test(test_near_misses),
    cmocka_unit_test(test_values),
    cmocka_unit_test(test_rules_listed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
