#include "testlib.h"

#include "plan/ecosystem.h"
#include "plan/license.h"
#include "plan/rootfs.h"

#include <string.h>
#include <zlib.h>

static void
package_clear(struct eco_package *pk)
{
  struct eco_packages one = { 0 };
  eco_push(&one, pk);
  eco_packages_free(&one);
}

/* Expressions of known identifiers pass, spelled as SPDX does; free text,
 * unknown names, LicenseRef-s and broken syntax do not. */
static void
test_spdx_expression(void **state)
{
  static const char *const bad[] = { "MIT License", "SEE LICENSE IN LICENSE.txt", "UNLICENSED", "Foo-1.0",
                                     "MIT OR", "(MIT", "MIT)", "MIT AND AND ISC", "", "LicenseRef-x",
                                     "GPL-2.0-only WITH MIT", "((((((((((((((((((MIT))))))))))))))))))", "MIT,ISC" };
  char *e;

  assert_string_equal(e = license_spdx_expression("mit"), "MIT");
  free(e);
  assert_string_equal(e = license_spdx_expression("(MIT OR Apache-2.0) and isc"), "(MIT OR Apache-2.0) AND ISC");
  free(e);
  assert_string_equal(e = license_spdx_expression("GPL-2.0-or-later WITH Classpath-exception-2.0"),
                      "GPL-2.0-or-later WITH Classpath-exception-2.0");
  free(e);
  assert_string_equal(e = license_spdx_expression("Apache-1.1+"), "Apache-1.1+");
  free(e);
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    if ((e = license_spdx_expression(bad[i])) != NULL)
      fail_msg("`%s` taken as `%s`", bad[i], e);
  assert_null(license_spdx_expression(NULL));
}

static bool
npm(const char *text, struct eco_package *pk)
{
  return eco_npm_manifest(text, strlen(text), pk);
}

/* A package.json: scoped names in the purl's namespace, '+' escaped, the
 * old license object; no name, a bad name or broken JSON, no package. */
static void
test_npm_manifest(void **state)
{
  static const char *const bad[] = { "", "{", "[]", "{\"version\": \"1\"}", "{\"name\": 5}",
                                     "{\"name\": \"a/b\"}", "{\"name\": \"@a\"}", "{\"name\": \"@a/b/c\"}",
                                     "{\"name\": \"../x\"}", "{\"name\": \"a b\"}", "{\"name\": \"x\", \"name\": \"y\"}",
                                     "{\"name\": \"\\u0000\"}", "{\"name\": \"x\\ny\"}" };
  struct eco_package pk;

  assert_true(npm("{\"name\": \"@acme/tool\", \"version\": \"1.0.0+b.2\", \"license\": \"ISC\"}", &pk));
  assert_string_equal(pk.purl, "pkg:npm/%40acme/tool@1.0.0%2Bb.2");
  assert_string_equal(pk.license, "ISC");
  package_clear(&pk);
  assert_true(npm("{\"name\": \"left-pad\", \"license\": {\"type\": \"MIT\", \"url\": \"x\"}}", &pk));
  assert_string_equal(pk.purl, "pkg:npm/left-pad");
  assert_null(pk.version);
  assert_string_equal(pk.license, "MIT");
  package_clear(&pk);
  assert_true(npm("{\"name\": \"x\", \"version\": [1], \"license\": \"SEE LICENSE IN x\"}", &pk));
  assert_null(pk.version);
  assert_null(pk.license);
  package_clear(&pk);
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    if (npm(bad[i], &pk)) {
      package_clear(&pk);
      fail_msg("`%s` taken as a package", bad[i]);
    }
}

/* Core metadata: the purl's pypi name lowercased with '-' for '_';
 * License-Expression before License; the body is no header. */
static void
test_pypi_metadata(void **state)
{
  static const char meta[] = "Metadata-Version: 2.4\r\nName: Foo_Bar.baz\r\nVersion: 2.0rc1\r\n"
                             "License: MIT\r\nLicense-Expression: Apache-2.0 OR MIT\r\n\r\nName: other\n";
  static const char *const bad[] = { "", "Version: 1\n", "\nName: x\n", "Name: a b\n", "Name: x/y\n", "Name:\n" };
  struct eco_package pk;

  assert_true(eco_pypi_metadata(meta, strlen(meta), &pk));
  assert_string_equal(pk.name, "Foo_Bar.baz");
  assert_string_equal(pk.purl, "pkg:pypi/foo-bar.baz@2.0rc1");
  assert_string_equal(pk.license, "Apache-2.0 OR MIT");
  package_clear(&pk);
  assert_true(eco_pypi_metadata("Name: x\nLicense: BSD License\n", 29, &pk));
  assert_null(pk.license);
  assert_null(pk.version);
  package_clear(&pk);
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    if (eco_pypi_metadata(bad[i], strlen(bad[i]), &pk)) {
      package_clear(&pk);
      fail_msg("`%s` taken as a distribution", bad[i]);
    }
}

/* RECORD: quoted paths ("" a quote), paths out of the site, CRLF; an
 * unterminated quote ends the list. */
static void
test_pypi_record(void **state)
{
  static const char record[] = "a/b.py,sha256=x,1\r\n\"c,d/\"\"q\"\".py\",,\n../../../bin/x,,\n"
                               "../../../../../../../etc/passwd,,\n,,\n\"open/quote,,\n";
  struct strv paths = { 0 };

  eco_pypi_record(record, strlen(record), "/usr/lib/python3/dist-packages", &paths);
  assert_int_equal(paths.n, 4);
  assert_string_equal(paths.items[0], "/usr/lib/python3/dist-packages/a/b.py");
  assert_string_equal(paths.items[1], "/usr/lib/python3/dist-packages/c,d/\"q\".py");
  assert_string_equal(paths.items[2], "/usr/bin/x");
  assert_string_equal(paths.items[3], "/etc/passwd");
  strv_free(&paths);
}

static size_t
deflated(const char *text, size_t len, unsigned char *out, size_t cap)
{
  uLongf n = cap;
  assert_int_equal(compress(out, &n, (const unsigned char *) text, len), Z_OK);
  return n;
}

/* .dep-v0: the root and build dependencies left out; not zlib, cut short,
 * not the format, or inflating past the bound: nothing. */
static void
test_cargo_section(void **state)
{
  static const char deps[] = "{\"packages\":[{\"name\":\"app\",\"version\":\"0.1.0\",\"source\":\"local\",\"root\":true},"
                             "{\"name\":\"serde\",\"version\":\"1.0.1\",\"source\":\"crates.io\"},"
                             "{\"name\":\"cc\",\"version\":\"1.0\",\"kind\":\"build\"},"
                             "{\"name\":\"g\",\"version\":\"0.2\",\"source\":\"git\",\"kind\":\"runtime\"},"
                             "{\"name\":\"bad name\",\"version\":\"1\"},{\"name\":\"x\"},7]}";
  unsigned char z[4096];
  size_t n = deflated(deps, strlen(deps), z, sizeof z);
  struct eco_packages out = { 0 };

  assert_true(eco_cargo_section(z, n, "/usr/bin/app", &out));
  assert_int_equal(out.n, 2);
  assert_string_equal(out.items[0].purl, "pkg:cargo/serde@1.0.1");
  assert_string_equal(out.items[0].relation, "STATIC_LINK");
  assert_string_equal(out.items[1].purl, "pkg:cargo/g@0.2");
  assert_non_null(strstr(out.items[1].comment, "git"));
  eco_packages_free(&out);
  for (size_t cut = 0; cut < n; cut++) {
    assert_false(eco_cargo_section(z, cut, "/x", &out));
    assert_int_equal(out.n, 0);
  }
  assert_false(eco_cargo_section(deps, strlen(deps), "/x", &out));
  n = deflated("[1, 2]", 6, z, sizeof z);
  assert_false(eco_cargo_section(z, n, "/x", &out));
  /* 17 MiB of spaces before the JSON: past the bound */
  size_t big = 17u << 20;
  char *spaces = xmalloc(big);
  memset(spaces, ' ', big);
  uLongf bn = compressBound(big);
  unsigned char *bz = xmalloc(bn);
  assert_int_equal(compress(bz, &bn, (unsigned char *) spaces, big), Z_OK);
  assert_false(eco_cargo_section(bz, bn, "/x", &out));
  free(spaces);
  free(bz);
  assert_int_equal(out.n, 0);
}

/* A .go.buildinfo section of Go 1.18's format around `mod`. */
static size_t
buildinfo(unsigned char *out, const char *runtime, const char *mod)
{
  static const char start[] = "0w\xaf\x0c\x92t\x08\x02" "A\xe1\xc1\x07\xe6\xd6\x18\xe6";
  static const char end[] = "\xf9" "2C1\x86\x18 r\x00\x82" "B\x10" "A\x16\xd8\xf2";
  size_t n = 32, ml = strlen(mod) + 32;

  memset(out, 0, 32);
  memcpy(out, "\xff Go buildinf:", 14);
  out[14] = 8;
  out[15] = 2;
  out[n++] = (unsigned char) strlen(runtime);
  memcpy(out + n, runtime, strlen(runtime));
  n += strlen(runtime);
  out[n++] = (unsigned char) (0x80 | (ml & 0x7f));
  out[n++] = (unsigned char) (ml >> 7);
  memcpy(out + n, start, 16);
  memcpy(out + n + 16, mod, strlen(mod));
  memcpy(out + n + 16 + strlen(mod), end, 16);
  return n + ml;
}

/* Build info: the main module (no version for "(devel)"), deps, a
 * replacement by a module or by a directory; every truncation, a bad
 * varint or the old format: nothing, and no crash. */
static void
test_go_buildinfo(void **state)
{
  static const char mod[] = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n"
                            "dep\tgolang.org/x/text\tv0.14.0\th1:abc=\n"
                            "dep\texample.com/old\tv1.0.0\n=>\texample.com/new\tv1.1.0\th1:x=\n"
                            "dep\texample.com/local\tv0.0.1\n=>\t../local\t(devel)\t\n"
                            "dep\tbad path\tv1\nbuild\t-compiler=gc\n";
  unsigned char b[1024];
  size_t n = buildinfo(b, "go1.21.5", mod);
  struct eco_packages out = { 0 };

  assert_true(eco_go_buildinfo(b, n, "/usr/bin/app", &out));
  assert_int_equal(out.n, 4);
  assert_string_equal(out.items[0].purl, "pkg:golang/example.com/app");
  assert_string_equal(out.items[0].relation, "GENERATED_FROM");
  assert_non_null(strstr(out.items[0].comment, "go1.21.5"));
  assert_string_equal(out.items[1].purl, "pkg:golang/golang.org/x/text@v0.14.0");
  assert_string_equal(out.items[1].relation, "STATIC_LINK");
  assert_string_equal(out.items[2].purl, "pkg:golang/example.com/new@v1.1.0");
  assert_string_equal(out.items[3].purl, "pkg:golang/example.com/local@v0.0.1");
  assert_non_null(strstr(out.items[3].comment, "../local"));
  eco_packages_free(&out);
  for (size_t cut = 0; cut < n; cut++) {
    assert_false(eco_go_buildinfo(b, cut, "/x", &out));
    assert_int_equal(out.n, 0);
  }
  b[15] = 0; /* the pointer format of Go before 1.18 */
  assert_false(eco_go_buildinfo(b, n, "/x", &out));
  b[15] = 2;
  memset(b + 32, 0xff, 12); /* a varint of more than 64 bits */
  assert_false(eco_go_buildinfo(b, n, "/x", &out));
  assert_int_equal(out.n, 0);
}

static void
add(struct rootfs *fs, const char *path, const char *text)
{
  rootfs_add_data(fs, path, LAYER_APP, text, strlen(text), 0644, "test");
}

/* An image's npm tree: each package has its files but none of a nested
 * node_modules; a package.json deeper in a package is no package. */
static void
test_scan_npm(void **state)
{
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;
  struct eco_packages out = { 0 };

  add(&fs, "/app/package.json", "{\"name\": \"app\", \"version\": \"1.0.0\"}");
  add(&fs, "/app/index.js", "x");
  add(&fs, "/app/node_modules/a/package.json", "{\"name\": \"a\", \"version\": \"2.0.0\"}");
  add(&fs, "/app/node_modules/a/lib/package.json", "{\"type\": \"module\"}");
  add(&fs, "/app/node_modules/a/node_modules/@s/b/package.json", "{\"name\": \"@s/b\", \"version\": \"3.0.0\"}");
  add(&fs, "/app/node_modules/a/node_modules/@s/b/b.js", "b");
  add(&fs, "/app/node_modules/broken/package.json", "{\"name\": ");
  add(&fs, "/other/package.json", "{\"name\": \"alone\"}");
  assert_int_equal(rootfs_finish(&fs, &err), 0);
  eco_scan(&fs, &out);
  assert_int_equal(out.n, 3);
  assert_string_equal(out.items[0].purl, "pkg:npm/%40s/b@3.0.0");
  assert_int_equal(out.items[0].files.n, 2);
  assert_string_equal(out.items[1].purl, "pkg:npm/a@2.0.0");
  assert_int_equal(out.items[1].files.n, 2); /* package.json, lib/package.json */
  assert_string_equal(out.items[2].purl, "pkg:npm/app@1.0.0");
  assert_int_equal(out.items[2].files.n, 2);
  assert_string_equal(out.items[2].files.items[0], "/app/index.js");
  eco_packages_free(&out);
  rootfs_free(&fs);
}

/* Python: a dist-info without RECORD contains its directory; an egg-info
 * with SOURCES.txt only, the files it names that are here and its own;
 * an egg-info that is one file, that file. */
static void
test_scan_python(void **state)
{
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;
  struct eco_packages out = { 0 };

  add(&fs, "/site/a-1.dist-info/METADATA", "Name: a\nVersion: 1\n");
  add(&fs, "/site/a-1.dist-info/WHEEL", "w");
  add(&fs, "/site/a/__init__.py", "a");
  add(&fs, "/site/b.egg-info/PKG-INFO", "Name: b\nVersion: 2\nLicense: MIT\n");
  add(&fs, "/site/b.egg-info/SOURCES.txt", "setup.py\nb/x.py\nb.egg-info/PKG-INFO\nb/x.py\n");
  add(&fs, "/site/b/x.py", "x");
  add(&fs, "/site/c-3.egg-info", "Metadata-Version: 1.1\nName: C\nVersion: 3\n");
  add(&fs, "/site/d.dist-info/METADATA", "Version: 4\n");
  assert_int_equal(rootfs_finish(&fs, &err), 0);
  eco_scan(&fs, &out);
  assert_int_equal(out.n, 3);
  assert_string_equal(out.items[0].purl, "pkg:pypi/c@3");
  assert_string_equal(out.items[0].name, "C");
  assert_int_equal(out.items[0].files.n, 1);
  assert_string_equal(out.items[1].purl, "pkg:pypi/a@1");
  assert_int_equal(out.items[1].files.n, 2);
  assert_string_equal(out.items[2].purl, "pkg:pypi/b@2");
  assert_string_equal(out.items[2].license, "MIT");
  assert_int_equal(out.items[2].files.n, 3);
  assert_string_equal(out.items[2].files.items[2], "/site/b/x.py");
  eco_packages_free(&out);
  rootfs_free(&fs);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_spdx_expression), cmocka_unit_test(test_npm_manifest),
    cmocka_unit_test(test_pypi_metadata),   cmocka_unit_test(test_pypi_record),
    cmocka_unit_test(test_cargo_section),   cmocka_unit_test(test_go_buildinfo),
    cmocka_unit_test(test_scan_npm),        cmocka_unit_test(test_scan_python),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
