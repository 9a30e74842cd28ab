#include "testlib.h"

#include "image/scan.h"
#include "lib/alloc.h"

static const struct {
  const char *needle, *what;
  unsigned mark;
} cases[] = {
  { "BusyBox v1.35.0", "busybox", IMAGE_MARK_SHELL },
  { "Toybox 0.8.9", "toybox", IMAGE_MARK_SHELL },
  { "GNU bash, version 5.2", "bash", IMAGE_MARK_SHELL },
  { "Usage: getopts optstring var [arg...]", "dash", IMAGE_MARK_SHELL },
  { "ZSH_VERSION", "zsh", IMAGE_MARK_SHELL },
  { "KSH_VERSION", "ksh", IMAGE_MARK_SHELL },
  { "Debian `dpkg' package management program", "dpkg", IMAGE_MARK_PACKAGE_MANAGER },
  { "apt-get is a command line interface", "apt-get", IMAGE_MARK_PACKAGE_MANAGER },
  { "RPM version %s", "rpm", IMAGE_MARK_PACKAGE_MANAGER },
  { "apk-tools 2.14", "apk", IMAGE_MARK_PACKAGE_MANAGER },
};

/* An ELF-looking buffer of `n` bytes: code-like noise, text that nearly
 * matches, and `needle` at `at` (none when NULL). */
static char *
elf_with(const char *needle, size_t at, size_t n)
{
  char *b = xmalloc(n);
  uint32_t x = 88172645u;

  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b[i] = (char) (i % 5000 < 40 ? "BusyBo GNU bas ZSH_VERSIO apt-ge RPM versio "[i % 44] : (char) x);
  }
  memcpy(b, "\177ELF", 4);
  if (needle)
    memcpy(b + at, needle, strlen(needle));
  return b;
}

static struct scan
scan_in_pieces(const char *b, size_t n, size_t piece)
{
  struct scan s;

  scan_init(&s);
  for (size_t i = 0; i < n; i += piece)
    scan_chunk(&s, b + i, n - i < piece ? n - i : piece);
  return s;
}

static void
test_every_signature_anywhere(void **state)
{
  const size_t n = 300000, pieces[] = { 1, 7, 4096, 65536, 300000 };

  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    size_t len = strlen(cases[c].needle);
    /* the ends, a piece's seam, and across the middle of a piece and of the
     * whole, where the search splits in two */
    const size_t ats[] = { 4, 4093, 65530, n - len, 32768 - len, 32768 - len / 2, 32767, 98304 - 3,
                           n / 2 - len, n / 2 - len + 1, n / 2 - 3, n / 2, n / 2 + 1 };
    for (size_t a = 0; a < sizeof ats / sizeof *ats; a++) {
      cleanup_free char *b = elf_with(cases[c].needle, ats[a], n);
      for (size_t p = 0; p < sizeof pieces / sizeof *pieces; p++) {
        struct scan s = scan_in_pieces(b, n, pieces[p]);
        if (s.what == NULL || strcmp(s.what, cases[c].what) != 0)
          fail_msg("%s at %zu in pieces of %zu: found %s", cases[c].needle, ats[a], pieces[p],
                   s.what ? s.what : "nothing");
        assert_true(s.marks & IMAGE_MARK_ELF);
        assert_true(s.marks & cases[c].mark);
      }
    }
  }
}

/* Two signatures: the one that starts first is the one found, whichever
 * half of the text it is in. */
static void
test_earliest_wins(void **state)
{
  const size_t n = 300000;
  const size_t places[][2] = { { 100000, 200000 }, { 200000, 100000 }, { 10, 20 }, { 149990, 150001 },
                               { 150001, 149990 } };

  for (size_t k = 0; k < sizeof places / sizeof *places; k++) {
    cleanup_free char *b = elf_with("BusyBox v1", places[k][0], n);
    memcpy(b + places[k][1], "ZSH_VERSION", 11);
    struct scan s = scan_in_pieces(b, n, n);
    assert_non_null(s.what);
    assert_string_equal(s.what, places[k][0] < places[k][1] ? "busybox" : "zsh");
  }
}

/* A library's scan in pieces of `piece` bytes, with `code` left out. */
static struct scan
scan_skipping(const char *b, size_t n, size_t piece, const struct elf_range *code, size_t n_code)
{
  struct scan s;

  scan_begin(&s, "/usr/lib/libx.so");
  scan_skip(&s, code, n_code);
  for (size_t i = 0; i < n; i += piece)
    scan_chunk(&s, b + i, n - i < piece ? n - i : piece);
  scan_finish(&s);
  return s;
}

/* Ranges left out (an ELF object's machine code): what is inside is not
 * found, nor a needle that starts before one and ends after it; what is
 * outside is found, with the file's offsets. */
static void
test_skip(void **state)
{
  const size_t n = 300000;
  const struct elf_range code[] = { { 1000, 50000 }, { 100000, 20000 } };
  const size_t pieces[] = { 7, 4096, 300000 };

  for (size_t p = 0; p < sizeof pieces / sizeof *pieces; p++) {
    /* inside a range; across the end of one ("Busy" in it, "Box v1" after) */
    cleanup_free char *inside = elf_with("BusyBox v1", 20000, n), *across = elf_with("BusyBox v1", 51000 - 4, n);
    assert_null(scan_skipping(inside, n, pieces[p], code, 2).what);
    assert_null(scan_skipping(across, n, pieces[p], code, 2).what);
    assert_non_null(scan_skipping(inside, n, pieces[p], NULL, 0).what);
    /* between and after the ranges: found */
    const size_t outside[] = { 60000, 120000, n - 20 };
    for (size_t k = 0; k < 3; k++) {
      cleanup_free char *d = elf_with("GNU bash, version 5", outside[k], n);
      struct scan s = scan_skipping(d, n, pieces[p], code, 2);
      assert_non_null(s.what);
      assert_string_equal(s.what, "bash");
    }
  }
}

static void
test_nothing_in_near_misses(void **state)
{
  cleanup_free char *b = elf_with(NULL, 0, 300000);
  struct scan s = scan_in_pieces(b, 300000, 4096);

  assert_null(s.what);
  assert_int_equal(s.marks, IMAGE_MARK_ELF);
  /* a signature cut short at the very end is not one */
  memcpy(b + 300000 - 8, "BusyBox ", 8);
  s = scan_in_pieces(b, 300000, 300000);
  assert_null(s.what);
}

static void
test_signatures_only_in_elf(void **state)
{
  const char text[] = "#!/bin/sh\necho BusyBox v1.0 GNU bash, version 5\n";
  struct scan s = scan_in_pieces(text, sizeof text - 1, 5);

  assert_null(s.what);
  assert_int_equal(s.marks, 0);
}

static void
test_private_keys(void **state)
{
  const char pem[] = "comment\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n";
  const char cert[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  struct scan s = scan_in_pieces(pem, sizeof pem - 1, 3);

  assert_true(s.marks & IMAGE_MARK_PRIVATE_KEY);
  s = scan_in_pieces(cert, sizeof cert - 1, 4096);
  assert_false(s.marks & IMAGE_MARK_PRIVATE_KEY);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_every_signature_anywhere),
    cmocka_unit_test(test_earliest_wins),
    cmocka_unit_test(test_skip),
    cmocka_unit_test(test_nothing_in_near_misses),
    cmocka_unit_test(test_signatures_only_in_elf),
    cmocka_unit_test(test_private_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
