/* Signing keys as distill keeps them: an ECDSA P-256 private key in a
 * PKCS#8 PEM file, encrypted with a passphrase (PBES2: PBKDF2 and
 * AES-256-CBC) unless made without one, and its public key as a
 * SubjectPublicKeyInfo PEM file, which cosign's --key takes. */
#ifndef DISTILL_PUBLISH_KEYS_H
#define DISTILL_PUBLISH_KEYS_H

#include "lib/alloc.h"
#include "lib/error.h"

#include <openssl/evp.h>

/* The passphrase: the first line of `file` when given (its newline
 * dropped), else $DISTILL_PASSPHRASE, else $COSIGN_PASSWORD (cosign's);
 * NULL when none (not an error). */
int key_passphrase(const char *file, char **out, struct derror *err);

/* PREFIX.key (mode 0600; encrypted when `passphrase` is not NULL) and
 * PREFIX.pub of a new P-256 key, each written whole or not at all; an
 * existing file is not written over (DERROR_USAGE). */
int key_generate(const char *prefix, const char *passphrase, struct derror *err);

/* A P-256 private key from a PEM file: PKCS#8, or cosign's own encrypted
 * format (cosignkey.h). An encrypted one needs `passphrase`, and a wrong
 * one is said as such. */
EVP_PKEY *key_load_private(const char *path, const char *passphrase, struct derror *err);
/* A P-256 public key from a SubjectPublicKeyInfo PEM file. */
EVP_PKEY *key_load_public(const char *path, struct derror *err);

/* ECDSA with SHA-256 over `data`: the DER signature in `sig`. */
int key_sign(EVP_PKEY *key, const void *data, size_t n, struct buf *sig, struct derror *err);
/* 1 when `sig` (DER) is `key`'s over `data`, 0 when not. */
int key_verify(EVP_PKEY *key, const void *data, size_t n, const void *sig, size_t sig_len);

static inline void
cleanup_pkeyp(EVP_PKEY **k)
{
  EVP_PKEY_free(*k); /* NULL-safe */
}
#define cleanup_pkey __attribute__((cleanup(cleanup_pkeyp)))

#endif
