#include "distill/closure.h"

#include <ctype.h>
#include <elf.h>
#include <errno.h>
#include <glob.h>
#include <string.h>
#include <sys/stat.h>

/* ld.so.conf files include each other; ldconfig has no loop check either,
 * so bound the depth. */
#define CONF_MAX_DEPTH 8
#define CONF_MAX_BYTES (1024 * 1024)

void
closure_init(struct closure *c, const struct sysroot *root, struct rootfs *fs, enum rootfs_layer layer)
{
  memset(c, 0, sizeof *c);
  c->root = root;
  c->fs = fs;
  c->layer = layer;
}

void
closure_free(struct closure *c)
{
  for (size_t i = 0; i < c->n_objects; i++) {
    struct closure_object *o = &c->objects[i];
    free(o->name);
    free(o->path);
    free(o->real);
    free(o->origin);
    elf_info_free(&o->elf);
  }
  free(c->objects);
  strv_free(&c->conf_dirs);
  memset(c, 0, sizeof *c);
}

static int
new_object(struct closure *c, const char *name, const char *path, const char *real, struct elf_info *elf,
           int loader)
{
  if (c->n_objects == c->cap_objects) {
    c->cap_objects = c->cap_objects ? c->cap_objects * 2 : 32;
    c->objects = xreallocarray(c->objects, c->cap_objects, sizeof(*c->objects));
  }
  struct closure_object *o = &c->objects[c->n_objects];
  memset(o, 0, sizeof *o);
  o->name = xstrdup(name);
  o->path = xstrdup(path);
  o->real = xstrdup(real);
  o->origin = path_dirname(path);
  o->elf = *elf;
  memset(elf, 0, sizeof *elf);
  o->loader = loader;
  if (!c->have_ref) {
    c->ref.elf_class = o->elf.elf_class;
    c->ref.data = o->elf.data;
    c->ref.machine = o->elf.machine;
    c->ref.osabi = o->elf.osabi;
    c->have_ref = true;
  }
  return (int) c->n_objects++;
}

/* ---- ld.so.conf ------------------------------------------------------- */

static int read_conf(const struct sysroot *root, const char *path, struct strv *dirs, int depth,
                     struct derror *err);

static int
read_conf_glob(const struct sysroot *root, const char *conf, const char *pattern, struct strv *dirs, int depth,
               struct derror *err)
{
  cleanup_free char *dir = path_dirname(conf);
  cleanup_free char *abs = pattern[0] == '/' ? xstrdup(pattern) : path_join(dir, pattern);
  cleanup_free char *host = sysroot_host_path(root, abs);
  size_t skip = strlen(root->root);
  glob_t g;
  int ret = 0;

  int r = glob(host, 0, NULL, &g);
  if (r == GLOB_NOMATCH)
    return 0;
  if (r != 0)
    return derror_set(err, "`%s`: include `%s`: cannot expand", conf, pattern);
  for (size_t i = 0; ret == 0 && i < g.gl_pathc; i++)
    ret = read_conf(root, g.gl_pathv[i] + skip, dirs, depth + 1, err);
  globfree(&g);
  return ret;
}

static int
read_conf(const struct sysroot *root, const char *path, struct strv *dirs, int depth, struct derror *err)
{
  cleanup_free char *resolved = NULL, *host = NULL;
  struct buf b = { 0 };
  struct stat st;
  int ret = 0;

  if (depth > CONF_MAX_DEPTH)
    return derror_set(err, "`%s`: includes nested deeper than %d", path, CONF_MAX_DEPTH);
  int r = sysroot_resolve(root, path, NULL, NULL, &resolved, &st, err);
  if (r == -2)
    return 0;
  if (r < 0 || !S_ISREG(st.st_mode))
    return r < 0 ? -1 : 0;
  host = sysroot_host_path(root, resolved);
  if (read_file(host, CONF_MAX_BYTES, &b, err) < 0)
    return -1;
  char *save = NULL;
  for (char *line = strtok_r(b.data, "\n", &save); ret == 0 && line; line = strtok_r(NULL, "\n", &save)) {
    char *hash = strchr(line, '#');
    if (hash)
      *hash = '\0';
    char *word = line + strspn(line, " \t\r");
    word[strcspn(word, "\r")] = '\0';
    if (*word == '\0')
      continue;
    if (strncmp(word, "include", 7) == 0 && (word[7] == ' ' || word[7] == '\t')) {
      char *isave = NULL;
      for (char *pat = strtok_r(word + 8, " \t", &isave); ret == 0 && pat; pat = strtok_r(NULL, " \t", &isave))
        ret = read_conf_glob(root, path, pat, dirs, depth, err);
      continue;
    }
    if (strncmp(word, "hwcap", 5) == 0 && (word[5] == ' ' || word[5] == '\t'))
      continue;
    /* A directory, possibly followed by blanks or an old "=TYPE". */
    word[strcspn(word, " \t=")] = '\0';
    char *norm = word[0] == '/' ? path_normalize(word) : NULL;
    if (norm && !strv_contains(dirs, norm))
      strv_push_take(dirs, norm);
    else
      free(norm);
  }
  buf_free(&b);
  return ret;
}

int
closure_read_ld_so_conf(const struct sysroot *root, struct strv *dirs, struct derror *err)
{
  return read_conf(root, "/etc/ld.so.conf", dirs, 0, err);
}

/* ---- candidates ------------------------------------------------------- */

struct links {
  struct strv paths, targets;
};

static int
collect_link(void *data, const char *path, const char *target, struct derror *err)
{
  struct links *l = data;

  strv_push(&l->paths, path);
  strv_push(&l->targets, target);
  return 0;
}

static void
links_free(struct links *l)
{
  strv_free(&l->paths);
  strv_free(&l->targets);
}

static void
add_links(struct closure *c, const struct links *l, const char *why)
{
  for (size_t i = 0; i < l->paths.n; i++)
    rootfs_add_symlink(c->fs, l->paths.items[i], c->layer, l->targets.items[i], why);
}

static const char *
object_name(const struct closure *c, int idx)
{
  return idx >= 0 ? c->objects[idx].path : "the recipe";
}

/* Try to load `path` for `name`.  Returns 1 and the object's index when it
 * is usable, 0 when it is missing or for another architecture (the loader
 * goes on searching), -1 on an error that would stop the loader. */
static int
try_path(struct closure *c, const char *name, const char *path, int loader, int *idx, struct derror *err)
{
  struct links links = { 0 };
  cleanup_free char *resolved = NULL, *host = NULL, *why = NULL;
  struct elf_info elf;
  struct stat st;
  int ret = -1;

  int r = sysroot_resolve(c->root, path, collect_link, &links, &resolved, &st, err);
  if (r == -2) {
    ret = 0;
    goto out;
  }
  if (r < 0)
    goto out;
  why = xasprintf("the closure of %s", object_name(c, loader));
  if (!S_ISREG(st.st_mode)) {
    derror_set(err, "`%s` (for `%s`, needed by `%s`) is not a regular file", path, name, object_name(c, loader));
    goto out;
  }
  for (size_t i = 0; i < c->n_objects; i++)
    if (strcmp(c->objects[i].real, resolved) == 0) {
      add_links(c, &links, why);
      *idx = (int) i;
      ret = 1;
      goto out;
    }
  host = sysroot_host_path(c->root, resolved);
  if (elf_read(host, path, &elf, err) < 0) {
    derror_wrap(err, "library `%s` needed by `%s`", name, object_name(c, loader));
    goto out;
  }
  if (c->have_ref && !elf_compatible(&c->ref, &elf)) {
    elf_info_free(&elf);
    ret = 0;
    goto out;
  }
  add_links(c, &links, why);
  rootfs_add_file(c->fs, resolved, c->layer, host, (uint64_t) st.st_size, 0755, why);
  *idx = new_object(c, name, path, resolved, &elf, loader);
  ret = 1;
out:
  links_free(&links);
  return ret;
}

/* ---- search ----------------------------------------------------------- */

static bool
already_loaded(const struct closure *c, const char *name)
{
  for (size_t i = 0; i < c->n_objects; i++) {
    const struct closure_object *o = &c->objects[i];
    if (strcmp(o->name, name) == 0 || (o->elf.soname && strcmp(o->elf.soname, name) == 0))
      return true;
  }
  return false;
}

static const char *
platform_name(const struct elf_info *ref)
{
  const char *mt = elf_multiarch(ref);
  static const struct {
    const char *prefix, *platform;
  } map[] = { { "x86_64", "x86_64" }, { "aarch64", "aarch64" }, { "i386", "i686" }, { "arm-", "v7l" },
              { "powerpc64le", "power8" }, { "s390x", "z900" }, { "riscv64", "riscv64" } };

  for (size_t i = 0; mt && i < sizeof map / sizeof *map; i++)
    if (strncmp(mt, map[i].prefix, strlen(map[i].prefix)) == 0)
      return map[i].platform;
  return NULL;
}

/* Expand $ORIGIN, $LIB and $PLATFORM (and their ${} forms) in one element
 * of a DT_RPATH or DT_RUNPATH; unknown tokens stay as they are. */
static char *
expand_tokens(const struct closure *c, const char *elem, const char *origin)
{
  static const char *const tokens[] = { "ORIGIN", "LIB", "PLATFORM" };
  cleanup_free char *lib = NULL;
  const char *mt = elf_multiarch(&c->ref);
  struct buf b = { 0 };

  lib = mt ? xasprintf("lib/%s", mt) : xstrdup(c->ref.elf_class == 2 ? "lib64" : "lib");
  for (const char *p = elem; *p;) {
    size_t t, len = 0;
    bool braced = p[0] == '$' && p[1] == '{';
    for (t = 0; p[0] == '$' && t < 3; t++) {
      len = strlen(tokens[t]);
      const char *q = p + 1 + braced;
      if (strncmp(q, tokens[t], len) == 0 && (braced ? q[len] == '}' : !(q[len] == '_' || isalnum((unsigned char) q[len]))))
        break;
    }
    if (p[0] != '$' || t == 3) {
      buf_append(&b, p, 1);
      p++;
      continue;
    }
    const char *value = t == 0 ? origin : t == 1 ? lib : platform_name(&c->ref);
    if (value == NULL)
      value = "";
    buf_append(&b, value, strlen(value));
    p += 1 + len + (braced ? 2 : 0);
  }
  if (b.data == NULL)
    buf_append(&b, "", 0);
  return b.data;
}

static void
push_path_list(const struct closure *c, struct strv *dirs, const char *list, const char *origin)
{
  cleanup_free char *copy = xstrdup(list);
  char *save = NULL;

  for (char *e = strtok_r(copy, ":", &save); e; e = strtok_r(NULL, ":", &save)) {
    char *dir = expand_tokens(c, e, origin);
    if (dir[0] == '/' && !strv_contains(dirs, dir))
      strv_push_take(dirs, dir);
    else
      free(dir);
  }
}

static void
default_dirs(const struct closure *c, struct strv *dirs)
{
  const char *mt = elf_multiarch(&c->ref);

  if (mt) {
    strv_push_take(dirs, xasprintf("/lib/%s", mt));
    strv_push_take(dirs, xasprintf("/usr/lib/%s", mt));
  }
  if (c->ref.elf_class == 2) {
    strv_push(dirs, "/lib64");
    strv_push(dirs, "/usr/lib64");
  }
  strv_push(dirs, "/lib");
  strv_push(dirs, "/usr/lib");
}

/* The directories searched for a DT_NEEDED of object `req` (-1: dlopen from
 * the program), in the loader's order. */
static int
search_dirs(struct closure *c, int req, struct strv *dirs, struct derror *err)
{
  const struct closure_object *r = req >= 0 ? &c->objects[req] : NULL;

  if (!c->conf_loaded) {
    if (closure_read_ld_so_conf(c->root, &c->conf_dirs, err) < 0)
      return derror_wrap(err, "ld.so.conf");
    c->conf_loaded = true;
  }
  /* DT_RPATH of the requester and of the objects that loaded it, up to the
   * program, only while the requester has no DT_RUNPATH; an object's own
   * DT_RPATH is ignored when it has a DT_RUNPATH. */
  if (r == NULL || r->elf.runpath == NULL)
    for (int o = req; o >= 0; o = c->objects[o].loader)
      if (c->objects[o].elf.rpath && c->objects[o].elf.runpath == NULL)
        push_path_list(c, dirs, c->objects[o].elf.rpath, c->objects[o].origin);
  /* DT_RUNPATH applies to the object's own DT_NEEDED only. */
  if (r && r->elf.runpath)
    push_path_list(c, dirs, r->elf.runpath, r->origin);
  if (r && (r->elf.flags_1 & DF_1_NODEFLIB))
    return 0;
  for (size_t i = 0; i < c->conf_dirs.n; i++)
    if (!strv_contains(dirs, c->conf_dirs.items[i]))
      strv_push(dirs, c->conf_dirs.items[i]);
  struct strv defaults = { 0 };
  default_dirs(c, &defaults);
  for (size_t i = 0; i < defaults.n; i++)
    if (!strv_contains(dirs, defaults.items[i]))
      strv_push(dirs, defaults.items[i]);
  strv_free(&defaults);
  return 0;
}

static int
load_needed(struct closure *c, int req, const char *name, struct derror *err)
{
  struct strv dirs = { 0 };
  int idx, ret = -1;

  if (strchr(name, '/')) {
    /* A name with a slash is opened as it is, not searched for. */
    cleanup_free char *path = name[0] == '/' ? xstrdup(name) : path_join(c->objects[req].origin, name);
    int r = try_path(c, name, path, req, &idx, err);
    if (r == 0)
      return derror_set(err, "library `%s` needed by `%s`: not found in the sysroot", name, object_name(c, req));
    return r < 0 ? -1 : 0;
  }
  if (already_loaded(c, name))
    return 0;
  if (search_dirs(c, req, &dirs, err) < 0)
    goto out;
  for (size_t i = 0; i < dirs.n; i++) {
    cleanup_free char *path = path_join(dirs.items[i], name);
    int r = try_path(c, name, path, req, &idx, err);
    if (r < 0)
      goto out;
    if (r > 0) {
      ret = 0;
      goto out;
    }
  }
  struct buf searched = { 0 };
  for (size_t i = 0; i < dirs.n && i < 8; i++)
    buf_printf(&searched, "%s%s", i ? ", " : "", dirs.items[i]);
  if (dirs.n > 8)
    buf_printf(&searched, " and %zu more", dirs.n - 8);
  derror_set(err, "library `%s` needed by `%s`: not found in the sysroot (searched %s)", name,
             object_name(c, req), searched.data ? searched.data : "nothing");
  buf_free(&searched);
out:
  strv_free(&dirs);
  return ret;
}

int
closure_add_program(struct closure *c, const char *name, const char *origin, struct elf_info *elf,
                    struct derror *err)
{
  cleanup_free char *interp = elf->interp ? xstrdup(elf->interp) : NULL;
  int idx = new_object(c, name, name, name, elf, -1);
  free(c->objects[idx].origin);
  c->objects[idx].origin = xstrdup(origin);

  if (interp) {
    int loader_idx;
    int r = try_path(c, interp, interp, idx, &loader_idx, err);
    if (r == 0)
      return derror_set(err, "interpreter `%s` of `%s`: not found in the sysroot", interp, name);
    if (r < 0)
      return -1;
  }
  return 0;
}

int
closure_add_library(struct closure *c, const char *name, struct derror *err)
{
  int idx;

  if (name[0] == '/') {
    int r = try_path(c, name, name, -1, &idx, err);
    if (r == 0)
      return derror_set(err, "library `%s`: not found in the sysroot%s", name,
                        c->have_ref ? " (or not for the program's architecture)" : "");
    return r < 0 ? -1 : 0;
  }
  return load_needed(c, -1, name, err);
}

int
closure_resolve(struct closure *c, struct derror *err)
{
  /* Breadth first, as the loader maps DT_NEEDED entries. */
  for (size_t i = 0; i < c->n_objects; i++) {
    if (c->objects[i].processed)
      continue;
    c->objects[i].processed = true;
    for (size_t j = 0; j < c->objects[i].elf.needed.n; j++) {
      cleanup_free char *name = xstrdup(c->objects[i].elf.needed.items[j]);
      if (load_needed(c, (int) i, name, err) < 0)
        return -1;
    }
  }
  return 0;
}
