#include "testlib.h"

#include "lib/digest.h"

#include <pthread.h>

/* FIPS 180-2 test vectors. */
static void
test_vectors(void **state)
{
  char out[DIGEST_STR_LEN];

  digest_buffer("abc", 3, out);
  assert_string_equal(out, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  digest_buffer("", 0, out);
  assert_string_equal(out, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void
test_incremental_equals_oneshot(void **state)
{
  const char *text = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  char a[DIGEST_STR_LEN], b[DIGEST_STR_LEN];
  struct digest d;

  digest_init(&d);
  for (size_t i = 0; i < strlen(text); i += 5)
    digest_update(&d, text + i, strlen(text) - i < 5 ? strlen(text) - i : 5);
  assert_int_equal(d.size, strlen(text));
  digest_final(&d, a);
  digest_buffer(text, strlen(text), b);
  assert_string_equal(a, b);
  assert_string_equal(a, "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void *
digest_abc(void *out)
{
  digest_buffer("abc", 3, out);
  return NULL;
}

/* The first digests of a process may come from several threads at once
 * (the compressor's, the cache's): each sets OpenSSL up or waits for it. */
static void
test_threads(void **state)
{
  char out[8][DIGEST_STR_LEN];
  pthread_t t[8];

  for (size_t i = 0; i < 8; i++)
    assert_int_equal(pthread_create(&t[i], NULL, digest_abc, out[i]), 0);
  for (size_t i = 0; i < 8; i++) {
    assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_string_equal(out[i], "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  }
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_vectors),
    cmocka_unit_test(test_threads),
    cmocka_unit_test(test_incremental_equals_oneshot),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
