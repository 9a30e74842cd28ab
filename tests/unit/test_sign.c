/* cosign's simple signing payload, byte for byte as cosign writes it, and
 * read back; the signing keys: made, loaded encrypted or not, refused;
 * cosign's own encrypted keys, sealed here with libsodium and OpenSSL. */
#include "testlib.h"

#include "publish/cosignkey.h"
#include "publish/keys.h"
#include "publish/ref.h"
#include "publish/simplesign.h"

#include <openssl/pem.h>
#include <sodium.h>

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

/* How a test's cosign key is sealed: go-securesystemslib's way unless a
 * field says otherwise. */
struct seal {
  const char *kdf, *cipher, *password;
  long n;
  size_t nonce_len;
  bool damage;
  const void *plain; /* sealed instead of the key's PKCS#8 DER when set */
  size_t plain_len;
};

/* The JSON body of a cosign key file sealing `k` as `s` says. */
static char *
cosign_json(EVP_PKEY *k, const struct seal *s)
{
  unsigned char salt[32], nonce[32], key[crypto_secretbox_KEYBYTES], *der = NULL;
  int der_len = 0;

  assert_true(sodium_init() >= 0);
  randombytes_buf(salt, sizeof salt);
  randombytes_buf(nonce, sizeof nonce);
  if (s->plain == NULL) {
    PKCS8_PRIV_KEY_INFO *info = EVP_PKEY2PKCS8(k);
    assert_non_null(info);
    der_len = i2d_PKCS8_PRIV_KEY_INFO(info, &der);
    assert_true(der_len > 0);
    PKCS8_PRIV_KEY_INFO_free(info);
  }
  const unsigned char *plain = s->plain ? s->plain : der;
  size_t plain_len = s->plain ? s->plain_len : (size_t) der_len;
  /* 32 MiB of scrypt's, more than OpenSSL's default limit */
  assert_int_equal(
    EVP_PBE_scrypt(s->password, strlen(s->password), salt, sizeof salt, 32768, 8, 1, 64u << 20, key, sizeof key), 1);
  unsigned char *box = xmalloc(plain_len + crypto_secretbox_MACBYTES);
  assert_int_equal(crypto_secretbox_easy(box, plain, plain_len, nonce, key), 0);
  if (s->damage)
    box[crypto_secretbox_MACBYTES] ^= 1;
  char *salt64 = base64_encode(salt, sizeof salt), *nonce64 = base64_encode(nonce, s->nonce_len ? s->nonce_len : 24);
  char *box64 = base64_encode(box, plain_len + crypto_secretbox_MACBYTES);
  char *json = xasprintf("{\"kdf\":{\"name\":\"%s\",\"params\":{\"N\":%ld,\"r\":8,\"p\":1},\"salt\":\"%s\"},"
                         "\"cipher\":{\"name\":\"%s\",\"nonce\":\"%s\"},\"ciphertext\":\"%s\"}",
                         s->kdf ? s->kdf : "scrypt", s->n ? s->n : 32768, salt64,
                         s->cipher ? s->cipher : "nacl/secretbox", nonce64, box64);
  OPENSSL_free(der);
  free(box), free(salt64), free(nonce64), free(box64);
  return json;
}

/* cosignkey_open of the key `s` seals: NULL, and the error says `why`. */
static void
refused_seal(EVP_PKEY *k, const struct seal *s, const char *password, const char *why)
{
  struct derror err = DERROR_INIT;
  char *json = cosign_json(k, s);

  assert_null(cosignkey_open(json, strlen(json), password, &err));
  assert_non_null(err.msg);
  if (strstr(err.msg, why) == NULL)
    fail_msg("`%s` does not say `%s`", err.msg, why);
  derror_clear(&err);
  free(json);
}

static void
test_cosign_key(void **state)
{
  struct derror err = DERROR_INIT;
  EVP_PKEY *k = EVP_EC_gen("P-256");
  (void) state;

  assert_true(cosignkey_is_type("ENCRYPTED SIGSTORE PRIVATE KEY"));
  assert_true(cosignkey_is_type("ENCRYPTED COSIGN PRIVATE KEY"));
  assert_false(cosignkey_is_type("ENCRYPTED PRIVATE KEY"));
  char *json = cosign_json(k, &(struct seal){ .password = "pw" });
  EVP_PKEY *got = cosignkey_open(json, strlen(json), "pw", &err);
  assert_non_null(got);
  assert_int_equal(EVP_PKEY_eq(k, got), 1);
  EVP_PKEY_free(got);
  assert_null(cosignkey_open(json, strlen(json), "wrong", &err));
  assert_non_null(strstr(err.msg, "a wrong password"));
  derror_clear(&err);
  assert_null(cosignkey_open(json, strlen(json), NULL, &err));
  assert_non_null(strstr(err.msg, "give its password"));
  derror_clear(&err);
  free(json);
  /* the empty password, as cosign makes a key without one: none needed */
  json = cosign_json(k, &(struct seal){ .password = "" });
  got = cosignkey_open(json, strlen(json), NULL, &err);
  assert_non_null(got);
  EVP_PKEY_free(got);
  free(json);

  refused_seal(k, &(struct seal){ .password = "pw", .damage = true }, "pw", "ciphertext is damaged");
  refused_seal(k, &(struct seal){ .password = "pw", .kdf = "pbkdf2" }, "pw", "the kdf is \"pbkdf2\", not scrypt");
  refused_seal(k, &(struct seal){ .password = "pw", .cipher = "aes-256-gcm" }, "pw",
               "the cipher is \"aes-256-gcm\", not nacl/secretbox");
  refused_seal(k, &(struct seal){ .password = "pw", .n = 1L << 24 }, "pw", "unsupported scrypt parameters N=16777216");
  refused_seal(k, &(struct seal){ .password = "pw", .n = 1024 }, "pw", "unsupported scrypt parameters");
  refused_seal(k, &(struct seal){ .password = "pw", .nonce_len = 12 }, "pw", "a nonce of 12 bytes, not 24");
  refused_seal(k, &(struct seal){ .password = "pw", .plain = "not a key", .plain_len = 9 }, "pw",
               "not a PKCS#8 private key");
  EVP_PKEY_free(k);
}

static void
test_cosign_key_json(void **state)
{
  static const struct {
    const char *json, *why;
  } bad[] = {
    { "", "not JSON" },
    { "{\"kdf\":", "not JSON" },
    { "[]", "the kdf is \"(none)\"" },
    { "{\"kdf\":{\"name\":\"scrypt\"}}", "the cipher is \"(none)\"" },
    { "{\"kdf\":{\"name\":\"scrypt\",\"params\":{\"N\":\"32768\",\"r\":8,\"p\":1}},"
      "\"cipher\":{\"name\":\"nacl/secretbox\"}}",
      "not the integers" },
    { "{\"kdf\":{\"name\":\"scrypt\",\"params\":{\"N\":32768,\"r\":8,\"p\":1},\"salt\":\"c2FsdA==\"},"
      "\"cipher\":{\"name\":\"nacl/secretbox\",\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"},"
      "\"ciphertext\":\"!\"}",
      "\"ciphertext\" is not standard base64" },
    { "{\"kdf\":{\"name\":\"scrypt\",\"params\":{\"N\":32768,\"r\":8,\"p\":1},\"salt\":\"c2FsdA==\"},"
      "\"cipher\":{\"name\":\"nacl/secretbox\",\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"},"
      "\"ciphertext\":\"AAAA\"}",
      "shorter than its authenticator" },
    { "{\"kdf\":{\"name\":\"scrypt\",\"params\":{\"N\":32768,\"r\":8,\"p\":1}},"
      "\"cipher\":{\"name\":\"nacl/secretbox\"}}",
      "no \"salt\" string" },
  };
  (void) state;

  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    struct derror err = DERROR_INIT;
    assert_null(cosignkey_open(bad[i].json, strlen(bad[i].json), "pw", &err));
    if (err.msg == NULL || strstr(err.msg, bad[i].why) == NULL)
      fail_msg("%s: `%s` does not say `%s`", bad[i].json, err.msg ? err.msg : "(no error)", bad[i].why);
    assert_non_null(strstr(err.msg, "a cosign private key: "));
    derror_clear(&err);
  }
}

/* Through key_load_private: the PEM block found by its type, the older
 * one too; a key of another curve refused after it opens. */
static void
test_cosign_key_file(void **state)
{
  struct derror err = DERROR_INIT;
  char *dir = tl_tmpdir(), *path = xasprintf("%s/cosign.key", dir);
  EVP_PKEY *keys[2] = { EVP_EC_gen("P-256"), EVP_EC_gen("P-384") };
  static const char *const types[2] = { "ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY" };
  (void) state;

  for (int i = 0; i < 2; i++) {
    char *json = cosign_json(keys[i], &(struct seal){ .password = "pw" });
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(PEM_write(f, types[i], "", (const unsigned char *) json, (long) strlen(json)) > 0);
    fclose(f);
    free(json);
    EVP_PKEY *got = key_load_private(path, "pw", &err);
    if (i == 0) {
      assert_non_null(got);
      assert_int_equal(EVP_PKEY_eq(keys[0], got), 1);
    } else {
      assert_null(got);
      assert_non_null(strstr(err.msg, "not an ECDSA P-256 key"));
      derror_clear(&err);
    }
    EVP_PKEY_free(got);
    assert_null(key_load_private(path, "wrong", &err));
    assert_non_null(strstr(err.msg, "cosign.key`: the password does not open the cosign key"));
    derror_clear(&err);
    EVP_PKEY_free(keys[i]);
  }
  free(path);
  tl_rmtree(dir);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_payload_bytes), cmocka_unit_test(test_payload_refused), cmocka_unit_test(test_identity),
    cmocka_unit_test(test_parse),         cmocka_unit_test(test_base64),          cmocka_unit_test(test_keys),
    cmocka_unit_test(test_cosign_key),    cmocka_unit_test(test_cosign_key_json),
    cmocka_unit_test(test_cosign_key_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
