#include "testlib.h"

#include "image/check.h"
#include "image/image.h"
#include "build/oci.h"
#include "lib/path.h"

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
  assert_int_equal(oci_archive_manifests(&a, &img, 1, &digest, top, &err), 0);
  assert_int_equal(oci_archive_close(&a, &img, NULL, 0, &err), 0);
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

/* ---- lookups ---------------------------------------------------------- */

/* image_lookup as it was before it used view.c's walker: a link replaced
 * by its target and ".." taken lexically, the path walked again from the
 * root.  Without ".." after the first components of a target the two agree
 * on every tree; with it the walker goes up from where the link led, as
 * the kernel does. */
static const struct image_file *
lexical_lookup(const struct image *img, const char *path, bool follow, struct derror *err)
{
  cleanup_free char *cur = path_normalize(path);
  int hops = 0;

  for (bool restarted = true; cur && restarted;) {
    struct buf done = { 0 };
    const char *p = cur + 1;
    const struct image_file *f = NULL;
    restarted = false;
    while (*p && !restarted) {
      size_t n = strcspn(p, "/");
      buf_append(&done, "/", 1);
      buf_append(&done, p, n);
      p += n + (p[n] ? 1 : 0);
      f = image_find(img, done.data);
      if (f == NULL || f->type != 'l' || (*p == '\0' && !follow))
        continue;
      if (++hops > 40) {
        derror_set(err, "`%s`: more than %d symlinks (a loop at `%s`?)", path, 40, done.data);
        buf_free(&done);
        return NULL;
      }
      cleanup_free char *dir = path_dirname(done.data);
      cleanup_free char *joined = f->target[0] == '/' ? xasprintf("%s/%s", f->target, p)
                                                       : xasprintf("%s/%s/%s", dir, f->target, p);
      struct strv parts = { 0 };
      char *save = NULL;
      for (char *t = strtok_r(joined, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (strcmp(t, "..") == 0 && parts.n)
          free(parts.items[--parts.n]);
        else if (strcmp(t, ".") && strcmp(t, ".."))
          strv_push(&parts, t);
      }
      struct buf next = { 0 };
      for (size_t i = 0; i < parts.n; i++)
        buf_printf(&next, "/%s", parts.items[i]);
      if (next.data == NULL)
        buf_append(&next, "/", 1);
      strv_free(&parts);
      free(cur);
      cur = next.data;
      restarted = true;
    }
    buf_free(&done);
    if (!restarted)
      return f;
  }
  return NULL;
}

/* Random trees of directories, files and symlinks, parents listed or not
 * and files with names below them, looked up both ways. */
static void
test_lookup_random(void **state)
{
  static const char *const names[] = { "/a", "/a/b", "/a/b/c", "/a/c", "/b", "/b/c", "/c" };
  static const char *const targets[] = { "/a", "/a/b", "b", "c", "../c", "../a/b", "/", "..", "/b/c", "x", "." };
  static const char *const more[] = { "/a/b/c/d", "/x", "/b/c/b", "/c/c", "/a/./b", "//a/b", "/a/b/" };
  const size_t n_names = sizeof names / sizeof *names, n_more = sizeof more / sizeof *more;
  unsigned seed = 7;

  for (int round = 0; round < 3000; round++) {
    struct image img = { 0 };
    for (size_t i = 0; i < n_names; i++) {
      switch (rand_r(&seed) % 5) {
      case 0:
        break; /* not listed */
      case 1:
        add(&img, 0, names[i], 'd', 0755, NULL);
        break;
      case 2:
        add(&img, 0, names[i], 'f', 0644, NULL);
        break;
      default:
        add(&img, 0, names[i], 'l', 0777, targets[rand_r(&seed) % (sizeof targets / sizeof *targets)]);
      }
    }
    image_merge(&img);
    for (size_t q = 0; q < n_names + n_more; q++) {
      const char *path = q < n_names ? names[q] : more[q - n_names];
      for (int follow = 0; follow < 2; follow++) {
        struct derror e1 = DERROR_INIT, e2 = DERROR_INIT;
        const struct image_file *want = lexical_lookup(&img, path, follow, &e1);
        const struct image_file *got = image_lookup(&img, path, follow, &e2);
        if (got != want)
          fail_msg("round %d: %s (follow %d): %s, not %s", round, path, follow, got ? got->path : "nothing",
                   want ? want->path : "nothing");
        assert_string_equal(e2.msg ? e2.msg : "", e1.msg ? e1.msg : "");
        derror_clear(&e1);
        derror_clear(&e2);
      }
    }
    image_free(&img);
  }
}

/* Where the two differ: ".." after a link in a target goes up from where
 * the link led (the kernel's rule), not back over the link's name. */
static void
test_lookup_dotdot_after_link(void **state)
{
  struct image img = { 0 };
  struct derror err = DERROR_INIT;

  add(&img, 0, "/etc", 'd', 0755, NULL);
  add(&img, 0, "/etc/ssl", 'l', 0777, "/usr/share/ssl");
  add(&img, 0, "/etc/x", 'f', 0644, NULL);
  add(&img, 0, "/usr/share/x", 'f', 0644, NULL);
  add(&img, 0, "/usr/share/ssl", 'd', 0755, NULL);
  add(&img, 0, "/lib", 'l', 0777, "etc/ssl/../x");
  image_merge(&img);
  const struct image_file *f = image_lookup(&img, "/lib", true, &err);
  assert_non_null(f);
  assert_string_equal(f->path, "/usr/share/x");
  assert_string_equal(lexical_lookup(&img, "/lib", true, &err)->path, "/etc/x");
  /* not followed at the end, followed in the parents */
  assert_int_equal(image_lookup(&img, "/lib", false, &err)->type, 'l');
  assert_null(image_lookup(&img, "/", true, &err));
  assert_null(err.msg);
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
    cmocka_unit_test(test_lookup_random),
    cmocka_unit_test(test_lookup_dotdot_after_link),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
