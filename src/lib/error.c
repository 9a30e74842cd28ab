#include "lib/error.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *vformat(const char *fmt, va_list ap) DISTILL_PRINTF(1, 0);

static char *
vformat(const char *fmt, va_list ap)
{
  char *s = NULL;

  if (vasprintf(&s, fmt, ap) < 0)
    oom();
  return s;
}

int
derror_set(struct derror *err, const char *fmt, ...)
{
  va_list ap;

  free(err->msg);
  va_start(ap, fmt);
  err->msg = vformat(fmt, ap);
  va_end(ap);
  return -1;
}

int
derror_errno(struct derror *err, int errnum, const char *fmt, ...)
{
  va_list ap;
  char *what;

  va_start(ap, fmt);
  what = vformat(fmt, ap);
  va_end(ap);
  free(err->msg);
  err->msg = xasprintf("%s: %s", what, strerror(errnum));
  free(what);
  return -1;
}

int
derror_wrap(struct derror *err, const char *fmt, ...)
{
  va_list ap;
  char *ctx, *old = err->msg;

  va_start(ap, fmt);
  ctx = vformat(fmt, ap);
  va_end(ap);
  err->msg = xasprintf("%s: %s", ctx, old ? old : "unknown error");
  free(ctx);
  free(old);
  return -1;
}

void
derror_clear(struct derror *err)
{
  free(err->msg);
  err->msg = NULL;
}
