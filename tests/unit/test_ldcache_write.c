#include "testlib.h"

#include "plan/ldcache_write.h"
#include "plan/ldconfig.h"
#include "plan/view.h"

#include <stdbool.h>

#define LDCONFIG "/sbin/ldconfig"
#define X86_64 0x0303 /* FLAG_ELF_LIBC6 | FLAG_X8664_LIB64 */
#define I386 0x0003   /* FLAG_ELF_LIBC6 */
#define AARCH64 0x0a03
#define HWCAP_EXTENSION (UINT64_C(1) << 62)

/* ---- an independent decoder of the format ------------------------------- */

struct dent {
  int32_t flags;
  const char *key, *value;
  uint64_t hwcap;
  const char *hwcaps; /* the name the glibc-hwcaps section gives, or NULL */
};

static uint32_t
get32(const char *p, bool big)
{
  const unsigned char *u = (const unsigned char *) p;
  return big ? (uint32_t) u[0] << 24 | (uint32_t) u[1] << 16 | (uint32_t) u[2] << 8 | u[3]
             : (uint32_t) u[3] << 24 | (uint32_t) u[2] << 16 | (uint32_t) u[1] << 8 | u[0];
}

static uint64_t
get64(const char *p, bool big)
{
  return big ? (uint64_t) get32(p, big) << 32 | get32(p + 4, big) : (uint64_t) get32(p + 4, big) << 32 | get32(p, big);
}

static const char *
get_string(const char *d, size_t len, uint32_t off)
{
  assert_true(off < len);
  assert_non_null(memchr(d + off, '\0', len - off));
  return d + off;
}

/* Decode a whole new-format cache, checking what glibc's loader and
 * ldconfig rely on; returns the number of entries, fills e[] (max n). */
static size_t
decode(const char *d, size_t len, bool big, struct dent *e, size_t max, bool ldconfig_made)
{
  assert_true(len >= 48);
  assert_memory_equal(d, "glibc-ld.so.cache1.1", 20);
  uint32_t nlibs = get32(d + 20, big), len_strings = get32(d + 24, big);
  assert_int_equal((unsigned char) d[28], big ? 3 : 2);
  assert_int_equal(d[29] | d[30] | d[31], 0);
  uint32_t ext = get32(d + 32, big);
  for (int i = 36; i < 48; i++)
    assert_int_equal(d[i], 0);
  assert_true(nlibs <= max);
  uint64_t strings_at = 48 + (uint64_t) nlibs * 24;
  assert_true(strings_at + len_strings <= len);
  if (!ldconfig_made)
    assert_int_equal(d[strings_at + len_strings - 1], '\0');

  /* the extension directory and the glibc-hwcaps section */
  assert_int_equal(ext % 4, 0);
  assert_true(ext >= strings_at + len_strings && ext + 8 <= len);
  assert_int_equal(get32(d + ext, big), 0xeaa42174u);
  uint32_t count = get32(d + ext + 4, big);
  assert_true(ext + 8 + 16ull * count <= len);
  const char *hw = NULL;
  uint32_t nhw = 0;
  for (uint32_t i = 0; i < count; i++) {
    const char *s = d + ext + 8 + 16 * i;
    uint32_t off = get32(s + 8, big), size = get32(s + 12, big);
    assert_int_equal(get32(s + 4, big), 0);
    assert_true((uint64_t) off + size <= len);
    if (get32(s, big) == 1) {
      assert_int_equal(off % 4, 0);
      assert_int_equal(size % 4, 0);
      assert_true(size > 0);
      hw = d + off;
      nhw = size / 4;
    } else if (!ldconfig_made) {
      assert_int_equal(get32(s, big), 0);
      assert_int_equal(size, 7);
      assert_memory_equal(d + off, "distill", 7);
    }
  }
  for (uint32_t i = 0; i + 1 < nhw; i++) /* sorted, unique */
    assert_true(strcmp(get_string(d, len, get32(hw + 4 * i, big)), get_string(d, len, get32(hw + 4 * i + 4, big))) <
                0);

  for (uint32_t i = 0; i < nlibs; i++) {
    const char *p = d + 48 + 24 * i;
    e[i].flags = (int32_t) get32(p, big);
    e[i].key = get_string(d, len, get32(p + 4, big));
    e[i].value = get_string(d, len, get32(p + 8, big));
    if (!ldconfig_made) {
      assert_true(get32(p + 4, big) >= strings_at && get32(p + 4, big) < strings_at + len_strings);
      assert_true(get32(p + 8, big) >= strings_at && get32(p + 8, big) < strings_at + len_strings);
    }
    assert_int_equal(get32(p + 12, big), 0);
    e[i].hwcap = get64(p + 16, big);
    e[i].hwcaps = NULL;
    if (e[i].hwcap != 0) {
      assert_int_equal(e[i].hwcap >> 32 & ~(uint64_t) 0x3ff, HWCAP_EXTENSION >> 32);
      uint32_t idx = (uint32_t) e[i].hwcap;
      assert_true(idx < nhw);
      e[i].hwcaps = get_string(d, len, get32(hw + 4 * idx, big));
    }
  }
  return nlibs;
}

static void
build(const struct ldcache_entry *e, size_t n, bool big, struct buf *out)
{
  struct derror err = DERROR_INIT;
  int r = ldcache_build(e, n, big, out, &err);
  if (r < 0)
    fail_msg("ldcache_build: %s", err.msg);
}

static void
write_bytes(const char *path, const struct buf *b)
{
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fwrite(b->data, 1, b->len, f), b->len);
  assert_int_equal(fclose(f), 0);
}

/* Run a shell command, its stdout into `out`; returns its exit status. */
static int
capture(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
capture(struct buf *out, const char *fmt, ...)
{
  va_list ap;
  char *cmd, chunk[4096];
  size_t k;

  va_start(ap, fmt);
  assert_true(vasprintf(&cmd, fmt, ap) >= 0);
  va_end(ap);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  while ((k = fread(chunk, 1, sizeof chunk, p)) > 0)
    buf_append(out, chunk, k);
  if (out->data == NULL)
    buf_append(out, "", 0);
  int r = pclose(p);
  free(cmd);
  return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

/* ---- round trip through the project's reader ---------------------------- */

/* The cache of the tree at `dir` ("" for "/") through ldcache_load. */
static int
load_cache(const char *dir, struct ldcache *cache)
{
  struct view v;
  struct derror err = DERROR_INIT;
  view_host(&v, dir);
  int r = ldcache_load(&v, cache, &err);
  if (r < 0)
    fail_msg("ldcache_load: %s", err.msg);
  return r;
}

static void
test_round_trip(void **state)
{
  char *d = tl_tmpdir();
  struct ldcache cache;
  struct buf out = { 0 };
  struct strv names = { 0 }, paths = { 0 };
  const struct ldcache_entry fixed[] = {
    { "libfx.so.1", "/opt/x/lib/glibc-hwcaps/x86-64-v3/libfx.so.1", X86_64, "x86-64-v3" },
    { "libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", X86_64, NULL },
    { "libfoo.so.1", "/usr/local/lib/libfoo.so.1", X86_64, NULL },
    { "libfx.so.1", "/opt/x/lib/libfx.so.1", X86_64, NULL },
    { "libbar.so.2", "/usr/lib/i386-linux-gnu/libbar.so.2", I386, NULL },
    { "libfx.so.1", "/opt/x/lib/glibc-hwcaps/x86-64-v2/libfx.so.1", X86_64, "x86-64-v2" },
  };
  size_t nfixed = sizeof fixed / sizeof fixed[0], n = nfixed + 300;
  struct ldcache_entry *e = xcalloc(n, sizeof *e);

  memcpy(e, fixed, sizeof fixed);
  for (size_t i = nfixed; i < n; i++) {
    /* many names with numbers, so that the order matters */
    strv_push_take(&names, xasprintf("libgen%zu.so.%zu", i % 37, i));
    strv_push_take(&paths, xasprintf("/opt/gen%zu/lib/libgen%zu.so.%zu", i % 5, i % 37, i));
  }
  for (size_t i = nfixed; i < n; i++)
    e[i] = (struct ldcache_entry) { names.items[i - nfixed], paths.items[i - nfixed], X86_64, NULL };
  build(e, n, false, &out);
  cleanup_free char *path = xasprintf("%s/etc/ld.so.cache", d);
  assert_int_equal(tl_sh("mkdir -p '%s/etc'", d), 0);
  write_bytes(path, &out);

  assert_int_equal(load_cache(d, &cache), 1);
  assert_int_equal(cache.nlibs, n);
  for (size_t i = 0; i < n; i++) {
    if (e[i].hwcaps || e[i].flags != X86_64)
      continue;
    const char *v = ldcache_lookup(&cache, e[i].key, X86_64);
    assert_non_null(v);
    assert_string_equal(v, e[i].value);
  }
  /* the reader answers the ordinary entry, not the glibc-hwcaps ones */
  assert_string_equal(ldcache_lookup(&cache, "libfx.so.1", X86_64), "/opt/x/lib/libfx.so.1");
  assert_null(ldcache_lookup(&cache, "libbar.so.2", X86_64));
  assert_string_equal(ldcache_lookup(&cache, "libbar.so.2", I386), "/usr/lib/i386-linux-gnu/libbar.so.2");
  assert_null(ldcache_lookup(&cache, "libgen0.so.1", X86_64));
  ldcache_free(&cache);

  /* the decoder agrees, and strings are shared: each soname is the tail
   * of its path, so the table is no bigger than the paths and names of
   * the glibc-hwcaps subdirectories */
  struct dent *de = xcalloc(n, sizeof *de);
  assert_int_equal(decode(out.data, out.len, false, de, n, false), n);
  size_t paths_len = 0;
  for (size_t i = 0; i < n; i++)
    paths_len += strlen(e[i].value) + 1;
  uint32_t len_strings = get32(out.data + 24, false);
  assert_true(len_strings <= paths_len + strlen("x86-64-v2") + 1 + strlen("x86-64-v3") + 1);
  free(de);

  free(e);
  strv_free(&names);
  strv_free(&paths);
  buf_free(&out);
  tl_rmtree(d);
}

/* ---- the order the loader's binary search needs -------------------------- */

static void
test_numeric_order(void **state)
{
  /* in the order of the table: the loader's comparison, descending; a
   * run of digits is one number, greater than any other character */
  static const char *const expected[] = {
    "libfop.so.1",  "libfoo10.so.1", "libfoo9.so.1", "libfoo.so.100", "libfoo.so.10", "libfoo.so.9",
    "libfoo.so.2",  "libfoo.so.1.2", "libfoo.so.1",  "libfoo.so",     "libfoo-2.so.1", "liba.so.1",
  };
  static const size_t scramble[] = { 8, 4, 5, 0, 11, 2, 6, 10, 1, 3, 7, 9 };
  enum { N = sizeof expected / sizeof expected[0] };
  struct ldcache_entry e[N];
  struct dent de[N];
  struct buf out = { 0 };
  char *paths[N];

  for (size_t i = 0; i < N; i++) {
    paths[i] = xasprintf("/opt/x/lib/%s", expected[scramble[i]]);
    e[i] = (struct ldcache_entry) { expected[scramble[i]], paths[i], X86_64, NULL };
  }
  build(e, N, false, &out);
  assert_int_equal(decode(out.data, out.len, false, de, N, false), N);
  for (size_t i = 0; i < N; i++)
    assert_string_equal(de[i].key, expected[i]);
  for (size_t i = 0; i < N; i++)
    free(paths[i]);
  buf_free(&out);
}

/* Within one key: flags descending, glibc-hwcaps entries (by name)
 * before the ordinary one. */
static void
test_equal_keys_order(void **state)
{
  const struct ldcache_entry e[] = {
    { "libz.so.1", "/lib/i386/libz.so.1", I386, NULL },
    { "libz.so.1", "/lib/x/libz.so.1", X86_64, NULL },
    { "libz.so.1", "/lib/x/glibc-hwcaps/x86-64-v3/libz.so.1", X86_64, "x86-64-v3" },
    { "libz.so.1", "/lib/a64/libz.so.1", AARCH64, NULL },
    { "libz.so.1", "/lib/x/glibc-hwcaps/x86-64-v2/libz.so.1", X86_64, "x86-64-v2" },
  };
  static const char *const expected[] = {
    "/lib/a64/libz.so.1",
    "/lib/x/glibc-hwcaps/x86-64-v2/libz.so.1",
    "/lib/x/glibc-hwcaps/x86-64-v3/libz.so.1",
    "/lib/x/libz.so.1",
    "/lib/i386/libz.so.1",
  };
  struct dent de[5];
  struct buf out = { 0 };

  build(e, 5, false, &out);
  assert_int_equal(decode(out.data, out.len, false, de, 5, false), 5);
  for (size_t i = 0; i < 5; i++)
    assert_string_equal(de[i].value, expected[i]);
  assert_int_equal(de[1].hwcap, HWCAP_EXTENSION | 0);
  assert_int_equal(de[2].hwcap, HWCAP_EXTENSION | 1);
  assert_int_equal(de[3].hwcap, 0);
  buf_free(&out);
}

/* ---- determinism ------------------------------------------------------------ */

static void
test_deterministic(void **state)
{
  const struct ldcache_entry a[] = {
    { "libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", X86_64, NULL },
    { "libfx.so.1", "/opt/x/lib/libfx.so.1", X86_64, NULL },
    { "libfx.so.1", "/opt/x/lib/glibc-hwcaps/x86-64-v2/libfx.so.1", X86_64, "x86-64-v2" },
    { "libm.so.6", "/lib/x86_64-linux-gnu/libm.so.6", X86_64, NULL },
    { "libfoo.so.10", "/usr/local/lib/libfoo.so.10", X86_64, NULL },
    { "libfoo.so.9", "/usr/local/lib/libfoo.so.9", X86_64, NULL },
    { "libm.so.6", "/lib/i386-linux-gnu/libm.so.6", I386, NULL },
  };
  enum { N = sizeof a / sizeof a[0] };
  struct ldcache_entry b[N], c[N];
  struct buf ba = { 0 }, bb = { 0 }, bc = { 0 }, big_a = { 0 }, big_b = { 0 };

  for (size_t i = 0; i < N; i++) {
    b[i] = a[N - 1 - i];
    c[i] = a[(i * 3) % N];
  }
  build(a, N, false, &ba);
  build(b, N, false, &bb);
  build(c, N, false, &bc);
  assert_int_equal(ba.len, bb.len);
  assert_int_equal(ba.len, bc.len);
  assert_memory_equal(ba.data, bb.data, ba.len);
  assert_memory_equal(ba.data, bc.data, ba.len);
  build(a, N, true, &big_a);
  build(c, N, true, &big_b);
  assert_int_equal(big_a.len, big_b.len);
  assert_memory_equal(big_a.data, big_b.data, big_a.len);

  /* big-endian: the same entries in the same order, the order byte 3 */
  struct dent dl[N], db[N];
  assert_int_equal(decode(ba.data, ba.len, false, dl, N, false), N);
  assert_int_equal(decode(big_a.data, big_a.len, true, db, N, false), N);
  assert_int_equal(ba.len, big_a.len);
  for (size_t i = 0; i < N; i++) {
    assert_int_equal(dl[i].flags, db[i].flags);
    assert_string_equal(dl[i].key, db[i].key);
    assert_string_equal(dl[i].value, db[i].value);
    assert_int_equal(dl[i].hwcap, db[i].hwcap);
  }

  /* the result is appended to what `out` holds */
  struct buf pre = { 0 };
  buf_append(&pre, "xy", 2);
  build(a, N, false, &pre);
  assert_int_equal(pre.len, ba.len + 2);
  assert_memory_equal(pre.data + 2, ba.data, ba.len);

  buf_free(&ba);
  buf_free(&bb);
  buf_free(&bc);
  buf_free(&big_a);
  buf_free(&big_b);
  buf_free(&pre);
}

/* ---- refused --------------------------------------------------------------- */

static void
expect_refused(const struct ldcache_entry *e, size_t n, const char *msg)
{
  struct derror err = DERROR_INIT;
  struct buf out = { 0 };
  buf_append(&out, "keep", 4);
  assert_int_equal(ldcache_build(e, n, false, &out, &err), -1);
  assert_string_equal(err.msg, msg);
  assert_int_equal(out.len, 4);
  assert_memory_equal(out.data, "keep", 4);
  derror_clear(&err);
  buf_free(&out);
}

static void
test_refused(void **state)
{
  const struct ldcache_entry twice[] = {
    { "libfx.so.1", "/opt/x/lib/libfx.so.1", X86_64, NULL },
    { "libc.so.6", "/lib/libc.so.6", X86_64, NULL },
    { "libfx.so.1", "/opt/y/lib/libfx.so.1", X86_64, NULL },
  };
  expect_refused(twice, 3, "ld.so.cache: `libfx.so.1` (flags 0x303) listed twice, as `/opt/x/lib/libfx.so.1` and "
                           "`/opt/y/lib/libfx.so.1`");
  const struct ldcache_entry twice_hw[] = {
    { "libfx.so.1", "/opt/y/lib/glibc-hwcaps/x86-64-v2/libfx.so.1", X86_64, "x86-64-v2" },
    { "libfx.so.1", "/opt/x/lib/glibc-hwcaps/x86-64-v2/libfx.so.1", X86_64, "x86-64-v2" },
  };
  expect_refused(twice_hw, 2,
                 "ld.so.cache: `libfx.so.1` (flags 0x303, glibc-hwcaps x86-64-v2) listed twice, as "
                 "`/opt/x/lib/glibc-hwcaps/x86-64-v2/libfx.so.1` and `/opt/y/lib/glibc-hwcaps/x86-64-v2/libfx.so.1`");
  const struct ldcache_entry spellings[] = {
    { "libfx.so.1", "/opt/x/lib/libfx.so.1", X86_64, NULL },
    { "libfx.so.01", "/opt/x/lib/libfx.so.01", I386, NULL },
  };
  expect_refused(spellings, 2, "ld.so.cache: sonames `libfx.so.1` and `libfx.so.01` are the same name to the loader");
  const struct ldcache_entry relative[] = { { "libfx.so.1", "opt/x/lib/libfx.so.1", X86_64, NULL } };
  expect_refused(relative, 1, "`libfx.so.1`: ld.so.cache path `opt/x/lib/libfx.so.1` is not absolute");
  const struct ldcache_entry flags[] = { { "libfx.so.1", "/opt/x/lib/libfx.so.1", 0x0301, NULL } };
  expect_refused(flags, 1, "`libfx.so.1`: ld.so.cache flags 0x301 are not those of a glibc library");
  const struct ldcache_entry ascii[] = { { "libf\xc3\xa9.so.1", "/opt/x/lib/libfe.so.1", X86_64, NULL } };
  expect_refused(ascii, 1,
                 "`libf\xc3\xa9.so.1`: soname with a byte outside ASCII, which glibc's loaders order differently by "
                 "architecture");
  const struct ldcache_entry big[] = { { "libfx.so.2147483648", "/opt/x/lib/libfx.so.1", X86_64, NULL } };
  expect_refused(big, 1, "`libfx.so.2147483648`: soname with a number above what the loader compares");
  const struct ldcache_entry fits[] = { { "libfx.so.0002147483647", "/opt/x/lib/libfx.so.1", X86_64, NULL } };
  struct buf out = { 0 };
  build(fits, 1, false, &out);
  buf_free(&out);
  const struct ldcache_entry hw[] = { { "libfx.so.1", "/opt/x/lib/libfx.so.1", X86_64, "a/b" } };
  expect_refused(hw, 1, "`libfx.so.1`: `a/b` is not a glibc-hwcaps subdirectory name");
  const struct ldcache_entry nokey[] = { { "", "/opt/x/lib/libfx.so.1", X86_64, NULL } };
  expect_refused(nokey, 1, "ld.so.cache entry without a soname");
}

/* ---- glibc's ldconfig ------------------------------------------------------- */

static void
test_ldconfig_prints(void **state)
{
  if (access(LDCONFIG, X_OK) != 0)
    skip();
  char *d = tl_tmpdir();
  const struct ldcache_entry e[] = {
    { "libfx.so.1", "/opt/x/lib/libfx.so.1", X86_64, NULL },
    { "libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", X86_64, NULL },
    { "libfoo.so.9", "/usr/local/lib/libfoo.so.9", X86_64, NULL },
    { "libfoo.so.10", "/usr/local/lib/libfoo.so.10", X86_64, NULL },
    { "libfoo.so.1", "/usr/local/lib/libfoo.so.1", X86_64, NULL },
    { "libm.so.6", "/lib/i386-linux-gnu/libm.so.6", I386, NULL },
    { "libm.so.6", "/lib/aarch64-linux-gnu/libm.so.6", AARCH64, NULL },
  };
  struct buf out = { 0 }, printed = { 0 };
  cleanup_free char *path = xasprintf("%s/ld.so.cache", d);

  build(e, 7, false, &out);
  write_bytes(path, &out);
  assert_int_equal(capture(&printed, "LC_ALL=C " LDCONFIG " -p -C '%s'", path), 0);
  cleanup_free char *expected = xasprintf("7 libs found in cache `%s'\n"
                                          "\tlibm.so.6 (libc6,AArch64) => /lib/aarch64-linux-gnu/libm.so.6\n"
                                          "\tlibm.so.6 (libc6) => /lib/i386-linux-gnu/libm.so.6\n"
                                          "\tlibfx.so.1 (libc6,x86-64) => /opt/x/lib/libfx.so.1\n"
                                          "\tlibfoo.so.10 (libc6,x86-64) => /usr/local/lib/libfoo.so.10\n"
                                          "\tlibfoo.so.9 (libc6,x86-64) => /usr/local/lib/libfoo.so.9\n"
                                          "\tlibfoo.so.1 (libc6,x86-64) => /usr/local/lib/libfoo.so.1\n"
                                          "\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6\n"
                                          "Cache generated by: distill\n",
                                          path);
  assert_string_equal(printed.data, expected);

  /* big-endian: ldconfig on this little-endian machine refuses it by
   * the order byte */
  struct buf big = { 0 }, err_out = { 0 };
  build(e, 7, true, &big);
  write_bytes(path, &big);
  assert_int_not_equal(capture(&err_out, "LC_ALL=C " LDCONFIG " -p -C '%s' 2>&1", path), 0);
  assert_non_null(strstr(err_out.data, "wrong endianness"));

  buf_free(&out);
  buf_free(&printed);
  buf_free(&big);
  buf_free(&err_out);
  tl_rmtree(d);
}

static void
test_ldconfig_hwcaps(void **state)
{
  if (access(LDCONFIG, X_OK) != 0)
    skip();
  char *d = tl_tmpdir();
  const struct ldcache_entry e[] = {
    { "libfx.so.1", "/opt/x/lib/libfx.so.1", X86_64, NULL },
    { "libfx.so.1", "/opt/x/lib/glibc-hwcaps/x86-64-v2/libfx.so.1", X86_64, "x86-64-v2" },
  };
  struct buf out = { 0 }, printed = { 0 };
  cleanup_free char *path = xasprintf("%s/ld.so.cache", d);

  build(e, 2, false, &out);
  write_bytes(path, &out);
  assert_int_equal(capture(&printed, "LC_ALL=C " LDCONFIG " -p -C '%s'", path), 0);
  cleanup_free char *expected =
    xasprintf("2 libs found in cache `%s'\n"
              "\tlibfx.so.1 (libc6,x86-64, hwcap: \"x86-64-v2\") => /opt/x/lib/glibc-hwcaps/x86-64-v2/libfx.so.1\n"
              "\tlibfx.so.1 (libc6,x86-64) => /opt/x/lib/libfx.so.1\n"
              "Cache generated by: distill\n",
              path);
  assert_string_equal(printed.data, expected);
  buf_free(&out);
  buf_free(&printed);
  tl_rmtree(d);
}

/* The same libraries through glibc's ldconfig (in a chroot of its own,
 * -r) and through ldcache_build: the same entries in the same order. */
static void
test_same_order_as_ldconfig(void **state)
{
#if !defined(__x86_64__)
  skip();
#endif
  if (geteuid() != 0) {
    print_message("skipped: ldconfig -r needs root (chroot)\n");
    skip();
  }
  if (access(LDCONFIG, X_OK) != 0)
    skip();
  static const char *const sonames[] = {
    "libfoo.so.1", "libfoo.so.10", "libfoo.so.9", "libfoo.so.2",  "libfoo.so.100", "libfoo9.so.1",
    "libfoo10.so.1", "libfoo-2.so.1", "libfop.so.1", "liba.so.1", "libfoo.so.1.2", "libzz.so.0",
  };
  enum { N = sizeof sonames / sizeof sonames[0] };
  char *d = tl_tmpdir();
  struct buf ours = { 0 };

  assert_int_equal(tl_sh("mkdir -p '%s/etc' '%s/var/cache/ldconfig' '%s/opt/x/lib/glibc-hwcaps/x86-64-v2' "
                         "'%s/opt/x/lib/glibc-hwcaps/x86-64-v3' '%s/usr/local/lib'",
                         d, d, d, d, d),
                   0);
  for (size_t i = 0; i < N; i++) {
    cleanup_free char *lib = xasprintf("%s/%s/%s", d, i % 3 == 0 ? "usr/local/lib" : "opt/x/lib", sonames[i]);
    cleanup_free char *flags = xasprintf("-shared -fPIC -Wl,-soname,%s", sonames[i]);
    tl_cc(lib, "int f(void) { return 1; }\n", flags);
  }
  /* variants of two of them */
  assert_int_equal(tl_sh("cd '%s/opt/x/lib' && cp libfoo.so.9 glibc-hwcaps/x86-64-v2/ && cp libfoo.so.9 "
                         "glibc-hwcaps/x86-64-v3/ && cp libfop.so.1 glibc-hwcaps/x86-64-v3/",
                         d),
                   0);
  free(tl_write(d, "etc/ld.so.conf", "/opt/x/lib\n/usr/local/lib\n"));
  assert_int_equal(tl_sh(LDCONFIG " -X -r '%s' -C /etc/ld.so.cache -f /etc/ld.so.conf", d), 0);

  cleanup_free char *path = xasprintf("%s/etc/ld.so.cache", d);
  size_t len;
  char *theirs = tl_read(path, &len);
  struct dent want[N + 3], got[N + 3];
  size_t n = decode(theirs, len, false, want, N + 3, true);
  assert_int_equal(n, N + 3);

  /* theirs, reversed, through ldcache_build */
  struct ldcache_entry e[N + 3];
  for (size_t i = 0; i < n; i++)
    e[i] = (struct ldcache_entry) { want[n - 1 - i].key, want[n - 1 - i].value, want[n - 1 - i].flags,
                                    want[n - 1 - i].hwcaps };
  build(e, n, false, &ours);
  assert_int_equal(decode(ours.data, ours.len, false, got, N + 3, false), n);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(got[i].key, want[i].key);
    assert_string_equal(got[i].value, want[i].value);
    assert_int_equal(got[i].flags, want[i].flags);
    assert_int_equal(got[i].hwcap, want[i].hwcap);
  }
  /* the header's fields that do not depend on the string table */
  assert_memory_equal(ours.data, theirs, 24);
  assert_int_equal(ours.data[28], theirs[28]);
  free(theirs);
  buf_free(&ours);
  tl_rmtree(d);
}

/* ---- glibc's loader ------------------------------------------------------- */

/* The best glibc-hwcaps subdirectory of x86-64 the host's loader would
 * search, or NULL. */
static const char *
best_hwcaps(void)
{
  static const char *const levels[] = { "x86-64-v4", "x86-64-v3", "x86-64-v2" };
  struct buf help = { 0 };
  const char *best = NULL;

  capture(&help, "LC_ALL=C /lib64/ld-linux-x86-64.so.2 --help 2>/dev/null");
  for (size_t i = 0; !best && i < 3; i++) {
    cleanup_free char *line = xasprintf("  %s (supported, searched)\n", levels[i]);
    if (strstr(help.data, line))
      best = levels[i];
  }
  buf_free(&help);
  return best;
}

static void
test_real_loader(void **state)
{
#if !defined(__x86_64__)
  skip();
#endif
  if (geteuid() != 0) {
    print_message("skipped: chroot needs root\n");
    skip();
  }
  struct ldcache host_cache;
  if (load_cache("", &host_cache) != 1 || access("/lib64/ld-linux-x86-64.so.2", R_OK) != 0) {
    print_message("skipped: no x86-64 glibc on the host\n");
    skip();
  }
  const char *host_libc = ldcache_lookup(&host_cache, "libc.so.6", X86_64);
  cleanup_free char *libc = host_libc ? xstrdup(host_libc) : NULL;
  ldcache_free(&host_cache);
  if (libc == NULL) {
    print_message("skipped: no libc.so.6 in the host's cache\n");
    skip();
  }

  char *d = tl_tmpdir();
  cleanup_free char *libdir = path_dirname(libc);
  cleanup_free char *fx = xasprintf("%s/opt/x/lib/libfx.so.1", d);
  cleanup_free char *fx_dir = xasprintf("%s/opt/x/lib", d);
  cleanup_free char *prog = xasprintf("%s/prog", d);
  cleanup_free char *cache = xasprintf("%s/etc/ld.so.cache", d);
  struct buf run = { 0 }, trace = { 0 }, bytes = { 0 };

  assert_int_equal(tl_sh("mkdir -p '%s/lib64' '%s%s' '%s/etc' '%s/opt/x/lib/glibc-hwcaps/x86-64-v2' "
                         "'%s/opt/x/lib/glibc-hwcaps/x86-64-v3' '%s/opt/x/lib/glibc-hwcaps/x86-64-v4'",
                         d, d, libdir, d, d, d, d),
                   0);
  assert_int_equal(tl_sh("cp -L /lib64/ld-linux-x86-64.so.2 '%s/lib64/' && cp -L '%s' '%s%s'", d, libc, d, libc),
                   0);
  tl_cc(fx, "#include <stdio.h>\nvoid fx(void) { puts(\"fx baseline\"); }\n",
        "-shared -fPIC -Wl,-soname,libfx.so.1");
  static const char *const levels[] = { "x86-64-v2", "x86-64-v3", "x86-64-v4" };
  for (size_t i = 0; i < 3; i++) {
    cleanup_free char *variant = xasprintf("%s/opt/x/lib/glibc-hwcaps/%s/libfx.so.1", d, levels[i]);
    cleanup_free char *src = xasprintf("#include <stdio.h>\nvoid fx(void) { puts(\"fx %s\"); }\n", levels[i]);
    tl_cc(variant, src, "-shared -fPIC -Wl,-soname,libfx.so.1");
  }
  /* linked against libfx.so.1 without any rpath or runpath */
  cleanup_free char *link = xasprintf("-L'%s' -l:libfx.so.1", fx_dir);
  tl_cc(prog, "void fx(void);\nint main(void) { fx(); return 0; }\n", link);
  assert_int_not_equal(tl_sh("readelf -d '%s' | grep -q 'RPATH\\|RUNPATH'", prog), 0);

  /* Without a cache, the loader does not look in /opt/x/lib. */
  assert_int_not_equal(capture(&run, "env -u LD_LIBRARY_PATH -u LD_PRELOAD chroot '%s' /prog 2>&1", d), 0);
  assert_non_null(strstr(run.data, "libfx.so.1: cannot open shared object file"));
  buf_free(&run);

  /* With ours: libc, libfx and names near libfx's, and many others so
   * that the binary search takes several steps. */
  struct strv names = { 0 }, paths = { 0 };
  const struct ldcache_entry fixed[] = {
    { "libc.so.6", libc, X86_64, NULL },
    { "libfx.so.1", "/opt/x/lib/libfx.so.1", X86_64, NULL },
    { "libfx.so.10", "/nonexistent/libfx.so.10", X86_64, NULL },
    { "libfx.so.9", "/nonexistent/libfx.so.9", X86_64, NULL },
    { "libfx.so.2", "/nonexistent/libfx.so.2", X86_64, NULL },
    { "libfx.so.1.1", "/nonexistent/libfx.so.1.1", X86_64, NULL },
    { "libfx.so", "/nonexistent/libfx.so", X86_64, NULL },
    { "libfx.so.1", "/nonexistent/i386/libfx.so.1", I386, NULL },
  };
  size_t nfixed = sizeof fixed / sizeof fixed[0], n = nfixed + 200;
  struct ldcache_entry *e = xcalloc(n + 3, sizeof *e);
  memcpy(e, fixed, sizeof fixed);
  for (size_t i = 0; i < 200; i++) {
    strv_push_take(&names, xasprintf("lib%c%zu.so.%zu", (char) ('a' + i % 26), i, i % 13));
    strv_push_take(&paths, xasprintf("/nonexistent/lib%zu.so", i));
  }
  for (size_t i = 0; i < 200; i++)
    e[nfixed + i] = (struct ldcache_entry) { names.items[i], paths.items[i], X86_64, NULL };
  build(e, n, false, &bytes);
  write_bytes(cache, &bytes);
  buf_free(&bytes);
  assert_int_equal(capture(&run, "env -u LD_LIBRARY_PATH -u LD_PRELOAD chroot '%s' /prog", d), 0);
  assert_string_equal(run.data, "fx baseline\n");
  buf_free(&run);
  /* and it was the cache that gave the path */
  assert_int_equal(capture(&trace, "env -u LD_LIBRARY_PATH -u LD_PRELOAD LD_DEBUG=libs chroot '%s' /prog 2>&1", d), 0);
  assert_non_null(strstr(trace.data, "search cache=/etc/ld.so.cache"));
  assert_non_null(strstr(trace.data, "trying file=/opt/x/lib/libfx.so.1\n"));
  buf_free(&trace);

  /* With glibc-hwcaps entries too: the loader takes the best variant the
   * CPU supports through the extension section. */
  for (size_t i = 0; i < 3; i++) {
    cleanup_free char *variant = xasprintf("/opt/x/lib/glibc-hwcaps/%s/libfx.so.1", levels[i]);
    strv_push(&paths, variant);
    e[n + i] = (struct ldcache_entry) { "libfx.so.1", paths.items[paths.n - 1], X86_64, levels[i] };
  }
  build(e, n + 3, false, &bytes);
  write_bytes(cache, &bytes);
  buf_free(&bytes);
  const char *best = best_hwcaps();
  cleanup_free char *want = xasprintf("fx %s\n", best ? best : "baseline");
  assert_int_equal(capture(&run, "env -u LD_LIBRARY_PATH -u LD_PRELOAD chroot '%s' /prog", d), 0);
  assert_string_equal(run.data, want);
  print_message("glibc-hwcaps: the loader chose %s", want);
  buf_free(&run);

  free(e);
  strv_free(&names);
  strv_free(&paths);
  tl_rmtree(d);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_numeric_order),
    cmocka_unit_test(test_equal_keys_order),
    cmocka_unit_test(test_deterministic),
    cmocka_unit_test(test_refused),
    cmocka_unit_test(test_ldconfig_prints),
    cmocka_unit_test(test_ldconfig_hwcaps),
    cmocka_unit_test(test_same_order_as_ldconfig),
    cmocka_unit_test(test_real_loader),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
