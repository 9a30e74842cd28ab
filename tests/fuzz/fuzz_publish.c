/* libFuzzer: what a registry or a user hands the registry client: the
 * first byte picks the parser, the rest is its input.  References and
 * WWW-Authenticate challenges come from the command line and from any
 * registry; auth files from the user's home; signature payloads, DSSE
 * envelopes and in-toto statements from any registry; archives whose
 * signatures and attestations verify checks, from anyone; and a registry
 * layer cache's config (--cache-from). */
#include "publish/attest.h"
#include "publish/auth.h"
#include "publish/cosign.h"
#include "publish/dsse.h"
#include "publish/ref.h"
#include "publish/remote_cache.h"
#include "publish/simplesign.h"
#include "memfile.h"

#include <openssl/ec.h>

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a C string (the parsers of text take one). */
static char *
text(const uint8_t *data, size_t size)
{
  char *s = xmalloc(size + 1);
  memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

static void
fuzz_text(uint8_t kind, const uint8_t *data, size_t size)
{
  struct derror err = DERROR_INIT;
  char *s = text(data, size);

  if (kind == 0) {
    struct image_ref ref = { 0 };
    if (image_ref_parse(s, &ref, &err) == 0)
      free(image_ref_name(&ref));
    image_ref_free(&ref);
  } else {
    struct auth_challenge c = { 0 };
    auth_challenge_parse(s, &c, &err);
    auth_challenge_free(&c);
  }
  derror_clear(&err);
  free(s);
}

/* An archive's signatures and attestations, checked with a key of its
 * own (made once): none verifies, but every byte is read as verify reads
 * it. */
static void
fuzz_archive(const uint8_t *data, size_t size)
{
  static EVP_PKEY *key;
  struct derror err = DERROR_INIT;
  struct cosign_verified v = { 0 };
  struct attest_verified t = { 0 };
  const char *path = memfile(data, size);

  if (key == NULL && (key = EVP_EC_gen("P-256")) == NULL)
    abort();
  if (cosign_verify_archive(path, key, &v, &err) == 0)
    attest_verify_archive(path, key, &t, &err);
  cosign_verified_free(&v);
  attest_verified_free(&t);
  derror_clear(&err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct derror err = DERROR_INIT;

  if (size == 0)
    return 0;
  uint8_t kind = data[0] % 7;
  data++, size--;
  if (kind <= 1) {
    fuzz_text(kind, data, size);
  } else if (kind == 2) {
    struct registry_creds c = { 0 };
    auth_lookup(memfile(data, size), "127.0.0.1:5000", "distill/app", &c, &err);
    registry_creds_free(&c);
  } else if (kind == 3) {
    struct simplesign_claims c = { 0 };
    simplesign_parse(data, size, &c, &err);
    simplesign_claims_free(&c);
  } else if (kind == 5) {
    fuzz_archive(data, size);
  } else if (kind == 6) {
    struct buf text = { .data = (char *) data, .len = size };
    struct remote_entry *entries = NULL;
    size_t n = 0;
    remote_cache_parse(&text, "fuzz", &entries, &n, &err);
    for (size_t i = 0; i < n; i++)
      remote_entry_free(&entries[i]);
    free(entries);
  } else {
    struct dsse_envelope e = { 0 };
    if (dsse_parse(data, size, &e, &err) == 0) {
      derror_clear(&err);
      char *type = NULL;
      intoto_check(&e.payload, "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", &type,
                   &err);
      free(type);
    }
    dsse_envelope_free(&e);
  }
  derror_clear(&err);
  return 0;
}
