/* What the secrets scanner (secrets.c) and its rules (secrets_rules.c)
 * share: the file's kind, the needles met, and the entry to the rules. */
#ifndef DISTILL_SECRETS_RULES_H
#define DISTILL_SECRETS_RULES_H

#include "lib/secrets.h"

#include <stddef.h>
#include <stdint.h>

/* What a file's name says it may hold: the weaker rules (a password in a
 * .env line, a JWT) fire only where such values are configuration, and
 * none of those in documentation, whose examples look exactly like them. */
enum {
  KIND_ENV = 1 << 0,    /* .env, x.env, .env.production */
  KIND_CONFIG = 1 << 1, /* /etc, *.json, *.yaml, *.conf, ... */
  KIND_DOCS = 1 << 2,   /* /usr/share/doc, man, info */
};

/* Needles that make a finding only together. */
enum {
  SEEN_AUTHS = 1 << 0,          /* "auths" (a Docker or podman auth file) */
  SEEN_SERVICE_ACCOUNT = 1 << 1, /* "type": "service_account" */
  SEEN_PRIVATE_KEY = 1 << 2,    /* "private_key": */
};

/* The first two bytes of every start position some rule acts on,
 * NULL-terminated: the scanner passes over every other position. */
extern const char *const secrets_rule_starts[];

/* Try the rules at window[i], `avail` bytes from there to the window's end. */
void secrets_try_at(struct secrets *s, size_t i, size_t avail);
/* Note a finding of `rule` at `offset`, once per rule. */
void secrets_found(struct secrets *s, const char *rule, uint64_t offset);

#endif
