#include "testlib.h"

#include "build/build.h"
#include "image/image.h"

#include <jansson.h>

/* A recipe beside a small dynamic program compiled here, built over this
 * machine's own root as its sysroot, without a cache. */
struct fixture {
  char *dir, *output;
  struct recipe r;
  struct build_request req;
  size_t warnings, planned, progress_done;
};

static void
count_warning(void *ctx, const char *msg, bool detail)
{
  struct fixture *f = ctx;
  f->warnings++;
}

static void
count_plan(void *ctx, const struct plan *p)
{
  struct fixture *f = ctx;
  f->planned++;
}

static void
count_progress(void *ctx, const struct build_progress *pg)
{
  struct fixture *f = ctx;
  f->progress_done += pg->done;
}

static void
setup(struct fixture *f, const char *text)
{
  struct derror err = DERROR_INIT;

  memset(f, 0, sizeof *f);
  f->dir = tl_tmpdir();
  cleanup_free char *prog = xasprintf("%s/hello", f->dir);
  tl_cc(prog, "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n", "");
  free(tl_write(f->dir, "data.txt", "data\n"));
  cleanup_free char *file = tl_write(f->dir, "app.yaml", text);
  if (recipe_load(file, &f->r, &err) < 0)
    fail_msg("%s", err.msg);
  f->output = xasprintf("%s/out.tar", f->dir);
  f->req = (struct build_request) {
    .recipe = &f->r, .output = f->output, .epoch = 1700000000, .comp = COMPRESSION_GZIP, .jobs = 1,
    .no_cache = true,
    .observer = { .ctx = f, .warning = count_warning, .planned = count_plan, .progress = count_progress },
  };
}

static void
teardown(struct fixture *f)
{
  recipe_free(&f->r);
  free(f->output);
  tl_rmtree(f->dir);
}

static const char app_yaml[] =
  "name: registry.example/team/hello\n"
  "tag: \"1.0\"\n"
  "contents:\n"
  "  binaries:\n"
  "    - {source: hello, path: /usr/local/bin/hello}\n"
  "accounts:\n"
  "  run-as: app\n"
  "  users: [{name: app, uid: 10001, gid: 10001, home: /home/app}]\n"
  "entrypoint: [/usr/local/bin/hello]\n"
  "cmd: [--greeting, hi]\n"
  "environment: {TZ: UTC}\n"
  "work-dir: /home/app\n"
  "ports: [8080/tcp]\n"
  "labels: {org.example.team: web}\n";

static void
assert_strings(json_t *array, const char *const *want, size_t n)
{
  assert_int_equal(json_array_size(array), n);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(json_string_value(json_array_get(array, i)), want[i]);
}

/* Built through build_image() alone, read back with the image reader:
 * the config field by field, the program in the merged tree, the layers,
 * and the digest the result gives is the manifest's. */
static void
test_build_and_read_back(void **state)
{
  struct fixture f;
  struct build_result res;
  struct image img;
  struct derror err = DERROR_INIT;
  static const char *const env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                     "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "TZ=UTC" };
  static const char *const entrypoint[] = { "/usr/local/bin/hello" };
  static const char *const cmd[] = { "--greeting", "hi" };

  setup(&f, app_yaml);
  if (build_image(&f.req, &res, &err) < 0)
    fail_msg("%s", err.msg);
  assert_int_equal(f.planned, 1);
  assert_int_equal(f.progress_done, 1);
  assert_string_equal(res.output, f.output);
  assert_string_equal(res.name, "registry.example/team/hello");
  assert_string_equal(res.tag, "1.0");
  assert_null(res.sbom);
  assert_int_equal(res.n_images, 1);
  if (image_read(f.output, &img, &err) < 0)
    fail_msg("%s", err.msg);

  json_t *c = json_object_get(img.config, "config");
  assert_string_equal(json_string_value(json_object_get(c, "User")), "10001:10001");
  assert_strings(json_object_get(c, "Env"), env, 3);
  assert_strings(json_object_get(c, "Entrypoint"), entrypoint, 1);
  assert_strings(json_object_get(c, "Cmd"), cmd, 2);
  assert_string_equal(json_string_value(json_object_get(c, "WorkingDir")), "/home/app");
  assert_int_equal(json_object_size(json_object_get(c, "ExposedPorts")), 1);
  assert_non_null(json_object_get(json_object_get(c, "ExposedPorts"), "8080/tcp"));
  assert_string_equal(json_string_value(json_object_get(json_object_get(c, "Labels"), "org.example.team")), "web");
  assert_null(json_object_get(c, "Volumes"));
  assert_string_equal(json_string_value(json_object_get(img.config, "created")), "2023-11-14T22:13:20Z");

  const struct image_file *prog = image_find(&img, "/usr/local/bin/hello");
  assert_non_null(prog);
  assert_int_equal(prog->type, 'f');
  assert_int_equal(prog->mode, 0755);
  assert_int_equal(prog->uid, 0);
  assert_int_equal(prog->gid, 0);
  assert_int_equal(prog->mtime, 1700000000);
  assert_int_equal(prog->layer, 2);
  const struct image_file *home = image_find(&img, "/home/app");
  assert_non_null(home);
  assert_int_equal(home->uid, 10001);

  /* base, libraries, application */
  assert_int_equal(img.n_layers, 3);
  assert_int_equal(res.images[0].n_layers, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(img.layers[i].digest, res.images[0].layers[i].digest);
    assert_false(res.images[0].from_cache[i]);
  }
  assert_string_equal(res.digest, img.manifest_digest);
  assert_string_equal(res.images[0].manifest_digest, img.manifest_digest);
  assert_string_equal(img.name, "registry.example/team/hello:1.0");
  image_free(&img);
  build_result_free(&res);
  teardown(&f);
}

/* -t's names replace the recipe's in the archive's index (the manifest
 * does not name the image), the recipe keeping its own; the same inputs
 * give the same bytes. */
static void
test_names_and_reproducible(void **state)
{
  struct fixture f;
  struct build_result res;
  struct image img;
  struct derror err = DERROR_INIT;
  char first[DIGEST_STR_LEN];

  setup(&f, app_yaml);
  struct recipe before = f.r;
  if (build_image(&f.req, &res, &err) < 0)
    fail_msg("%s", err.msg);
  memcpy(first, res.digest, sizeof first);
  build_result_free(&res);
  f.req.name = "other";
  f.req.tag = "2";
  if (build_image(&f.req, &res, &err) < 0)
    fail_msg("%s", err.msg);
  assert_string_equal(res.name, "other");
  assert_string_equal(res.digest, first);
  if (image_read(f.output, &img, &err) < 0)
    fail_msg("%s", err.msg);
  assert_string_equal(img.name, "docker.io/library/other:2");
  image_free(&img);
  build_result_free(&res);
  assert_memory_equal(&before, &f.r, sizeof before);
  assert_string_equal(f.r.name, "registry.example/team/hello");
  f.req.name = f.req.tag = NULL;
  f.req.jobs = 3;
  if (build_image(&f.req, &res, &err) < 0)
    fail_msg("%s", err.msg);
  assert_string_equal(res.digest, first);
  build_result_free(&res);
  teardown(&f);
}

/* One image per platform of the recipe's platforms map (a tree without
 * programs is any platform's), the recipe read and never changed. */
static void
test_platforms_leave_recipe(void **state)
{
  struct fixture f;
  struct build_result res;
  struct image img;
  struct derror err = DERROR_INIT;

  setup(&f, "name: data\nca-certificates: false\nplatforms: {linux/amd64: /, linux/arm64: /}\n"
            "contents:\n  files: [{source: data.txt, path: /srv/data.txt}]\n");
  struct recipe before = f.r;
  if (build_image(&f.req, &res, &err) < 0)
    fail_msg("%s", err.msg);
  assert_memory_equal(&before, &f.r, sizeof before);
  assert_null(f.r.platform);
  assert_int_equal(f.planned, 2);
  assert_int_equal(res.n_images, 2);
  assert_string_equal(res.images[0].plan.arch, "amd64");
  assert_string_equal(res.images[1].plan.arch, "arm64");
  assert_string_not_equal(res.images[0].manifest_digest, res.images[1].manifest_digest);
  /* the top is the image index, not either manifest */
  assert_string_not_equal(res.digest, res.images[0].manifest_digest);
  if (image_read(f.output, &img, &err) < 0)
    fail_msg("%s", err.msg);
  assert_non_null(image_find(&img, "/srv/data.txt"));
  image_free(&img);
  build_result_free(&res);

  /* --platform names one of them: its sysroot from the map */
  strv_push(&f.req.platforms, "linux/arm64");
  if (build_image(&f.req, &res, &err) < 0)
    fail_msg("%s", err.msg);
  assert_int_equal(res.n_images, 1);
  assert_string_equal(res.images[0].plan.arch, "arm64");
  assert_memory_equal(&before, &f.r, sizeof before);
  build_result_free(&res);
  strv_free(&f.req.platforms);
  teardown(&f);
}

/* An output over an input is the caller's mistake, refused before
 * anything is written; a failed build leaves the result empty and the
 * previous output as it was. */
static void
test_refusals(void **state)
{
  struct fixture f;
  struct build_result res;
  struct derror err = DERROR_INIT;

  setup(&f, app_yaml);
  f.req.output = f.r.file;
  assert_int_equal(build_image(&f.req, &res, &err), -1);
  assert_true(derror_is(&err, DERROR_USAGE));
  assert_non_null(strstr(err.msg, "which the build reads"));
  assert_null(res.output);
  assert_int_equal(res.n_images, 0);
  derror_clear(&err);
  assert_int_equal(f.planned, 0);

  f.req.output = f.output;
  free(tl_write(f.dir, "out.tar", "before"));
  strv_push(&f.req.platforms, "linux/s390x");
  assert_int_equal(build_image(&f.req, &res, &err), -1);
  assert_false(derror_is(&err, DERROR_USAGE));
  assert_non_null(strstr(err.msg, "the platform is linux/s390x, but the programs are for"));
  derror_clear(&err);
  cleanup_free char *kept = tl_read(f.output, NULL);
  assert_string_equal(kept, "before");
  strv_free(&f.req.platforms);
  teardown(&f);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_build_and_read_back),
    cmocka_unit_test(test_names_and_reproducible),
    cmocka_unit_test(test_platforms_leave_recipe),
    cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
