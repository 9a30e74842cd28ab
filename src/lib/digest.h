/* sha256 digests through OpenSSL's EVP interface. */
#ifndef DISTILL_DIGEST_H
#define DISTILL_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_HEX_LEN 64
/* "sha256:" + 64 hex digits + NUL */
#define DIGEST_STR_LEN (7 + DIGEST_HEX_LEN + 1)

struct digest {
  void *ctx; /* EVP_MD_CTX */
  uint64_t size;
};

void digest_init(struct digest *d);
void digest_update(struct digest *d, const void *data, size_t n);
/* The same, `d` a struct digest: the work of a lane (lane.h). */
void digest_update_any(void *d, const void *data, size_t n);
/* Finish into "sha256:<hex>" and free the context. */
void digest_final(struct digest *d, char out[DIGEST_STR_LEN]);
void digest_abort(struct digest *d);
/* True for "sha256:" and 64 lowercase hex digits. */
bool digest_valid(const char *s);
/* Lowercase hex of `n` bytes into `out` (2n + 1 bytes). */
void digest_hex(const unsigned char *bytes, size_t n, char *out);
/* One-shot digest of a buffer. */
void digest_buffer(const void *data, size_t n, char out[DIGEST_STR_LEN]);

#endif
