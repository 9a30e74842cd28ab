/* The layer cache: compressed layer blobs kept between builds, so that a
 * rebuild that changes only the application recompresses only its layer.
 *
 *   DIR/layers/<diff_id hex>.<compression>-<level>   a blob
 *   DIR/layers/spare-<major>.<minor>-<ino>           an output replaced in
 *       that directory, to be written over by the next (cache_spare.c)
 *   DIR/keys/<key hex>                               what a layer key gave:
 *       its key, its blob's digest, size, diff_id and media type, and the
 *       scan marks of each entry (for the build's self-check); or a note:
 *       what another slow lookup found (the Debian packages of a file set).
 *       Made of this machine's file identities: of no use elsewhere.
 *   DIR/content/<key hex>                            the same record under
 *       a layer's content key, a note under its shape key, and a note for
 *       each blob whose claim was checked (see "by content" below): what
 *       another machine can use (a CI cache restores layers/ and content/)
 *
 * DIR is --cache, else $XDG_CACHE_HOME/distill, else ~/.cache/distill.
 *
 * A layer key is made of what every local user can see (a file's device,
 * inode, size and times), so whoever can write in the cache can plant a
 * layer under it.  The cache is therefore used only when DIR, DIR/layers,
 * DIR/keys and DIR/content are directories (not symbolic links) of the effective user
 * that group and others cannot write; a new one is made 0700.  They are
 * held open from then on and every file is reached from them without
 * following a symbolic link; a record, note or blob counts only when it is
 * a regular file of the effective user that group and others cannot write,
 * and a record or note only under the key it names.
 *
 * Every file is written unnamed (O_TMPFILE) or under a temporary name
 * `.tmp.XXXXXX`, then renamed, so builds running at once share the cache
 * safely; SIGINT, SIGTERM and SIGHUP remove the temporary names first.  A
 * blob is checked against its digest as it is copied out, unless its file
 * is the very one (device, inode, size, mtime, ctime) that its record saw
 * when the cache wrote it or last checked it: a corrupt one is removed and
 * never used.  Blobs are used least recently first evicted
 * above DISTILL_CACHE_MAX bytes (default 4 GiB; K, M, G suffixes); eviction
 * removes only the names the cache writes. */
#ifndef DISTILL_CACHE_H
#define DISTILL_CACHE_H

#include "lib/compress.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "lib/alloc.h"

#include <stdbool.h>
#include <stdint.h>

#define CACHE_DEFAULT_MAX (4ull << 30)

struct cache {
  char *dir;            /* as named, for messages; NULL when not open */
  int fd, layers, keys, content; /* DIR and its three, checked as above */
  uint64_t max;
  char *spare_slot; /* the output's spare (cache_spare.c), or NULL */
  bool spare_taken; /* the output is written over it */
  bool evicted;     /* cache_evict() ran since the open */
};

/* A blob's file as it was when its bytes were last known to be its digest's
 * (written by this cache, or hashed as they were copied out): any write to
 * it changes its ctime, and a copy or a restore is another file. */
struct cache_seen {
  uint64_t dev, ino, size;
  int64_t mtime_sec, ctime_sec;
  long mtime_nsec, ctime_nsec;
};

struct cache_hit {
  char key[DIGEST_STR_LEN]; /* the record's (set by cache_lookup) */
  char digest[DIGEST_STR_LEN];
  char diff_id[DIGEST_STR_LEN];
  uint64_t size;
  enum compression comp;
  struct cache_seen seen; /* when has_seen */
  bool has_seen;
  bool by_content; /* the record is content/'s */
  struct strv marks; /* "MARKS WHAT" per entry, in the order the layer writes them */
};

/* NULL `dir`: the default place. -1 with `err` set when the cache cannot
 * be used, code DERROR_UNSAFE when it is refused as unsafe: another
 * user's, writable by group or others, or a symbolic link (the build may
 * go on without it). */
int cache_open(struct cache *c, const char *dir, struct derror *err);
void cache_close(struct cache *c);

/* 0 and `hit` filled when `key` is known, its blob present; -1 when not.
 * cache_lookup: a layer key's record in keys/; cache_lookup_content: a
 * content key's in content/. */
int cache_lookup(struct cache *c, const char *key, enum compression comp, struct cache_hit *hit);
int cache_lookup_content(struct cache *c, const char *key, enum compression comp, struct cache_hit *hit);
/* A content key's record, its blob here or not (what it says of the
 * layer: its marks, its blob's digest). */
int cache_content_record(struct cache *c, const char *key, enum compression comp, struct cache_hit *hit);
void cache_hit_free(struct cache_hit *hit);

/* Copy the hit's blob to `fd` (durable: its writeback begun as it goes).
 * Its digest is checked on the way unless its file is still the one its
 * record saw (then the kernel copies it, without reading it here); once
 * checked, the record sees the file as it is now.  -1 with `err` set when
 * it is corrupt (it is removed) or cannot be read, or with code
 * DERROR_OUTPUT when writing to `fd` failed. */
int cache_copy(struct cache *c, const struct cache_hit *hit, int fd, bool durable, struct derror *err);

/* A temporary file in the cache for a new blob, or -1; `tmp` names it
 * (NULL: it has no name). */
int cache_begin(struct cache *c, char **tmp);
/* Keep the blob written to `tmp_fd` (closed here; `tmp_name` freed) under
 * its diff_id, and the key's record; then evict above the bound. Failures
 * are ignored: the cache is never needed. */
void cache_put(struct cache *c, int tmp_fd, char *tmp_name, const char *key, const struct cache_hit *what);
/* Drop a blob begun with cache_begin. */
void cache_discard(int tmp_fd, char *tmp_name);

/* Open the output `path` as atomic_open() does, but over the spare of its
 * directory when the cache has one (the output a build there replaced);
 * the file that the commit replaces becomes the next spare (see
 * cache_spare.c).  A NULL or unopened `c`: atomic_open(). */
struct atomic_file;
int cache_output_open(struct cache *c, const char *path, struct atomic_file *f, struct derror *err);

/* ---- by content (a fresh clone, a restored cache directory) ---------
 *
 * A layer is also recorded in content/ under its content key
 * (layer_content_key: its diff_id and what else its blob depends on),
 * with a note under its shape key (its entries without their files' identity), so that a build whose
 * files are new to this cache (a fresh clone, another machine) but whose
 * layer has a known shape may hash the layer (layer_diff_id) and find it
 * by content.  Such a hit is used only once its claim, "this blob
 * decompresses to this diff_id", was checked by this cache: at the first
 * use, then remembered in a note under the blob's digest and the diff_id
 * (a blob whose bytes change has another digest, which no note names).
 * Every hit, by its files' key too, is checked so (put_cached in
 * build/write.c), so that a planted record can only ever bring the bytes
 * it claims.
 * The cache directory is trusted as its owner is: whoever can write in it
 * can write notes, as they can write records. */

/* Keep, after cache_put of a layer, its record under `content_key`, the
 * note of `shape_key` and, when `checked` (made here), the note of its
 * claim; one fetched from elsewhere is checked at its first use. */
void cache_put_content(struct cache *c, const char *content_key, const char *shape_key, const struct cache_hit *what,
                       bool checked);
/* Has this cache checked that the blob of `digest` decompresses to
 * `diff_id` (a note; the blob need not be here)? */
bool cache_claim_known(struct cache *c, const char *digest, const char *diff_id, enum compression comp);
/* Has a layer of this shape been kept?  `content_key` gets the content key
 * of the last one. */
bool cache_knows_shape(struct cache *c, const char *shape_key, char content_key[DIGEST_STR_LEN]);
/* 0 when the hit's claim is checked: noted before, or now (its blob read
 * against its digest, decompressed against its diff_id, then noted).  -1
 * with `err` when the blob is not what its record claims; the blob and the
 * record are then removed, so that it is said once. */
int cache_check_claim(struct cache *c, const struct cache_hit *hit, struct derror *err);
/* The record of `what` under `key` too (a layer found by its content,
 * recorded under the key of its files as they are here). */
void cache_alias(struct cache *c, const char *key, const struct cache_hit *what);

/* A small record under a key of the caller's: 0 and `out` filled when it is
 * there, -1 when not. Put ignores failures. */
int cache_note_get(struct cache *c, const char *key, struct buf *out);
void cache_note_put(struct cache *c, const char *key, const char *data, size_t len);


#endif
