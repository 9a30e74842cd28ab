/* cosign's own private key file, the one `cosign generate-key-pair`
 * writes, read as cosign reads it (pkg/cosign/keys.go LoadPrivateKey, and
 * go-securesystemslib's encrypted.Decrypt): a PEM block of type
 * "ENCRYPTED SIGSTORE PRIVATE KEY" (cosign before 2.0: "ENCRYPTED COSIGN
 * PRIVATE KEY") whose body is the JSON
 *   {"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":B64},
 *    "cipher":{"name":"nacl/secretbox","nonce":B64},"ciphertext":B64}
 * B64 being standard base64 with padding, as Go's encoding/json writes a
 * []byte. The 32-byte key of the secretbox (XSalsa20-Poly1305, libsodium's
 * crypto_secretbox) is scrypt(password, salt, N, r, p); what it seals is
 * the PKCS#8 DER private key. */
#ifndef DISTILL_PUBLISH_COSIGNKEY_H
#define DISTILL_PUBLISH_COSIGNKEY_H

#include "lib/error.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

/* True when a PEM block of type `name` is such a key. */
bool cosignkey_is_type(const char *name);

/* The private key sealed in `json` (the PEM block's decoded body), opened
 * with `password`. A NULL password is tried as the empty one, which is
 * how cosign makes a key without one (COSIGN_PASSWORD=""); when that does
 * not open it the error asks for the password. Any kind of key: the
 * caller checks it is one it signs with. */
EVP_PKEY *cosignkey_open(const void *json, size_t n, const char *password, struct derror *err);

#endif
