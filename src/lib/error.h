/* Errors that carry their context.
 *
 * A fallible function takes `struct derror *err`, fills it on failure and
 * returns -1.  Each layer above may prefix its own context with
 * derror_wrap(); the top prints the one resulting sentence and frees it. */
#ifndef DISTILL_ERROR_H
#define DISTILL_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/* What kind of failure, for a caller that acts on it (the closure goes on
 * searching past a candidate that is not ELF or of another architecture; a
 * sysroot path that does not exist is not an error to every caller).  Most
 * failures are just DERROR_FAILED: reported, never tested. */
enum derror_code {
  DERROR_FAILED = 0,
  DERROR_NOT_FOUND,  /* the file or name does not exist (ENOENT, ENOTDIR) */
  DERROR_NOT_ELF,    /* a file that is no ELF object */
  DERROR_OTHER_ARCH, /* an ELF object another process than ours would load */
  DERROR_LOOP,       /* too many symbolic links (ELOOP) */
  DERROR_OUTPUT,     /* an output could not be written */
  DERROR_UNSAFE,     /* refused: another user could have written it (a shared cache) */
  DERROR_USAGE,      /* the request contradicts itself (an output over an input): the caller's mistake */
};

struct derror {
  char *msg;             /* NULL while no error is set */
  enum derror_code code; /* meaningful while msg is set */
};

#define DERROR_INIT { NULL, DERROR_FAILED }

#define DISTILL_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Set the error to the formatted message, code DERROR_FAILED; returns -1. */
int derror_set(struct derror *err, const char *fmt, ...) DISTILL_PRINTF(2, 3);
/* The same with a code. */
int derror_code(struct derror *err, enum derror_code code, const char *fmt, ...) DISTILL_PRINTF(3, 4);
/* Set the error to "message: strerror(errnum)", the code from errnum
 * (ENOENT and ENOTDIR: DERROR_NOT_FOUND, ELOOP: DERROR_LOOP); returns -1. */
int derror_errno(struct derror *err, int errnum, const char *fmt, ...) DISTILL_PRINTF(3, 4);
/* Prefix an already set error with "context: ", keeping its code; returns -1. */
int derror_wrap(struct derror *err, const char *fmt, ...) DISTILL_PRINTF(2, 3);
void derror_clear(struct derror *err);
/* True when an error is set and has this code. */
static inline int
derror_is(const struct derror *err, enum derror_code code)
{
  return err->msg != NULL && err->code == code;
}

#endif
