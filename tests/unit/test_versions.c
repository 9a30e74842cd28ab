/* The orders of versions (image/versions.h): Debian's, checked against
 * dpkg's; npm's, against Semantic Versioning's examples; Python's, against
 * PEP 440's and Python's packaging library where it is installed; and two
 * images' packages compared by Debian's. */
#include "testlib.h"

#include "image/packages.h"
#include "image/versions.h"

static bool have_packaging; /* Python's packaging library, to agree */

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

/* a < b by `cmp`, and the reverse */
static void
before(int (*cmp)(const char *, const char *), const char *a, const char *b)
{
  if (cmp(a, b) >= 0 || cmp(b, a) <= 0)
    fail_msg("%s is not older than %s", a, b);
}

static void
pep440_older(const char *a, const char *b)
{
  before(pep440_cmp, a, b);
  if (have_packaging
      && tl_sh("/usr/bin/python3 -c 'import sys; from packaging.version import Version as V; "
               "sys.exit(not V(sys.argv[1]) < V(sys.argv[2]))' '%s' '%s'", a, b) != 0)
    fail_msg("Python's packaging does not say %s < %s", a, b);
}

static void
pep440_same(const char *a, const char *b)
{
  if (pep440_cmp(a, b) != 0 || pep440_cmp(b, a) != 0)
    fail_msg("%s and %s are not the same version", a, b);
  if (have_packaging
      && tl_sh("/usr/bin/python3 -c 'import sys; from packaging.version import Version as V; "
               "sys.exit(not V(sys.argv[1]) == V(sys.argv[2]))' '%s' '%s'", a, b) != 0)
    fail_msg("Python's packaging does not say %s == %s", a, b);
}

/* Semantic Versioning 2.0.0's precedence, its own examples first */
static void
test_semver(void **state)
{
  static const char *const chain[] = { "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
                                       "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0",
                                       "2.1.0", "2.1.1" };
  (void) state;
  for (size_t i = 0; i + 1 < sizeof chain / sizeof *chain; i++)
    before(semver_cmp, chain[i], chain[i + 1]);
  before(semver_cmp, "1.9.0", "1.10.0");          /* numbers as numbers */
  before(semver_cmp, "1.0.0-2", "1.0.0-10");       /* numeric identifiers too */
  before(semver_cmp, "1.0.0-999", "1.0.0-a");      /* before alphanumeric ones */
  before(semver_cmp, "4.17.21", "v4.17.22");       /* npm's leading v */
  before(semver_cmp, "1.0.0", "1.0");              /* an invalid one after every valid one */
  before(semver_cmp, "1.0", "1.1");                /* and among themselves by their numbers */
  assert_int_equal(semver_cmp("1.0.0+build.1", "1.0.0+build.2"), 0); /* build metadata has no say */
  assert_int_equal(semver_cmp("=1.2.3", "1.2.3"), 0);
  assert_int_equal(semver_cmp("99999999999999999999.0.0", "99999999999999999999.0.0"), 0);
}

/* PEP 440: its summary of the order, then its spellings */
static void
test_pep440(void **state)
{
  static const char *const chain[] = { "1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12",
                                       "1.0b1.dev456", "1.0b2", "1.0b2.post345.dev456", "1.0b2.post345",
                                       "1.0rc1.dev456", "1.0rc1", "1.0", "1.0+abc.5", "1.0+abc.7", "1.0+5",
                                       "1.0.post456.dev34", "1.0.post456", "1.1.dev1", "1!0.1" };
  (void) state;
  have_packaging = tl_sh("/usr/bin/python3 -c 'import packaging.version' 2>/dev/null") == 0;
  if (!have_packaging)
    print_message("Python's packaging is not installed: PEP 440's order checked against its examples only\n");
  for (size_t i = 0; i + 1 < sizeof chain / sizeof *chain; i++)
    pep440_older(chain[i], chain[i + 1]);
  pep440_older("1.9", "1.10");
  pep440_older("2.0.0rc1", "2.0.0");
  pep440_same("1.0", "1.0.0");           /* trailing zeros */
  pep440_same("1.0alpha1", "1.0a1");     /* spellings */
  pep440_same("1.0-beta.2", "1.0b2");
  pep440_same("1.0c1", "1.0rc1");
  pep440_same("1.0-1", "1.0.post1");
  pep440_same("1.0.rev1", "1.0.post1");
  pep440_same("V1.0", "1.0");
  pep440_same("1.0.DEV", "1.0.dev0");
  before(pep440_cmp, "1.0", "not a version"); /* an invalid one after every valid one */
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
  assert_string_equal(d[0].pkg->name, "gone");
  assert_int_equal(d[0].change, PACKAGE_REMOVED);
  assert_null(d[0].new_version);
  assert_string_equal(d[1].pkg->name, "libssl3");
  assert_int_equal(d[1].change, PACKAGE_DOWNGRADED);
  assert_string_equal(package_change_name(d[1].change), "downgrade");
  assert_string_equal(d[2].pkg->name, "new");
  assert_int_equal(d[2].change, PACKAGE_ADDED);
  assert_string_equal(d[3].pkg->name, "zlib1g");
  assert_int_equal(d[3].change, PACKAGE_UPGRADED);
  free(d);
}

/* npm's and Python's packages, each by its own order: Debian's would call
 * both of these a downgrade */
static void
test_diff_ecosystems(void **state)
{
  struct image_package pa[] = {
    { .name = "libssl3", .arch = "amd64", .version = "3.0.11-1" },
    { .kind = "npm", .name = "left-pad", .arch = "", .version = "1.0.0-rc.1", .at = "/app/node_modules/left-pad" },
    { .kind = "pypi", .name = "requests", .arch = "", .version = "2.0rc1", .at = "/usr/lib/python3/dist-packages/r" },
  };
  struct image_package pb[] = {
    { .name = "libssl3", .arch = "amd64", .version = "3.0.11-1" },
    { .kind = "npm", .name = "left-pad", .arch = "", .version = "1.0.0", .at = "/app/node_modules/left-pad" },
    { .kind = "npm",
      .name = "left-pad",
      .arch = "",
      .version = "0.9.0",
      .at = "/app/node_modules/x/node_modules/left-pad" },
    { .kind = "pypi", .name = "requests", .arch = "", .version = "2.0", .at = "/usr/lib/python3/dist-packages/r" },
  };
  struct image_packages a = { .items = pa, .n = 3 }, b = { .items = pb, .n = 4 };
  struct package_diff *d = NULL;
  size_t n = packages_diff(&a, &b, &d);

  (void) state;
  assert_int_equal(n, 3);
  assert_string_equal(d[0].pkg->at, "/app/node_modules/left-pad");
  assert_int_equal(d[0].change, PACKAGE_UPGRADED);
  assert_string_equal(d[1].pkg->at, "/app/node_modules/x/node_modules/left-pad"); /* another copy: its own */
  assert_int_equal(d[1].change, PACKAGE_ADDED);
  assert_string_equal(d[2].pkg->name, "requests");
  assert_int_equal(d[2].change, PACKAGE_UPGRADED);
  char *label = image_package_label(d[0].pkg);
  assert_string_equal(label, "left-pad (npm, /app/node_modules/left-pad)");
  free(label);
  free(d);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_order),
    cmocka_unit_test(test_semver),
    cmocka_unit_test(test_pep440),
    cmocka_unit_test(test_diff_ecosystems),
    cmocka_unit_test(test_diff),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
