#include "testlib.h"

#include "lib/copy.h"
#include "lib/digest.h"
#include "lib/lane.h"
#include "lib/timing.h"

#include <sys/stat.h>

/* Bytes that differ everywhere, so a segment hashed twice, dropped or out
 * of order gives another digest. */
static unsigned char *
pattern(size_t n, unsigned seed)
{
  unsigned char *p = xmalloc(n ? n : 1);
  uint32_t x = seed * 2654435761u + 1;

  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (unsigned char) (x >> 16);
  }
  return p;
}

/* Three digests fed in turns, in pieces from nothing to several segments,
 * hashed on the thread: each equals its bytes hashed in one piece here. */
static void
test_interleaved(void **state)
{
  static const size_t pieces[] = { 0, 1, 511, 4096, 10240, 1 << 20, (1 << 20) + 7, 3 << 20, 65536, 3 };
  enum { N = sizeof pieces / sizeof *pieces };
  struct lane *h = lane_new();
  struct digest d[3];
  unsigned char *data[3];
  size_t len[3] = { 0, 0, 0 };

  assert_non_null(h);
  for (int k = 0; k < 3; k++) {
    digest_init(&d[k]);
    for (size_t i = 0; i < N; i++)
      len[k] += pieces[(i + (size_t) k) % N];
    data[k] = pattern(len[k], (unsigned) k);
  }
  size_t at[3] = { 0, 0, 0 };
  for (size_t i = 0; i < N; i++)
    for (int k = 0; k < 3; k++) {
      size_t n = pieces[(i + (size_t) k) % N];
      /* the caller's buffer is reused at once: a copy must have been taken */
      cleanup_free unsigned char *piece = xmalloc(n ? n : 1);
      memcpy(piece, data[k] + at[k], n);
      lane_put(h, digest_update_any, &d[k], TIMING_HASH_TAR, piece, n);
      memset(piece, 0xa5, n);
      at[k] += n;
    }
  lane_sync(h);
  for (int k = 0; k < 3; k++) {
    char got[DIGEST_STR_LEN], want[DIGEST_STR_LEN];
    assert_int_equal(d[k].size, len[k]);
    digest_final(&d[k], got);
    digest_buffer(data[k], len[k], want);
    assert_string_equal(got, want);
    free(data[k]);
  }
  /* synced, a digest can be finished and another begun on the same thread */
  struct digest again;
  char got[DIGEST_STR_LEN];
  digest_init(&again);
  lane_put(h, digest_update_any, &again, TIMING_HASH_BLOB, "abc", 3);
  lane_sync(h);
  digest_final(&again, got);
  assert_string_equal(got, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  lane_free(h);
}

/* Calls of several kinds, with and without bytes, many more than a
 * segment holds: they run in the order they were put. */
struct log {
  struct buf b;
};

static void
log_bytes(void *ctx, const void *data, size_t n)
{
  struct log *l = ctx;

  buf_printf(&l->b, "[%zu:", n);
  buf_append(&l->b, data, n);
  buf_printf(&l->b, "]");
}

static void
log_mark(void *ctx, const void *data, size_t n)
{
  struct log *l = ctx;

  buf_printf(&l->b, "<%zu>", n);
}

static void
test_order(void **state)
{
  struct lane *l = lane_new();
  struct log got = { 0 }, want = { 0 };

  assert_non_null(l);
  for (int i = 0; i < 3000; i++) {
    char text[32];
    int n = snprintf(text, sizeof text, "%d", i);
    lane_put(l, log_mark, &got, TIMING_SCAN, NULL, 0);
    lane_put(NULL, log_mark, &want, TIMING_SCAN, NULL, 0);
    lane_put(l, log_bytes, &got, TIMING_SCAN, text, (size_t) n);
    lane_put(NULL, log_bytes, &want, TIMING_SCAN, text, (size_t) n);
  }
  lane_sync(l);
  assert_int_equal(got.b.len, want.b.len);
  assert_memory_equal(got.b.data, want.b.data, want.b.len);
  buf_free(&got.b);
  buf_free(&want.b);
  lane_free(l);
}

/* Without a thread (NULL), the same calls hash on the caller's. */
static void
test_without_thread(void **state)
{
  struct digest d;
  char got[DIGEST_STR_LEN];

  digest_init(&d);
  lane_put(NULL, digest_update_any, &d, TIMING_HASH_TAR, "ab", 2);
  lane_put(NULL, digest_update_any, &d, TIMING_HASH_TAR, "c", 1);
  lane_sync(NULL);
  digest_final(&d, got);
  assert_string_equal(got, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  lane_free(NULL);
}

/* A file copied through a buffer (hashed as it goes) and by the kernel:
 * the same bytes, after what the output already held. */
static void
test_copy(void **state)
{
  char *dir = tl_tmpdir();
  cleanup_free char *src = xasprintf("%s/src", dir), *out = xasprintf("%s/out", dir);
  size_t n = (5 << 20) + 123, len;
  cleanup_free unsigned char *data = pattern(n, 7);
  struct derror err = DERROR_INIT;
  struct digest d;
  char got[DIGEST_STR_LEN], want[DIGEST_STR_LEN];

  FILE *w = fopen(src, "w");
  assert_non_null(w);
  assert_int_equal(fwrite(data, 1, n, w), n);
  assert_int_equal(fclose(w), 0);
  for (int kernel = 0; kernel < 2; kernel++) {
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int fd = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(in >= 0 && fd >= 0);
    assert_int_equal(write(fd, "head", 4), 4);
    if (kernel) {
      int r = copy_kernel(in, fd, n, 4, &err);
      assert_true(r == 0 || r == 1);
      if (r == 1) /* this kernel or file system cannot: the fallback must work */
        assert_int_equal(copy_buffered(in, fd, 4, NULL, &err), 0);
    } else {
      assert_int_equal(copy_buffered(in, fd, 4, &d, &err), 0);
      digest_final(&d, got);
      digest_buffer(data, n, want);
      assert_string_equal(got, want);
    }
    close(in);
    close(fd);
    cleanup_free char *copied = tl_read(out, &len);
    assert_int_equal(len, n + 4);
    assert_memory_equal(copied, "head", 4);
    assert_memory_equal(copied + 4, data, n);
  }
  /* a short source is an error, not a short copy */
  int in = open(src, O_RDONLY | O_CLOEXEC);
  int fd = open(out, O_WRONLY | O_TRUNC | O_CLOEXEC);
  int r = copy_kernel(in, fd, n + 10, -1, &err);
  if (r != 1) {
    assert_int_equal(r, -1);
    assert_non_null(strstr(err.msg, "10 bytes short"));
    derror_clear(&err);
  }
  close(in);
  close(fd);
  tl_rmtree(dir);
}

/* --timings: each part charged on its thread, the report names them. */
static void
test_timings(void **state)
{
  char *text = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);

  timing_enable();
  timing_switch(TIMING_OTHER);
  enum timing_part was = timing_switch(TIMING_READ);
  assert_int_equal(was, TIMING_OTHER);
  timing_bytes(TIMING_READ, 2500000);
  usleep(20000);
  assert_int_equal(timing_switch(was), TIMING_READ);
  timing_report(f);
  fclose(f);
  assert_non_null(strstr(text, "timing read "));
  assert_non_null(strstr(text, "2.5 MB"));
  assert_non_null(strstr(text, "timing total "));
  double read_s = -1;
  const char *line = strstr(text, "timing read ");
  assert_int_equal(sscanf(line, "timing read %lf s", &read_s), 1);
  assert_true(read_s >= 0.015);
  /* parts nothing was charged to are left out */
  assert_null(strstr(text, "timing compress "));
  free(text);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_interleaved),
    cmocka_unit_test(test_order),
    cmocka_unit_test(test_without_thread),
    cmocka_unit_test(test_copy),
    cmocka_unit_test(test_timings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
