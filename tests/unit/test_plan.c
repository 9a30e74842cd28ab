#include "testlib.h"

#include "lib/platform.h"
#include "plan/plan.h"

/* A recipe beside a small dynamic program compiled here, planned over
 * this machine's own root as its sysroot. */
struct fixture {
  char *dir;
  struct recipe r;
  struct sysroot root;
};

static void
setup(struct fixture *f, const char *extra)
{
  struct derror err = DERROR_INIT;

  memset(f, 0, sizeof *f);
  f->dir = tl_tmpdir();
  cleanup_free char *prog = xasprintf("%s/hello", f->dir);
  tl_cc(prog, "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n", "");
  cleanup_free char *text = xasprintf("name: hello\ncontents:\n  binaries:\n"
                                      "    - {source: hello, path: /usr/local/bin/hello}\n%s",
                                      extra);
  cleanup_free char *file = xasprintf("%s/hello.yaml", f->dir);
  if (recipe_parse(file, text, strlen(text), &f->r, &err) < 0)
    fail_msg("%s", err.msg);
  assert_int_equal(sysroot_open(&f->root, "/", &err), 0);
}

static void
teardown(struct fixture *f)
{
  sysroot_close(&f->root);
  recipe_free(&f->r);
  tl_rmtree(f->dir);
}

static const struct rootfs_entry *
entry(const struct plan *p, const char *path)
{
  const struct rootfs_entry *e = rootfs_find(&p->fs, path);
  if (e == NULL)
    fail_msg("%s is not in the plan", path);
  return e;
}

static void
assert_entry(const struct plan *p, const char *path, enum rootfs_type type, mode_t mode, uint32_t uid,
             uint32_t gid, rootfs_layer layer)
{
  const struct rootfs_entry *e = entry(p, path);
  assert_int_equal(e->type, type);
  assert_int_equal(e->mode, mode);
  assert_int_equal(e->uid, uid);
  assert_int_equal(e->gid, gid);
  assert_int_equal(e->layer, layer);
}

/* The program, the libraries its loader will load, the accounts and the
 * directories every image has, with their owners and modes. */
static void
test_entries(void **state)
{
  struct fixture f;
  struct plan p;
  struct derror err = DERROR_INIT;

  setup(&f, "ca-certificates: false\n");
  if (plan_build(&f.r, NULL, &f.root, NULL, &p, &err) < 0)
    fail_msg("%s", err.msg);
  assert_entry(&p, "/usr/local/bin/hello", ROOTFS_FILE, 0755, 0, 0, LAYER_APP);
  assert_entry(&p, "/usr/local/bin", ROOTFS_DIR, 0755, 0, 0, LAYER_APP);
  assert_entry(&p, "/etc/passwd", ROOTFS_FILE, 0644, 0, 0, LAYER_BASE);
  assert_non_null(strstr(entry(&p, "/etc/passwd")->data, "nonroot:x:65532:65532:nonroot:/home/nonroot:"));
  assert_entry(&p, "/etc/group", ROOTFS_FILE, 0644, 0, 0, LAYER_BASE);
  assert_entry(&p, "/tmp", ROOTFS_DIR, 01777, 0, 0, LAYER_BASE);
  assert_entry(&p, "/home/nonroot", ROOTFS_DIR, 0700, 65532, 65532, LAYER_BASE);
  assert_null(rootfs_find(&p.fs, "/etc/ssl/certs/ca-certificates.crt"));
  /* libc, and its loader, as files somewhere in the libraries layer */
  bool libc = false, loader = false;
  for (size_t i = 0; i < p.fs.n; i++) {
    const struct rootfs_entry *e = &p.fs.items[i];
    const char *base = path_basename(e->path);
    if (e->type != ROOTFS_FILE)
      continue;
    libc |= strcmp(base, "libc.so.6") == 0 && e->layer == LAYER_LIBRARIES && e->mode == 0755;
    loader |= strncmp(base, "ld-linux", 8) == 0 && e->layer == LAYER_LIBRARIES;
  }
  assert_true(libc);
  assert_true(loader);
  /* nothing but root owns anything outside the home directories */
  for (size_t i = 0; i < p.fs.n; i++)
    if (strncmp(p.fs.items[i].path, "/home/", 6) != 0)
      assert_int_equal(p.fs.items[i].uid, 0);
  plan_free(&p);
  teardown(&f);
}

/* The config's defaults: the non-root user, a PATH, the one program as
 * the entrypoint; SSL_CERT_FILE only with a CA bundle. */
static void
test_config_defaults(void **state)
{
  struct fixture f;
  struct plan p;
  struct derror err = DERROR_INIT;

  setup(&f, "ca-certificates: false\nlabels: {a: \"1\"}\n");
  if (plan_build(&f.r, NULL, &f.root, NULL, &p, &err) < 0)
    fail_msg("%s", err.msg);
  assert_int_equal(p.config.uid, 65532);
  assert_int_equal(p.config.gid, 65532);
  assert_int_equal(p.config.env.n, 1);
  assert_string_equal(p.config.env.items[0], "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  assert_true(p.config.has_entrypoint);
  assert_int_equal(p.config.entrypoint.n, 1);
  assert_string_equal(p.config.entrypoint.items[0], "/usr/local/bin/hello");
  assert_false(p.config.has_cmd);
  assert_int_equal(p.config.labels.keys.n, 1);
  assert_string_equal(p.config.labels.values.items[0], "1");
  assert_int_equal(p.config.n_waivers, 0);
  plan_free(&p);
  teardown(&f);

  /* the recipe's own come after the defaults, which it may replace */
  setup(&f, "cmd: [hello, --x]\nenvironment: {TZ: UTC, PATH: /usr/local/bin}\naccounts:\n  run-as: nobody\n");
  if (plan_build(&f.r, NULL, &f.root, NULL, &p, &err) < 0)
    fail_msg("%s", err.msg);
  assert_int_equal(p.config.uid, 65534);
  assert_int_equal(p.config.env.n, 3);
  assert_string_equal(p.config.env.items[0], "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt");
  assert_string_equal(p.config.env.items[1], "TZ=UTC");
  assert_string_equal(p.config.env.items[2], "PATH=/usr/local/bin");
  /* a cmd and no entrypoint: the runtime starts the cmd, found on PATH */
  assert_false(p.config.has_entrypoint);
  assert_true(p.config.has_cmd);
  assert_int_equal(p.config.cmd.n, 2);
  assert_string_equal(p.config.cmd.items[0], "hello");
  assert_non_null(rootfs_find(&p.fs, "/etc/ssl/certs/ca-certificates.crt"));
  plan_free(&p);
  teardown(&f);
}

/* The platform is the caller's to give, the recipe only read: a platform
 * the program is not for is refused, and the recipe keeps its own. */
static void
test_platform(void **state)
{
  struct fixture f;
  struct plan p;
  struct derror err = DERROR_INIT;
  const char *arch, *variant;

  setup(&f, "ca-certificates: false\n");
  struct recipe before = f.r;
  if (plan_build(&f.r, NULL, &f.root, NULL, &p, &err) < 0)
    fail_msg("%s", err.msg);
  const char *own = p.arch;
  assert_int_equal(platform_parse(own, &arch, &variant), 0);
  plan_free(&p);
  const char *other = strcmp(own, "arm64") == 0 ? "linux/amd64" : "linux/arm64";
  assert_int_equal(plan_build(&f.r, other, &f.root, NULL, &p, &err), -1);
  cleanup_free char *want = xasprintf("the platform is %s, but the programs are for %s", other, own);
  assert_non_null(strstr(err.msg, want));
  derror_clear(&err);
  plan_free(&p);
  assert_memory_equal(&before, &f.r, sizeof before);
  assert_null(f.r.platform);
  assert_int_equal(plan_build(&f.r, "linux/nonsense", &f.root, NULL, &p, &err), -1);
  derror_clear(&err);
  plan_free(&p);
  teardown(&f);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_entries),
    cmocka_unit_test(test_config_defaults),
    cmocka_unit_test(test_platform),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
