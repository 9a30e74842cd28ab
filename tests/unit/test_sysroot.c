#include "testlib.h"

#include "plan/sysroot.h"
#include "plan/view.h"

struct seen {
  struct strv links;
};

static int
record(void *data, const char *path, const char *target, struct derror *err)
{
  struct seen *s = data;
  strv_push_take(&s->links, xasprintf("%s -> %s", path, target));
  return 0;
}

/* A root with merged /usr, an absolute symlink and ways to try to leave. */
static char *
make_root(void)
{
  char *dir = tl_tmpdir();
  free(tl_write(dir, "usr/lib/x86_64-linux-gnu/libz.so.1.2.13", "z"));
  free(tl_write(dir, "etc/secret", "inside"));
  assert_int_equal(tl_sh("cd '%s' && ln -s usr/lib lib && ln -s libz.so.1.2.13 usr/lib/x86_64-linux-gnu/libz.so.1"
                         " && mkdir usr/lib64 && ln -s /lib/x86_64-linux-gnu/libz.so.1 usr/lib64/abs"
                         " && ln -s ../../../../../../etc/secret usr/up && ln -s /../../etc/secret usr/absup"
                         " && ln -s loop2 loop1 && ln -s loop1 loop2",
                         dir),
                   0);
  return dir;
}

struct fixture {
  char *dir;
  struct sysroot root;
};

static int
setup(void **state)
{
  struct fixture *f = xcalloc(1, sizeof *f);
  struct derror err = DERROR_INIT;

  f->dir = make_root();
  assert_int_equal(sysroot_open(&f->root, f->dir, &err), 0);
  *state = f;
  return 0;
}

static int
teardown(void **state)
{
  struct fixture *f = *state;

  sysroot_close(&f->root);
  tl_rmtree(f->dir);
  free(f);
  return 0;
}

static void
test_resolve_records_chain(void **state)
{
  struct fixture *f = *state;
  struct derror err = DERROR_INIT;
  struct seen seen = { 0 };
  char *resolved = NULL;
  struct stat st;

  assert_int_equal(sysroot_resolve(&f->root, "/usr/lib64/abs", record, &seen, &resolved, &st, &err), 0);
  assert_string_equal(resolved, "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13");
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(seen.links.n, 3);
  assert_string_equal(seen.links.items[0], "/usr/lib64/abs -> /lib/x86_64-linux-gnu/libz.so.1");
  assert_string_equal(seen.links.items[1], "/lib -> usr/lib");
  assert_string_equal(seen.links.items[2], "/usr/lib/x86_64-linux-gnu/libz.so.1 -> libz.so.1.2.13");
  free(resolved);
  strv_free(&seen.links);
}

/* ".." and absolute targets stop at the root, as in a chroot: both links
 * land on the root's own /etc/secret, never the host's. */
static void
test_confined(void **state)
{
  struct fixture *f = *state;
  struct derror err = DERROR_INIT;
  char *resolved = NULL;
  struct stat st;

  assert_int_equal(sysroot_resolve(&f->root, "/usr/up", NULL, NULL, &resolved, &st, &err), 0);
  assert_string_equal(resolved, "/etc/secret");
  free(resolved);
  assert_int_equal(sysroot_resolve(&f->root, "/usr/absup", NULL, NULL, &resolved, &st, &err), 0);
  assert_string_equal(resolved, "/etc/secret");
  free(resolved);
  assert_int_equal(sysroot_resolve(&f->root, "/../../../etc/secret", NULL, NULL, &resolved, &st, &err), 0);
  assert_string_equal(resolved, "/etc/secret");
  free(resolved);
  cleanup_free char *host = sysroot_host_path(&f->root, "/etc/secret");
  cleanup_free char *text = tl_read(host, NULL);
  assert_string_equal(text, "inside");
}

static void
test_missing_and_loops(void **state)
{
  struct fixture *f = *state;
  struct derror err = DERROR_INIT;
  char *resolved = NULL;
  struct stat st;

  assert_int_equal(sysroot_resolve(&f->root, "/lib/x86_64-linux-gnu/libnone.so", NULL, NULL, &resolved, &st, &err), -1);
  assert_true(derror_is(&err, DERROR_NOT_FOUND));
  assert_string_equal(resolved, "/usr/lib/x86_64-linux-gnu/libnone.so");
  free(resolved);
  assert_int_equal(sysroot_resolve(&f->root, "/nodir/x/y", NULL, NULL, &resolved, &st, &err), -1);
  assert_true(derror_is(&err, DERROR_NOT_FOUND));
  free(resolved);
  assert_int_equal(sysroot_resolve(&f->root, "/loop1", NULL, NULL, &resolved, &st, &err), -1);
  assert_true(derror_is(&err, DERROR_LOOP));
  assert_string_equal(err.msg, "`/loop1`: more than 40 symlinks (a loop at `/loop1`?)");
  derror_clear(&err);
}

static void
test_locate(void **state)
{
  struct fixture *f = *state;
  struct derror err = DERROR_INIT;
  char *host = NULL;
  struct stat st;

  assert_int_equal(sysroot_locate(&f->root, "/nowhere", "/lib/x86_64-linux-gnu/libz.so.1", &st, &host, &err), 0);
  cleanup_free char *expect = xasprintf("%s/usr/lib/x86_64-linux-gnu/libz.so.1.2.13", f->dir);
  assert_string_equal(host, expect);
  free(host);
  /* Relative sources are under the recipe's directory, on the host. */
  assert_int_equal(sysroot_locate(&f->root, f->dir, "etc/secret", &st, &host, &err), 0);
  free(host);
  assert_int_equal(sysroot_locate(&f->root, "/", "/etc/none", &st, &host, &err), -1);
  cleanup_free char *msg = xasprintf("`/etc/none`: not found in the sysroot `%s`", f->root.root);
  assert_string_equal(err.msg, msg);
  derror_clear(&err);
  struct sysroot none;
  assert_int_equal(sysroot_open(&none, "/nonexistent-root", &err), -1);
  assert_string_equal(err.msg, "sysroot `/nonexistent-root`: No such file or directory");
  derror_clear(&err);
}

/* The walker under the sysroot, as lstat(): a symlink at the end is the
 * link, those in the parents are followed; a loop below it is one. */
static void
test_view_nofollow(void **state)
{
  struct fixture *f = *state;
  struct derror err = DERROR_INIT;
  cleanup_free char *resolved = NULL, *again = NULL;
  struct view_node node;
  struct view v;

  view_host(&v, f->root.root);
  assert_int_equal(view_resolve_nofollow(&v, "/lib/x86_64-linux-gnu/libz.so.1", true, &resolved, &node, &err), 0);
  assert_string_equal(resolved, "/usr/lib/x86_64-linux-gnu/libz.so.1");
  assert_int_equal(node.type, VIEW_SYMLINK);
  assert_string_equal(node.target, "libz.so.1.2.13");
  assert_int_equal(view_resolve_nofollow(&v, "/loop1/x", true, &again, &node, &err), -1);
  assert_true(derror_is(&err, DERROR_LOOP));
  assert_string_equal(err.msg, "`/loop1/x`: more than 40 symlinks (a loop at `/loop1`?)");
  derror_clear(&err);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_resolve_records_chain, setup, teardown),
    cmocka_unit_test_setup_teardown(test_confined, setup, teardown),
    cmocka_unit_test_setup_teardown(test_missing_and_loops, setup, teardown),
    cmocka_unit_test_setup_teardown(test_locate, setup, teardown),
    cmocka_unit_test_setup_teardown(test_view_nofollow, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
