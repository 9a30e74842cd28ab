/* What the checks share, for the files they are grouped in by what they
 * read (check_files.c, check_config.c; the can-start rule in check.c):
 * making a finding, and each group's checks.  Not for callers of check.h. */
#ifndef DISTILL_FINDING_H
#define DISTILL_FINDING_H

#include "image/check.h"
#include "image/image.h"
#include "lib/error.h"

/* A finding about `path` (as in the image; NULL when it names no file),
 * its message made of names already escaped with escape_text: waived when
 * a waiver accepts it. */
void finding(struct check_result *r, enum check_status s, const char *path, const char *fmt, ...)
  DISTILL_PRINTF(4, 5);
/* A credential found by rule `rule`: a failure a waiver may name by the
 * rule's id too. */
void rule_finding(struct check_result *r, const char *path, const char *rule, const char *fmt, ...)
  DISTILL_PRINTF(4, 5);
/* The error `err` as a finding (and cleared). */
void error_finding(struct check_result *r, enum check_status s, const char *path, struct derror *err);

/* check_files.c */
void check_programs(const struct image *img, struct check_result *shell, struct check_result *pm);
void check_modes(const struct image *img, struct check_result *suid, struct check_result *ww,
                 struct check_result *exe, struct check_result *dev);
void check_secrets(const struct image *img, struct check_result *r);
void check_ca(const char *archive, const struct image *img, struct check_result *r);

/* check_config.c */
void check_user(const struct image *img, struct check_result *r);
void check_config_secrets(const struct image *img, struct check_result *r);
void check_ports(const struct image *img, struct check_result *r);
void check_healthcheck(const struct image *img, struct check_result *r);

#endif
