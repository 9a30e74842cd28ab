#include "testlib.h"

#include "lib/cache.h"
#include "lib/error.h"
#include "plan/dpkg.h"
#include "plan/rootfs.h"
#include "plan/sysroot.h"

#include <dirent.h>

/* Three installed packages, one of them for two architectures, and one
 * removed whose list still names a file of the image. */
static const char status[] = "Package: libbar\n"
                             "Status: install ok installed\n"
                             "Architecture: amd64\n"
                             "Version: 1.0-1\n"
                             "Maintainer: Bar Team <bar@example.org>\n"
                             "Description: bar\n"
                             "\n"
                             "Package: libbar\n"
                             "Status: install ok installed\n"
                             "Architecture: i386\n"
                             "Version: 1.0-1\n"
                             "Description: bar\n"
                             "\n"
                             "Package: libfoo1\n"
                             "Status: install ok installed\n"
                             "Priority: optional\n"
                             "Architecture: amd64\n"
                             "Maintainer: Foo Maintainers <foo@example.org>\n"
                             "Version: 2.3-4\n"
                             "Description: foo\n"
                             " the library of foo\n"
                             "\n"
                             "Package: gone\n"
                             "Status: deinstall ok config-files\n"
                             "Architecture: amd64\n"
                             "Version: 0.1\n"
                             "\n"
                             "Package: tool\n"
                             "Status: install ok installed\n"
                             "Architecture: amd64\n"
                             "Version: 5\n";

#define LIBFOO_STANZA                                                                                              \
  "Package: libfoo1\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\n"                      \
  "Maintainer: Foo Maintainers <foo@example.org>\nVersion: 2.3-4\nDescription: foo\n the library of foo\n"

/* A Debian sysroot with merged /usr: /lib is a link to usr/lib, and a list
 * names a file by its /lib path. */
static char *
make_root(void)
{
  char *dir = tl_tmpdir();

  free(tl_write(dir, "var/lib/dpkg/status", status));
  free(tl_write(dir, "var/lib/dpkg/info/libfoo1.list",
                "/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libfoo.so.1\n"
                "/usr/share/doc/libfoo1\n/usr/share/doc/libfoo1/copyright\n"));
  /* dpkg's sums: libfoo1's by the /lib name its list has (a made-up sum,
   * so that the test sees it taken, not computed); libbar has none */
  free(tl_write(dir, "var/lib/dpkg/info/libfoo1.md5sums",
                "0123456789abcdef0123456789abcdef  lib/x86_64-linux-gnu/libfoo.so.1\n"
                "fedcba9876543210fedcba9876543210  usr/share/doc/libfoo1/copyright\n"));
  free(tl_write(dir, "var/lib/dpkg/info/libbar:amd64.list", "/usr/lib/x86_64-linux-gnu/libbar.so.1\n"));
  free(tl_write(dir, "var/lib/dpkg/info/libbar:i386.list", "/usr/lib/i386-linux-gnu/libbar.so.1\n"));
  free(tl_write(dir, "var/lib/dpkg/info/gone.list", "/etc/hostname\n"));
  free(tl_write(dir, "var/lib/dpkg/info/tool.list", "/usr/bin/tool\n"));
  free(tl_write(dir, "usr/lib/x86_64-linux-gnu/libfoo.so.1", "foo"));
  free(tl_write(dir, "usr/lib/x86_64-linux-gnu/libbar.so.1", "bar64"));
  free(tl_write(dir, "usr/lib/i386-linux-gnu/libbar.so.1", "bar32"));
  free(tl_write(dir, "usr/share/doc/libfoo1/copyright", "Format: x\n"));
  free(tl_write(dir, "usr/bin/tool", "tool"));
  free(tl_write(dir, "etc/hostname", "box\n"));
  assert_int_equal(tl_sh("ln -s usr/lib '%s/lib'", dir), 0);
  return dir;
}

struct fixture {
  char *dir, *outside;
  struct sysroot root;
  struct rootfs fs;
};

static void
add(struct fixture *f, const char *path, rootfs_layer layer)
{
  cleanup_free char *source = xasprintf("%s%s", f->root.root, path);

  rootfs_add_file(&f->fs, path, layer, source, 1, 0644, "test");
}

/* The image: the three libraries, a file of the sysroot no installed
 * package has, and one from outside the sysroot. */
static int
setup(void **state)
{
  struct fixture *f = xcalloc(1, sizeof *f);
  struct derror err = DERROR_INIT;

  f->dir = make_root();
  f->outside = tl_tmpdir();
  assert_int_equal(sysroot_open(&f->root, f->dir, &err), 0);
  add(f, "/usr/lib/x86_64-linux-gnu/libfoo.so.1", LAYER_LIBRARIES);
  add(f, "/usr/lib/x86_64-linux-gnu/libbar.so.1", LAYER_LIBRARIES);
  add(f, "/usr/lib/i386-linux-gnu/libbar.so.1", LAYER_APP);
  add(f, "/etc/hostname", LAYER_BASE);
  cleanup_free char *app = tl_write(f->outside, "app", "app");
  rootfs_add_file(&f->fs, "/usr/local/bin/app", LAYER_APP, app, 3, 0755, "test");
  *state = f;
  return 0;
}

static int
teardown(void **state)
{
  struct fixture *f = *state;

  rootfs_free(&f->fs);
  sysroot_close(&f->root);
  tl_rmtree(f->dir);
  tl_rmtree(f->outside);
  free(f);
  return 0;
}

/* rootfs_find() needs rootfs_finish(); dpkg_annotate() runs before it. */
static const struct rootfs_entry *
entry(const struct rootfs *fs, const char *path)
{
  for (size_t i = 0; i < fs->n; i++)
    if (strcmp(fs->items[i].path, path) == 0)
      return &fs->items[i];
  return NULL;
}

static void
check_packages(const struct fixture *f, const struct dpkg_packages *pkgs)
{
  /* by name, then architecture; only those with files here */
  assert_int_equal(pkgs->n, 3);
  assert_string_equal(pkgs->items[0].name, "libbar");
  assert_string_equal(pkgs->items[0].arch, "amd64");
  assert_string_equal(pkgs->items[1].name, "libbar");
  assert_string_equal(pkgs->items[1].arch, "i386");
  assert_string_equal(pkgs->items[2].name, "libfoo1");
  assert_string_equal(pkgs->items[2].version, "2.3-4");
  assert_string_equal(pkgs->items[2].maintainer, "Foo Maintainers <foo@example.org>");
  assert_null(pkgs->items[1].maintainer);

  /* the merged /usr: the list's /lib path is the image's /usr/lib file */
  assert_int_equal(dpkg_package_of(pkgs, "/usr/lib/x86_64-linux-gnu/libfoo.so.1"), 2);
  assert_int_equal(dpkg_package_of(pkgs, "/usr/lib/x86_64-linux-gnu/libbar.so.1"), 0);
  assert_int_equal(dpkg_package_of(pkgs, "/usr/lib/i386-linux-gnu/libbar.so.1"), 1);
  /* a removed package owns nothing, a file from outside has no package */
  assert_int_equal(dpkg_package_of(pkgs, "/etc/hostname"), -1);
  assert_int_equal(dpkg_package_of(pkgs, "/usr/local/bin/app"), -1);
  assert_int_equal(dpkg_package_of(pkgs, "/usr/bin/tool"), -1);
}

static void
check_metadata(const struct fixture *f, const struct dpkg_packages *pkgs)
{
  /* two architectures of one name: each status file names its own */
  assert_string_equal(pkgs->items[0].status_path, "/var/lib/dpkg/status.d/libbar:amd64");
  assert_string_equal(pkgs->items[1].status_path, "/var/lib/dpkg/status.d/libbar:i386");
  assert_string_equal(pkgs->items[2].status_path, "/var/lib/dpkg/status.d/libfoo1");

  /* the stanza as the status file has it, in the layer of the first file */
  const struct rootfs_entry *e = entry(&f->fs, "/var/lib/dpkg/status.d/libfoo1");
  assert_non_null(e);
  assert_int_equal(e->layer, LAYER_LIBRARIES);
  assert_int_equal(e->size, strlen(LIBFOO_STANZA));
  assert_memory_equal(e->data, LIBFOO_STANZA, e->size);
  e = entry(&f->fs, "/var/lib/dpkg/status.d/libbar:i386");
  assert_non_null(e);
  assert_int_equal(e->layer, LAYER_APP);
  assert_non_null(strstr(e->data, "Architecture: i386\n"));

  /* the md5sums beside each stanza: the image's paths, dpkg's sum where it
   * has one, else the file's own (md5 of "bar64") */
  e = entry(&f->fs, "/var/lib/dpkg/status.d/libfoo1.md5sums");
  assert_non_null(e);
  assert_int_equal(e->layer, LAYER_LIBRARIES);
  static const char foo_sums[] = "0123456789abcdef0123456789abcdef  usr/lib/x86_64-linux-gnu/libfoo.so.1\n";
  assert_int_equal(e->size, strlen(foo_sums));
  assert_memory_equal(e->data, foo_sums, e->size);
  e = entry(&f->fs, "/var/lib/dpkg/status.d/libbar:amd64.md5sums");
  assert_non_null(e);
  static const char bar_sums[] = "cd51820882c7e977344d533fb50f5caf  usr/lib/x86_64-linux-gnu/libbar.so.1\n";
  assert_int_equal(e->size, strlen(bar_sums));
  assert_memory_equal(e->data, bar_sums, e->size);

  /* the copyright file, read from the sysroot, where there is one */
  cleanup_free char *copyright = xasprintf("%s/usr/share/doc/libfoo1/copyright", f->root.root);
  assert_string_equal(pkgs->items[2].copyright, copyright);
  e = entry(&f->fs, "/usr/share/doc/libfoo1/copyright");
  assert_non_null(e);
  assert_string_equal(e->source, copyright);
  assert_null(pkgs->items[0].copyright);
  assert_null(entry(&f->fs, "/usr/share/doc/libbar/copyright"));
}

static void
test_annotate(void **state)
{
  struct fixture *f = *state;
  struct derror err = DERROR_INIT;
  struct dpkg_packages pkgs;

  assert_int_equal(dpkg_annotate(&f->fs, &f->root, NULL, &pkgs, &err), 0);
  check_packages(f, &pkgs);
  check_metadata(f, &pkgs);
  dpkg_packages_free(&pkgs);
}

static size_t
count_files(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  size_t n = 0;

  assert_non_null(d);
  while ((de = readdir(d)) != NULL)
    n += de->d_name[0] != '.';
  closedir(d);
  return n;
}

/* What the lists said is noted in the cache; the next build reads the
 * note instead, and finds the same. */
static void
test_cached(void **state)
{
  struct fixture *f = *state;
  struct derror err = DERROR_INIT;
  struct dpkg_packages pkgs;
  struct cache cache;

  cleanup_free char *dir = xasprintf("%s/cache", f->outside);
  cleanup_free char *keys = xasprintf("%s/keys", dir);
  assert_int_equal(cache_open(&cache, dir, &err), 0);
  assert_int_equal(dpkg_annotate(&f->fs, &f->root, &cache, &pkgs, &err), 0);
  dpkg_packages_free(&pkgs);
  assert_int_equal(count_files(keys), 1);

  struct rootfs again = { 0 };
  for (size_t i = 0; i < 5; i++)
    rootfs_add_file(&again, f->fs.items[i].path, f->fs.items[i].layer, f->fs.items[i].source, 1, 0644, "test");
  rootfs_free(&f->fs);
  f->fs = again;
  assert_int_equal(dpkg_annotate(&f->fs, &f->root, &cache, &pkgs, &err), 0);
  assert_int_equal(count_files(keys), 1);
  check_packages(f, &pkgs);
  check_metadata(f, &pkgs);
  dpkg_packages_free(&pkgs);
  cache_close(&cache);
}

/* A sysroot without a dpkg database has no packages, and nothing is added. */
static void
test_no_database(void **state)
{
  struct fixture *f = *state;
  struct derror err = DERROR_INIT;
  struct dpkg_packages pkgs;
  size_t before = f->fs.n;

  assert_int_equal(tl_sh("rm '%s/var/lib/dpkg/status'", f->dir), 0);
  assert_int_equal(dpkg_annotate(&f->fs, &f->root, NULL, &pkgs, &err), 0);
  assert_int_equal(pkgs.n, 0);
  assert_int_equal(dpkg_package_of(&pkgs, "/usr/lib/x86_64-linux-gnu/libfoo.so.1"), -1);
  assert_int_equal(f->fs.n, before);
  dpkg_packages_free(&pkgs);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_annotate, setup, teardown),
    cmocka_unit_test_setup_teardown(test_cached, setup, teardown),
    cmocka_unit_test_setup_teardown(test_no_database, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
