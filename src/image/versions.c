/* The orders of versions: see versions.h.  Debian's is checked against
 * dpkg's own in tests/unit/test_debversion.c, the others against the
 * examples of their specifications. */
#include "image/versions.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- dpkg's order of versions (deb-version(7)) ------------------------- */

/* The weight of a non-digit in dpkg's order: '~' before the end, the end
 * before letters, letters before every other character. */
static int
weight(int c)
{
  if (c == '~')
    return -1;
  if (c == '\0')
    return 0;
  if (isalpha(c))
    return c;
  return c + 256;
}

/* Two upstream versions or two revisions: alternately a run of non-digits,
 * compared character by character by weight, and a run of digits,
 * compared as a number. */
static int
part_cmp(const char *a, const char *b)
{
  while (*a || *b) {
    while ((*a && !isdigit((unsigned char) *a)) || (*b && !isdigit((unsigned char) *b))) {
      int wa = isdigit((unsigned char) *a) ? 0 : weight((unsigned char) *a);
      int wb = isdigit((unsigned char) *b) ? 0 : weight((unsigned char) *b);
      if (wa != wb)
        return wa < wb ? -1 : 1;
      if (*a && !isdigit((unsigned char) *a))
        a++;
      if (*b && !isdigit((unsigned char) *b))
        b++;
    }
    a += strspn(a, "0");
    b += strspn(b, "0");
    size_t na = strspn(a, "0123456789"), nb = strspn(b, "0123456789");
    if (na != nb)
      return na < nb ? -1 : 1;
    int c = strncmp(a, b, na);
    if (c)
      return c < 0 ? -1 : 1;
    a += na;
    b += nb;
  }
  return 0;
}

/* `v` split: its epoch, and its upstream version and revision copied. */
static unsigned long
split(const char *v, char **upstream, char **revision)
{
  const char *colon = strchr(v, ':');
  bool has_epoch = colon && colon > v && strspn(v, "0123456789") == (size_t) (colon - v);
  unsigned long epoch = has_epoch ? strtoul(v, NULL, 10) : 0;
  const char *up = has_epoch ? colon + 1 : v;
  const char *dash = strrchr(up, '-');

  *upstream = dash ? xstrndup(up, (size_t) (dash - up)) : xstrdup(up);
  *revision = xstrdup(dash ? dash + 1 : "");
  return epoch;
}

int
debian_version_cmp(const char *a, const char *b)
{
  cleanup_free char *ua = NULL, *ra = NULL, *ub = NULL, *rb = NULL;
  unsigned long ea = split(a, &ua, &ra), eb = split(b, &ub, &rb);

  if (ea != eb)
    return ea < eb ? -1 : 1;
  int c = part_cmp(ua, ub);
  return c ? c : part_cmp(ra, rb);
}

/* ---- Semantic Versioning 2.0.0 (npm) ---------------------------------- */

/* A number of at most 19 digits: the count of digits read, 0 for none or
 * too many. */
static size_t
number(const char *s, unsigned long long *out)
{
  size_t n = strspn(s, "0123456789");

  if (n == 0 || n > 19)
    return 0;
  *out = strtoull(s, NULL, 10);
  return n;
}

struct semver {
  unsigned long long core[3];
  const char *pre; /* its identifiers, dot-separated, or NULL */
  size_t pre_len;
};

static bool
identifiers(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char) s[i]) && s[i] != '-' && !(s[i] == '.' && i > 0 && i + 1 < n && s[i + 1] != '.'))
      return false;
  return n > 0;
}

static bool
semver_parse(const char *v, struct semver *s)
{
  memset(s, 0, sizeof *s);
  v += *v == 'v' || *v == '=';
  for (int i = 0; i < 3; i++) {
    size_t n = number(v, &s->core[i]);
    if (n == 0 || (i < 2 && v[n] != '.'))
      return false;
    v += n + (i < 2);
  }
  if (*v == '-') {
    s->pre = ++v;
    s->pre_len = strcspn(v, "+");
    if (!identifiers(s->pre, s->pre_len))
      return false;
    v += s->pre_len;
  }
  if (*v == '+') {
    v++;
    if (!identifiers(v, strlen(v)))
      return false;
    v += strlen(v);
  }
  return *v == '\0';
}

static bool
all_digits(const char *s, size_t n)
{
  return n > 0 && strspn(s, "0123456789") >= n;
}

/* Two pre-release identifiers: numbers as numbers, before any other,
 * which are compared as ASCII. */
static int
identifier_cmp(const char *a, size_t na, const char *b, size_t nb)
{
  bool da = all_digits(a, na), db = all_digits(b, nb);

  if (da != db)
    return da ? -1 : 1;
  if (da) {
    while (na > 1 && *a == '0')
      a++, na--;
    while (nb > 1 && *b == '0')
      b++, nb--;
    if (na != nb)
      return na < nb ? -1 : 1;
  }
  int c = memcmp(a, b, na < nb ? na : nb);
  if (c)
    return c < 0 ? -1 : 1;
  return na == nb ? 0 : na < nb ? -1 : 1;
}

/* A version without a pre-release comes after its pre-releases; of two,
 * identifier by identifier, the longer list last. */
static int
prerelease_cmp(const struct semver *a, const struct semver *b)
{
  if (!a->pre || !b->pre)
    return !a->pre == !b->pre ? 0 : a->pre ? -1 : 1;
  const char *pa = a->pre, *pb = b->pre, *ea = a->pre + a->pre_len, *eb = b->pre + b->pre_len;
  while (pa < ea && pb < eb) {
    const char *xa = memchr(pa, '.', (size_t) (ea - pa)), *xb = memchr(pb, '.', (size_t) (eb - pb));
    size_t na = (size_t) ((xa ? xa : ea) - pa), nb = (size_t) ((xb ? xb : eb) - pb);
    int c = identifier_cmp(pa, na, pb, nb);
    if (c)
      return c;
    pa += na + (xa != NULL);
    pb += nb + (xb != NULL);
  }
  return pa < ea ? 1 : pb < eb ? -1 : 0;
}

/* Two versions that are not of the scheme: after every valid one, among
 * themselves as Debian orders an upstream version. */
static int
invalid_cmp(bool va, bool vb, const char *a, const char *b)
{
  if (va != vb)
    return va ? -1 : 1;
  return part_cmp(a, b);
}

int
semver_cmp(const char *a, const char *b)
{
  struct semver sa, sb;
  bool va = semver_parse(a, &sa), vb = semver_parse(b, &sb);

  if (!va || !vb)
    return invalid_cmp(va, vb, a, b);
  for (int i = 0; i < 3; i++)
    if (sa.core[i] != sb.core[i])
      return sa.core[i] < sb.core[i] ? -1 : 1;
  return prerelease_cmp(&sa, &sb);
}

/* ---- PEP 440 (Python) --------------------------------------------------- */

#define PEP440_RELEASE_MAX 32

enum { PRE_DEV_ONLY = -1, PRE_A, PRE_B, PRE_RC, PRE_NONE };

struct pep440 {
  unsigned long long epoch;
  unsigned long long release[PEP440_RELEASE_MAX];
  size_t n_release;
  int pre; /* PRE_*: a release with only a dev part comes before its pre-releases */
  unsigned long long pre_n, post, dev;
  bool has_post, has_dev;
  const char *local; /* after '+', or NULL */
};

/* `s` starts with one of `words` (longest first): its length, the index
 * in *which. */
static size_t
word(const char *s, const char *const *words, size_t n, size_t *which)
{
  for (size_t i = 0; i < n; i++)
    if (strncmp(s, words[i], strlen(words[i])) == 0) {
      *which = i;
      return strlen(words[i]);
    }
  return 0;
}

static const char *
separator(const char *s)
{
  return s + (*s == '.' || *s == '-' || *s == '_');
}

/* An optional separator, `words`, an optional separator and an optional
 * number (0 when absent): NULL when `s` does not start so. */
static const char *
segment(const char *s, const char *const *words, size_t n, size_t *which, unsigned long long *num)
{
  const char *p = separator(s);
  size_t k = word(p, words, n, which);

  if (k == 0)
    return NULL;
  p += k;
  const char *q = separator(p);
  size_t d = number(q, num);
  if (d == 0)
    *num = 0;
  return d ? q + d : p;
}

static const char *
pep440_release(const char *v, struct pep440 *p)
{
  do {
    size_t n = p->n_release < PEP440_RELEASE_MAX ? number(v, &p->release[p->n_release]) : 0;
    if (n == 0)
      return NULL;
    p->n_release++;
    v += n;
  } while (v[0] == '.' && isdigit((unsigned char) v[1]) && v++);
  return v;
}

static bool
pep440_parse(const char *lower, struct pep440 *p)
{
  static const char *const pre[] = { "alpha", "a", "beta", "b", "preview", "pre", "rc", "c" };
  static const int pre_kind[] = { PRE_A, PRE_A, PRE_B, PRE_B, PRE_RC, PRE_RC, PRE_RC, PRE_RC };
  static const char *const post[] = { "post", "rev", "r" }, *const dev[] = { "dev" };
  const char *v = lower + (*lower == 'v'), *next;
  size_t which, n;

  memset(p, 0, sizeof *p);
  p->pre = PRE_NONE;
  if ((n = number(v, &p->epoch)) > 0 && v[n] == '!')
    v += n + 1;
  else
    p->epoch = 0;
  if ((v = pep440_release(v, p)) == NULL)
    return false;
  if ((next = segment(v, pre, 8, &which, &p->pre_n)) != NULL) {
    p->pre = pre_kind[which];
    v = next;
  }
  if (v[0] == '-' && (n = number(v + 1, &p->post)) > 0) {
    p->has_post = true;
    v += 1 + n;
  } else if ((next = segment(v, post, 3, &which, &p->post)) != NULL) {
    p->has_post = true;
    v = next;
  }
  if ((next = segment(v, dev, 1, &which, &p->dev)) != NULL) {
    p->has_dev = true;
    v = next;
  }
  if (p->pre == PRE_NONE && !p->has_post && p->has_dev)
    p->pre = PRE_DEV_ONLY;
  if (*v == '+' && v[1]) {
    p->local = ++v;
    for (; *v; v++)
      if (!isalnum((unsigned char) *v) && !((*v == '.' || *v == '-' || *v == '_') && v[1] && isalnum((unsigned char) v[1])))
        return false;
  }
  return *v == '\0';
}

static int
ull_cmp(unsigned long long a, unsigned long long b)
{
  return a == b ? 0 : a < b ? -1 : 1;
}

/* Local labels: none before any; segment by segment, numbers as numbers
 * and after letters; the longer last. */
static int
local_cmp(const char *a, const char *b)
{
  if (!a || !b)
    return !a == !b ? 0 : a ? 1 : -1;
  while (*a && *b) {
    size_t na = strcspn(a, ".-_"), nb = strcspn(b, ".-_");
    bool da = all_digits(a, na), db = all_digits(b, nb);
    int c = da != db ? (da ? 1 : -1) : identifier_cmp(a, na, b, nb);
    if (c)
      return c;
    a += na + (a[na] != '\0');
    b += nb + (b[nb] != '\0');
  }
  return *a ? 1 : *b ? -1 : 0;
}

static int
pep440_key_cmp(const struct pep440 *a, const struct pep440 *b)
{
  int c = ull_cmp(a->epoch, b->epoch);
  size_t n = a->n_release > b->n_release ? a->n_release : b->n_release;

  for (size_t i = 0; i < n && c == 0; i++) /* 1.0 is 1.0.0 */
    c = ull_cmp(i < a->n_release ? a->release[i] : 0, i < b->n_release ? b->release[i] : 0);
  if (c == 0 && a->pre != b->pre)
    c = a->pre < b->pre ? -1 : 1;
  if (c == 0 && a->pre != PRE_NONE && a->pre != PRE_DEV_ONLY)
    c = ull_cmp(a->pre_n, b->pre_n);
  if (c == 0 && a->has_post != b->has_post)
    c = a->has_post ? 1 : -1;
  if (c == 0)
    c = ull_cmp(a->post, b->post);
  if (c == 0 && a->has_dev != b->has_dev) /* a dev release comes before its release */
    c = a->has_dev ? -1 : 1;
  if (c == 0)
    c = ull_cmp(a->dev, b->dev);
  return c ? c : local_cmp(a->local, b->local);
}

static char *
lowered(const char *s)
{
  char *l = xstrdup(s + strspn(s, " \t\n"));

  for (char *p = l; *p; p++)
    *p = (char) tolower((unsigned char) *p);
  l[strcspn(l, " \t\n")] = '\0';
  return l;
}

int
pep440_cmp(const char *a, const char *b)
{
  cleanup_free char *la = lowered(a), *lb = lowered(b);
  struct pep440 pa, pb;
  bool va = pep440_parse(la, &pa), vb = pep440_parse(lb, &pb);

  if (!va || !vb)
    return invalid_cmp(va, vb, a, b);
  return pep440_key_cmp(&pa, &pb);
}
