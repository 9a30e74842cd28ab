/* cosign's simple signing payload, byte for byte as cosign writes it, and
 * read back; the signing keys: made, loaded encrypted or not, refused. */
#include "testlib.h"

#include "publish/keys.h"
#include "publish/ref.h"
#include "publish/simplesign.h"

#include <openssl/pem.h>

#define D "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char *
payload(const char *identity, const char *digest, const char *const *ann, size_t n, struct derror *err)
{
  struct strv v = { 0 };
  struct buf b = { 0 };

  for (size_t i = 0; i < n; i++)
    strv_push(&v, ann[i]);
  int r = simplesign_payload(identity, digest, &v, &b, err);
  strv_free(&v);
  if (r < 0) {
    buf_free(&b);
    return NULL;
  }
  buf_append(&b, "", 1);
  return b.data;
}

static void
test_payload_bytes(void **state)
{
  struct derror err = DERROR_INIT;
  (void) state;

  char *p = payload("127.0.0.1:5000/distill/curl", D, NULL, 0, &err);
  assert_string_equal(p, "{\"critical\":{\"identity\":{\"docker-reference\":\"127.0.0.1:5000/distill/curl\"},"
                         "\"image\":{\"docker-manifest-digest\":\"" D "\"},"
                         "\"type\":\"cosign container image signature\"},\"optional\":null}");
  free(p);
  /* Go: map keys sorted bytewise, the last value of a key kept, HTML
   * characters and controls escaped as encoding/json escapes them */
  static const char *const ann[] = { "b=2", "a.b=x", "a=<&>", "b=3", "c=\"\\\n\t\x01\xe2\x80\xa8\xc3\xa9" };
  p = payload("h/r", D, ann, 5, &err);
  assert_non_null(p);
  assert_string_equal(strstr(p, "\"optional\""),
                      "\"optional\":{\"a\":\"\\u003c\\u0026\\u003e\",\"a.b\":\"x\",\"b\":\"3\","
                      "\"c\":\"\\\"\\\\\\n\\t\\u0001\\u2028\xc3\xa9\"}}");
  free(p);
}

static void
test_payload_refused(void **state)
{
  struct derror err = DERROR_INIT;
  static const char *const no_eq[] = { "novalue" }, *const no_key[] = { "=v" }, *const bad_utf8[] = { "k=\xc3(" },
                           *const overlong[] = { "k=\xc0\xaf" };
  (void) state;

  assert_null(payload("h/r", D, no_eq, 1, &err));
  assert_non_null(strstr(err.msg, "not KEY=VALUE"));
  derror_clear(&err);
  assert_null(payload("h/r", D, no_key, 1, &err));
  derror_clear(&err);
  assert_null(payload("h/r", D, bad_utf8, 1, &err));
  assert_non_null(strstr(err.msg, "not UTF-8"));
  derror_clear(&err);
  assert_null(payload("h/r", D, overlong, 1, &err));
  derror_clear(&err);
}

static void
test_identity(void **state)
{
  struct derror err = DERROR_INIT;
  struct image_ref hub = { 0 }, local = { 0 };
  (void) state;

  assert_int_equal(image_ref_parse("docker://alpine:3.19", &hub, &err), 0);
  assert_int_equal(image_ref_parse("docker://127.0.0.1:5000/distill/curl", &local, &err), 0);
  char *id = simplesign_identity(&hub);
  assert_string_equal(id, "index.docker.io/library/alpine");
  free(id);
  id = simplesign_identity(&local);
  assert_string_equal(id, "127.0.0.1:5000/distill/curl");
  free(id);
  assert_true(simplesign_identity_matches("index.docker.io/library/alpine", &hub));
  assert_true(simplesign_identity_matches("docker.io/library/alpine:3.19", &hub));
  assert_true(simplesign_identity_matches("127.0.0.1:5000/distill/curl", &local));
  assert_true(simplesign_identity_matches("127.0.0.1:5000/distill/curl@" D, &local));
  assert_false(simplesign_identity_matches("127.0.0.1:5000/distill/curly", &local));
  assert_false(simplesign_identity_matches("127.0.0.1:5001/distill/curl", &local));
  assert_false(simplesign_identity_matches("distill/curl", &local));
  image_ref_free(&hub);
  image_ref_free(&local);
}

static void
test_parse(void **state)
{
  struct derror err = DERROR_INIT;
  struct simplesign_claims c;
  (void) state;

  char *p = payload("h/r", D, NULL, 0, &err);
  assert_int_equal(simplesign_parse(p, strlen(p), &c, &err), 0);
  assert_string_equal(c.identity, "h/r");
  assert_string_equal(c.digest, D);
  simplesign_claims_free(&c);
  free(p);
  /* the spec's own example writes Docker-manifest-digest: Go matches keys
   * ignoring case, so cosign takes it */
  static const char spec[] = "{\"critical\":{\"identity\":{\"docker-reference\":\"h/r\"},\"image\":{\"Docker-manifest-"
                             "digest\":\"" D "\"},\"type\":\"cosign container image signature\"},\"optional\":{}}";
  assert_int_equal(simplesign_parse(spec, sizeof spec - 1, &c, &err), 0);
  assert_string_equal(c.digest, D);
  simplesign_claims_free(&c);
  static const char *const bad[] = {
    "not json",
    "{\"optional\":null}",
    "{\"critical\":{\"identity\":{\"docker-reference\":\"h/r\"},\"image\":{\"docker-manifest-digest\":\"" D "\"},"
    "\"type\":\"atomic container signature\"}}",
    "{\"critical\":{\"image\":{\"docker-manifest-digest\":\"" D "\"},\"type\":\"cosign container image signature\"}}",
    "{\"critical\":{\"identity\":{\"docker-reference\":\"h/r\"},\"image\":{\"docker-manifest-digest\":\"" D "\","
    "\"docker-manifest-digest\":\"sha256:00\"},\"type\":\"cosign container image signature\"}}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(simplesign_parse(bad[i], strlen(bad[i]), &c, &err), -1);
    assert_non_null(err.msg);
    derror_clear(&err);
  }
}

static void
test_base64(void **state)
{
  struct buf b = { 0 };
  (void) state;

  for (size_t n = 0; n < 7; n++) {
    char *e = base64_encode("abcdefg", n);
    if (n == 0) {
      free(e);
      continue;
    }
    assert_int_equal(base64_decode(e, &b), 0);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, "abcdefg", n);
    b.len = 0;
    free(e);
  }
  assert_int_equal(base64_decode("YW=j", &b), -1);
  assert_int_equal(base64_decode("YWJj\n", &b), -1);
  assert_int_equal(base64_decode("YWJ", &b), -1);
  buf_free(&b);
}

static void
test_keys(void **state)
{
  struct derror err = DERROR_INIT;
  char *dir = tl_tmpdir();
  char *prefix = xasprintf("%s/k", dir), *priv = xasprintf("%s.key", prefix), *pub = xasprintf("%s.pub", prefix);
  struct stat st;
  struct buf sig = { 0 };
  (void) state;

  assert_int_equal(key_generate(prefix, "secret", &err), 0);
  assert_int_equal(stat(priv, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  /* never written over */
  assert_int_equal(key_generate(prefix, NULL, &err), -1);
  assert_true(derror_is(&err, DERROR_USAGE));
  derror_clear(&err);

  EVP_PKEY *k = key_load_private(priv, "secret", &err);
  assert_non_null(k);
  assert_null(key_load_private(priv, "wrong", &err));
  assert_non_null(strstr(err.msg, "wrong passphrase"));
  derror_clear(&err);
  assert_null(key_load_private(priv, NULL, &err));
  assert_non_null(strstr(err.msg, "the key is encrypted"));
  derror_clear(&err);

  EVP_PKEY *p = key_load_public(pub, &err);
  assert_non_null(p);
  assert_int_equal(key_sign(k, "payload", 7, &sig, &err), 0);
  assert_true(key_verify(p, "payload", 7, sig.data, sig.len));
  assert_false(key_verify(p, "payloaD", 7, sig.data, sig.len));
  assert_null(key_load_public(priv, &err)); /* a private key is no public one */
  derror_clear(&err);
  EVP_PKEY_free(k);
  EVP_PKEY_free(p);
  buf_free(&sig);

  /* unencrypted: a passphrase given anyway is not needed */
  char *plain = xasprintf("%s/p", dir), *plain_key = xasprintf("%s/p.key", dir);
  assert_int_equal(key_generate(plain, NULL, &err), 0);
  k = key_load_private(plain_key, NULL, &err);
  assert_non_null(k);
  EVP_PKEY_free(k);
  k = key_load_private(plain_key, "unneeded", &err);
  assert_non_null(k);
  EVP_PKEY_free(k);

  /* another curve is refused */
  EVP_PKEY *p384 = EVP_EC_gen("P-384");
  char *other = xasprintf("%s/p384.key", dir);
  FILE *f = fopen(other, "w");
  assert_non_null(f);
  assert_int_equal(PEM_write_PKCS8PrivateKey(f, p384, NULL, NULL, 0, NULL, NULL), 1);
  fclose(f);
  assert_null(key_load_private(other, NULL, &err));
  assert_non_null(strstr(err.msg, "not an ECDSA P-256 key"));
  derror_clear(&err);
  EVP_PKEY_free(p384);
  free(other), free(plain), free(plain_key), free(prefix), free(priv), free(pub);
  tl_rmtree(dir);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_payload_bytes), cmocka_unit_test(test_payload_refused), cmocka_unit_test(test_identity),
    cmocka_unit_test(test_parse),         cmocka_unit_test(test_base64),          cmocka_unit_test(test_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
