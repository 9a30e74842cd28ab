/* The cache's files, shared by cache.c (the cache as builds use it) and
 * cache_store.c (how its files are named, written, trusted and evicted). */
#ifndef DISTILL_CACHE_STORE_H
#define DISTILL_CACHE_STORE_H

#include "lib/cache.h"
#include "lib/alloc.h"
#include "lib/compress.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* A blob's name in layers/: HEX.NAME-LEVEL. */
char *cache_blob_name(const char *diff_id, enum compression comp);
/* A file the cache may trust: one only this user could have written. */
bool cache_own_file(const struct stat *st);

/* A fresh temporary name, as cache_tmp_open() gives (swept when stale). */
char *cache_tmp_name(void);
/* A new temporary file in `dir`, or -1: unnamed (`*name` NULL) where the
 * file system allows, else under a fresh name guarded against signals. */
int cache_tmp_open(int dir, char **name);
/* Give the file written on `fd` (closed here) the name `final` in `dir`,
 * replacing any; -1 when it could not be kept (it is then removed). */
int cache_tmp_keep(int dir, int fd, const char *tmp, const char *final);

/* A note's header and bound (a record's are cache.c's). */
#define NOTE_HEAD "distill-note 1"
#define NOTE_MAX (16u << 20)

/* A record or note in `dir` (keys/ or content/) under `key`, its header
 * `head` naming the key; put ignores failures. */
void cache_record_put(int dir, const char *key, const char *head, const char *data, size_t len);
/* The record or note under `key`, header checked and taken off; -1 when
 * absent (errno ENOENT) or not to be trusted. */
int cache_record_get(int dir, const char *key, const char *head, size_t max, struct buf *out);

/* A spare's name in layers/ (cache_spare.c): spare-MAJOR.MINOR-INO. */
bool cache_is_spare_name(const char *s);

/* Least recently used blobs (and spares) removed until the rest fit under the bound,
 * and temporary files of killed builds swept. */
void cache_evict(struct cache *c);

#endif
