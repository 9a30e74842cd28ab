/* One layer of the image: the rootfs entries of a layer as a POSIX pax tar
 * (libarchive), hashed uncompressed (the diff_id) and compressed (the blob
 * digest) in one pass. */
#ifndef DISTILL_LAYER_H
#define DISTILL_LAYER_H

#include "lib/compress.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "plan/rootfs.h"
#include "image/scan.h"

#include <stdint.h>

struct layer_blob {
  char digest[DIGEST_STR_LEN];  /* of the blob as stored */
  char diff_id[DIGEST_STR_LEN]; /* of the uncompressed tar */
  uint64_t size;                /* of the blob */
  const char *media_type;
  size_t n_entries;
  bool tee_failed; /* the copy to layer_options.tee_fd could not be written */
};

/* True when no entry of the image belongs to `layer`. */
bool layer_is_empty(const struct rootfs *fs, rootfs_layer layer);

struct layer_options {
  int64_t epoch;         /* every entry's mtime */
  enum compression comp;
  unsigned jobs;         /* compression threads; the bytes do not depend on it */
  /* Told of each entry, in order, with what the scan of its content found
   * (enum scan_mark), once the layer's last entry is written; may be NULL. */
  void (*written)(void *ctx, const struct rootfs_entry *e, const struct scan *content);
  void *ctx;
  int tee_fd; /* > 0: the blob is also written there (the cache's copy) */
  bool durable; /* fd is a durable output: its writeback begins as it is written */
  /* Where the tar and the blob are hashed, and the files' contents
   * scanned, each lane on a thread of its own (lane.h); NULL: on the
   * caller's thread.  `written` is told of a layer's entries once its
   * last is written. */
  struct lane *hash_lane, *scan_lane;
  /* Told of content bytes read and of entries done, as they go; may be NULL. */
  void (*progress)(void *ctx, uint64_t bytes, size_t entries);
  void *progress_ctx;
  /* A compressor shared by the layers of an image, so that one layer's
   * last chunks are compressed while the next layer is read; NULL: the
   * layer has its own, and its blob is complete when layer_write returns.
   * With a shared one the blob goes out later, in the order the layers were
   * written: begin is told just before its first byte goes to fd, done once
   * the last has (with `out` complete); either may be NULL, and what fails
   * on that side is said in blob_err. */
  struct compressor *compressor;
  int (*begin)(void *ctx, struct derror *err);
  int (*done)(void *ctx, struct layer_blob *b, struct derror *err);
  void *blob_ctx;
  struct derror *blob_err;
  bool hash_only; /* layer_diff_id's own: no scan */
};

/* Write layer `layer` of `fs` (its entries and, before them, the entries of
 * their parent directories) to `fd`, at its offset when the blob begins.
 * `fs` must be finished. */
int layer_write(const struct rootfs *fs, rootfs_layer layer, const struct layer_options *opt, int fd,
                struct layer_blob *out, struct derror *err);

/* The indexes in `fs` of the entries layer_write writes, in order. */
size_t layer_entries(const struct rootfs *fs, rootfs_layer layer, size_t **out);

/* The diff_id of layer `layer`: its tar written as layer_write writes it
 * and hashed, nothing kept, nothing compressed; scanned only when
 * opt->written is given, which is told of each entry as layer_write tells
 * it. */
int layer_diff_id(const struct rootfs *fs, rootfs_layer layer, const struct layer_options *opt,
                  char out[DIGEST_STR_LEN], struct derror *err);

/* The cache's keys of a layer (layer_key.c), each a digest of what its
 * blob's bytes depend on besides the entries (this distill, the
 * compression library, level and cutting, the epoch) and:
 *   layer_key     every entry, each source file known by its identity and
 *                 times (device, inode, size, mtime, ctime) rather than
 *                 read: a memo of this tree as it is on this machine.  -1
 *                 when a source cannot be stat'ed.
 *   layer_shape_key  every entry as the tar has it, but for the content
 *                 of its source file (only its size): the same in a fresh
 *                 clone of the same sources, anywhere.
 *   layer_content_key  the layer's diff_id: what determines the blob. */
int layer_key(const struct rootfs *fs, rootfs_layer layer, const struct layer_options *opt,
              char out[DIGEST_STR_LEN]);
void layer_shape_key(const struct rootfs *fs, rootfs_layer layer, const struct layer_options *opt,
                     char out[DIGEST_STR_LEN]);
void layer_content_key(const struct layer_options *opt, const char *diff_id, char out[DIGEST_STR_LEN]);

#endif
