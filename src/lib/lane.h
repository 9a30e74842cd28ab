/* Work on a stream of bytes done on a thread of its own, in the order it
 * was given, while the caller goes on: the sha256 of a layer's tar and of
 * its blob, the scan of its files' contents.  Each piece of work is a call
 * fn(ctx, bytes, n) with a copy of the caller's bytes, so the caller may
 * reuse its buffer at once; the copies go through a ring of segments of
 * 1 MiB, and the caller waits only when the ring is full.
 *
 * Without SHA extensions sha256 runs at a few hundred MB/s, and the scan
 * at about a GB/s: on the build's own thread they were as slow as the rest
 * of its work put together. */
#ifndef DISTILL_LANE_H
#define DISTILL_LANE_H

#include "lib/timing.h"

#include <stddef.h>

typedef void (*lane_fn)(void *ctx, const void *data, size_t n);

struct lane;

/* NULL when no thread can be started: lane_put() then calls fn on the
 * caller's thread, at once. */
struct lane *lane_new(void);
/* fn(ctx, a copy of the `n` bytes of `data`, n) on the lane's thread,
 * after everything put before (n may be 0: a call without bytes, in its
 * place in the order).  Puts of the same fn, ctx and part in a row may
 * be joined into one call on all their bytes: fn must treat its bytes as
 * a stream (fn on "ab" the same as fn on "a", then on "b").  `part` is
 * what the lane's time in fn is charged to.  Whatever fn touches through
 * ctx is the lane's until lane_sync(). */
void lane_put(struct lane *l, lane_fn fn, void *ctx, enum timing_part part, const void *data, size_t n);
/* Every call put so far has returned. */
void lane_sync(struct lane *l);
void lane_free(struct lane *l);

#endif
