#include "lib/error.h"
#include "lib/alloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Replace the error with `msg`, which it takes. */
static int
set(struct derror *err, enum derror_code code, char *msg)
{
  free(err->msg);
  err->msg = msg;
  err->code = code;
  return -1;
}

int
derror_set(struct derror *err, const char *fmt, ...)
{
  va_list ap;
  char *msg;

  va_start(ap, fmt);
  msg = xvasprintf(fmt, ap);
  va_end(ap);
  return set(err, DERROR_FAILED, msg);
}

int
derror_code(struct derror *err, enum derror_code code, const char *fmt, ...)
{
  va_list ap;
  char *msg;

  va_start(ap, fmt);
  msg = xvasprintf(fmt, ap);
  va_end(ap);
  return set(err, code, msg);
}

int
derror_errno(struct derror *err, int errnum, const char *fmt, ...)
{
  va_list ap;
  char *what;

  va_start(ap, fmt);
  what = xvasprintf(fmt, ap);
  va_end(ap);
  char *msg = xasprintf("%s: %s", what, strerror(errnum));
  free(what);
  return set(err,
             errnum == ENOENT || errnum == ENOTDIR ? DERROR_NOT_FOUND
             : errnum == ELOOP                    ? DERROR_LOOP
                                                  : DERROR_FAILED,
             msg);
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
