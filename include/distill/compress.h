/* Layer compression on several threads, with bytes that do not depend on
 * how many.
 *
 * gzip: the stream is cut every COMPRESS_CHUNK bytes of input and each piece
 * becomes one gzip member (RFC 1952 2.2: a gzip file is a series of members),
 * compressed by libdeflate; the pieces are written in order.  gzip, zlib's
 * gzread, Python, Go's compress/gzip and libarchive read every member.
 * zstd: libzstd's own workers, always at least one, whose output libzstd
 * keeps independent of their number.  none: the bytes as they come. */
#ifndef DISTILL_COMPRESS_H
#define DISTILL_COMPRESS_H

#include <stddef.h>

enum compression { COMPRESSION_GZIP, COMPRESSION_ZSTD, COMPRESSION_NONE };

#define COMPRESS_CHUNK (1024 * 1024)
#define COMPRESS_GZIP_LEVEL 6
#define COMPRESS_ZSTD_LEVEL 3

/* Where compressed bytes go, in order; -1 stops the stream (errno kept). */
typedef int (*compress_emit_fn)(void *ctx, const void *data, size_t n);

struct compressor;

struct compressor *compressor_new(enum compression comp, unsigned jobs, compress_emit_fn emit, void *ctx);
/* 0, or -1 when compression or an emit failed (then errno is the emit's, or
 * 0 when the compressor itself failed). */
int compressor_write(struct compressor *c, const void *data, size_t n);
int compressor_finish(struct compressor *c);
void compressor_free(struct compressor *c);

const char *compression_name(enum compression comp);
const char *compression_media_type(enum compression comp);
/* "libdeflate 1.14", "libzstd 1.5.4": what the bytes depend on. */
const char *compression_library(enum compression comp);
/* The number of CPUs this process may run on, at least 1. */
unsigned compress_default_jobs(void);

#endif
