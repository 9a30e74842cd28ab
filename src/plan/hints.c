#include "plan/hints.h"
#include "lib/path.h"
#include "lib/file.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The object of the process of `program` whose soname or name starts with
 * `prefix`, or NULL. */
static const struct closure_object *
find_in_process(const struct closure *c, size_t program, const char *prefix)
{
  for (size_t i = 0; i < c->n_objects; i++) {
    const struct closure_object *o = &c->objects[i];
    const char *name = o->elf.soname ? o->elf.soname : path_basename(o->path);
    if ((size_t) o->process == program && strncmp(name, prefix, strlen(prefix)) == 0)
      return o;
  }
  return NULL;
}

/* Programs that need one thing: one hint names them all, not one hint a
 * program (a recipe with ten programs linked to libcrypto gets one). */
struct group {
  char *about; /* what the hint is about: a directory, or NULL */
  struct strv programs, objects;
};

struct groups {
  struct group *items;
  size_t n;
};

static void
group_add(struct groups *g, const char *about, const char *program, const char *object)
{
  struct group *x = NULL;

  for (size_t i = 0; i < g->n && x == NULL; i++)
    if ((about == NULL && g->items[i].about == NULL)
        || (about && g->items[i].about && strcmp(g->items[i].about, about) == 0))
      x = &g->items[i];
  if (x == NULL) {
    g->items = xreallocarray(g->items, g->n + 1, sizeof *g->items);
    x = &g->items[g->n++];
    memset(x, 0, sizeof *x);
    x->about = about ? xstrdup(about) : NULL;
  }
  if (!strv_contains(&x->programs, program))
    strv_push(&x->programs, program);
  if (object && !strv_contains(&x->objects, object))
    strv_push(&x->objects, object);
}

static void
groups_free(struct groups *g)
{
  for (size_t i = 0; i < g->n; i++) {
    free(g->items[i].about);
    strv_free(&g->items[i].programs);
    strv_free(&g->items[i].objects);
  }
  free(g->items);
}

/* "a, b, c", each in `quote`s. */
static char *
list(const struct strv *v, const char *quote)
{
  struct buf b = { 0 };

  for (size_t i = 0; i < v->n; i++)
    buf_printf(&b, "%s%s%s%s", i ? ", " : "", quote, v->items[i], quote);
  return b.data ? b.data : xstrdup("");
}

/* glibc unwinds threads with libgcc_s.so.1, which it dlopen()s the first
 * time pthread_cancel() or pthread_exit() runs. */
static void
hint_libgcc_s(const struct closure *c, size_t p, struct groups *g)
{
  static const char *const cancel[] = { "pthread_cancel", "pthread_exit", NULL };

  if (find_in_process(c, p, "libgcc_s.so.1") || !find_in_process(c, p, "libc.so.6"))
    return;
  for (size_t i = 0; i < c->n_objects; i++) {
    const struct closure_object *o = &c->objects[i];
    if ((size_t) o->process != p)
      continue;
    if (o->host && elf_imports_any(o->host, cancel)) {
      group_add(g, NULL, c->objects[p].path, o->path);
      return;
    }
  }
}

/* The image's nsswitch.conf uses files and dns, both inside libc; other
 * services of the sysroot's would need libnss_SERVICE.so.2.  Said once. */
static void
hint_nss(const struct sysroot *root, struct strv *out)
{
  struct buf b = { 0 }, names = { 0 };
  struct derror err = DERROR_INIT;
  struct strv services = { 0 };
  cleanup_free char *resolved = NULL;
  struct stat st;

  if (sysroot_resolve(root, "/etc/nsswitch.conf", NULL, NULL, &resolved, &st, &err) < 0
      || !S_ISREG(st.st_mode)) {
    derror_clear(&err);
    return;
  }
  cleanup_free char *host = sysroot_host_path(root, resolved);
  if (read_file(host, 64 * 1024, &b, &err) < 0) {
    derror_clear(&err);
    return;
  }
  char *save = NULL;
  for (char *line = strtok_r(b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *colon = strchr(line, ':');
    if (line[0] == '#' || colon == NULL)
      continue;
    char *wsave = NULL;
    for (char *w = strtok_r(colon + 1, " \t", &wsave); w; w = strtok_r(NULL, " \t", &wsave))
      if (w[0] != '[' && w[0] != '#' && strcmp(w, "files") && strcmp(w, "dns") && !strv_contains(&services, w))
        strv_push(&services, w);
  }
  for (size_t i = 0; i < services.n; i++)
    buf_printf(&names, "%s%s", i ? ", " : "", services.items[i]);
  if (services.n)
    strv_push_take(out, xasprintf("the sysroot's nsswitch.conf also names %s (libnss_*.so.2, loaded with "
                                  "dlopen); the image's nsswitch.conf uses files and dns, which are in libc",
                                  names.data));
  strv_free(&services);
  buf_free(&names);
  buf_free(&b);
}

static void
hint_openssl(const struct closure *c, const struct sysroot *root, size_t p, struct groups *g)
{
  const struct closure_object *crypto = find_in_process(c, p, "libcrypto.so.3");

  if (crypto == NULL)
    return;
  cleanup_free char *dir = path_dirname(crypto->real);
  cleanup_free char *modules = path_join(dir, "ossl-modules");
  if (sysroot_is(root, modules, S_IFDIR))
    group_add(g, modules, c->objects[p].path, NULL);
}

static void
hint_python(const struct closure *c, const struct sysroot *root, size_t p, struct groups *g)
{
  const struct closure_object *lib = find_in_process(c, p, "libpython3.");
  const char *name = lib ? (lib->elf.soname ? lib->elf.soname : path_basename(lib->path))
                         : path_basename(c->objects[p].path);
  unsigned minor;

  if (sscanf(name, lib ? "libpython3.%u" : "python3.%u", &minor) != 1)
    return;
  cleanup_free char *stdlib = xasprintf("/usr/lib/python3.%u", minor);
  if (sysroot_is(root, stdlib, S_IFDIR))
    group_add(g, stdlib, c->objects[p].path, NULL);
}

void
hints_for_closure(const struct closure *c, const struct sysroot *root, struct strv *out)
{
  struct groups cancel = { 0 }, openssl = { 0 }, python = { 0 };
  bool libc = false;

  for (size_t p = 0; p < c->n_objects; p++) {
    if (c->objects[p].how != CLOSURE_PROGRAM || c->objects[p].process != (int) p)
      continue;
    libc |= find_in_process(c, p, "libc.so.6") != NULL;
    hint_libgcc_s(c, p, &cancel);
    hint_openssl(c, root, p, &openssl);
    hint_python(c, root, p, &python);
  }
  for (size_t i = 0; i < cancel.n; i++) {
    cleanup_free char *programs = list(&cancel.items[i].programs, "");
    cleanup_free char *objects = list(&cancel.items[i].objects, "`");
    strv_push_take(out, xasprintf("%s: %s call%s pthread_cancel or pthread_exit, for which glibc loads "
                                  "libgcc_s.so.1 with dlopen: add it to contents.libraries",
                                  programs, objects, cancel.items[i].objects.n == 1 ? "s" : ""));
  }
  for (size_t i = 0; i < openssl.n; i++) {
    cleanup_free char *programs = list(&openssl.items[i].programs, "");
    strv_push_take(out, xasprintf("%s: OpenSSL loads providers from `%s` (legacy.so, fips.so) and engines "
                                  "with dlopen: add the ones the program%s as contents.files",
                                  programs, openssl.items[i].about,
                                  openssl.items[i].programs.n == 1 ? " uses" : "s use"));
  }
  for (size_t i = 0; i < python.n; i++) {
    cleanup_free char *programs = list(&python.items[i].programs, "");
    strv_push_take(out, xasprintf("%s: Python imports its standard library and loads lib-dynload/*.so with "
                                  "dlopen: add `%s` as contents.directories",
                                  programs, python.items[i].about));
  }
  if (libc)
    hint_nss(root, out);
  groups_free(&cancel);
  groups_free(&openssl);
  groups_free(&python);
}
