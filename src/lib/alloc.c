#include "lib/alloc.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

_Noreturn void
oom(void)
{
  fputs("distill: out of memory\n", stderr);
  exit(1);
}

void *
xmalloc(size_t n)
{
  void *p = malloc(n ? n : 1);
  if (p == NULL)
    oom();
  return p;
}

void *
xcalloc(size_t n, size_t size)
{
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (p == NULL)
    oom();
  return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
  /* reallocarray() checks n * size for overflow. */
  void *q = reallocarray(p, n ? n : 1, size ? size : 1);
  if (q == NULL)
    oom();
  return q;
}

char *
xstrdup(const char *s)
{
  char *d = strdup(s);
  if (d == NULL)
    oom();
  return d;
}

char *
xstrndup(const char *s, size_t n)
{
  char *d = strndup(s, n);
  if (d == NULL)
    oom();
  return d;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
  char *s;

  if (vasprintf(&s, fmt, ap) < 0)
    oom();
  return s;
}

char *
xasprintf(const char *fmt, ...)
{
  va_list ap;
  char *s;

  va_start(ap, fmt);
  s = xvasprintf(fmt, ap);
  va_end(ap);
  return s;
}

void
cleanup_freep(void *p)
{
  free(*(void **) p);
}

void
cleanup_closep(int *fd)
{
  if (*fd >= 0)
    close(*fd);
}

void
strv_push_take(struct strv *v, char *s)
{
  if (v->n + 2 > v->cap) {
    v->cap = v->cap ? v->cap * 2 : 8;
    v->items = xreallocarray(v->items, v->cap, sizeof(*v->items));
  }
  v->items[v->n++] = s;
  v->items[v->n] = NULL;
}

void
strv_push(struct strv *v, const char *s)
{
  strv_push_take(v, xstrdup(s));
}

static int
string_cmp(const void *a, const void *b)
{
  return strcmp(*(char *const *) a, *(char *const *) b);
}

void
strv_sort(struct strv *v)
{
  if (v->n > 1)
    qsort(v->items, v->n, sizeof *v->items, string_cmp);
}

bool
strv_contains(const struct strv *v, const char *s)
{
  for (size_t i = 0; i < v->n; i++)
    if (strcmp(v->items[i], s) == 0)
      return true;
  return false;
}

void
strv_free(struct strv *v)
{
  for (size_t i = 0; i < v->n; i++)
    free(v->items[i]);
  free(v->items);
  v->items = NULL;
  v->n = v->cap = 0;
}

void
buf_append(struct buf *b, const void *data, size_t n)
{
  if (n > SIZE_MAX - b->len - 1)
    oom();
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
      cap *= 2;
    b->data = xreallocarray(b->data, cap, 1);
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
  va_list ap;
  char *s;

  va_start(ap, fmt);
  s = xvasprintf(fmt, ap);
  va_end(ap);
  buf_append(b, s, strlen(s));
  free(s);
}

void
buf_free(struct buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
