#include "image/check.h"
#include "image/image_view.h"
#include "plan/start.h"
#include "plan/base.h"
#include "plan/policy.h"
#include "recipe/recipe.h"
#include "lib/secrets.h"

#include <archive.h>
#include <archive_entry.h>
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
  case CHECK_WAIVED:
    return "waived";
  }
  return "?";
}

/* ---- names made safe to show ------------------------------------------ */

/* The length of the well-formed UTF-8 sequence at `s` (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), 0 when none. */
static size_t
utf8_len(const unsigned char *s)
{
  unsigned c = s[0];

  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    return (s[1] & 0xc0) == 0x80 ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
  }
  return 0;
}

static char *
escape(const char *s, bool backslash, bool controls)
{
  const unsigned char *p = (const unsigned char *) s;
  struct buf b = { 0 };

  while (*p) {
    size_t n = utf8_len(p);
    /* C1 controls (U+0080 to U+009F): some terminals obey them as ESC [ */
    bool c1 = n == 2 && p[0] == 0xc2 && p[1] < 0xa0;
    if (n == 0) {
      buf_printf(&b, "\\x%02x", *p++);
    } else if (backslash && *p == '\\') {
      buf_append(&b, "\\\\", 2);
      p++;
    } else if (controls && n == 1 && (*p < 0x20 || *p == 0x7f)) {
      if (*p == '\n' || *p == '\t' || *p == '\r')
        buf_printf(&b, "\\%c", *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r');
      else
        buf_printf(&b, "\\x%02x", *p);
      p++;
    } else if (controls && c1) {
      buf_printf(&b, "\\x%02x\\x%02x", p[0], p[1]);
      p += 2;
    } else {
      buf_append(&b, p, n);
      p += n;
    }
  }
  return b.data ? b.data : xstrdup("");
}

char *
escape_json(const char *s)
{
  return escape(s, true, false);
}

char *
escape_controls(const char *s)
{
  return escape(s, false, true);
}

char *
escape_text(const char *s)
{
  return escape(s, true, true);
}

/* ---- waivers ---------------------------------------------------------- */

static json_t *
json_text(const char *s)
{
  json_t *j = json_string(s);
  /* jansson takes UTF-8 only; a recipe's strings are (libyaml reads
   * nothing else), a command line's may not be */
  if (j == NULL) {
    cleanup_free char *e = escape_json(s);
    j = json_string(e);
  }
  return j;
}

char *
check_waivers_json(const struct check_waiver *w, size_t n)
{
  json_t *list = json_array();

  for (size_t i = 0; i < n; i++) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_text(w[i].id));
    json_object_set_new(o, "path", json_text(w[i].path));
    json_object_set_new(o, "reason", json_text(w[i].reason));
    json_array_append_new(list, o);
  }
  char *s = json_dumps(list, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(list);
  if (s == NULL)
    oom();
  return s;
}

void
check_waivers_free(struct check_waiver *w, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    free((char *) w[i].id);
    free((char *) w[i].path);
    free((char *) w[i].reason);
  }
  free(w);
}

/* The member `name` of the archive, at most `max` bytes; NULL data when
 * the archive has no such member. */
static int
read_member(const char *archive, const char *name, size_t max, struct buf *out, struct derror *err)
{
  struct archive *a = archive_read_new();
  struct archive_entry *ae;
  int r, ret = -1;

  if (a == NULL)
    oom();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, archive, 64 * 1024) != ARCHIVE_OK) {
    derror_set(err, "`%s`: %s", archive, archive_error_string(a));
    goto out;
  }
  while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
    const char *m = archive_entry_pathname(ae);
    while (m[0] == '.' && m[1] == '/')
      m += 2;
    while (m[0] == '/')
      m++;
    if (archive_entry_filetype(ae) != AE_IFREG || strcmp(m, name) != 0)
      continue;
    if (archive_entry_size(ae) < 0 || (uint64_t) archive_entry_size(ae) > max) {
      derror_set(err, "`%s`: `%s` is larger than %zu bytes", archive, name, max);
      goto out;
    }
    char chunk[16384];
    la_ssize_t n;
    buf_append(out, "", 0);
    while ((n = archive_read_data(a, chunk, sizeof chunk)) > 0 && out->len + (size_t) n <= max)
      buf_append(out, chunk, (size_t) n);
    if (n != 0) {
      derror_set(err, "`%s`: `%s`: %s", archive, name, n < 0 ? archive_error_string(a) : "too large");
      goto out;
    }
    ret = 0;
    goto out;
  }
  if (r != ARCHIVE_EOF)
    derror_set(err, "`%s`: %s", archive, archive_error_string(a));
  else
    ret = 0;
out:
  archive_read_free(a);
  if (ret < 0)
    buf_free(out);
  return ret;
}

int
check_recorded_waivers(const char *archive, const struct image *img, struct check_waiver **out, size_t *n,
                       struct derror *err)
{
  struct buf b = { 0 };
  char got[DIGEST_STR_LEN];
  size_t i;
  json_t *x;

  *out = NULL;
  *n = 0;
  if (!digest_valid(img->manifest_digest))
    return 0;
  cleanup_free char *name = xasprintf("blobs/sha256/%s", img->manifest_digest + 7);
  if (read_member(archive, name, IMAGE_MAX_JSON, &b, err) < 0)
    return -1;
  if (b.data == NULL)
    return 0; /* docker save keeps no OCI manifest */
  /* what image_read verified, not what the file holds now */
  digest_buffer(b.data, b.len, got);
  if (strcmp(got, img->manifest_digest) != 0) {
    buf_free(&b);
    return derror_set(err, "`%s`: `%s` changed while it was read", archive, name);
  }
  json_t *manifest = json_loadb(b.data, b.len, 0, NULL);
  buf_free(&b);
  const char *text = json_string_value(json_object_get(json_object_get(manifest, "annotations"),
                                                       CHECK_WAIVED_ANNOTATION));
  json_t *list = text ? json_loads(text, 0, NULL) : NULL;
  json_array_foreach(list, i, x)
  {
    const char *id = json_string_value(json_object_get(x, "id"));
    const char *path = json_string_value(json_object_get(x, "path"));
    const char *reason = json_string_value(json_object_get(x, "reason"));
    if (id == NULL || path == NULL || reason == NULL)
      continue;
    *out = xreallocarray(*out, *n + 1, sizeof **out);
    (*out)[(*n)++] = (struct check_waiver) { xstrdup(id), xstrdup(path), xstrdup(reason) };
  }
  json_decref(list);
  json_decref(manifest);
  return 0;
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

static void finding(struct check_result *r, enum check_status s, const char *path, const char *fmt, ...)
  DISTILL_PRINTF(4, 5);
static void rule_finding(struct check_result *r, const char *path, const char *rule, const char *fmt, ...)
  DISTILL_PRINTF(4, 5);
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

static void
finding(struct check_result *r, enum check_status s, const char *path, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vfinding(r, s, path, NULL, fmt, ap);
  va_end(ap);
}

/* A credential found by rule `rule`: a failure a waiver may name by the
 * rule's id too. */
static void
rule_finding(struct check_result *r, const char *path, const char *rule, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vfinding(r, CHECK_FAIL, path, rule, fmt, ap);
  va_end(ap);
}

static void
check_user(const struct image *img, struct check_result *r)
{
  const char *user = json_string_value(json_object_get(json_object_get(img->config, "config"), "User"));
  char *end;

  if (user == NULL || *user == '\0') {
    finding(r, CHECK_FAIL, NULL, "no User: the image runs as root");
    return;
  }
  cleanup_free char *shown = escape_text(user);
  cleanup_free char *uid = xstrndup(user, strcspn(user, ":"));
  unsigned long v = strtoul(uid, &end, 10);
  if (*uid == '\0' || *end)
    finding(r, CHECK_FAIL, NULL, "User \"%s\" is not numeric: Kubernetes runAsNonRoot cannot verify it", shown);
  else if (v == 0)
    finding(r, CHECK_FAIL, NULL, "User \"%s\" is root", shown);
}

/* Whether an entry of the image runs as a program (policy_is_program): a
 * hardlink as its file; a symlink as what it resolves to in the image, and
 * one that resolves to nothing (dangling, a loop) counts, since nothing
 * shows that it is not. */
static bool
is_program(const struct image *img, const struct image_file *f)
{
  struct derror err = DERROR_INIT;

  if (f->type == 'l') {
    f = image_lookup(img, f->path, true, &err);
    bool unknown = f == NULL || err.msg != NULL;
    derror_clear(&err);
    if (unknown)
      return true;
  }
  if (f->type == 'h') {
    const struct image_file *t = image_lookup(img, f->target, false, &err);
    derror_clear(&err);
    return policy_is_program(f->mode, false)
           || (t && t->type == 'f' && policy_is_program(t->mode, t->marks & IMAGE_MARK_ELF));
  }
  return f->type == 'f' && policy_is_program(f->mode, f->marks & IMAGE_MARK_ELF);
}

/* Shells and package managers: programs by their name, files by what
 * their bytes say.  A data file named like one (a bash completion named
 * apt, a man page pip3.1.gz) is neither. */
static void
check_programs(const struct image *img, struct check_result *shell, struct check_result *pm)
{
  for (size_t i = 0; i < img->n_files; i++) {
    const struct image_file *f = &img->files[i];
    if (f->type == 'd')
      continue;
    const char *base = strrchr(f->path, '/') + 1;
    const char *s = policy_shell_name(base), *p = policy_package_manager_name(base);
    if ((s || p) && !is_program(img, f))
      s = p = NULL;
    cleanup_free char *path = escape_text(f->path);
    if (s)
      finding(shell, CHECK_FAIL, f->path, "%s (named like %s)", path, s);
    else if (f->marks & IMAGE_MARK_SHELL)
      finding(shell, CHECK_FAIL, f->path, "%s (the program is %s)", path, f->what);
    if (p)
      finding(pm, CHECK_FAIL, f->path, "%s (named like %s)", path, p);
    else if (f->marks & IMAGE_MARK_PACKAGE_MANAGER)
      finding(pm, CHECK_FAIL, f->path, "%s (the program is %s)", path, f->what);
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
    cleanup_free char *path = escape_text(f->path);
    if (f->mode & (S_ISUID | S_ISGID))
      finding(suid, CHECK_FAIL, f->path, "%s is set%s (%04o)", path, (f->mode & S_ISUID) ? "uid" : "gid", f->mode);
    if ((f->mode & S_IWOTH) && !(f->type == 'd' && (f->mode & S_ISVTX)))
      finding(ww, CHECK_FAIL, f->path, "%s is world-writable (%04o)", path, f->mode);
    bool program = f->type == 'f' && ((f->mode & 0111) || (f->marks & IMAGE_MARK_ELF));
    if (program && (f->uid != 0 || (f->mode & 022)))
      finding(exe, CHECK_FAIL, f->path, "%s is %u:%u %04o", path, f->uid, f->gid, f->mode);
    if (f->type == 'c' || f->type == 'b')
      finding(dev, CHECK_FAIL, f->path, "%s is a %s device", path, f->type == 'c' ? "character" : "block");
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

/* What a credential rule finds ("a GitHub token"), from its table. */
static const char *
secret_what(const char *rule)
{
  for (size_t i = 0; secret_rules[i].id; i++)
    if (strcmp(secret_rules[i].id, rule) == 0)
      return secret_rules[i].what;
  return rule;
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
    if (!cred && !key && !f->secret)
      continue;
    struct derror err = DERROR_INIT;
    const struct image_file *now = image_lookup(img, f->path, false, &err);
    derror_clear(&err);
    bool gone = now == NULL || now->layer != f->layer;
    cleanup_free char *path = escape_text(f->path);
    const char *deleted = gone ? " (deleted by a later layer, still in the image)" : "";
    if (key || cred)
      finding(r, CHECK_FAIL, f->path, "%s in layer %d: %s%s", path, f->layer + 1,
              key ? "a private key" : "credentials", deleted);
    if (f->secret)
      rule_finding(r, f->path, f->secret, "%s in layer %d: %s (%s)%s", path, f->layer + 1, secret_what(f->secret),
                   f->secret, deleted);
  }
}

/* ---- credentials in the config (no-secrets) ---------------------------- */

/* The config is read by anyone who pulls the image, as its layers are.
 * A finding's path is "config:WHERE:NAME", which no file's can be (those
 * start with '/'), so that a waiver names exactly one value; the message
 * names the value, never what it holds. */
static void
config_finding(struct check_result *r, const char *where, const char *name, const char *shown, const char *rule)
{
  cleanup_free char *path = xasprintf("config:%s:%s", where, name);
  cleanup_free char *what = escape_text(shown);

  finding(r, CHECK_FAIL, path, "config %s: %s", what, rule);
}

/* Env: "NAME=VALUE", as the recipe's environment is read. */
static void
config_env(json_t *config, struct check_result *r)
{
  size_t i;
  json_t *v;

  json_array_foreach(json_object_get(config, "Env"), i, v)
  {
    const char *entry = json_string_value(v);
    if (entry == NULL)
      continue;
    const char *eq = strchr(entry, '=');
    cleanup_free char *name = xstrndup(entry, eq ? (size_t) (eq - entry) : strlen(entry));
    const char *rule = secrets_in_value(name, eq ? eq + 1 : "");
    if (rule) {
      cleanup_free char *shown = xasprintf("Env %s", name);
      config_finding(r, "Env", name, shown, rule);
    }
  }
}

static void
config_labels(json_t *config, struct check_result *r)
{
  const char *key;
  json_t *v;

  json_object_foreach(json_object_get(config, "Labels"), key, v)
  {
    const char *rule = json_is_string(v) ? secrets_in_value(key, json_string_value(v)) : NULL;
    if (rule) {
      cleanup_free char *shown = xasprintf("label %s", key);
      config_finding(r, "label", key, shown, rule);
    }
  }
}

/* Entrypoint and Cmd, argument by argument, as the recipe's are read. */
static void
config_args(json_t *config, const char *key, struct check_result *r)
{
  size_t i;
  json_t *v;

  json_array_foreach(json_object_get(config, key), i, v)
  {
    const char *rule = json_is_string(v) ? recipe_secret_in_argument(json_string_value(v)) : NULL;
    if (rule) {
      cleanup_free char *index = xasprintf("%zu", i);
      cleanup_free char *shown = xasprintf("%s[%zu]", key, i);
      config_finding(r, key, index, shown, rule);
    }
  }
}

/* A command line of the history as a whole (a token, `aws_secret_access_key
 * = ...`), then each NAME=VALUE word of it as an argument: a Dockerfile's
 * ENV and ARG leave `ENV DB_PASSWORD=...` and `RUN |1 TOKEN=... /bin/sh -c`
 * there. */
static const char *
history_secret(const char *line)
{
  const char *rule = secrets_in_value("ARG", line);

  for (const char *p = line; !rule && *p;) {
    size_t n = strcspn(p, " \t\n");
    if (n > 0 && memchr(p, '=', n)) {
      cleanup_free char *word = xstrndup(p, n);
      rule = recipe_secret_in_argument(word);
    }
    p += n;
    p += strspn(p, " \t\n");
  }
  return rule;
}

static void
config_history(json_t *history, struct check_result *r)
{
  size_t i;
  json_t *v;

  json_array_foreach(history, i, v)
  {
    const char *line = json_string_value(json_object_get(v, "created_by"));
    const char *rule = line ? history_secret(line) : NULL;
    if (rule) {
      cleanup_free char *index = xasprintf("%zu", i);
      cleanup_free char *shown = xasprintf("history[%zu] created_by", i);
      config_finding(r, "history", index, shown, rule);
    }
  }
}

/* The config's values that are text anyone reads: its environment,
 * labels, command and history, by the rules a recipe's are refused by. */
static void
check_config_secrets(const struct image *img, struct check_result *r)
{
  json_t *config = json_object_get(img->config, "config");

  config_env(config, r);
  config_labels(config, r);
  config_args(config, "Entrypoint", r);
  config_args(config, "Cmd", r);
  config_history(json_object_get(img->config, "history"), r);
}

#define CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

/* Messages of the reader name paths of the image as they are. */
static void
error_finding(struct check_result *r, enum check_status s, const char *path, struct derror *err)
{
  cleanup_free char *msg = escape_text(err->msg);
  finding(r, s, path, "%s", msg);
  derror_clear(err);
}

static void
check_ca(const char *archive, const struct image *img, struct check_result *r)
{
  struct derror err = DERROR_INIT;
  struct buf b = { 0 };
  const struct image_file *f = image_lookup(img, CA_BUNDLE, true, &err);

  if (err.msg) {
    error_finding(r, CHECK_FAIL, CA_BUNDLE, &err);
    return;
  }
  if (f == NULL) {
    finding(r, CHECK_WARN, CA_BUNDLE, "no " CA_BUNDLE ": TLS clients cannot verify servers");
    return;
  }
  if (image_read_file(archive, img, f, CA_BUNDLE_MAX, &b, &err) < 0
      || base_check_certificates(b.data, b.len, CA_BUNDLE, &err) < 0) {
    error_finding(r, CHECK_FAIL, CA_BUNDLE, &err);
    buf_free(&b);
    return;
  }
  struct strv expired = { 0 };
  base_expired_certificates(b.data, b.len, time(NULL), &expired);
  for (size_t i = 0; i < expired.n; i++) {
    cleanup_free char *name = escape_text(expired.items[i]);
    finding(r, CHECK_WARN, CA_BUNDLE, "expired: %s", name);
  }
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
    cleanup_free char *port = escape_text(key);
    if (strtoul(key, NULL, 10) < 1024)
      finding(r, CHECK_WARN, NULL, "%s: below 1024, a non-root user cannot bind it without a capability", port);
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
