#include "testlib.h"

#include "lib/decompress.h"
#include "lib/compress.h"
#include "lib/digest.h"

#include <zlib.h>

struct blob {
  unsigned char *data;
  size_t len, cap;
};

static void
blob_add(struct blob *b, const void *data, size_t n)
{
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2;
    b->data = xreallocarray(b->data, b->cap, 1);
  }
  memcpy(b->data + b->len, data, n);
  b->len += n;
}

static int
emit_to_blob(void *ctx, const void *data, size_t n)
{
  blob_add(ctx, data, n);
  return 0;
}

static int
ended(void *ctx, bool abandoned)
{
  return 0;
}

/* `in` as distill compresses a layer. */
static struct blob
compressed(enum compression comp, const void *in, size_t n)
{
  struct blob b = { 0 };
  struct compressor *c = compressor_new(comp, 2);

  assert_non_null(c);
  compressor_begin(c, emit_to_blob, ended, &b);
  assert_int_equal(compressor_write(c, in, n), 0);
  assert_int_equal(compressor_end(c), 0);
  assert_int_equal(compressor_drain(c), 0);
  compressor_free(c);
  return b;
}

/* `in` as zlib's gzip writes it: one member, whatever its size. */
static struct blob
zlib_gzip(const void *in, size_t n, int level)
{
  z_stream z = { 0 };
  struct blob b = { 0 };

  assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
  b.cap = deflateBound(&z, (uLong) n);
  b.data = xmalloc(b.cap);
  z.next_in = (unsigned char *) in;
  z.avail_in = (uInt) n;
  z.next_out = b.data;
  z.avail_out = (uInt) b.cap;
  assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
  b.len = b.cap - z.avail_out;
  deflateEnd(&z);
  return b;
}

/* decompress_digest() of `n` bytes of `data` in a file of their own. */
static int
digest_of(const void *data, size_t n, enum compression comp, char out[DIGEST_STR_LEN], struct derror *err)
{
  char *dir = tl_tmpdir();
  cleanup_free char *path = xasprintf("%s/blob", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);

  assert_true(fd >= 0);
  assert_int_equal(write_all(fd, data, n), 0);
  int ret = decompress_digest(fd, n, comp, out, err);
  close(fd);
  tl_rmtree(dir);
  return ret;
}

/* Refused, with a message that says so. */
static void
refused(const void *data, size_t n, enum compression comp, const char *why)
{
  char got[DIGEST_STR_LEN];
  struct derror err = DERROR_INIT;

  assert_int_equal(digest_of(data, n, comp, got, &err), -1);
  assert_non_null(err.msg);
  if (strstr(err.msg, why) == NULL)
    fail_msg("\"%s\" does not say \"%s\"", err.msg, why);
  derror_clear(&err);
}

static void
accepted(const struct blob *b, enum compression comp, const void *in, size_t n)
{
  char want[DIGEST_STR_LEN], got[DIGEST_STR_LEN];
  struct derror err = DERROR_INIT;

  digest_buffer(in, n, want);
  if (digest_of(b->data, b->len, comp, got, &err) < 0)
    fail_msg("%s, %zu bytes: %s", compression_name(comp), n, err.msg);
  assert_string_equal(got, want);
}

/* What distill compresses decompresses to its input, on every compression:
 * nothing, a line, several gzip members. */
static void
test_round_trip(void **state)
{
  const enum compression comps[] = { COMPRESSION_GZIP, COMPRESSION_ZSTD, COMPRESSION_NONE };
  const char text[] = "a small layer: one line of text\n";
  const size_t big = 3 * COMPRESS_CHUNK + COMPRESS_CHUNK / 2;
  cleanup_free unsigned char *mixed = tl_sample(big);
  const struct {
    const void *data;
    size_t n;
  } inputs[] = { { "", 0 }, { text, sizeof text - 1 }, { mixed, big }, { mixed, COMPRESS_CHUNK } };

  for (size_t k = 0; k < 3; k++)
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
      struct blob b = compressed(comps[k], inputs[i].data, inputs[i].n);
      accepted(&b, comps[k], inputs[i].data, inputs[i].n);
      free(b.data);
    }
}

/* A member of any size up to the bound, as other tools write them: the
 * buffer grows to fit. */
static void
test_gzip_large_member(void **state)
{
  const size_t n = 3 * COMPRESS_CHUNK;
  cleanup_free unsigned char *in = tl_sample(n);
  struct blob b = zlib_gzip(in, n, 6);

  accepted(&b, COMPRESSION_GZIP, in, n);
  /* followed by distill's members of the same bytes */
  struct blob more = compressed(COMPRESSION_GZIP, in, n);
  blob_add(&b, more.data, more.len);
  cleanup_free unsigned char *twice = xmalloc(2 * n);
  memcpy(twice, in, n);
  memcpy(twice + n, in, n);
  accepted(&b, COMPRESSION_GZIP, twice, 2 * n);
  free(more.data);
  free(b.data);
}

/* A member of exactly the bound is read; one byte more is refused. */
static void
test_gzip_member_bound(void **state)
{
  const size_t n = DECOMPRESS_MEMBER_MAX;
  cleanup_free unsigned char *zeros = xcalloc(n + 1, 1);
  struct blob b = zlib_gzip(zeros, n, 1);

  accepted(&b, COMPRESSION_GZIP, zeros, n);
  free(b.data);
  b = zlib_gzip(zeros, n + 1, 1);
  refused(b.data, b.len, COMPRESSION_GZIP, "over 64 MiB");
  free(b.data);
}

static void
test_gzip_refused(void **state)
{
  const size_t n = 3 * COMPRESS_CHUNK + 1000;
  cleanup_free unsigned char *in = tl_sample(n);
  struct blob b = compressed(COMPRESSION_GZIP, in, n);
  cleanup_free unsigned char *bad = xmalloc(b.len + 16);

  /* a byte of the second member's deflate data, then of the first's CRC:
   * the first member is the first chunk's alone */
  struct blob first = compressed(COMPRESSION_GZIP, in, COMPRESS_CHUNK);
  size_t second = first.len;
  assert_memory_equal(b.data, first.data, second);
  free(first.data);
  memcpy(bad, b.data, b.len);
  bad[second + 5000] ^= 0x10;
  refused(bad, b.len, COMPRESSION_GZIP, "member 2 at byte");
  memcpy(bad, b.data, b.len);
  bad[second - 8] ^= 0x01;
  refused(bad, b.len, COMPRESSION_GZIP, "member 1 at byte 0: damaged");

  refused(b.data, b.len - 10, COMPRESSION_GZIP, "cut short");
  refused(b.data, b.len - 1, COMPRESSION_GZIP, "cut short");
  /* junk after the last member, and what looks like another member */
  memcpy(bad, b.data, b.len);
  memcpy(bad + b.len, "trailing junk!!", 16);
  char *after = xasprintf("trailing bytes after the last gzip member, from byte %zu", b.len);
  refused(bad, b.len + 16, COMPRESSION_GZIP, after);
  refused(bad, b.len + 1, COMPRESSION_GZIP, after);
  free(after);
  memcpy(bad + b.len, "\x1f\x8b\x08\0\0\0\0\0\0\0", 10);
  refused(bad, b.len + 10, COMPRESSION_GZIP, "member 5 at byte");
  /* nothing at all: not even an empty member */
  refused("", 0, COMPRESSION_GZIP, "no gzip member");
  free(b.data);
}

static void
test_zstd_refused(void **state)
{
  const size_t n = 3 * COMPRESS_CHUNK + 1000;
  cleanup_free unsigned char *in = tl_sample(n);
  struct blob b = compressed(COMPRESSION_ZSTD, in, n);
  cleanup_free unsigned char *bad = xmalloc(b.len + 16);

  refused(b.data, b.len - 10, COMPRESSION_ZSTD, "cut short");
  refused(b.data, b.len / 2, COMPRESSION_ZSTD, "cut short");
  memcpy(bad, b.data, b.len);
  memcpy(bad + b.len, "trailing junk!!", 16);
  refused(bad, b.len + 16, COMPRESSION_ZSTD, "zstd: ");
  /* too few bytes to be a frame's header */
  refused(bad, b.len + 3, COMPRESSION_ZSTD, "zstd");
  /* the frame's checksum */
  memcpy(bad, b.data, b.len);
  bad[b.len - 2] ^= 0x01;
  refused(bad, b.len, COMPRESSION_ZSTD, "zstd: ");
  refused("", 0, COMPRESSION_ZSTD, "no zstd frame");
  free(b.data);
}

/* Two frames, one after the other, are one blob. */
static void
test_zstd_frames(void **state)
{
  const size_t n = COMPRESS_CHUNK + 17;
  cleanup_free unsigned char *in = tl_sample(n);
  struct blob b = compressed(COMPRESSION_ZSTD, in, n);
  struct blob more = compressed(COMPRESSION_ZSTD, "tail", 4);
  cleanup_free unsigned char *both = xmalloc(n + 4);

  blob_add(&b, more.data, more.len);
  memcpy(both, in, n);
  memcpy(both + n, "tail", 4);
  accepted(&b, COMPRESSION_ZSTD, both, n + 4);
  free(more.data);
  free(b.data);
}

/* The file holds fewer bytes than its size says. */
static void
test_file_shorter_than_size(void **state)
{
  const enum compression comps[] = { COMPRESSION_GZIP, COMPRESSION_ZSTD, COMPRESSION_NONE };
  char *dir = tl_tmpdir();
  cleanup_free char *path = xasprintf("%s/blob", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);

  assert_true(fd >= 0);
  struct blob b = compressed(COMPRESSION_GZIP, "short", 5);
  assert_int_equal(write_all(fd, b.data, b.len), 0);
  for (size_t k = 0; k < 3; k++) {
    char got[DIGEST_STR_LEN];
    struct derror err = DERROR_INIT;
    assert_int_equal(decompress_digest(fd, b.len + 1, comps[k], got, &err), -1);
    assert_non_null(strstr(err.msg, "cut short"));
    derror_clear(&err);
  }
  close(fd);
  free(b.data);
  tl_rmtree(dir);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_gzip_large_member),
    cmocka_unit_test(test_gzip_member_bound),
    cmocka_unit_test(test_gzip_refused),
    cmocka_unit_test(test_zstd_refused),
    cmocka_unit_test(test_zstd_frames),
    cmocka_unit_test(test_file_shorter_than_size),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
