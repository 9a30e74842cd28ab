#include "plan/closure.h"
#include "lib/path.h"
#include "lib/file.h"
#include "plan/hwcaps.h"

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
  case CLOSURE_BESIDE:
    return "beside the source";
  }
  return "?";
}

void
closure_init(struct closure *c, const struct view *view, const struct sysroot *root, struct rootfs *fs,
             enum rootfs_layer layer)
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

/* The loader's system directories are compiled into it: Debian's searches
 * /lib/<triplet>, /usr/lib/<triplet>, /lib and /usr/lib, a lib64 one
 * (Fedora, Arch) /lib64 and /usr/lib64.  Its own bytes say which (the
 * list is a run of strings in it); without a loader to read, the
 * sysroot's layout does. */
static enum closure_layout
layout_of_loader(const struct closure *c, const char *host)
{
  const char *mt = elf_multiarch(&c->ref);
  cleanup_free char *multi = mt ? xasprintf("/lib/%s/", mt) : NULL;
  struct derror err = DERROR_INIT;
  struct buf b = { 0 };
  enum closure_layout l = LAYOUT_UNKNOWN;

  if (read_file(host, 16u << 20, &b, &err) < 0) {
    derror_clear(&err);
    return l;
  }
  if (multi && memmem(b.data, b.len, multi, strlen(multi) + 1))
    l = LAYOUT_MULTIARCH;
  else if (memmem(b.data, b.len, "/lib64/", sizeof "/lib64/"))
    l = LAYOUT_LIB64;
  else if (memmem(b.data, b.len, "/lib/", sizeof "/lib/"))
    l = LAYOUT_LIB;
  buf_free(&b);
  return l;
}

static enum closure_layout
layout_of_tree(const struct closure *c)
{
  const char *mt = elf_multiarch(&c->ref);
  cleanup_free char *lib = mt ? xasprintf("/lib/%s", mt) : NULL;
  cleanup_free char *usrlib = mt ? xasprintf("/usr/lib/%s", mt) : NULL;

  if (mt && (view_is(c->view, lib, VIEW_DIR) || view_is(c->view, usrlib, VIEW_DIR)))
    return LAYOUT_MULTIARCH;
  return c->ref.elf_class == ELFCLASS64 ? LAYOUT_LIB64 : LAYOUT_LIB;
}

void
closure_system_dirs(const struct closure *c, struct strv *dirs)
{
  const char *mt = elf_multiarch(&c->ref);
  enum closure_layout l = c->layout != LAYOUT_UNKNOWN ? c->layout : layout_of_tree(c);

  if (l == LAYOUT_MULTIARCH && mt) {
    strv_push_take(dirs, xasprintf("/lib/%s", mt));
    strv_push_take(dirs, xasprintf("/usr/lib/%s", mt));
  } else if (l == LAYOUT_LIB64) {
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

/* The version of glibc whose loader runs the programs: the interpreter's
 * (it is the loader that searches), else unknown. */
static void
loader_version(struct closure *c, int *major, int *minor)
{
  struct derror err = DERROR_INIT;

  *major = *minor = 0;
  for (size_t i = 0; i < c->n_objects; i++)
    if (c->objects[i].how == CLOSURE_INTERP && c->objects[i].host) {
      c->layout = layout_of_loader(c, c->objects[i].host);
      if (hwcaps_glibc_version(c->objects[i].host, major, minor, &err) == 0)
        return;
      derror_clear(&err);
    }
}

/* Subdirectories tried before each searched directory and the values of
 * $PLATFORM, for every CPU of the architecture: the CPU that runs the
 * image picks at run time, so every one present is copied.  Computed once
 * the interpreter is known, at the first search. */
static void
cpu_variants(struct closure *c)
{
  struct hwcaps_target t = { c->ref.machine, c->ref.elf_class, c->ref.data, c->ref.e_flags, 0, 0 };

  if (c->cpu_ready)
    return;
  loader_version(c, &t.glibc_major, &t.glibc_minor);
  hwcaps_subdirs(&t, &c->subdirs);
  hwcaps_platforms(&t, &c->platforms);
  c->cpu_ready = true;
}

/* $LIB: the loader's own library directory, relative, as its system
 * directories show it ("lib/x86_64-linux-gnu" on Debian, "lib64" on a
 * lib64 layout). */
static char *
lib_token(const struct closure *c)
{
  struct strv sys = { 0 };

  closure_system_dirs(c, &sys);
  char *lib = xstrdup(sys.n ? sys.items[0] + 1 : "lib");
  strv_free(&sys);
  return lib;
}

/* ---- dynamic string tokens -------------------------------------------- */

/* Expand $ORIGIN, $LIB and $PLATFORM (and their ${} forms) in a path from
 * DT_RPATH, DT_RUNPATH or a DT_NEEDED with a slash, $PLATFORM as
 * `platform`; unknown tokens stay as they are, as the loader leaves
 * them. */
static char *
expand_tokens(const struct closure *c, const char *elem, const char *origin, const char *platform)
{
  static const char *const tokens[] = { "ORIGIN", "LIB", "PLATFORM" };
  cleanup_free char *lib = lib_token(c);
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
    const char *value = t == 0 ? origin : t == 1 ? lib : platform;
    buf_append(&b, value ? value : "", value ? strlen(value) : 0);
    p += 1 + len + (braced ? 2 : 0);
  }
  return b.data;
}

/* ---- candidates ------------------------------------------------------- */

/* The symlinks of the lower tree met on the way: the image needs them so
 * that the loader's path exists there too.  The image's own are there. */
struct links {
  struct strv paths, targets;
};

static int
collect_link(void *data, const char *path, const char *target, bool lower, struct derror *err)
{
  struct links *l = data;

  if (!lower)
    return 0;
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
  PROBE_PARTIAL, /* found only on some CPUs: on the others the search goes on */
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
  bool partial;     /* found so far only for some CPUs */
};

/* The loader maps a file once per process, whatever name led to it. */
static bool
mapped(const struct closure *c, const struct request *rq, const char *real)
{
  for (size_t i = 0; rq->process >= 0 && i < c->n_objects; i++)
    if (c->objects[i].process == rq->process && strcmp(c->objects[i].real, real) == 0)
      return true;
  return false;
}

/* What the loader decides about a candidate's bytes (open_verify). */
static enum probe
verify(struct closure *c, struct request *rq, const char *path, const char *host, struct elf_info *elf,
       struct derror *err)
{
  if (elf_read_candidate(host, path, c->have_ref ? &c->ref : NULL, elf, err) == 0)
    return PROBE_FOUND;
  if (derror_is(err, DERROR_OTHER_ARCH)) {
    derror_clear(err);
    rq->other_class = true;
    return PROBE_OTHER;
  }
  derror_wrap(err, "library `%s` needed by `%s`", rq->name, object_name(c, rq->loader));
  return PROBE_ERROR;
}

static void
add_found(struct closure *c, struct request *rq, const char *path, const char *real, const char *host,
          const char *host_origin, enum closure_how how, const char *variant, struct elf_info *elf)
{
  int idx = new_object(c, rq->name, path, real, elf, rq->loader, rq->process, how);

  c->objects[idx].variant = variant;
  c->objects[idx].host = xstrdup(host);
  c->objects[idx].host_origin = host_origin ? xstrdup(host_origin) : NULL;
  if (rq->process < 0)
    rq->process = c->objects[idx].process;
}

/* One path in the view; with `lower` false, in the planned image alone. */
static enum probe
try_path(struct closure *c, struct request *rq, const char *path, bool lower, const char *variant,
         struct derror *err)
{
  struct links links = { 0 };
  cleanup_free char *resolved = NULL, *host = NULL, *why = NULL;
  struct view_node node;
  struct elf_info elf;
  enum probe ret = PROBE_ERROR;

  int r = view_resolve(c->view, path, lower, collect_link, NULL, &links, &resolved, &node, err);
  if (r == VIEW_MISSING || r == VIEW_LOOP) {
    derror_clear(err);
    ret = r == VIEW_MISSING ? PROBE_ABSENT : PROBE_STOP;
    goto out;
  }
  if (r < 0)
    goto out;
  if (node.type != VIEW_FILE) {
    derror_set(err, "library `%s` needed by `%s`: `%s`: cannot read file data: %s", rq->name,
               object_name(c, rq->loader), path, node.type == VIEW_DIR ? "is a directory" : "not a regular file");
    goto out;
  }
  why = xasprintf("the closure of %s", object_name(c, rq->loader));
  if (mapped(c, rq, resolved)) {
    add_links(c, &links, why);
    ret = PROBE_FOUND;
    goto out;
  }
  if (node.host == NULL) {
    derror_set(err, "library `%s` needed by `%s`: `%s`: not an ELF object", rq->name, object_name(c, rq->loader),
               path);
    goto out;
  }
  host = xstrdup(node.host);
  ret = verify(c, rq, path, host, &elf, err);
  if (ret != PROBE_FOUND)
    goto out;
  add_links(c, &links, why);
  if (node.lower)
    rootfs_add_file(c->fs, resolved, c->layer, host, node.size, 0755, why);
  add_found(c, rq, path, resolved, host, NULL, rq->how, variant, &elf);
out:
  links_free(&links);
  return ret;
}

/* A name beside a source that is outside the sysroot: the host file goes
 * into the image at `path`, where the loader there will look. */
static enum probe
try_beside(struct closure *c, struct request *rq, const char *path, const char *host_path, const char *variant,
           struct derror *err)
{
  cleanup_free char *image_path = path_lexical(path);
  struct elf_info elf;
  struct stat st;

  if (image_path == NULL || stat(host_path, &st) < 0 || !S_ISREG(st.st_mode))
    return PROBE_ABSENT;
  if (mapped(c, rq, image_path))
    return PROBE_FOUND;
  enum probe ret = verify(c, rq, host_path, host_path, &elf, err);
  if (ret != PROBE_FOUND)
    return ret;
  cleanup_free char *why = xasprintf("the closure of %s (beside its source)", object_name(c, rq->loader));
  cleanup_free char *host_dir = path_dirname(host_path);
  rootfs_add_file(c->fs, image_path, c->layer, host_path, (uint64_t) st.st_size, 0755, why);
  add_found(c, rq, image_path, image_path, host_path, host_dir, CLOSURE_BESIDE, variant, &elf);
  return PROBE_FOUND;
}

/* One file name: the planned image first, then (for a $ORIGIN beside a
 * source outside the sysroot) the source's neighbours, then the sysroot. */
static enum probe
try_name(struct closure *c, struct request *rq, const char *path, const char *host_path, const char *variant,
         struct derror *err)
{
  if (host_path == NULL)
    return try_path(c, rq, path, true, variant, err);
  enum probe p = try_path(c, rq, path, false, variant, err);
  if (p == PROBE_ABSENT)
    p = try_beside(c, rq, path, host_path, variant, err);
  if (p == PROBE_ABSENT)
    p = try_path(c, rq, path, true, variant, err);
  return p;
}

/* Whether `dir`/`first` is known not to be a directory; remembered in
 * `absent` (and what is there is looked up once per call). */
static bool
subdir_absent(const struct closure *c, const char *dir, const char *first, struct strv *absent)
{
  if (strv_contains(absent, first))
    return true;
  cleanup_free char *path = path_join(dir, first);
  if (view_is(c->view, path, VIEW_DIR))
    return false;
  strv_push(absent, first);
  return true;
}

/* One searched directory: its hwcaps subdirectories, then the directory.
 * `host_dir` (or NULL) is its counterpart beside a source. */
static enum probe
try_dir(struct closure *c, struct request *rq, const char *dir, const char *host_dir, const char *label,
        struct derror *err)
{
  bool found_variant = false;
  struct strv absent = { 0 };

  cpu_variants(c);
  for (size_t i = 0; i < c->subdirs.n; i++) {
    /* Dozens of subdirectories share a few first components (tls,
     * haswell, glibc-hwcaps...): one look at each spares the rest. */
    cleanup_free char *first = xstrndup(c->subdirs.items[i], strcspn(c->subdirs.items[i], "/"));
    if (host_dir == NULL && subdir_absent(c, dir, first, &absent))
      continue;
    cleanup_free char *sub = path_join(dir, c->subdirs.items[i]);
    cleanup_free char *path = path_join(sub, rq->name);
    cleanup_free char *hsub = host_dir ? path_join(host_dir, c->subdirs.items[i]) : NULL;
    cleanup_free char *hpath = hsub ? path_join(hsub, rq->name) : NULL;
    enum probe p = try_name(c, rq, path, hpath, c->subdirs.items[i], err);
    if (p == PROBE_ERROR) {
      strv_free(&absent);
      return p;
    }
    found_variant |= p == PROBE_FOUND;
  }
  strv_free(&absent);
  cleanup_free char *path = path_join(dir, rq->name);
  cleanup_free char *hpath = host_dir ? path_join(host_dir, rq->name) : NULL;
  enum probe p = try_name(c, rq, path, hpath, label, err);
  /* Only a CPU with the variant finds it here; others search on. */
  if ((p == PROBE_ABSENT || p == PROBE_OTHER) && found_variant)
    return PROBE_PARTIAL;
  return p;
}

static bool
has_token(const char *s, const char *token)
{
  const char *p = strstr(s, token);

  return p && p > s && (p[-1] == '$' || (p[-1] == '{' && p - 1 > s && p[-2] == '$'));
}

/* One element of DT_RPATH or DT_RUNPATH of object `o`: tokens expanded
 * (once per value of $PLATFORM, when it has one); an empty element is the
 * process's directory. */
static enum probe
try_element(struct closure *c, struct request *rq, const char *elem, const struct closure_object *o,
            struct strv *searched, struct derror *err)
{
  bool per_platform = has_token(elem, "PLATFORM") && c->platforms.n > 1;

  /* without AT_PLATFORM the loader drops an element that names it */
  if (has_token(elem, "PLATFORM") && c->platforms.n == 0)
    return PROBE_ABSENT;
  size_t n = per_platform ? c->platforms.n : 1, found = 0;
  bool stop = false;

  for (size_t i = 0; i < n; i++) {
    const char *pv = c->platforms.n ? c->platforms.items[i] : "";
    cleanup_free char *expanded = expand_tokens(c, elem, o ? o->origin : "/", pv);
    cleanup_free char *dir = expanded[0] == '/' ? xstrdup(expanded) : path_join(c->cwd, expanded);
    cleanup_free char *host_dir = o && o->host_origin && has_token(elem, "ORIGIN")
                                    ? expand_tokens(c, elem, o->host_origin, pv) : NULL;
    if (!strv_contains(searched, dir))
      strv_push(searched, dir);
    enum probe r = try_dir(c, rq, dir, host_dir, per_platform ? pv : NULL, err);
    if (r == PROBE_ERROR)
      return r;
    found += r == PROBE_FOUND;
    rq->partial |= r == PROBE_PARTIAL;
    stop |= r == PROBE_STOP;
  }
  if (found == n)
    return PROBE_FOUND;
  /* found for some values of $PLATFORM: the other CPUs search on */
  rq->partial |= found > 0;
  return stop && found == 0 ? PROBE_STOP : PROBE_ABSENT;
}

/* A list of directories from DT_RPATH or DT_RUNPATH of object `o`. */
static enum probe
try_list(struct closure *c, struct request *rq, const char *list, const struct closure_object *o,
         struct strv *searched, struct derror *err)
{
  const char *p = list;

  cpu_variants(c);
  for (;;) {
    size_t len = strcspn(p, ":");
    cleanup_free char *elem = xstrndup(p, len);
    enum probe r = try_element(c, rq, elem, o, searched, err);
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
    enum probe r = try_dir(c, rq, dirs->items[i], NULL, NULL, err);
    rq->partial |= r == PROBE_PARTIAL;
    if (r != PROBE_ABSENT && r != PROBE_OTHER && r != PROBE_PARTIAL)
      return r;
  }
  return PROBE_ABSENT;
}

/* The sysroot's /etc/ld.so.preload: its loader maps those objects into
 * every program, the image's will not (it has no such file). */
static void
note_preload(struct closure *c)
{
  cleanup_free char *resolved = NULL;
  struct derror err = DERROR_INIT;
  struct view_node node;
  struct buf b = { 0 };

  if (c->root == NULL
      || view_resolve(c->view, "/etc/ld.so.preload", true, NULL, NULL, NULL, &resolved, &node, &err) != VIEW_OK
      || node.type != VIEW_FILE || view_read(&node, "/etc/ld.so.preload", 64 * 1024, &b, &err) < 0) {
    derror_clear(&err);
    return;
  }
  for (char *save = NULL, *w = strtok_r(b.data, " \t\r\n:", &save); w; w = strtok_r(NULL, " \t\r\n:", &save))
    strv_push_take(&c->warnings, xasprintf("`/etc/ld.so.preload` of the sysroot preloads `%s` into every program "
                                           "there; distill does not take it into the image",
                                           w));
  buf_free(&b);
}

static int
load_cache(struct closure *c, struct derror *err)
{
  if (c->cache_state != 0)
    return 0;
  note_preload(c);
  int r = ldcache_load(c->view, &c->cache, err);
  if (r < 0) {
    /* glibc ignores a cache it cannot use and searches its system
     * directories alone */
    strv_push_take(&c->warnings, xasprintf("`/etc/ld.so.cache` of %s: %s; ignored, as the loader ignores it",
                                           c->view->name, err->msg));
    derror_clear(err);
    c->cache_state = 3;
    return 0;
  }
  c->cache_state = r == 1 ? 1 : 2;
  /* Without a cache, a sysroot's ld.so.conf tells what ldconfig would put
   * in one; an image's loader has no ldconfig to run. */
  if (c->cache_state == 2 && c->root && !c->conf_loaded) {
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
  if (c->cache_state == 3)
    return PROBE_ABSENT;
  if (c->cache_state == 2) {
    rq->how = CLOSURE_CONF;
    return try_dirs(c, rq, &c->conf_dirs, nodeflib, searched, err);
  }
  strv_push(searched, "/etc/ld.so.cache");
  const char *path = ldcache_lookup(&c->cache, rq->name, ldcache_flags(&c->ref));
  if (path == NULL || (nodeflib && under_system_dir(c, path)))
    return PROBE_ABSENT;
  rq->how = CLOSURE_CACHE;
  cleanup_free char *dir = path_dirname(path);
  /* The answer itself, then the hwcaps variants beside it. */
  enum probe r = try_path(c, rq, path, true, NULL, err);
  if (r == PROBE_FOUND) {
    struct strv absent = { 0 };
    cpu_variants(c);
    for (size_t i = 0; r == PROBE_FOUND && i < c->subdirs.n; i++) {
      cleanup_free char *first = xstrndup(c->subdirs.items[i], strcspn(c->subdirs.items[i], "/"));
      if (subdir_absent(c, dir, first, &absent))
        continue;
      cleanup_free char *sub = path_join(dir, c->subdirs.items[i]);
      cleanup_free char *vpath = path_join(sub, rq->name);
      if (try_path(c, rq, vpath, true, c->subdirs.items[i], err) == PROBE_ERROR)
        r = PROBE_ERROR;
    }
    strv_free(&absent);
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
    enum probe r = try_list(c, rq, obj->elf.rpath, obj, searched, err);
    if (r == PROBE_FOUND || r == PROBE_ERROR)
      return r;
    did_main |= o == main;
  }
  if (!did_main && main >= 0 && c->objects[main].elf.rpath && !c->objects[main].elf.runpath)
    return try_list(c, rq, c->objects[main].elf.rpath, &c->objects[main], searched, err);
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
    p = try_list(c, &rq, r->elf.runpath, r, &searched, err);
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
  const struct closure_object *o = req >= 0 ? &c->objects[req] : NULL;
  const char *pv = c->platforms.n ? c->platforms.items[0] : "";
  cleanup_free char *expanded = expand_tokens(c, name, o ? o->origin : "/", pv);
  cleanup_free char *path = expanded[0] == '/' ? xstrdup(expanded) : path_join(c->cwd, expanded);
  cleanup_free char *host = o && o->host_origin && has_token(name, "ORIGIN")
                              ? expand_tokens(c, name, o->host_origin, pv) : NULL;
  struct request rq = { name, req, process, CLOSURE_PATH, false, false };
  struct strv searched = { 0 };

  cpu_variants(c);
  enum probe p = try_name(c, &rq, path, host, NULL, err);
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

  enum probe p = try_path(c, &rq, interp, true, NULL, err);
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
  int idx = new_object(c, name, name, name, elf, -1, -1, CLOSURE_PROGRAM);
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
