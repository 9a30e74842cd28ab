/* The checks of the image's files: programs that should not be there,
 * modes, credentials in any layer, the CA bundle. */
#include "image/escape.h"
#include "image/finding.h"
#include "image/image.h"
#include "image/scan.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "lib/secrets.h"
#include "lib/certs.h"
#include "plan/policy.h"

#include <fnmatch.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define CA_BUNDLE_MAX (16u * 1024 * 1024)

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
void
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

void
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
void
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

void
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
      || certs_check(b.data, b.len, CA_BUNDLE, &err) < 0) {
    error_finding(r, CHECK_FAIL, CA_BUNDLE, &err);
    buf_free(&b);
    return;
  }
  struct strv expired = { 0 };
  certs_expired(b.data, b.len, time(NULL), &expired);
  for (size_t i = 0; i < expired.n; i++) {
    cleanup_free char *name = escape_text(expired.items[i]);
    finding(r, CHECK_WARN, CA_BUNDLE, "expired: %s", name);
  }
  strv_free(&expired);
  buf_free(&b);
}
