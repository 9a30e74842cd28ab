#include "testlib.h"

#include "plan/hwcaps.h"

#include <elf.h>

static const struct hwcaps_target x86_64_236 = { EM_X86_64, ELFCLASS64, ELFDATA2LSB, 0, 2, 36 };

static struct strv
subdirs(struct hwcaps_target t)
{
  struct strv v = { 0 };
  hwcaps_subdirs(&t, &v);
  return v;
}

static struct strv
platforms(struct hwcaps_target t)
{
  struct strv v = { 0 };
  hwcaps_platforms(&t, &v);
  return v;
}

static ssize_t
index_of(const struct strv *v, const char *s)
{
  for (size_t i = 0; i < v->n; i++)
    if (strcmp(v->items[i], s) == 0)
      return (ssize_t) i;
  return -1;
}

/* `v` holds exactly `want`, in that order. */
static void
assert_list(const struct strv *v, const char *const *want, size_t n)
{
  for (size_t i = 0; i < n && i < v->n; i++)
    assert_string_equal(v->items[i], want[i]);
  assert_int_equal(v->n, n);
}
#define ASSERT_LIST(v, ...) \
  do { \
    static const char *const want_[] = { __VA_ARGS__ }; \
    assert_list(v, want_, sizeof want_ / sizeof want_[0]); \
  } while (0)

/* One CPU's own list (without its duplicates) is found in `v`, in its order. */
static void
assert_in_order(const struct strv *v, const char *const *cpu, size_t n)
{
  ssize_t last = -1;

  for (size_t i = 0; i < n; i++) {
    ssize_t at = index_of(v, cpu[i]);
    if (at < 0)
      fail_msg("`%s` is missing", cpu[i]);
    if (at <= last)
      fail_msg("`%s` is out of order", cpu[i]);
    last = at;
  }
}

static void
assert_no_duplicates(const struct strv *v)
{
  for (size_t i = 0; i < v->n; i++)
    assert_int_equal(index_of(v, v->items[i]), (ssize_t) i);
}

static void
test_x86_64_2_36(void **state)
{
  struct strv v = subdirs(x86_64_236);
  /* An Intel CPU with AVX-512 (platform haswell, names x86_64, avx512_1),
   * as _dl_important_hwcaps of 2.36 orders its power set. */
  static const char *const skylake_x[] = {
    "glibc-hwcaps/x86-64-v4", "glibc-hwcaps/x86-64-v3", "glibc-hwcaps/x86-64-v2",
    "tls/haswell/avx512_1/x86_64", "tls/haswell/avx512_1", "tls/haswell/x86_64", "tls/haswell",
    "tls/avx512_1/x86_64", "tls/avx512_1", "tls/x86_64", "tls",
    "haswell/avx512_1/x86_64", "haswell/avx512_1", "haswell/x86_64", "haswell",
    "avx512_1/x86_64", "avx512_1", "x86_64",
  };
  /* An AMD CPU, as this machine's loader prints it (LD_DEBUG=libs). */
  static const char *const amd[] = {
    "glibc-hwcaps/x86-64-v3", "glibc-hwcaps/x86-64-v2", "tls/x86_64/x86_64", "tls/x86_64", "tls",
    "x86_64/x86_64", "x86_64",
  };
  static const char *const knights_landing[] = {
    "tls/xeon_phi/x86_64", "tls/xeon_phi", "tls/x86_64", "tls", "xeon_phi/x86_64", "xeon_phi", "x86_64",
  };

  /* glibc-hwcaps first, before any legacy directory */
  assert_string_equal(v.items[0], "glibc-hwcaps/x86-64-v4");
  assert_string_equal(v.items[1], "glibc-hwcaps/x86-64-v3");
  assert_string_equal(v.items[2], "glibc-hwcaps/x86-64-v2");
  assert_in_order(&v, skylake_x, sizeof skylake_x / sizeof skylake_x[0]);
  assert_in_order(&v, amd, sizeof amd / sizeof amd[0]);
  assert_in_order(&v, knights_landing, sizeof knights_landing / sizeof knights_landing[0]);
  assert_no_duplicates(&v);
  /* xeon_phi never comes with avx512_1; the directory itself is not listed */
  assert_int_equal(index_of(&v, "xeon_phi/avx512_1"), -1);
  assert_int_equal(index_of(&v, ""), -1);
  strv_free(&v);
}

static void
test_x86_64_other_versions(void **state)
{
  struct hwcaps_target t = x86_64_236;

  t.glibc_minor = 37; /* legacy directories removed */
  struct strv v = subdirs(t);
  ASSERT_LIST(&v, "glibc-hwcaps/x86-64-v4", "glibc-hwcaps/x86-64-v3", "glibc-hwcaps/x86-64-v2");
  strv_free(&v);

  t.glibc_minor = 32; /* before glibc-hwcaps */
  v = subdirs(t);
  assert_int_equal(index_of(&v, "glibc-hwcaps/x86-64-v3"), -1);
  assert_int_not_equal(index_of(&v, "tls/haswell/avx512_1/x86_64"), -1);
  strv_free(&v);

  t.glibc_minor = 26; /* no "x86_64" name, no platform unless Intel */
  v = subdirs(t);
  for (size_t i = 0; i < v.n; i++)
    assert_null(strstr(v.items[i], "x86_64"));
  assert_int_not_equal(index_of(&v, "haswell/avx512_1"), -1);
  strv_free(&v);

  t.glibc_minor = 25; /* the kernel's platform, no important hwcaps */
  v = subdirs(t);
  ASSERT_LIST(&v, "tls/x86_64", "tls", "x86_64");
  strv_free(&v);
}

static void
test_x86_64_unknown_version(void **state)
{
  struct hwcaps_target t = x86_64_236;

  t.glibc_major = t.glibc_minor = 0;
  struct strv v = subdirs(t), known = subdirs(x86_64_236);
  assert_string_equal(v.items[0], "glibc-hwcaps/x86-64-v4");
  /* a superset of every version's list */
  for (size_t i = 0; i < known.n; i++)
    assert_int_not_equal(index_of(&v, known.items[i]), -1);
  assert_int_not_equal(index_of(&v, "tls/haswell"), -1);
  assert_no_duplicates(&v);
  strv_free(&v);
  strv_free(&known);
}

static void
test_aarch64(void **state)
{
  struct hwcaps_target t = { EM_AARCH64, ELFCLASS64, ELFDATA2LSB, 0, 2, 36 };
  struct strv v = subdirs(t);
  ASSERT_LIST(&v, "tls/aarch64/atomics", "tls/aarch64", "tls/atomics", "tls", "aarch64/atomics", "aarch64",
              "atomics");
  strv_free(&v);

  t.glibc_minor = 38; /* no glibc-hwcaps names on aarch64, no legacy */
  v = subdirs(t);
  assert_int_equal(v.n, 0);
  strv_free(&v);

  t.glibc_minor = 27; /* "atomics" became important in 2.28 */
  t.data = ELFDATA2MSB;
  v = subdirs(t);
  ASSERT_LIST(&v, "tls/aarch64_be", "tls", "aarch64_be");
  strv_free(&v);
}

static void
test_other_architectures(void **state)
{
  struct strv v = subdirs((struct hwcaps_target){ EM_PPC64, ELFCLASS64, ELFDATA2LSB, 0, 2, 36 });
  assert_string_equal(v.items[0], "glibc-hwcaps/power10");
  assert_string_equal(v.items[1], "glibc-hwcaps/power9");
  assert_string_equal(v.items[2], "tls/power8/altivec/dfp");
  assert_int_equal(index_of(&v, "power4"), -1);
  strv_free(&v);

  v = subdirs((struct hwcaps_target){ EM_S390, ELFCLASS64, ELFDATA2MSB, 0, 2, 35 });
  assert_string_equal(v.items[0], "glibc-hwcaps/z15");
  assert_int_not_equal(index_of(&v, "tls/z15/vxe2/vxe/vx/dfp/eimm/ldisp/zarch"), -1);
  assert_int_equal(index_of(&v, "z13/vxe"), -1); /* vxe came with z14 */
  assert_no_duplicates(&v);
  strv_free(&v);
  v = subdirs((struct hwcaps_target){ EM_S390, ELFCLASS64, ELFDATA2MSB, 0, 2, 36 });
  assert_string_equal(v.items[0], "glibc-hwcaps/z16");
  strv_free(&v);
  v = subdirs((struct hwcaps_target){ EM_S390, ELFCLASS64, ELFDATA2MSB, 0, 2, 42 });
  ASSERT_LIST(&v, "glibc-hwcaps/z17", "glibc-hwcaps/z16", "glibc-hwcaps/z15", "glibc-hwcaps/z14",
              "glibc-hwcaps/z13");
  strv_free(&v);

  v = subdirs((struct hwcaps_target){ EM_RISCV, ELFCLASS64, ELFDATA2LSB, 0, 2, 36 });
  ASSERT_LIST(&v, "tls");
  strv_free(&v);
  v = platforms((struct hwcaps_target){ EM_RISCV, ELFCLASS64, ELFDATA2LSB, 0, 2, 36 });
  assert_int_equal(v.n, 0);
  strv_free(&v);
}

static void
test_platforms(void **state)
{
  struct strv v = platforms(x86_64_236);
  ASSERT_LIST(&v, "x86_64", "haswell", "xeon_phi");
  strv_free(&v);
  struct hwcaps_target t = x86_64_236;
  t.glibc_minor = 38; /* legacy directories gone, $PLATFORM unchanged */
  v = platforms(t);
  ASSERT_LIST(&v, "x86_64", "haswell", "xeon_phi");
  strv_free(&v);

  v = platforms((struct hwcaps_target){ EM_386, ELFCLASS32, ELFDATA2LSB, 0, 2, 36 });
  ASSERT_LIST(&v, "i386", "i486", "i586", "i686");
  strv_free(&v);

  v = platforms((struct hwcaps_target){ EM_ARM, ELFCLASS32, ELFDATA2LSB, 0x5000400, 2, 36 });
  ASSERT_LIST(&v, "v5l", "v6l", "v7l", "v8l"); /* hard float: a VFP, so no v4 */
  strv_free(&v);
  v = platforms((struct hwcaps_target){ EM_ARM, ELFCLASS32, ELFDATA2LSB, 0x5000200, 2, 36 });
  assert_string_equal(v.items[0], "v4l");
  strv_free(&v);

  v = platforms((struct hwcaps_target){ EM_PPC64, ELFCLASS64, ELFDATA2LSB, 0, 0, 0 });
  ASSERT_LIST(&v, "power8", "power9", "power10", "power11", "power12");
  strv_free(&v);
}

static void
test_i386_nosegneg(void **state)
{
  struct strv v = subdirs((struct hwcaps_target){ EM_386, ELFCLASS32, ELFDATA2LSB, 0, 2, 31 });
  assert_string_equal(v.items[0], "tls/i686/sse2/nosegneg");
  assert_int_not_equal(index_of(&v, "i686/nosegneg"), -1);
  strv_free(&v);
  v = subdirs((struct hwcaps_target){ EM_386, ELFCLASS32, ELFDATA2LSB, 0, 2, 32 });
  assert_string_equal(v.items[0], "tls/i686/sse2");
  assert_int_equal(index_of(&v, "i686/nosegneg"), -1);
  strv_free(&v);
}

/* ---- the version banner ------------------------------------------------ */

/* The version `ldd --version` prints last on its first line. */
static bool
ldd_version(int *major, int *minor)
{
  char line[512];
  FILE *p = popen("ldd --version 2>/dev/null", "r");
  bool ok = false;

  if (p == NULL)
    return false;
  if (fgets(line, sizeof line, p)) {
    line[strcspn(line, "\n")] = '\0';
    const char *last = strrchr(line, ' ');
    ok = last && sscanf(last + 1, "%d.%d", major, minor) == 2;
  }
  pclose(p);
  return ok;
}

static void
test_version_of_host_glibc(void **state)
{
  static const char *const files[] = { "/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6" };
  int want_major, want_minor;

  if (access(files[0], R_OK) != 0 || access(files[1], R_OK) != 0 || !ldd_version(&want_major, &want_minor))
    skip();
  for (size_t i = 0; i < 2; i++) {
    struct derror err = DERROR_INIT;
    int major = -1, minor = -1;
    assert_int_equal(hwcaps_glibc_version(files[i], &major, &minor, &err), 0);
    assert_int_equal(major, want_major);
    assert_int_equal(minor, want_minor);
  }
}

static void
test_version_absent_or_split(void **state)
{
  char *d = tl_tmpdir();
  struct derror err = DERROR_INIT;
  int major = 0, minor = 0;

  char *plain = tl_write(d, "plain", "no banner here; release version of nothing\n");
  assert_int_equal(hwcaps_glibc_version(plain, &major, &minor, &err), -1);
  assert_non_null(err.msg);
  derror_clear(&err);
  assert_int_equal(hwcaps_glibc_version("/nonexistent/libc.so.6", &major, &minor, &err), -1);
  derror_clear(&err);

  /* The banner across the scanner's 64 KiB chunks, at every offset near it. */
  for (size_t shift = 0; shift < 40; shift++) {
    size_t pad = 65536 - 30 + shift;
    char *text = xmalloc(pad + 64);
    memset(text, 'x', pad);
    strcpy(text + pad, "stable release version 2.31.\n");
    char *split = tl_write(d, "split", text);
    major = minor = 0;
    assert_int_equal(hwcaps_glibc_version(split, &major, &minor, &err), 0);
    assert_int_equal(major, 2);
    assert_int_equal(minor, 31);
    free(split);
    free(text);
  }
  free(plain);
  tl_rmtree(d);
}

/* This machine's own loader, when it is x86-64: its legacy search for an
 * LD_LIBRARY_PATH directory, as LD_DEBUG prints it, is in our list and in
 * our order. */
static void
test_host_loader_order(void **state)
{
#ifdef __x86_64__
  struct hwcaps_target t = x86_64_236;
  struct derror err = DERROR_INIT;
  char line[8192];
  const char *dir = "/nonexistent-distill-hwcaps";
  struct strv seen = { 0 };

  if (hwcaps_glibc_version("/lib/x86_64-linux-gnu/libc.so.6", &t.glibc_major, &t.glibc_minor, &err) != 0) {
    derror_clear(&err);
    skip();
  }
  char *cmd = xasprintf("LD_LIBRARY_PATH=%s LD_DEBUG=libs /bin/true 2>&1", dir);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  while (fgets(line, sizeof line, p))
    if (strstr(line, "(LD_LIBRARY_PATH)") && seen.n == 0)
      for (char *tok = strstr(line, "search path=") + 12; tok && *tok == '/'; ) {
        char *end = tok + strcspn(tok, ":\t\n");
        char saved = *end;
        *end = '\0';
        if (strncmp(tok, dir, strlen(dir)) == 0 && tok[strlen(dir)] == '/'
            && !strv_contains(&seen, tok + strlen(dir) + 1))
          strv_push(&seen, tok + strlen(dir) + 1);
        tok = saved == ':' ? end + 1 : NULL;
      }
  pclose(p);
  free(cmd);
  assert_true(seen.n > 0);
  struct strv v = subdirs(t);
  assert_in_order(&v, (const char *const *) seen.items, seen.n);
  strv_free(&v);
  strv_free(&seen);
#else
  skip();
#endif
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_x86_64_2_36),
    cmocka_unit_test(test_x86_64_other_versions),
    cmocka_unit_test(test_x86_64_unknown_version),
    cmocka_unit_test(test_aarch64),
    cmocka_unit_test(test_other_architectures),
    cmocka_unit_test(test_platforms),
    cmocka_unit_test(test_i386_nosegneg),
    cmocka_unit_test(test_version_of_host_glibc),
    cmocka_unit_test(test_version_absent_or_split),
    cmocka_unit_test(test_host_loader_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
