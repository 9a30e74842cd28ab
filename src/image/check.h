/* The hardening checks of an image, ours or anyone's, after the OWASP
 * Docker Top 10 and the CIS Docker Benchmark (section 4, images).  Each
 * check has a stable id; its findings name the paths (and layers) at
 * fault.  A waiver accepts one finding: a check id and an exact path, with
 * the reason someone gave for it. */
#ifndef DISTILL_CHECK_H
#define DISTILL_CHECK_H

#include "lib/error.h"
#include "recipe/check_ids.h"
#include "image/image.h"
#include "lib/alloc.h"

/* In order of weight: a check's status is the heaviest of its findings'. */
enum check_status { CHECK_PASS, CHECK_WAIVED, CHECK_WARN, CHECK_FAIL };

struct check_report;

struct check_result {
  const char *id;
  const char *title;
  const char *refs; /* the CIS and OWASP items it serves */
  enum check_status status;
  struct strv findings; /* what fails or warns; names from the image escaped (escape.h's escape_text) */
  struct strv waived;   /* findings a waiver accepts, likewise */
  struct strv reasons;  /* the waiver's reason of each of `waived`, escaped */
  struct check_report *rep; /* while the checks run: the waivers */
};


struct check_options {
  const struct check_waiver *allow; /* accepted: their findings are waived */
  size_t n_allow;
  /* Recorded in the image (check_recorded_waivers): only mentioned with
   * the finding, which still fails, since an image must not be able to
   * waive its own findings. */
  const struct check_waiver *recorded;
  size_t n_recorded;
};

struct check_report {
  struct check_result results[CHECK_COUNT];
  size_t n_failed, n_warned, n_waived;
  const struct check_options *opt;
  bool *used; /* opt->allow[i] accepted a finding */
};

/* Run every check on an image read from `archive`; can-start only when
 * `can_start` (the build applies that rule to its plan, before writing).
 * `opt` may be NULL: no waivers. */
int check_image(const char *archive, const struct image *img, bool can_start, const struct check_options *opt,
                struct check_report *rep, struct derror *err);
void check_report_free(struct check_report *rep);
const char *check_status_name(enum check_status s);

/* That list as a compact JSON text (the caller frees it). */
char *check_waivers_json(const struct check_waiver *w, size_t n);

/* The waivers recorded in the image's manifest annotation, read again
 * from the archive (the manifest blob whose digest image_read verified);
 * none for archives without an OCI manifest (docker save).  The strings
 * are the caller's: check_waivers_free(). */
int check_recorded_waivers(const char *archive, const struct image *img, struct check_waiver **out, size_t *n,
                           struct derror *err);
void check_waivers_free(struct check_waiver *w, size_t n);

#endif
