#include "distill/check.h"
#include "distill/image_view.h"
#include "distill/start.h"
#include "distill/base.h"
#include "distill/policy.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CA_BUNDLE_MAX (16u * 1024 * 1024)

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
  }
  return "?";
}

static struct check_result *
start(struct check_report *rep, size_t i, const char *id, const char *title, const char *refs)
{
  struct check_result *r = &rep->results[i];
  r->id = id;
  r->title = title;
  r->refs = refs;
  r->status = CHECK_PASS;
  return r;
}

static void finding(struct check_result *r, enum check_status s, const char *fmt, ...) DISTILL_PRINTF(3, 4);

static void
finding(struct check_result *r, enum check_status s, const char *fmt, ...)
{
  va_list ap;
  char *msg;

  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    oom();
  va_end(ap);
  strv_push_take(&r->findings, msg);
  if (s > r->status)
    r->status = s;
}

static void
check_user(const struct image *img, struct check_result *r)
{
  const char *user = json_string_value(json_object_get(json_object_get(img->config, "config"), "User"));
  char *end;

  if (user == NULL || *user == '\0') {
    finding(r, CHECK_FAIL, "no User: the image runs as root");
    return;
  }
  cleanup_free char *uid = xstrndup(user, strcspn(user, ":"));
  unsigned long v = strtoul(uid, &end, 10);
  if (*uid == '\0' || *end)
    finding(r, CHECK_FAIL, "User \"%s\" is not numeric: Kubernetes runAsNonRoot cannot verify it", user);
  else if (v == 0)
    finding(r, CHECK_FAIL, "User \"%s\" is root", user);
}

/* Shells and package managers, by name and by what their bytes say. */
static void
check_programs(const struct image *img, struct check_result *shell, struct check_result *pm)
{
  for (size_t i = 0; i < img->n_files; i++) {
    const struct image_file *f = &img->files[i];
    if (f->type == 'd')
      continue;
    const char *base = strrchr(f->path, '/') + 1;
    const char *s = policy_shell_name(base), *p = policy_package_manager_name(base);
    if (s)
      finding(shell, CHECK_FAIL, "%s (named like %s)", f->path, s);
    else if (f->marks & IMAGE_MARK_SHELL)
      finding(shell, CHECK_FAIL, "%s (the program is %s)", f->path, f->what);
    if (p)
      finding(pm, CHECK_FAIL, "%s (named like %s)", f->path, p);
    else if (f->marks & IMAGE_MARK_PACKAGE_MANAGER)
      finding(pm, CHECK_FAIL, "%s (the program is %s)", f->path, f->what);
  }
}

static void
check_modes(const struct image *img, struct check_result *suid, struct check_result *ww, struct check_result *exe,
            struct check_result *dev)
{
  for (size_t i = 0; i < img->n_files; i++) {
    const struct image_file *f = &img->files[i];
    if (f->type == 'l')
      continue;
    if (f->mode & (S_ISUID | S_ISGID))
      finding(suid, CHECK_FAIL, "%s is set%s (%04o)", f->path, (f->mode & S_ISUID) ? "uid" : "gid", f->mode);
    if ((f->mode & S_IWOTH) && !(f->type == 'd' && (f->mode & S_ISVTX)))
      finding(ww, CHECK_FAIL, "%s is world-writable (%04o)", f->path, f->mode);
    bool program = f->type == 'f' && ((f->mode & 0111) || (f->marks & IMAGE_MARK_ELF));
    if (program && (f->uid != 0 || (f->mode & 022)))
      finding(exe, CHECK_FAIL, "%s is %u:%u %04o", f->path, f->uid, f->gid, f->mode);
    if (f->type == 'c' || f->type == 'b')
      finding(dev, CHECK_FAIL, "%s is a %s device", f->path, f->type == 'c' ? "character" : "block");
  }
}

/* Credentials by name: the file itself, whatever its content. */
static const char *
credential_name(const char *path)
{
  static const char *const patterns[] = {
    "*/.ssh/id_*", "*/.aws/credentials", "*/.netrc", "*/.env", "*/.git-credentials", "*/.docker/config.json",
    "*/.npmrc", "*/.pypirc", NULL,
  };
  size_t len = strlen(path);
  if (len > 4 && strcmp(path + len - 4, ".pub") == 0)
    return NULL;
  for (size_t i = 0; patterns[i]; i++)
    if (fnmatch(patterns[i], path, 0) == 0)
      return patterns[i] + 2;
  return NULL;
}

/* Every layer is looked at: deleting a secret in a later layer leaves it
 * in the image's history, where anyone who pulls the image can read it. */
static void
check_secrets(const struct image *img, struct check_result *r)
{
  for (size_t i = 0; i < img->n_history; i++) {
    const struct image_file *f = &img->history[i];
    if (f->type != 'f')
      continue;
    const char *cred = credential_name(f->path);
    bool key = f->marks & IMAGE_MARK_PRIVATE_KEY;
    if (!cred && !key)
      continue;
    struct derror err = DERROR_INIT;
    const struct image_file *now = image_lookup(img, f->path, false, &err);
    derror_clear(&err);
    bool gone = now == NULL || now->layer != f->layer;
    finding(r, CHECK_FAIL, "%s in layer %d: %s%s", f->path, f->layer + 1, key ? "a private key" : "credentials",
            gone ? " (deleted by a later layer, still in the image)" : "");
  }
}

static void
check_ca(const char *archive, const struct image *img, struct check_result *r)
{
  struct derror err = DERROR_INIT;
  struct buf b = { 0 };
  const struct image_file *f = image_lookup(img, "/etc/ssl/certs/ca-certificates.crt", true, &err);

  if (err.msg) {
    finding(r, CHECK_FAIL, "%s", err.msg);
    derror_clear(&err);
    return;
  }
  if (f == NULL) {
    finding(r, CHECK_WARN, "no /etc/ssl/certs/ca-certificates.crt: TLS clients cannot verify servers");
    return;
  }
  if (image_read_file(archive, img, f, CA_BUNDLE_MAX, &b, &err) < 0
      || base_check_certificates(b.data, b.len, "/etc/ssl/certs/ca-certificates.crt", &err) < 0) {
    finding(r, CHECK_FAIL, "%s", err.msg);
    derror_clear(&err);
    buf_free(&b);
    return;
  }
  struct strv expired = { 0 };
  base_expired_certificates(b.data, b.len, time(NULL), &expired);
  for (size_t i = 0; i < expired.n; i++)
    finding(r, CHECK_WARN, "expired: %s", expired.items[i]);
  strv_free(&expired);
  buf_free(&b);
}

static void
check_ports(const struct image *img, struct check_result *r)
{
  json_t *ports = json_object_get(json_object_get(img->config, "config"), "ExposedPorts");
  const char *key;
  json_t *v;

  json_object_foreach(ports, key, v)
  {
    if (strtoul(key, NULL, 10) < 1024)
      finding(r, CHECK_WARN, "%s: below 1024, a non-root user cannot bind it without a capability", key);
  }
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
    finding(r, CHECK_FAIL, "%s", err.msg);
    derror_clear(&err);
    return;
  }
  json_strv(json_object_get(config, "Entrypoint"), &entrypoint);
  json_strv(json_object_get(config, "Cmd"), &cmd);
  json_strv(json_object_get(config, "Env"), &env);
  if (cfg.work_dir && *cfg.work_dir == '\0')
    cfg.work_dir = NULL;
  if (start_user(&iv.view, json_string_value(json_object_get(config, "User")), &cfg.uid, &cfg.gid, &err) < 0
      || start_check(&iv.view, &cfg, &problems, &notes, &err) < 0) {
    finding(r, CHECK_FAIL, "%s", err.msg);
    derror_clear(&err);
  }
  for (size_t i = 0; i < problems.n; i++)
    finding(r, CHECK_FAIL, "%s", problems.items[i]);
  for (size_t i = 0; i < notes.n; i++)
    finding(r, CHECK_WARN, "%s", notes.items[i]);
  strv_free(&entrypoint);
  strv_free(&cmd);
  strv_free(&env);
  strv_free(&problems);
  strv_free(&notes);
  image_view_close(&iv);
}

int
check_image(const char *archive, const struct image *img, bool can_start, struct check_report *rep,
            struct derror *err)
{
  memset(rep, 0, sizeof *rep);
  check_user(img, start(rep, 0, "user-nonroot", "runs as a numeric, non-root user", "CIS 4.1, OWASP D01"));
  check_programs(img, start(rep, 1, "no-shell", "no shell", "CIS 4.3, OWASP D04"),
                 start(rep, 2, "no-package-manager", "no package manager", "CIS 4.3, OWASP D04"));
  check_modes(img, start(rep, 3, "no-setuid", "no setuid or setgid file", "CIS 4.8, OWASP D04"),
              start(rep, 4, "no-world-writable", "nothing world-writable but sticky directories", "OWASP D04, D09"),
              start(rep, 5, "immutable-programs", "programs owned by root, not writable by group or other",
                    "OWASP D09"),
              start(rep, 6, "no-devices", "no device files", "OWASP D04"));
  check_secrets(img, start(rep, 7, "no-secrets", "no private keys or credentials in any layer", "CIS 4.10, OWASP D06"));
  check_ca(archive, img, start(rep, 8, "ca-bundle", "a CA bundle that parses", "OWASP D04"));
  check_ports(img, start(rep, 9, "unprivileged-ports", "no exposed port below 1024", "OWASP D04"));
  struct check_result *cs = start(rep, 10, "can-start", "the entrypoint, its interpreter and libraries are there "
                                                      "and usable by the user", "OWASP D04");
  if (can_start)
    check_start(archive, img, cs);
  for (size_t i = 0; i < CHECK_COUNT; i++) {
    rep->n_failed += rep->results[i].status == CHECK_FAIL;
    rep->n_warned += rep->results[i].status == CHECK_WARN;
  }
  return 0;
}

void
check_report_free(struct check_report *rep)
{
  for (size_t i = 0; i < CHECK_COUNT; i++)
    strv_free(&rep->results[i].findings);
}
