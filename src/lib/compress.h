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

#include <stdbool.h>
#include <stddef.h>

enum compression { COMPRESSION_GZIP, COMPRESSION_ZSTD, COMPRESSION_NONE };

#define COMPRESS_CHUNK (1024 * 1024)
/* The fastest levels whose layers are no larger than buildah's (Go's
 * gzip at its default level) on every bench workload (README, Speed). */
#define COMPRESS_GZIP_LEVEL 2
#define COMPRESS_ZSTD_LEVEL 2
#define COMPRESS_ZSTD_JOB (4 << 20)

/* A compressor carries one stream after another (the layers of an image),
 * each begun with where its bytes go.  With gzip on several jobs a stream
 * need not be out when the next begins: the workers compress the end of one
 * and the start of the next at the same time, and every callback still comes
 * in stream order on the caller's thread, from inside compressor_write,
 * compressor_end or compressor_drain. */

/* Where a stream's compressed bytes go, in order; -1 stops the compressor
 * (errno kept). */
typedef int (*compress_emit_fn)(void *ctx, const void *data, size_t n);
/* Called once for every stream begun: after its last bytes were emitted
 * (abandoned false), or when the compressor is freed before that (true).
 * -1 stops the compressor (errno kept). */
typedef int (*compress_end_fn)(void *ctx, bool abandoned);

struct compressor;

struct compressor *compressor_new(enum compression comp, unsigned jobs);
/* Start a stream; the previous one must have been ended. */
void compressor_begin(struct compressor *c, compress_emit_fn emit_fn, compress_end_fn end_fn, void *ctx);
/* 0, or -1 when compression, an emit or an end failed (then errno is the
 * callback's, or 0 when the compressor itself failed). */
int compressor_write(struct compressor *c, const void *data, size_t n);
/* The stream is complete.  gzip on several jobs: its last chunks may still
 * be compressing; its end comes later. */
int compressor_end(struct compressor *c);
/* Every stream out and ended. */
int compressor_drain(struct compressor *c);
/* Abandons whatever is not out: the workers stop, pending ends are called
 * with abandoned true. */
void compressor_free(struct compressor *c);

const char *compression_name(enum compression comp);
/* The level its bytes are made at; 0 for none. */
int compression_level(enum compression comp);
const char *compression_media_type(enum compression comp);
/* "libdeflate 1.14", "libzstd 1.5.4": what the bytes depend on (the
 * version of the library loaded).  A constant string: it never changes
 * under a caller, on any thread. */
const char *compression_library(enum compression comp);
/* The number of CPUs this process may run on, at least 1. */
unsigned compress_default_jobs(void);

#endif
