/* Work on bytes on a thread of its own: see lane.h.
 *
 * A ring of SEGMENTS segments, each a buffer of bytes and a list of calls
 * on parts of it.  The caller fills the segment `fill`; it is queued when
 * its bytes or its list are full, or on sync.  The thread runs the calls
 * of queued segments in sequence order and frees them; the caller waits
 * only when the ring is full. */
#include "lib/lane.h"
#include "lib/alloc.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SEGMENT (1u << 20)
#define SEGMENTS 4
#define CALLS 256 /* per segment: the files of a tree come in many small calls */

struct call {
  lane_fn fn;
  void *ctx;
  enum timing_part part;
  size_t at, n; /* its bytes in the segment */
};

struct segment {
  unsigned char *data;
  size_t len;
  struct call calls[CALLS];
  size_t n_calls;
};

struct lane {
  struct segment ring[SEGMENTS];
  size_t fill; /* sequence number of the segment being filled */
  size_t done; /* segments before this one have run (and are free) */
  pthread_mutex_t lock;
  pthread_cond_t queued, freed;
  bool stop;
  pthread_t thread;
};

static void
run_segment(struct segment *s)
{
  for (size_t i = 0; i < s->n_calls; i++) {
    const struct call *c = &s->calls[i];
    enum timing_part was = timing_switch(c->part);
    c->fn(c->ctx, s->data + c->at, c->n);
    timing_bytes(c->part, c->n);
    timing_switch(was);
  }
  s->len = 0;
  s->n_calls = 0;
}

static void *
lane_run(void *arg)
{
  struct lane *l = arg;

  pthread_mutex_lock(&l->lock);
  for (;;) {
    while (!l->stop && l->done == l->fill)
      pthread_cond_wait(&l->queued, &l->lock);
    if (l->done == l->fill)
      break;
    struct segment *s = &l->ring[l->done % SEGMENTS];
    pthread_mutex_unlock(&l->lock);
    run_segment(s);
    pthread_mutex_lock(&l->lock);
    l->done++;
    pthread_cond_broadcast(&l->freed);
  }
  pthread_mutex_unlock(&l->lock);
  return NULL;
}

struct lane *
lane_new(void)
{
  struct lane *l = xcalloc(1, sizeof *l);

  for (size_t i = 0; i < SEGMENTS; i++)
    l->ring[i].data = xmalloc(SEGMENT);
  pthread_mutex_init(&l->lock, NULL);
  pthread_cond_init(&l->queued, NULL);
  pthread_cond_init(&l->freed, NULL);
  if (pthread_create(&l->thread, NULL, lane_run, l) != 0) {
    l->stop = true;
    lane_free(l);
    return NULL;
  }
  return l;
}

/* The segment being filled goes to the thread; the next one, once free,
 * is filled from then on. */
static void
queue_segment(struct lane *l)
{
  enum timing_part was = timing_switch(TIMING_WAIT);

  pthread_mutex_lock(&l->lock);
  l->fill++;
  pthread_cond_signal(&l->queued);
  while (l->fill - l->done >= SEGMENTS)
    pthread_cond_wait(&l->freed, &l->lock);
  pthread_mutex_unlock(&l->lock);
  timing_switch(was);
}

void
lane_put(struct lane *l, lane_fn fn, void *ctx, enum timing_part part, const void *data, size_t n)
{
  const unsigned char *p = data;

  if (l == NULL) {
    enum timing_part was = timing_switch(part);
    fn(ctx, data, n);
    timing_bytes(part, n);
    timing_switch(was);
    return;
  }
  enum timing_part was = timing_switch(TIMING_HANDOFF);
  for (bool first = true; first || n > 0; first = false) {
    struct segment *s = &l->ring[l->fill % SEGMENTS];
    while (s->n_calls == CALLS || (s->len == SEGMENT && n > 0)) {
      queue_segment(l);
      s = &l->ring[l->fill % SEGMENTS];
    }
    size_t take = SEGMENT - s->len < n ? SEGMENT - s->len : n;
    struct call *last = s->n_calls ? &s->calls[s->n_calls - 1] : NULL;
    if (take)
      memcpy(s->data + s->len, p, take); /* a call without bytes may come with none */
    if (last && last->fn == fn && last->ctx == ctx && last->part == part && last->at + last->n == s->len && take)
      last->n += take; /* the same work on the next bytes: one call */
    else
      s->calls[s->n_calls++] = (struct call){ fn, ctx, part, s->len, take };
    s->len += take;
    p += take;
    n -= take;
  }
  timing_switch(was);
}

void
lane_sync(struct lane *l)
{
  if (l == NULL)
    return;
  if (l->ring[l->fill % SEGMENTS].n_calls > 0)
    queue_segment(l);
  enum timing_part was = timing_switch(TIMING_WAIT);
  pthread_mutex_lock(&l->lock);
  while (l->done != l->fill)
    pthread_cond_wait(&l->freed, &l->lock);
  pthread_mutex_unlock(&l->lock);
  timing_switch(was);
}

void
lane_free(struct lane *l)
{
  if (l == NULL)
    return;
  if (!l->stop) {
    pthread_mutex_lock(&l->lock);
    l->stop = true;
    pthread_cond_signal(&l->queued);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
  }
  pthread_mutex_destroy(&l->lock);
  pthread_cond_destroy(&l->queued);
  pthread_cond_destroy(&l->freed);
  for (size_t i = 0; i < SEGMENTS; i++)
    free(l->ring[i].data);
  free(l);
}
