#include "lib/error.h"
#include "lib/alloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
derror_set(struct derror *err, const char *fmt, ...)
{
  va_list ap;

  free(err->msg);
  va_start(ap, fmt);
  err->msg = xvasprintf(fmt, ap);
  va_end(ap);
  err->code = DERROR_FAILED;
  return -1;
}

int
derror_code(struct derror *err, enum derror_code code, const char *fmt, ...)
{
  va_list ap;

  free(err->msg);
  va_start(ap, fmt);
  err->msg = xvasprintf(fmt, ap);
  va_end(ap);
  err->code = code;
  return -1;
}

int
derror_errno(struct derror *err, int errnum, const char *fmt, ...)
{
  va_list ap;
  char *what;

  va_start(ap, fmt);
  what = xvasprintf(fmt, ap);
  va_end(ap);
  free(err->msg);
  err->msg = xasprintf("%s: %s", what, strerror(errnum));
  free(what);
  err->code = errnum == ENOENT || errnum == ENOTDIR ? DERROR_NOT_FOUND
              : errnum == ELOOP                    ? DERROR_LOOP
                                                   : DERROR_FAILED;
  return -1;
}

int
derror_wrap(struct derror *err, const char *fmt, ...)
{
  va_list ap;
  char *ctx, *old = err->msg;

  va_start(ap, fmt);
  ctx = xvasprintf(fmt, ap);
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
  err->code = DERROR_FAILED;
}
