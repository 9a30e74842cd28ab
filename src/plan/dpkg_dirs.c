/* Paths as dpkg's lists name them, compared with the image's after both
 * are resolved in the sysroot: see dpkg_dirs.h. */
#include "plan/dpkg_dirs.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "lib/path.h"
#include "lib/strmap.h"
#include "plan/sysroot.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void
dirs_put(struct dpkg_dirs *c, const char *dir, char *resolved)
{
  if (resolved)
    strv_push_take(&c->resolved, resolved);
  strmap_put(&c->index, dir, resolved ? c->resolved.n : 0, false);
}

void
dpkg_dirs_free(struct dpkg_dirs *c)
{
  strmap_free(&c->index);
  strv_free(&c->resolved);
}

/* The in-root directory `dir` resolved, or NULL when it is not one. */
static const char *
resolve_dir(const struct sysroot *root, struct dpkg_dirs *c, const char *dir)
{
  if (strcmp(dir, "/") == 0)
    return "/";
  size_t known;
  if (strmap_get(&c->index, dir, &known))
    return known ? c->resolved.items[known - 1] : NULL;
  cleanup_free char *parent = path_dirname(dir);
  const char *base = path_basename(dir);
  const char *up = resolve_dir(root, c, parent);
  char *resolved = NULL;
  if (up && strcmp(base, ".") != 0 && strcmp(base, "..") != 0) {
    cleanup_free char *path = xasprintf("%s/%s", strcmp(up, "/") == 0 ? "" : up, base);
    cleanup_free char *host = sysroot_host_path(root, path);
    struct stat st;
    int r = lstat(host, &st);
    if (r == 0 && S_ISDIR(st.st_mode)) {
      resolved = steal_pointer(&path);
    } else if (r == 0 && S_ISLNK(st.st_mode)) {
      struct derror err = DERROR_INIT;
      if (sysroot_resolve(root, path, NULL, NULL, &resolved, &st, &err) < 0 || !S_ISDIR(st.st_mode)) {
        free(resolved);
        resolved = NULL;
      }
      derror_clear(&err);
    }
  } else if (up) {
    /* "." and "..": the whole path, the long way */
    struct derror err = DERROR_INIT;
    struct stat st;
    if (sysroot_resolve(root, dir, NULL, NULL, &resolved, &st, &err) < 0 || !S_ISDIR(st.st_mode)) {
      free(resolved);
      resolved = NULL;
    }
    derror_clear(&err);
  }
  dirs_put(c, dir, resolved);
  return resolved;
}

char *
dpkg_canonical(const struct sysroot *root, struct dpkg_dirs *c, const char *path)
{
  cleanup_free char *dir = path_dirname(path);
  const char *resolved = resolve_dir(root, c, dir);

  if (resolved == NULL)
    return NULL;
  return xasprintf("%s/%s", strcmp(resolved, "/") == 0 ? "" : resolved, path_basename(path));
}
