#include "testlib.h"

#include "lib/cache.h"
#include "lib/compress.h"
#include "lib/digest.h"
#include "lib/error.h"

#include <sys/stat.h>

/* A scratch directory and a cache opened in it. */
struct fixture {
  char *dir, *path;
  struct cache cache;
};

static int
setup(void **state)
{
  struct fixture *f = xcalloc(1, sizeof *f);
  struct derror err = DERROR_INIT;

  f->dir = tl_tmpdir();
  f->path = xasprintf("%s/cache", f->dir);
  assert_int_equal(cache_open(&f->cache, f->path, &err), 0);
  *state = f;
  return 0;
}

static int
teardown(void **state)
{
  struct fixture *f = *state;

  cache_close(&f->cache);
  free(f->path);
  tl_rmtree(f->dir);
  free(f);
  return 0;
}

/* The key, blob digest and diff_id a layer `name` would have. */
static struct cache_hit
layer(const char *name, const char *blob, size_t len)
{
  struct cache_hit h = { .size = len, .comp = COMPRESSION_GZIP };
  cleanup_free char *uncompressed = xasprintf("uncompressed %s", name);

  digest_buffer(blob, len, h.digest);
  digest_buffer(uncompressed, strlen(uncompressed), h.diff_id);
  strv_push(&h.marks, "0 /usr/bin/app");
  strv_push(&h.marks, "2 /etc/app.conf");
  return h;
}

static void
key_of(const char *name, char key[DIGEST_STR_LEN])
{
  digest_buffer(name, strlen(name), key);
}

/* Put a blob as a build does: begun in the cache, written, then kept. */
static void
put(struct cache *c, const char *name, const char *blob, size_t len)
{
  struct cache_hit what = layer(name, blob, len);
  char key[DIGEST_STR_LEN];
  char *tmp = NULL;
  int fd = cache_begin(c, &tmp);

  assert_true(fd >= 0);
  assert_int_equal(write(fd, blob, len), (ssize_t) len);
  key_of(name, key);
  cache_put(c, fd, tmp, key, &what);
  cache_hit_free(&what);
}

/* The host path of a blob in layers/. */
static char *
blob_path(const struct fixture *f, const struct cache_hit *h)
{
  return xasprintf("%s/layers/%s.%s-%d", f->path, h->diff_id + 7, compression_name(h->comp),
                   compression_level(h->comp));
}

static void
test_put_lookup_copy(void **state)
{
  struct fixture *f = *state;
  static const char blob[] = "compressed bytes of a layer";
  struct cache_hit want = layer("app", blob, sizeof blob), hit;
  struct derror err = DERROR_INIT;
  char key[DIGEST_STR_LEN];
  struct stat st;

  key_of("app", key);
  assert_int_equal(cache_lookup(&f->cache, key, COMPRESSION_GZIP, &hit), -1);
  put(&f->cache, "app", blob, sizeof blob);
  assert_int_equal(cache_lookup(&f->cache, key, COMPRESSION_GZIP, &hit), 0);
  assert_string_equal(hit.digest, want.digest);
  assert_string_equal(hit.diff_id, want.diff_id);
  assert_int_equal(hit.size, sizeof blob);
  assert_int_equal(hit.marks.n, 2);
  assert_string_equal(hit.marks.items[0], "0 /usr/bin/app");
  assert_string_equal(hit.marks.items[1], "2 /etc/app.conf");

  cleanup_free char *out = xasprintf("%s/out", f->dir);
  int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(cache_copy(&f->cache, &hit, fd, false, &err), 0);
  close(fd);
  size_t len;
  cleanup_free char *copied = tl_read(out, &len);
  assert_int_equal(len, sizeof blob);
  assert_memory_equal(copied, blob, sizeof blob);

  /* its directories are this user's alone */
  assert_int_equal(stat(f->path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0700);
  cache_hit_free(&hit);
  cache_hit_free(&want);
}

/* A blob changed after it was kept fails its digest on the way out and is
 * removed; a failed write to the output says so by its code. */
static void
test_corrupt_and_output(void **state)
{
  struct fixture *f = *state;
  static const char blob[] = "the bytes as they were kept";
  struct derror err = DERROR_INIT;
  char key[DIGEST_STR_LEN];
  struct cache_hit hit;

  key_of("lib", key);
  put(&f->cache, "lib", blob, sizeof blob);
  assert_int_equal(cache_lookup(&f->cache, key, COMPRESSION_GZIP, &hit), 0);

  int ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_int_equal(cache_copy(&f->cache, &hit, ro, true, &err), -1);
  assert_true(derror_is(&err, DERROR_OUTPUT));
  derror_clear(&err);
  close(ro);

  cleanup_free char *path = blob_path(f, &hit);
  assert_int_equal(tl_sh("printf X | dd of='%s' bs=1 seek=3 conv=notrunc status=none", path), 0);
  int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  assert_int_equal(cache_copy(&f->cache, &hit, fd, false, &err), -1);
  close(fd);
  assert_false(derror_is(&err, DERROR_OUTPUT));
  assert_non_null(strstr(err.msg, "is corrupt"));
  assert_non_null(strstr(err.msg, ": removed"));
  derror_clear(&err);
  assert_int_equal(access(path, F_OK), -1);
  cache_hit_free(&hit);
  /* the record whose blob is gone is a miss */
  assert_int_equal(cache_lookup(&f->cache, key, COMPRESSION_GZIP, &hit), -1);
}

/* A blob is hashed on the way out only when its file is not the one its
 * record saw: a cache copied elsewhere (another inode) is hashed once,
 * then trusted there; a blob rewritten in place, at the same size, fails. */
static void
test_seen(void **state)
{
  struct fixture *f = *state;
  static const char blob[] = "bytes kept and seen";
  struct derror err = DERROR_INIT;
  char key[DIGEST_STR_LEN];
  struct cache_hit hit;
  struct stat st;

  key_of("seen", key);
  put(&f->cache, "seen", blob, sizeof blob);
  assert_int_equal(cache_lookup(&f->cache, key, COMPRESSION_GZIP, &hit), 0);
  cleanup_free char *path = blob_path(f, &hit);
  assert_int_equal(stat(path, &st), 0);
  /* the record saw the file the cache wrote */
  assert_true(hit.has_seen);
  assert_int_equal(hit.seen.ino, st.st_ino);
  assert_int_equal(hit.seen.size, sizeof blob);
  cache_hit_free(&hit);

  /* restored elsewhere: the same bytes in another file, hashed and then seen */
  assert_int_equal(tl_sh("cp '%s' '%s.new' && mv '%s.new' '%s'", path, path, path, path), 0);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(cache_lookup(&f->cache, key, COMPRESSION_GZIP, &hit), 0);
  assert_true(hit.seen.ino != st.st_ino);
  cleanup_free char *out = xasprintf("%s/out", f->dir);
  int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_int_equal(cache_copy(&f->cache, &hit, fd, false, &err), 0);
  close(fd);
  cache_hit_free(&hit);
  assert_int_equal(cache_lookup(&f->cache, key, COMPRESSION_GZIP, &hit), 0);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(hit.seen.ino, st.st_ino);
  assert_int_equal(hit.seen.ctime_sec, st.st_ctim.tv_sec);
  assert_int_equal(hit.seen.ctime_nsec, st.st_ctim.tv_nsec);

  /* rewritten in place at the same size, its times put back: the ctime
   * still moved, so it is hashed, and fails */
  assert_int_equal(tl_sh("touch -r '%s' '%s.ref' && printf Y | dd of='%s' bs=1 seek=2 conv=notrunc status=none"
                         " && touch -r '%s.ref' '%s'", path, path, path, path, path), 0);
  fd = open(out, O_WRONLY | O_TRUNC | O_CLOEXEC);
  assert_int_equal(cache_copy(&f->cache, &hit, fd, false, &err), -1);
  close(fd);
  assert_non_null(strstr(err.msg, "is corrupt"));
  derror_clear(&err);
  cache_hit_free(&hit);
}

/* A record that group or others could have written is not trusted. */
static void
test_record_trust(void **state)
{
  struct fixture *f = *state;
  static const char blob[] = "layer";
  char key[DIGEST_STR_LEN];
  struct cache_hit hit;

  key_of("planted", key);
  put(&f->cache, "planted", blob, sizeof blob);
  cleanup_free char *record = xasprintf("%s/keys/%s", f->path, key + 7);
  assert_int_equal(chmod(record, 0666), 0);
  assert_int_equal(cache_lookup(&f->cache, key, COMPRESSION_GZIP, &hit), -1);
}

/* A cache another user could write in is refused, and so is a symbolic
 * link: eviction would remove files wherever it points. */
static void
test_unsafe(void **state)
{
  struct fixture *f = *state;
  struct derror err = DERROR_INIT;
  struct cache c;

  cleanup_free char *open_dir = xasprintf("%s/open", f->dir);
  assert_int_equal(mkdir(open_dir, 0700), 0);
  assert_int_equal(chmod(open_dir, 0777), 0);
  assert_int_equal(cache_open(&c, open_dir, &err), -1);
  assert_true(derror_is(&err, DERROR_UNSAFE));
  assert_non_null(strstr(err.msg, "writable by group and others"));
  derror_clear(&err);

  cleanup_free char *link = xasprintf("%s/link", f->dir);
  assert_int_equal(symlink(f->path, link), 0);
  assert_int_equal(cache_open(&c, link, &err), -1);
  assert_true(derror_is(&err, DERROR_UNSAFE));
  assert_non_null(strstr(err.msg, "is a symbolic link"));
  derror_clear(&err);

  /* its layers directory a link to elsewhere */
  cleanup_free char *other = xasprintf("%s/other", f->dir);
  cleanup_free char *layers = xasprintf("%s/layers", other);
  assert_int_equal(mkdir(other, 0700), 0);
  assert_int_equal(symlink(f->dir, layers), 0);
  assert_int_equal(cache_open(&c, other, &err), -1);
  assert_true(derror_is(&err, DERROR_UNSAFE));
  derror_clear(&err);
}

static void
test_notes(void **state)
{
  struct fixture *f = *state;
  char key[DIGEST_STR_LEN], other[DIGEST_STR_LEN];
  struct buf b = { 0 };

  key_of("note", key);
  key_of("no note", other);
  cache_note_put(&f->cache, key, "libc6 amd64\n-\n", 14);
  assert_int_equal(cache_note_get(&f->cache, key, &b), 0);
  assert_int_equal(b.len, 14);
  assert_string_equal(b.data, "libc6 amd64\n-\n");
  buf_free(&b);
  assert_int_equal(cache_note_get(&f->cache, other, &b), -1);
  /* a note is no record: under a key it is not a layer */
  cache_note_put(&f->cache, "not a digest", "x", 1);
  assert_int_equal(cache_note_get(&f->cache, "not a digest", &b), -1);
}

static void
set_mtime(const char *path, time_t when)
{
  struct timespec t[2] = { { when, 0 }, { when, 0 } };

  assert_int_equal(utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW), 0);
}

/* Above DISTILL_CACHE_MAX the least recently used blobs go. */
static void
test_eviction(void **state)
{
  struct fixture *f = *state;
  struct derror err = DERROR_INIT;
  char a_blob[600], b_blob[600], c_blob[600];
  struct cache c;

  cleanup_free char *path = xasprintf("%s/small", f->dir);
  setenv("DISTILL_CACHE_MAX", "1500", 1);
  assert_int_equal(cache_open(&c, path, &err), 0);
  unsetenv("DISTILL_CACHE_MAX");
  assert_int_equal(c.max, 1500);

  memset(a_blob, 'a', sizeof a_blob);
  memset(b_blob, 'b', sizeof b_blob);
  memset(c_blob, 'c', sizeof c_blob);
  put(&c, "a", a_blob, sizeof a_blob);
  put(&c, "b", b_blob, sizeof b_blob);
  /* a used after b, as cache_copy marks a blob it copies out */
  struct cache_hit a = layer("a", a_blob, sizeof a_blob), b = layer("b", b_blob, sizeof b_blob);
  cleanup_free char *a_path = xasprintf("%s/layers/%s.gzip-%d", path, a.diff_id + 7, COMPRESS_GZIP_LEVEL);
  cleanup_free char *b_path = xasprintf("%s/layers/%s.gzip-%d", path, b.diff_id + 7, COMPRESS_GZIP_LEVEL);
  set_mtime(b_path, 1000);
  set_mtime(a_path, 2000);
  /* 1800 bytes: the least recently used goes, and 1200 fit */
  put(&c, "c", c_blob, sizeof c_blob);

  assert_int_equal(access(a_path, F_OK), 0);
  assert_int_equal(access(b_path, F_OK), -1);
  char key[DIGEST_STR_LEN];
  struct cache_hit hit;
  key_of("b", key);
  assert_int_equal(cache_lookup(&c, key, COMPRESSION_GZIP, &hit), -1);
  key_of("a", key);
  assert_int_equal(cache_lookup(&c, key, COMPRESSION_GZIP, &hit), 0);
  cache_hit_free(&hit);
  cache_hit_free(&a);
  cache_hit_free(&b);
  cache_close(&c);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_put_lookup_copy, setup, teardown),
    cmocka_unit_test_setup_teardown(test_corrupt_and_output, setup, teardown),
    cmocka_unit_test_setup_teardown(test_seen, setup, teardown),
    cmocka_unit_test_setup_teardown(test_record_trust, setup, teardown),
    cmocka_unit_test_setup_teardown(test_unsafe, setup, teardown),
    cmocka_unit_test_setup_teardown(test_notes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_eviction, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
