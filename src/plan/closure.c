#include "plan/closure.h"
#include "plan/closure_search.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "lib/path.h"
#include "plan/elf.h"
#include "plan/view.h"

#include <elf.h>
#include <string.h>

const char *
closure_how_name(enum closure_how how)
{
  switch (how) {
  case CLOSURE_PROGRAM:
    return "program";
  case CLOSURE_INTERP:
    return "interpreter";
  case CLOSURE_PATH:
    return "path";
  case CLOSURE_RPATH:
    return "rpath";
  case CLOSURE_RUNPATH:
    return "runpath";
  case CLOSURE_CACHE:
    return "cache";
  case CLOSURE_CONF:
    return "ld.so.conf";
  case CLOSURE_DEFAULT:
    return "default";
  case CLOSURE_BESIDE:
    return "beside the source";
  }
  return "?";
}

void
closure_init(struct closure *c, const struct view *view, const struct sysroot *root, struct rootfs *fs,
             rootfs_layer layer)
{
  memset(c, 0, sizeof *c);
  c->view = view;
  c->root = root;
  c->fs = fs;
  c->layer = layer;
  c->cwd = "/";
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
    free(o->host);
    free(o->host_origin);
    elf_info_free(&o->elf);
  }
  free(c->objects);
  strv_free(&c->subdirs);
  strv_free(&c->platforms);
  strv_free(&c->conf_dirs);
  strv_free(&c->missing);
  strv_free(&c->warnings);
  ldcache_free(&c->cache);
  memset(c, 0, sizeof *c);
}

/* ---- the objects ------------------------------------------------------- */

int
closure_new_object(struct closure *c, const char *name, const char *path, const char *real, struct elf_info *elf,
                   int loader, int process, enum closure_how how)
{
  if (c->n_objects == c->cap_objects) {
    c->cap_objects = c->cap_objects ? c->cap_objects * 2 : 32;
    c->objects = xreallocarray(c->objects, c->cap_objects, sizeof(*c->objects));
  }
  int idx = (int) c->n_objects++;
  struct closure_object *o = &c->objects[idx];
  memset(o, 0, sizeof *o);
  o->name = xstrdup(name);
  o->path = xstrdup(path);
  o->real = xstrdup(real);
  o->origin = path_dirname(path);
  o->elf = *elf;
  memset(elf, 0, sizeof *elf);
  o->loader = loader;
  o->process = process >= 0 ? process : idx;
  o->how = how;
  if (!c->have_ref) {
    c->ref.elf_class = o->elf.elf_class;
    c->ref.data = o->elf.data;
    c->ref.machine = o->elf.machine;
    c->ref.osabi = o->elf.osabi;
    c->have_ref = true;
  }
  return idx;
}

const char *
closure_object_name(const struct closure *c, int idx)
{
  return idx >= 0 ? c->objects[idx].path : "the recipe";
}

/* ---- the walk, in the loader's order of search ------------------------- */

static bool
already_loaded(const struct closure *c, int process, const char *name)
{
  for (size_t i = 0; process >= 0 && i < c->n_objects; i++) {
    const struct closure_object *o = &c->objects[i];
    if (o->process == process
        && (strcmp(o->name, name) == 0 || (o->elf.soname && strcmp(o->elf.soname, name) == 0)))
      return true;
  }
  return false;
}

/* The RPATH search of glibc: the requester's and each loader's up the
 * chain, then the program's, used only while the requester has no
 * DT_RUNPATH.  The program's own DT_RPATH counts only without DT_RUNPATH. */
static enum probe
search_rpath(struct closure *c, struct request *rq, int req, struct strv *searched, struct derror *err)
{
  int main = rq->process;
  bool did_main = false;

  rq->how = CLOSURE_RPATH;
  for (int o = req; o >= 0; o = c->objects[o].loader) {
    const struct closure_object *obj = &c->objects[o];
    if (obj->elf.rpath == NULL || (o == main && obj->elf.runpath))
      continue;
    enum probe r = probe_list(c, rq, obj->elf.rpath, obj, searched, err);
    if (r == PROBE_FOUND || r == PROBE_ERROR)
      return r;
    did_main |= o == main;
  }
  if (!did_main && main >= 0 && c->objects[main].elf.rpath && !c->objects[main].elf.runpath)
    return probe_list(c, rq, c->objects[main].elf.rpath, &c->objects[main], searched, err);
  return PROBE_ABSENT;
}

static void
record_missing(struct closure *c, const struct request *rq, const struct strv *searched)
{
  struct buf b = { 0 };

  buf_printf(&b, "library `%s` needed by `%s`: not found", rq->name, closure_object_name(c, rq->loader));
  if (rq->other_class)
    buf_printf(&b, ", only one for another architecture");
  buf_printf(&b, " (searched ");
  for (size_t i = 0; i < searched->n && i < 8; i++)
    buf_printf(&b, "%s%s", i ? ", " : "", searched->items[i]);
  if (searched->n > 8)
    buf_printf(&b, " and %zu more", searched->n - 8);
  buf_printf(&b, "%s)", searched->n ? "" : "nothing");
  if (rq->partial) {
    /* some CPUs find it in a variant directory: not missing for them */
    buf_printf(&b, " on CPUs without the variant it was found in; those CPUs cannot start the program");
    strv_push_take(&c->warnings, b.data);
    return;
  }
  strv_push_take(&c->missing, b.data);
}

static int
search(struct closure *c, int req, int process, const char *name, struct derror *err)
{
  const struct closure_object *r = req >= 0 ? &c->objects[req] : NULL;
  const struct closure_object *main = process >= 0 ? &c->objects[process] : NULL;
  struct request rq = { name, req, process, CLOSURE_RPATH, false, false };
  struct strv searched = { 0 };
  enum probe p = PROBE_ABSENT;
  /* NODEFLIB is read from the requester, or the program for dlopen. */
  bool nodeflib = ((r ? r : main) && ((r ? r : main)->elf.flags_1 & DF_1_NODEFLIB));

  if (r == NULL || r->elf.runpath == NULL)
    p = search_rpath(c, &rq, req, &searched, err);
  if (p != PROBE_FOUND && p != PROBE_ERROR && r && r->elf.runpath) {
    rq.how = CLOSURE_RUNPATH;
    p = probe_list(c, &rq, r->elf.runpath, r, &searched, err);
  }
  if (p != PROBE_FOUND && p != PROBE_ERROR)
    p = probe_cache(c, &rq, nodeflib, &searched, err);
  if (p != PROBE_FOUND && p != PROBE_ERROR && !nodeflib) {
    struct strv sys = { 0 };
    closure_system_dirs(c, &sys);
    rq.how = CLOSURE_DEFAULT;
    p = probe_dirs(c, &rq, &sys, false, &searched, err);
    strv_free(&sys);
  }
  if (p != PROBE_FOUND && p != PROBE_ERROR)
    record_missing(c, &rq, &searched);
  strv_free(&searched);
  return p == PROBE_ERROR ? -1 : 0;
}

/* A DT_NEEDED (or dlopen name) with a slash is a path: tokens expanded, a
 * relative one taken from the process's directory, never searched. */
static int
open_path(struct closure *c, int req, int process, const char *name, struct derror *err)
{
  const struct closure_object *o = req >= 0 ? &c->objects[req] : NULL;
  const char *pv = c->platforms.n ? c->platforms.items[0] : "";
  cleanup_free char *expanded = closure_expand_tokens(c, name, o ? o->origin : "/", pv);
  cleanup_free char *path = expanded[0] == '/' ? xstrdup(expanded) : path_join(c->cwd, expanded);
  cleanup_free char *host = o && o->host_origin && closure_has_token(name, "ORIGIN")
                              ? closure_expand_tokens(c, name, o->host_origin, pv) : NULL;
  struct request rq = { name, req, process, CLOSURE_PATH, false, false };
  struct strv searched = { 0 };

  closure_cpu_variants(c);
  enum probe p = probe_name(c, &rq, path, host, NULL, err);
  if (p == PROBE_ERROR)
    return -1;
  if (p != PROBE_FOUND) {
    strv_push(&searched, path);
    record_missing(c, &rq, &searched);
    strv_free(&searched);
  }
  return 0;
}

static int
load_needed(struct closure *c, int req, const char *name, struct derror *err)
{
  int process = c->objects[req].process;

  if (strchr(name, '/'))
    return open_path(c, req, process, name, err);
  if (already_loaded(c, process, name))
    return 0;
  return search(c, req, process, name, err);
}

/* The kernel maps a program's interpreter; it is not searched for. */
static int
add_interpreter(struct closure *c, int idx, struct derror *err)
{
  cleanup_free char *interp = xstrdup(c->objects[idx].elf.interp);
  cleanup_free char *name = xstrdup(c->objects[idx].path);
  struct request rq = { interp, idx, c->objects[idx].process, CLOSURE_INTERP, false, false };

  enum probe p = probe_path(c, &rq, interp, true, NULL, err);
  if (p == PROBE_ERROR)
    return -1;
  if (p != PROBE_FOUND)
    strv_push_take(&c->missing, xasprintf("interpreter `%s` of `%s`: not found in %s%s", interp, name,
                                          c->view->name, p == PROBE_OTHER ? " for this architecture" : ""));
  return 0;
}

int
closure_add_program(struct closure *c, const char *name, const char *origin, const char *host_origin,
                    const char *host, struct elf_info *elf, struct derror *err)
{
  if (c->have_ref && !elf_compatible(&c->ref, elf))
    return derror_set(err, "`%s` is for another architecture than the first program", name);
  int idx = closure_new_object(c, name, name, name, elf, -1, -1, CLOSURE_PROGRAM);
  free(c->objects[idx].origin);
  c->objects[idx].origin = xstrdup(origin);
  c->objects[idx].host = xstrdup(host);
  c->objects[idx].host_origin = host_origin ? xstrdup(host_origin) : NULL;
  if (c->objects[idx].elf.interp == NULL)
    return 0;
  return add_interpreter(c, idx, err);
}

int
closure_add_library(struct closure *c, const char *name, struct derror *err)
{
  /* dlopen() from the first program: its process and search paths. */
  int loader = c->n_objects > 0 && c->objects[0].how == CLOSURE_PROGRAM ? 0 : -1;
  int process = loader >= 0 ? c->objects[loader].process : -1;
  size_t before = c->n_objects;

  if (name[0] != '/')
    return already_loaded(c, process, name) ? 0 : search(c, loader, process, name, err);
  if (open_path(c, loader, process, name, err) < 0)
    return -1;
  /* A program named as a library (a runtime put in the libraries layer)
   * is started too: it needs its interpreter where it says. */
  const struct elf_info *e = c->n_objects > before ? &c->objects[before].elf : NULL;
  if (e && e->interp && (e->type == ET_EXEC || e->soname == NULL))
    return add_interpreter(c, (int) before, err);
  return 0;
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
