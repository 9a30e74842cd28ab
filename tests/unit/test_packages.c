#include "testlib.h"

#include "lib/error.h"
#include "plan/packages.h"
#include "plan/rootfs.h"
#include "plan/sysroot.h"
#include "recipe/recipe.h"

/* tool is installed; libbar for two architectures; gone left its
 * configuration; half was unpacked and never configured. */
static const char status[] = "Package: tool\n"
                             "Status: install ok installed\n"
                             "Architecture: amd64\n"
                             "Version: 5\n"
                             "\n"
                             "Package: libbar\n"
                             "Status: install ok installed\n"
                             "Architecture: amd64\n"
                             "Version: 1\n"
                             "\n"
                             "Package: libbar\n"
                             "Status: hold ok installed\n"
                             "Architecture: i386\n"
                             "Version: 1\n"
                             "\n"
                             "Package: gone\n"
                             "Status: deinstall ok config-files\n"
                             "Architecture: amd64\n"
                             "Version: 0.1\n"
                             "\n"
                             "Package: half\n"
                             "Status: install reinstreq half-installed\n"
                             "Architecture: amd64\n"
                             "Version: 2\n";

static void
find(const char *name, const char *arch, const char *want_arch, const char *want_err)
{
  struct derror err = DERROR_INIT;
  char *got = NULL;
  int r = packages_find_installed(status, strlen(status), name, arch, &got, &err);

  if (want_arch) {
    assert_int_equal(r, 0);
    assert_string_equal(got, want_arch);
  } else {
    assert_int_equal(r, -1);
    assert_null(got);
    assert_string_equal(err.msg, want_err);
  }
  free(got);
  derror_clear(&err);
}

static void
test_find_installed(void **state)
{
  (void) state;
  find("tool", NULL, "amd64", NULL);
  find("tool", "amd64", "amd64", NULL);
  find("libbar", "i386", "i386", NULL); /* held: still whole */
  find("libbar", NULL, NULL, "`libbar` is installed for amd64 and i386: name one as libbar:ARCH");
  find("tool", "arm64", NULL, "`tool:arm64` is not installed in the sysroot (`tool:amd64` is)");
  find("gone", NULL, NULL,
       "`gone` is not installed in the sysroot: its status is \"deinstall ok config-files\", not \"install ok "
       "installed\"");
  find("half", NULL, NULL,
       "`half` is not installed in the sysroot: its status is \"install reinstreq half-installed\", not "
       "\"install ok installed\"");
  find("absent", NULL, NULL, "`absent` is not installed in the sysroot (its dpkg status has no such package)");
  find("too", NULL, NULL, "`too` is not installed in the sysroot (its dpkg status has no such package)");
}

static void
test_doc_and_exclude(void **state)
{
  (void) state;
  assert_true(packages_is_doc("/usr/share/doc"));
  assert_true(packages_is_doc("/usr/share/doc/tool/changelog.gz"));
  assert_true(packages_is_doc("/usr/share/man/man1/tool.1.gz"));
  assert_true(packages_is_doc("/usr/share/locale/de/LC_MESSAGES/tool.mo"));
  assert_true(packages_is_doc("/usr/share/lintian/overrides/tool"));
  assert_true(packages_is_doc("/usr/share/info/tool.info.gz"));
  assert_false(packages_is_doc("/usr/share/documents"));
  assert_false(packages_is_doc("/usr/share"));
  assert_false(packages_is_doc("/usr/share/tool/doc"));

  struct strv ex = { 0 };
  assert_false(packages_excluded(&ex, "/usr/bin/tool"));
  strv_push(&ex, "*.tab");
  strv_push(&ex, "/usr/share/zoneinfo/right");
  strv_push(&ex, "/usr/lib/*/tool");
  assert_true(packages_excluded(&ex, "/usr/share/zoneinfo/zone.tab"));
  assert_true(packages_excluded(&ex, "/usr/share/zoneinfo/right"));
  assert_true(packages_excluded(&ex, "/usr/share/zoneinfo/right/Europe/Paris")); /* below a match */
  assert_false(packages_excluded(&ex, "/usr/share/zoneinfo/Europe/Paris"));
  assert_false(packages_excluded(&ex, "/usr/share/zoneinfo/rightmost"));
  assert_true(packages_excluded(&ex, "/usr/lib/x86_64-linux-gnu/tool/plugin.so"));
  assert_false(packages_excluded(&ex, "/usr/lib/a/b/tool")); /* '*' stops at '/' */
  strv_free(&ex);
}

struct fixture {
  char *dir;
  struct sysroot root;
  struct rootfs fs;
  struct strv warnings;
  struct recipe r;
  struct recipe_package pkg;
};

/* A merged /usr: tool's list names /bin/tool, which is /usr/bin/tool. */
static int
setup(void **state)
{
  struct fixture *f = xcalloc(1, sizeof *f);
  struct derror err = DERROR_INIT;
  char *d = f->dir = tl_tmpdir();

  free(tl_write(d, "var/lib/dpkg/status", status));
  free(tl_write(d, "var/lib/dpkg/info/tool.list",
                "/.\n/bin\n/bin/tool\n/usr\n/usr/bin\n/usr/bin/tool-alias\n/usr/share\n/usr/share/tool\n"
                "/usr/share/tool/data\n/usr/share/tool/data.tab\n/usr/share/doc\n/usr/share/doc/tool\n"
                "/usr/share/doc/tool/copyright\n/usr/share/doc/tool/changelog.gz\n/usr/share/man/man1/tool.1.gz\n"
                "/usr/share/tool/lost\n/var/lib/tool\n"));
  free(tl_write(d, "var/lib/dpkg/info/libbar:i386.list", "/usr/lib/i386-linux-gnu/libbar.so.1\n"));
  free(tl_write(d, "usr/bin/tool", "tool"));
  free(tl_write(d, "usr/share/tool/data", "data"));
  free(tl_write(d, "usr/share/tool/data.tab", "tab"));
  free(tl_write(d, "usr/share/doc/tool/copyright", "c"));
  free(tl_write(d, "usr/share/doc/tool/changelog.gz", "log"));
  free(tl_write(d, "usr/share/man/man1/tool.1.gz", "man"));
  free(tl_write(d, "usr/lib/i386-linux-gnu/libbar.so.1", "bar"));
  assert_int_equal(tl_sh("chmod 0750 '%s/usr/bin/tool' && ln -s usr/bin '%s/bin' && ln -s tool '%s/usr/bin/tool-alias'"
                         " && mkdir -p '%s/var/lib/tool'",
                         d, d, d, d),
                   0);
  assert_int_equal(sysroot_open(&f->root, d, &err), 0);
  f->r.file = (char *) "t.yaml";
  f->r.packages = &f->pkg;
  f->r.n_packages = 1;
  f->pkg.pos = (struct recipe_pos) { 4, 7 };
  f->pkg.layer.index = LAYER_LIBRARIES; /* as recipe/layers.c chooses it without a layer: key */
  *state = f;
  return 0;
}

static int
teardown(void **state)
{
  struct fixture *f = *state;

  rootfs_free(&f->fs);
  strv_free(&f->warnings);
  strv_free(&f->pkg.exclude);
  sysroot_close(&f->root);
  tl_rmtree(f->dir);
  free(f);
  return 0;
}

static const struct rootfs_entry *
entry(const struct rootfs *fs, const char *path)
{
  for (size_t i = 0; i < fs->n; i++)
    if (strcmp(fs->items[i].path, path) == 0)
      return &fs->items[i];
  return NULL;
}

static void
test_add_from_list(void **state)
{
  struct fixture *f = *state;
  struct derror err = DERROR_INIT;

  f->pkg.name = (char *) "tool";
  strv_push(&f->pkg.exclude, "*.tab");
  assert_int_equal(packages_add(&f->r, 0, &f->root, &f->fs, &f->warnings, &err), 0);
  assert_null(err.msg);
  /* /bin/tool, at its name with /bin resolved; its own mode */
  const struct rootfs_entry *e = entry(&f->fs, "/usr/bin/tool");
  assert_non_null(e);
  assert_int_equal(e->type, ROOTFS_FILE);
  assert_int_equal(e->mode, 0750);
  assert_true(e->mode_set);
  assert_int_equal(e->layer, LAYER_LIBRARIES);
  assert_string_equal(e->origin, "t.yaml:4:7: contents.packages[0]");
  /* /bin itself is the sysroot's symlink */
  assert_non_null(e = entry(&f->fs, "/bin"));
  assert_int_equal(e->type, ROOTFS_SYMLINK);
  assert_string_equal(e->target, "usr/bin");
  assert_non_null(e = entry(&f->fs, "/usr/bin/tool-alias"));
  assert_int_equal(e->type, ROOTFS_SYMLINK);
  assert_string_equal(e->target, "tool");
  assert_non_null(e = entry(&f->fs, "/var/lib/tool"));
  assert_int_equal(e->type, ROOTFS_DIR);
  assert_non_null(entry(&f->fs, "/usr/share/tool/data"));
  /* excluded, documentation, and "/." */
  assert_null(entry(&f->fs, "/usr/share/tool/data.tab"));
  assert_null(entry(&f->fs, "/usr/share/doc"));
  assert_null(entry(&f->fs, "/usr/share/doc/tool/copyright"));
  assert_null(entry(&f->fs, "/usr/share/doc/tool/changelog.gz"));
  assert_null(entry(&f->fs, "/usr/share/man/man1/tool.1.gz"));
  assert_null(entry(&f->fs, "/"));
  assert_null(entry(&f->fs, "/."));
  /* what the list names and the sysroot lacks: one warning */
  assert_null(entry(&f->fs, "/usr/share/tool/lost"));
  assert_int_equal(f->warnings.n, 1);
  assert_string_equal(f->warnings.items[0], "t.yaml:4:7: contents.packages[0]: 1 file of package `tool` is not in "
                                            "the sysroot (the first: `/usr/share/tool/lost`)");
  assert_int_equal(rootfs_finish(&f->fs, &err), 0);
}

/* NAME:ARCH reads info/NAME:ARCH.list */
static void
test_add_multiarch(void **state)
{
  struct fixture *f = *state;
  struct derror err = DERROR_INIT;

  f->pkg.name = (char *) "libbar";
  f->pkg.arch = (char *) "i386";
  assert_int_equal(packages_add(&f->r, 0, &f->root, &f->fs, &f->warnings, &err), 0);
  assert_non_null(entry(&f->fs, "/usr/lib/i386-linux-gnu/libbar.so.1"));
  assert_int_equal(f->warnings.n, 0);
}

static void
test_add_refused(void **state)
{
  struct fixture *f = *state;
  struct derror err = DERROR_INIT;

  f->pkg.name = (char *) "gone";
  assert_int_equal(packages_add(&f->r, 0, &f->root, &f->fs, &f->warnings, &err), -1);
  assert_string_equal(err.msg, "t.yaml:4:7: contents.packages[0]: `gone` is not installed in the sysroot: its "
                               "status is \"deinstall ok config-files\", not \"install ok installed\"");
  derror_clear(&err);
  /* installed, but its list is gone */
  f->pkg.name = (char *) "libbar";
  f->pkg.arch = (char *) "amd64";
  assert_int_equal(packages_add(&f->r, 0, &f->root, &f->fs, &f->warnings, &err), -1);
  assert_string_equal(err.msg, "t.yaml:4:7: contents.packages[0]: `libbar`: its list of files "
                               "(/var/lib/dpkg/info/libbar.list) is not in the sysroot");
  derror_clear(&err);
  assert_int_equal(f->fs.n, 0);
}

/* A program named like a shell: refused with the package and the path,
 * unless excluded. */
static void
test_add_shell(void **state)
{
  struct fixture *f = *state;
  struct derror err = DERROR_INIT;

  free(tl_write(f->dir, "var/lib/dpkg/info/tool.list", "/usr/bin\n/usr/bin/tool\n/usr/bin/sh\n"));
  free(tl_write(f->dir, "usr/bin/sh", "#!/bin/false\n"));
  assert_int_equal(tl_sh("chmod 0755 '%s/usr/bin/sh'", f->dir), 0);
  f->pkg.name = (char *) "tool";
  assert_int_equal(packages_add(&f->r, 0, &f->root, &f->fs, &f->warnings, &err), -1);
  assert_string_equal(err.msg, "t.yaml:4:7: contents.packages[0]: package `tool` brings `/usr/bin/sh`, a shell "
                               "(\"sh\"); distill images have none (leave it out with exclude, or take what you "
                               "need with contents.files)");
  derror_clear(&err);
  rootfs_free(&f->fs);
  strv_push(&f->pkg.exclude, "/usr/bin/sh");
  assert_int_equal(packages_add(&f->r, 0, &f->root, &f->fs, &f->warnings, &err), 0);
  assert_non_null(entry(&f->fs, "/usr/bin/tool"));
  assert_null(entry(&f->fs, "/usr/bin/sh"));
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_find_installed),
    cmocka_unit_test(test_doc_and_exclude),
    cmocka_unit_test_setup_teardown(test_add_from_list, setup, teardown),
    cmocka_unit_test_setup_teardown(test_add_multiarch, setup, teardown),
    cmocka_unit_test_setup_teardown(test_add_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(test_add_shell, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
