#include "plan/sysroot.h"
#include "lib/alloc.h"
#include "lib/path.h"
#include "plan/view.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
sysroot_open(struct sysroot *s, const char *root, struct derror *err)
{
  char real[PATH_MAX];
  struct stat st;

  if (realpath(root, real) == NULL)
    return derror_errno(err, errno, "sysroot `%s`", root);
  if (stat(real, &st) < 0)
    return derror_errno(err, errno, "sysroot `%s`", root);
  if (!S_ISDIR(st.st_mode))
    return derror_set(err, "sysroot `%s`: not a directory", root);
  s->root = xstrdup(strcmp(real, "/") == 0 ? "" : real);
  s->context = NULL;
  return 0;
}

void
sysroot_close(struct sysroot *s)
{
  free(s->root);
  s->root = NULL;
  free(s->context);
  s->context = NULL;
}

char *
sysroot_host_path(const struct sysroot *s, const char *in_root)
{
  return xasprintf("%s%s", s->root, in_root);
}

/* sysroot_resolve's callback, called by the one walker of view.c. */
struct link_adapter {
  sysroot_link_fn fn;
  void *data;
};

static int
adapt_link(void *data, const char *path, const char *target, bool lower, struct derror *err)
{
  struct link_adapter *a = data;

  return a->fn(a->data, path, target, err);
}

int
sysroot_resolve(const struct sysroot *s, const char *path, sysroot_link_fn on_link, void *data,
                char **resolved, struct stat *st, struct derror *err)
{
  struct link_adapter a = { on_link, data };
  struct view_node node;
  struct view v;

  view_host(&v, s->root);
  int r = view_resolve(&v, path, true, on_link ? adapt_link : NULL, NULL, &a, resolved, &node, err);
  if (r < 0 && derror_is(err, DERROR_NOT_FOUND))
    return derror_code(err, DERROR_NOT_FOUND, "`%s`: not found in the sysroot `%s`", path, *s->root ? s->root : "/");
  if (r < 0)
    return -1;
  if (strcmp(*resolved, "/") != 0) {
    *st = node.st;
    return 0;
  }
  /* the root itself: the walker met no component to lstat */
  cleanup_free char *host = sysroot_host_path(s, "/");
  if (lstat(host, st) < 0) {
    free(*resolved);
    *resolved = NULL;
    return derror_errno(err, errno, "`%s`", path);
  }
  return 0;
}

/* ---- what no source may be -------------------------------------------- */

/* Credential stores and kernel interfaces, which no image takes from the
 * build machine or a sysroot.  A pattern names a path and all below it,
 * matched component by component (`*` takes dot-files too). */
struct sensitive_rule {
  const char *pattern;
  const char *what;
  const char *name; /* the rule, as messages name it */
};

static const struct sensitive_rule sensitive_rules[] = {
  /* shadow-, and vipw's and dpkg's copies */
  { "/etc/shadow*", "a credential store", "password hashes" },
  { "/etc/gshadow*", "a credential store", "password hashes" },
  { "/etc/sudoers*", "a credential store", "sudo rules" }, /* sudoers.d too */
  { "/root", "a credential store", "root's home" },
  /* .ssh, .docker, .aws, .kube, .config/gcloud, .gnupg, .netrc, ... */
  { "/home/*/.*", "a credential store", "a home directory's dot-files" },
  { "/run/secrets", "a credential store", "runtime secrets" },
  { "/var/run/secrets", "a credential store", "runtime secrets" }, /* kubernetes.io's tokens */
  { "/proc", "a kernel interface", "kernel interfaces" },
  { "/sys", "a kernel interface", "kernel interfaces" },
  { "/dev", "a kernel interface", "kernel interfaces" },
};

#define N_SENSITIVE_RULES (sizeof sensitive_rules / sizeof sensitive_rules[0])

/* The number of components of a normalised absolute path ("/" has none). */
static size_t
components(const char *path)
{
  size_t n = 0;

  for (path += strspn(path, "/"); *path; path += strspn(path, "/")) {
    path += strcspn(path, "/");
    n++;
  }
  return n;
}

/* Where the first `n` components of `path` end, or SIZE_MAX when it has
 * fewer. */
static size_t
components_end(const char *path, size_t n)
{
  size_t i = 0;

  for (size_t k = 0; k < n; k++) {
    i += strspn(path + i, "/");
    if (path[i] == '\0')
      return SIZE_MAX;
    i += strcspn(path + i, "/");
  }
  return i;
}

enum rule_match {
  RULE_NONE,
  RULE_IS,    /* the path is what the rule names, or below it */
  RULE_ABOVE, /* a directory the rule names something in */
};

/* How the normalised absolute `path` stands to `rule`.  RULE_IS gives in
 * `*len` the length of the part of `path` the pattern matched (the store
 * itself); RULE_ABOVE the offset of the pattern left below `path`. */
static enum rule_match
rule_match(const struct sensitive_rule *rule, const char *path, size_t *len)
{
  size_t end = components_end(path, components(rule->pattern));

  if (end != SIZE_MAX) {
    cleanup_free char *head = xstrndup(path, end);
    *len = end;
    return fnmatch(rule->pattern, head, FNM_PATHNAME) == 0 ? RULE_IS : RULE_NONE;
  }
  *len = components_end(rule->pattern, components(path));
  if (*len == 0) /* the root: above every rule */
    return RULE_ABOVE;
  cleanup_free char *head = xstrndup(rule->pattern, *len);
  return fnmatch(head, path, FNM_PATHNAME) == 0 ? RULE_ABOVE : RULE_NONE;
}

/* True when `path` is `dir` (its first `dir_len` bytes) or below it. */
static bool
path_inside(const char *path, const char *dir, size_t dir_len)
{
  if (dir_len == 1 && dir[0] == '/')
    return true;
  return strncmp(path, dir, dir_len) == 0 && (path[dir_len] == '\0' || path[dir_len] == '/');
}

/* True when `path` falls under `rule`; a store that holds `exempt` (the
 * recipe's own directory, on the host; or NULL) is none for its recipe. */
static bool
rule_holds(const struct sensitive_rule *rule, const char *path, const char *exempt)
{
  size_t len;

  return rule_match(rule, path, &len) == RULE_IS && !(exempt && path_inside(exempt, path, len));
}

/* The rule `path` falls under, or NULL. */
static const struct sensitive_rule *
sensitive(const char *path, const char *exempt)
{
  for (size_t i = 0; i < N_SENSITIVE_RULES; i++)
    if (rule_holds(&sensitive_rules[i], path, exempt))
      return &sensitive_rules[i];
  return NULL;
}

/* "`src`: a credential store (password hashes); ...", naming the path
 * the rule met when it is not the source as written. */
static int
sensitive_error(const char *source, const char *written, const char *met, const struct sensitive_rule *rule,
                const char *where, struct derror *err)
{
  if (met == NULL || (written && strcmp(written, met) == 0))
    return derror_set(err, "`%s`: %s (%s); distill does not read it whatever the %s", source, rule->what,
                      rule->name, where);
  return derror_set(err, "`%s` (`%s`): %s (%s); distill does not read it whatever the %s", source, met,
                    rule->what, rule->name, where);
}

/* A tree copied whole, as the tree walker of rootfs.c takes it. */
struct tree_probe {
  const struct strv *exclude; /* its patterns: on a name, or on the path in the tree */
  const char *area;           /* the tree's path, as the rules see it */
  const char *exempt;
};

/* rootfs.c's test: what the walker leaves out, it does not read. */
static bool
tree_excluded(const struct strv *exclude, const char *name, const char *rel)
{
  for (size_t i = 0; exclude && i < exclude->n; i++)
    if (fnmatch(exclude->items[i], name, 0) == 0 || fnmatch(exclude->items[i], rel, FNM_PATHNAME) == 0)
      return true;
  return false;
}

/* The path of the first entry below the host directory `host` (`rel` in
 * the tree) that matches `rest`, the part of `rule`'s pattern below it,
 * and that the walker would take; or NULL.  Symlinks in the tree are
 * copied as symlinks, never followed: the search does not follow them
 * either.  A directory it cannot read, the walker will fail on. */
static char *
tree_find(const struct tree_probe *t, const struct sensitive_rule *rule, const char *host, const char *rel,
          const char *rest)
{
  rest += strspn(rest, "/");
  size_t n = strcspn(rest, "/");
  cleanup_free char *component = xstrndup(rest, n);
  struct strv names = { 0 };
  struct dirent *de;
  char *found = NULL;
  DIR *d = opendir(host);

  if (d == NULL)
    return NULL;
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && fnmatch(component, de->d_name, 0) == 0)
      strv_push(&names, de->d_name);
  closedir(d);
  /* the first in name order: the same message on every file system */
  strv_sort(&names);
  for (size_t i = 0; found == NULL && i < names.n; i++) {
    const char *name = names.items[i];
    cleanup_free char *crel = *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
    cleanup_free char *chost = path_join(host, name);
    cleanup_free char *path = path_join(t->area, crel);
    struct stat st;
    if (tree_excluded(t->exclude, name, crel))
      continue;
    if (rest[n] == '\0' && rule_holds(rule, path, t->exempt))
      found = steal_pointer(&path);
    else if (rest[n] != '\0' && lstat(chost, &st) == 0 && S_ISDIR(st.st_mode))
      found = tree_find(t, rule, chost, crel, rest + n);
  }
  strv_free(&names);
  return found;
}

/* A tree (at `host`, `t->area` to the rules) must not hold what the rules
 * name: an image must not carry /etc/shadow because it copied /etc. */
static int
check_tree(const struct tree_probe *t, const char *host, const char *source, const char *where,
           struct derror *err)
{
  for (size_t i = 0; i < N_SENSITIVE_RULES; i++) {
    const struct sensitive_rule *rule = &sensitive_rules[i];
    size_t rest;
    if (rule_match(rule, t->area, &rest) != RULE_ABOVE)
      continue;
    cleanup_free char *found = tree_find(t, rule, host, "", rule->pattern + rest);
    if (found)
      return derror_set(err, "`%s`: holds `%s`, %s (%s); distill does not read it whatever the %s (exclude it, "
                             "or name the files wanted)",
                        source, found, rule->what, rule->name, where);
  }
  return 0;
}

/* ---- locating sources -------------------------------------------------- */

int
sysroot_set_context(struct sysroot *s, const char *dir, struct derror *err)
{
  char *real = dir ? realpath(dir, NULL) : NULL;
  struct stat st;

  if (dir && real == NULL)
    return derror_errno(err, errno, "--context `%s`", dir);
  if (real && stat(real, &st) < 0) {
    free(real);
    return derror_errno(err, errno, "--context `%s`", dir);
  }
  if (real && !S_ISDIR(st.st_mode)) {
    free(real);
    return derror_set(err, "--context `%s`: not a directory", dir);
  }
  free(s->context);
  s->context = real;
  return 0;
}

/* `real` (`lexical` before symlinks) must lie in the context. */
static int
check_context(const struct sysroot *s, const char *source, const char *lexical, const char *real,
              const char *base, struct derror *err)
{
  const char *context = s->context ? s->context : base;
  const char *why = s->context ? "--context"
                               : "sources relative to the recipe stay in its directory; --context widens it";

  if (path_inside(real, context, strlen(context)))
    return 0;
  if (lexical && strcmp(lexical, real) == 0)
    return derror_set(err, "`%s`: outside the build context `%s` (%s)", source, context, why);
  return derror_set(err, "`%s` (`%s`): outside the build context `%s` (%s)", source, real, context, why);
}

/* A source relative to the recipe: read on the host, from inside the
 * context only, whatever `..` or symlinks say; and what the rules name
 * only when the recipe's own directory is in it (a recipe kept under
 * /root reads its files there, not /root/.ssh). */
static int
locate_relative(const struct sysroot *s, const char *base_dir, const char *source, const struct strv *exclude,
                bool tree, struct stat *st, char **host_path, struct derror *err)
{
  cleanup_free char *p = path_join(base_dir, source);
  cleanup_free char *real = realpath(p, NULL);
  cleanup_free char *lexical = path_lexical(p);
  cleanup_free char *base = NULL, *base_lexical = path_lexical(base_dir);
  const struct sensitive_rule *rule;

  if (real == NULL || stat(real, st) < 0)
    return derror_errno(err, errno, "`%s`", p);
  if ((base = realpath(base_dir, NULL)) == NULL)
    return derror_errno(err, errno, "`%s`", base_dir);
  if (check_context(s, source, lexical, real, base, err) < 0)
    return -1;
  /* the path as written, for /proc/self/root/... */
  if (lexical && (rule = sensitive(lexical, base_lexical)) != NULL)
    return sensitive_error(source, NULL, lexical, rule, "context", err);
  if ((rule = sensitive(real, base)) != NULL)
    return sensitive_error(source, NULL, real, rule, "context", err);
  struct tree_probe t = { exclude, real, base };
  if (tree && S_ISDIR(st->st_mode) && check_tree(&t, real, source, "context", err) < 0)
    return -1;
  *host_path = steal_pointer(&p);
  return 0;
}

/* sysroot_resolve's callback: the first symlink crossed that is itself
 * sensitive (/proc/self on the way to /proc/self/root/...), in `*data`. */
static int
note_link(void *data, const char *path, const char *target, struct derror *err)
{
  char **met = data;

  if (*met == NULL && sensitive(path, NULL))
    *met = xstrdup(path);
  return 0;
}

/* The path as written, the symlink crossed (`met`, or NULL) and the object
 * reached (`resolved`, when `r` is 0) must be none of the
 * rules'. */
static int
check_absolute(const struct sysroot *s, const char *source, const char *met, int r, const char *resolved,
               const struct stat *st, struct derror *err)
{
  cleanup_free char *written = path_lexical(source);
  const struct sensitive_rule *rule;

  /* Nothing is read from a device, FIFO or socket: each caller refuses
   * them in its own words (/dev/null is "a device", not a rule). */
  if (r == 0 && !S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
    return 0;
  if ((rule = sensitive(written, NULL)) != NULL)
    return sensitive_error(source, written, written, rule, "sysroot", err);
  if (met)
    return sensitive_error(source, written, met, sensitive(met, NULL), "sysroot", err);
  if (r < 0)
    return -1; /* not found, as sysroot_resolve() said */
  if ((rule = sensitive(resolved, NULL)) != NULL)
    return sensitive_error(source, written, resolved, rule, "sysroot", err);
  return 0;
}

/* A source inside the sysroot, resolved as in a chroot. */
static int
locate_absolute(const struct sysroot *s, const char *source, const struct strv *exclude, bool tree,
                struct stat *st, char **host_path, struct derror *err)
{
  cleanup_free char *resolved = NULL;
  cleanup_free char *met = NULL;
  int r = sysroot_resolve(s, source, note_link, &met, &resolved, st, err);

  if (r < 0 && !derror_is(err, DERROR_NOT_FOUND))
    return -1;
  if (check_absolute(s, source, met, r, resolved, st, err) < 0)
    return -1;
  cleanup_free char *host = sysroot_host_path(s, resolved);
  struct tree_probe t = { exclude, resolved, NULL };
  if (tree && S_ISDIR(st->st_mode) && check_tree(&t, host, source, "sysroot", err) < 0)
    return -1;
  *host_path = steal_pointer(&host);
  return 0;
}

static int
locate(const struct sysroot *s, const char *base_dir, const char *source, const struct strv *exclude, bool tree,
       struct stat *st, char **host_path, struct derror *err)
{
  if (source[0] != '/')
    return locate_relative(s, base_dir, source, exclude, tree, st, host_path, err);
  return locate_absolute(s, source, exclude, tree, st, host_path, err);
}

int
sysroot_locate(const struct sysroot *s, const char *base_dir, const char *source, struct stat *st,
               char **host_path, struct derror *err)
{
  return locate(s, base_dir, source, NULL, false, st, host_path, err);
}

int
sysroot_locate_tree(const struct sysroot *s, const char *base_dir, const char *source,
                    const struct strv *exclude, struct stat *st, char **host_path, struct derror *err)
{
  return locate(s, base_dir, source, exclude, true, st, host_path, err);
}

bool
sysroot_is(const struct sysroot *s, const char *path, mode_t type)
{
  cleanup_free char *resolved = NULL;
  struct derror err = DERROR_INIT;
  struct stat st;
  int r = sysroot_resolve(s, path, NULL, NULL, &resolved, &st, &err);

  derror_clear(&err);
  return r == 0 && (st.st_mode & S_IFMT) == type;
}
