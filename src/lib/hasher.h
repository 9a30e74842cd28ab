/* sha256 on a second thread: bytes handed over are copied into a ring of
 * segments and hashed there, in the order they came, while the caller goes
 * on reading, scanning and compressing.  Without SHA extensions sha256
 * runs at a few hundred MB/s, as slow as the rest of a build's own thread
 * put together: a layer is hashed twice (the diff_id of its tar, the
 * digest of its blob). */
#ifndef DISTILL_HASHER_H
#define DISTILL_HASHER_H

#include "lib/digest.h"
#include "lib/timing.h"

#include <stddef.h>

struct hasher;

/* NULL when no thread can be started: the calls below then hash on the
 * caller's thread. */
struct hasher *hasher_new(void);
/* `n` bytes of `data` into `d` (begun by the caller), after everything
 * handed over before; `part` is what the hashing thread's time is charged
 * to.  The bytes are copied: `data` may be reused at once.  `d` must stay
 * in place until hasher_sync. */
void hasher_update(struct hasher *h, struct digest *d, enum timing_part part, const void *data, size_t n);
/* Every byte handed over so far is hashed: the digests may be finished. */
void hasher_sync(struct hasher *h);
void hasher_free(struct hasher *h);

#endif
