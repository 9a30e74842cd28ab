/* What the content of a file reveals, read in chunks of any size: an ELF
 * header, a private key, the text of a shell or package manager. */
#include "image/scan.h"
#include "lib/secrets.h"
#include "lib/alloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each signature is written in two pieces, joined once at run time:
 * written whole, they would all be in distill's own binary, which holds
 * this table, and an image with distill in it would be taken for busybox. */
static const struct {
  const char *head, *tail;
  unsigned mark;
  const char *what;
} signatures[] = {
  { "Busy", "Box v", IMAGE_MARK_SHELL, "busybox" },
  { "Toy", "box ", IMAGE_MARK_SHELL, "toybox" },
  { "GNU bash", ", version", IMAGE_MARK_SHELL, "bash" },
  { "Usage: getopts", " optstring var [arg...]", IMAGE_MARK_SHELL, "dash" },
  { "ZSH_", "VERSION", IMAGE_MARK_SHELL, "zsh" },
  { "KSH_", "VERSION", IMAGE_MARK_SHELL, "ksh" },
  { "Debian `dpkg'", " package management program", IMAGE_MARK_PACKAGE_MANAGER, "dpkg" },
  { "apt-get is", " a command line interface", IMAGE_MARK_PACKAGE_MANAGER, "apt-get" },
  { "RPM ", "version %s", IMAGE_MARK_PACKAGE_MANAGER, "rpm" },
  { "apk-", "tools ", IMAGE_MARK_PACKAGE_MANAGER, "apk" },
};

/* The signatures are looked for in one pass (Wu and Manber's multi-pattern
 * search, on blocks of two bytes): the window is as long as the shortest
 * signature, and skip[BLOCK(a, b)] says how far the window may move when
 * its last two bytes are a and b (0: a signature may start here, compare).
 * Blocks share a slot of a table small enough for the L1 cache, which then
 * holds the smallest of their skips. */
#define NSIG (sizeof signatures / sizeof *signatures)
#define BLOCK(a, b) (((unsigned) (a) << 4 ^ (unsigned) (b)) & 4095u)
static char needles[NSIG][48]; /* the signatures joined */
static size_t needle_len[NSIG];
static unsigned needle_block[NSIG]; /* the block of its bytes window - 2 and window - 1 */
static size_t window;          /* the shortest signature's length */
static uint8_t skip[4096];
static pthread_once_t skip_once = PTHREAD_ONCE_INIT;

static void
build_skip(void)
{
  window = SIZE_MAX;
  for (size_t i = 0; i < NSIG; i++) {
    int n = snprintf(needles[i], sizeof needles[i], "%s%s", signatures[i].head, signatures[i].tail);
    if (n < 0 || (size_t) n >= sizeof needles[i])
      abort(); /* a signature longer than its buffer: fix the table */
    needle_len[i] = (size_t) n;
    if ((size_t) n < window)
      window = (size_t) n;
  }
  for (size_t i = 0; i < NSIG; i++)
    needle_block[i] = BLOCK((unsigned char) needles[i][window - 2], (unsigned char) needles[i][window - 1]);
  memset(skip, (int) (window - 1), sizeof skip);
  for (size_t i = 0; i < NSIG; i++) {
    const unsigned char *p = (const unsigned char *) needles[i];
    for (size_t q = 2; q <= window; q++) {
      unsigned block = BLOCK(p[q - 2], p[q - 1]);
      if (skip[block] > window - q)
        skip[block] = (uint8_t) (window - q);
    }
  }
}

/* The signature whose window ends at `end`, or -1. */
static int
signature_at(const unsigned char *t, size_t n, size_t end)
{
  size_t start = end + 1 - window;
  unsigned block = BLOCK(t[end - 1], t[end]);

  for (size_t i = 0; i < NSIG; i++)
    if (needle_block[i] == block && t[start] == (unsigned char) needles[i][0] && needle_len[i] <= n - start
        && memcmp(t + start, needles[i], needle_len[i]) == 0)
      return (int) i;
  return -1;
}

/* The first signature (in table order, at the first place one starts).
 * The text is searched as two halves at once, the second's windows
 * starting where the first's end: each step's table look-up waits for the
 * one before it, and two independent chains keep the CPU busy.  A match in
 * the first half is earlier than any in the second. */
static int
find_signature(const char *text, size_t n)
{
  const unsigned char *t = (const unsigned char *) text;
  int second = -1;

  pthread_once(&skip_once, build_skip);
  if (n < window)
    return -1;
  size_t half = n / 2 > window ? n / 2 : window - 1; /* where the second half's windows end first */
  size_t e1 = window - 1, e2 = half;
  bool more2 = e2 < n;
  while (e1 < half || (more2 && e2 < n)) {
    if (e1 < half) {
      uint8_t s1 = skip[BLOCK(t[e1 - 1], t[e1])];
      if (s1 == 0) {
        int i = signature_at(t, n, e1);
        if (i >= 0)
          return i;
        s1 = 1;
      }
      e1 += s1;
    }
    if (more2 && e2 < n) {
      uint8_t s2 = skip[BLOCK(t[e2 - 1], t[e2])];
      if (s2 == 0) {
        second = signature_at(t, n, e2);
        more2 = second < 0;
        s2 = 1;
      }
      e2 += s2;
    }
  }
  return second;
}

/* A PEM private key: "-----BEGIN ...PRIVATE KEY-----" at a line start. */
static bool
has_private_key(const char *p, size_t n)
{
  const char *end = p + n;
  while ((p = memmem(p, (size_t) (end - p), "-----BEGIN ", 11)) != NULL) {
    const char *eol = memchr(p, '\n', (size_t) (end - p));
    size_t line = eol ? (size_t) (eol - p) : (size_t) (end - p);
    if (line < 64 && memmem(p, line, "PRIVATE KEY-----", 16))
      return true;
    p += 11;
  }
  return false;
}

/* Bytes of the file that are scanned. */
static void
scan_piece(struct scan *s, const void *bytes, size_t n)
{
  const char *data = bytes;

  if (s->secrets)
    secrets_chunk(s->secrets, bytes, n);
  /* the ELF magic, however the first bytes are cut (5: not ELF) */
  for (size_t i = 0; i < n && s->magic < 4; i++)
    s->magic = data[i] == "\177ELF"[s->magic] ? s->magic + 1 : 5;
  if (s->magic == 4)
    s->marks |= IMAGE_MARK_ELF;
  /* the seam between what came before and this chunk, then the chunk */
  char seam[2 * sizeof s->tail];
  size_t head = n < sizeof s->tail ? n : sizeof s->tail;
  memcpy(seam, s->tail, s->tail_len);
  memcpy(seam + s->tail_len, data, head);
  const char *parts[2] = { seam, data };
  size_t lens[2] = { s->tail_len + head, n };
  for (int k = 0; k < 2; k++) {
    if (!(s->marks & IMAGE_MARK_ELF) && has_private_key(parts[k], lens[k]))
      s->marks |= IMAGE_MARK_PRIVATE_KEY;
    if ((s->marks & IMAGE_MARK_ELF) && s->what == NULL) {
      int i = find_signature(parts[k], lens[k]);
      if (i >= 0) {
        s->marks |= signatures[i].mark;
        s->what = signatures[i].what;
      }
    }
  }
  /* the last bytes of the stream so far, for the next seam */
  if (n >= sizeof s->tail) {
    memcpy(s->tail, data + n - sizeof s->tail, sizeof s->tail);
    s->tail_len = sizeof s->tail;
  } else {
    size_t keep = s->tail_len + n > sizeof s->tail ? sizeof s->tail - n : s->tail_len;
    memmove(s->tail, s->tail + s->tail_len - keep, keep);
    memcpy(s->tail + keep, data, n);
    s->tail_len = keep + n;
  }
}

void
scan_skip(struct scan *s, const struct elf_range *ranges, size_t n)
{
  s->skip = ranges;
  s->n_skip = n;
  s->next_skip = 0;
}

void
scan_chunk(struct scan *s, const void *bytes, size_t n)
{
  const char *p = bytes;

  while (n > 0) {
    while (s->next_skip < s->n_skip && s->skip[s->next_skip].at + s->skip[s->next_skip].len <= s->offset)
      s->next_skip++;
    const struct elf_range *r = s->next_skip < s->n_skip ? &s->skip[s->next_skip] : NULL;
    if (r && r->at <= s->offset) {
      /* in a range left out: a gap, no needle spans it */
      uint64_t left = r->at + r->len - s->offset;
      size_t take = left < n ? (size_t) left : n;
      if (s->offset == r->at) {
        s->tail_len = 0;
        if (s->secrets)
          secrets_gap(s->secrets, r->len);
      }
      s->offset += take;
      p += take;
      n -= take;
      continue;
    }
    size_t take = r && r->at - s->offset < n ? (size_t) (r->at - s->offset) : n;
    scan_piece(s, p, take);
    s->offset += take;
    p += take;
    n -= take;
  }
}

void
scan_init(struct scan *s)
{
  memset(s, 0, sizeof *s);
}

void
scan_begin(struct scan *s, const char *path)
{
  scan_init(s);
  s->secrets = xmalloc(sizeof *s->secrets);
  secrets_init(s->secrets, path);
}

void
scan_finish(struct scan *s)
{
  if (s->secrets == NULL)
    return;
  secrets_end(s->secrets);
  if (s->secrets->n_findings) {
    s->marks |= IMAGE_MARK_SECRET;
    s->secret = secrets_primary(s->secrets);
  }
  free(s->secrets);
  s->secrets = NULL;
}

const char *
scan_known(const char *what)
{
  for (size_t i = 0; i < NSIG; i++)
    if (strcmp(signatures[i].what, what) == 0)
      return signatures[i].what;
  return NULL;
}
