#include "testlib.h"

#include "plan/closure.h"
#include "plan/hints.h"

/* A sysroot with the host's libc and loader and, for each hint, a program
 * that should draw it: one calling pthread_cancel (glibc loads libgcc_s),
 * one linked to a libcrypto.so.3 with ossl-modules beside it, one named
 * python3.11 with its standard library directory, and an nsswitch.conf
 * naming services outside libc. */
static char *
make_sysroot(void)
{
  char *d = tl_tmpdir();
  assert_int_equal(tl_sh("cd '%s' && mkdir -p usr/lib/x86_64-linux-gnu/ossl-modules usr/lib64 usr/bin "
                         "usr/lib/python3.11 etc && ln -s usr/lib lib && ln -s usr/lib64 lib64 && "
                         "cp -L /lib/x86_64-linux-gnu/libc.so.6 /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "
                         "usr/lib/x86_64-linux-gnu/ && "
                         "ln -s /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 usr/lib64/ld-linux-x86-64.so.2",
                         d),
                   0);
  cleanup_free char *crypto = xasprintf("%s/usr/lib/x86_64-linux-gnu/libcrypto.so.3", d);
  cleanup_free char *cancel = xasprintf("%s/usr/bin/cancel", d);
  cleanup_free char *plain = xasprintf("%s/usr/bin/plain", d);
  cleanup_free char *ssl = xasprintf("%s/usr/bin/ssl", d);
  cleanup_free char *python = xasprintf("%s/usr/bin/python3.11", d);
  tl_cc(crypto, "int crypto_fn(void) { return 3; }\n", "-shared -fPIC -Wl,-soname,libcrypto.so.3");
  tl_cc(cancel, "#include <pthread.h>\nint main(int c, char **v) { if (c > 5) pthread_cancel(pthread_self()); "
                "return 0; }\n", "-pthread");
  tl_cc(plain, "int main(void) { return 0; }\n", "");
  cleanup_free char *flags = xasprintf("'%s'", crypto);
  tl_cc(ssl, "int crypto_fn(void);\nint main(void) { return crypto_fn(); }\n", flags);
  tl_cc(python, "int main(void) { return 0; }\n", "");
  free(tl_write(d, "etc/nsswitch.conf", "# comment: systemd\npasswd: files systemd\n"
                                        "hosts: files mdns4_minimal [NOTFOUND=return] dns\n"));
  return d;
}

/* The hints for a closure of the sysroot's `programs`. */
static void
hints_of(const char *dir, const char *const *programs, struct strv *out)
{
  struct sysroot root;
  struct rootfs fs = { 0 };
  struct closure c;
  struct derror err = DERROR_INIT;
  struct view view_;

  assert_int_equal(sysroot_open(&root, dir, &err), 0);
  view_host(&view_, root.root);
  closure_init(&c, &view_, &root, &fs, LAYER_LIBRARIES);
  for (size_t i = 0; programs[i]; i++) {
    struct elf_info elf;
    cleanup_free char *host = xasprintf("%s%s", dir, programs[i]);
    if (elf_read(host, programs[i], &elf, &err) < 0
        || closure_add_program(&c, programs[i], "/usr/bin", NULL, host, &elf, &err) < 0)
      fail_msg("%s", err.msg);
  }
  if (closure_resolve(&c, &err) < 0)
    fail_msg("%s", err.msg);
  hints_for_closure(&c, &root, out);
  closure_free(&c);
  rootfs_free(&fs);
  sysroot_close(&root);
}

static const char *
find(const struct strv *v, const char *needle)
{
  for (size_t i = 0; i < v->n; i++)
    if (strstr(v->items[i], needle))
      return v->items[i];
  return NULL;
}

static void
test_each_hint(void **state)
{
  char *d = make_sysroot();
  const char *const programs[] = { "/usr/bin/cancel", "/usr/bin/ssl", "/usr/bin/python3.11", NULL };
  struct strv hints = { 0 };

  hints_of(d, programs, &hints);
  const char *h = find(&hints, "libgcc_s.so.1");
  assert_non_null(h);
  assert_non_null(strstr(h, "/usr/bin/cancel: `/usr/bin/cancel` calls pthread_cancel or pthread_exit"));
  h = find(&hints, "OpenSSL");
  assert_non_null(h);
  assert_non_null(strstr(h, "/usr/bin/ssl: OpenSSL loads providers from `/usr/lib/x86_64-linux-gnu/ossl-modules`"));
  h = find(&hints, "Python");
  assert_non_null(h);
  assert_non_null(strstr(h, "/usr/bin/python3.11: "));
  assert_non_null(strstr(h, "add `/usr/lib/python3.11` as contents.directories"));
  /* the services outside libc, in the file's order; comments and the
   * [STATUS=action] words are not services */
  h = find(&hints, "nsswitch.conf");
  assert_non_null(h);
  assert_non_null(strstr(h, "also names systemd, mdns4_minimal (libnss_*.so.2"));
  assert_int_equal(hints.n, 4);
  strv_free(&hints);
  tl_rmtree(d);
}

/* No hint without its cause: a program that cancels no thread, no
 * ossl-modules, no python directory, an nsswitch.conf of files and dns. */
static void
test_no_cause_no_hint(void **state)
{
  char *d = make_sysroot();
  const char *const programs[] = { "/usr/bin/plain", "/usr/bin/ssl", "/usr/bin/python3.11", NULL };
  struct strv hints = { 0 };

  assert_int_equal(tl_sh("cd '%s' && rmdir usr/lib/x86_64-linux-gnu/ossl-modules usr/lib/python3.11", d), 0);
  free(tl_write(d, "etc/nsswitch.conf", "passwd: files\nhosts: files dns\n"));
  hints_of(d, programs, &hints);
  for (size_t i = 0; i < hints.n; i++)
    fail_msg("unexpected hint: %s", hints.items[i]);
  strv_free(&hints);
  tl_rmtree(d);
}

/* Ten programs with one cause get one hint naming them all. */
static void
test_programs_grouped(void **state)
{
  char *d = make_sysroot();
  const char *const programs[] = { "/usr/bin/cancel", "/usr/bin/cancel2", NULL };
  struct strv hints = { 0 };

  assert_int_equal(tl_sh("cp '%s/usr/bin/cancel' '%s/usr/bin/cancel2'", d, d), 0);
  hints_of(d, programs, &hints);
  const char *h = find(&hints, "libgcc_s.so.1");
  assert_non_null(h);
  assert_non_null(strstr(h, "/usr/bin/cancel, /usr/bin/cancel2: `/usr/bin/cancel`, `/usr/bin/cancel2` call "));
  size_t n = 0;
  for (size_t i = 0; i < hints.n; i++)
    n += strstr(hints.items[i], "libgcc_s.so.1") != NULL;
  assert_int_equal(n, 1);
  strv_free(&hints);
  tl_rmtree(d);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_each_hint),
    cmocka_unit_test(test_no_cause_no_hint),
    cmocka_unit_test(test_programs_grouped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
