/* The secrets scanner (see secrets.h): a window slides over the file as it
 * streams by, and each position some rule can start at is handed to the
 * rules of secrets_rules.c. */
#include "lib/secrets.h"
#include "lib/secrets_rules.h"
#include "lib/alloc.h"

#include <fnmatch.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool
under(const char *path, const char *dir)
{
  size_t n = strlen(dir);

  return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static unsigned
kind_of(const char *path)
{
  static const char *const config[] = { "*.json", "*.yaml", "*.yml", "*.conf", "*.toml", "*.ini", "*.cfg",
                                        "*.properties", "*.npmrc", NULL };
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  unsigned kind = 0;

  if (under(path, "/usr/share/doc") || under(path, "/usr/share/man") || under(path, "/usr/share/info"))
    return KIND_DOCS;
  if (strcmp(base, ".env") == 0 || fnmatch("*.env", base, 0) == 0 || fnmatch(".env.*", base, 0) == 0)
    kind |= KIND_ENV;
  for (size_t i = 0; config[i]; i++)
    if (fnmatch(config[i], base, 0) == 0)
      kind |= KIND_CONFIG;
  if (under(path, "/etc"))
    kind |= KIND_CONFIG;
  return kind;
}

void
secrets_init(struct secrets *s, const char *path)
{
  /* every field but the window, which is written before it is read: a
   * file costs no 17 KB memset */
  s->kind = kind_of(path);
  s->seen = 0;
  s->base = 0;
  s->len = s->next = 0;
  s->pending_auth = UINT64_MAX;
  s->n_findings = 0;
}

/* The first two bytes a rule can start with: every other position is
 * passed over by two look-ups in tables of 256 (most bytes of a program,
 * and most letters of a text, start no rule).  first[c] has one bit per
 * distinct first byte c is; second[c] the bits of the first bytes that c
 * may follow: a pair may start a rule when they share a bit.  Both fit in
 * the L1 cache, where one table of every pair would not.  Built once. */
static uint32_t first[256], second[256];
static pthread_once_t pairs_once = PTHREAD_ONCE_INIT;
#define PAIR(w, i) (first[(w)[i]] & second[(w)[(i) + 1]])

static void
build_pairs(void)
{
  const char *const *st = secrets_rule_starts;
  unsigned char firsts[32];
  size_t n = 0;

  for (size_t i = 0; st[i]; i++) {
    unsigned char a = (unsigned char) st[i][0], b = (unsigned char) st[i][1];
    size_t k = 0;
    while (k < n && firsts[k] != a)
      k++;
    if (k == n) {
      if (n == sizeof firsts)
        abort(); /* more distinct first bytes than bits: widen the tables */
      firsts[n++] = a;
    }
    first[a] = (uint32_t) 1 << k;
    second[b] |= (uint32_t) 1 << k;
  }
}

/* Try every position that has SECRETS_LOOKAHEAD bytes after it (all of
 * them at the end), then keep the tail for the next chunk, with
 * SECRETS_LOOKBACK bytes before the next position for the rules that
 * look back.  In a .env file
 * every line start is a candidate too. */
static void
scan_window(struct secrets *s, bool at_end)
{
  size_t stop = at_end ? s->len : s->len > SECRETS_LOOKAHEAD ? s->len - SECRETS_LOOKAHEAD : 0;
  unsigned char *w = (unsigned char *) s->window;

  pthread_once(&pairs_once, build_pairs);
  w[s->len] = 0; /* the second byte of the last position */
  if (s->kind & KIND_ENV) {
    for (size_t i = s->next; i < stop; i++)
      if (PAIR(w, i) || i + s->base == 0 || w[i - 1] == '\n')
        secrets_try_at(s, i, s->len - i);
  } else {
    for (size_t i = s->next; i < stop; i++) {
      /* the hot loop: one look-up a byte, four at a time */
      while (i + 4 <= stop && !(PAIR(w, i) | PAIR(w, i + 1) | PAIR(w, i + 2) | PAIR(w, i + 3)))
        i += 4;
      if (i < stop && PAIR(w, i))
        secrets_try_at(s, i, s->len - i);
    }
  }
  if (stop > s->next)
    s->next = stop;
  size_t keep_from = s->next > SECRETS_LOOKBACK ? s->next - SECRETS_LOOKBACK : 0;
  memmove(s->window, s->window + keep_from, s->len - keep_from);
  s->len -= keep_from;
  s->next -= keep_from;
  s->base += keep_from;
}

void
secrets_chunk(struct secrets *s, const void *data, size_t n)
{
  const char *p = data;

  while (n > 0) {
    size_t room = sizeof s->window - 1 - s->len, take = n < room ? n : room;
    memcpy(s->window + s->len, p, take);
    s->len += take;
    p += take;
    n -= take;
    scan_window(s, false);
  }
}

void
secrets_gap(struct secrets *s, uint64_t n)
{
  scan_window(s, true);
  /* one byte before the next position, which rules look back at */
  s->base += s->len + n - 1;
  s->window[0] = '\n';
  s->len = s->next = 1;
}

void
secrets_end(struct secrets *s)
{
  scan_window(s, true);
  if ((s->seen & SEEN_AUTHS) && s->pending_auth != UINT64_MAX && !(s->kind & KIND_DOCS))
    secrets_found(s, "docker-auth", s->pending_auth);
  if ((s->seen & SEEN_SERVICE_ACCOUNT) && (s->seen & SEEN_PRIVATE_KEY))
    secrets_found(s, "gcp-service-account", 0);
}

/* A token's own format says more than the place it sits in (a .netrc
 * password line, a secret-sounding variable). */
const char *
secrets_primary(const struct secrets *s)
{
  const char *rule = s->n_findings ? s->findings[0].rule : NULL;

  for (size_t i = s->n_findings; i-- > 0;)
    if (strcmp(s->findings[i].rule, "env-secret") != 0 && strcmp(s->findings[i].rule, "netrc-password") != 0)
      rule = s->findings[i].rule;
  return rule;
}

const char *
secrets_in_value(const char *name, const char *value)
{
  struct secrets *s = xmalloc(sizeof *s);
  const char *rule;

  /* a NAME=VALUE line of an environment file: every rule applies */
  secrets_init(s, "/.env");
  secrets_chunk(s, name, strlen(name));
  secrets_chunk(s, "=", 1);
  secrets_chunk(s, value, strlen(value));
  secrets_chunk(s, "\n", 1);
  secrets_end(s);
  rule = secrets_primary(s);
  free(s);
  return rule;
}

const char *
secrets_rule(const char *id)
{
  for (size_t i = 0; secret_rules[i].id; i++)
    if (strcmp(secret_rules[i].id, id) == 0)
      return secret_rules[i].id;
  return NULL;
}
