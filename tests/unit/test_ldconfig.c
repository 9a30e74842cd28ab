#include "testlib.h"

#include "plan/closure.h"
#include "plan/ldconfig.h"

#include <elf.h>

static int
load_root(const struct sysroot *root, struct ldcache *cache, struct derror *err)
{
  struct view v;

  view_host(&v, root->root);
  return ldcache_load(&v, cache, err);
}

static int32_t
x86_64_flags(void)
{
  struct elf_info e = { .machine = EM_X86_64, .elf_class = ELFCLASS64 };

  return ldcache_flags(&e);
}

struct entry {
  int32_t flags;
  const char *key, *value;
  uint64_t hwcap;
};

/* A cache in glibc's new format: 48-byte header, 24-byte entries, then
 * the strings, offsets counted from the start of the file. */
static void
write_cache(const char *path, const struct entry *e, uint32_t n, uint32_t claimed)
{
  struct buf strings = { 0 }, out = { 0 };
  uint32_t base = 48 + 24 * n, zero = 0;

  buf_append(&out, "glibc-ld.so.cache1.1", 20);
  buf_append(&out, &claimed, 4);
  buf_append(&out, &zero, 4); /* len_strings, filled below */
  uint8_t flags[4] = { 2, 0, 0, 0 };
  buf_append(&out, flags, 4);
  for (int i = 0; i < 4; i++)
    buf_append(&out, &zero, 4);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t k = base + (uint32_t) strings.len;
    buf_append(&strings, e[i].key, strlen(e[i].key) + 1);
    uint32_t v = base + (uint32_t) strings.len;
    buf_append(&strings, e[i].value, strlen(e[i].value) + 1);
    buf_append(&out, &e[i].flags, 4);
    buf_append(&out, &k, 4);
    buf_append(&out, &v, 4);
    buf_append(&out, &zero, 4);
    buf_append(&out, &e[i].hwcap, 8);
  }
  uint32_t len = (uint32_t) strings.len;
  memcpy(out.data + 24, &len, 4);
  buf_append(&out, strings.data, strings.len);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fwrite(out.data, 1, out.len, f), out.len);
  fclose(f);
  buf_free(&strings);
  buf_free(&out);
}

static void
test_host_cache(void **state)
{
  struct sysroot root;
  struct ldcache cache;
  struct derror err = DERROR_INIT;

  assert_int_equal(sysroot_open(&root, "/", &err), 0);
  assert_int_equal(load_root(&root, &cache, &err), 1);
  const char *libc = ldcache_lookup(&cache, "libc.so.6", x86_64_flags());
  assert_non_null(libc);
  assert_string_equal(libc, "/lib/x86_64-linux-gnu/libc.so.6");
  assert_null(ldcache_lookup(&cache, "libdoes-not-exist.so.7", x86_64_flags()));
  ldcache_free(&cache);
  sysroot_close(&root);
}

static void
test_crafted_caches(void **state)
{
  char *d = tl_tmpdir();
  struct sysroot root;
  struct ldcache cache;
  struct derror err = DERROR_INIT;
  const struct entry entries[] = {
    { 0x0303, "libfoo.so.1", "/opt/x/libfoo.so.1", 0 },
    { 0x0003, "libbar.so.1", "/opt/i386/libbar.so.1", 0 },
    { 0x0303, "libbar.so.1", "/opt/v3/libbar.so.1", 1ULL << 62 }, /* a glibc-hwcaps entry */
  };
  cleanup_free char *path = xasprintf("%s/etc/ld.so.cache", d);

  assert_int_equal(tl_sh("mkdir -p '%s/etc'", d), 0);
  assert_int_equal(sysroot_open(&root, d, &err), 0);
  /* none at all */
  assert_int_equal(load_root(&root, &cache, &err), 0);

  write_cache(path, entries, 3, 3);
  assert_int_equal(load_root(&root, &cache, &err), 1);
  assert_string_equal(ldcache_lookup(&cache, "libfoo.so.1", 0x0303), "/opt/x/libfoo.so.1");
  /* another architecture's entry and a hwcaps entry are not answers */
  assert_null(ldcache_lookup(&cache, "libbar.so.1", 0x0303));
  assert_string_equal(ldcache_lookup(&cache, "libbar.so.1", 0x0003), "/opt/i386/libbar.so.1");
  ldcache_free(&cache);

  /* a header promising more entries than the file holds */
  write_cache(path, entries, 3, 1000);
  assert_int_equal(load_root(&root, &cache, &err), -1);
  assert_string_equal(err.msg, "`/etc/ld.so.cache`: truncated or invalid");
  derror_clear(&err);

  /* the format before glibc 2.32 alone: the loader has no new table */
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fwrite("ld.so-1.7.0\0\0\0\0\0", 1, 16, f), 16);
  fclose(f);
  assert_int_equal(load_root(&root, &cache, &err), 0);
  free(tl_write(d, "etc/ld.so.cache", "garbage that is no cache at all"));
  assert_int_equal(load_root(&root, &cache, &err), -1);
  assert_string_equal(err.msg, "`/etc/ld.so.cache`: not an ld.so cache");
  derror_clear(&err);
  sysroot_close(&root);
  tl_rmtree(d);
}

/* With a cache, ld.so.conf is not read: ldconfig made the cache from it
 * and the loader only asks the cache. */
static void
test_cache_wins_over_conf(void **state)
{
  char *d = tl_tmpdir();
  struct sysroot root;
  struct rootfs fs = { 0 };
  struct closure c;
  struct elf_info elf;
  struct derror err = DERROR_INIT;
  cleanup_free char *x = xasprintf("%s/opt/x/libfoo.so.1", d);
  cleanup_free char *conf = xasprintf("%s/opt/conf/libfoo.so.1", d);
  cleanup_free char *prog = xasprintf("%s/prog", d);
  cleanup_free char *cache = xasprintf("%s/etc/ld.so.cache", d);
  const struct entry entries[] = { { 0x0303, "libfoo.so.1", "/opt/x/libfoo.so.1", 0 } };

  assert_int_equal(tl_sh("mkdir -p '%s/opt/x' '%s/opt/conf' '%s/etc'", d, d, d), 0);
  tl_cc(x, "int foo(void) { return 1; }\n", "-shared -fPIC -Wl,-soname,libfoo.so.1");
  tl_cc(conf, "int foo(void) { return 2; }\n", "-shared -fPIC -Wl,-soname,libfoo.so.1");
  /* no PT_INTERP: this sysroot has no loader, only what is tested */
  cleanup_free char *flags = xasprintf("'%s' -nostdlib -e main -Wl,--no-dynamic-linker", x);
  tl_cc(prog, "int foo(void);\nint main(void) { return foo(); }\n", flags);
  free(tl_write(d, "etc/ld.so.conf", "/opt/conf\n"));
  write_cache(cache, entries, 1, 1);

  assert_int_equal(sysroot_open(&root, d, &err), 0);
  struct view view_;
  view_host(&view_, root.root);
  closure_init(&c, &view_, &root, &fs, LAYER_LIBRARIES);
  assert_int_equal(elf_read(prog, "/prog", &elf, &err), 0);
  assert_int_equal(closure_add_program(&c, "/prog", "/", NULL, prog, &elf, &err), 0);
  assert_int_equal(closure_resolve(&c, &err), 0);
  assert_int_equal(c.missing.n, 0);
  assert_int_equal(c.n_objects, 2);
  assert_string_equal(c.objects[1].path, "/opt/x/libfoo.so.1");
  assert_int_equal(c.objects[1].how, CLOSURE_CACHE);
  closure_free(&c);
  rootfs_free(&fs);

  /* Without the cache, ld.so.conf stands for it. */
  assert_int_equal(unlink(cache), 0);
  view_host(&view_, root.root);
  closure_init(&c, &view_, &root, &fs, LAYER_LIBRARIES);
  assert_int_equal(elf_read(prog, "/prog", &elf, &err), 0);
  assert_int_equal(closure_add_program(&c, "/prog", "/", NULL, prog, &elf, &err), 0);
  assert_int_equal(closure_resolve(&c, &err), 0);
  assert_string_equal(c.objects[1].path, "/opt/conf/libfoo.so.1");
  assert_int_equal(c.objects[1].how, CLOSURE_CONF);
  closure_free(&c);
  rootfs_free(&fs);
  sysroot_close(&root);
  tl_rmtree(d);
}

/* The cache flags a loader accepts come from the object's ABI: ARM's and
 * RISC-V's float ABI in the ELF header, the class for s390 and powerpc. */
static void
test_flags_of_abi(void **state)
{
  struct elf_info e = { 0 };

  (void) state;
  e.machine = EM_ARM;
  e.elf_class = ELFCLASS32;
  e.e_flags = 0x05000400; /* EABI 5, hard float */
  assert_int_equal(ldcache_flags(&e), 0x0903);
  e.e_flags = 0x05000200; /* EABI 5, soft float */
  assert_int_equal(ldcache_flags(&e), 0x0b03);
  e.machine = EM_RISCV;
  e.elf_class = ELFCLASS64;
  e.e_flags = 0x0005; /* RVC, double-float ABI */
  assert_int_equal(ldcache_flags(&e), 0x1003);
  e.e_flags = 0x0001; /* soft float */
  assert_int_equal(ldcache_flags(&e), 0x0f03);
  e.machine = EM_S390;
  e.e_flags = 0;
  assert_int_equal(ldcache_flags(&e), 0x0403);
  e.elf_class = ELFCLASS32;
  assert_int_equal(ldcache_flags(&e), 0x0003);
  e.machine = EM_X86_64;
  assert_int_equal(ldcache_flags(&e), 0x0803); /* x32 */
}

/* Files that include each other's globs are each read once: eight layers
 * of ten, each including the whole next layer, are 10^8 reads when every
 * include is followed again (hours), 80 when each file is read once.  The
 * directories come in the order of the first reading. */
static void
test_conf_read_once(void **state)
{
  char *d = tl_tmpdir();
  struct sysroot root;
  struct strv dirs = { 0 };
  struct derror err = DERROR_INIT;

  free(tl_write(d, "etc/ld.so.conf", "include /etc/ld.so.conf.d/L0-*.conf\n"));
  for (int k = 0; k < 8; k++)
    for (int j = 0; j < 10; j++) {
      cleanup_free char *name = xasprintf("etc/ld.so.conf.d/L%d-%d.conf", k, j);
      cleanup_free char *text = k < 7 ? xasprintf("/opt/l%d%d\ninclude /etc/ld.so.conf.d/L%d-*.conf\n", k, j, k + 1)
                                      : xasprintf("/opt/l%d%d\n", k, j);
      free(tl_write(d, name, text));
    }
  assert_int_equal(sysroot_open(&root, d, &err), 0);
  /* the old expansion never ends: a stuck test is killed as a failure */
  alarm(20);
  assert_int_equal(ldconf_read(&root, &dirs, &err), 0);
  alarm(0);
  assert_int_equal(dirs.n, 80);
  assert_string_equal(dirs.items[0], "/opt/l00");
  assert_string_equal(dirs.items[7], "/opt/l70");
  assert_string_equal(dirs.items[8], "/opt/l71");
  assert_string_equal(dirs.items[17], "/opt/l61");
  assert_string_equal(dirs.items[79], "/opt/l09");
  strv_free(&dirs);

  /* a file met twice by different globs and names counts once */
  free(tl_write(d, "etc/ld.so.conf", "include /etc/ld.so.conf.d/L7-0.conf /etc/ld.so.conf.d/L7-*.conf\n"
                                     "include /etc//ld.so.conf.d/./L7-0.conf\n"));
  assert_int_equal(ldconf_read(&root, &dirs, &err), 0);
  assert_int_equal(dirs.n, 10);
  assert_string_equal(dirs.items[0], "/opt/l70");
  assert_string_equal(dirs.items[9], "/opt/l79");
  strv_free(&dirs);
  sysroot_close(&root);
  tl_rmtree(d);
}

/* However they include each other, the files read are bounded, with an
 * error that names the bound. */
static void
test_conf_files_bounded(void **state)
{
  char *d = tl_tmpdir();
  struct sysroot root;
  struct strv dirs = { 0 };
  struct derror err = DERROR_INIT;

  free(tl_write(d, "etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n"));
  assert_int_equal(tl_sh("mkdir -p '%s/etc/ld.so.conf.d' && cd '%s/etc/ld.so.conf.d' && "
                         "for i in $(seq 4100); do echo /opt/$i >$i.conf; done",
                         d, d),
                   0);
  assert_int_equal(sysroot_open(&root, d, &err), 0);
  assert_int_equal(ldconf_read(&root, &dirs, &err), -1);
  assert_non_null(strstr(err.msg, "more than 4096 ld.so.conf files read through includes"));
  derror_clear(&err);
  strv_free(&dirs);
  sysroot_close(&root);
  tl_rmtree(d);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_host_cache),
    cmocka_unit_test(test_flags_of_abi),
    cmocka_unit_test(test_crafted_caches),
    cmocka_unit_test(test_cache_wins_over_conf),
    cmocka_unit_test(test_conf_read_once),
    cmocka_unit_test(test_conf_files_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
