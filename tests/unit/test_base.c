#include "testlib.h"

#include "plan/base.h"
#include "lib/certs.h"

static void
parse(const char *text, struct recipe *r)
{
  struct derror err = DERROR_INIT;
  if (recipe_parse("/r/t.yaml", text, strlen(text), r, &err) < 0)
    fail_msg("%s", err.msg);
}

static void
test_accounts(void **state)
{
  struct recipe r;
  parse("name: x\naccounts:\n  run-as: app\n  users: [{name: app, uid: 10001}, {name: web, uid: 10002, gid: 2000, "
        "home: /srv/web}]\n  groups: [{name: www, gid: 2000}]\n",
        &r);
  cleanup_free char *passwd = base_passwd(&r);
  cleanup_free char *group = base_group(&r);

  assert_string_equal(passwd, "root:x:0:0:root:/root:/sbin/nologin\n"
                              "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
                              "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
                              "app:x:10001:10001:app:/home/app:/sbin/nologin\n"
                              "web:x:10002:2000:web:/srv/web:/sbin/nologin\n");
  /* app's primary group is not listed, so it is made; web's is www. */
  assert_string_equal(group, "root:x:0:\ntty:x:5:\nstaff:x:50:\nnobody:x:65534:\nnonroot:x:65532:\n"
                             "www:x:2000:\napp:x:10001:\n");
  recipe_free(&r);
}

static void
test_os_release(void **state)
{
  cleanup_free char *out = base_os_release("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n"
                                           "VERSION_ID=\"12\"\nID=debian\n");
  assert_string_equal(out, "PRETTY_NAME=\"Distroless (Debian GNU/Linux 12 (bookworm))\"\nNAME=\"Debian GNU/Linux\"\n"
                           "VERSION_ID=\"12\"\nID=debian\n");
  cleanup_free char *none = base_os_release("");
  assert_string_equal(none, "PRETTY_NAME=\"Distroless (Linux)\"\n");
}

static void
test_certificates(void **state)
{
  size_t len;
  cleanup_free char *bundle = tl_read("/etc/ssl/certs/ca-certificates.crt", &len);
  struct derror err = DERROR_INIT;

  int n = certs_check(bundle, len, "host bundle", &err);
  assert_true(n > 100);

  /* One good certificate followed by garbage. */
  const char *end = strstr(bundle, "-----END CERTIFICATE-----\n");
  assert_non_null(end);
  struct buf b = { 0 };
  buf_append(&b, bundle, (size_t) (end - bundle) + 26);
  buf_printf(&b, "# a comment is fine\n\n");
  assert_int_equal(certs_check(b.data, b.len, "b.pem", &err), 1);
  size_t one = b.len, next_line = 1;
  for (size_t i = 0; i < b.len; i++)
    next_line += b.data[i] == '\n';
  buf_printf(&b, "garbage\n");
  assert_int_equal(certs_check(b.data, b.len, "b.pem", &err), -1);
  cleanup_free char *msg = xasprintf("`b.pem`:%zu: text outside a PEM block: \"garbage\"", next_line);
  assert_string_equal(err.msg, msg);

  /* A certificate whose base64 is damaged. */
  b.len = one;
  buf_printf(&b, "\n-----BEGIN CERTIFICATE-----\nMIIBAAAA!!!!\n-----END CERTIFICATE-----\n");
  next_line++;
  assert_int_equal(certs_check(b.data, b.len, "b.pem", &err), -1);
  cleanup_free char *prefix = xasprintf("`b.pem`: certificate 2 (line %zu): ", next_line);
  if (strstr(err.msg, prefix) == NULL)
    fail_msg("%s", err.msg);

  /* A private key is not a certificate. */
  b.len = one;
  next_line--;
  buf_printf(&b, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  assert_int_equal(certs_check(b.data, b.len, "b.pem", &err), -1);
  cleanup_free char *key = xasprintf("`b.pem`: block 2 (line %zu) is a \"PRIVATE KEY\", not a certificate",
                                     next_line);
  assert_string_equal(err.msg, key);

  assert_int_equal(certs_check("", 0, "empty.pem", &err), -1);
  assert_string_equal(err.msg, "`empty.pem`: no certificates in it");
  assert_int_equal(certs_check("-----BEGIN CERTIFICATE-----\nAAA\n", 32, "cut.pem", &err), -1);
  assert_string_equal(err.msg, "`cut.pem`: the last PEM block has no END line");
  derror_clear(&err);
  buf_free(&b);
}

/* The base of a recipe over a small sysroot made here. */
static void
test_base_add(void **state)
{
  char *dir = tl_tmpdir();
  struct recipe r;
  struct sysroot root;
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;

  free(tl_write(dir, "usr/lib/os-release", "PRETTY_NAME=\"Test OS\"\nID=test\n"));
  free(tl_write(dir, "usr/share/zoneinfo/UTC", "TZif"));
  assert_int_equal(tl_sh("cd '%s' && mkdir -p etc/ssl/certs && ln -s ../usr/lib/os-release etc/os-release && "
                         "cp /etc/ssl/certs/ca-certificates.crt etc/ssl/certs/",
                         dir),
                   0);
  parse("name: x\ntzdata: true\naccounts: {users: [{name: app, uid: 10001}]}\n", &r);
  assert_int_equal(sysroot_open(&root, dir, &err), 0);
  assert_int_equal(base_add(&fs, &r, &root, &err), 0);
  assert_int_equal(rootfs_finish(&fs, &err), 0);

  struct rootfs_entry *e = rootfs_find(&fs, "/etc/os-release");
  assert_non_null(e);
  assert_int_equal(e->type, ROOTFS_FILE);
  assert_memory_equal(e->data, "PRETTY_NAME=\"Distroless (Test OS)\"\nID=test\n", e->size);
  assert_int_equal(rootfs_find(&fs, "/tmp")->mode, 01777);
  assert_int_equal(rootfs_find(&fs, "/root")->mode, 0700);
  assert_int_equal(rootfs_find(&fs, "/home/nonroot")->uid, 65532);
  assert_int_equal(rootfs_find(&fs, "/home/app")->uid, 10001);
  assert_int_equal(rootfs_find(&fs, "/home/app")->mode, 0700);
  assert_non_null(rootfs_find(&fs, "/etc/ssl/certs/ca-certificates.crt"));
  assert_non_null(rootfs_find(&fs, "/etc/nsswitch.conf"));
  assert_non_null(rootfs_find(&fs, "/usr/share/zoneinfo/UTC"));
  for (size_t i = 0; i < fs.n; i++)
    assert_int_equal(fs.items[i].layer, LAYER_BASE);
  rootfs_free(&fs);
  recipe_free(&r);

  /* Certificates asked for and none there. */
  assert_int_equal(tl_sh("rm -r '%s/etc/ssl'", dir), 0);
  parse("name: x\n", &r);
  assert_int_equal(base_add(&fs, &r, &root, &err), -1);
  cleanup_free char *msg = xasprintf("ca-certificates: true, but no bundle (install ca-certificates in the "
                                     "sysroot or set ca-certificates: false): `/etc/ssl/certs/ca-certificates.crt`: "
                                     "not found in the sysroot `%s`",
                                     root.root);
  assert_string_equal(err.msg, msg);
  derror_clear(&err);
  rootfs_free(&fs);
  recipe_free(&r);

  /* A bundle of the recipe's own that is not one. */
  free(tl_write(dir, "bad.pem", "hello\n"));
  parse("name: x\nca-certificates: bad.pem\n", &r);
  free(r.dir);
  r.dir = xstrdup(dir);
  assert_int_equal(base_add(&fs, &r, &root, &err), -1);
  assert_string_equal(err.msg, "ca-certificates: `bad.pem`:1: text outside a PEM block: \"hello\"");
  derror_clear(&err);
  rootfs_free(&fs);
  recipe_free(&r);
  sysroot_close(&root);
  tl_rmtree(dir);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_accounts),
    cmocka_unit_test(test_os_release),
    cmocka_unit_test(test_certificates),
    cmocka_unit_test(test_base_add),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
