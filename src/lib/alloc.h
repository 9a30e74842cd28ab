/* Allocation that cannot fail silently (out of memory ends the process),
 * scope-bound cleanup, and the growable string list and byte buffer. */
#ifndef DISTILL_ALLOC_H
#define DISTILL_ALLOC_H

#include "lib/error.h" /* DISTILL_PRINTF */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

_Noreturn void oom(void);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) DISTILL_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) DISTILL_PRINTF(1, 0);

static inline void *
steal_pointer_(void *pp)
{
  void **p = pp, *v = *p;
  *p = NULL;
  return v;
}
/* Take the pointer out of `*pp`, leaving NULL (so that a cleanup attribute
 * frees nothing), with its type. */
#define steal_pointer(pp) ((__typeof__(*(pp))) steal_pointer_(pp))

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

#endif
