/* The hardening checks of an image, ours or anyone's, after the OWASP
 * Docker Top 10 and the CIS Docker Benchmark (section 4, images).  Each
 * check has a stable id; its findings name the paths (and layers) at
 * fault. */
#ifndef DISTILL_CHECK_H
#define DISTILL_CHECK_H

#include "distill/error.h"
#include "distill/image.h"
#include "distill/util.h"

enum check_status { CHECK_PASS, CHECK_WARN, CHECK_FAIL };

struct check_result {
  const char *id;
  const char *title;
  const char *refs; /* the CIS and OWASP items it serves */
  enum check_status status;
  struct strv findings;
};

#define CHECK_COUNT 11

struct check_report {
  struct check_result results[CHECK_COUNT];
  size_t n_failed, n_warned;
};

/* Run every check on an image read from `archive`; can-start only when
 * `can_start` (the build applies that rule to its plan, before writing). */
int check_image(const char *archive, const struct image *img, bool can_start, struct check_report *rep,
                struct derror *err);
void check_report_free(struct check_report *rep);
const char *check_status_name(enum check_status s);

#endif
