#include "plan/closure.h"
#include "plan/closure_search.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "lib/path.h"
#include "plan/elf.h"
#include "plan/ldconfig.h"
#include "plan/rootfs.h"
#include "plan/view.h"

#include <string.h>
#include <sys/stat.h>

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
  derror_wrap(err, "library `%s` needed by `%s`", rq->name, closure_object_name(c, rq->loader));
  return PROBE_ERROR;
}

static void
add_found(struct closure *c, struct request *rq, const char *path, const char *real, const char *host,
          const char *host_origin, enum closure_how how, const char *variant, struct elf_info *elf)
{
  int idx = closure_new_object(c, rq->name, path, real, elf, rq->loader, rq->process, how);

  c->objects[idx].variant = variant;
  c->objects[idx].host = xstrdup(host);
  c->objects[idx].host_origin = host_origin ? xstrdup(host_origin) : NULL;
  if (rq->process < 0)
    rq->process = c->objects[idx].process;
}

/* One path in the view; with `lower` false, in the planned image alone. */
enum probe
probe_path(struct closure *c, struct request *rq, const char *path, bool lower, const char *variant,
           struct derror *err)
{
  struct links links = { 0 };
  cleanup_free char *resolved = NULL, *host = NULL, *why = NULL;
  struct view_node node;
  struct elf_info elf;
  enum probe ret = PROBE_ERROR;

  int r = view_resolve(c->view, path, lower, collect_link, NULL, &links, &resolved, &node, err);
  if (r < 0 && (derror_is(err, DERROR_NOT_FOUND) || derror_is(err, DERROR_LOOP))) {
    ret = derror_is(err, DERROR_NOT_FOUND) ? PROBE_ABSENT : PROBE_STOP;
    derror_clear(err);
    goto out;
  }
  if (r < 0)
    goto out;
  if (node.type != VIEW_FILE) {
    derror_set(err, "library `%s` needed by `%s`: `%s`: cannot read file data: %s", rq->name,
               closure_object_name(c, rq->loader), path,
               node.type == VIEW_DIR ? "is a directory" : "not a regular file");
    goto out;
  }
  why = xasprintf("the closure of %s", closure_object_name(c, rq->loader));
  if (mapped(c, rq, resolved)) {
    add_links(c, &links, why);
    ret = PROBE_FOUND;
    goto out;
  }
  if (node.host == NULL) {
    derror_set(err, "library `%s` needed by `%s`: `%s`: not an ELF object", rq->name,
               closure_object_name(c, rq->loader), path);
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
  cleanup_free char *why = xasprintf("the closure of %s (beside its source)", closure_object_name(c, rq->loader));
  cleanup_free char *host_dir = path_dirname(host_path);
  rootfs_add_file(c->fs, image_path, c->layer, host_path, (uint64_t) st.st_size, 0755, why);
  add_found(c, rq, image_path, image_path, host_path, host_dir, CLOSURE_BESIDE, variant, &elf);
  return PROBE_FOUND;
}

/* One file name: the planned image first, then (for a $ORIGIN beside a
 * source outside the sysroot) the source's neighbours, then the sysroot. */
enum probe
probe_name(struct closure *c, struct request *rq, const char *path, const char *host_path, const char *variant,
           struct derror *err)
{
  if (host_path == NULL)
    return probe_path(c, rq, path, true, variant, err);
  enum probe p = probe_path(c, rq, path, false, variant, err);
  if (p == PROBE_ABSENT)
    p = try_beside(c, rq, path, host_path, variant, err);
  if (p == PROBE_ABSENT)
    p = probe_path(c, rq, path, true, variant, err);
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

  closure_cpu_variants(c);
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
    enum probe p = probe_name(c, rq, path, hpath, c->subdirs.items[i], err);
    if (p == PROBE_ERROR) {
      strv_free(&absent);
      return p;
    }
    found_variant |= p == PROBE_FOUND;
  }
  strv_free(&absent);
  cleanup_free char *path = path_join(dir, rq->name);
  cleanup_free char *hpath = host_dir ? path_join(host_dir, rq->name) : NULL;
  enum probe p = probe_name(c, rq, path, hpath, label, err);
  /* Only a CPU with the variant finds it here; others search on. */
  if ((p == PROBE_ABSENT || p == PROBE_OTHER) && found_variant)
    return PROBE_PARTIAL;
  return p;
}

/* One element of DT_RPATH or DT_RUNPATH of object `o`: tokens expanded
 * (once per value of $PLATFORM, when it has one); an empty element is the
 * process's directory. */
static enum probe
try_element(struct closure *c, struct request *rq, const char *elem, const struct closure_object *o,
            struct strv *searched, struct derror *err)
{
  bool per_platform = closure_has_token(elem, "PLATFORM") && c->platforms.n > 1;

  /* without AT_PLATFORM the loader drops an element that names it */
  if (closure_has_token(elem, "PLATFORM") && c->platforms.n == 0)
    return PROBE_ABSENT;
  size_t n = per_platform ? c->platforms.n : 1, found = 0;
  bool stop = false;

  for (size_t i = 0; i < n; i++) {
    const char *pv = c->platforms.n ? c->platforms.items[i] : "";
    cleanup_free char *expanded = closure_expand_tokens(c, elem, o ? o->origin : "/", pv);
    cleanup_free char *dir = expanded[0] == '/' ? xstrdup(expanded) : path_join(c->cwd, expanded);
    cleanup_free char *host_dir = o && o->host_origin && closure_has_token(elem, "ORIGIN")
                                    ? closure_expand_tokens(c, elem, o->host_origin, pv) : NULL;
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
enum probe
probe_list(struct closure *c, struct request *rq, const char *list, const struct closure_object *o,
           struct strv *searched, struct derror *err)
{
  const char *p = list;

  closure_cpu_variants(c);
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

enum probe
probe_dirs(struct closure *c, struct request *rq, const struct strv *dirs, bool nodeflib, struct strv *searched,
           struct derror *err)
{
  for (size_t i = 0; i < dirs->n; i++) {
    /* With DF_1_NODEFLIB, what the cache knows under the system
     * directories is not used; conf directories stand for the cache. */
    if (nodeflib && closure_under_system_dir(c, dirs->items[i]))
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
      || view_resolve(c->view, "/etc/ld.so.preload", true, NULL, NULL, NULL, &resolved, &node, &err) < 0
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

enum probe
probe_cache(struct closure *c, struct request *rq, bool nodeflib, struct strv *searched, struct derror *err)
{
  if (load_cache(c, err) < 0)
    return PROBE_ERROR;
  if (c->cache_state == 3)
    return PROBE_ABSENT;
  if (c->cache_state == 2) {
    rq->how = CLOSURE_CONF;
    return probe_dirs(c, rq, &c->conf_dirs, nodeflib, searched, err);
  }
  strv_push(searched, "/etc/ld.so.cache");
  const char *path = ldcache_lookup(&c->cache, rq->name, ldcache_flags(&c->ref));
  if (path == NULL || (nodeflib && closure_under_system_dir(c, path)))
    return PROBE_ABSENT;
  rq->how = CLOSURE_CACHE;
  cleanup_free char *dir = path_dirname(path);
  /* The answer itself, then the hwcaps variants beside it. */
  enum probe r = probe_path(c, rq, path, true, NULL, err);
  if (r == PROBE_FOUND) {
    struct strv absent = { 0 };
    closure_cpu_variants(c);
    for (size_t i = 0; r == PROBE_FOUND && i < c->subdirs.n; i++) {
      cleanup_free char *first = xstrndup(c->subdirs.items[i], strcspn(c->subdirs.items[i], "/"));
      if (subdir_absent(c, dir, first, &absent))
        continue;
      cleanup_free char *sub = path_join(dir, c->subdirs.items[i]);
      cleanup_free char *vpath = path_join(sub, rq->name);
      if (probe_path(c, rq, vpath, true, c->subdirs.items[i], err) == PROBE_ERROR)
        r = PROBE_ERROR;
    }
    strv_free(&absent);
  }
  return r == PROBE_STOP ? PROBE_ABSENT : r;
}
