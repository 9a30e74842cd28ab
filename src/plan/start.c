#include "plan/start.h"
#include "lib/path.h"
#include "plan/closure.h"
#include "plan/elf.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ACCOUNTS_MAX (4u * 1024 * 1024)
/* runc's PATH when the config has none, as Docker's default */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum { MAY_EXEC = 1, MAY_READ = 4 };

/* The permission bits that apply to the user, as the kernel picks them:
 * the owner's, else the group's, else the others'.  Root reads and
 * searches anything and executes a file with any execute bit. */
static bool
may(const struct view_node *n, uint32_t uid, uint32_t gid, unsigned want)
{
  if (uid == 0)
    return !(want & MAY_EXEC) || n->type == VIEW_DIR || (n->mode & 0111);
  unsigned bits = n->uid == uid ? n->mode >> 6 : n->gid == gid ? n->mode >> 3 : n->mode;
  return (bits & want) == want;
}

struct walk_ctx {
  uint32_t uid, gid;
  char *denied; /* the first directory the user cannot search */
};

static void
on_dir(void *data, const char *path, const struct view_node *dir)
{
  struct walk_ctx *w = data;

  if (w->denied == NULL && !may(dir, w->uid, w->gid, MAY_EXEC))
    w->denied = xstrdup(path);
}

/* A file the runtime or the loader opens, as the user: it must be there, a
 * regular file, behind directories the user may search, and allow `want`.
 * On success `*resolved` is its path after symlinks. */
static bool
reach(const struct view *v, const struct start_config *cfg, const char *what, const char *path, const char *of,
      unsigned want, char **resolved, struct view_node *node, struct strv *problems)
{
  struct walk_ctx w = { cfg->uid, cfg->gid, NULL };
  struct derror err = DERROR_INIT;
  bool ok = false;

  *resolved = NULL;
  int r = view_resolve(v, path, true, NULL, on_dir, &w, resolved, node, &err);
  if (r < 0 && derror_is(&err, DERROR_NOT_FOUND))
    strv_push_take(problems, xasprintf("%s `%s`%s is not in the image", what, path, of));
  else if (r < 0)
    strv_push_take(problems, xasprintf("%s `%s`%s: %s", what, path, of, err.msg));
  else if (node->type != VIEW_FILE)
    strv_push_take(problems, xasprintf("%s `%s`%s is not a regular file", what, path, of));
  else if (w.denied)
    strv_push_take(problems, xasprintf("%s `%s`%s: user %u cannot search the directory `%s`", what, path, of,
                                       cfg->uid, w.denied));
  else if (!may(node, cfg->uid, cfg->gid, want))
    strv_push_take(problems, xasprintf("%s `%s`%s is %u:%u %04o: user %u:%u cannot %s it", what, path, of,
                                       node->uid, node->gid, (unsigned) node->mode, cfg->uid, cfg->gid,
                                       want & MAY_EXEC ? "execute" : "read"));
  else
    ok = true;
  derror_clear(&err);
  free(w.denied);
  if (!ok) {
    free(*resolved);
    *resolved = NULL;
  }
  return ok;
}

/* The first bytes of a file of the view. */
static size_t
read_head(const struct view_node *node, char *buf, size_t size)
{
  if (node->host == NULL) {
    size_t n = node->size < size ? (size_t) node->size : size;
    memcpy(buf, node->data ? node->data : "", n);
    return n;
  }
  cleanup_close int fd = open(node->host, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  ssize_t n = fd >= 0 ? pread(fd, buf, size, 0) : -1;
  return n > 0 ? (size_t) n : 0;
}

static const char *
env_value(const struct strv *env, const char *key)
{
  size_t n = strlen(key);

  for (size_t i = 0; env && i < env->n; i++)
    if (strncmp(env->items[i], key, n) == 0 && env->items[i][n] == '=')
      return env->items[i] + n + 1;
  return NULL;
}

/* A name without a slash is looked up on the config's PATH, as runc does
 * (Go's exec.LookPath): the first regular file with an execute bit. */
static char *
find_on_path(const struct view *v, const struct start_config *cfg, const char *name)
{
  const char *path = env_value(cfg->env, "PATH");
  cleanup_free char *copy = xstrdup(path ? path : DEFAULT_PATH);

  for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
    if (dir[0] != '/')
      continue;
    cleanup_free char *candidate = path_join(dir, name);
    cleanup_free char *resolved = NULL;
    struct derror err = DERROR_INIT;
    struct view_node node;
    int r = view_resolve(v, candidate, true, NULL, NULL, NULL, &resolved, &node, &err);
    derror_clear(&err);
    if (r == 0 && node.type == VIEW_FILE && (node.mode & 0111))
      return steal_pointer(&candidate);
  }
  return NULL;
}

/* The closure of an ELF program over the image's tree, and what its
 * loader must be allowed: execute the interpreter, read each library. */
static int
check_elf(const struct view *v, const struct start_config *cfg, const char *what, const char *path,
          const char *host, struct strv *problems, struct strv *notes, struct derror *err)
{
  struct rootfs scratch = { 0 };
  struct elf_info elf;
  struct closure cl;
  int ret = -1;

  if (elf_read(host, path, &elf, err) < 0) {
    strv_push_take(problems, xasprintf("%s `%s`: %s", what, path, err->msg));
    derror_clear(err);
    return 0;
  }
  closure_init(&cl, v, NULL, &scratch, LAYER_LIBRARIES);
  cl.cwd = cfg->work_dir ? cfg->work_dir : "/";
  cleanup_free char *origin = path_dirname(path);
  if (closure_add_program(&cl, path, origin, NULL, host, &elf, err) < 0 || closure_resolve(&cl, err) < 0) {
    /* the loader itself would stop: a broken file under a library's name */
    strv_push_take(problems, xasprintf("%s `%s`: %s", what, path, err->msg));
    derror_clear(err);
  }
  for (size_t i = 0; i < cl.missing.n; i++)
    strv_push_take(problems, xasprintf("%s `%s`: %s", what, path, cl.missing.items[i]));
  for (size_t i = 0; i < cl.warnings.n; i++)
    strv_push_take(notes, xasprintf("%s `%s`: %s", what, path, cl.warnings.items[i]));
  for (size_t i = 0; i < cl.n_objects; i++) {
    const struct closure_object *o = &cl.objects[i];
    cleanup_free char *resolved = NULL;
    struct view_node node;
    if (o->how == CLOSURE_PROGRAM)
      continue;
    cleanup_free char *of = xasprintf(" of `%s`", path);
    cleanup_free char *role = o->how == CLOSURE_INTERP ? xstrdup("the interpreter")
                                                       : xasprintf("the library `%s` at", o->name);
    reach(v, cfg, role, o->path, of,
          o->how == CLOSURE_INTERP ? MAY_EXEC : MAY_READ, &resolved, &node, problems);
  }
  ret = 0;
  closure_free(&cl);
  rootfs_free(&scratch);
  return ret;
}

/* A program whose bytes the plan holds in memory (distill's health probe,
 * probe.h): read through a memfd, by the same rules as a file. */
static int
check_elf_data(const struct view *v, const struct start_config *cfg, const char *what, const char *path,
               const struct view_node *node, struct strv *problems, struct strv *notes, struct derror *err)
{
  cleanup_close int fd = memfd_create("distill-start", MFD_CLOEXEC);
  char host[64];

  if (fd < 0)
    return derror_errno(err, errno, "memfd_create");
  for (uint64_t done = 0; done < node->size;) {
    ssize_t w = write(fd, node->data + done, (size_t) (node->size - done));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return derror_errno(err, w < 0 ? errno : EIO, "`%s`: write to a memfd", path);
    done += (uint64_t) w;
  }
  snprintf(host, sizeof host, "/proc/self/fd/%d", fd);
  return check_elf(v, cfg, what, path, host, problems, notes, err);
}

/* "#!INTERP [ARG]": the kernel executes INTERP, which must be there. */
static void
check_script(const struct view *v, const struct start_config *cfg, const char *path, const char *head, size_t n,
             struct strv *problems)
{
  size_t i = 2, start;
  cleanup_free char *resolved = NULL;
  struct view_node node;

  while (i < n && (head[i] == ' ' || head[i] == '\t'))
    i++;
  start = i;
  while (i < n && head[i] != ' ' && head[i] != '\t' && head[i] != '\n')
    i++;
  cleanup_free char *interp = xstrndup(head + start, i - start);
  cleanup_free char *of = xasprintf(" of the script `%s`", path);
  if (interp[0] != '/') {
    strv_push_take(problems, xasprintf("the interpreter \"%s\"%s is not an absolute path", interp, of));
    return;
  }
  reach(v, cfg, "the interpreter", interp, of, MAY_EXEC, &resolved, &node, problems);
}

int
start_check(const struct view *image, const struct start_config *cfg, struct strv *problems, struct strv *notes,
            struct derror *err)
{
  bool from_entrypoint = cfg->entrypoint && cfg->entrypoint->n > 0;
  const char *arg0 = from_entrypoint ? cfg->entrypoint->items[0]
                     : cfg->cmd && cfg->cmd->n > 0 ? cfg->cmd->items[0] : NULL;
  const char *what = from_entrypoint ? "the entrypoint" : "cmd[0]";
  cleanup_free char *path = NULL, *resolved = NULL;
  struct view_node node;
  char head[256];

  if (arg0 == NULL) {
    strv_push(notes, "no entrypoint and no cmd: nothing to start (a base for other images)");
    return 0;
  }
  path = strchr(arg0, '/') ? xstrdup(arg0) : find_on_path(image, cfg, arg0);
  if (path == NULL) {
    strv_push_take(problems, xasprintf("%s \"%s\" is not an executable file on the image's PATH", what, arg0));
    return 0;
  }
  if (path[0] != '/') {
    /* a relative path is taken from the working directory */
    char *abs = path_join(cfg->work_dir ? cfg->work_dir : "/", path);
    free(path);
    path = abs;
  }
  if (!reach(image, cfg, what, path, "", MAY_EXEC, &resolved, &node, problems))
    return 0;
  size_t n = read_head(&node, head, sizeof head);
  if (n >= 2 && head[0] == '#' && head[1] == '!') {
    check_script(image, cfg, path, head, n, problems);
    return 0;
  }
  if (n < 4 || memcmp(head, ELFMAG, SELFMAG) != 0 || (node.host == NULL && node.data == NULL)) {
    strv_push_take(problems, xasprintf("%s `%s` is neither an ELF program nor a #! script", what, path));
    return 0;
  }
  if (node.host == NULL)
    return check_elf_data(image, cfg, what, resolved, &node, problems, notes, err);
  cleanup_free char *host = xstrdup(node.host);
  return check_elf(image, cfg, what, resolved, host, problems, notes, err);
}

/* ---- the run-as user ---------------------------------------------------- */

static bool
number(const char *s, uint32_t *out)
{
  char *end;
  unsigned long v = strtoul(s, &end, 10);

  if (*s == '\0' || *end != '\0' || v > UINT32_MAX)
    return false;
  *out = (uint32_t) v;
  return true;
}

/* The fields of the line of a passwd or group file whose field `key`
 * (0: name, 2: id) is `value`; NULL when none. */
static char **
account_line(const char *data, int key, const char *value, size_t *n)
{
  for (const char *line = data; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    cleanup_free char *copy = xstrndup(line, strcspn(line, "\n"));
    struct strv f = { 0 };
    for (char *p = copy, *colon; p; p = colon ? colon + 1 : NULL) {
      colon = strchr(p, ':');
      if (colon)
        *colon = '\0';
      strv_push(&f, p);
    }
    if ((size_t) key < f.n && f.n >= 4 && strcmp(f.items[key], value) == 0) {
      *n = f.n;
      return f.items;
    }
    strv_free(&f);
  }
  return NULL;
}

static char *
read_accounts(const struct view *v, const char *file)
{
  cleanup_free char *resolved = NULL;
  struct derror err = DERROR_INIT;
  struct view_node node;
  struct buf b = { 0 };

  if (view_resolve(v, file, true, NULL, NULL, NULL, &resolved, &node, &err) < 0
      || view_read(&node, file, ACCOUNTS_MAX, &b, &err) < 0) {
    derror_clear(&err);
    buf_free(&b);
    return NULL;
  }
  return b.data ? b.data : xstrdup("");
}

/* Field `want` of the entry keyed by `key` = `value`; false when absent. */
static bool
account_id(const char *data, int key, const char *value, int want, uint32_t *out)
{
  size_t n = 0;
  char **f = data ? account_line(data, key, value, &n) : NULL;
  bool ok = f && number(f[want], out);
  struct strv v = { f, n, n };

  strv_free(&v);
  return ok;
}

int
start_user(const struct view *image, const char *user, uint32_t *uid, uint32_t *gid, struct derror *err)
{
  *uid = *gid = 0;
  if (user == NULL || *user == '\0')
    return 0;
  cleanup_free char *name = xstrndup(user, strcspn(user, ":"));
  cleanup_free char *passwd = read_accounts(image, "/etc/passwd");
  const char *group = strchr(user, ':') ? strchr(user, ':') + 1 : NULL;
  bool numeric = number(name, uid);

  if (!numeric && !account_id(passwd, 0, name, 2, uid))
    return derror_set(err, "user \"%s\" is not in the image's /etc/passwd", name);
  if (group == NULL) {
    /* the user's own group, as runtimes take it from passwd; else 0 */
    cleanup_free char *id = xasprintf("%u", *uid);
    if (!(numeric ? account_id(passwd, 2, id, 3, gid) : account_id(passwd, 0, name, 3, gid)))
      *gid = 0;
    return 0;
  }
  if (number(group, gid))
    return 0;
  cleanup_free char *groups = read_accounts(image, "/etc/group");
  if (!account_id(groups, 0, group, 2, gid))
    return derror_set(err, "group \"%s\" is not in the image's /etc/group", group);
  return 0;
}
