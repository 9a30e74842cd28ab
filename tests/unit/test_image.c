#include "testlib.h"

#include "distill/check.h"
#include "distill/image.h"
#include "distill/oci.h"

#include <locale.h>

/* An image of two layers written by distill's own writer: the second one
 * deletes /etc/passwd with a whiteout, empties /srv with an opaque
 * directory, and adds symlinks, one of them a loop. */
static char *
write_image(const char *dir)
{
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;
  struct layer_blob layers[2];
  const char *comments[2] = { "one", "two" };
  struct recipe r;
  struct oci_image img = { 0 };
  char digest[DIGEST_STR_LEN];
  const char *text = "name: t\n";

  rootfs_add_data(&fs, "/etc/passwd", LAYER_BASE, "root:x:0:0::/:/x\n", 17, 0644, "t");
  rootfs_add_data(&fs, "/srv/old/a", LAYER_BASE, "a", 1, 0644, "t");
  rootfs_add_data(&fs, "/root/.ssh/id_ed25519", LAYER_BASE, "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n", 41, 0600, "t");
  rootfs_add_data(&fs, "/etc/.wh.passwd", LAYER_APP, "", 0, 0644, "t");
  rootfs_add_data(&fs, "/srv/.wh..wh..opq", LAYER_APP, "", 0, 0644, "t");
  rootfs_add_data(&fs, "/srv/new", LAYER_APP, "n", 1, 0644, "t");
  rootfs_add_symlink(&fs, "/lib", LAYER_APP, "usr/lib", "t");
  rootfs_add_data(&fs, "/usr/lib/libx.so", LAYER_APP, "x", 1, 0755, "t");
  rootfs_add_symlink(&fs, "/loop/a", LAYER_APP, "b", "t");
  rootfs_add_symlink(&fs, "/loop/b", LAYER_APP, "a", "t");
  assert_int_equal(rootfs_finish(&fs, &err), 0);
  assert_int_equal(recipe_parse("/t.yaml", text, strlen(text), &r, &err), 0);
  char *path = xasprintf("%s/image.tar", dir);
  struct oci_archive a;
  int out = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  assert_int_equal(oci_archive_open(&a, out, 0, &err), 0);
  for (int i = 0; i < 2; i++) {
    struct layer_options opt = { .epoch = 0, .comp = COMPRESSION_GZIP, .jobs = 1 };
    assert_int_equal(oci_archive_blob_begin(&a, &err), 0);
    assert_int_equal(layer_write(&fs, i == 0 ? LAYER_BASE : LAYER_APP, &opt, out, &layers[i], &err), 0);
    assert_int_equal(oci_archive_blob_end(&a, layers[i].digest, layers[i].size, &err), 0);
  }
  img.recipe = &r;
  img.name = "t";
  img.tag = "latest";
  img.arch = "amd64";
  img.uid = img.gid = 65532;
  img.layers = layers;
  img.layer_comments = comments;
  img.n_layers = 2;
  char top[DIGEST_STR_LEN];
  assert_int_equal(oci_archive_close(&a, &img, 1, &digest, top, &err), 0);
  close(out);
  recipe_free(&r);
  rootfs_free(&fs);
  return path;
}

static void
test_whiteouts_and_history(void **state)
{
  char *dir = tl_tmpdir();
  cleanup_free char *path = write_image(dir);
  struct image img;
  struct derror err = DERROR_INIT;

  if (image_read(path, &img, &err) < 0)
    fail_msg("%s", err.msg);
  assert_string_equal(img.name, "docker.io/library/t:latest");
  assert_int_equal(img.n_layers, 2);
  /* deleted from the tree, kept in the history */
  assert_null(image_lookup(&img, "/etc/passwd", false, &err));
  assert_non_null(image_lookup(&img, "/etc", false, &err));
  assert_null(image_lookup(&img, "/srv/old/a", false, &err));
  assert_null(image_lookup(&img, "/srv/old", false, &err));
  assert_non_null(image_lookup(&img, "/srv/new", false, &err));
  bool seen = false;
  for (size_t i = 0; i < img.n_history; i++)
    seen |= strcmp(img.history[i].path, "/etc/passwd") == 0 && img.history[i].layer == 0;
  assert_true(seen);
  /* symlinks followed, loops refused */
  const struct image_file *f = image_lookup(&img, "/lib/libx.so", true, &err);
  assert_non_null(f);
  assert_string_equal(f->path, "/usr/lib/libx.so");
  assert_null(image_lookup(&img, "/loop/a", true, &err));
  assert_string_equal(err.msg, "`/loop/a`: more than 40 symlinks (a loop at `/loop/a`?)");
  derror_clear(&err);
  /* the content of a file, read again from its layer */
  struct buf b = { 0 };
  assert_int_equal(image_read_file(path, &img, f, 1024, &b, &err), 0);
  assert_int_equal(b.len, 1);
  assert_memory_equal(b.data, "x", 1);
  buf_free(&b);

  /* the key in layer 1 is a finding even though nothing deleted it */
  struct check_report rep;
  assert_int_equal(check_image(path, &img, true, &rep, &err), 0);
  assert_int_equal(rep.results[7].status, CHECK_FAIL);
  assert_string_equal(rep.results[7].findings.items[0], "/root/.ssh/id_ed25519 in layer 1: a private key");
  check_report_free(&rep);
  image_free(&img);
  tl_rmtree(dir);
}

int
main(void)
{
  setlocale(LC_ALL, "C.UTF-8");
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_whiteouts_and_history),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
