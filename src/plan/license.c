/* The declared license of a Debian package in SPDX terms, from its
 * machine-readable copyright file. */
#include "plan/license.h"
#include "lib/alloc.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

/* Debian's short license names (copyright format 1.0, "License
 * specification") and the SPDX identifiers of the same licenses. */
static const struct {
  const char *debian, *spdx;
} licenses[] = {
  { "Apache-2.0", "Apache-2.0" },
  { "Artistic", "Artistic-1.0" },
  { "Artistic-2.0", "Artistic-2.0" },
  { "BSD-2-clause", "BSD-2-Clause" },
  { "BSD-3-clause", "BSD-3-Clause" },
  { "BSD-4-clause", "BSD-4-Clause" },
  { "BSL-1.0", "BSL-1.0" },
  { "CC0-1.0", "CC0-1.0" },
  { "CC-BY-3.0", "CC-BY-3.0" },
  { "CC-BY-4.0", "CC-BY-4.0" },
  { "CC-BY-SA-3.0", "CC-BY-SA-3.0" },
  { "CC-BY-SA-4.0", "CC-BY-SA-4.0" },
  { "curl", "curl" },
  { "Expat", "MIT" },
  { "FSFAP", "FSFAP" },
  { "FSFUL", "FSFUL" },
  { "FSFULLR", "FSFULLR" },
  { "GFDL-1.2", "GFDL-1.2-only" },
  { "GFDL-1.2+", "GFDL-1.2-or-later" },
  { "GFDL-1.3", "GFDL-1.3-only" },
  { "GFDL-1.3+", "GFDL-1.3-or-later" },
  { "GPL-1", "GPL-1.0-only" },
  { "GPL-1+", "GPL-1.0-or-later" },
  { "GPL-2", "GPL-2.0-only" },
  { "GPL-2+", "GPL-2.0-or-later" },
  { "GPL-3", "GPL-3.0-only" },
  { "GPL-3+", "GPL-3.0-or-later" },
  { "ISC", "ISC" },
  { "LGPL-2", "LGPL-2.0-only" },
  { "LGPL-2+", "LGPL-2.0-or-later" },
  { "LGPL-2.1", "LGPL-2.1-only" },
  { "LGPL-2.1+", "LGPL-2.1-or-later" },
  { "LGPL-3", "LGPL-3.0-only" },
  { "LGPL-3+", "LGPL-3.0-or-later" },
  { "MIT", "MIT" },
  { "MPL-1.1", "MPL-1.1" },
  { "MPL-2.0", "MPL-2.0" },
  { "OpenSSL", "OpenSSL" },
  { "PSF-2", "PSF-2.0" },
  { "Python-2.0", "Python-2.0" },
  { "Unicode-DFS-2016", "Unicode-DFS-2016" },
  { "X11", "X11" },
  { "Zlib", "Zlib" },
  { "zlib", "Zlib" },
};

/* Letters, digits, '.' and '-': what SPDX identifiers are made of; '+'
 * becomes "plus", runs of anything else one '-'. */
char *
license_idstring(const char *s)
{
  struct buf b = { 0 };

  for (const char *p = s; *p; p++) {
    if (isalnum((unsigned char) *p) || *p == '.' || *p == '-')
      buf_append(&b, p, 1);
    else if (*p == '+')
      buf_printf(&b, "plus");
    else if (b.len && b.data[b.len - 1] != '-')
      buf_append(&b, "-", 1);
  }
  if (b.data == NULL)
    buf_append(&b, "none", 4);
  return b.data;
}

/* One license of a copyright file ("GPL-2+", or "GPL-2+ with Autoconf
 * exception") as an SPDX identifier: the SPDX license list's when Debian's
 * short name has one, else LicenseRef-<name> (remembered in `refs`). */
static char *
spdx_license(const char *name, struct license_refs *refs)
{
  for (size_t i = 0; i < sizeof licenses / sizeof *licenses; i++)
    if (strcmp(name, licenses[i].debian) == 0 || strcmp(name, licenses[i].spdx) == 0)
      return xstrdup(licenses[i].spdx);
  cleanup_free char *id = license_idstring(name);
  char *ref = xasprintf("LicenseRef-%s", id);
  if (!strv_contains(&refs->ids, ref)) {
    strv_push(&refs->ids, ref);
    strv_push(&refs->names, name);
  }
  return ref;
}

/* Part of a License field with no comma ("GPL-2+ or LGPL-3+") as an SPDX
 * expression: the words between "and" and "or" are one license each, an
 * exception ("with ... exception") included. */
static char *
spdx_terms(const char *line, struct license_refs *refs)
{
  cleanup_free char *copy = xstrdup(line);
  struct buf out = { 0 }, term = { 0 };
  size_t terms = 0;

  for (char *save = NULL, *w = strtok_r(copy, " \t", &save);; w = strtok_r(NULL, " \t", &save)) {
    bool op = w && (strcasecmp(w, "or") == 0 || strcasecmp(w, "and") == 0);
    if ((w == NULL || op) && term.len) {
      cleanup_free char *id = spdx_license(term.data, refs);
      buf_printf(&out, "%s", id);
      term.len = 0;
      terms++;
    }
    if (w == NULL)
      break;
    if (op) {
      if (out.len)
        buf_printf(&out, " %s ", strcasecmp(w, "or") == 0 ? "OR" : "AND");
      continue;
    }
    buf_printf(&term, "%s%s", term.len ? " " : "", w);
  }
  buf_free(&term);
  /* an operator with nothing after it */
  while (out.len && out.data[out.len - 1] == ' ') {
    char *sp = strrchr(out.data, ' ');
    *sp = '\0';
    out.len = (size_t) (sp - out.data);
    sp = strrchr(out.data, ' ');
    if (sp == NULL)
      break;
    *sp = '\0';
    out.len = (size_t) (sp - out.data);
  }
  if (out.data == NULL || out.len == 0) {
    buf_free(&out);
    return NULL;
  }
  if (terms > 1) {
    char *wrapped = xasprintf("(%s)", out.data);
    buf_free(&out);
    return wrapped;
  }
  return out.data;
}

/* The first line of a License field as an SPDX expression.  Debian groups
 * with commas: "A or B, and C" is (A or B) and C. */
static char *
spdx_expression(const char *line, struct license_refs *refs)
{
  cleanup_free char *copy = xstrdup(line);
  char *save = NULL, *seg = strtok_r(copy, ",", &save);
  char *expr = seg ? spdx_terms(seg, refs) : NULL;

  for (seg = strtok_r(NULL, ",", &save); expr && seg; seg = strtok_r(NULL, ",", &save)) {
    seg += strspn(seg, " \t");
    size_t w = strcspn(seg, " \t");
    const char *op = w == 2 && strncasecmp(seg, "or", 2) == 0 ? "OR" : "AND";
    if ((w == 2 && strncasecmp(seg, "or", 2) == 0) || (w == 3 && strncasecmp(seg, "and", 3) == 0))
      seg += w;
    cleanup_free char *rest = spdx_terms(seg, refs);
    if (rest == NULL)
      continue;
    char *joined = xasprintf("(%s %s %s)", expr, op, rest);
    free(expr);
    expr = joined;
  }
  return expr;
}

char *
license_declared(const char *copyright, size_t len, struct license_refs *refs)
{
  struct strv exprs = { 0 };
  struct buf all = { 0 };
  bool dep5 = false, in_files = false, header = true;

  for (const char *line = copyright; line < copyright + len;) {
    const char *eol = memchr(line, '\n', (size_t) (copyright + len - line));
    size_t n = eol ? (size_t) (eol - line) : (size_t) (copyright + len - line);
    cleanup_free char *l = xstrndup(line, n);
    if (header && strncmp(l, "Format:", 7) == 0 && strstr(l, "copyright-format/1.0"))
      dep5 = true;
    if (strspn(l, " \t") == n) {
      /* a paragraph ends: the header's License counts, a Files one's too */
      header = false;
      in_files = false;
    } else if (strncmp(l, "Files:", 6) == 0) {
      in_files = true;
    } else if (strncmp(l, "License:", 8) == 0 && (in_files || header)) {
      const char *v = l + 8 + strspn(l + 8, " \t");
      cleanup_free char *e = *v ? spdx_expression(v, refs) : NULL;
      if (e && !strv_contains(&exprs, e))
        strv_push(&exprs, e);
    }
    line += n + 1;
  }
  if (!dep5 || exprs.n == 0) {
    strv_free(&exprs);
    return NULL;
  }
  for (size_t i = 0; i < exprs.n; i++)
    buf_printf(&all, "%s%s", i ? " AND " : "", exprs.items[i]);
  strv_free(&exprs);
  return all.data;
}

void
license_refs_free(struct license_refs *refs)
{
  strv_free(&refs->ids);
  strv_free(&refs->names);
  strv_free(&refs->owners);
}

/* SPDX license list identifiers that packages of npm, PyPI, crates.io and
 * Go modules commonly declare, besides those of the table above. */
static const char *const more_ids[] = {
  "0BSD", "AFL-2.1", "AFL-3.0", "AGPL-3.0-only", "AGPL-3.0-or-later", "Apache-1.1", "BlueOak-1.0.0", "BSD-1-Clause",
  "BSD-2-Clause-Patent", "BSD-3-Clause-Clear", "BSD-Source-Code", "CC-BY-SA-2.0", "CC0-1.0", "CDDL-1.0", "CDDL-1.1",
  "EPL-1.0", "EPL-2.0", "EUPL-1.2", "GPL-2.0", "GPL-2.0+", "GPL-3.0", "GPL-3.0+", "LGPL-2.1", "LGPL-2.1+", "LGPL-3.0",
  "LGPL-3.0+", "MIT-0", "MPL-1.0", "MPL-2.0-no-copyleft-exception", "MS-PL", "MulanPSL-2.0", "NCSA", "ODC-By-1.0",
  "OFL-1.1", "PostgreSQL", "Python-2.0.1", "Ruby", "Unicode-3.0", "Unicode-TOU", "Unlicense", "UPL-1.0", "W3C",
  "WTFPL", "ZPL-2.1", "HPND", "LGPL-2.0", "AGPL-3.0", "CC-BY-2.0", "CC-BY-2.5", "MIT-CMU", "OLDAP-2.8", "Vim",
};
/* SPDX license exceptions (after WITH). */
static const char *const exceptions[] = {
  "Autoconf-exception-3.0", "Bison-exception-2.2", "Classpath-exception-2.0", "GCC-exception-2.0",
  "GCC-exception-3.1", "LLVM-exception", "OpenSSL-exception", "Qt-GPL-exception-1.0", "Swift-exception",
};

/* The canonical spelling of a license identifier (matched without regard
 * to case, as SPDX says), or NULL. */
static const char *
known_id(const char *id, size_t n, bool exception)
{
  size_t count = exception ? sizeof exceptions / sizeof *exceptions : sizeof more_ids / sizeof *more_ids;
  for (size_t i = 0; i < count; i++) {
    const char *k = exception ? exceptions[i] : more_ids[i];
    if (strlen(k) == n && strncasecmp(k, id, n) == 0)
      return k;
  }
  for (size_t i = 0; !exception && i < sizeof licenses / sizeof *licenses; i++)
    if (strlen(licenses[i].spdx) == n && strncasecmp(licenses[i].spdx, id, n) == 0)
      return licenses[i].spdx;
  return NULL;
}

struct expr_parser {
  const char *p;
  struct buf out;
  int depth;
};

/* The next token: '(' or ')', or a word of idstring characters and '+'. */
static size_t
expr_token(struct expr_parser *x, const char **tok)
{
  x->p += strspn(x->p, " \t");
  *tok = x->p;
  if (*x->p == '(' || *x->p == ')')
    return 1;
  size_t n = 0;
  while (isalnum((unsigned char) x->p[n]) || x->p[n] == '.' || x->p[n] == '-' || x->p[n] == '+')
    n++;
  return n;
}

static bool
expr_word(struct expr_parser *x, const char *word)
{
  const char *tok;
  size_t n = expr_token(x, &tok);
  if (n != strlen(word) || strncasecmp(tok, word, n) != 0)
    return false;
  x->p += n;
  return true;
}

static bool expr_or(struct expr_parser *x);

/* simple ["WITH" exception] | "(" or ")" */
static bool
expr_primary(struct expr_parser *x)
{
  const char *tok;
  size_t n = expr_token(x, &tok);
  if (n == 1 && *tok == '(') {
    x->p++;
    buf_append(&x->out, "(", 1);
    if (++x->depth > 16 || !expr_or(x) || expr_token(x, &tok) != 1 || *tok != ')')
      return false;
    x->p++;
    x->depth--;
    buf_append(&x->out, ")", 1);
    return true;
  }
  bool plus = n > 1 && tok[n - 1] == '+';
  const char *id = n ? known_id(tok, n - plus, false) : NULL;
  if (id == NULL)
    return false;
  buf_printf(&x->out, "%s%s", id, plus ? "+" : "");
  x->p += n;
  if (!expr_word(x, "WITH"))
    return true;
  n = expr_token(x, &tok);
  if ((id = known_id(tok, n, true)) == NULL)
    return false;
  buf_printf(&x->out, " WITH %s", id);
  x->p += n;
  return true;
}

static bool
expr_and(struct expr_parser *x)
{
  if (!expr_primary(x))
    return false;
  while (expr_word(x, "AND")) {
    buf_printf(&x->out, " AND ");
    if (!expr_primary(x))
      return false;
  }
  return true;
}

static bool
expr_or(struct expr_parser *x)
{
  if (!expr_and(x))
    return false;
  while (expr_word(x, "OR")) {
    buf_printf(&x->out, " OR ");
    if (!expr_and(x))
      return false;
  }
  return true;
}

char *
license_spdx_expression(const char *s)
{
  struct expr_parser x = { .p = s };

  if (s == NULL || strlen(s) > 1024 || !expr_or(&x) || x.p[strspn(x.p, " \t")] != '\0') {
    buf_free(&x.out);
    return NULL;
  }
  return x.out.data;
}
