#include "testlib.h"

#include "distill/policy.h"

static void
test_normalize(void **state)
{
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;

  struct rootfs_entry *e = rootfs_add_data(&fs, "/usr/bin/app", LAYER_APP, "x", 1, 04775, "b");
  e->uid = 1000;
  rootfs_add_data(&fs, "/etc/app.conf", LAYER_APP, "x", 1, 0666, "f");
  e = rootfs_add_data(&fs, "/etc/secret", LAYER_APP, "x", 1, 02466, "f");
  e->mode_set = true;
  e = rootfs_add_dir(&fs, "/var/lib/app", LAYER_APP, 02777, "p");
  e->uid = e->gid = 65532;
  e->fixed = true;
  rootfs_add_dir(&fs, "/opt", LAYER_APP, 0777, "d");
  assert_int_equal(rootfs_finish(&fs, &err), 0);
  policy_normalize(&fs);

  assert_int_equal(rootfs_find(&fs, "/usr/bin/app")->mode, 0755);
  assert_int_equal(rootfs_find(&fs, "/usr/bin/app")->uid, 0);
  assert_int_equal(rootfs_find(&fs, "/etc/app.conf")->mode, 0644);
  /* An explicit mode keeps its bits, less setuid/setgid and group/other write. */
  assert_int_equal(rootfs_find(&fs, "/etc/secret")->mode, 0444);
  assert_int_equal(rootfs_find(&fs, "/opt")->mode, 0755);
  /* A fixed entry keeps owner and mode, less setgid. */
  assert_int_equal(rootfs_find(&fs, "/var/lib/app")->mode, 0777);
  assert_int_equal(rootfs_find(&fs, "/var/lib/app")->uid, 65532);
  rootfs_free(&fs);
}

static void
test_forbidden(void **state)
{
  const char *bad[] = { "sh", "bash", "dash", "busybox", "apt-get", "dpkg", "apk", "pip", "pip3", "pip3.11", "dnf" };
  const char *good[] = { "curl", "python3", "shasum", "ssh", "bashful", "pipx-not", "aptly" };

  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_non_null(policy_forbidden_name(bad[i]));
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    assert_null(policy_forbidden_name(good[i]));
}

static void
test_check(void **state)
{
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;

  rootfs_add_dir(&fs, "/usr/share/sh", LAYER_APP, 0755, "d"); /* a directory may be named so */
  rootfs_add_symlink(&fs, "/bin/sh", LAYER_APP, "/usr/bin/app", "contents.symlinks[0]");
  assert_int_equal(rootfs_finish(&fs, &err), 0);
  assert_int_equal(policy_check(&fs, &err), -1);
  assert_string_equal(err.msg, "contents.symlinks[0]: `/bin/sh` is a shell or package manager (\"sh\"); distill "
                               "images have none");
  derror_clear(&err);
  rootfs_free(&fs);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_normalize),
    cmocka_unit_test(test_forbidden),
    cmocka_unit_test(test_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
