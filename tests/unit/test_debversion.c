/* dpkg's order of versions (deb-version(7)) and two images' packages
 * compared by it. */
#include "testlib.h"

#include "image/packages.h"

/* dpkg itself, where it is installed, says the same of each pair */
static void
dpkg_agrees(const char *a, const char *op, const char *b)
{
  if (access("/usr/bin/dpkg", X_OK) == 0 && tl_sh("dpkg --compare-versions '%s' %s '%s'", a, op, b) != 0)
    fail_msg("dpkg does not say %s %s %s", a, op, b);
}

static void
older(const char *a, const char *b)
{
  if (debian_version_cmp(a, b) >= 0 || debian_version_cmp(b, a) <= 0)
    fail_msg("%s is not older than %s", a, b);
  dpkg_agrees(a, "lt", b);
}

static void
same(const char *a, const char *b)
{
  if (debian_version_cmp(a, b) != 0 || debian_version_cmp(b, a) != 0)
    fail_msg("%s and %s are not the same version", a, b);
  dpkg_agrees(a, "eq", b);
}

static void
test_order(void **state)
{
  (void) state;
  older("1.0", "1.1");
  older("1.9", "1.10");        /* digits as numbers */
  older("1.0~rc1", "1.0");     /* '~' before the end */
  older("1.0~rc1", "1.0~rc2");
  older("1.0~~", "1.0~");
  older("1.0", "1.0a");        /* the end before letters */
  older("1.0a", "1.0+");       /* letters before other characters */
  older("1.0", "1.0+b1");
  older("1.0", "1.0-1");       /* no revision before one */
  older("1.0-1", "1.0-1.1");
  older("1.0-1~bpo12+1", "1.0-1");
  older("2.0", "1:0.1");       /* the epoch first */
  older("7.74.0-1.3+deb11u7", "7.88.1-10+deb12u15");
  older("3.0.9-1", "3.0.11-1~deb12u2");
  older("1.2.3-4", "1.2.3-10");
  older("0.9", "0.10-1");
  same("1.0", "1.00");         /* leading zeros */
  same("1.0-1", "1.0-1");
  same("0:1.0", "1.0");        /* epoch 0 is no epoch */
  same("2:1.0-1", "2:1.0-1");
}

static void test_diff(void **state) {
  struct image_package pa[] = {
    { .name = "gone", .arch = "amd64", .version = "1.0" },
    { .name = "libssl3", .arch = "amd64", .version = "3.0.11-1~deb12u2" },
    { .name = "same", .arch = "all", .version = "2" },
    { .name = "zlib1g", .arch = "amd64", .version = "1:1.2.13.dfsg-1" },
  };
  struct image_package pb[] = {
    { .name = "libssl3", .arch = "amd64", .version = "3.0.9-1" },
    { .name = "new", .arch = "amd64", .version = "5" },
    { .name = "same", .arch = "all", .version = "2" },
    { .name = "zlib1g", .arch = "amd64", .version = "1:1.3.dfsg-3" },
  };
  struct image_packages a = { .items = pa, .n = 4 }, b = { .items = pb, .n = 4 };
  struct package_diff *d = NULL;
  size_t n = packages_diff(&a, &b, &d);

  (void) state;
  assert_int_equal(n, 4);
  assert_string_equal(d[0].name, "gone");
  assert_int_equal(d[0].change, PACKAGE_REMOVED);
  assert_null(d[0].new_version);
  assert_string_equal(d[1].name, "libssl3");
  assert_int_equal(d[1].change, PACKAGE_DOWNGRADED);
  assert_string_equal(package_change_name(d[1].change), "downgrade");
  assert_string_equal(d[2].name, "new");
  assert_int_equal(d[2].change, PACKAGE_ADDED);
  assert_string_equal(d[3].name, "zlib1g");
  assert_int_equal(d[3].change, PACKAGE_UPGRADED);
  free(d);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_order),
    cmocka_unit_test(test_diff),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
