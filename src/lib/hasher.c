/* sha256 on a second thread: see hasher.h.
 *
 * A ring of SEGMENTS segments.  The caller fills the segment `fill`; it is
 * queued when full, when the next bytes are for another digest, or on
 * sync.  The thread hashes queued segments in sequence order and frees
 * them; the caller waits only when the ring is full. */
#include "lib/hasher.h"
#include "lib/alloc.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SEGMENT (1u << 20)
#define SEGMENTS 4

struct segment {
  unsigned char *data;
  size_t len;
  struct digest *d;
  enum timing_part part;
};

struct hasher {
  struct segment ring[SEGMENTS];
  size_t fill;   /* sequence number of the segment being filled */
  size_t hashed; /* segments before this one are hashed (and free) */
  pthread_mutex_t lock;
  pthread_cond_t queued, freed;
  bool stop;
  pthread_t thread;
};

static void *
hash_run(void *arg)
{
  struct hasher *h = arg;

  pthread_mutex_lock(&h->lock);
  for (;;) {
    while (!h->stop && h->hashed == h->fill)
      pthread_cond_wait(&h->queued, &h->lock);
    if (h->hashed == h->fill)
      break;
    struct segment *s = &h->ring[h->hashed % SEGMENTS];
    pthread_mutex_unlock(&h->lock);
    enum timing_part was = timing_switch(s->part);
    digest_update(s->d, s->data, s->len);
    timing_bytes(s->part, s->len);
    timing_switch(was);
    pthread_mutex_lock(&h->lock);
    s->len = 0;
    s->d = NULL;
    h->hashed++;
    pthread_cond_broadcast(&h->freed);
  }
  pthread_mutex_unlock(&h->lock);
  return NULL;
}

struct hasher *
hasher_new(void)
{
  struct hasher *h = xcalloc(1, sizeof *h);

  for (size_t i = 0; i < SEGMENTS; i++)
    h->ring[i].data = xmalloc(SEGMENT);
  pthread_mutex_init(&h->lock, NULL);
  pthread_cond_init(&h->queued, NULL);
  pthread_cond_init(&h->freed, NULL);
  if (pthread_create(&h->thread, NULL, hash_run, h) != 0) {
    h->stop = true;
    hasher_free(h);
    return NULL;
  }
  return h;
}

/* The segment being filled goes to the thread; the next one, once free,
 * is filled from then on. */
static void
queue_segment(struct hasher *h)
{
  enum timing_part was = timing_switch(TIMING_WAIT);

  pthread_mutex_lock(&h->lock);
  h->fill++;
  pthread_cond_signal(&h->queued);
  while (h->fill - h->hashed >= SEGMENTS)
    pthread_cond_wait(&h->freed, &h->lock);
  pthread_mutex_unlock(&h->lock);
  timing_switch(was);
}

void
hasher_update(struct hasher *h, struct digest *d, enum timing_part part, const void *data, size_t n)
{
  const unsigned char *p = data;

  if (h == NULL) {
    enum timing_part was = timing_switch(part);
    digest_update(d, data, n);
    timing_bytes(part, n);
    timing_switch(was);
    return;
  }
  enum timing_part was = timing_switch(TIMING_HANDOFF);
  while (n > 0) {
    struct segment *s = &h->ring[h->fill % SEGMENTS];
    if (s->len > 0 && (s->d != d || s->len == SEGMENT)) {
      queue_segment(h);
      continue;
    }
    size_t take = SEGMENT - s->len < n ? SEGMENT - s->len : n;
    memcpy(s->data + s->len, p, take);
    s->d = d;
    s->part = part;
    s->len += take;
    p += take;
    n -= take;
  }
  timing_switch(was);
}

void
hasher_sync(struct hasher *h)
{
  if (h == NULL)
    return;
  if (h->ring[h->fill % SEGMENTS].len > 0)
    queue_segment(h);
  enum timing_part was = timing_switch(TIMING_WAIT);
  pthread_mutex_lock(&h->lock);
  while (h->hashed != h->fill)
    pthread_cond_wait(&h->freed, &h->lock);
  pthread_mutex_unlock(&h->lock);
  timing_switch(was);
}

void
hasher_free(struct hasher *h)
{
  if (h == NULL)
    return;
  if (!h->stop) {
    pthread_mutex_lock(&h->lock);
    h->stop = true;
    pthread_cond_signal(&h->queued);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
  }
  pthread_mutex_destroy(&h->lock);
  pthread_cond_destroy(&h->queued);
  pthread_cond_destroy(&h->freed);
  for (size_t i = 0; i < SEGMENTS; i++)
    free(h->ring[i].data);
  free(h);
}
