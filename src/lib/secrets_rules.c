/* The rules of the secrets scanner (see secrets.h): each tried at a start
 * position the scanner in secrets.c hands over, with the bytes that follow. */
#include "lib/secrets.h"
#include "lib/secrets_rules.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

const struct secret_rule_info secret_rules[] = {
  { "aws-access-key-id", "an AWS access key id (AKIA..., ASIA...)" },
  { "aws-secret-access-key", "an AWS secret access key assigned to aws_secret_access_key" },
  { "gcp-service-account", "a Google Cloud service-account key (JSON with a private_key)" },
  { "github-token", "a GitHub token (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)" },
  { "gitlab-token", "a GitLab personal access token (glpat-)" },
  { "npm-token", "an npm token (npm_..., or an _authToken= line)" },
  { "pypi-token", "a PyPI upload token (pypi-...)" },
  { "slack-token", "a Slack token (xoxb-, xoxp-, ...)" },
  { "stripe-live-key", "a Stripe live secret or restricted key" },
  { "google-api-key", "a Google API key (AIza...)" },
  { "azure-storage-key", "an Azure storage connection string's AccountKey" },
  { "docker-auth", "a Docker or podman auth file with an \"auth\" credential" },
  { "netrc-password", "a .netrc entry with a password" },
  { "env-secret", "a password, secret or token assigned in a .env file" },
  { "jwt", "a JSON Web Token in a configuration file" },
  { NULL, NULL },
};

static bool
is_word(int c)
{
  return isalnum((unsigned char) c);
}

static bool
is_b64(int c)
{
  return isalnum((unsigned char) c) || c == '+' || c == '/' || c == '=';
}

static bool
is_urlsafe(int c)
{
  return isalnum((unsigned char) c) || c == '_' || c == '-';
}

static bool
is_upper32(int c)
{
  return (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7');
}

static bool
is_token(int c)
{
  return isalnum((unsigned char) c) || c == '_';
}

static bool
is_slack(int c)
{
  return isalnum((unsigned char) c) || c == '-';
}

/* How many bytes from `p` (at most `max`, `avail` there) are of class `cls`. */
static size_t
run(const char *p, size_t avail, size_t max, bool (*cls)(int))
{
  size_t n = 0;

  while (n < avail && n < max && cls(p[n]))
    n++;
  return n;
}

static bool
starts(const char *p, size_t avail, const char *s)
{
  size_t n = strlen(s);

  return avail >= n && memcmp(p, s, n) == 0;
}

static bool
starts_nocase(const char *p, size_t avail, const char *s)
{
  size_t n = strlen(s);

  return avail >= n && strncasecmp(p, s, n) == 0;
}

/* `len` bytes of class `cls` exactly, then no more of it. */
static bool
exactly(const char *p, size_t avail, size_t len, bool (*cls)(int))
{
  return run(p, avail, len + 1, cls) == len;
}

void
secrets_found(struct secrets *s, const char *rule, uint64_t offset)
{
  for (size_t i = 0; i < s->n_findings; i++)
    if (strcmp(s->findings[i].rule, rule) == 0)
      return;
  if (s->n_findings < SECRETS_MAX_FINDINGS)
    s->findings[s->n_findings++] = (struct secret_finding){ rule, offset };
}

/* Skip blanks, an assignment sign and an opening quote: `key = "value`. */
static size_t
skip_assignment(const char *p, size_t avail)
{
  size_t i = 0;

  while (i < avail && (p[i] == ' ' || p[i] == '\t'))
    i++;
  if (i == avail || (p[i] != '=' && p[i] != ':'))
    return 0;
  i++;
  while (i < avail && (p[i] == ' ' || p[i] == '\t' || p[i] == '"' || p[i] == '\''))
    i++;
  return i;
}

/* AWS's own documentation keys end in EXAMPLE (AKIAIOSFODNN7EXAMPLE). */
static bool
documented_example(const char *p, size_t n)
{
  return n >= 7 && memmem(p, n, "EXAMPLE", 7) != NULL;
}

/* ---- one start position each ------------------------------------------ */

static void
rule_aws(struct secrets *s, const char *p, size_t avail, uint64_t off)
{
  static const char *const prefixes[] = { "AKIA", "ASIA", "ABIA", "ACCA", NULL };
  bool prefix = avail >= 4 && p[0] == 'A' && p[1] == '3' && p[2] == 'T' && is_upper32(p[3]);

  for (size_t i = 0; !prefix && prefixes[i]; i++)
    prefix = starts(p, avail, prefixes[i]);
  if (prefix && exactly(p + 4, avail - 4, 16, is_upper32) && !is_word(avail > 20 ? p[20] : 0)
      && !documented_example(p, 20))
    secrets_found(s, "aws-access-key-id", off);
}

static void
rule_aws_secret(struct secrets *s, const char *p, size_t avail, uint64_t off)
{
  static const char *const keys[] = { "aws_secret_access_key", "aws_secret_key", "secret_access_key", NULL };

  if (avail < 2 || !(p[1] == 'w' || p[1] == 'W' || p[1] == 'e' || p[1] == 'E'))
    return;
  for (size_t k = 0; keys[k]; k++) {
    size_t n = strlen(keys[k]);
    if (!starts_nocase(p, avail, keys[k]))
      continue;
    size_t v = n + skip_assignment(p + n, avail - n);
    if (v > n && exactly(p + v, avail - v, 40, is_b64) && !documented_example(p + v, 40))
      secrets_found(s, "aws-secret-access-key", off);
    return;
  }
}

static void
rule_forges(struct secrets *s, const char *p, size_t avail, uint64_t off)
{
  static const char *const github[] = { "ghp_", "gho_", "ghu_", "ghs_", "ghr_", NULL };

  for (size_t i = 0; github[i]; i++)
    if (starts(p, avail, github[i]) && exactly(p + 4, avail - 4, 36, is_word))
      secrets_found(s, "github-token", off);
  if (starts(p, avail, "github_pat_") && run(p + 11, avail - 11, 83, is_token) == 82)
    secrets_found(s, "github-token", off);
  if (starts(p, avail, "glpat-") && exactly(p + 6, avail - 6, 20, is_urlsafe))
    secrets_found(s, "gitlab-token", off);
}

static void
rule_registries(struct secrets *s, const char *p, size_t avail, uint64_t off)
{
  if (starts(p, avail, "npm_") && exactly(p + 4, avail - 4, 36, is_word))
    secrets_found(s, "npm-token", off);
  if (starts(p, avail, "_authToken")) {
    size_t v = 10 + skip_assignment(p + 10, avail - 10);
    /* ${NPM_TOKEN} reads the token from the environment: no secret here */
    if (v > 10 && run(p + v, avail - v, 16, is_urlsafe) >= 16)
      secrets_found(s, "npm-token", off);
  }
  /* the base64 of the macaroon's location, "pypi.org" */
  if (starts(p, avail, "pypi-AgEIcHlwaS5vcmc") && run(p + 20, avail - 20, 50, is_urlsafe) >= 50)
    secrets_found(s, "pypi-token", off);
}

static void
rule_services(struct secrets *s, const char *p, size_t avail, uint64_t off)
{
  if (starts(p, avail, "xox") && avail > 4 && strchr("abposr", p[3]) && p[3] && p[4] == '-') {
    size_t digits = 0;
    while (5 + digits < avail && isdigit((unsigned char) p[5 + digits]))
      digits++;
    if (digits >= 8 && 5 + digits < avail && p[5 + digits] == '-'
        && run(p + 6 + digits, avail - 6 - digits, 24, is_slack) >= 12)
      secrets_found(s, "slack-token", off);
  }
  if ((starts(p, avail, "sk_live_") || starts(p, avail, "rk_live_")) && run(p + 8, avail - 8, 24, is_word) >= 24)
    secrets_found(s, "stripe-live-key", off);
  if (starts(p, avail, "AIza") && exactly(p + 4, avail - 4, 35, is_urlsafe))
    secrets_found(s, "google-api-key", off);
  if (starts(p, avail, "AccountKey=") && run(p + 11, avail - 11, 88, is_b64) >= 86)
    secrets_found(s, "azure-storage-key", off);
}

/* JSON needles: a Docker auth file, a GCP service-account key. */
static void
rule_json(struct secrets *s, const char *p, size_t avail, uint64_t off)
{
  if (starts(p, avail, "\"auths\""))
    s->seen |= SEEN_AUTHS;
  if (starts(p, avail, "\"private_key\"") && skip_assignment(p + 13, avail - 13))
    s->seen |= SEEN_PRIVATE_KEY;
  if (starts(p, avail, "\"type\"")) {
    size_t v = 6 + skip_assignment(p + 6, avail - 6);
    if (v > 6 && starts(p + v, avail - v, "service_account\""))
      s->seen |= SEEN_SERVICE_ACCOUNT;
  }
  if (starts(p, avail, "\"auth\"") && s->pending_auth == UINT64_MAX) {
    size_t v = 6 + skip_assignment(p + 6, avail - 6);
    /* "auth": "" or a short placeholder is no credential */
    if (v > 6 && run(p + v, avail - v, 12, is_b64) >= 12)
      s->pending_auth = off;
  }
}

static bool
blank(int c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The next blank-separated word from `*i`: its start and length. */
static size_t
next_word(const char *p, size_t avail, size_t *i)
{
  while (*i < avail && blank(p[*i]))
    (*i)++;
  size_t start = *i;
  while (*i < avail && !blank(p[*i]))
    (*i)++;
  return *i - start;
}

/* .netrc: "machine HOST" (or "default") at the start of a line, then
 * login, account or password pairs: a password among them is a
 * credential.  The words must follow one another as netrc has them; prose
 * and program strings that merely say "default password" do not. */
static void
rule_netrc(struct secrets *s, const char *p, size_t avail, uint64_t off, bool line_start)
{
  size_t i = 0, n;

  if (!line_start)
    return;
  if (starts(p, avail, "machine") && avail > 7 && blank(p[7])) {
    i = 7;
    if (next_word(p, avail, &i) == 0)
      return;
  } else if (starts(p, avail, "default") && avail > 7 && blank(p[7])) {
    i = 7;
  } else {
    return;
  }
  for (int pairs = 0; pairs < 3 && (n = next_word(p, avail, &i)) > 0; pairs++) {
    const char *word = p + i - n;
    bool password = n == 8 && memcmp(word, "password", 8) == 0;
    if (!password && !(n == 5 && memcmp(word, "login", 5) == 0) && !(n == 7 && memcmp(word, "account", 7) == 0))
      return;
    if (next_word(p, avail, &i) == 0)
      return;
    if (password) {
      secrets_found(s, "netrc-password", off);
      return;
    }
  }
}

/* A value that only names where the secret will come from. */
static bool
placeholder(const char *v, size_t n)
{
  static const char *const words[] = { "${", "$(", "<", "changeme", "change_me", "xxxx", "****", "example",
                                       "your_", "your-", "placeholder", "secret", "password", NULL };

  for (size_t i = 0; words[i]; i++) {
    size_t w = strlen(words[i]);
    if (n >= w && strncasecmp(v, words[i], w) == 0)
      return true;
  }
  return false;
}

/* NAME=VALUE at the start of a line of a .env file, NAME saying secret. */
static void
rule_env(struct secrets *s, const char *p, size_t avail, uint64_t off, int prev)
{
  static const char *const names[] = { "PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "APIKEY",
                                       "ACCESS_KEY", "PRIVATE_KEY", NULL };

  if (!(prev == 0 || prev == '\n') || !(s->kind & KIND_ENV))
    return;
  size_t i = starts(p, avail, "export ") ? 7 : 0, name = i;
  while (i < avail && (is_token(p[i])))
    i++;
  if (i == name || i >= avail || p[i] != '=')
    return;
  bool secret = false;
  for (size_t k = 0; names[k] && !secret; k++) {
    size_t n = strlen(names[k]);
    for (size_t j = name; j + n <= i && !secret; j++)
      secret = strncasecmp(p + j, names[k], n) == 0;
  }
  const char *v = p + i + 1 + (i + 1 < avail && (p[i + 1] == '"' || p[i + 1] == '\''));
  size_t vlen = 0;
  while (v + vlen < p + avail && !blank(v[vlen]) && v[vlen] != '"' && v[vlen] != '\'')
    vlen++;
  /* DB_PASSWORD_FILE=/run/secrets/db names where the secret is */
  bool reference = (i - name >= 5 && (strncasecmp(p + i - 5, "_FILE", 5) == 0 || strncasecmp(p + i - 5, "_PATH", 5) == 0))
                   || (vlen > 0 && v[0] == '/') || memmem(v, vlen, "://", 3) != NULL;
  /* TOKEN_URL=https://..., a path, a documented example: not a secret */
  reference |= documented_example(v, vlen);
  if (secret && vlen >= 8 && !reference && !placeholder(v, vlen))
    secrets_found(s, "env-secret", off);
}

/* header.payload.signature, both JSON parts starting '{"' in base64url. */
static void
rule_jwt(struct secrets *s, const char *p, size_t avail, uint64_t off)
{
  if (!(s->kind & (KIND_CONFIG | KIND_ENV)) || !starts(p, avail, "eyJ"))
    return;
  size_t a = run(p, avail, SECRETS_LOOKAHEAD, is_urlsafe);
  if (a < 13 || a >= avail || p[a] != '.' || !starts(p + a + 1, avail - a - 1, "eyJ"))
    return;
  size_t b = run(p + a + 1, avail - a - 1, SECRETS_LOOKAHEAD, is_urlsafe);
  size_t c = a + 1 + b;
  if (b >= 13 && c < avail && p[c] == '.' && run(p + c + 1, avail - c - 1, 16, is_urlsafe) >= 16)
    secrets_found(s, "jwt", off);
}

/* Only blanks between the last newline and window[i]; the window keeps
 * SECRETS_LOOKBACK bytes before the next position for this. */
static bool
at_line_start(const struct secrets *s, size_t i)
{
  size_t j = i;

  while (j > 0 && (s->window[j - 1] == ' ' || s->window[j - 1] == '\t'))
    j--;
  return j > 0 ? s->window[j - 1] == '\n' : s->base == 0;
}

/* Each case of secrets_try_at() below, by its first two bytes. */
const char *const secrets_rule_starts[] = {
  "AK", "AS", "AB", "AC", "A3", "AI", "Ac", "AW", "aw", "se", "SE", "sk", "gh", "gi", "gl", "np", "_a", "py",
  "xo", "rk", "\"a", "\"p", "\"t", "ey", "ma", "de", NULL,
};

void
secrets_try_at(struct secrets *s, size_t i, size_t avail)
{
  const char *p = s->window + i;
  uint64_t off = s->base + i;
  int prev = off == 0 ? 0 : (unsigned char) s->window[i - 1];

  /* tokens start on a word boundary: inside a longer base64 run, the
   * same letters are chance */
  bool boundary = !is_word(prev);

  switch (p[0]) {
  case 'A':
    if (boundary)
      rule_aws(s, p, avail, off);
    rule_aws_secret(s, p, avail, off);
    rule_services(s, p, avail, off);
    break;
  case 'a':
  case 's':
  case 'S':
    rule_aws_secret(s, p, avail, off);
    if (boundary)
      rule_services(s, p, avail, off);
    break;
  case 'g':
    if (boundary)
      rule_forges(s, p, avail, off);
    break;
  case 'n':
  case '_':
  case 'p':
    rule_registries(s, p, avail, off);
    break;
  case 'x':
  case 'r':
    if (boundary)
      rule_services(s, p, avail, off);
    break;
  case '"':
    rule_json(s, p, avail, off);
    break;
  case 'e':
    rule_jwt(s, p, avail, off);
    break;
  case 'm':
  case 'd':
    if (!(s->kind & KIND_DOCS))
      rule_netrc(s, p, avail, off, at_line_start(s, i));
    break;
  default:
    break;
  }
  if (s->kind & KIND_ENV)
    rule_env(s, p, avail, off, prev);
}
