#include "testlib.h"

#include "image/check.h"
#include "image/escape.h"
#include "plan/policy.h"

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

/* Name rules apply to programs: data files named like a shell or package
 * manager are neither; a program so named is refused whatever makes it one
 * (an x bit, ELF bytes, a link to either). */
static void
policy_verdict(void (*add)(struct rootfs *fs), const char *refused)
{
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;

  add(&fs);
  assert_int_equal(rootfs_finish(&fs, &err), 0);
  policy_normalize(&fs);
  if (refused == NULL) {
    assert_int_equal(policy_check(&fs, &err), 0);
  } else {
    assert_int_equal(policy_check(&fs, &err), -1);
    assert_non_null(strstr(err.msg, refused));
    derror_clear(&err);
  }
  rootfs_free(&fs);
}

static void
data_files(struct rootfs *fs)
{
  rootfs_add_data(fs, "/usr/share/bash-completion/completions/apt", LAYER_APP, "_apt()\n", 7, 0644, "f");
  rootfs_add_data(fs, "/usr/share/menu/dash", LAYER_APP, "?package(dash)\n", 15, 0644, "f");
  rootfs_add_data(fs, "/usr/share/man/man1/pip3.1.gz", LAYER_APP, "\x1f\x8b", 2, 0644, "f");
  /* a symlink leading to a data file is data */
  rootfs_add_symlink(fs, "/usr/share/bash-completion/completions/apt-get", LAYER_APP, "apt", "s");
}

static void
executable_dash(struct rootfs *fs)
{
  rootfs_add_data(fs, "/usr/bin/dash", LAYER_APP, "#!/bin/false\n", 13, 0755, "f");
}

static void
elf_without_x(struct rootfs *fs)
{
  struct rootfs_entry *e = rootfs_add_data(fs, "/usr/share/menu/dash", LAYER_APP, "\177ELF\2\1\1", 7, 0644, "f");
  e->mode_set = true;
}

static void
link_to_program(struct rootfs *fs)
{
  rootfs_add_data(fs, "/usr/bin/app", LAYER_APP, "x", 1, 0755, "f");
  rootfs_add_symlink(fs, "/usr/lib/menu/busybox", LAYER_APP, "../../bin/app", "s");
}

static void
link_through_linked_dir(struct rootfs *fs)
{
  rootfs_add_data(fs, "/usr/share/doc/apt", LAYER_APP, "x", 1, 0644, "f");
  rootfs_add_data(fs, "/usr/bin/app", LAYER_APP, "x", 1, 0755, "f");
  rootfs_add_symlink(fs, "/docs", LAYER_APP, "/usr/share/doc", "s");
  rootfs_add_symlink(fs, "/bin", LAYER_APP, "usr/bin", "s");
  rootfs_add_symlink(fs, "/opt/apt", LAYER_APP, "/docs/apt", "s");  /* data: fine */
  rootfs_add_symlink(fs, "/opt/ash", LAYER_APP, "/bin/app", "s2"); /* a program */
}

static void
link_loop(struct rootfs *fs)
{
  rootfs_add_symlink(fs, "/usr/bin/sh", LAYER_APP, "zsh", "s");
  rootfs_add_symlink(fs, "/usr/bin/zsh", LAYER_APP, "sh", "s");
}

static void
test_programs_only(void **state)
{
  assert_true(policy_is_program(0755, false));
  assert_true(policy_is_program(0100, false));
  assert_true(policy_is_program(0644, true));
  assert_false(policy_is_program(0644, false));
  policy_verdict(data_files, NULL);
  policy_verdict(executable_dash, "`/usr/bin/dash` is a shell or package manager (\"dash\")");
  policy_verdict(elf_without_x, "`/usr/share/menu/dash` is a shell");
  policy_verdict(link_to_program, "`/usr/lib/menu/busybox` is a shell");
  policy_verdict(link_through_linked_dir, "s2: `/opt/ash` is a shell");
  policy_verdict(link_loop, "is a shell");
}

/* What check shows of a name: reversible, one line, valid UTF-8. */
static void
test_escape(void **state)
{
  static const struct {
    const char *in, *json, *text;
  } cases[] = {
    { "/usr/bin/caf\xc3\xa9", "/usr/bin/caf\xc3\xa9", "/usr/bin/caf\xc3\xa9" },
    { "/usr/bin/caf\xe9", "/usr/bin/caf\\xe9", "/usr/bin/caf\\xe9" },
    { "/a\\b", "/a\\\\b", "/a\\\\b" },
    { "/x\n ok   no-shell", "/x\n ok   no-shell", "/x\\n ok   no-shell" },
    { "/\x1b[2J\t\r", "/\x1b[2J\t\r", "/\\x1b[2J\\t\\r" },
    { "/c1\xc2\x9b" "1m", "/c1\xc2\x9b" "1m", "/c1\\xc2\\x9b1m" },
    { "/overlong\xc0\xaf", "/overlong\\xc0\\xaf", "/overlong\\xc0\\xaf" },
    { "/surrogate\xed\xa0\x80", "/surrogate\\xed\\xa0\\x80", "/surrogate\\xed\\xa0\\x80" },
    { "/cut\xe2\x82", "/cut\\xe2\\x82", "/cut\\xe2\\x82" },
  };

  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *j = escape_json(cases[i].in), *t = escape_text(cases[i].in), *tj = escape_controls(j);
    assert_string_equal(j, cases[i].json);
    assert_string_equal(t, cases[i].text);
    /* text is JSON's escapes and then the controls' */
    assert_string_equal(tj, t);
    free(j);
    free(t);
    free(tj);
  }
}

static void
test_waivable(void **state)
{
  assert_null(check_waivable("no-secrets"));
  assert_null(check_waivable("no-world-writable"));
  assert_non_null(check_waivable("can-start"));
  assert_non_null(check_waivable("healthcheck"));
  assert_non_null(check_waivable("user-nonroot"));
  assert_non_null(check_waivable("no-secret"));
  assert_non_null(check_waivable(""));
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_normalize),
    cmocka_unit_test(test_forbidden),
    cmocka_unit_test(test_check),
    cmocka_unit_test(test_programs_only),
    cmocka_unit_test(test_escape),
    cmocka_unit_test(test_waivable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
