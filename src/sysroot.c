#include "distill/sysroot.h"
#include "distill/util.h"
#include "distill/view.h"

#include <errno.h>
#include <limits.h>
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
  return 0;
}

void
sysroot_close(struct sysroot *s)
{
  free(s->root);
  s->root = NULL;
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
  if (r != VIEW_OK)
    return r == VIEW_MISSING ? SYSROOT_MISSING : r == VIEW_LOOP ? SYSROOT_LOOP : SYSROOT_ERROR;
  if (strcmp(*resolved, "/") != 0) {
    *st = node.st;
    return SYSROOT_OK;
  }
  /* the root itself: the walker met no component to lstat */
  cleanup_free char *host = sysroot_host_path(s, "/");
  if (lstat(host, st) < 0) {
    free(*resolved);
    *resolved = NULL;
    return derror_errno(err, errno, "`%s`", path);
  }
  return SYSROOT_OK;
}

int
sysroot_locate(const struct sysroot *s, const char *base_dir, const char *source, struct stat *st,
               char **host_path, struct derror *err)
{
  cleanup_free char *resolved = NULL;

  if (source[0] != '/') {
    char *p = path_join(base_dir, source);
    if (stat(p, st) < 0) {
      derror_errno(err, errno, "`%s`", p);
      free(p);
      return -1;
    }
    *host_path = p;
    return 0;
  }
  int r = sysroot_resolve(s, source, NULL, NULL, &resolved, st, err);
  if (r == SYSROOT_MISSING)
    return derror_set(err, "`%s`: not found in the sysroot `%s`", source, *s->root ? s->root : "/");
  if (r < 0)
    return -1;
  *host_path = sysroot_host_path(s, resolved);
  return 0;
}

bool
sysroot_is(const struct sysroot *s, const char *path, mode_t type)
{
  cleanup_free char *resolved = NULL;
  struct derror err = DERROR_INIT;
  struct stat st;
  int r = sysroot_resolve(s, path, NULL, NULL, &resolved, &st, &err);

  derror_clear(&err);
  return r == SYSROOT_OK && (st.st_mode & S_IFMT) == type;
}
