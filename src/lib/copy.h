/* Copying a file's bytes into another at its current offset: by the kernel
 * (copy_file_range), or through a buffer, hashed by a second thread as it
 * goes.  Writeback of the output begins as it is written (write_behind). */
#ifndef DISTILL_COPY_H
#define DISTILL_COPY_H

#include "lib/digest.h"
#include "lib/error.h"

#include <stdint.h>
#include <sys/types.h>

/* All of `in` from its offset to `out`; `out_at` is out's offset, for its
 * writeback to begin as it is written (-1: it need not).  With `d` not NULL the bytes are hashed into it (begun here,
 * left unfinished for the caller, aborted on failure).  -1 with `err` set,
 * code DERROR_OUTPUT when writing failed. */
int copy_buffered(int in, int out, off_t out_at, struct digest *d, struct derror *err);
/* `size` bytes of `in` to `out` by the kernel, never read here; 1 when the
 * kernel cannot copy between these two (another file system, an old
 * kernel) and nothing was copied; -1 with `err` set as above, also when
 * `in` ends before `size` bytes. */
int copy_kernel(int in, int out, uint64_t size, off_t out_at, struct derror *err);

#endif
