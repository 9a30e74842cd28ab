#include "testlib.h"

#include "image/check.h"
#include "image/image.h"
#include "build/oci.h"

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
  struct image_config cfg = { .uid = 65532, .gid = 65532 };
  struct oci_image img = { 0 };
  char digest[DIGEST_STR_LEN];

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
  img.name = "t";
  img.tag = "latest";
  img.arch = "amd64";
  img.config = &cfg;
  img.layers = layers;
  img.layer_comments = comments;
  img.n_layers = 2;
  char top[DIGEST_STR_LEN];
  assert_int_equal(oci_archive_close(&a, &img, 1, &digest, top, &err), 0);
  close(out);
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
  assert_int_equal(check_image(path, &img, true, NULL, &rep, &err), 0);
  assert_int_equal(rep.results[7].status, CHECK_FAIL);
  assert_string_equal(rep.results[7].findings.items[0], "/root/.ssh/id_ed25519 in layer 1: a private key");
  check_report_free(&rep);
  image_free(&img);
  tl_rmtree(dir);
}

/* ---- the merge of a described image ----------------------------------- */

static struct image_file *
add(struct image *img, int layer, const char *path, char type, mode_t mode, const char *target)
{
  struct image_file *f = image_history_add(img);
  f->path = xstrdup(path);
  f->type = type;
  f->mode = mode;
  f->layer = layer;
  f->target = target ? xstrdup(target) : NULL;
  return f;
}

static const struct image_file *
tree_file(const struct image *img, const char *path)
{
  struct derror err = DERROR_INIT;
  const struct image_file *f = image_lookup(img, path, false, &err);
  derror_clear(&err);
  return f;
}

/* A hardlink is the inode its target was when it was applied; a whiteout
 * spares its own layer. */
static void
test_merge_links_and_whiteouts(void **state)
{
  struct image img = { 0 };

  add(&img, 0, "/bin", 'd', 0755, NULL);
  add(&img, 0, "/bin/dash", 'f', 04755, NULL)->marks = IMAGE_MARK_SHELL | IMAGE_MARK_ELF;
  add(&img, 0, "/bin/tool", 'h', 0644, "/bin/dash");
  add(&img, 0, "/bin/dash", 'f', 0755, NULL);
  add(&img, 0, "/bin/link", 'l', 0777, "dash");
  add(&img, 0, "/bin/hl", 'h', 0600, "/bin/link");
  add(&img, 0, "/bin/nowhere", 'h', 0600, "/bin/none");
  add(&img, 1, "/bin/own", 'f', 0644, NULL);
  add(&img, 1, "/bin/.wh.own", 'f', 0644, NULL);
  add(&img, 1, "/bin/.wh.dash", 'f', 0644, NULL);
  add(&img, 1, "/bin/.wh.", 'f', 0644, NULL);
  add(&img, 1, "/bin/.wh..", 'f', 0644, NULL);
  image_merge(&img);

  const struct image_file *tool = tree_file(&img, "/bin/tool");
  assert_non_null(tool);
  assert_int_equal(tool->type, 'f');
  assert_int_equal(tool->mode, 04755);
  assert_int_equal(tool->marks, IMAGE_MARK_SHELL | IMAGE_MARK_ELF);
  assert_null(tool->target);
  assert_int_equal(tool->layer, 0);
  assert_int_equal(tool->src, 1);
  assert_null(tree_file(&img, "/bin/dash"));
  assert_non_null(tree_file(&img, "/bin/own"));
  assert_non_null(tree_file(&img, "/bin"));
  /* a link to a symlink is that symlink */
  const struct image_file *hl = tree_file(&img, "/bin/hl");
  assert_int_equal(hl->type, 'l');
  assert_string_equal(hl->target, "dash");
  /* a described image keeps a link to nothing as it is */
  const struct image_file *nowhere = tree_file(&img, "/bin/nowhere");
  assert_int_equal(nowhere->type, 'h');
  assert_string_equal(nowhere->target, "/bin/none");
  image_free(&img);
}

/* The merge against a naive one (every removal a scan of every name), on
 * random histories over a few names: files, directories, hardlinks,
 * whiteouts and opaque directories in four layers. */
struct naive {
  const char *path;
  size_t name, inode;
  int layer;
};

static void
naive_remove(struct naive *t, size_t *n, const char *p, int below_layer, bool self)
{
  size_t len = strlen(p), k = 0;
  for (size_t i = 0; i < *n; i++) {
    bool under = len == 1 || (strncmp(t[i].path, p, len) == 0 && t[i].path[len] == '/');
    bool hit = (under || (self && strcmp(t[i].path, p) == 0)) && t[i].layer < below_layer;
    if (!hit)
      t[k++] = t[i];
  }
  *n = k;
}

static struct naive *
naive_find(struct naive *t, size_t n, const char *p)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(t[i].path, p) == 0)
      return &t[i];
  return NULL;
}

static void
naive_apply(const struct image *img, size_t h, struct naive *t, size_t *n)
{
  const struct image_file *e = &img->history[h];
  const char *base = strrchr(e->path, '/') + 1;
  cleanup_free char *dir = xstrndup(e->path, (size_t) (base - e->path - 1));

  if (strcmp(base, ".wh..wh..opq") == 0) {
    naive_remove(t, n, *dir ? dir : "/", e->layer, false);
    return;
  }
  if (strncmp(base, ".wh.", 4) == 0) {
    cleanup_free char *gone = xasprintf("%s/%s", dir, base + 4);
    naive_remove(t, n, gone, e->layer, true);
    return;
  }
  size_t inode = h;
  struct naive *target = e->type == 'h' ? naive_find(t, *n, e->target) : NULL;
  if (target && img->history[target->inode].type != 'd')
    inode = target->inode;
  struct naive *old = naive_find(t, *n, e->path);
  if (old && !(img->history[old->inode].type == 'd' && img->history[inode].type == 'd'))
    naive_remove(t, n, e->path, INT32_MAX, false);
  if ((old = naive_find(t, *n, e->path)) == NULL)
    old = &t[(*n)++];
  *old = (struct naive) { e->path, h, inode, e->layer };
}

static int
naive_cmp(const void *a, const void *b)
{
  return strcmp(((const struct naive *) a)->path, ((const struct naive *) b)->path);
}

static void
test_merge_random(void **state)
{
  static const char *const names[] = { "/a", "/a/b", "/a/b/c", "/a/c", "/a-", "/a/b-", "/b", "/b/a", "/b/a/a" };
  const size_t n_names = sizeof names / sizeof *names;
  unsigned seed = 1;

  for (int round = 0; round < 2000; round++) {
    struct image img = { 0 };
    size_t n_entries = 1 + (size_t) (rand_r(&seed) % 40);
    for (size_t i = 0; i < n_entries; i++) {
      int layer = (int) (i * 4 / n_entries);
      const char *p = names[rand_r(&seed) % n_names];
      cleanup_free char *dir = path_dirname(p);
      switch (rand_r(&seed) % 6) {
      case 0:
        add(&img, layer, p, 'd', 0755, NULL);
        break;
      case 1: {
        cleanup_free char *wh = xasprintf("%s/.wh.%s", strcmp(dir, "/") ? dir : "", path_basename(p));
        add(&img, layer, wh, 'f', 0644, NULL);
        break;
      }
      case 2: {
        cleanup_free char *opq = xasprintf("%s/.wh..wh..opq", strcmp(dir, "/") ? dir : "");
        add(&img, layer, opq, 'f', 0644, NULL);
        break;
      }
      case 3:
        add(&img, layer, p, 'h', 0644, names[rand_r(&seed) % n_names]);
        break;
      default:
        add(&img, layer, p, 'f', (mode_t) (rand_r(&seed) % 010000), NULL);
      }
    }
    struct naive *t = xcalloc(img.n_history, sizeof *t);
    size_t n = 0;
    for (size_t h = 0; h < img.n_history; h++)
      naive_apply(&img, h, t, &n);
    qsort(t, n, sizeof *t, naive_cmp);
    image_merge(&img);
    if (img.n_files != n)
      fail_msg("round %d: %zu files, the naive merge %zu", round, img.n_files, n);
    for (size_t i = 0; i < n; i++) {
      assert_string_equal(img.files[i].path, t[i].path);
      assert_ptr_equal(img.files[i].path, img.history[t[i].name].path);
      assert_int_equal(img.files[i].src, t[i].inode);
      assert_int_equal(img.files[i].layer, t[i].layer);
    }
    free(t);
    image_free(&img);
  }
}

int
main(void)
{
  setlocale(LC_ALL, "C.UTF-8");
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_whiteouts_and_history),
    cmocka_unit_test(test_merge_links_and_whiteouts),
    cmocka_unit_test(test_merge_random),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
