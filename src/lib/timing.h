/* Where a build's time goes: each thread's time, charged to the part of
 * the work it is doing, so that `distill build --timings` and the bench can
 * show the split of a build whose parts overlap on several threads.
 *
 * A thread is in one part at a time; timing_switch() charges the time since
 * its last switch to the part it leaves and returns that part, for the
 * caller to switch back to.  A thread that never switched is idle (a worker
 * waiting for work): its time is not charged.  Until timing_enable() a
 * switch only notes the part (no clock is read); then each costs one read
 * of the monotonic clock. */
#ifndef DISTILL_TIMING_H
#define DISTILL_TIMING_H

#include <stdint.h>
#include <stdio.h>

enum timing_part {
  TIMING_IDLE,      /* not charged */
  TIMING_OTHER,     /* start-up, the recipe, what no part names */
  TIMING_PLAN,      /* the closure, the sysroot's packages, the tree */
  TIMING_KEY,       /* the cache keys: stat of every source */
  TIMING_READ,      /* reading the sources' contents */
  TIMING_TAR,       /* libarchive: headers and its copies */
  TIMING_SCAN,      /* what the content reveals (ELF, keys, credentials) */
  TIMING_HASH_TAR,  /* sha256 of the tar: the diff_id */
  TIMING_HANDOFF,   /* cutting the tar into the compressor's chunks */
  TIMING_WAIT,      /* waiting for a worker's oldest chunk */
  TIMING_COMPRESS,  /* compressing (the workers; zstd: its own threads, not seen) */
  TIMING_HASH_BLOB, /* sha256 of the compressed layer: its digest */
  TIMING_WRITE,     /* writing the archive and the cache's copy */
  TIMING_CACHE,     /* a cached layer copied into the archive */
  TIMING_VERIFY,    /* sha256 of a cached layer as it is copied */
  TIMING_FINISH,    /* documents, self-check, SBOMs */
  TIMING_SYNC,      /* the output made durable (fsync) */
  TIMING_RENAME,    /* the output renamed into place */
  TIMING_COUNT
};

/* From now on, the time is counted (the first switch of any thread after
 * this is where the wall time starts). */
void timing_enable(void);
/* The calling thread is now in part p; returns the part it was in. */
enum timing_part timing_switch(enum timing_part p);
/* Bytes that part p went through (read, hashed, written...). */
void timing_bytes(enum timing_part p, uint64_t n);
/* Each part's seconds (of the threads' wall time) and bytes, the wall time
 * since the first switch of any thread and the process's CPU time, one
 * line each. */
void timing_report(FILE *f);

#endif
