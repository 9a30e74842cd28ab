#include "lib/digest.h"
#include "lib/alloc.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

/* Nothing of the host's OpenSSL configuration has a say in a digest: the
 * library is set up without it, once, before the first digest of any
 * thread (the compressor's and the cache's threads digest too). */
static pthread_once_t openssl_once = PTHREAD_ONCE_INIT;

static void
openssl_init(void)
{
  OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
}

void
digest_init(struct digest *d)
{
  pthread_once(&openssl_once, openssl_init);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();

  if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
    oom();
  d->ctx = ctx;
  d->size = 0;
}

void
digest_update(struct digest *d, const void *data, size_t n)
{
  if (EVP_DigestUpdate(d->ctx, data, n) != 1)
    oom();
  d->size += n;
}

void
digest_update_any(void *d, const void *data, size_t n)
{
  digest_update(d, data, n);
}

void
digest_final(struct digest *d, char out[DIGEST_STR_LEN])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;

  if (EVP_DigestFinal_ex(d->ctx, md, &len) != 1 || len != 32)
    oom();
  EVP_MD_CTX_free(d->ctx);
  d->ctx = NULL;
  memcpy(out, "sha256:", 7);
  digest_hex(md, len, out + 7);
}

void
digest_hex(const unsigned char *bytes, size_t n, char *out)
{
  static const char hex[] = "0123456789abcdef";

  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hex[bytes[i] >> 4];
    out[2 * i + 1] = hex[bytes[i] & 15];
  }
  out[2 * n] = '\0';
}

void
digest_abort(struct digest *d)
{
  EVP_MD_CTX_free(d->ctx);
  d->ctx = NULL;
}

void
digest_buffer(const void *data, size_t n, char out[DIGEST_STR_LEN])
{
  struct digest d;

  digest_init(&d);
  digest_update(&d, data, n);
  digest_final(&d, out);
}

bool
digest_valid(const char *s)
{
  if (s == NULL || strncmp(s, "sha256:", 7) != 0 || strlen(s) != DIGEST_STR_LEN - 1)
    return false;
  return strspn(s + 7, "0123456789abcdef") == DIGEST_HEX_LEN;
}
