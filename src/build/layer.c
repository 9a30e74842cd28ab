#include "config.h"
#include "build/layer.h"
#include "lib/alloc.h"
#include "lib/file.h"
#include "lib/lane.h"
#include "lib/path.h"
#include "lib/timing.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (128 * 1024)

/* Where a layer's compressed bytes go: hashed and written to the archive
 * (and the cache's copy).  With a shared compressor it outlives
 * layer_write, until its stream's end frees it. */
struct sink {
  struct digest blob;
  int fd, tee; /* the archive; a copy for the cache, or -1 (-2: failed) */
  bool durable; /* fd's writeback begins as it is written */
  struct lane *hasher;
  uint64_t at, started; /* where the next bytes go in fd; writeback begun up to */
  bool begun;
  struct layer_blob *out;
  int (*begin)(void *ctx, struct derror *err);
  int (*done)(void *ctx, struct layer_blob *b, struct derror *err);
  void *ctx;
  struct derror *err; /* where the emitting side says what failed */
};

/* Where the tar stream goes: hashed, then compressed. */
struct tar_out {
  struct digest diff;
  struct lane *hasher;
  struct compressor *comp;
  struct derror *err; /* the sink's */
};

static int
sink_start(struct sink *s)
{
  s->begun = true;
  if (s->begin && s->begin(s->ctx, s->err) < 0) {
    errno = 0;
    return -1;
  }
  off_t at = lseek(s->fd, 0, SEEK_CUR);
  s->at = s->started = at > 0 ? (uint64_t) at : 0;
  return 0;
}

static int
sink_emit(void *ctx, const void *data, size_t n)
{
  struct sink *s = ctx;

  if (!s->begun && sink_start(s) < 0)
    return -1;
  lane_put(s->hasher, digest_update_any, &s->blob, TIMING_HASH_BLOB, data, n);
  enum timing_part was = timing_switch(TIMING_WRITE);
  timing_bytes(TIMING_WRITE, n);
  if (write_all(s->fd, data, n) < 0) {
    int e = errno;
    timing_switch(was);
    derror_errno(s->err, e, "write layer");
    errno = e;
    return -1;
  }
  s->at += n;
  if (s->durable)
    write_behind(s->fd, &s->started, s->at);
  /* the cache's copy is a bonus: when it cannot be written it is dropped */
  if (s->tee >= 0 && write_all(s->tee, data, n) < 0)
    s->tee = -2;
  timing_switch(was);
  return 0;
}

static int
sink_end(void *ctx, bool abandoned)
{
  struct sink *s = ctx;
  int ret = 0;

  lane_sync(s->hasher); /* the blob's bytes, all hashed */
  if (abandoned || (!s->begun && sink_start(s) < 0)) {
    digest_abort(&s->blob);
    free(s);
    return abandoned ? 0 : -1;
  }
  s->out->size = s->blob.size;
  digest_final(&s->blob, s->out->digest);
  s->out->tee_failed = s->tee == -2;
  if (s->done && s->done(s->ctx, s->out, s->err) < 0) {
    errno = 0;
    ret = -1;
  }
  free(s);
  return ret;
}

static la_ssize_t
tar_write(struct archive *a, void *data, const void *buf, size_t n)
{
  struct tar_out *t = data;

  lane_put(t->hasher, digest_update_any, &t->diff, TIMING_HASH_TAR, buf, n);
  if (t->comp == NULL) /* layer_diff_id's: hashed only */
    return (la_ssize_t) n;
  enum timing_part was = timing_switch(TIMING_HANDOFF);
  int r = compressor_write(t->comp, buf, n);
  timing_switch(was);
  if (r < 0) {
    archive_set_error(a, errno ? errno : EIO, "%s", t->err->msg ? t->err->msg : "compression failed");
    return -1;
  }
  return (la_ssize_t) n;
}

bool
layer_is_empty(const struct rootfs *fs, rootfs_layer layer)
{
  for (size_t i = 0; i < fs->n; i++)
    if (fs->items[i].layer == layer)
      return false;
  return true;
}

/* What the content of each entry revealed: its scan runs on the scan
 * lane (or here, without one), an entry's bytes between scan_open and
 * scan_close; the results are read once the lane is synced. */
struct scanning {
  struct scan sc;         /* the entry being scanned */
  struct elf_range *code; /* its machine code, left out of the scan */
  struct scan *results;   /* by index in the tree */
};

/* A program or library this large has its machine code left out of the
 * scan (half of clang's closure); a smaller one is not worth the look at
 * its section headers. */
#define CODE_MIN (64 * 1024)

static void
scan_open(void *ctx, const void *entry, size_t n)
{
  struct scanning *x = ctx;
  const struct rootfs_entry *e;
  size_t k = 0;

  memcpy(&e, entry, sizeof e);
  scan_begin(&x->sc, e->path);
  free(x->code);
  x->code = NULL;
  if (e->type == ROOTFS_FILE && e->source && e->size >= CODE_MIN)
    k = elf_code_ranges(e->source, &x->code);
  scan_skip(&x->sc, x->code, k);
}

static void
scan_bytes(void *ctx, const void *data, size_t n)
{
  struct scanning *x = ctx;

  scan_chunk(&x->sc, data, n);
}

static void
scan_close(void *ctx, const void *index, size_t n)
{
  struct scanning *x = ctx;
  size_t i;

  memcpy(&i, index, sizeof i);
  scan_finish(&x->sc);
  x->results[i] = x->sc;
  scan_skip(&x->results[i], NULL, 0);
}

/* A call on the scan lane, unless the layer is only hashed. */
static void
scan_put(const struct layer_options *opt, lane_fn fn, struct scanning *x, const void *data, size_t n)
{
  if (!opt->hash_only)
    lane_put(opt->scan_lane, fn, x, TIMING_SCAN, data, n);
}

/* Stream a file's content; its size must still be what was planned. */
static int
copy_file(struct archive *a, const struct rootfs_entry *e, struct scanning *x, const struct layer_options *opt,
          struct derror *err)
{
  /* O_NONBLOCK: a file replaced by a FIFO since the plan must not hang
   * the open; the type is checked on the descriptor below. */
  cleanup_close int fd = open(e->source, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  struct stat st;
  uint64_t left = e->size;
  cleanup_free char *chunk = xmalloc(CHUNK);

  if (fd < 0)
    return derror_errno(err, errno, "open `%s`", e->source);
  if (fstat(fd, &st) < 0)
    return derror_errno(err, errno, "stat `%s`", e->source);
  if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size != e->size)
    return derror_set(err, "`%s` changed while the image was being built", e->source);
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
    return derror_errno(err, errno, "open `%s`", e->source);
  while (left > 0) {
    enum timing_part was = timing_switch(TIMING_READ);
    ssize_t r = read(fd, chunk, left < CHUNK ? left : CHUNK);
    timing_switch(was);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return derror_errno(err, errno, "read `%s`", e->source);
    if (r == 0)
      return derror_set(err, "`%s` shrank while the image was being built", e->source);
    if (archive_write_data(a, chunk, (size_t) r) != r)
      return derror_set(err, "write `%s`: %s", e->path, archive_error_string(a));
    timing_bytes(TIMING_READ, (uint64_t) r);
    scan_put(opt, scan_bytes, x, chunk, (size_t) r);
    left -= (uint64_t) r;
    if (opt->progress)
      opt->progress(opt->progress_ctx, (uint64_t) r, 0);
  }
  return 0;
}

static int
write_entry(struct archive *a, struct archive_entry *ae, const struct rootfs_entry *e, const struct layer_options *opt,
            struct scanning *x, struct derror *err)
{
  cleanup_free char *name = e->type == ROOTFS_DIR ? xasprintf("%s/", e->path + 1) : xstrdup(e->path + 1);

  archive_entry_clear(ae);
  archive_entry_set_pathname(ae, name);
  archive_entry_set_uid(ae, e->uid);
  archive_entry_set_gid(ae, e->gid);
  archive_entry_set_perm(ae, e->mode & 07777);
  archive_entry_set_mtime(ae, opt->epoch, 0);
  switch (e->type) {
  case ROOTFS_DIR:
    archive_entry_set_filetype(ae, AE_IFDIR);
    break;
  case ROOTFS_SYMLINK:
    archive_entry_set_filetype(ae, AE_IFLNK);
    archive_entry_set_symlink(ae, e->target);
    break;
  case ROOTFS_FILE:
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_size(ae, (la_int64_t) e->size);
    break;
  case ROOTFS_HARDLINK:
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_hardlink(ae, e->target + 1);
    archive_entry_set_size(ae, 0);
    break;
  }
  if (archive_write_header(a, ae) < ARCHIVE_WARN)
    return derror_set(err, "`%s`: %s", e->path, archive_error_string(a));
  if (e->type != ROOTFS_FILE || e->size == 0)
    return 0;
  if (e->source)
    return copy_file(a, e, x, opt, err);
  if (archive_write_data(a, e->data, e->size) != (la_ssize_t) e->size)
    return derror_set(err, "`%s`: %s", e->path, archive_error_string(a));
  scan_put(opt, scan_bytes, x, e->data, e->size);
  return 0;
}

/* The layer's entries into the tar, in order; each is told to
 * opt->written with what its scan found once the last is written. */
static int
write_entries(struct archive *a, const struct rootfs *fs, const bool *marks, const struct layer_options *opt,
              struct derror *err)
{
  struct archive_entry *ae = archive_entry_new();
  struct scanning x = { .results = xcalloc(fs->n ? fs->n : 1, sizeof *x.results) };
  int ret = 0;

  if (ae == NULL)
    oom();
  for (size_t i = 0; i < fs->n && ret == 0; i++) {
    if (!marks[i])
      continue;
    const struct rootfs_entry *e = &fs->items[i];
    scan_put(opt, scan_open, &x, &e, sizeof e);
    ret = write_entry(a, ae, &fs->items[i], opt, &x, err);
    scan_put(opt, scan_close, &x, &i, sizeof i);
    if (ret == 0 && opt->progress)
      opt->progress(opt->progress_ctx, 0, 1);
  }
  lane_sync(opt->scan_lane); /* x is the lane's until here */
  free(x.code);
  for (size_t i = 0; ret == 0 && opt->written && i < fs->n; i++)
    if (marks[i])
      opt->written(opt->ctx, &fs->items[i], &x.results[i]);
  free(x.results);
  archive_entry_free(ae);
  return ret;
}

/* The entries a layer holds: its own and every ancestor directory, so each
 * layer extracts correctly on its own.  Ancestors keep their own owner and
 * mode (a home directory stays 65532:65532 0700 in every layer). */
static bool *
layer_marks(const struct rootfs *fs, rootfs_layer layer, size_t *count)
{
  bool *marks = xcalloc(fs->n, sizeof(bool));

  *count = 0;
  for (size_t i = 0; i < fs->n; i++) {
    if (fs->items[i].layer != layer)
      continue;
    marks[i] = true;
    cleanup_free char *parent = path_dirname(fs->items[i].path);
    while (strcmp(parent, "/") != 0) {
      struct rootfs_entry *p = rootfs_find(fs, parent);
      if (p == NULL || marks[p - fs->items])
        break;
      marks[p - fs->items] = true;
      char *up = path_dirname(parent);
      free(parent);
      parent = up;
    }
  }
  for (size_t i = 0; i < fs->n; i++)
    *count += marks[i];
  return marks;
}

size_t
layer_entries(const struct rootfs *fs, rootfs_layer layer, size_t **out)
{
  size_t n, k = 0;
  cleanup_free bool *marks = layer_marks(fs, layer, &n);

  *out = xcalloc(n ? n : 1, sizeof **out);
  for (size_t i = 0; i < fs->n; i++)
    if (marks[i])
      (*out)[k++] = i;
  return n;
}

/* The compressor failed: what the emitting side said, or that it did. */
static int
compress_failed(const struct layer_options *opt, const struct derror *said, struct derror *err)
{
  if (said == err && err->msg)
    return -1;
  if (said->msg)
    return derror_set(err, "%s", said->msg);
  return derror_set(err, "%s: compression failed", compression_library(opt->comp));
}

int
layer_write(const struct rootfs *fs, rootfs_layer layer, const struct layer_options *opt, int fd,
            struct layer_blob *out, struct derror *err)
{
  struct derror said = DERROR_INIT;
  struct sink *s = xcalloc(1, sizeof *s);
  struct tar_out t = { .comp = opt->compressor, .err = opt->compressor ? opt->blob_err : &said,
                       .hasher = opt->hash_lane };
  struct archive *a = archive_write_new();
  cleanup_free bool *marks = layer_marks(fs, layer, &out->n_entries);
  enum timing_part was = timing_switch(TIMING_TAR);
  int ret = -1;

  if (a == NULL)
    oom();
  out->media_type = compression_media_type(opt->comp);
  if (t.comp == NULL && (t.comp = compressor_new(opt->comp, opt->jobs)) == NULL) {
    derror_set(err, "%s: cannot start compression", compression_library(opt->comp));
    free(s);
    goto out;
  }
  s->fd = fd;
  s->durable = opt->durable;
  s->hasher = opt->hash_lane;
  s->tee = opt->tee_fd > 0 ? opt->tee_fd : -1;
  s->out = out;
  s->begin = opt->begin;
  s->done = opt->done;
  s->ctx = opt->blob_ctx;
  s->err = t.err;
  digest_init(&s->blob);
  digest_init(&t.diff);
  compressor_begin(t.comp, sink_emit, sink_end, s); /* s is the stream's now */
  if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK
      || archive_write_open2(a, &t, NULL, tar_write, NULL, NULL) != ARCHIVE_OK) {
    derror_set(err, "libarchive: %s", archive_error_string(a));
    goto out;
  }
  if (write_entries(a, fs, marks, opt, err) < 0)
    goto out;
  if (archive_write_close(a) != ARCHIVE_OK) {
    derror_set(err, "%s", archive_error_string(a));
    goto out;
  }
  lane_sync(opt->hash_lane);
  digest_final(&t.diff, out->diff_id);
  if (compressor_end(t.comp) < 0 || (opt->compressor == NULL && compressor_drain(t.comp) < 0)) {
    compress_failed(opt, t.err, err);
    goto out;
  }
  ret = 0;
out:
  archive_write_free(a); /* after a failure this still writes the trailer */
  if (ret < 0) {
    lane_sync(opt->hash_lane); /* nothing left that points at t.diff */
    digest_abort(&t.diff);
  }
  if (opt->compressor == NULL)
    compressor_free(t.comp); /* ends the stream: abandoned when it failed */
  derror_clear(&said);
  timing_switch(was);
  return ret;
}

int
layer_diff_id(const struct rootfs *fs, rootfs_layer layer, const struct layer_options *opt,
              char out[DIGEST_STR_LEN], struct derror *err)
{
  struct layer_options o = *opt;
  struct tar_out t = { .hasher = opt->hash_lane, .err = err };
  struct archive *a = archive_write_new();
  size_t n;
  cleanup_free bool *marks = layer_marks(fs, layer, &n);
  enum timing_part was = timing_switch(TIMING_TAR);
  int ret = -1;

  if (a == NULL)
    oom();
  o.hash_only = opt->written == NULL;
  o.progress = NULL;
  digest_init(&t.diff);
  if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK
      || archive_write_open2(a, &t, NULL, tar_write, NULL, NULL) != ARCHIVE_OK)
    derror_set(err, "libarchive: %s", archive_error_string(a));
  else if (write_entries(a, fs, marks, &o, err) == 0 && archive_write_close(a) == ARCHIVE_OK)
    ret = 0;
  else if (err->msg == NULL)
    derror_set(err, "%s", archive_error_string(a));
  archive_write_free(a);
  lane_sync(opt->hash_lane); /* nothing left that points at t.diff */
  if (ret == 0)
    digest_final(&t.diff, out);
  else
    digest_abort(&t.diff);
  timing_switch(was);
  return ret;
}
