/* DSSE and in-toto: the PAE's bytes as the DSSE protocol gives them, the
 * statement's bytes (sorted, compact), an envelope signed and verified,
 * refused when changed, and statements checked against a digest. */
#include "testlib.h"

#include "publish/dsse.h"
#include "publish/keys.h"
#include "publish/simplesign.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <string.h>

#define D "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char *
text(struct buf *b)
{
  buf_append(b, "", 1);
  return b->data;
}

static void
test_pae(void **state)
{
  (void) state;
  struct buf b = { 0 };

  /* the DSSE protocol's own example */
  dsse_pae("http://example.com/HelloWorld", "hello world", 11, &b);
  assert_string_equal(text(&b), "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  buf_free(&b);
  dsse_pae("", "", 0, &b);
  assert_string_equal(text(&b), "DSSEv1 0  0 ");
  buf_free(&b);
}

static void
test_statement_bytes(void **state)
{
  (void) state;
  struct buf b = { 0 };
  json_t *pred = json_pack("{s:i, s:[s], s:{s:s, s:s}}", "z", 1, "a", "x", "m", "b", "2", "a", "1");

  intoto_statement("127.0.0.1:5000/app", D, PREDICATE_SLSA_V1, pred, &b);
  assert_string_equal(text(&b), "{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicate\":{\"a\":[\"x\"],"
                                "\"m\":{\"a\":\"1\",\"b\":\"2\"},\"z\":1},\"predicateType\":"
                                "\"https://slsa.dev/provenance/v1\",\"subject\":[{\"digest\":{\"sha256\":"
                                "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"},"
                                "\"name\":\"127.0.0.1:5000/app\"}]}");
  buf_free(&b);
  json_decref(pred);
}

static EVP_PKEY *
new_key(void)
{
  EVP_PKEY *k = EVP_EC_gen("P-256");
  assert_non_null(k);
  return k;
}

static void
test_envelope(void **state)
{
  (void) state;
  struct derror err = DERROR_INIT;
  struct buf st = { 0 }, env = { 0 };
  struct dsse_envelope e;
  EVP_PKEY *key = new_key(), *other = new_key();
  json_t *pred = json_pack("{s:s}", "spdxVersion", "SPDX-2.3");
  char *type = NULL;

  intoto_statement("h/r", D, PREDICATE_SPDX, pred, &st);
  assert_int_equal(dsse_sign(key, &st, &env, &err), 0);
  assert_int_equal(dsse_parse(env.data, env.len, &e, &err), 0);
  assert_string_equal(e.payload_type, DSSE_INTOTO_TYPE);
  assert_true(e.payload.len == st.len && memcmp(e.payload.data, st.data, st.len) == 0);
  assert_true(dsse_verify(key, &e));
  assert_false(dsse_verify(other, &e));
  assert_int_equal(intoto_check(&e.payload, D, &type, &err), 0);
  assert_string_equal(type, PREDICATE_SPDX);
  free(type);
  /* another digest: a statement, about another image */
  assert_int_equal(intoto_check(&e.payload, "sha256:ff23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                                &type, &err), 1);
  assert_non_null(strstr(err.msg, "a statement about sha256:0123"));
  derror_clear(&err);
  free(type);
  /* the payload changed: the signature no longer covers it */
  ((char *) e.payload.data)[10] ^= 1;
  assert_false(dsse_verify(key, &e));
  dsse_envelope_free(&e);
  assert_int_equal(dsse_parse("{\"payload\":\"!\",\"payloadType\":\"x\",\"signatures\":[]}", 49, &e, &err), -1);
  derror_clear(&err);
  dsse_envelope_free(&e);
  buf_free(&st), buf_free(&env);
  json_decref(pred);
  EVP_PKEY_free(key), EVP_PKEY_free(other);
}

static void
test_not_statements(void **state)
{
  (void) state;
  struct derror err = DERROR_INIT;
  char *type = NULL;
  const char *bad[] = {
    "[]", "{\"_type\":\"https://in-toto.io/Statement/v0.1\"}",
    "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[],\"predicateType\":\"t\",\"predicate\":{}}",
    "{\"_type\":\"https://in-toto.io/Statement/v1\",\"_type\":\"x\"}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    struct buf b = { 0 };
    buf_append(&b, bad[i], strlen(bad[i]));
    assert_int_equal(intoto_check(&b, D, &type, &err), -1);
    assert_null(type);
    derror_clear(&err);
    buf_free(&b);
  }
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_pae),
    cmocka_unit_test(test_statement_bytes),
    cmocka_unit_test(test_envelope),
    cmocka_unit_test(test_not_statements),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
