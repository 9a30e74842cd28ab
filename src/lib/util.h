/* Allocation that cannot fail silently, scope-bound cleanup, small helpers. */
#ifndef DISTILL_UTIL_H
#define DISTILL_UTIL_H

#include "lib/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

_Noreturn void oom(void);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) DISTILL_PRINTF(1, 2);

static inline void *
steal_pointer_(void *pp)
{
  void **p = pp, *v = *p;
  *p = NULL;
  return v;
}
#define steal_pointer(pp) steal_pointer_(pp)

void cleanup_freep(void *p);
void cleanup_closep(int *fd);
#define cleanup_free __attribute__((cleanup(cleanup_freep)))
#define cleanup_close __attribute__((cleanup(cleanup_closep)))

/* A growable array of strings (NULL-terminated at items[n]). */
struct strv {
  char **items;
  size_t n, cap;
};
void strv_push(struct strv *v, const char *s);
void strv_push_take(struct strv *v, char *s);
bool strv_contains(const struct strv *v, const char *s);
/* Sort bytewise (strcmp), as the image's names are. */
void strv_sort(struct strv *v);
void strv_free(struct strv *v);

/* A growable byte buffer. */
struct buf {
  char *data;
  size_t len, cap;
};
void buf_append(struct buf *b, const void *data, size_t n);
void buf_printf(struct buf *b, const char *fmt, ...) DISTILL_PRINTF(2, 3);
void buf_free(struct buf *b);

/* Open an input to read, never blocking on the open: anything but a
 * regular file (a FIFO would wait for a writer forever, a device may act
 * on being opened) is refused as "`NAME`: a FIFO, not a regular file",
 * `name` (or the path when NULL) naming it in errors.  `flags` may add
 * O_NOFOLLOW for a path whose symlinks were already resolved.  Returns the
 * descriptor (blocking reads, close-on-exec) and its fstat() in `st` when
 * not NULL; -1 with `err` set. */
struct stat;
int open_input(const char *path, const char *name, int flags, struct stat *st, struct derror *err);
/* Read a whole regular file of at most `max` bytes, opened as above. */
int read_file(const char *path, size_t max, struct buf *out, struct derror *err);
/* The same with open_input()'s `flags`. */
int read_file_flags(const char *path, int flags, size_t max, struct buf *out, struct derror *err);
/* Write all of `n` bytes, retrying on short writes and EINTR. */
int write_all(int fd, const void *data, size_t n);
/* Writeback of a file being written at offsets [*started, written) begun
 * every 8 MiB (sync_file_range), so that its fsync waits less. */
void write_behind(int fd, uint64_t *started, uint64_t written);

/* Join an absolute directory and a relative or absolute name, normalising
 * duplicate slashes; `dir` "/" and name "x" give "/x". */
char *path_join(const char *dir, const char *name);
/* The directory part of an absolute path ("/" for "/x"). */
char *path_dirname(const char *path);
const char *path_basename(const char *path);
/* Lexically normalise an absolute image path: collapse "//" and ".",
 * refuse "..".  Returns NULL when the path is not absolute or has "..". */
char *path_normalize(const char *path);
/* Normalise an absolute path with ".." taken lexically (stopping at the
 * root), for paths whose directories are known not to be symlinks; NULL
 * when not absolute. */
char *path_lexical(const char *path);

/* Levenshtein distance, for suggestions of a near key. */
size_t edit_distance(const char *a, const char *b);



/* Output written to a temporary file beside its destination and renamed
 * into place on commit; on abort (or a crash) the destination is untouched
 * and no temporary file remains. */
struct atomic_file {
  char *path; /* destination */
  char *tmp;  /* temporary name, while the file has one */
  int fd;
};
int atomic_open(struct atomic_file *f, const char *path, struct derror *err);
int atomic_commit(struct atomic_file *f, struct derror *err);
void atomic_abort(struct atomic_file *f);

#endif
