#include "testlib.h"

#include "build/sbom.h"
#include "plan/license.h"
#include "plan/plan.h"
#include "plan/rootfs.h"
#include "recipe/recipe.h"

#include <jansson.h>
#include <time.h>

static char *
declared(const char *text, struct license_refs *refs)
{
  return license_declared(text, strlen(text), refs);
}

#define HEADER "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: x\n\n"

/* Debian's short names become SPDX identifiers; "or" and "and" become OR
 * and AND; the header's and every Files paragraph's License count once
 * each, a standalone License paragraph's (the text) not. */
static void
test_short_names(void **state)
{
  struct license_refs refs = { 0 };
  cleanup_free char *e = declared(HEADER "Files: *\nCopyright: 1999 A\nLicense: GPL-2+\n\n"
                                         "Files: lib/*\nCopyright: B\nLicense: Expat or LGPL-2.1+\n\n"
                                         "Files: doc/*\nLicense: GPL-2+\n\n"
                                         "License: Expat\n Permission is hereby granted...\n",
                                  &refs);

  assert_string_equal(e, "GPL-2.0-or-later AND (MIT OR LGPL-2.1-or-later)");
  assert_int_equal(refs.ids.n, 0);
  license_refs_free(&refs);
}

/* Commas group: "A or B, and C" is (A or B) and C. */
static void
test_commas_group(void **state)
{
  struct license_refs refs = { 0 };
  cleanup_free char *e = declared(HEADER "Files: *\nLicense: LGPL-3+ or GPL-2+, and BSD-3-clause\n", &refs);

  assert_string_equal(e, "((LGPL-3.0-or-later OR GPL-2.0-or-later) AND BSD-3-Clause)");
  license_refs_free(&refs);
}

/* Names SPDX does not know, exceptions included, are LicenseRef-s, each
 * remembered once with the name it stands for. */
static void
test_license_refs(void **state)
{
  struct license_refs refs = { 0 };
  cleanup_free char *e = declared(HEADER "Files: *\nLicense: GPL-2+ with OpenSSL exception\n\n"
                                         "Files: a/*\nLicense: public-domain and Zlib\n\n"
                                         "Files: b/*\nLicense: public-domain\n",
                                  &refs);

  assert_string_equal(e, "LicenseRef-GPL-2plus-with-OpenSSL-exception AND (LicenseRef-public-domain AND Zlib) AND "
                         "LicenseRef-public-domain");
  assert_int_equal(refs.ids.n, 2);
  assert_string_equal(refs.ids.items[0], "LicenseRef-GPL-2plus-with-OpenSSL-exception");
  assert_string_equal(refs.names.items[0], "GPL-2+ with OpenSSL exception");
  assert_string_equal(refs.ids.items[1], "LicenseRef-public-domain");
  license_refs_free(&refs);
}

/* A copyright file in free form declares nothing we can read. */
static void
test_free_form(void **state)
{
  struct license_refs refs = { 0 };

  assert_null(declared("This is the Debian prepackaged version of x.\nLicense: GPL-2\n", &refs));
  assert_null(declared(HEADER "Files: *\nCopyright: nobody\n", &refs));
  assert_null(declared("", &refs));
  license_refs_free(&refs);
}

/* A Debian package's purl namespace: the distribution's when its origin is
 * unknown or the distribution's own, else the origin's, lowercased with
 * nothing but letters, digits, '.' and '-'. */
static void
test_purl_namespace(void **state)
{
  static const struct {
    const char *origin, *distro, *purl;
  } cases[] = {
    { NULL, "debian", "pkg:deb/debian/nodejs@20.1%2Bdfsg-1?arch=amd64" },
    { "Debian", "debian", "pkg:deb/debian/nodejs@20.1%2Bdfsg-1?arch=amd64" },
    { "Debian Backports", "debian", "pkg:deb/debian/nodejs@20.1%2Bdfsg-1?arch=amd64" },
    { "Ubuntu", "ubuntu", "pkg:deb/ubuntu/nodejs@20.1%2Bdfsg-1?arch=amd64" },
    { "Node Source", "debian", "pkg:deb/nodesource/nodejs@20.1%2Bdfsg-1?arch=amd64" },
    { "Debian", "ubuntu", "pkg:deb/debian/nodejs@20.1%2Bdfsg-1?arch=amd64" },
    { "a/b?c", "debian", "pkg:deb/abc/nodejs@20.1%2Bdfsg-1?arch=amd64" },
    { "///", "debian", "pkg:deb/debian/nodejs@20.1%2Bdfsg-1?arch=amd64" },
  };

  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct dpkg_package pk = { .name = "nodejs", .version = "20.1+dfsg-1", .arch = "amd64",
                               .origin = (char *) cases[i].origin };
    cleanup_free char *purl = sbom_purl(&pk, cases[i].distro);
    assert_string_equal(purl, cases[i].purl);
  }
}

#define MANIFEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* The SBOM of a small image at `epoch`, under the time zone `tz`. */
static char *
sbom_under(const char *dir, const char *tz, int64_t epoch)
{
  static const char os_release[] = "PRETTY_NAME=\"Debian GNU/Linux 12\"\nID=debian\n";
  struct sbom_image r = { .name = "example/app", .tag = "1.0" };
  struct plan p = { .arch = "amd64" };
  struct derror err = DERROR_INIT;
  cleanup_free char *path = xasprintf("%s/sbom.json", dir);

  rootfs_add_data(&p.fs, "/etc/os-release", LAYER_BASE, os_release, strlen(os_release), 0644, "test");
  rootfs_add_data(&p.fs, "/app", LAYER_APP, "app", 3, 0755, "test");
  assert_int_equal(rootfs_finish(&p.fs, &err), 0);
  setenv("TZ", tz, 1);
  tzset();
  assert_int_equal(sbom_write(path, &r, &p, MANIFEST, epoch, false, &err), 0);
  rootfs_free(&p.fs);
  return tl_read(path, NULL);
}

/* `created` is the source-date-epoch in UTC by arithmetic: no time zone
 * file has a say, not even one that counts leap seconds (right/UTC, where
 * gmtime_r() was 27 seconds early for this epoch). */
static void
test_created_any_zone(void **state)
{
  char *dir = tl_tmpdir();
  const char *old = getenv("TZ");
  cleanup_free char *saved = old ? xstrdup(old) : NULL;
  cleanup_free char *utc = sbom_under(dir, "UTC", 1700000000);
  cleanup_free char *right = sbom_under(dir, "right/UTC", 1700000000);
  cleanup_free char *far = sbom_under(dir, "Pacific/Kiritimati", 1700000000);
  json_error_t jerr;
  json_t *doc = json_loads(utc, 0, &jerr);

  assert_non_null(doc);
  assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "creationInfo"), "created")),
                      "2023-11-14T22:13:20Z");
  assert_string_equal(utc, right);
  assert_string_equal(utc, far);
  json_decref(doc);
  if (saved)
    setenv("TZ", saved, 1);
  else
    unsetenv("TZ");
  tzset();
  tl_rmtree(dir);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_short_names),
    cmocka_unit_test(test_commas_group),
    cmocka_unit_test(test_license_refs),
    cmocka_unit_test(test_free_form),
    cmocka_unit_test(test_purl_namespace),
    cmocka_unit_test(test_created_any_zone),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
