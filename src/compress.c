/* Layer compression on several threads, with bytes that do not depend on
 * how many: see compress.h.
 *
 * gzip keeps a ring of 2 x jobs chunk slots.  The caller's thread fills the
 * slot of the next sequence number; a full slot is queued, a worker
 * compresses it into a gzip member, and the caller's thread emits members
 * strictly in sequence order, waiting for the oldest when it needs its slot
 * again.  With one job nothing is queued: each chunk is compressed and
 * emitted in the caller's thread, into the same bytes. */
#include "distill/compress.h"
#include "distill/util.h"

#include <errno.h>
#include <libdeflate.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

enum slot_state { SLOT_FREE, SLOT_QUEUED, SLOT_DONE };

struct slot {
  unsigned char *in, *out;
  size_t in_len, out_len; /* out_len 0: compression failed */
  enum slot_state state;
};

struct compressor {
  enum compression comp;
  compress_emit_fn emit;
  void *ctx;
  bool failed;
  int emit_errno;

  /* gzip */
  struct slot *slots;
  size_t n_slots, out_cap;
  size_t fill;       /* sequence number of the chunk being filled */
  size_t next_work;  /* the next queued chunk a worker takes */
  size_t next_emit;  /* the next chunk to emit */
  bool filled_any;
  struct libdeflate_compressor *inline_c; /* one job: the caller's own */
  pthread_t *threads;
  unsigned n_threads;
  pthread_mutex_t lock;
  pthread_cond_t queued, done;
  bool stop;

  /* zstd */
  ZSTD_CCtx *zc;
  unsigned char *zout;
  size_t zout_cap;
};

static struct slot *
slot_of(struct compressor *c, size_t seq)
{
  return &c->slots[seq % c->n_slots];
}

static void
compress_slot(struct compressor *c, struct libdeflate_compressor *lc, struct slot *s)
{
  s->out_len = libdeflate_gzip_compress(lc, s->in, s->in_len, s->out, c->out_cap);
}

static void *
worker(void *arg)
{
  struct compressor *c = arg;
  struct libdeflate_compressor *lc = libdeflate_alloc_compressor(COMPRESS_GZIP_LEVEL);

  pthread_mutex_lock(&c->lock);
  for (;;) {
    while (!c->stop && c->next_work == c->fill)
      pthread_cond_wait(&c->queued, &c->lock);
    if (c->next_work == c->fill) /* stopping, nothing left */
      break;
    struct slot *s = slot_of(c, c->next_work++);
    pthread_mutex_unlock(&c->lock);
    if (lc)
      compress_slot(c, lc, s);
    else
      s->out_len = 0;
    pthread_mutex_lock(&c->lock);
    s->state = SLOT_DONE;
    pthread_cond_broadcast(&c->done);
  }
  pthread_mutex_unlock(&c->lock);
  libdeflate_free_compressor(lc);
  return NULL;
}

static void
emit(struct compressor *c, const void *data, size_t n)
{
  if (c->failed || n == 0)
    return;
  if (c->emit(c->ctx, data, n) < 0) {
    c->failed = true;
    c->emit_errno = errno;
  }
}

/* The oldest chunk, once a worker has compressed it. */
static struct slot *
wait_oldest(struct compressor *c)
{
  struct slot *s = slot_of(c, c->next_emit);

  pthread_mutex_lock(&c->lock);
  while (s->state != SLOT_DONE)
    pthread_cond_wait(&c->done, &c->lock);
  pthread_mutex_unlock(&c->lock);
  return s;
}

/* Emit the oldest chunk once it is compressed, and free its slot. */
static void
emit_oldest(struct compressor *c)
{
  struct slot *s = wait_oldest(c);

  if (s->out_len == 0) {
    c->failed = true;
    c->emit_errno = 0;
  }
  emit(c, s->out, s->out_len);
  s->state = SLOT_FREE;
  s->in_len = 0;
  c->next_emit++;
}

/* The chunk being filled is complete (or the last one): compress it. */
static void
submit(struct compressor *c)
{
  struct slot *s = slot_of(c, c->fill);

  c->filled_any = true;
  if (c->inline_c) {
    compress_slot(c, c->inline_c, s);
    if (s->out_len == 0) {
      c->failed = true;
      c->emit_errno = 0;
    }
    emit(c, s->out, s->out_len);
    s->in_len = 0;
    return;
  }
  pthread_mutex_lock(&c->lock);
  s->state = SLOT_QUEUED;
  c->fill++;
  pthread_cond_signal(&c->queued);
  pthread_mutex_unlock(&c->lock);
  /* the next slot to fill must be free: its previous chunk goes out first */
  if (c->fill - c->next_emit >= c->n_slots)
    emit_oldest(c);
}

static int
gzip_write(struct compressor *c, const unsigned char *p, size_t n)
{
  while (n > 0) {
    struct slot *s = slot_of(c, c->fill);
    size_t take = COMPRESS_CHUNK - s->in_len;
    if (take > n)
      take = n;
    memcpy(s->in + s->in_len, p, take);
    s->in_len += take;
    p += take;
    n -= take;
    if (s->in_len == COMPRESS_CHUNK)
      submit(c);
    if (c->failed)
      return -1;
  }
  return 0;
}

static int
gzip_start(struct compressor *c, unsigned jobs)
{
  c->out_cap = libdeflate_gzip_compress_bound(NULL, COMPRESS_CHUNK);
  c->n_slots = jobs > 1 ? 2 * (size_t) jobs : 1;
  c->slots = xcalloc(c->n_slots, sizeof *c->slots);
  for (size_t i = 0; i < c->n_slots; i++) {
    c->slots[i].in = xmalloc(COMPRESS_CHUNK);
    c->slots[i].out = xmalloc(c->out_cap);
  }
  if (jobs == 1) {
    c->inline_c = libdeflate_alloc_compressor(COMPRESS_GZIP_LEVEL);
    return c->inline_c ? 0 : -1;
  }
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->queued, NULL);
  pthread_cond_init(&c->done, NULL);
  c->threads = xcalloc(jobs, sizeof *c->threads);
  for (unsigned i = 0; i < jobs; i++) {
    if (pthread_create(&c->threads[i], NULL, worker, c) != 0)
      return -1;
    c->n_threads++;
  }
  return 0;
}

static void
gzip_stop(struct compressor *c)
{
  if (c->threads == NULL)
    return;
  pthread_mutex_lock(&c->lock);
  c->stop = true;
  pthread_cond_broadcast(&c->queued);
  pthread_mutex_unlock(&c->lock);
  for (unsigned i = 0; i < c->n_threads; i++)
    pthread_join(c->threads[i], NULL);
  free(c->threads);
  c->threads = NULL;
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->queued);
  pthread_cond_destroy(&c->done);
}

static int
gzip_finish(struct compressor *c)
{
  /* the last chunk, even empty when nothing came: a stream is one member at least */
  if (slot_of(c, c->fill)->in_len > 0 || !c->filled_any)
    submit(c);
  if (c->threads)
    while (c->next_emit < c->fill)
      emit_oldest(c);
  return c->failed ? -1 : 0;
}

static int
zstd_pump(struct compressor *c, const void *data, size_t n, ZSTD_EndDirective mode)
{
  ZSTD_inBuffer in = { data, n, 0 };
  size_t left;

  do {
    ZSTD_outBuffer out = { c->zout, c->zout_cap, 0 };
    left = ZSTD_compressStream2(c->zc, &out, &in, mode);
    if (ZSTD_isError(left)) {
      c->failed = true;
      c->emit_errno = 0;
      return -1;
    }
    emit(c, c->zout, out.pos);
    if (c->failed)
      return -1;
  } while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
  return 0;
}

struct compressor *
compressor_new(enum compression comp, unsigned jobs, compress_emit_fn fn, void *ctx)
{
  struct compressor *c = xcalloc(1, sizeof *c);

  c->comp = comp;
  c->emit = fn;
  c->ctx = ctx;
  if (jobs < 1)
    jobs = 1;
  switch (comp) {
  case COMPRESSION_GZIP:
    if (gzip_start(c, jobs) < 0)
      goto fail;
    break;
  case COMPRESSION_ZSTD:
    /* At least one worker always: libzstd's output then does not depend on
     * their number, but differs from its single-threaded mode's. */
    c->zc = ZSTD_createCCtx();
    if (c->zc == NULL || ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_compressionLevel, COMPRESS_ZSTD_LEVEL))
        || ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_checksumFlag, 1))
        || ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_nbWorkers, (int) jobs)))
      goto fail;
    c->zout_cap = ZSTD_CStreamOutSize();
    c->zout = xmalloc(c->zout_cap);
    break;
  case COMPRESSION_NONE:
    break;
  }
  return c;
fail:
  compressor_free(c);
  return NULL;
}

int
compressor_write(struct compressor *c, const void *data, size_t n)
{
  if (c->failed)
    goto failed;
  switch (c->comp) {
  case COMPRESSION_GZIP:
    if (gzip_write(c, data, n) < 0)
      goto failed;
    return 0;
  case COMPRESSION_ZSTD:
    if (zstd_pump(c, data, n, ZSTD_e_continue) < 0)
      goto failed;
    return 0;
  case COMPRESSION_NONE:
    emit(c, data, n);
    if (c->failed)
      goto failed;
    return 0;
  }
failed:
  errno = c->emit_errno;
  return -1;
}

int
compressor_finish(struct compressor *c)
{
  int r = 0;

  if (!c->failed) {
    if (c->comp == COMPRESSION_GZIP)
      r = gzip_finish(c);
    else if (c->comp == COMPRESSION_ZSTD)
      r = zstd_pump(c, NULL, 0, ZSTD_e_end);
  }
  if (c->failed || r < 0) {
    errno = c->emit_errno;
    return -1;
  }
  return 0;
}

void
compressor_free(struct compressor *c)
{
  if (c == NULL)
    return;
  if (c->comp == COMPRESSION_GZIP && c->threads) {
    /* abandoned mid-stream: let the workers finish what they hold */
    while (c->next_emit < c->fill) {
      wait_oldest(c);
      c->next_emit++;
    }
  }
  gzip_stop(c);
  for (size_t i = 0; c->slots && i < c->n_slots; i++) {
    free(c->slots[i].in);
    free(c->slots[i].out);
  }
  free(c->slots);
  libdeflate_free_compressor(c->inline_c);
  ZSTD_freeCCtx(c->zc);
  free(c->zout);
  free(c);
}

const char *
compression_name(enum compression comp)
{
  switch (comp) {
  case COMPRESSION_GZIP:
    return "gzip";
  case COMPRESSION_ZSTD:
    return "zstd";
  case COMPRESSION_NONE:
    break;
  }
  return "none";
}

const char *
compression_media_type(enum compression comp)
{
  switch (comp) {
  case COMPRESSION_GZIP:
    return "application/vnd.oci.image.layer.v1.tar+gzip";
  case COMPRESSION_ZSTD:
    return "application/vnd.oci.image.layer.v1.tar+zstd";
  case COMPRESSION_NONE:
    break;
  }
  return "application/vnd.oci.image.layer.v1.tar";
}

const char *
compression_library(enum compression comp)
{
  static char zstd[32];

  switch (comp) {
  case COMPRESSION_GZIP:
    return "libdeflate " LIBDEFLATE_VERSION_STRING;
  case COMPRESSION_ZSTD:
    snprintf(zstd, sizeof zstd, "libzstd %s", ZSTD_versionString());
    return zstd;
  case COMPRESSION_NONE:
    break;
  }
  return "none";
}

unsigned
compress_default_jobs(void)
{
  cpu_set_t set;

  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return (unsigned) CPU_COUNT(&set);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned) n : 1;
}
