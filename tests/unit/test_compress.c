#include "testlib.h"

#include "lib/compress.h"
#include "lib/alloc.h"

#include <errno.h>
#include <zlib.h>
#include <zstd.h>

/* What the callbacks saw, across the streams of one compressor: 'e' for
 * bytes, 'E' for an end, 'A' for an abandoned end, each after its stream's
 * number. */
static char events[4096];
static size_t n_events;

/* Compressed output collected in memory, written in pieces of any size. */
struct out {
  unsigned char *data;
  size_t len, cap;
  size_t fail_after; /* emit fails once this many bytes came; 0 never */
  char id;           /* the stream's number, for events */
  int ends, abandoned;
};

static void
event(char id, char what)
{
  /* a run of bytes is one event */
  if (what == 'e' && n_events >= 2 && events[n_events - 2] == id && events[n_events - 1] == 'e')
    return;
  assert_true(n_events + 2 < sizeof events);
  events[n_events++] = id;
  events[n_events++] = what;
  events[n_events] = '\0';
}

static int
ended(void *ctx, bool abandoned)
{
  struct out *o = ctx;

  o->ends++;
  o->abandoned += abandoned;
  event(o->id, abandoned ? 'A' : 'E');
  return 0;
}

static int
collect(void *ctx, const void *data, size_t n)
{
  struct out *o = ctx;

  event(o->id, 'e');
  if (o->fail_after && o->len + n > o->fail_after) {
    errno = ENOSPC;
    return -1;
  }
  if (o->len + n > o->cap) {
    o->cap = (o->len + n) * 2;
    o->data = xreallocarray(o->data, o->cap, 1);
  }
  memcpy(o->data + o->len, data, n);
  o->len += n;
  return 0;
}

/* Compress `in` on `jobs` threads, feeding it in pieces of `step` bytes. */
static struct out
compress_with(enum compression comp, unsigned jobs, const unsigned char *in, size_t n, size_t step)
{
  struct out o = { 0 };
  struct compressor *c = compressor_new(comp, jobs);

  assert_non_null(c);
  compressor_begin(c, collect, ended, &o);
  for (size_t i = 0; i < n; i += step)
    assert_int_equal(compressor_write(c, in + i, n - i < step ? n - i : step), 0);
  assert_int_equal(compressor_end(c), 0);
  assert_int_equal(compressor_drain(c), 0);
  assert_int_equal(o.ends, 1);
  assert_int_equal(o.abandoned, 0);
  compressor_free(c);
  assert_int_equal(o.ends, 1);
  return o;
}

/* zlib's inflate, member after member, as RFC 1952 2.2 reads a gzip file. */
static unsigned char *
gunzip(const unsigned char *gz, size_t n, size_t *out_len, size_t *members)
{
  size_t cap = 1 << 20, len = 0;
  unsigned char *out = xmalloc(cap);
  z_stream z = { 0 };

  *members = 0;
  assert_int_equal(inflateInit2(&z, 16 + 15), Z_OK);
  z.next_in = (unsigned char *) gz;
  z.avail_in = (uInt) n;
  while (z.avail_in > 0) {
    if (len == cap)
      out = xreallocarray(out, cap *= 2, 1);
    z.next_out = out + len;
    z.avail_out = (uInt) (cap - len);
    int r = inflate(&z, Z_NO_FLUSH);
    len = cap - z.avail_out;
    if (r == Z_STREAM_END) {
      (*members)++;
      assert_int_equal(inflateReset(&z), Z_OK);
    } else {
      assert_int_equal(r, Z_OK);
    }
  }
  inflateEnd(&z);
  *out_len = len;
  return out;
}

static void
test_gzip_bytes_do_not_depend_on_threads(void **state)
{
  /* sizes around the chunk edges, and several chunks */
  const size_t sizes[] = { 0, 1, COMPRESS_CHUNK - 1, COMPRESS_CHUNK, COMPRESS_CHUNK + 1, 7 * COMPRESS_CHUNK + 12345 };
  const unsigned jobs[] = { 1, 2, 3, 8 };

  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    size_t n = sizes[s];
    cleanup_free unsigned char *in = tl_sample(n);
    struct out ref = compress_with(COMPRESSION_GZIP, 1, in, n, 65536);

    for (size_t j = 0; j < sizeof jobs / sizeof *jobs; j++) {
      /* and whatever the sizes of the writes */
      struct out o = compress_with(COMPRESSION_GZIP, jobs[j], in, n, j % 2 ? 10007 : 1 << 20);
      assert_int_equal(o.len, ref.len);
      assert_memory_equal(o.data, ref.data, ref.len);
      free(o.data);
    }

    size_t len, members;
    cleanup_free unsigned char *back = gunzip(ref.data, ref.len, &len, &members);
    assert_int_equal(len, n);
    if (n)
      assert_memory_equal(back, in, n);
    /* one member per started chunk, and one for nothing at all */
    assert_int_equal(members, n == 0 ? 1 : (n + COMPRESS_CHUNK - 1) / COMPRESS_CHUNK);
    /* the header of every member: no name, no time */
    assert_int_equal(ref.data[0], 0x1f);
    assert_int_equal(ref.data[1], 0x8b);
    assert_int_equal(ref.data[3], 0);
    assert_int_equal(ref.data[4] | ref.data[5] | ref.data[6] | ref.data[7], 0);
    free(ref.data);
  }
}

static void
test_zstd_bytes_do_not_depend_on_threads(void **state)
{
  size_t n = 9 * COMPRESS_CHUNK + 77;
  cleanup_free unsigned char *in = tl_sample(n);
  struct out ref = compress_with(COMPRESSION_ZSTD, 1, in, n, 65536);
  const unsigned jobs[] = { 2, 3, 8 };

  for (size_t j = 0; j < sizeof jobs / sizeof *jobs; j++) {
    struct out o = compress_with(COMPRESSION_ZSTD, jobs[j], in, n, j % 2 ? 10007 : 1 << 20);
    assert_int_equal(o.len, ref.len);
    assert_memory_equal(o.data, ref.data, ref.len);
    free(o.data);
  }
  cleanup_free unsigned char *back = xmalloc(n);
  assert_int_equal(ZSTD_decompress(back, n, ref.data, ref.len), n);
  assert_memory_equal(back, in, n);
  free(ref.data);
}

static void
test_none_passes_bytes_through(void **state)
{
  size_t n = 3 * COMPRESS_CHUNK;
  cleanup_free unsigned char *in = tl_sample(n);
  struct out o = compress_with(COMPRESSION_NONE, 4, in, n, 4099);

  assert_int_equal(o.len, n);
  assert_memory_equal(o.data, in, n);
  free(o.data);
}

/* A failing write (a full disk) stops the stream with its errno, on any
 * number of threads, and nothing is left running. */
static void
test_emit_failure_stops(void **state)
{
  size_t n = 12 * COMPRESS_CHUNK;
  cleanup_free unsigned char *in = tl_sample(n);
  const enum compression comps[] = { COMPRESSION_GZIP, COMPRESSION_ZSTD, COMPRESSION_NONE };
  const unsigned jobs[] = { 1, 2, 8 };

  for (size_t k = 0; k < 3; k++)
    for (size_t j = 0; j < 3; j++) {
      struct out o = { .fail_after = 100000 };
      struct compressor *c = compressor_new(comps[k], jobs[j]);
      int r = 0;
      assert_non_null(c);
      compressor_begin(c, collect, ended, &o);
      for (size_t i = 0; i < n && r == 0; i += 65536)
        r = compressor_write(c, in + i, 65536);
      if (r == 0)
        r = compressor_end(c);
      if (r == 0)
        r = compressor_drain(c);
      assert_int_equal(r, -1);
      assert_int_equal(errno, ENOSPC);
      assert_true(o.len <= 100000);
      compressor_free(c);
      /* ended once, as abandoned */
      assert_int_equal(o.ends, 1);
      assert_int_equal(o.abandoned, 1);
      free(o.data);
    }
}

/* The next stream starts while the workers still hold the previous one's
 * last chunks; abandoned half way (another layer failed), freeing waits for
 * the workers and ends what was begun. */
static void
test_free_mid_stream(void **state)
{
  size_t n = 10 * COMPRESS_CHUNK;
  cleanup_free unsigned char *in = tl_sample(n);
  struct out a = { .id = '0' }, o = { .id = '1' };
  struct compressor *c = compressor_new(COMPRESSION_GZIP, 4);

  /* one stream ended but maybe not out, the next half written */
  compressor_begin(c, collect, ended, &a);
  assert_int_equal(compressor_write(c, in, 3 * COMPRESS_CHUNK), 0);
  assert_int_equal(compressor_end(c), 0);
  /* three chunks in a ring of eight: nothing had to go out yet */
  assert_int_equal(a.ends, 0);
  compressor_begin(c, collect, ended, &o);
  assert_int_equal(compressor_write(c, in, n), 0);
  /* the ring came round: the first stream went out, whole */
  assert_int_equal(a.ends, 1);
  assert_int_equal(a.abandoned, 0);
  compressor_free(c);
  assert_int_equal(a.ends + o.ends, 2);
  assert_int_equal(o.abandoned, 1);
  free(a.data);
  free(o.data);
}

/* Streams one after another in one compressor (the layers of an image):
 * each gets the bytes it would get alone, and the callbacks come in stream
 * order, each end after its stream's last bytes and before the next
 * stream's first, on any number of threads. */
static void
test_streams_in_order(void **state)
{
  const size_t sizes[] = { 3 * COMPRESS_CHUNK + 5, 0, 1, COMPRESS_CHUNK, 2 * COMPRESS_CHUNK, 100, 5 * COMPRESS_CHUNK - 1 };
  const size_t n_streams = sizeof sizes / sizeof *sizes;
  const enum compression comps[] = { COMPRESSION_GZIP, COMPRESSION_ZSTD, COMPRESSION_NONE };
  const unsigned jobs[] = { 1, 2, 4, 8 };
  unsigned char *in[sizeof sizes / sizeof *sizes];
  char want[64] = "";

  for (size_t i = 0; i < n_streams; i++) {
    in[i] = tl_sample(sizes[i]);
    /* an empty stream emits nothing with none */
    snprintf(want + strlen(want), sizeof want - strlen(want), "%ce%cE", (char) ('0' + i), (char) ('0' + i));
  }
  for (size_t k = 0; k < 3; k++)
    for (size_t j = 0; j < sizeof jobs / sizeof *jobs; j++) {
      struct out o[sizeof sizes / sizeof *sizes];
      struct compressor *c = compressor_new(comps[k], jobs[j]);
      n_events = 0;
      events[0] = '\0';
      for (size_t i = 0; i < n_streams; i++) {
        o[i] = (struct out) { .id = (char) ('0' + i) };
        compressor_begin(c, collect, ended, &o[i]);
        for (size_t at = 0; at < sizes[i]; at += 70001)
          assert_int_equal(compressor_write(c, in[i] + at, sizes[i] - at < 70001 ? sizes[i] - at : 70001), 0);
        assert_int_equal(compressor_end(c), 0);
      }
      assert_int_equal(compressor_drain(c), 0);
      compressor_free(c);
      if (comps[k] == COMPRESSION_NONE) {
        /* the empty stream (1) has no bytes to emit */
        char none[64];
        const char *skip = strstr(want, "1e");
        snprintf(none, sizeof none, "%.*s%s", (int) (skip - want), want, skip + 2);
        assert_string_equal(events, none);
      } else {
        assert_string_equal(events, want);
      }
      for (size_t i = 0; i < n_streams; i++) {
        struct out alone = compress_with(comps[k], jobs[j], in[i], sizes[i], 65536);
        assert_int_equal(o[i].ends, 1);
        assert_int_equal(o[i].abandoned, 0);
        assert_int_equal(o[i].len, alone.len);
        if (alone.len)
          assert_memory_equal(o[i].data, alone.data, alone.len);
        free(alone.data);
        free(o[i].data);
      }
    }
  for (size_t i = 0; i < n_streams; i++)
    free(in[i]);
}

static void
test_names(void **state)
{
  assert_string_equal(compression_media_type(COMPRESSION_GZIP), "application/vnd.oci.image.layer.v1.tar+gzip");
  assert_string_equal(compression_media_type(COMPRESSION_ZSTD), "application/vnd.oci.image.layer.v1.tar+zstd");
  assert_string_equal(compression_media_type(COMPRESSION_NONE), "application/vnd.oci.image.layer.v1.tar");
  assert_true(strncmp(compression_library(COMPRESSION_GZIP), "libdeflate ", 11) == 0);
  /* the library loaded, and one string for every caller */
  cleanup_free char *zstd = xasprintf("libzstd %s", ZSTD_versionString());
  assert_string_equal(compression_library(COMPRESSION_ZSTD), zstd);
  assert_ptr_equal(compression_library(COMPRESSION_ZSTD), compression_library(COMPRESSION_ZSTD));
  assert_true(compress_default_jobs() >= 1);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_gzip_bytes_do_not_depend_on_threads),
    cmocka_unit_test(test_zstd_bytes_do_not_depend_on_threads),
    cmocka_unit_test(test_none_passes_bytes_through),
    cmocka_unit_test(test_emit_failure_stops),
    cmocka_unit_test(test_free_mid_stream),
    cmocka_unit_test(test_streams_in_order),
    cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
