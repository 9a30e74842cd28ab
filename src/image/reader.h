/* The image reader's parts, for the files that make it up and for no
 * caller of image.h: archive.c reads the outer tar (its members, hashed),
 * manifest.c finds the manifest, the config and the layer blobs,
 * layer_read.c reads one layer into the history, tree.c merges the
 * history into the tree, and extract.c reads a layer again for the bytes
 * of its files. */
#ifndef DISTILL_IMAGE_READER_H
#define DISTILL_IMAGE_READER_H

#include "image/image.h"
#include "lib/digest.h"
#include "lib/error.h"

#include <archive.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* No index: a name the tree does not have, a set with no next member. */
#define NONE SIZE_MAX

/* ---- archive.c: bounds and compression ------------------------------- */

/* "16 GiB", or the bytes when not a round number: for messages. */
char *human_size(uint64_t n);

/* A bound from the environment: bytes, or a number with K, M, G or T
 * (powers of 1024, either case); `fallback` when unset. */
int env_bound(const char *name, uint64_t fallback, uint64_t *out, struct derror *err);

/* The compression whose magic number starts `p`, or NULL: only for what
 * errors say (a layer is decoded by the one filter its media type names,
 * never by one libarchive guesses). */
const char *compression_magic(const unsigned char *p, size_t n);

/* The one filter a layer's media type names (ARCHIVE_FILTER_NONE, _GZIP or
 * _ZSTD), or -1 when it names no tar layer; the filter's name, NULL for
 * none. */
int media_type_filter(const char *media_type);
const char *filter_name(int filter);

/* Every byte of the current entry, block by block, to `fn`: 0, -1 on an
 * error of the archive, 1 on a hole (a sparse entry, refused). */
typedef void (*bytes_fn)(void *data, const void *bytes, size_t n);
int read_entry_data(struct archive *a, bytes_fn fn, void *data);

/* ---- archive.c: the outer archive ------------------------------------- */

struct member {
  char *name;
  uint64_t size;
  char digest[DIGEST_STR_LEN];
  char *data;               /* kept when small enough to be a document */
  unsigned char head[16];   /* the first bytes: a compression's magic */
  size_t head_len;
};

struct members {
  struct member *items;
  size_t n, cap;
};

/* One pass over the archive: every member hashed, small ones kept. */
int read_members(const char *path, struct members *m, struct derror *err);
void members_free(struct members *m);
#define cleanup_members __attribute__((cleanup(members_free)))
const struct member *member_find(const struct members *m, const char *name);
/* "./x", "x" and "/x" name the same member. */
const char *member_name(const char *name);
/* A kept member parsed as JSON. */
json_t *member_json(const char *archive, const struct members *m, const char *name, struct derror *err);
/* The member an OCI layout keeps the blob of `digest` in. */
char *blob_member(const char *digest);

/* The archive opened as the plain tar docker save, podman save and skopeo
 * write: no filter is offered to libarchive. */
struct archive *open_outer(const char *path, struct derror *err);

/* ---- manifest.c ------------------------------------------------------- */

struct plan_layers {
  char **members; /* member names of the layer blobs, in order */
  size_t n;
};
void plan_layers_free(struct plan_layers *pl);
#define cleanup_plan_layers __attribute__((cleanup(plan_layers_free)))

/* The name, digests, layers and config of the image the archive holds:
 * an OCI layout's first image manifest, else docker's manifest.json. */
int read_manifest(const char *archive, const struct members *m, struct image *img, struct plan_layers *pl,
                  struct derror *err);

/* ---- layer_read.c ----------------------------------------------------- */

/* A tar entry's name as an absolute path ("/a/b"; NULL for the root
 * itself); -1 when ".." climbs out of the root. */
int normalize_entry(const char *raw, char **out);

/* How many bytes a layer may uncompress to. */
struct layer_limit {
  uint64_t left;  /* bytes the layer may have */
  uint64_t bound; /* the bound that says so, for messages */
  bool image;     /* the image's bound, not the layer's */
};

/* The layer's bytes, uncompressed by the one filter its media type names
 * and hashed on the way to the tar reader: their digest is the diff_id.
 * They are counted against `limit`. */
struct layer_stream {
  struct archive *raw; /* the filter over the outer member */
  struct digest diff;
  char *buf;
  bool eof;
  const char *filter;  /* its name, NULL for none */
  uint64_t bytes;
  struct layer_limit limit;
  bool over;           /* stopped at the limit */
  bool ratio;          /* stopped at IMAGE_MAX_RATIO */
  const char *nested;  /* the compression found under the filter */
};

/* One layer open for reading: the outer archive positioned at its member,
 * the filter over that member, the tar reader over the filter.  The
 * buffers are the reader's own: readers share nothing. */
struct layer_reader {
  struct archive *outer, *raw, *tar;
  char *outer_buf; /* the member's bytes, on their way to the filter */
  struct layer_stream stream;
};

int layer_open(struct layer_reader *lr, const char *archive, size_t li, const char *member, const char *media_type,
               const struct layer_limit *limit, struct derror *err);
void layer_close(struct layer_reader *lr);
/* A layer reader closed when it goes out of scope (zeroed before any
 * return, as layer_open leaves it on failure). */
#define cleanup_layer_reader __attribute__((cleanup(layer_close)))
/* What stopped reading layer `li` (at `path`, when not NULL): a bound, a
 * second compression, or what libarchive says. */
int layer_error(const char *archive, size_t li, const struct layer_stream *s, struct archive *a, const char *path,
                struct derror *err);

/* Reading an archive: where, and what it has cost so far. */
struct reader {
  const char *archive;
  struct image *img;
  uint64_t layer_max, image_max; /* uncompressed bytes */
  uint64_t image_bytes;          /* uncompressed so far */
  uint64_t name_bytes;           /* names and link targets so far */
};

/* Every entry of layer `li` (the outer member `member`) into the history;
 * its diff_id must be `want_diff_id`. */
int read_layer(struct reader *rd, size_t li, const char *member, const char *want_diff_id, struct derror *err);

/* ---- tree.c ----------------------------------------------------------- */

/* The history applied, whiteouts and all, into the sorted tree of
 * img->files.  With `archive` (the image was read from it), a hardlink to
 * nothing or to a directory is an error; without, it stays a hardlink. */
int tree_merge(struct image *img, const char *archive, struct derror *err);

#endif
