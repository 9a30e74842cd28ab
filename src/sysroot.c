#include "distill/sysroot.h"
#include "distill/util.h"

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

/* The resolution state: `done` is the resolved in-root prefix ("" is the
 * root) and `todo` the components still to walk, as a path string. */
static void
pop_component(struct buf *done)
{
  char *slash = strrchr(done->data, '/');
  if (slash) {
    *slash = '\0';
    done->len = (size_t) (slash - done->data);
  }
}

int
sysroot_resolve(const struct sysroot *s, const char *path, sysroot_link_fn on_link, void *data,
                char **resolved, struct stat *st, struct derror *err)
{
  struct buf done = { 0 };
  cleanup_free char *todo = xstrdup(path);
  cleanup_free char *final_host = NULL;
  size_t pos = 0;
  int hops = 0, ret = -1;

  *resolved = NULL;
  buf_append(&done, "", 0);
  if (path[0] != '/') {
    derror_set(err, "`%s`: not an absolute path", path);
    goto out;
  }
  for (;;) {
    while (todo[pos] == '/')
      pos++;
    if (todo[pos] == '\0')
      break;
    size_t start = pos;
    while (todo[pos] && todo[pos] != '/')
      pos++;
    size_t clen = pos - start;
    if (clen == 1 && todo[start] == '.')
      continue;
    if (clen == 2 && todo[start] == '.' && todo[start + 1] == '.') {
      pop_component(&done); /* ".." at the root stays at the root */
      continue;
    }
    size_t saved = done.len;
    buf_append(&done, "/", 1);
    buf_append(&done, todo + start, clen);

    cleanup_free char *host = sysroot_host_path(s, done.data);
    if (lstat(host, st) < 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        *resolved = steal_pointer(&done.data);
        ret = SYSROOT_MISSING;
        goto out;
      }
      derror_errno(err, errno, "`%s`", path);
      goto out;
    }
    if (!S_ISLNK(st->st_mode)) {
      bool last = todo[pos + strspn(todo + pos, "/")] == '\0';
      if (!last && !S_ISDIR(st->st_mode)) {
        *resolved = steal_pointer(&done.data);
        ret = SYSROOT_MISSING;
        goto out;
      }
      continue;
    }
    if (++hops > SYSROOT_MAX_SYMLINKS) {
      derror_set(err, "`%s`: more than %d symlinks (a loop at `%s`?)", path, SYSROOT_MAX_SYMLINKS, done.data);
      ret = SYSROOT_LOOP;
      goto out;
    }
    char target[PATH_MAX];
    ssize_t n = readlink(host, target, sizeof target - 1);
    if (n < 0) {
      derror_errno(err, errno, "readlink `%s`", done.data);
      goto out;
    }
    target[n] = '\0';
    if (on_link && on_link(data, done.data, target, err) < 0)
      goto out;
    /* Continue with the target in place of the link, then the rest. */
    char *next = xasprintf("%s/%s", target, todo + pos);
    free(todo);
    todo = next;
    pos = 0;
    if (target[0] == '/') {
      done.len = 0;
      done.data[0] = '\0';
    } else {
      done.len = saved;
      done.data[saved] = '\0';
    }
  }
  if (done.len == 0)
    buf_append(&done, "/", 1);
  final_host = sysroot_host_path(s, done.data);
  if (lstat(final_host, st) < 0) {
    derror_errno(err, errno, "`%s`", path);
    goto out;
  }
  *resolved = steal_pointer(&done.data);
  ret = 0;
out:
  buf_free(&done);
  return ret;
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
