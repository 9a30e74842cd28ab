/* A compressed layer's claim checked: "this blob decompresses to the tar
 * of this diff_id".  The blob is decompressed and hashed, never kept, so
 * that the layer cache trusts a blob it did not write only once it has
 * seen what it holds.
 *
 * gzip: any series of members (RFC 1952 2.2), not only compress.c's one per
 * COMPRESS_CHUNK; libdeflate decompresses a member whole, so a member may
 * be at most DECOMPRESS_MEMBER_MAX decompressed, a bound on memory against
 * a hostile blob.  zstd: any series of frames, each with a window of at
 * most 128 MiB, through libzstd's streaming decoder.  none: the bytes as
 * they are.  No byte may follow the last member or frame. */
#ifndef DISTILL_DECOMPRESS_H
#define DISTILL_DECOMPRESS_H

#include "lib/compress.h"
#include "lib/digest.h"
#include "lib/error.h"
#include <stdint.h>

#define DECOMPRESS_MEMBER_MAX (64u << 20)

/* The sha256 ("sha256:<hex>", as digest.h writes it) of what the `size`
 * bytes of `fd` from offset 0 decompress to, compressed as `comp` says.
 * -1 with `err` saying why when they do not decompress (damaged, cut
 * short, trailing bytes, a member larger than DECOMPRESS_MEMBER_MAX).
 * A gzip blob is mapped: `fd` must not shrink meanwhile. */
int decompress_digest(int fd, uint64_t size, enum compression comp, char out[DIGEST_STR_LEN], struct derror *err);

#endif
