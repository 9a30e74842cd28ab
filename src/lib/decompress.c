/* A compressed layer decompressed and hashed: see decompress.h.
 *
 * gzip is read through a map of the blob, since libdeflate takes a member
 * whole and says how many bytes it was; zstd and none are read in chunks.
 * Only the decompressed bytes' digest comes out. */
#include "lib/decompress.h"
#include "lib/alloc.h"
#include "lib/lane.h"

#include <errno.h>
#include <libdeflate.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define READ_CHUNK (1u << 20)
/* libzstd's own default bound, 2^27 bytes: a frame that asks for a larger
 * window (zstd --long, or a hostile blob) is refused, not obeyed. */
#define ZSTD_WINDOW_LOG_MAX 27

/* Where the decompressed bytes go: the digest, on a thread of its own
 * when one could be started (lane.h), so that sha256 and decompression
 * run at the same time. */
struct sink {
  struct digest d;
  struct lane *lane;
};

static void
sink_put(struct sink *s, const void *data, size_t n)
{
  lane_put(s->lane, digest_update_any, &s->d, TIMING_VERIFY, data, n);
}

/* Refused unless the file holds all `size` bytes: with gzip, a map past
 * its end would end the process (SIGBUS) instead of returning an error. */
static int
check_size(int fd, uint64_t size, struct derror *err)
{
  struct stat st;

  if (fstat(fd, &st) < 0)
    return derror_errno(err, errno, "stat");
  if (st.st_size < 0 || (uint64_t) st.st_size < size)
    return derror_set(err, "cut short: %llu bytes, not %llu", (unsigned long long) st.st_size,
                      (unsigned long long) size);
  return 0;
}

/* Exactly `n` bytes at `at`, retrying on short reads and EINTR. */
static int
read_at(int fd, unsigned char *buf, size_t n, uint64_t at, struct derror *err)
{
  size_t got = 0;

  while (got < n) {
    ssize_t r = pread(fd, buf + got, n - got, (off_t) (at + got));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return derror_errno(err, errno, "read");
    if (r == 0)
      return derror_set(err, "cut short at byte %llu", (unsigned long long) (at + got));
    got += (size_t) r;
  }
  return 0;
}

/* What a chunk of the blob's bytes goes through, in order. */
typedef int (*chunk_fn)(void *ctx, const unsigned char *data, size_t n, struct derror *err);

/* Each chunk of the `size` bytes of `fd` through fn, in order. */
static int
read_chunks(int fd, uint64_t size, chunk_fn fn, void *ctx, struct derror *err)
{
  cleanup_free unsigned char *buf = xmalloc(READ_CHUNK);

  for (uint64_t at = 0; at < size;) {
    size_t n = size - at < READ_CHUNK ? (size_t) (size - at) : READ_CHUNK;
    if (read_at(fd, buf, n, at, err) < 0 || fn(ctx, buf, n, err) < 0)
      return -1;
    at += n;
  }
  return 0;
}

static int
sink_chunk(void *ctx, const unsigned char *data, size_t n, struct derror *err)
{
  sink_put(ctx, data, n);
  return 0;
}

/* Every member decompressed whole into one buffer, doubled while a member
 * does not fit: a member's ISIZE trailer is its writer's word, and a
 * hostile one would size the buffer at will. */
static int
gzip_members(const unsigned char *in, size_t size, struct sink *out_to, struct derror *err)
{
  struct libdeflate_decompressor *dc = libdeflate_alloc_decompressor();
  size_t cap = COMPRESS_CHUNK, at = 0;
  cleanup_free unsigned char *out = xmalloc(cap);
  unsigned long members = 0;
  int ret = 0;

  if (dc == NULL)
    oom();
  if (size == 0)
    ret = derror_set(err, "empty: no gzip member");
  while (ret == 0 && at < size) {
    size_t used = 0, len = 0;
    enum libdeflate_result r = libdeflate_gzip_decompress_ex(dc, in + at, size - at, out, cap, &used, &len);
    if (r == LIBDEFLATE_INSUFFICIENT_SPACE && cap < DECOMPRESS_MEMBER_MAX) {
      free(out);
      cap *= 2;
      out = xmalloc(cap);
    } else if (r == LIBDEFLATE_INSUFFICIENT_SPACE) {
      ret = derror_set(err, "gzip member %lu at byte %zu: over %u MiB decompressed", members + 1, at,
                       DECOMPRESS_MEMBER_MAX >> 20);
    } else if (r != LIBDEFLATE_SUCCESS && members > 0 && (size - at < 2 || in[at] != 0x1f || in[at + 1] != 0x8b)) {
      ret = derror_set(err, "trailing bytes after the last gzip member, from byte %zu", at);
    } else if (r != LIBDEFLATE_SUCCESS) {
      ret = derror_set(err, "gzip member %lu at byte %zu: damaged or cut short", members + 1, at);
    } else {
      sink_put(out_to, out, len);
      at += used;
      members++;
    }
  }
  libdeflate_free_decompressor(dc);
  return ret;
}

static int
gzip_digest(int fd, uint64_t size, struct sink *s, struct derror *err)
{
  if ((uint64_t) (size_t) size != size)
    return derror_set(err, "%llu bytes: too large to map", (unsigned long long) size);
  if (size == 0)
    return gzip_members(NULL, 0, s, err);
  void *map = mmap(NULL, (size_t) size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED)
    return derror_errno(err, errno, "map");
  madvise(map, (size_t) size, MADV_SEQUENTIAL);
  int ret = gzip_members(map, (size_t) size, s, err);
  munmap(map, (size_t) size);
  return ret;
}

struct zstd_state {
  ZSTD_DCtx *dc;
  unsigned char *out;
  size_t out_cap;
  struct sink *s;
  size_t left; /* 0: the last frame ended with the bytes so far */
};

/* A chunk of frames through libzstd; it may end anywhere in a frame. */
static int
zstd_chunk(void *ctx, const unsigned char *data, size_t n, struct derror *err)
{
  struct zstd_state *z = ctx;
  ZSTD_inBuffer in = { data, n, 0 };

  for (;;) {
    ZSTD_outBuffer o = { z->out, z->out_cap, 0 };
    size_t r = ZSTD_decompressStream(z->dc, &o, &in);
    if (ZSTD_isError(r))
      return derror_set(err, "zstd: %s", ZSTD_getErrorName(r));
    sink_put(z->s, z->out, o.pos);
    z->left = r;
    /* a frame's end, or output to spare: libzstd flushed all it could
     * from this input (calling it again after a frame's end would begin
     * the next, and wait for its header) */
    if (in.pos == in.size && (r == 0 || o.pos < o.size))
      return 0;
  }
}

static int
zstd_digest(int fd, uint64_t size, struct sink *s, struct derror *err)
{
  /* before any frame, one is wanted: an empty blob holds none */
  struct zstd_state z = { ZSTD_createDCtx(), NULL, ZSTD_DStreamOutSize(), s, 1 };
  int ret;

  if (z.dc == NULL)
    oom();
  if (ZSTD_isError(ZSTD_DCtx_setParameter(z.dc, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX))) {
    ZSTD_freeDCtx(z.dc);
    return derror_set(err, "zstd: cannot bound the window");
  }
  z.out = xmalloc(z.out_cap);
  ret = read_chunks(fd, size, zstd_chunk, &z, err);
  if (ret == 0 && size == 0)
    ret = derror_set(err, "empty: no zstd frame");
  else if (ret == 0 && z.left != 0)
    ret = derror_set(err, "the last zstd frame is cut short");
  free(z.out);
  ZSTD_freeDCtx(z.dc);
  return ret;
}

int
decompress_digest(int fd, uint64_t size, enum compression comp, char out[DIGEST_STR_LEN], struct derror *err)
{
  struct sink s;
  int ret = -1;

  if (check_size(fd, size, err) < 0)
    return -1;
  digest_init(&s.d);
  s.lane = lane_new();
  switch (comp) {
  case COMPRESSION_GZIP:
    ret = gzip_digest(fd, size, &s, err);
    break;
  case COMPRESSION_ZSTD:
    ret = zstd_digest(fd, size, &s, err);
    break;
  case COMPRESSION_NONE:
    ret = read_chunks(fd, size, sink_chunk, &s, err);
    break;
  }
  lane_sync(s.lane);
  lane_free(s.lane);
  if (ret < 0) {
    digest_abort(&s.d);
    return -1;
  }
  digest_final(&s.d, out);
  return 0;
}
