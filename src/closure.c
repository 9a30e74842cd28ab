#include "distill/closure.h"

#include <ctype.h>
#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

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
  }
  return "?";
}

void
closure_init(struct closure *c, const struct sysroot *root, struct rootfs *fs, enum rootfs_layer layer)
{
  memset(c, 0, sizeof *c);
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
    elf_info_free(&o->elf);
  }
  free(c->objects);
  strv_free(&c->conf_dirs);
  strv_free(&c->missing);
  strv_free(&c->warnings);
  ldcache_free(&c->cache);
  memset(c, 0, sizeof *c);
}

/* `process` is the root the object is loaded under, or -1: a root itself. */
static int
new_object(struct closure *c, const char *name, const char *path, const char *real, struct elf_info *elf,
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

static const char *
object_name(const struct closure *c, int idx)
{
  return idx >= 0 ? c->objects[idx].path : "the recipe";
}

/* ---- the sysroot's layout --------------------------------------------- */

/* Debian's loader searches /lib/<triplet>, /usr/lib/<triplet>, /lib and
 * /usr/lib; a layout without multiarch directories is a lib64 one for
 * 64-bit objects (Fedora, Arch, Alpine's glibc). */
void
closure_system_dirs(const struct closure *c, struct strv *dirs)
{
  const char *mt = elf_multiarch(&c->ref);
  cleanup_free char *lib = mt ? xasprintf("/lib/%s", mt) : NULL;
  cleanup_free char *usrlib = mt ? xasprintf("/usr/lib/%s", mt) : NULL;

  if (mt && (sysroot_is(c->root, lib, S_IFDIR) || sysroot_is(c->root, usrlib, S_IFDIR))) {
    strv_push(dirs, lib);
    strv_push(dirs, usrlib);
  } else if (c->ref.elf_class == ELFCLASS64) {
    strv_push(dirs, "/lib64");
    strv_push(dirs, "/usr/lib64");
    return;
  }
  strv_push(dirs, "/lib");
  strv_push(dirs, "/usr/lib");
}

static bool
under_system_dir(const struct closure *c, const char *path)
{
  struct strv sys = { 0 };
  bool under = false;

  closure_system_dirs(c, &sys);
  for (size_t i = 0; i < sys.n && !under; i++) {
    size_t n = strlen(sys.items[i]);
    under = strncmp(path, sys.items[i], n) == 0 && path[n] == '/';
  }
  strv_free(&sys);
  return under;
}

/* Subdirectories tried before each searched directory, in the loader's
 * order of priority: glibc-hwcaps (2.33+) then the legacy hwcap and
 * platform ones (until 2.37).  The CPU picks at run time, so every one
 * present is copied. */
static const char *const *
variant_dirs(const struct closure *c)
{
  static const char *const x86_64[] = {
    "glibc-hwcaps/x86-64-v4", "glibc-hwcaps/x86-64-v3", "glibc-hwcaps/x86-64-v2",
    "tls/x86_64/x86_64", "tls/x86_64", "tls", "x86_64/x86_64", "x86_64", NULL,
  };
  static const char *const ppc64le[] = { "glibc-hwcaps/power10", "glibc-hwcaps/power9", "tls", NULL };
  static const char *const s390x[] = { "glibc-hwcaps/z16", "glibc-hwcaps/z15", "glibc-hwcaps/z14",
                                       "glibc-hwcaps/z13", "tls", NULL };
  static const char *const other[] = { "tls", NULL };

  switch (c->ref.machine) {
  case EM_X86_64:
    return x86_64;
  case EM_PPC64:
    return ppc64le;
  case EM_S390:
    return s390x;
  default:
    return other;
  }
}

static const char *
platform_name(const struct elf_info *ref)
{
  switch (ref->machine) {
  case EM_X86_64:
    return "x86_64";
  case EM_AARCH64:
    return "aarch64";
  case EM_386:
    return "i686";
  case EM_ARM:
    return "v7l";
  case EM_PPC64:
    return "power8";
  case EM_S390:
    return "z900";
  case EM_RISCV:
    return "riscv64";
  default:
    return NULL;
  }
}

/* ---- dynamic string tokens -------------------------------------------- */

/* Expand $ORIGIN, $LIB and $PLATFORM (and their ${} forms) in a path from
 * DT_RPATH, DT_RUNPATH or a DT_NEEDED with a slash; unknown tokens stay as
 * they are, as the loader leaves them. */
static char *
expand_tokens(const struct closure *c, const char *elem, const char *origin)
{
  static const char *const tokens[] = { "ORIGIN", "LIB", "PLATFORM" };
  const char *mt = elf_multiarch(&c->ref);
  cleanup_free char *lib = mt ? xasprintf("lib/%s", mt) : xstrdup(c->ref.elf_class == ELFCLASS64 ? "lib64" : "lib");
  struct buf b = { 0 };

  buf_append(&b, "", 0);
  for (const char *p = elem; *p;) {
    size_t t, len = 0;
    bool braced = p[0] == '$' && p[1] == '{';
    for (t = 0; p[0] == '$' && t < 3; t++) {
      const char *q = p + 1 + braced;
      len = strlen(tokens[t]);
      /* q[len] is read only once the token matched: it is then in bounds */
      if (strncmp(q, tokens[t], len) == 0
          && (braced ? q[len] == '}' : !(q[len] == '_' || isalnum((unsigned char) q[len]))))
        break;
    }
    if (p[0] != '$' || t == 3) {
      buf_append(&b, p, 1);
      p++;
      continue;
    }
    const char *value = t == 0 ? origin : t == 1 ? lib : platform_name(&c->ref);
    buf_append(&b, value ? value : "", value ? strlen(value) : 0);
    p += 1 + len + (braced ? 2 : 0);
  }
  return b.data;
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

/* What became of one file name the loader tried. */
enum probe {
  PROBE_FOUND,   /* loaded (or already loaded under another name) */
  PROBE_ABSENT,  /* not there: the search goes on */
  PROBE_OTHER,   /* another class or machine: the search goes on */
  PROBE_STOP,    /* open failed otherwise (a symlink loop): the loader
                    gives up the rest of this list of directories */
  PROBE_ERROR,   /* the loader stops with an error */
};

struct request {
  const char *name; /* as requested */
  int loader;       /* requesting object, or -1 */
  int process;      /* the process it is loaded into, or -1 */
  enum closure_how how;
  bool other_class; /* a candidate for another machine was passed by */
};

static enum probe
try_path(struct closure *c, struct request *rq, const char *path, const char *variant, struct derror *err)
{
  struct links links = { 0 };
  cleanup_free char *resolved = NULL, *host = NULL, *why = NULL;
  struct elf_info elf;
  struct stat st;
  enum probe ret = PROBE_ERROR;
  int r, v, idx;

  r = sysroot_resolve(c->root, path, collect_link, &links, &resolved, &st, err);
  if (r == SYSROOT_MISSING || r == SYSROOT_LOOP) {
    derror_clear(err);
    ret = r == SYSROOT_MISSING ? PROBE_ABSENT : PROBE_STOP;
    goto out;
  }
  if (r < 0)
    goto out;
  if (!S_ISREG(st.st_mode)) {
    derror_set(err, "library `%s` needed by `%s`: `%s`: cannot read file data: %s", rq->name,
               object_name(c, rq->loader), path, S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
    goto out;
  }
  why = xasprintf("the closure of %s", object_name(c, rq->loader));
  /* The same file is mapped once per process, whatever name led to it. */
  for (size_t i = 0; i < c->n_objects; i++)
    if (c->objects[i].process == rq->process && rq->process >= 0 && strcmp(c->objects[i].real, resolved) == 0) {
      add_links(c, &links, why);
      ret = PROBE_FOUND;
      goto out;
    }
  host = sysroot_host_path(c->root, resolved);
  v = elf_read_candidate(host, path, c->have_ref ? &c->ref : NULL, &elf, err);
  if (v == ELF_CANDIDATE_OTHER) {
    rq->other_class = true;
    ret = PROBE_OTHER;
    goto out;
  }
  if (v < 0) {
    derror_wrap(err, "library `%s` needed by `%s`", rq->name, object_name(c, rq->loader));
    goto out;
  }
  add_links(c, &links, why);
  rootfs_add_file(c->fs, resolved, c->layer, host, (uint64_t) st.st_size, 0755, why);
  idx = new_object(c, rq->name, path, resolved, &elf, rq->loader, rq->process, rq->how);
  c->objects[idx].variant = variant;
  c->objects[idx].host = xstrdup(host);
  if (rq->process < 0)
    rq->process = c->objects[idx].process;
  ret = PROBE_FOUND;
out:
  links_free(&links);
  return ret;
}

/* One searched directory: its hwcaps variants, then the directory. */
static enum probe
try_dir(struct closure *c, struct request *rq, const char *dir, struct derror *err)
{
  const char *const *variants = variant_dirs(c);
  bool found_variant = false;

  for (size_t i = 0; variants[i]; i++) {
    cleanup_free char *sub = path_join(dir, variants[i]);
    cleanup_free char *path = path_join(sub, rq->name);
    enum probe p = try_path(c, rq, path, variants[i], err);
    if (p == PROBE_ERROR)
      return p;
    found_variant |= p == PROBE_FOUND;
  }
  cleanup_free char *path = path_join(dir, rq->name);
  enum probe p = try_path(c, rq, path, NULL, err);
  if (p == PROBE_ABSENT && found_variant) {
    /* Only a CPU with the variant finds it here; others go on searching. */
    strv_push_take(&c->warnings, xasprintf("`%s` needed by `%s` is only in glibc-hwcaps or legacy hwcap "
                                           "subdirectories of `%s`",
                                           rq->name, object_name(c, rq->loader), dir));
    return PROBE_FOUND;
  }
  return p;
}

/* A list of directories from DT_RPATH or DT_RUNPATH: each element has its
 * tokens expanded; an empty element is the process's directory. */
static enum probe
try_list(struct closure *c, struct request *rq, const char *list, const char *origin, struct strv *searched,
         struct derror *err)
{
  const char *p = list;

  for (;;) {
    size_t len = strcspn(p, ":");
    cleanup_free char *elem = xstrndup(p, len);
    cleanup_free char *expanded = expand_tokens(c, elem, origin);
    cleanup_free char *dir = expanded[0] == '/' ? xstrdup(expanded) : path_join(c->cwd, expanded);
    strv_push(searched, dir);
    enum probe r = try_dir(c, rq, dir, err);
    if (r == PROBE_FOUND || r == PROBE_ERROR || r == PROBE_STOP)
      return r;
    if (p[len] == '\0')
      return PROBE_ABSENT;
    p += len + 1;
  }
}

static enum probe
try_dirs(struct closure *c, struct request *rq, const struct strv *dirs, bool nodeflib, struct strv *searched,
         struct derror *err)
{
  for (size_t i = 0; i < dirs->n; i++) {
    /* With DF_1_NODEFLIB, what the cache knows under the system
     * directories is not used; conf directories stand for the cache. */
    if (nodeflib && under_system_dir(c, dirs->items[i]))
      continue;
    strv_push(searched, dirs->items[i]);
    enum probe r = try_dir(c, rq, dirs->items[i], err);
    if (r != PROBE_ABSENT && r != PROBE_OTHER)
      return r;
  }
  return PROBE_ABSENT;
}

static int
load_cache(struct closure *c, struct derror *err)
{
  if (c->cache_state != 0)
    return 0;
  int r = ldcache_load(c->root, &c->cache, err);
  if (r < 0)
    return derror_wrap(err, "ld.so.cache");
  c->cache_state = r == 1 ? 1 : 2;
  if (c->cache_state == 2 && !c->conf_loaded) {
    if (ldconf_read(c->root, &c->conf_dirs, err) < 0)
      return derror_wrap(err, "ld.so.conf");
    c->conf_loaded = true;
  }
  return 0;
}

static enum probe
try_cache(struct closure *c, struct request *rq, bool nodeflib, struct strv *searched, struct derror *err)
{
  if (load_cache(c, err) < 0)
    return PROBE_ERROR;
  if (c->cache_state == 2) {
    rq->how = CLOSURE_CONF;
    return try_dirs(c, rq, &c->conf_dirs, nodeflib, searched, err);
  }
  strv_push(searched, "/etc/ld.so.cache");
  const char *path = ldcache_lookup(&c->cache, rq->name, ldcache_flags(c->ref.machine, c->ref.elf_class));
  if (path == NULL || (nodeflib && under_system_dir(c, path)))
    return PROBE_ABSENT;
  rq->how = CLOSURE_CACHE;
  cleanup_free char *dir = path_dirname(path);
  /* The answer itself, then the hwcaps variants beside it. */
  enum probe r = try_path(c, rq, path, NULL, err);
  if (r == PROBE_FOUND) {
    const char *const *variants = variant_dirs(c);
    for (size_t i = 0; variants[i]; i++) {
      cleanup_free char *sub = path_join(dir, variants[i]);
      cleanup_free char *vpath = path_join(sub, rq->name);
      if (try_path(c, rq, vpath, variants[i], err) == PROBE_ERROR)
        return PROBE_ERROR;
    }
  }
  return r == PROBE_STOP ? PROBE_ABSENT : r;
}

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
    enum probe r = try_list(c, rq, obj->elf.rpath, obj->origin, searched, err);
    if (r == PROBE_FOUND || r == PROBE_ERROR)
      return r;
    did_main |= o == main;
  }
  if (!did_main && main >= 0 && c->objects[main].elf.rpath && !c->objects[main].elf.runpath)
    return try_list(c, rq, c->objects[main].elf.rpath, c->objects[main].origin, searched, err);
  return PROBE_ABSENT;
}

static void
record_missing(struct closure *c, const struct request *rq, const struct strv *searched)
{
  struct buf b = { 0 };

  buf_printf(&b, "library `%s` needed by `%s`: not found", rq->name, object_name(c, rq->loader));
  if (rq->other_class)
    buf_printf(&b, ", only one for another architecture");
  buf_printf(&b, " (searched ");
  for (size_t i = 0; i < searched->n && i < 8; i++)
    buf_printf(&b, "%s%s", i ? ", " : "", searched->items[i]);
  if (searched->n > 8)
    buf_printf(&b, " and %zu more", searched->n - 8);
  buf_printf(&b, "%s)", searched->n ? "" : "nothing");
  strv_push_take(&c->missing, b.data);
}

static int
search(struct closure *c, int req, int process, const char *name, struct derror *err)
{
  const struct closure_object *r = req >= 0 ? &c->objects[req] : NULL;
  const struct closure_object *main = process >= 0 ? &c->objects[process] : NULL;
  struct request rq = { name, req, process, CLOSURE_RPATH, false };
  struct strv searched = { 0 };
  enum probe p = PROBE_ABSENT;
  /* NODEFLIB is read from the requester, or the program for dlopen. */
  bool nodeflib = ((r ? r : main) && ((r ? r : main)->elf.flags_1 & DF_1_NODEFLIB));

  if (r == NULL || r->elf.runpath == NULL)
    p = search_rpath(c, &rq, req, &searched, err);
  if (p != PROBE_FOUND && p != PROBE_ERROR && r && r->elf.runpath) {
    rq.how = CLOSURE_RUNPATH;
    p = try_list(c, &rq, r->elf.runpath, r->origin, &searched, err);
  }
  if (p != PROBE_FOUND && p != PROBE_ERROR)
    p = try_cache(c, &rq, nodeflib, &searched, err);
  if (p != PROBE_FOUND && p != PROBE_ERROR && !nodeflib) {
    struct strv sys = { 0 };
    closure_system_dirs(c, &sys);
    rq.how = CLOSURE_DEFAULT;
    p = try_dirs(c, &rq, &sys, false, &searched, err);
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
  cleanup_free char *expanded = expand_tokens(c, name, req >= 0 ? c->objects[req].origin : "/");
  cleanup_free char *path = expanded[0] == '/' ? xstrdup(expanded) : path_join(c->cwd, expanded);
  struct request rq = { name, req, process, CLOSURE_PATH, false };
  struct strv searched = { 0 };

  enum probe p = try_path(c, &rq, path, NULL, err);
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

int
closure_add_program(struct closure *c, const char *name, const char *origin, const char *host,
                    struct elf_info *elf, struct derror *err)
{
  cleanup_free char *interp = elf->interp ? xstrdup(elf->interp) : NULL;

  if (c->have_ref && !elf_compatible(&c->ref, elf))
    return derror_set(err, "`%s` is for another architecture than the first program", name);
  int idx = new_object(c, name, name, name, elf, -1, -1, CLOSURE_PROGRAM);
  free(c->objects[idx].origin);
  c->objects[idx].origin = xstrdup(origin);
  c->objects[idx].host = xstrdup(host);
  if (interp == NULL)
    return 0;
  /* The kernel maps the interpreter; it is not searched for. */
  struct request rq = { interp, idx, idx, CLOSURE_INTERP, false };
  enum probe p = try_path(c, &rq, interp, NULL, err);
  if (p == PROBE_ERROR)
    return -1;
  if (p != PROBE_FOUND)
    strv_push_take(&c->missing, xasprintf("interpreter `%s` of `%s`: not found in the sysroot%s", interp, name,
                                          p == PROBE_OTHER ? " for this architecture" : ""));
  return 0;
}

int
closure_add_library(struct closure *c, const char *name, struct derror *err)
{
  /* dlopen() from the first program: its process and search paths. */
  int loader = c->n_objects > 0 && c->objects[0].how == CLOSURE_PROGRAM ? 0 : -1;
  int process = loader >= 0 ? c->objects[loader].process : -1;

  if (name[0] == '/')
    return open_path(c, loader, process, name, err);
  if (already_loaded(c, process, name))
    return 0;
  return search(c, loader, process, name, err);
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
