#include "testlib.h"

#include "build/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>
#include <zlib.h>

#define EPOCH 1700000000

static char long_name[256];

/* A small image: base entries, a file read from disk, a symlink, and names
 * that need pax headers. */
static void
make_fs(struct rootfs *fs, const char *source)
{
  struct derror err = DERROR_INIT;
  struct rootfs_entry *e;

  rootfs_add_data(fs, "/etc/passwd", LAYER_BASE, "root:x:0:0::/:/x\n", 17, 0644, "t");
  e = rootfs_add_dir(fs, "/tmp", LAYER_BASE, 01777, "t");
  e = rootfs_add_dir(fs, "/home/nonroot", LAYER_BASE, 0700, "t");
  e->uid = e->gid = 65532;
  rootfs_add_data(fs, "/home/nonroot/.cfg", LAYER_APP, "cfg", 3, 0644, "t");
  rootfs_add_file(fs, "/usr/bin/app", LAYER_APP, source, 6, 0755, "t");
  rootfs_add_symlink(fs, "/lib", LAYER_LIBRARIES, "usr/lib", "t");
  rootfs_add_data(fs, "/usr/share/caf\xc3\xa9", LAYER_APP, "", 0, 0644, "t");
  memset(long_name, 0, sizeof long_name);
  strcpy(long_name, "/usr/share/");
  memset(long_name + 11, 'n', 200);
  rootfs_add_data(fs, long_name, LAYER_APP, "long", 4, 0644, "t");
  assert_int_equal(rootfs_finish(fs, &err), 0);
}

struct expect {
  const char *name;
  int type;
  int perm;
  int uid;
  const char *content;
  const char *link;
};

static void
read_back(const char *path, const struct expect *exp, size_t n_exp)
{
  struct archive *a = archive_read_new();
  struct archive_entry *ae;
  size_t i = 0;

  archive_read_support_format_tar(a);
  archive_read_support_filter_all(a);
  assert_int_equal(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
  while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
    assert_true(i < n_exp);
    const struct expect *x = &exp[i++];
    assert_string_equal(archive_entry_pathname(ae), x->name);
    assert_int_equal(archive_entry_filetype(ae), x->type);
    assert_int_equal(archive_entry_perm(ae), x->perm);
    assert_int_equal(archive_entry_uid(ae), x->uid);
    assert_int_equal(archive_entry_gid(ae), x->uid);
    assert_int_equal(archive_entry_mtime(ae), EPOCH);
    assert_int_equal(archive_entry_mtime_nsec(ae), 0);
    assert_false(archive_entry_atime_is_set(ae));
    assert_false(archive_entry_ctime_is_set(ae));
    assert_false(archive_entry_birthtime_is_set(ae));
    /* Numeric owners only: no user or group names. */
    const char *uname = archive_entry_uname(ae), *gname = archive_entry_gname(ae);
    assert_true(uname == NULL || *uname == '\0');
    assert_true(gname == NULL || *gname == '\0');
    assert_int_equal(archive_entry_xattr_count(ae), 0);
    if (x->link)
      assert_string_equal(archive_entry_symlink(ae), x->link);
    if (x->content) {
      char buf[64] = { 0 };
      assert_int_equal(archive_entry_size(ae), strlen(x->content));
      assert_int_equal(archive_read_data(a, buf, sizeof buf), (la_ssize_t) strlen(x->content));
      assert_string_equal(buf, x->content);
    }
  }
  assert_int_equal(i, n_exp);
  archive_read_free(a);
}

/* Write one layer of `fs` to `path` (or nowhere, for NULL). */
static void
write_layer(const struct rootfs *fs, rootfs_layer layer, enum compression comp, const char *path,
            struct layer_blob *blob)
{
  struct derror err = DERROR_INIT;
  int fd = open(path ? path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);

  assert_true(fd >= 0);
  struct layer_options opt = { .epoch = EPOCH, .comp = comp, .jobs = 2 };
  if (layer_write(fs, layer, &opt, fd, blob, &err) < 0)
    fail_msg("%s", err.msg);
  close(fd);
}

static void
test_layers_read_back(void **state)
{
  char *dir = tl_tmpdir();
  cleanup_free char *source = tl_write(dir, "app", "binary");
  cleanup_free char *out = xasprintf("%s/layer.tar", dir);
  cleanup_free char *name2 = NULL;
  struct rootfs fs = { 0 };
  struct layer_blob blob;

  make_fs(&fs, source);
  write_layer(&fs, LAYER_APP, COMPRESSION_NONE, out, &blob);
  name2 = xasprintf("%s", long_name + 1);
  /* Parents from other layers come with their own owner and mode. */
  const struct expect app[] = {
    { "home/", AE_IFDIR, 0755, 0, NULL, NULL },
    { "home/nonroot/", AE_IFDIR, 0700, 65532, NULL, NULL },
    { "home/nonroot/.cfg", AE_IFREG, 0644, 0, "cfg", NULL },
    { "usr/", AE_IFDIR, 0755, 0, NULL, NULL },
    { "usr/bin/", AE_IFDIR, 0755, 0, NULL, NULL },
    { "usr/bin/app", AE_IFREG, 0755, 0, "binary", NULL },
    { "usr/share/", AE_IFDIR, 0755, 0, NULL, NULL },
    { "usr/share/caf\xc3\xa9", AE_IFREG, 0644, 0, "", NULL },
    { name2, AE_IFREG, 0644, 0, "long", NULL },
  };
  read_back(out, app, sizeof app / sizeof *app);
  assert_int_equal(blob.n_entries, sizeof app / sizeof *app);

  /* Uncompressed: the blob is the tar, digest and diff_id agree. */
  size_t len;
  cleanup_free char *bytes = tl_read(out, &len);
  char d[DIGEST_STR_LEN];
  digest_buffer(bytes, len, d);
  assert_string_equal(blob.diff_id, d);
  assert_string_equal(blob.digest, d);
  assert_int_equal(blob.size, len);
  assert_string_equal(blob.media_type, "application/vnd.oci.image.layer.v1.tar");
  /* Records are whole 512-byte blocks. */
  assert_int_equal(len % 512, 0);

  write_layer(&fs, LAYER_LIBRARIES, COMPRESSION_NONE, out, &blob);
  const struct expect libs[] = { { "lib", AE_IFLNK, 0777, 0, NULL, "usr/lib" } };
  read_back(out, libs, 1);
  rootfs_free(&fs);
  tl_rmtree(dir);
}

static void
test_gzip(void **state)
{
  char *dir = tl_tmpdir();
  cleanup_free char *source = tl_write(dir, "app", "binary");
  cleanup_free char *out = xasprintf("%s/layer.tar.gz", dir);
  struct rootfs fs = { 0 };
  struct layer_blob plain, gz;

  make_fs(&fs, source);
  write_layer(&fs, LAYER_BASE, COMPRESSION_NONE, NULL, &plain);
  write_layer(&fs, LAYER_BASE, COMPRESSION_GZIP, out, &gz);
  assert_string_equal(gz.diff_id, plain.diff_id);
  assert_string_equal(gz.media_type, "application/vnd.oci.image.layer.v1.tar+gzip");

  size_t len;
  cleanup_free unsigned char *bytes = (unsigned char *) tl_read(out, &len);
  char d[DIGEST_STR_LEN];
  digest_buffer(bytes, len, d);
  assert_string_equal(gz.digest, d);
  assert_int_equal(gz.size, len);
  /* The header: magic, deflate, no flags, no mtime. */
  assert_int_equal(bytes[0], 0x1f);
  assert_int_equal(bytes[1], 0x8b);
  assert_int_equal(bytes[2], 8);
  assert_int_equal(bytes[3], 0);
  assert_int_equal(bytes[4] | bytes[5] | bytes[6] | bytes[7], 0);

  /* zlib decodes it to the tar whose digest is the diff_id. */
  z_stream z = { 0 };
  unsigned char *tar = xmalloc(1 << 20);
  assert_int_equal(inflateInit2(&z, 31), Z_OK);
  z.next_in = bytes;
  z.avail_in = (uInt) len;
  z.next_out = tar;
  z.avail_out = 1 << 20;
  assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
  digest_buffer(tar, z.total_out, d);
  assert_string_equal(d, plain.diff_id);
  inflateEnd(&z);
  free(tar);
  rootfs_free(&fs);
  tl_rmtree(dir);
}

static void
test_changed_source_is_an_error(void **state)
{
  char *dir = tl_tmpdir();
  cleanup_free char *source = tl_write(dir, "app", "binary");
  struct rootfs fs = { 0 };
  struct layer_blob blob;
  struct derror err = DERROR_INIT;

  make_fs(&fs, source);
  free(tl_write(dir, "app", "longer binary"));
  int fd = open("/dev/null", O_WRONLY);
  struct layer_options opt = { .epoch = EPOCH, .comp = COMPRESSION_GZIP, .jobs = 1 };
  assert_int_equal(layer_write(&fs, LAYER_APP, &opt, fd, &blob, &err), -1);
  close(fd);
  cleanup_free char *msg = xasprintf("`%s` changed while the image was being built", source);
  assert_string_equal(err.msg, msg);
  derror_clear(&err);
  assert_true(layer_is_empty(&fs, LAYER_MAX));
  assert_false(layer_is_empty(&fs, LAYER_BASE));
  rootfs_free(&fs);
  tl_rmtree(dir);
}

int
main(void)
{
  setlocale(LC_ALL, "C.UTF-8");
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_layers_read_back),
    cmocka_unit_test(test_gzip),
    cmocka_unit_test(test_changed_source_is_an_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
