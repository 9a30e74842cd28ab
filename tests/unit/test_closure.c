#include "testlib.h"

#include "plan/closure.h"

#include <limits.h>

/* The closure of a real program of this machine against the host as the
 * sysroot, compared with what the loader itself maps (ldd runs the loader on
 * a trusted host binary here, which distill never does). */
static void
test_host_curl_matches_loader(void **state)
{
  struct sysroot root;
  struct rootfs fs = { 0 };
  struct closure c;
  struct elf_info elf;
  struct derror err = DERROR_INIT;

  assert_int_equal(sysroot_open(&root, "/", &err), 0);
  struct view view_;
  view_host(&view_, root.root);
  closure_init(&c, &view_, &root, &fs, LAYER_LIBRARIES);
  assert_int_equal(elf_read("/usr/bin/curl", "/usr/bin/curl", &elf, &err), 0);
  assert_int_equal(closure_add_program(&c, "/usr/bin/curl", "/usr/bin", NULL, "/usr/bin/curl", &elf, &err), 0);
  assert_int_equal(closure_resolve(&c, &err), 0);
  assert_int_equal(rootfs_finish(&fs, &err), 0);

  /* Every library the loader maps is there under the name it opened. */
  FILE *p = popen("ldd /usr/bin/curl | awk '$3 ~ /^\\// {print $3} $1 ~ /^\\// {print $1}'", "r");
  assert_non_null(p);
  char line[PATH_MAX];
  size_t n = 0;
  while (fgets(line, sizeof line, p)) {
    line[strcspn(line, "\n")] = '\0';
    struct sysroot_view {
      char *resolved;
    } v = { NULL };
    struct stat st;
    /* Walk the loader's path through the image's own entries. */
    assert_int_equal(sysroot_resolve(&root, line, NULL, NULL, &v.resolved, &st, &err), 0);
    struct rootfs_entry *e = rootfs_find(&fs, v.resolved);
    if (e == NULL)
      fail_msg("%s (%s) is not in the closure", line, v.resolved);
    assert_int_equal(e->type, ROOTFS_FILE);
    free(v.resolved);
    n++;
  }
  assert_int_equal(pclose(p), 0);
  assert_true(n > 20);
  /* and the symlinks the loader goes through are kept as symlinks */
  struct rootfs_entry *lib = rootfs_find(&fs, "/lib");
  assert_non_null(lib);
  assert_int_equal(lib->type, ROOTFS_SYMLINK);
  assert_string_equal(lib->target, "usr/lib");
  struct rootfs_entry *so = rootfs_find(&fs, "/usr/lib/x86_64-linux-gnu/libcurl.so.4");
  assert_non_null(so);
  assert_int_equal(so->type, ROOTFS_SYMLINK);
  assert_non_null(rootfs_find(&fs, "/lib64"));
  closure_free(&c);
  rootfs_free(&fs);
  sysroot_close(&root);
}

/* A sysroot made here: the host's libc and loader, a program with
 * RUNPATH $ORIGIN/../lib, a library found through ld.so.conf includes, and
 * a decoy for another machine earlier in the search. */
static char *
make_sysroot(void)
{
  char *d = tl_tmpdir();
  assert_int_equal(tl_sh("cd '%s' && mkdir -p usr/lib/x86_64-linux-gnu usr/lib64 opt/app/bin opt/app/lib "
                         "opt/conf/lib opt/decoy/lib etc/ld.so.conf.d && ln -s usr/lib lib && ln -s usr/lib64 lib64 && "
                         "cp -L /lib/x86_64-linux-gnu/libc.so.6 /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "
                         "usr/lib/x86_64-linux-gnu/ && "
                         "ln -s /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 usr/lib64/ld-linux-x86-64.so.2",
                         d),
                   0);
  free(tl_write(d, "etc/ld.so.conf", "# test\ninclude ld.so.conf.d/*.conf\n"));
  free(tl_write(d, "etc/ld.so.conf.d/a.conf", "/opt/decoy/lib\n"));
  free(tl_write(d, "etc/ld.so.conf.d/b.conf", "/opt/conf/lib  # comment\n\n/opt/decoy/lib\n"));
  cleanup_free char *foo = xasprintf("%s/opt/app/lib/libfoo.so.1.0", d);
  cleanup_free char *bar = xasprintf("%s/opt/conf/lib/libbar.so.1", d);
  cleanup_free char *prog = xasprintf("%s/opt/app/bin/prog", d);
  tl_cc(foo, "int foo(void) { return 1; }\n", "-shared -fPIC -Wl,-soname,libfoo.so.1");
  tl_cc(bar, "int bar(void) { return 2; }\n", "-shared -fPIC -Wl,-soname,libbar.so.1");
  cleanup_free char *flags = xasprintf("'%s' '%s' -Wl,-rpath,'$ORIGIN/../lib' -Wl,--enable-new-dtags", foo, bar);
  tl_cc(prog, "int foo(void); int bar(void);\nint main(void) { return foo() + bar(); }\n", flags);
  /* e_machine (offset 18) set to EM_AARCH64: the loader skips it. */
  assert_int_equal(tl_sh("cd '%s' && ln -s libfoo.so.1.0 opt/app/lib/libfoo.so.1 && cp opt/conf/lib/libbar.so.1 "
                         "opt/decoy/lib/ && printf '\\267\\000' | dd of=opt/decoy/lib/libbar.so.1 bs=1 seek=18 "
                         "conv=notrunc status=none",
                         d),
                   0);
  return d;
}

static int
closure_of_prog(const char *dir, struct rootfs *fs, struct derror *err)
{
  struct sysroot root;
  struct closure c;
  struct elf_info elf;
  cleanup_free char *host = xasprintf("%s/opt/app/bin/prog", dir);
  int ret;

  assert_int_equal(sysroot_open(&root, dir, err), 0);
  struct view view_;
  view_host(&view_, root.root);
  closure_init(&c, &view_, &root, fs, LAYER_LIBRARIES);
  assert_int_equal(elf_read(host, "/opt/app/bin/prog", &elf, err), 0);
  ret = closure_add_program(&c, "/opt/app/bin/prog", "/opt/app/bin", NULL, host, &elf, err);
  if (ret == 0)
    ret = closure_resolve(&c, err);
  if (ret == 0 && c.missing.n > 0)
    ret = derror_set(err, "%s", c.missing.items[0]);
  if (ret == 0)
    ret = rootfs_finish(fs, err);
  closure_free(&c);
  sysroot_close(&root);
  return ret;
}

static void
test_fixture_sysroot(void **state)
{
  char *d = make_sysroot();
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;

  if (closure_of_prog(d, &fs, &err) < 0)
    fail_msg("%s", err.msg);
  const char *files[] = { "/opt/app/lib/libfoo.so.1.0", "/opt/conf/lib/libbar.so.1",
                          "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" };
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    struct rootfs_entry *e = rootfs_find(&fs, files[i]);
    if (e == NULL || e->type != ROOTFS_FILE)
      fail_msg("%s missing", files[i]);
    assert_int_equal(e->layer, LAYER_LIBRARIES);
  }
  struct {
    const char *path, *target;
  } links[] = {
    { "/opt/app/lib/libfoo.so.1", "libfoo.so.1.0" },
    { "/lib64", "usr/lib64" },
    { "/usr/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" },
    { "/lib", "usr/lib" },
  };
  for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
    struct rootfs_entry *e = rootfs_find(&fs, links[i].path);
    if (e == NULL || e->type != ROOTFS_SYMLINK)
      fail_msg("%s is not a symlink", links[i].path);
    assert_string_equal(e->target, links[i].target);
  }
  /* The decoy is for another machine; the loader passes it by. */
  assert_null(rootfs_find(&fs, "/opt/decoy/lib/libbar.so.1"));
  /* libc needs ld-linux-x86-64.so.2 by its soname: already loaded, not
   * loaded again from the search path. */
  assert_null(rootfs_find(&fs, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2.bak"));
  rootfs_free(&fs);

  /* A missing library names who needs it. */
  assert_int_equal(tl_sh("rm '%s/opt/conf/lib/libbar.so.1'", d), 0);
  assert_int_equal(closure_of_prog(d, &fs, &err), -1);
  assert_string_equal(err.msg, "library `libbar.so.1` needed by `/opt/app/bin/prog`: not found, only one for another "
                               "architecture (searched "
                               "/opt/app/bin/../lib, /opt/decoy/lib, /opt/conf/lib, /lib/x86_64-linux-gnu, "
                               "/usr/lib/x86_64-linux-gnu, /lib, /usr/lib)");
  derror_clear(&err);
  rootfs_free(&fs);

  /* Something that is not ELF under the searched name stops the loader. */
  free(tl_write(d, "opt/conf/lib/libbar.so.1", "not a library\n"));
  assert_int_equal(closure_of_prog(d, &fs, &err), -1);
  assert_string_equal(err.msg, "library `libbar.so.1` needed by `/opt/app/bin/prog`: `/opt/conf/lib/libbar.so.1`: "
                               "file too short");
  derror_clear(&err);
  rootfs_free(&fs);
  tl_rmtree(d);
}

static void
test_ld_so_conf(void **state)
{
  char *d = make_sysroot();
  struct sysroot root;
  struct strv dirs = { 0 };
  struct derror err = DERROR_INIT;

  assert_int_equal(sysroot_open(&root, d, &err), 0);
  assert_int_equal(ldconf_read(&root, &dirs, &err), 0);
  assert_int_equal(dirs.n, 2);
  assert_string_equal(dirs.items[0], "/opt/decoy/lib");
  assert_string_equal(dirs.items[1], "/opt/conf/lib");
  strv_free(&dirs);
  /* An include of itself is bounded, not endless. */
  free(tl_write(d, "etc/ld.so.conf.d/c.conf", "include /etc/ld.so.conf.d/c.conf\n"));
  assert_int_equal(ldconf_read(&root, &dirs, &err), -1);
  assert_non_null(strstr(err.msg, "includes nested deeper than 8"));
  derror_clear(&err);
  strv_free(&dirs);
  sysroot_close(&root);
  tl_rmtree(d);
}

static void
test_static_needs_nothing(void **state)
{
  char *d = tl_tmpdir();
  cleanup_free char *prog = xasprintf("%s/hello", d);
  struct sysroot root;
  struct rootfs fs = { 0 };
  struct closure c;
  struct elf_info elf;
  struct derror err = DERROR_INIT;

  tl_cc(prog, "int main(void) { return 0; }\n", "-static-pie");
  assert_int_equal(sysroot_open(&root, d, &err), 0);
  struct view view_;
  view_host(&view_, root.root);
  closure_init(&c, &view_, &root, &fs, LAYER_LIBRARIES);
  assert_int_equal(elf_read(prog, "hello", &elf, &err), 0);
  assert_int_equal(closure_add_program(&c, "/hello", "/", NULL, prog, &elf, &err), 0);
  assert_int_equal(closure_resolve(&c, &err), 0);
  assert_int_equal(fs.n, 0);
  closure_free(&c);
  sysroot_close(&root);
  tl_rmtree(d);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_host_curl_matches_loader),
    cmocka_unit_test(test_fixture_sysroot),
    cmocka_unit_test(test_ld_so_conf),
    cmocka_unit_test(test_static_needs_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
