/* Running the checks: each check's result made of its findings, waived
 * or not, and the report of them all.  The checks themselves are grouped
 * by what they read: check_files.c, check_config.c, and the can-start
 * rule here. */
#include "image/check.h"
#include "image/escape.h"
#include "image/finding.h"
#include "image/image_view.h"
#include "image/image.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "plan/start.h"
#include "recipe/check_ids.h"

#include <jansson.h>
#include <stdarg.h>
#include <string.h>

const char *
check_status_name(enum check_status s)
{
  switch (s) {
  case CHECK_PASS:
    return "pass";
  case CHECK_WARN:
    return "warn";
  case CHECK_FAIL:
    return "fail";
  case CHECK_WAIVED:
    return "waived";
  }
  return "?";
}

/* ---- findings --------------------------------------------------------- */

static struct check_result *
start(struct check_report *rep, size_t i, const char *title, const char *refs)
{
  struct check_result *r = &rep->results[i];
  r->id = check_ids[i];
  r->title = title;
  r->refs = refs;
  r->status = CHECK_PASS;
  r->rep = rep;
  return r;
}

/* The waiver of check `id` (or of credential rule `rule`, when not NULL)
 * for `path`. */
static const struct check_waiver *
waiver_for(const struct check_waiver *w, size_t n, const char *id, const char *rule, const char *path, size_t *at)
{
  for (size_t i = 0; path && i < n; i++)
    if ((strcmp(w[i].id, id) == 0 || (rule && strcmp(w[i].id, rule) == 0)) && strcmp(w[i].path, path) == 0) {
      if (at)
        *at = i;
      return &w[i];
    }
  return NULL;
}

static void vfinding(struct check_result *r, enum check_status s, const char *path, const char *rule, const char *fmt,
                     va_list ap) DISTILL_PRINTF(5, 0);

/* A finding about `path` (as in the image; NULL when it names no file),
 * its message made of names already escaped with escape_text: waived when
 * a waiver accepts it, by the check's id or by the credential rule's.
 * escape_controls once more, so that no message can forge a line,
 * whoever wrote it. */
static void
vfinding(struct check_result *r, enum check_status s, const char *path, const char *rule, const char *fmt,
         va_list ap)
{
  const struct check_options *opt = r->rep->opt;
  size_t at;
  char *raw = xvasprintf(fmt, ap);
  cleanup_free char *msg = escape_controls(raw);
  free(raw);
  const struct check_waiver *w = opt ? waiver_for(opt->allow, opt->n_allow, r->id, rule, path, &at) : NULL;
  if (w) {
    r->rep->used[at] = true;
    strv_push_take(&r->waived, steal_pointer(&msg));
    strv_push_take(&r->reasons, escape_text(w->reason));
    if (r->status < CHECK_WAIVED)
      r->status = CHECK_WAIVED;
    return;
  }
  w = opt ? waiver_for(opt->recorded, opt->n_recorded, r->id, rule, path, NULL) : NULL;
  if (w) {
    cleanup_free char *reason = escape_text(w->reason);
    cleanup_free char *p = escape_text(path);
    strv_push_take(&r->findings, xasprintf("%s (the image records a waiver: \"%s\"; --allow %s:%s accepts it)", msg,
                                           reason, r->id, p));
  } else {
    strv_push_take(&r->findings, steal_pointer(&msg));
  }
  if (s > r->status)
    r->status = s;
}

void
finding(struct check_result *r, enum check_status s, const char *path, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vfinding(r, s, path, NULL, fmt, ap);
  va_end(ap);
}

/* A credential found by rule `rule`: a failure a waiver may name by the
 * rule's id too. */
void
rule_finding(struct check_result *r, const char *path, const char *rule, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vfinding(r, CHECK_FAIL, path, rule, fmt, ap);
  va_end(ap);
}

/* Messages of the reader name paths of the image as they are. */
void
error_finding(struct check_result *r, enum check_status s, const char *path, struct derror *err)
{
  cleanup_free char *msg = escape_text(err->msg);
  finding(r, s, path, "%s", msg);
  derror_clear(err);
}

static void
json_strv(json_t *a, struct strv *out)
{
  size_t i;
  json_t *v;

  json_array_foreach(a, i, v)
  {
    if (json_is_string(v))
      strv_push(out, json_string_value(v));
  }
}

/* The rule the build refuses an image by, on anyone's image: the program
 * the runtime executes, its interpreter and its libraries, as the run-as
 * user, in the image's own tree. */
static void
check_start(const char *archive, const struct image *img, struct check_result *r)
{
  json_t *config = json_object_get(img->config, "config");
  struct strv entrypoint = { 0 }, cmd = { 0 }, env = { 0 }, problems = { 0 }, notes = { 0 };
  struct derror err = DERROR_INIT;
  struct image_view iv;
  struct start_config cfg = { &entrypoint, &cmd, &env, json_string_value(json_object_get(config, "WorkingDir")), 0,
                              0 };

  if (image_view_open(&iv, archive, img, &err) < 0) {
    error_finding(r, CHECK_FAIL, NULL, &err);
    return;
  }
  json_strv(json_object_get(config, "Entrypoint"), &entrypoint);
  json_strv(json_object_get(config, "Cmd"), &cmd);
  json_strv(json_object_get(config, "Env"), &env);
  if (cfg.work_dir && *cfg.work_dir == '\0')
    cfg.work_dir = NULL;
  if (start_user(&iv.view, json_string_value(json_object_get(config, "User")), &cfg.uid, &cfg.gid, &err) < 0
      || start_check(&iv.view, &cfg, &problems, &notes, &err) < 0)
    error_finding(r, CHECK_FAIL, NULL, &err);
  /* start_check's sentences name the image's paths as they are */
  for (size_t i = 0; i < problems.n; i++) {
    cleanup_free char *msg = escape_text(problems.items[i]);
    finding(r, CHECK_FAIL, NULL, "%s", msg);
  }
  for (size_t i = 0; i < notes.n; i++) {
    cleanup_free char *msg = escape_text(notes.items[i]);
    finding(r, CHECK_WARN, NULL, "%s", msg);
  }
  strv_free(&entrypoint);
  strv_free(&cmd);
  strv_free(&env);
  strv_free(&problems);
  strv_free(&notes);
  image_view_close(&iv);
}

int
check_image(const char *archive, const struct image *img, bool can_start, const struct check_options *opt,
            struct check_report *rep, struct derror *err)
{
  memset(rep, 0, sizeof *rep);
  rep->opt = opt;
  rep->used = xcalloc(opt && opt->n_allow ? opt->n_allow : 1, sizeof *rep->used);
  check_user(img, start(rep, 0, "runs as a numeric, non-root user", "CIS 4.1, OWASP D01"));
  check_programs(img, start(rep, 1, "no shell", "CIS 4.3, OWASP D04"),
                 start(rep, 2, "no package manager", "CIS 4.3, OWASP D04"));
  check_modes(img, start(rep, 3, "no setuid or setgid file", "CIS 4.8, OWASP D04"),
              start(rep, 4, "nothing world-writable but sticky directories", "OWASP D04, D09"),
              start(rep, 5, "programs owned by root, not writable by group or other", "OWASP D09"),
              start(rep, 6, "no device files", "OWASP D04"));
  check_secrets(img, start(rep, 7, "no private keys or credentials in any layer or the config", "CIS 4.10, OWASP D06"));
  check_config_secrets(img, &rep->results[7]);
  check_ca(archive, img, start(rep, 8, "a CA bundle that parses", "OWASP D04"));
  check_ports(img, start(rep, 9, "no exposed port below 1024", "OWASP D04"));
  struct check_result *cs = start(rep, 10, "the entrypoint, its interpreter and libraries are there and usable "
                                           "by the user", "OWASP D04");
  if (can_start)
    check_start(archive, img, cs);
  check_healthcheck(img, start(rep, 11, "a service (exposed ports) has a health check", "CIS 4.6"));
  for (size_t i = 0; i < CHECK_COUNT; i++) {
    rep->n_failed += rep->results[i].status == CHECK_FAIL;
    rep->n_warned += rep->results[i].status == CHECK_WARN;
    rep->n_waived += rep->results[i].waived.n;
    rep->results[i].rep = NULL;
  }
  return 0;
}

void
check_report_free(struct check_report *rep)
{
  for (size_t i = 0; i < CHECK_COUNT; i++) {
    strv_free(&rep->results[i].findings);
    strv_free(&rep->results[i].waived);
    strv_free(&rep->results[i].reasons);
  }
  free(rep->used);
  rep->used = NULL;
}
