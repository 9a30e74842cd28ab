#include "lib/path.h"
#include "lib/alloc.h"

#include <string.h>

char *
path_join(const char *dir, const char *name)
{
  size_t dl = strlen(dir);

  while (dl > 0 && dir[dl - 1] == '/')
    dl--;
  while (*name == '/')
    name++;
  if (*name == '\0')
    return dl ? xstrndup(dir, dl) : xstrdup("/");
  return xasprintf("%.*s/%s", (int) dl, dir, name);
}

char *
path_dirname(const char *path)
{
  const char *slash = strrchr(path, '/');

  if (slash == NULL)
    return xstrdup(".");
  while (slash > path && slash[-1] == '/')
    slash--;
  if (slash == path)
    return xstrdup("/");
  return xstrndup(path, (size_t) (slash - path));
}

const char *
path_basename(const char *path)
{
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

char *
path_lexical(const char *path)
{
  struct buf b = { 0 };

  if (path[0] != '/')
    return NULL;
  buf_append(&b, "", 0);
  for (const char *p = path; *p;) {
    p += strspn(p, "/");
    size_t n = strcspn(p, "/");
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      char *slash = strrchr(b.data, '/');
      b.len = slash ? (size_t) (slash - b.data) : 0;
      b.data[b.len] = '\0';
    } else if (n > 0 && !(n == 1 && p[0] == '.')) {
      buf_append(&b, "/", 1);
      buf_append(&b, p, n);
    }
    p += n;
  }
  if (b.len == 0)
    buf_append(&b, "/", 1);
  return b.data;
}

char *
path_normalize(const char *path)
{
  struct buf out = { 0 };
  const char *p = path;

  if (path[0] != '/')
    return NULL;
  while (*p) {
    const char *start, *end;

    while (*p == '/')
      p++;
    start = p;
    while (*p && *p != '/')
      p++;
    end = p;
    if (end == start || (end - start == 1 && start[0] == '.'))
      continue;
    if (end - start == 2 && start[0] == '.' && start[1] == '.') {
      buf_free(&out);
      return NULL;
    }
    buf_append(&out, "/", 1);
    buf_append(&out, start, (size_t) (end - start));
  }
  if (out.len == 0)
    buf_append(&out, "/", 1);
  return out.data;
}
