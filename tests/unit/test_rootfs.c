#include "testlib.h"

#include "plan/rootfs.h"

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
  assert_string_equal(err.msg, "`/etc/app.conf` is claimed twice: as a file by contents.files[0] (generated "
                               "content of 1 byte, mode 0644, owner 0:0) and as a symlink by contents.symlinks[0] "
                               "(target `x`, owner 0:0): the types differ");
  derror_clear(&err);
  rootfs_free(&fs);

  rootfs_add_data(&fs, "/etc/a", LAYER_APP, "a", 1, 0644, "contents.files[0]");
  rootfs_add_data(&fs, "/etc/a", LAYER_APP, "b", 1, 0644, "contents.files[1]");
  assert_int_equal(rootfs_finish(&fs, &err), -1);
  assert_non_null(strstr(err.msg, "claimed twice"));
  assert_non_null(strstr(err.msg, ": the contents differ"));
  derror_clear(&err);
  rootfs_free(&fs);
}

/* The closure adds a library at 0755; `contents.files` names the same host
 * file and keeps its 0644.  One file, not a conflict. */
static void
test_same_source_merged(void **state)
{
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;
  const char *lib = "/usr/lib/x86_64-linux-gnu/libcurl.so.4.8.0";

  /* added later layer first: the sort, not the order of addition, decides */
  rootfs_add_file(&fs, lib, LAYER_APP, "/sysroot/libcurl.so.4.8.0", 10, 0644, "contents.files[0]");
  rootfs_add_file(&fs, lib, LAYER_LIBRARIES, "/sysroot/libcurl.so.4.8.0", 10, 0755,
                  "the closure of /usr/bin/curl");
  /* the union of the modes, when it is neither of them */
  rootfs_add_file(&fs, "/u", LAYER_APP, "/h/u", 1, 0750, "b");
  rootfs_add_file(&fs, "/u", LAYER_APP, "/h/u", 1, 0604, "a");
  /* two names of one inode, read from trees: the same source */
  struct rootfs_entry *e = rootfs_add_file(&fs, "/i", LAYER_APP, "/t1/i", 1, 0644, "contents.directories[1]");
  e->dev = 7;
  e->ino = 42;
  e = rootfs_add_file(&fs, "/i", LAYER_LIBRARIES, "/t0/i", 1, 0700, "contents.directories[0]");
  e->dev = 7;
  e->ino = 42;
  /* only the later claim knows the inode: the survivor takes it */
  rootfs_add_file(&fs, "/k", LAYER_LIBRARIES, "/h/k", 1, 0755, "the closure of /x");
  e = rootfs_add_file(&fs, "/k", LAYER_APP, "/h/k", 1, 0644, "contents.directories[0]");
  e->dev = 7;
  e->ino = 43;
  e->linked = true;
  assert_int_equal(rootfs_finish(&fs, &err), 0);

  assert_int_equal(fs.n, 7); /* /i /k /u /usr /usr/lib /usr/lib/x86_64-linux-gnu and the library */
  e = rootfs_find(&fs, lib);
  assert_non_null(e);
  assert_int_equal(e->type, ROOTFS_FILE);
  assert_int_equal(e->mode, 0755);
  assert_int_equal(e->layer, LAYER_LIBRARIES);
  assert_string_equal(e->origin, "the closure of /usr/bin/curl");
  assert_string_equal(e->source, "/sysroot/libcurl.so.4.8.0");
  assert_false(e->mode_set);
  assert_false(e->fixed);
  /* its parents belong to the earlier layer too */
  assert_int_equal(rootfs_find(&fs, "/usr/lib")->layer, LAYER_LIBRARIES);

  e = rootfs_find(&fs, "/u");
  assert_int_equal(e->mode, 0754);
  assert_string_equal(e->origin, "a"); /* same layer: the origin orders */

  e = rootfs_find(&fs, "/i");
  assert_int_equal(e->mode, 0744);
  assert_int_equal(e->layer, LAYER_LIBRARIES);
  assert_string_equal(e->source, "/t0/i");

  e = rootfs_find(&fs, "/k");
  assert_int_equal(e->mode, 0755);
  assert_int_equal(e->ino, 43);
  assert_true(e->linked);
  rootfs_free(&fs);
}

/* A mode the recipe sets wins over the one the closure defaults to, in
 * either layer order; two explicit modes that disagree are a conflict. */
static void
test_explicit_mode_wins(void **state)
{
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;

  rootfs_add_file(&fs, "/usr/lib/libz.so.1", LAYER_LIBRARIES, "/h/libz.so.1", 1, 0755, "the closure of /app");
  struct rootfs_entry *e = rootfs_add_file(&fs, "/usr/lib/libz.so.1", LAYER_APP, "/h/libz.so.1", 1, 0600,
                                           "contents.files[0]");
  e->mode_set = true;
  /* the explicit claim sorts first this time */
  e = rootfs_add_file(&fs, "/etc/x", LAYER_BASE, "/h/x", 1, 0640, "contents.files[1]");
  e->mode_set = true;
  rootfs_add_file(&fs, "/etc/x", LAYER_APP, "/h/x", 1, 0755, "the closure of /app");
  assert_int_equal(rootfs_finish(&fs, &err), 0);

  e = rootfs_find(&fs, "/usr/lib/libz.so.1");
  assert_int_equal(e->mode, 0600);
  assert_true(e->mode_set); /* so that policy keeps it */
  assert_int_equal(e->layer, LAYER_LIBRARIES);
  assert_string_equal(e->origin, "the closure of /app");
  e = rootfs_find(&fs, "/etc/x");
  assert_int_equal(e->mode, 0640);
  assert_true(e->mode_set);
  assert_int_equal(e->layer, LAYER_BASE);
  rootfs_free(&fs);

  e = rootfs_add_file(&fs, "/etc/y", LAYER_APP, "/h/y", 1, 0600, "contents.files[0]");
  e->mode_set = true;
  e = rootfs_add_file(&fs, "/etc/y", LAYER_APP, "/h/y", 1, 0640, "contents.files[1]");
  e->mode_set = true;
  assert_int_equal(rootfs_finish(&fs, &err), -1);
  assert_string_equal(err.msg, "`/etc/y` is claimed twice: as a file by contents.files[0] (source `/h/y`, mode "
                               "0600, owner 0:0) and as a file by contents.files[1] (source `/h/y`, mode 0640, "
                               "owner 0:0): the modes differ, and both are explicit");
  derror_clear(&err);
  rootfs_free(&fs);
}

/* A real conflict says how the claims differ. */
static void
test_conflict_says_how(void **state)
{
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;

  rootfs_add_file(&fs, "/x", LAYER_APP, "/a", 1, 0644, "A");
  rootfs_add_file(&fs, "/x", LAYER_APP, "/b", 1, 0755, "B");
  assert_int_equal(rootfs_finish(&fs, &err), -1);
  assert_string_equal(err.msg, "`/x` is claimed twice: as a file by A (source `/a`, mode 0644, owner 0:0) and as "
                               "a file by B (source `/b`, mode 0755, owner 0:0): the sources and modes differ");
  derror_clear(&err);
  rootfs_free(&fs);

  rootfs_add_file(&fs, "/x", LAYER_APP, "/a", 1, 0644, "A");
  rootfs_add_file(&fs, "/x", LAYER_APP, "/b", 1, 0644, "B");
  assert_int_equal(rootfs_finish(&fs, &err), -1);
  assert_non_null(strstr(err.msg, "`/x` is claimed twice: "));
  assert_non_null(strstr(err.msg, "(source `/a`, "));
  assert_non_null(strstr(err.msg, "(source `/b`, "));
  assert_non_null(strstr(err.msg, "): the sources differ"));
  derror_clear(&err);
  rootfs_free(&fs);

  /* one host file, two owners: not merged */
  struct rootfs_entry *e = rootfs_add_file(&fs, "/x", LAYER_APP, "/a", 1, 0644, "A");
  e->uid = e->gid = 10001;
  e->fixed = true;
  rootfs_add_file(&fs, "/x", LAYER_APP, "/a", 1, 0755, "B");
  assert_int_equal(rootfs_finish(&fs, &err), -1);
  assert_string_equal(err.msg, "`/x` is claimed twice: as a file by A (source `/a`, mode 0644, owner 10001:10001) "
                               "and as a file by B (source `/a`, mode 0755, owner 0:0): the modes and owners differ");
  derror_clear(&err);
  rootfs_free(&fs);

  rootfs_add_symlink(&fs, "/l", LAYER_APP, "a", "A");
  rootfs_add_symlink(&fs, "/l", LAYER_APP, "b", "B");
  rootfs_add_dir(&fs, "/d", LAYER_APP, 0755, "A");
  rootfs_add_dir(&fs, "/d", LAYER_APP, 0700, "B");
  assert_int_equal(rootfs_finish(&fs, &err), -1);
  /* the table is sorted: /d comes first */
  assert_string_equal(err.msg, "`/d` is claimed twice: as a directory by A (mode 0755, owner 0:0) and as a "
                               "directory by B (mode 0700, owner 0:0): the modes differ");
  derror_clear(&err);
  rootfs_free(&fs);

  rootfs_add_symlink(&fs, "/l", LAYER_APP, "a", "A");
  rootfs_add_symlink(&fs, "/l", LAYER_APP, "b", "B");
  assert_int_equal(rootfs_finish(&fs, &err), -1);
  assert_string_equal(err.msg, "`/l` is claimed twice: as a symlink by A (target `a`, owner 0:0) and as a symlink "
                               "by B (target `b`, owner 0:0): the link targets differ");
  derror_clear(&err);
  rootfs_free(&fs);
}

/* A conflict met after duplicates were absorbed and survivors moved down,
 * with more duplicates and other entries after it: the table left behind
 * holds each entry once, for rootfs_free() (ASan and valgrind run this). */
static void
test_conflict_mid_compaction(void **state)
{
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;

  rootfs_add_symlink(&fs, "/a", LAYER_APP, "x", "a1");
  rootfs_add_symlink(&fs, "/a", LAYER_APP, "x", "a2"); /* absorbed: a dead slot */
  rootfs_add_dir(&fs, "/b", LAYER_APP, 0755, "b1")->implicit = true;
  rootfs_add_dir(&fs, "/b", LAYER_APP, 0700, "b2"); /* the implied one takes its place */
  rootfs_add_data(&fs, "/c", LAYER_APP, "c", 1, 0644, "c"); /* moved down */
  rootfs_add_file(&fs, "/d", LAYER_APP, "/h/d1", 1, 0644, "d1");
  rootfs_add_file(&fs, "/d", LAYER_APP, "/h/d2", 1, 0644, "d2"); /* the conflict */
  rootfs_add_file(&fs, "/d", LAYER_APP, "/h/d3", 1, 0644, "d3");
  rootfs_add_symlink(&fs, "/e", LAYER_APP, "x", "e1");
  rootfs_add_symlink(&fs, "/e", LAYER_APP, "x", "e2");
  rootfs_add_data(&fs, "/f", LAYER_APP, "f", 1, 0644, "f");
  rootfs_add_file(&fs, "/g", LAYER_APP, "/h/g", 1, 0755, "g1");
  rootfs_add_file(&fs, "/g", LAYER_APP, "/h/g", 1, 0644, "g2");
  assert_int_equal(rootfs_finish(&fs, &err), -1);
  assert_non_null(strstr(err.msg, "`/d` is claimed twice: as a file by d1 (source `/h/d1`"));
  derror_clear(&err);

  /* survivors, then the unvisited rest from the conflicting claim on */
  const char *paths[] = { "/a", "/b", "/c", "/d", "/d", "/d", "/e", "/e", "/f", "/g", "/g" };
  const char *origins[] = { "a1", "b2", "c", "d1", "d2", "d3", "e1", "e2", "f", "g1", "g2" };
  assert_int_equal(fs.n, 11);
  for (size_t i = 0; i < fs.n; i++) {
    assert_string_equal(fs.items[i].path, paths[i]);
    assert_string_equal(fs.items[i].origin, origins[i]);
    for (size_t j = 0; j < i; j++) {
      assert_ptr_not_equal(fs.items[i].path, fs.items[j].path);
      assert_ptr_not_equal(fs.items[i].origin, fs.items[j].origin);
    }
  }
  assert_int_equal(fs.items[1].layer, LAYER_APP);
  assert_int_equal(fs.items[1].mode, 0700);
  assert_false(fs.items[1].implicit);
  rootfs_free(&fs);
  assert_int_equal(fs.n, 0);
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
    cmocka_unit_test(test_same_source_merged),
    cmocka_unit_test(test_explicit_mode_wins),
    cmocka_unit_test(test_conflict_says_how),
    cmocka_unit_test(test_conflict_mid_compaction),
    cmocka_unit_test(test_parent_not_a_directory),
    cmocka_unit_test(test_tree_with_exclude),
    cmocka_unit_test(test_hardlinks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
