/* Where a build's time goes: see timing.h. */
#include "lib/timing.h"

#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char *const part_names[TIMING_COUNT] = {
  [TIMING_IDLE] = "idle",         [TIMING_OTHER] = "other",       [TIMING_PLAN] = "plan",
  [TIMING_KEY] = "cache-key",     [TIMING_READ] = "read",         [TIMING_TAR] = "tar",
  [TIMING_SCAN] = "scan",         [TIMING_HASH_TAR] = "sha256-tar", [TIMING_HANDOFF] = "hand-off",
  [TIMING_WAIT] = "wait",         [TIMING_COMPRESS] = "compress", [TIMING_HASH_BLOB] = "sha256-blob",
  [TIMING_WRITE] = "write",       [TIMING_CACHE] = "cache-copy",  [TIMING_VERIFY] = "cache-verify",
  [TIMING_FINISH] = "finish",     [TIMING_SYNC] = "sync",         [TIMING_RENAME] = "rename",
};

static uint64_t part_ns[TIMING_COUNT], part_bytes[TIMING_COUNT], first_ns;
static bool enabled;

static _Thread_local enum timing_part current;
static _Thread_local uint64_t since;

static uint64_t
now_ns(void)
{
  struct timespec t;

  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t) t.tv_sec * 1000000000u + (uint64_t) t.tv_nsec;
}

void
timing_enable(void)
{
  enabled = true;
}

enum timing_part
timing_switch(enum timing_part p)
{
  enum timing_part was = current;

  current = p;
  if (!enabled)
    return was;
  uint64_t now = now_ns(), zero = 0;
  if (since != 0 && was != TIMING_IDLE)
    __atomic_fetch_add(&part_ns[was], now - since, __ATOMIC_RELAXED);
  __atomic_compare_exchange_n(&first_ns, &zero, now, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  since = now;
  return was;
}

void
timing_bytes(enum timing_part p, uint64_t n)
{
  if (enabled)
    __atomic_fetch_add(&part_bytes[p], n, __ATOMIC_RELAXED);
}

static double
seconds_of(const struct timeval *tv)
{
  return (double) tv->tv_sec + (double) tv->tv_usec / 1e6;
}

void
timing_report(FILE *f)
{
  struct rusage ru;

  timing_switch(current); /* the time until now, charged */
  for (int p = TIMING_OTHER; p < TIMING_COUNT; p++) {
    uint64_t ns = __atomic_load_n(&part_ns[p], __ATOMIC_RELAXED);
    uint64_t bytes = __atomic_load_n(&part_bytes[p], __ATOMIC_RELAXED);
    if (ns == 0 && bytes == 0)
      continue;
    fprintf(f, "timing %-13s %8.3f s", part_names[p], (double) ns / 1e9);
    if (bytes)
      fprintf(f, " %10.1f MB", (double) bytes / 1e6);
    fputc('\n', f);
  }
  if (getrusage(RUSAGE_SELF, &ru) < 0)
    memset(&ru, 0, sizeof ru);
  fprintf(f, "timing %-13s %8.3f s  cpu %8.3f s (user %.3f, system %.3f)\n", "total",
          (double) (now_ns() - first_ns) / 1e9, seconds_of(&ru.ru_utime) + seconds_of(&ru.ru_stime),
          seconds_of(&ru.ru_utime), seconds_of(&ru.ru_stime));
}
