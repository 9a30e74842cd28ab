#include "testlib.h"

#include "plan/elf.h"

#include <elf.h>

static const char hello[] = "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n";

static void
test_dynamic_program(void **state)
{
  struct elf_info info;
  struct derror err = DERROR_INIT;

  /* A real binary of this machine. */
  assert_int_equal(elf_read("/usr/bin/curl", "/usr/bin/curl", &info, &err), 0);
  assert_int_equal(info.elf_class, ELFCLASS64);
  assert_non_null(info.interp);
  assert_true(strv_contains(&info.needed, "libcurl.so.4"));
  assert_true(strv_contains(&info.needed, "libc.so.6"));
  assert_false(elf_is_static(&info));
  const char *variant;
  assert_string_equal(elf_oci_arch(&info, &variant), "amd64");
  assert_string_equal(elf_multiarch(&info), "x86_64-linux-gnu");
  elf_info_free(&info);
}

static void
test_fixtures(void **state)
{
  char *dir = tl_tmpdir();
  cleanup_free char *stat_prog = xasprintf("%s/static", dir);
  cleanup_free char *pie = xasprintf("%s/static-pie", dir);
  cleanup_free char *lib = xasprintf("%s/libx.so", dir);
  struct elf_info info;
  struct derror err = DERROR_INIT;

  tl_cc(stat_prog, hello, "-static");
  tl_cc(pie, hello, "-static-pie");
  tl_cc(lib, "int x(void) { return 1; }\n",
        "-shared -fPIC -Wl,-soname,libx.so.1 -Wl,-rpath,'$ORIGIN/../lib' -Wl,--enable-new-dtags");

  assert_int_equal(elf_read(stat_prog, "static", &info, &err), 0);
  assert_true(elf_is_static(&info));
  assert_false(info.dynamic);
  elf_info_free(&info);

  assert_int_equal(elf_read(pie, "static-pie", &info, &err), 0);
  assert_true(elf_is_static(&info));
  assert_true(info.dynamic);
  assert_int_equal(info.type, ET_DYN);
  elf_info_free(&info);

  assert_int_equal(elf_read(lib, "libx.so", &info, &err), 0);
  assert_string_equal(info.soname, "libx.so.1");
  assert_string_equal(info.runpath, "$ORIGIN/../lib");
  assert_null(info.rpath);
  assert_null(info.interp);
  elf_info_free(&info);
  tl_rmtree(dir);
}

/* The machine code of a program gcc built: its executable sections as
 * readelf lists them, merged, and the text the program prints not among
 * them; nothing for a file that is no ELF object or has no section
 * headers left. */
static void
test_code_ranges(void **state)
{
  char *dir = tl_tmpdir();
  cleanup_free char *prog = xasprintf("%s/prog", dir), *bare = xasprintf("%s/bare", dir);
  cleanup_free char *text = xasprintf("%s/text", dir);
  struct elf_range *r = NULL;

  tl_cc(prog, "#include <stdio.h>\nint main(void) { puts(\"a string in rodata\"); return 0; }\n", "-O2");
  size_t n = elf_code_ranges(prog, &r);
  assert_true(n >= 1);
  /* every SHF_EXECINSTR section of readelf's listing is inside a range */
  cleanup_free char *listing = xasprintf("%s/sections", dir);
  assert_int_equal(tl_sh("readelf -SW '%s' | sed -n 's/^ *\\[ *[0-9]*\\] *//p' | awk '$2 == \"PROGBITS\" "
                         "&& $7 ~ /X/ {print $4, $5}' >'%s'", prog, listing), 0);
  size_t len;
  cleanup_free char *sections = tl_read(listing, &len);
  size_t seen = 0;
  for (char *line = strtok(sections, "\n"); line; line = strtok(NULL, "\n")) {
    unsigned long long off, size;
    assert_int_equal(sscanf(line, "%llx %llx", &off, &size), 2);
    bool inside = false;
    for (size_t i = 0; i < n; i++)
      inside |= r[i].at <= off && off + size <= r[i].at + r[i].len;
    assert_true(inside);
    seen++;
  }
  assert_true(seen >= 1);
  /* in order, apart, and the string constant is in none */
  cleanup_free char *bytes = tl_read(prog, &len);
  const char *str = memmem(bytes, len, "a string in rodata", 18);
  assert_non_null(str);
  uint64_t at = (uint64_t) (str - bytes);
  for (size_t i = 0; i < n; i++) {
    assert_false(r[i].at <= at && at < r[i].at + r[i].len);
    assert_true(r[i].at + r[i].len <= len);
    if (i)
      assert_true(r[i - 1].at + r[i - 1].len < r[i].at);
  }
  free(r);
  /* no section headers: e_shoff, e_shnum and e_shstrndx of the ELF64 header zeroed */
  assert_int_equal(tl_sh("cp '%s' '%s' && dd if=/dev/zero of='%s' bs=1 seek=40 count=8 conv=notrunc status=none && "
                         "dd if=/dev/zero of='%s' bs=1 seek=60 count=4 conv=notrunc status=none",
                         prog, bare, bare, bare), 0);
  assert_int_equal(elf_code_ranges(bare, &r), 0);
  free(tl_write(dir, "text", "#!/bin/sh\nnot an ELF object\n"));
  assert_int_equal(elf_code_ranges(text, &r), 0);
  assert_null(r);
  assert_int_equal(elf_code_ranges("/nonexistent", &r), 0);
  tl_rmtree(dir);
}

static void
test_not_elf(void **state)
{
  char *dir = tl_tmpdir();
  cleanup_free char *script = tl_write(dir, "run.sh", "#!/bin/sh\necho hi\n");
  cleanup_free char *text = tl_write(dir, "notes.txt", "hello\n");
  cleanup_free char *trunc = xasprintf("%s/trunc", dir);
  struct elf_info info;
  struct derror err = DERROR_INIT;

  assert_int_equal(elf_read(script, "run.sh", &info, &err), -1);
  assert_true(derror_is(&err, DERROR_NOT_ELF));
  assert_string_equal(err.msg, "`run.sh`: a script (#!), not an ELF program");
  assert_int_equal(elf_read(text, "notes.txt", &info, &err), -1);
  assert_true(derror_is(&err, DERROR_NOT_ELF));
  assert_string_equal(err.msg, "`notes.txt`: not an ELF file");
  /* The first 100 bytes of a real program: the header promises more. */
  assert_int_equal(tl_sh("head -c 100 /usr/bin/curl > '%s'", trunc), 0);
  assert_int_equal(elf_read(trunc, "trunc", &info, &err), -1);
  assert_false(derror_is(&err, DERROR_NOT_ELF));
  assert_non_null(strstr(err.msg, "`trunc`: "));
  derror_clear(&err);
  tl_rmtree(dir);
}

/* Patch `n` bytes at `off` of a copy of /usr/bin/true. */
static char *
patched(const char *dir, const char *name, long off, const char *bytes, int n)
{
  char *path = xasprintf("%s/%s", dir, name);
  assert_int_equal(tl_sh("cp /usr/bin/true '%s'", path), 0);
  int fd = open(path, O_WRONLY);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, bytes, (size_t) n, off), n);
  close(fd);
  return path;
}

static void
test_hostile(void **state)
{
  char *dir = tl_tmpdir();
  struct elf_info info;
  struct derror err = DERROR_INIT;

  /* e_phoff far past the end of the file */
  cleanup_free char *far = patched(dir, "far", 32, "\xff\xff\xff\xff\xff\xff\xff\x7f", 8);
  assert_int_equal(elf_read(far, "far", &info, &err), -1);
  assert_non_null(strstr(err.msg, "`far`: "));
  /* 65535 program headers in a small file */
  cleanup_free char *many = patched(dir, "many", 56, "\xff\xff", 2);
  assert_int_equal(elf_read(many, "many", &info, &err), -1);
  assert_non_null(strstr(err.msg, "`many`: "));
  /* an ELF class that does not exist */
  cleanup_free char *cls = patched(dir, "class", 4, "\x07", 1);
  assert_int_equal(elf_read(cls, "class", &info, &err), -1);
  assert_int_equal(elf_read_candidate(cls, "class", NULL, &info, &err), -1);
  assert_false(derror_is(&err, DERROR_OTHER_ARCH));
  derror_clear(&err);

  /* 8 GiB, sparse: only the headers are read */
  cleanup_free char *huge = xasprintf("%s/huge", dir);
  assert_int_equal(tl_sh("cp /usr/bin/true '%s' && truncate -s 8G '%s'", huge, huge), 0);
  assert_int_equal(elf_read(huge, "huge", &info, &err), 0);
  assert_true(info.needed.n > 0);
  elf_info_free(&info);
  tl_rmtree(dir);
}

/* The loader passes by an object of another class or machine and searches
 * on; the caller tells that from an error that stops it by the code. */
static void
test_candidate(void **state)
{
  struct elf_info ref, info;
  struct derror err = DERROR_INIT;

  assert_int_equal(elf_read("/usr/bin/true", "true", &ref, &err), 0);
  assert_int_equal(elf_read_candidate("/usr/bin/true", "true", &ref, &info, &err), 0);
  elf_info_free(&info);
  ref.machine = EM_AARCH64;
  assert_int_equal(elf_read_candidate("/usr/bin/true", "true", &ref, &info, &err), -1);
  assert_true(derror_is(&err, DERROR_OTHER_ARCH));
  assert_string_equal(err.msg, "`true`: another machine than the program's");
  ref.elf_class = ELFCLASS32;
  assert_int_equal(elf_read_candidate("/usr/bin/true", "true", &ref, &info, &err), -1);
  assert_true(derror_is(&err, DERROR_OTHER_ARCH));
  derror_clear(&err);
  elf_info_free(&ref);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dynamic_program),
    cmocka_unit_test(test_fixtures),
    cmocka_unit_test(test_code_ranges),
    cmocka_unit_test(test_not_elf),
    cmocka_unit_test(test_hostile),
    cmocka_unit_test(test_candidate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
