/* The layer cache's keys of a layer (see layer.h): by the identity of its
 * files, by its shape, and by its content. */
#include "config.h"
#include "build/layer.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/timing.h"

#include <string.h>
#include <sys/stat.h>

/* What a blob's bytes depend on besides the layer's entries: this distill,
 * the compression library, level and cutting, and the epoch. */
static void
key_head(struct buf *b, const char *kind, const struct layer_options *opt)
{
  buf_printf(b, "distill layer %s 1\n%s\n%s\n%d %d\n%lld\n", kind, DISTILL_VERSION, compression_library(opt->comp),
             COMPRESS_CHUNK, COMPRESS_ZSTD_JOB, (long long) opt->epoch);
  buf_printf(b, "%s %d\n", compression_name(opt->comp), compression_level(opt->comp));
}

/* An entry as the tar has it, but for a file's content: `b` gets its
 * type, mode, owner, size, path and target; a file of the plan's own
 * bytes, their digest. */
static void
key_entry(struct buf *b, const struct rootfs_entry *e)
{
  buf_printf(b, "%d %o %u %u %llu ", (int) e->type, (unsigned) e->mode, e->uid, e->gid, (unsigned long long) e->size);
  buf_append(b, e->path, strlen(e->path) + 1);
  if (e->target)
    buf_append(b, e->target, strlen(e->target) + 1);
  if (e->type == ROOTFS_FILE && !e->source && e->size) {
    char dd[DIGEST_STR_LEN];
    digest_buffer(e->data, e->size, dd);
    buf_printf(b, "%s\n", dd);
  }
}

/* Both keys made of the entries: with each source file's path, identity
 * and times (`identity`), or with neither (the shape: where the sources
 * are does not matter). */
static int
entries_key(const struct rootfs *fs, rootfs_layer layer, const struct layer_options *opt, bool identity,
            char out[DIGEST_STR_LEN])
{
  cleanup_free size_t *idx = NULL;
  size_t n = layer_entries(fs, layer, &idx);
  struct digest d;
  struct buf b = { 0 };
  enum timing_part was = timing_switch(TIMING_KEY);

  key_head(&b, identity ? "key" : "shape", opt);
  digest_init(&d);
  for (size_t k = 0; k < n; k++) {
    const struct rootfs_entry *e = &fs->items[idx[k]];
    struct stat st;
    key_entry(&b, e);
    /* a file is known by its identity: any write changes its mtime or ctime */
    if (identity && e->type == ROOTFS_FILE && e->source) {
      buf_append(&b, e->source, strlen(e->source) + 1);
      if (stat(e->source, &st) < 0) {
        buf_free(&b);
        digest_abort(&d);
        timing_switch(was);
        return -1;
      }
      buf_printf(&b, "%llu %llu %lld %lld.%09ld %lld.%09ld\n", (unsigned long long) st.st_dev,
                 (unsigned long long) st.st_ino, (long long) st.st_size, (long long) st.st_mtim.tv_sec,
                 st.st_mtim.tv_nsec, (long long) st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
    }
    digest_update(&d, b.data, b.len);
    b.len = 0;
  }
  digest_update(&d, b.data, b.len);
  digest_final(&d, out);
  buf_free(&b);
  timing_switch(was);
  return 0;
}

int
layer_key(const struct rootfs *fs, rootfs_layer layer, const struct layer_options *opt,
          char out[DIGEST_STR_LEN])
{
  return entries_key(fs, layer, opt, true, out);
}

void
layer_shape_key(const struct rootfs *fs, rootfs_layer layer, const struct layer_options *opt,
                char out[DIGEST_STR_LEN])
{
  entries_key(fs, layer, opt, false, out);
}

void
layer_content_key(const struct layer_options *opt, const char *diff_id, char out[DIGEST_STR_LEN])
{
  struct buf b = { 0 };

  key_head(&b, "content", opt);
  buf_printf(&b, "%s\n", diff_id);
  digest_buffer(b.data, b.len, out);
  buf_free(&b);
}
