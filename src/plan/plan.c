#include "plan/plan.h"
#include "lib/alloc.h"
#include "lib/path.h"
#include "lib/platform.h"
#include "plan/base.h"
#include "plan/closure.h"
#include "plan/config.h"
#include "plan/elf.h"
#include "plan/hints.h"
#include "plan/ldcache_write.h"
#include "plan/ldconfig.h"
#include "plan/packages.h"
#include "plan/policy.h"
#include "plan/probe.h"
#include "plan/start.h"
#include "plan/view.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A source must be a regular file, and not a shell or package manager under
 * its own name or the image's. */
static int
check_source_file(const char *what, const char *source, const char *path, const struct stat *st,
                  struct derror *err)
{
  const char *bad;

  if (S_ISDIR(st->st_mode))
    return derror_set(err, "%s: `%s` is a directory (use contents.directories)", what, source);
  if (!S_ISREG(st->st_mode))
    return derror_set(err, "%s: `%s` is a device, FIFO or socket, not a file", what, source);
  /* names make programs only; policy_check sees the final mode and the
   * bytes of every file */
  if (policy_is_program(st->st_mode, false)
      && ((bad = policy_forbidden_name(path_basename(path))) || (bad = policy_forbidden_name(path_basename(source)))))
    return derror_set(err, "%s: `%s` is a shell or package manager (\"%s\"); distill images have none", what,
                      source, bad);
  return 0;
}

/* A program or library placed by the recipe, whose closure is computed
 * once every placed file is known: the loader looks in the image first. */
struct root {
  char *path, *host, *host_origin, *what;
  struct elf_info elf;
  bool from_tree; /* found in a directory: data when it is for another machine */
};

struct roots {
  struct root *items;
  size_t n, cap;
};

static void
roots_push(struct roots *rs, const char *path, const char *host, bool outside, const char *what, struct elf_info *elf,
           bool from_tree)
{
  if (rs->n == rs->cap) {
    rs->cap = rs->cap ? rs->cap * 2 : 16;
    rs->items = xreallocarray(rs->items, rs->cap, sizeof(*rs->items));
  }
  struct root *rt = &rs->items[rs->n++];
  rt->path = xstrdup(path);
  rt->host = xstrdup(host);
  /* $ORIGIN beside a source outside the sysroot is searched too */
  rt->host_origin = outside ? path_dirname(host) : NULL;
  rt->what = xstrdup(what);
  rt->elf = *elf;
  memset(elf, 0, sizeof *elf);
  rt->from_tree = from_tree;
}

static void
roots_free(struct roots *rs)
{
  for (size_t i = 0; i < rs->n; i++) {
    free(rs->items[i].path);
    free(rs->items[i].host);
    free(rs->items[i].host_origin);
    free(rs->items[i].what);
    elf_info_free(&rs->items[i].elf);
  }
  free(rs->items);
  memset(rs, 0, sizeof *rs);
}

/* A placed ELF program or library: its architecture must be the image's. */
static int
place_elf(const struct recipe *r, const char *what, const struct recipe_source *src, const char *path,
          rootfs_layer layer, const struct sysroot *root, struct roots *roots, struct plan *p,
          struct derror *err)
{
  cleanup_free char *host = NULL;
  struct elf_info elf;
  struct stat st;
  const char *variant;

  if (sysroot_locate(root, r->dir, src->source, &st, &host, err) < 0)
    return derror_wrap(err, "%s", what);
  if (check_source_file(what, src->source, path, &st, err) < 0)
    return -1;
  if (elf_read(host, src->source, &elf, err) < 0)
    return derror_wrap(err, "%s", what);
  const char *arch = elf_oci_arch(&elf, &variant);
  if (arch == NULL) {
    elf_info_free(&elf);
    return derror_set(err, "%s: `%s`: an ELF machine distill does not know (%d)", what, src->source, elf.machine);
  }
  if (p->arch && (strcmp(p->arch, arch) != 0)) {
    elf_info_free(&elf);
    return derror_set(err, "%s: `%s` is for %s, but the image is for %s (from its first program)", what,
                      src->source, arch, p->arch);
  }
  p->arch = arch;
  p->variant = variant;
  if (st.st_mode & (S_ISUID | S_ISGID)) {
    bool origin = (elf.rpath && strstr(elf.rpath, "ORIGIN")) || (elf.runpath && strstr(elf.runpath, "ORIGIN"));
    /* The loader ignores $ORIGIN outside trusted directories in setuid
     * programs; without the bit, in the image, it follows it. */
    strv_push_take(&p->warnings, xasprintf("%s: `%s` is set%s: the bit is dropped in the image%s", what,
                                           src->source, (st.st_mode & S_ISUID) ? "uid" : "gid",
                                           origin ? "; its $ORIGIN search path, which the loader ignores for "
                                                    "setuid programs, is followed there" : ""));
  }
  rootfs_add_file(&p->fs, path, layer, host, (uint64_t) st.st_size, st.st_mode & 07777, what);
  roots_push(roots, path, host, !src->in_sysroot, what, &elf, false);
  return 0;
}

static int
add_binary(const struct recipe *r, size_t i, const struct sysroot *root, struct roots *roots, struct plan *p,
           struct derror *err)
{
  const struct recipe_binary *b = &r->binaries[i];
  cleanup_free char *what = xasprintf("%s:%u:%u: contents.binaries[%zu]", r->file, b->pos.line, b->pos.column, i);

  return place_elf(r, what, &b->src, b->path, b->layer.index, root, roots, p, err);
}

/* `libraries: [{source, path}]`: placed, in the libraries layer. */
static int
add_placed_library(const struct recipe *r, size_t i, const struct sysroot *root, struct roots *roots,
                   struct plan *p, struct derror *err)
{
  const struct recipe_library *l = &r->libraries[i];
  cleanup_free char *what = xasprintf("%s:%u:%u: contents.libraries[%zu]", r->file, l->pos.line, l->pos.column, i);

  return place_elf(r, what, &l->src, l->path, l->layer.index, root, roots, p, err);
}

static int add_tree_objects(struct plan *p, struct roots *roots, size_t from, bool outside, const char *what,
                            struct derror *err);

/* A file; an ELF object among them brings its closure, as in a tree. */
static int
add_file(const struct recipe *r, size_t i, const struct sysroot *root, struct roots *roots, struct plan *p,
         struct derror *err)
{
  const struct recipe_file *f = &r->files[i];
  cleanup_free char *what = xasprintf("%s:%u:%u: contents.files[%zu]", r->file, f->pos.line, f->pos.column, i);
  cleanup_free char *host = NULL;
  struct stat st;

  if (sysroot_locate(root, r->dir, f->src.source, &st, &host, err) < 0)
    return derror_wrap(err, "%s", what);
  if (check_source_file(what, f->src.source, f->path, &st, err) < 0)
    return -1;
  size_t from = p->fs.n;
  struct rootfs_entry *e = rootfs_add_file(&p->fs, f->path, f->layer.index, host, (uint64_t) st.st_size,
                                           f->mode >= 0 ? (mode_t) f->mode : st.st_mode & 07777, what);
  e->mode_set = f->mode >= 0;
  return add_tree_objects(p, roots, from, !f->src.in_sysroot, what, err);
}

/* ELF programs and libraries inside a tree bring their closure: each is
 * the root of a process of its own (a Python extension is loaded into the
 * interpreter, whose closure is already there). */
static int
add_tree_objects(struct plan *p, struct roots *roots, size_t from, bool outside, const char *what,
                 struct derror *err)
{
  struct strv paths = { 0 }, hosts = { 0 };
  int ret = 0;

  /* Collected first: entries are added while reading, moving the table. */
  for (size_t i = from; i < p->fs.n; i++)
    if (p->fs.items[i].type == ROOTFS_FILE && p->fs.items[i].source && elf_has_magic(p->fs.items[i].source)) {
      strv_push(&paths, p->fs.items[i].path);
      strv_push(&hosts, p->fs.items[i].source);
    }
  for (size_t i = 0; i < paths.n; i++) {
    struct elf_info elf;
    if (elf_read(hosts.items[i], paths.items[i], &elf, err) < 0) {
      ret = derror_wrap(err, "%s", what);
      break;
    }
    if (elf.interp == NULL && elf.needed.n == 0) {
      elf_info_free(&elf);
      continue;
    }
    roots_push(roots, paths.items[i], hosts.items[i], outside, what, &elf, true);
  }
  strv_free(&paths);
  strv_free(&hosts);
  return ret;
}

static int
add_directory(const struct recipe *r, size_t i, const struct sysroot *root, struct roots *roots, struct plan *p,
              struct derror *err)
{
  const struct recipe_directory *d = &r->directories[i];
  cleanup_free char *what = xasprintf("%s:%u:%u: contents.directories[%zu]", r->file, d->pos.line,
                                      d->pos.column, i);
  cleanup_free char *host = NULL;
  struct stat st;
  size_t from = p->fs.n;

  /* the tree is refused when it holds a credential store its excludes keep */
  if (sysroot_locate_tree(root, r->dir, d->src.source, &d->exclude, &st, &host, err) < 0)
    return derror_wrap(err, "%s", what);
  if (!S_ISDIR(st.st_mode))
    return derror_set(err, "%s: `%s` is not a directory", what, d->src.source);
  if (rootfs_add_tree(&p->fs, host, d->path, &d->exclude, d->layer.index, what, err) < 0)
    return -1;
  return add_tree_objects(p, roots, from, !d->src.in_sysroot, what, err);
}

/* A Debian package taken whole; its ELF objects bring their closure, as
 * in a tree. */
static int
add_package(const struct recipe *r, size_t i, const struct sysroot *root, struct roots *roots, struct plan *p,
            struct derror *err)
{
  size_t from = p->fs.n;

  if (packages_add(r, i, root, &p->fs, &p->warnings, err) < 0)
    return -1;
  cleanup_free char *what = xasprintf("%s:%u:%u: contents.packages[%zu]", r->file, r->packages[i].pos.line,
                                      r->packages[i].pos.column, i);
  return add_tree_objects(p, roots, from, false, what, err);
}

/* Every library not found, in one message. */
static int
missing_error(const struct recipe *r, const struct strv *missing, struct derror *err)
{
  struct buf b = { 0 };

  if (missing->n == 1) {
    derror_set(err, "%s: %s", r->file, missing->items[0]);
    return -1;
  }
  buf_printf(&b, "%s: %zu libraries not found:", r->file, missing->n);
  for (size_t i = 0; i < missing->n; i++)
    buf_printf(&b, "\n  %s", missing->items[i]);
  derror_set(err, "%s", b.data);
  buf_free(&b);
  return -1;
}

static void
add_symlinks_and_paths(const struct recipe *r, struct plan *p)
{
  for (size_t i = 0; i < r->n_symlinks; i++) {
    const struct recipe_symlink *s = &r->symlinks[i];
    cleanup_free char *what = xasprintf("%s:%u:%u: contents.symlinks[%zu]", r->file, s->pos.line, s->pos.column, i);
    rootfs_add_symlink(&p->fs, s->path, s->layer.index, s->target, what);
  }
  for (size_t i = 0; i < r->n_paths; i++) {
    const struct recipe_path *rp = &r->paths[i];
    cleanup_free char *what = xasprintf("%s:%u:%u: paths[%zu]", r->file, rp->pos.line, rp->pos.column, i);
    struct rootfs_entry *e = rp->type == RECIPE_PATH_DIRECTORY
                               ? rootfs_add_dir(&p->fs, rp->path, r->layer_app, (mode_t) rp->mode, what)
                               : rootfs_add_data(&p->fs, rp->path, r->layer_app, "", 0, (mode_t) rp->mode, what);
    e->uid = rp->uid;
    e->gid = rp->gid;
    e->fixed = true;
  }
}

static bool
has_libc(const struct recipe *r)
{
  for (size_t i = 0; i < r->n_libraries; i++)
    if (r->libraries[i].name && strcmp(path_basename(r->libraries[i].name), "libc.so.6") == 0)
      return true;
  return false;
}

/* Everything the recipe places, before any search: the loader of the
 * image will look there first. */
static int
place_contents(const struct recipe *r, const struct sysroot *root, struct roots *roots, struct plan *p,
               struct derror *err)
{
  for (size_t i = 0; i < r->n_binaries; i++)
    if (add_binary(r, i, root, roots, p, err) < 0)
      return -1;
  for (size_t i = 0; i < r->n_libraries; i++)
    if (r->libraries[i].name == NULL && add_placed_library(r, i, root, roots, p, err) < 0)
      return -1;
  for (size_t i = 0; i < r->n_files; i++)
    if (add_file(r, i, root, roots, p, err) < 0)
      return -1;
  for (size_t i = 0; i < r->n_directories; i++)
    if (add_directory(r, i, root, roots, p, err) < 0)
      return -1;
  for (size_t i = 0; i < r->n_packages; i++)
    if (add_package(r, i, root, roots, p, err) < 0)
      return -1;
  add_symlinks_and_paths(r, p);
  return 0;
}

/* The roots, then the libraries named for dlopen(), then their closure.
 * `arch`: the stated platform's, or NULL. */
static int
resolve_closure(const struct recipe *r, const char *arch, const struct sysroot *root, struct roots *roots,
                struct closure *cl, struct derror *err)
{
  const char *interp;

  for (size_t i = 0; i < roots->n; i++) {
    struct root *rt = &roots->items[i];
    /* objects of a tree for another machine are data (test fixtures, firmware) */
    if (rt->from_tree && cl->have_ref && !elf_compatible(&cl->ref, &rt->elf))
      continue;
    cleanup_free char *origin = path_dirname(rt->path);
    if (closure_add_program(cl, rt->path, origin, rt->host_origin, rt->host, &rt->elf, err) < 0)
      return derror_wrap(err, "%s", rt->what);
  }
  /* Libraries without a program (a base for programs added later): they
   * are for the stated platform, else the host's, and glibc's loader goes
   * where those programs will look for it. */
  if (!cl->have_ref && r->n_libraries > 0
      && (interp = elf_of_oci_arch(arch ? arch : platform_host_arch(), &cl->ref)) != NULL) {
    cl->have_ref = true;
    if (has_libc(r) && sysroot_is(root, interp, S_IFREG) && closure_add_library(cl, interp, err) < 0)
      return -1;
  }
  for (size_t i = 0; i < r->n_libraries; i++)
    if (r->libraries[i].name && closure_add_library(cl, r->libraries[i].name, err) < 0)
      return derror_wrap(err, "%s:%u:%u: contents.libraries[%zu]", r->file, r->libraries[i].pos.line,
                         r->libraries[i].pos.column, i);
  if (closure_resolve(cl, err) < 0)
    return derror_wrap(err, "%s", r->file);
  return 0;
}

static int
closure_for(const struct recipe *r, const char *arch, const struct sysroot *root, struct plan *p,
            struct plan_closure *pc, struct derror *err)
{
  struct roots roots = { 0 };
  int ret = -1;

  rootfs_set_layers(&p->fs, r->layers.items, r->layers.n);
  view_host(&pc->lower, root->root);
  rootfs_view_init(&pc->view, &p->fs, &pc->lower);
  closure_init(&pc->closure, &pc->view.view, root, &p->fs, p->fs.layers.libraries);
  /* An empty RPATH element is the process's directory: the image's. */
  pc->closure.cwd = r->work_dir ? r->work_dir : "/";
  if (base_add(&p->fs, r, root, err) < 0 || place_contents(r, root, &roots, p, err) < 0)
    goto out;
  ret = resolve_closure(r, arch, root, &roots, &pc->closure, err);
out:
  roots_free(&roots);
  return ret;
}

int
plan_closure(const struct recipe *r, const struct sysroot *root, struct plan *p, struct plan_closure *pc,
             struct derror *err)
{
  return closure_for(r, r->platform_arch, root, p, pc, err);
}

void
plan_closure_free(struct plan_closure *pc)
{
  closure_free(&pc->closure);
  rootfs_view_free(&pc->view);
}

/* The image's /etc/ld.so.cache, when the closure took a library from the
 * sysroot's cache (or the ld.so.conf it stands for) in a directory the
 * loader does not search by itself: the image's loader then finds it the
 * same way.  It lists what the closure took from there, so that every
 * answer is the one the closure computed. */
static int
image_ldcache(const struct closure *cl, struct plan *p, struct derror *err)
{
  struct ldcache_entry *e = xcalloc(cl->n_objects + 1, sizeof *e);
  struct strv sys = { 0 };
  struct buf b = { 0 };
  bool needed = false;
  size_t n = 0;
  int ret = 0;

  closure_system_dirs(cl, &sys);
  for (size_t i = 0; i < cl->n_objects; i++) {
    const struct closure_object *o = &cl->objects[i];
    const char *hw = o->variant && strncmp(o->variant, "glibc-hwcaps/", 13) == 0 ? o->variant + 13 : NULL;
    bool dup = false;
    if ((o->how != CLOSURE_CACHE && o->how != CLOSURE_CONF) || (o->variant && hw == NULL))
      continue;
    for (size_t k = 0; k < n && !dup; k++)
      dup = strcmp(e[k].key, o->name) == 0 && (e[k].hwcaps == hw || (hw && e[k].hwcaps && !strcmp(e[k].hwcaps, hw)));
    if (dup)
      continue;
    e[n++] = (struct ldcache_entry){ o->name, o->path, ldcache_flags(&cl->ref), hw };
    cleanup_free char *dir = path_dirname(o->path);
    needed |= hw == NULL && !strv_contains(&sys, dir);
  }
  if (needed && (ret = ldcache_build(e, n, cl->ref.data == ELFDATA2MSB, &b, err)) == 0)
    rootfs_add_data(&p->fs, "/etc/ld.so.cache", p->fs.layers.libraries, b.data, b.len, 0644,
                    "the loader's cache (libraries outside its own directories)");
  buf_free(&b);
  strv_free(&sys);
  free(e);
  return ret;
}

/* The image must start: the same rule as `distill check`'s can-start,
 * over the finished tree alone, as the runtime will see it. */
int
plan_check_start(const struct recipe *r, struct plan *p, struct derror *err)
{
  const struct image_config *c = &p->config;
  struct start_config cfg = { c->has_entrypoint ? &c->entrypoint : NULL, c->has_cmd ? &c->cmd : NULL, &c->env,
                              c->work_dir, c->uid, c->gid };
  struct strv problems = { 0 }, notes = { 0 };
  struct rootfs_view image;
  struct buf b = { 0 };
  int ret;

  rootfs_view_init(&image, &p->fs, NULL);
  ret = start_check(&image.view, &cfg, &problems, &notes, err);
  for (size_t i = 0; i < notes.n; i++)
    if (c->has_entrypoint || c->has_cmd)
      strv_push(&p->warnings, notes.items[i]);
  for (size_t i = 0; ret == 0 && i < problems.n; i++)
    buf_printf(&b, "\n  %s", problems.items[i]);
  /* the health check's program must start too, by the same rule */
  if (ret == 0 && c->health_test.n) {
    struct start_config health = { &c->health_test, NULL, &c->env, c->work_dir, c->uid, c->gid };
    struct strv hp = { 0 }, hn = { 0 };
    ret = start_check(&image.view, &health, &hp, &hn, err);
    for (size_t i = 0; ret == 0 && i < hp.n; i++)
      buf_printf(&b, "\n  healthcheck: %s", hp.items[i]);
    strv_free(&hp);
    strv_free(&hn);
  }
  if (b.data)
    ret = derror_set(err, "%s: the image could not start:%s", r->file, b.data);
  buf_free(&b);
  strv_free(&problems);
  strv_free(&notes);
  rootfs_view_free(&image);
  return ret;
}

/* The image's architecture: the programs', checked against the stated
 * platform (`name`, `arch`, `variant`; all NULL when none is); without
 * programs the stated one, else the host's. */
static int
image_arch(const struct recipe *r, const char *name, const char *arch, const char *variant,
           const struct closure *cl, struct plan *p, struct derror *err)
{
  if (p->arch == NULL && cl->have_ref)
    p->arch = elf_oci_arch(&cl->ref, &p->variant);
  if (arch) {
    if (p->arch && strcmp(p->arch, arch) != 0)
      return derror_set(err, "%s: the platform is %s, but the programs are for %s", r->file, name, p->arch);
    p->arch = arch;
    p->variant = variant ? variant : p->variant;
  }
  if (p->arch == NULL)
    p->arch = platform_host_arch();
  return 0;
}

/* A layer of `layers:` that nothing went in is left out of the image, as
 * an empty built-in one is: said, since the recipe named it. */
static void
empty_layers(const struct recipe *r, struct plan *p)
{
  for (size_t l = 0; l < r->layers.n; l++) {
    bool used = l == r->layer_base || l == r->layer_libraries || l == r->layer_app;
    for (size_t i = 0; !used && i < p->fs.n; i++)
      used = p->fs.items[i].layer == l;
    if (!used)
      strv_push_take(&p->warnings, xasprintf("%s: layer \"%s\" has nothing in it: it is left out of the image",
                                             r->file, r->layers.items[l]));
  }
}

int
plan_recipe(const struct recipe *r, const char *platform, const struct sysroot *root, struct cache *cache,
            struct plan *p, struct derror *err)
{
  const char *arch = r->platform_arch, *variant = r->platform_variant;
  struct plan_closure pc;
  struct closure *cl = &pc.closure;
  int ret = -1;

  memset(p, 0, sizeof *p);
  if (platform && platform_parse(platform, &arch, &variant) < 0)
    return derror_set(err, "%s: \"%s\" is not a platform such as linux/amd64", r->file, platform);
  image_config_init(&p->config, r);
  if (closure_for(r, arch, root, p, &pc, err) < 0)
    goto out;
  for (size_t i = 0; i < cl->warnings.n; i++)
    strv_push(&p->warnings, cl->warnings.items[i]);
  hints_for_closure(cl, root, &p->hints);
  if (cl->missing.n > 0) {
    missing_error(r, &cl->missing, err);
    goto out;
  }
  if (image_arch(r, platform ? platform : r->platform, arch, variant, cl, p, err) < 0)
    goto out;
  if (image_ldcache(cl, p, err) < 0)
    goto out;
  if (r->healthcheck.probe_url && probe_add(&p->fs, r->file, p->arch, p->variant, err) < 0)
    goto out;
  if (dpkg_annotate(&p->fs, root, cache, &p->packages, err) < 0)
    goto out;
  dpkg_origins(&p->packages, root);
  if (rootfs_finish(&p->fs, err) < 0)
    goto out;
  policy_normalize(&p->fs);
  empty_layers(r, p);
  /* on a base recipe, the image with its base must start (from_recipe.c) */
  if (policy_check(&p->fs, err) < 0 || (r->from_recipe == NULL && plan_check_start(r, p, err) < 0))
    goto out;
  ret = 0;
out:
  plan_closure_free(&pc);
  return ret;
}

void
plan_free(struct plan *p)
{
  rootfs_free(&p->fs);
  strv_free(&p->warnings);
  strv_free(&p->hints);
  image_config_free(&p->config);
  dpkg_packages_free(&p->packages);
}
