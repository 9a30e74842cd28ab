/* Errors that carry their context.
 *
 * A fallible function takes `struct derror *err`, fills it on failure and
 * returns -1.  Each layer above may prefix its own context with
 * derror_wrap(); the top prints the one resulting sentence and frees it. */
#ifndef DISTILL_ERROR_H
#define DISTILL_ERROR_H

#include <stdarg.h>

struct derror {
  char *msg; /* NULL while no error is set */
};

#define DERROR_INIT { NULL }

#define DISTILL_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Set the error to the formatted message; returns -1. */
int derror_set(struct derror *err, const char *fmt, ...) DISTILL_PRINTF(2, 3);
/* Set the error to "message: strerror(errnum)"; returns -1. */
int derror_errno(struct derror *err, int errnum, const char *fmt, ...) DISTILL_PRINTF(3, 4);
/* Prefix an already set error with "context: "; returns -1. */
int derror_wrap(struct derror *err, const char *fmt, ...) DISTILL_PRINTF(2, 3);
void derror_clear(struct derror *err);

#endif
