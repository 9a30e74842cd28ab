/* Writing an /etc/ld.so.cache for an image, in the format glibc's loader
 * reads ("glibc-ld.so.cache1.1", glibc 2.32+ writes only this one).  The
 * reader is ldcache_load() in ldconfig.h. */
#ifndef DISTILL_LDCACHE_WRITE_H
#define DISTILL_LDCACHE_WRITE_H

#include "lib/error.h"
#include "lib/alloc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ldcache_entry {
  const char *key;    /* the soname, e.g. "libfoo.so.1" */
  const char *value;  /* the absolute path in the image */
  int32_t flags;      /* FLAG_ELF_LIBC6 | the machine's bits, as ldcache_flags() in ldconfig.h returns */
  const char *hwcaps; /* a glibc-hwcaps subdirectory name ("x86-64-v3") or NULL */
};

/* The bytes of a cache in glibc's new format holding `entries` (any
 * order; sorted here as the loader's binary search needs, duplicates of
 * key+flags+hwcaps refused), little- or big-endian as the target's ELF
 * data.  Deterministic: same entries, same bytes (no time, no generator
 * string that varies).
 *
 * The bytes are appended to `out` on success; on failure `out` is left
 * as it was and -1 returned with `err` set.  Refused: a key that is
 * empty, has a byte outside ASCII (the loader compares keys as `char`,
 * whose sign differs between architectures) or a run of digits above
 * INT_MAX (the loader's numbers are ints); two spellings of one key to
 * the loader ("libfoo.so.1" and "libfoo.so.01"), whatever their flags;
 * a value that is not an absolute path; flags whose type byte is
 * not FLAG_ELF_LIBC6 (3) or with bits above 0xffff; a hwcaps name that
 * is empty or has a '/'. */
int ldcache_build(const struct ldcache_entry *entries, size_t n, bool big_endian, struct buf *out,
                  struct derror *err);

#endif
