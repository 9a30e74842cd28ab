/* cosign's encrypted private keys: see cosignkey.h. */
#include "publish/cosignkey.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "publish/simplesign.h" /* base64_decode */

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Enough for the costliest parameters accepted: scrypt takes 128 * r * N
 * bytes, 128 MiB for N = 2^17 and r = 8. */
#define SCRYPT_MAXMEM (256u << 20)

struct sealed {
  struct buf salt, nonce, ciphertext;
  json_int_t n, r, p;
};

static void
sealed_free(struct sealed *s)
{
  buf_free(&s->salt);
  buf_free(&s->nonce);
  buf_free(&s->ciphertext);
}

bool
cosignkey_is_type(const char *name)
{
  return strcmp(name, "ENCRYPTED SIGSTORE PRIVATE KEY") == 0 || strcmp(name, "ENCRYPTED COSIGN PRIVATE KEY") == 0;
}

/* The bytes of object `o`'s member `name`, a base64 string. */
static int
b64_member(json_t *o, const char *name, struct buf *out, struct derror *err)
{
  const char *s = json_string_value(json_object_get(o, name));

  if (s == NULL)
    return derror_set(err, "no \"%s\" string", name);
  if (base64_decode(s, out) < 0)
    return derror_set(err, "\"%s\" is not standard base64", name);
  return 0;
}

/* Only the three sets go-securesystemslib writes (legacy, standard and
 * OWASP): the file must not choose the work a reader does (its
 * CheckParams), or a tampered N is a denial of service. */
static int
check_params(json_t *params, struct sealed *s, struct derror *err)
{
  json_t *n = json_object_get(params, "N"), *r = json_object_get(params, "r"), *p = json_object_get(params, "p");

  if (!json_is_integer(n) || !json_is_integer(r) || !json_is_integer(p))
    return derror_set(err, "the scrypt parameters are not the integers \"N\", \"r\" and \"p\"");
  s->n = json_integer_value(n), s->r = json_integer_value(r), s->p = json_integer_value(p);
  if ((s->n != 32768 && s->n != 65536 && s->n != 131072) || s->r != 8 || s->p != 1)
    return derror_set(err, "unsupported scrypt parameters N=%" JSON_INTEGER_FORMAT " r=%" JSON_INTEGER_FORMAT
                           " p=%" JSON_INTEGER_FORMAT " (cosign writes N 32768, 65536 or 131072, r 8, p 1)",
                      s->n, s->r, s->p);
  return 0;
}

static int
parse(const void *text, size_t len, struct sealed *s, struct derror *err)
{
  json_error_t jerr;
  cleanup_json json_t *root = json_loadb(text, len, 0, &jerr);

  if (root == NULL)
    return derror_set(err, "not JSON: %s (line %d)", jerr.text, jerr.line);
  json_t *kdf = json_object_get(root, "kdf"), *cipher = json_object_get(root, "cipher");
  const char *kdf_name = json_string_value(json_object_get(kdf, "name"));
  const char *cipher_name = json_string_value(json_object_get(cipher, "name"));
  if (kdf_name == NULL || strcmp(kdf_name, "scrypt") != 0)
    return derror_set(err, "the kdf is \"%s\", not scrypt", kdf_name ? kdf_name : "(none)");
  if (cipher_name == NULL || strcmp(cipher_name, "nacl/secretbox") != 0)
    return derror_set(err, "the cipher is \"%s\", not nacl/secretbox", cipher_name ? cipher_name : "(none)");
  if (check_params(json_object_get(kdf, "params"), s, err) < 0 || b64_member(kdf, "salt", &s->salt, err) < 0
      || b64_member(cipher, "nonce", &s->nonce, err) < 0 || b64_member(root, "ciphertext", &s->ciphertext, err) < 0)
    return -1;
  if (s->nonce.len != crypto_secretbox_NONCEBYTES)
    return derror_set(err, "a nonce of %zu bytes, not %d", s->nonce.len, crypto_secretbox_NONCEBYTES);
  if (s->ciphertext.len < crypto_secretbox_MACBYTES)
    return derror_set(err, "a ciphertext of %zu bytes, shorter than its authenticator", s->ciphertext.len);
  return 0;
}

/* The PKCS#8 DER in `der`, whole: Go's ParsePKCS8PrivateKey takes no
 * trailing bytes. */
static EVP_PKEY *
from_pkcs8(const unsigned char *der, size_t n, struct derror *err)
{
  const unsigned char *p = der;
  PKCS8_PRIV_KEY_INFO *info = n <= LONG_MAX ? d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long) n) : NULL;
  EVP_PKEY *k = info && p == der + n ? EVP_PKCS82PKEY(info) : NULL;

  PKCS8_PRIV_KEY_INFO_free(info);
  ERR_clear_error();
  if (k == NULL)
    derror_set(err, "what the password opens is not a PKCS#8 private key");
  return k;
}

/* The sealed key opened with `password` into `plain` (ciphertext.len -
 * MACBYTES bytes): 1, 0 when the box does not open (a wrong password, or
 * bytes changed), -1 on another error. */
static int
open_box(const struct sealed *s, const char *password, unsigned char *plain, struct derror *err)
{
  unsigned char key[crypto_secretbox_KEYBYTES];

  if (EVP_PBE_scrypt(password, strlen(password), (const unsigned char *) s->salt.data, s->salt.len,
                     (uint64_t) s->n, (uint64_t) s->r, (uint64_t) s->p, SCRYPT_MAXMEM, key, sizeof key)
      != 1) {
    ERR_clear_error();
    return derror_set(err, "scrypt failed (N=%" JSON_INTEGER_FORMAT ")", s->n);
  }
  int r = crypto_secretbox_open_easy(plain, (const unsigned char *) s->ciphertext.data, s->ciphertext.len,
                                     (const unsigned char *) s->nonce.data, key);
  sodium_memzero(key, sizeof key);
  return r == 0 ? 1 : 0;
}

EVP_PKEY *
cosignkey_open(const void *json, size_t n, const char *password, struct derror *err)
{
  struct sealed s = { 0 };
  EVP_PKEY *k = NULL;
  int r;

  if (sodium_init() < 0)
    return derror_set(err, "libsodium does not start"), NULL;
  if (parse(json, n, &s, err) < 0) {
    sealed_free(&s);
    return derror_wrap(err, "a cosign private key"), NULL;
  }
  size_t len = s.ciphertext.len - crypto_secretbox_MACBYTES;
  unsigned char *plain = xmalloc(len + 1);
  r = open_box(&s, password ? password : "", plain, err);
  if (r == 0 && password == NULL)
    derror_set(err, "the cosign key is encrypted: give its password (--passphrase-file, $DISTILL_PASSPHRASE or "
                    "$COSIGN_PASSWORD)");
  else if (r == 0)
    derror_set(err, "the password does not open the cosign key (a wrong password, or its ciphertext is damaged)");
  if (r == 1)
    k = from_pkcs8(plain, len, err);
  sodium_memzero(plain, len);
  free(plain);
  sealed_free(&s);
  return k;
}
