#include "testlib.h"

#include "distill/rootfs.h"

static void
test_sorted_with_parents(void **state)
{
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;

  rootfs_add_data(&fs, "/usr/bin/b", LAYER_APP, "b", 1, 0755, "b");
  rootfs_add_data(&fs, "/usr/bin-x", LAYER_APP, "x", 1, 0644, "x");
  rootfs_add_symlink(&fs, "/lib", LAYER_LIBRARIES, "usr/lib", "l");
  rootfs_add_data(&fs, "/usr/lib/libc.so.6", LAYER_LIBRARIES, "c", 1, 0755, "c");
  assert_int_equal(rootfs_finish(&fs, &err), 0);

  const char *expect[] = { "/lib", "/usr", "/usr/bin", "/usr/bin-x", "/usr/bin/b", "/usr/lib", "/usr/lib/libc.so.6" };
  assert_int_equal(fs.n, 7);
  for (size_t i = 0; i < fs.n; i++)
    assert_string_equal(fs.items[i].path, expect[i]);
  /* A parent belongs to the earliest layer that needs it. */
  assert_int_equal(rootfs_find(&fs, "/usr")->layer, LAYER_LIBRARIES);
  assert_int_equal(rootfs_find(&fs, "/usr/bin")->layer, LAYER_APP);
  assert_true(rootfs_find(&fs, "/usr/bin")->implicit);
  assert_int_equal(rootfs_find(&fs, "/usr/bin")->mode, 0755);
  assert_null(rootfs_find(&fs, "/usr/sbin"));
  rootfs_free(&fs);
}

static void
test_duplicates_and_conflicts(void **state)
{
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;

  /* The same symlink met twice is one entry. */
  rootfs_add_symlink(&fs, "/lib", LAYER_LIBRARIES, "usr/lib", "the closure of /a");
  rootfs_add_symlink(&fs, "/lib", LAYER_LIBRARIES, "usr/lib", "the closure of /b");
  /* A directory listed explicitly wins over the implied one. */
  struct rootfs_entry *home = rootfs_add_dir(&fs, "/home/app", LAYER_BASE, 0700, "accounts");
  home->uid = 10001;
  home->fixed = true;
  rootfs_add_data(&fs, "/home/app/.profile", LAYER_APP, "", 0, 0644, "files");
  assert_int_equal(rootfs_finish(&fs, &err), 0);
  assert_int_equal(fs.n, 4);
  assert_int_equal(rootfs_find(&fs, "/home/app")->uid, 10001);
  assert_int_equal(rootfs_find(&fs, "/home/app")->mode, 0700);
  rootfs_free(&fs);

  rootfs_add_data(&fs, "/etc/app.conf", LAYER_APP, "a", 1, 0644, "contents.files[0]");
  rootfs_add_symlink(&fs, "/etc/app.conf", LAYER_APP, "x", "contents.symlinks[0]");
  assert_int_equal(rootfs_finish(&fs, &err), -1);
  assert_string_equal(err.msg, "`/etc/app.conf` is claimed twice: as a file by contents.files[0] and as a symlink "
                               "by contents.symlinks[0]");
  derror_clear(&err);
  rootfs_free(&fs);

  rootfs_add_data(&fs, "/etc/a", LAYER_APP, "a", 1, 0644, "contents.files[0]");
  rootfs_add_data(&fs, "/etc/a", LAYER_APP, "b", 1, 0644, "contents.files[1]");
  assert_int_equal(rootfs_finish(&fs, &err), -1);
  assert_non_null(strstr(err.msg, "claimed twice"));
  derror_clear(&err);
  rootfs_free(&fs);
}

static void
test_parent_not_a_directory(void **state)
{
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;

  rootfs_add_symlink(&fs, "/lib", LAYER_LIBRARIES, "usr/lib", "the closure of /usr/bin/curl");
  rootfs_add_data(&fs, "/lib/extra/x.so", LAYER_APP, "x", 1, 0644, "contents.files[0]");
  assert_int_equal(rootfs_finish(&fs, &err), -1);
  assert_string_equal(err.msg, "`/lib/extra/x.so` (from contents.files[0]) is below `/lib`, which is a symlink "
                               "(from the closure of /usr/bin/curl)");
  derror_clear(&err);
  rootfs_free(&fs);
}

static void
test_tree_with_exclude(void **state)
{
  char *dir = tl_tmpdir();
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;
  struct strv exclude = { 0 };

  free(tl_write(dir, "src/b.py", "b"));
  free(tl_write(dir, "src/a.py", "a"));
  free(tl_write(dir, "src/__pycache__/a.pyc", "c"));
  free(tl_write(dir, "src/test/t.py", "t"));
  free(tl_write(dir, "src/pkg/test/keep.py", "k"));
  assert_int_equal(tl_sh("cd '%s/src' && ln -s a.py link.py && chmod 0755 b.py", dir), 0);
  strv_push(&exclude, "__pycache__");
  strv_push(&exclude, "test");
  cleanup_free char *src = xasprintf("%s/src", dir);
  strv_free(&exclude);
  strv_push(&exclude, "__pycache__");
  strv_push(&exclude, "/never");
  strv_push(&exclude, "test"); /* matches the base name anywhere */
  assert_int_equal(rootfs_add_tree(&fs, src, "/app", &exclude, LAYER_APP, "contents.directories[0]", &err), 0);
  assert_int_equal(rootfs_finish(&fs, &err), 0);
  const char *expect[] = { "/app", "/app/a.py", "/app/b.py", "/app/link.py", "/app/pkg" };
  assert_int_equal(fs.n, 5);
  for (size_t i = 0; i < fs.n; i++)
    assert_string_equal(fs.items[i].path, expect[i]);
  assert_int_equal(rootfs_find(&fs, "/app/link.py")->type, ROOTFS_SYMLINK);
  assert_string_equal(rootfs_find(&fs, "/app/link.py")->target, "a.py");
  assert_int_equal(rootfs_find(&fs, "/app/b.py")->mode & 0111, 0111);
  assert_int_equal(rootfs_find(&fs, "/app/a.py")->size, 1);
  strv_free(&exclude);
  rootfs_free(&fs);

  /* A FIFO has no place in an image. */
  assert_int_equal(tl_sh("mkfifo '%s/src/pipe'", dir), 0);
  assert_int_equal(rootfs_add_tree(&fs, src, "/app", NULL, LAYER_APP, "contents.directories[0]", &err), -1);
  cleanup_free char *msg = xasprintf("contents.directories[0]: `%s/pipe`: a device, FIFO or socket cannot be put "
                                     "in an image", src);
  assert_string_equal(err.msg, msg);
  derror_clear(&err);
  rootfs_free(&fs);
  tl_rmtree(dir);
}

/* Names of one inode: the first in bytewise order keeps the content,
 * whatever order the directory lists them in. */
static void
test_hardlinks(void **state)
{
  char *dir = tl_tmpdir();
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;

  free(tl_write(dir, "t/a/z", "same"));
  assert_int_equal(tl_sh("cd '%s/t' && mkdir a-b && ln a/z a-b/c && ln a/z b && echo other > single", dir), 0);
  cleanup_free char *src = xasprintf("%s/t", dir);
  assert_int_equal(rootfs_add_tree(&fs, src, "/t", NULL, LAYER_APP, "d", &err), 0);
  assert_int_equal(rootfs_finish(&fs, &err), 0);
  /* "/t/a-b/c" < "/t/a/z" < "/t/b" bytewise ('-' is below '/') */
  assert_int_equal(rootfs_find(&fs, "/t/a-b/c")->type, ROOTFS_FILE);
  assert_int_equal(rootfs_find(&fs, "/t/a-b/c")->size, 4);
  assert_int_equal(rootfs_find(&fs, "/t/a/z")->type, ROOTFS_HARDLINK);
  assert_string_equal(rootfs_find(&fs, "/t/a/z")->target, "/t/a-b/c");
  assert_int_equal(rootfs_find(&fs, "/t/b")->type, ROOTFS_HARDLINK);
  assert_string_equal(rootfs_find(&fs, "/t/b")->target, "/t/a-b/c");
  assert_int_equal(rootfs_find(&fs, "/t/single")->type, ROOTFS_FILE);
  rootfs_free(&fs);
  tl_rmtree(dir);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sorted_with_parents),
    cmocka_unit_test(test_duplicates_and_conflicts),
    cmocka_unit_test(test_parent_not_a_directory),
    cmocka_unit_test(test_tree_with_exclude),
    cmocka_unit_test(test_hardlinks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
