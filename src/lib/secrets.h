/* Credentials found by content: well-known token formats and the files
 * that carry them (cloud keys, forge and registry tokens, Docker auth
 * files, .netrc, .env assignments, JWTs in configuration), found while a
 * file streams by in chunks of any size, in the same pass that digests
 * and scans it.  Each rule has a short id that `check` prints and a
 * waiver can name.  The rules and their false-positive lessons follow the
 * families users know from Trivy's and gitleaks' rule sets; the code is
 * this project's. */
#ifndef DISTILL_SECRETS_H
#define DISTILL_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest token a rule reads past its start (an Azure connection
 * string's key, a fine-grained GitHub token): the window kept across
 * chunk seams. */
#define SECRETS_LOOKAHEAD 256
/* How far back a rule looks: to the start of an indented line. */
#define SECRETS_LOOKBACK 64
#define SECRETS_MAX_FINDINGS 8

struct secret_finding {
  const char *rule;  /* "github-token", ... */
  uint64_t offset;   /* of the first match of this rule in the file */
};

/* The state of one file's scan. */
struct secrets {
  unsigned kind;     /* what the file's name says it may hold (env, netrc, config) */
  unsigned seen;     /* needles met so far, for rules that need two of them */
  uint64_t base;     /* the file offset of window[0] */
  size_t len, next;  /* bytes in the window; the first position not yet tried */
  char window[SECRETS_LOOKBACK + SECRETS_LOOKAHEAD + 16384 + 1]; /* + a 0 after the last byte */
  uint64_t pending_auth; /* offset of a Docker "auth" value, until "auths" is seen too */
  struct secret_finding findings[SECRETS_MAX_FINDINGS];
  size_t n_findings;
};

/* `path` is the file's path in the image (its name narrows some rules). */
void secrets_init(struct secrets *s, const char *path);
void secrets_chunk(struct secrets *s, const void *data, size_t n);
/* The next `n` bytes of the file are not scanned: the positions before
 * them are tried with what came (as at the end of a file), and what comes
 * after starts afresh, at its offset, as after a line break. */
void secrets_gap(struct secrets *s, uint64_t n);
/* The end of the file: the positions still in the window, and the rules
 * that needed the whole file. */
void secrets_end(struct secrets *s);

/* The rule that best names what a finished scan found: a token format
 * before the place it sits in; NULL when nothing was found. */
const char *secrets_primary(const struct secrets *s);

/* Check a short value (an environment variable, a label, an argument) as
 * it stands; the first rule it breaks, or NULL. */
const char *secrets_in_value(const char *name, const char *value);

/* The rule of that id (its static string), or NULL. */
const char *secrets_rule(const char *id);

/* Every rule's id and what it finds, NULL-terminated, for docs and tests. */
struct secret_rule_info {
  const char *id, *what;
};
extern const struct secret_rule_info secret_rules[];

#endif
