#include "distill/plan.h"
#include "distill/base.h"
#include "distill/closure.h"
#include "distill/elf.h"
#include "distill/hints.h"
#include "distill/policy.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The architecture of an image without programs: the build machine's. */
static const char *
host_arch(void)
{
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__arm__)
  return "arm";
#elif defined(__i386__)
  return "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
  return "unknown";
#endif
}

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
  if ((bad = policy_forbidden_name(path_basename(path))) || (bad = policy_forbidden_name(path_basename(source))))
    return derror_set(err, "%s: `%s` is a shell or package manager (\"%s\"); distill images have none", what,
                      source, bad);
  return 0;
}

static int
add_binary(const struct recipe *r, size_t i, const struct sysroot *root, struct closure *cl, struct plan *p,
           struct derror *err)
{
  const struct recipe_binary *b = &r->binaries[i];
  cleanup_free char *what = xasprintf("%s:%u:%u: contents.binaries[%zu]", r->file, b->pos.line, b->pos.column, i);
  cleanup_free char *host = NULL;
  struct elf_info elf;
  struct stat st;
  const char *variant;

  if (sysroot_locate(root, r->dir, b->src.source, &st, &host, err) < 0)
    return derror_wrap(err, "%s", what);
  if (check_source_file(what, b->src.source, b->path, &st, err) < 0)
    return -1;
  if (elf_read(host, b->src.source, &elf, err) < 0)
    return derror_wrap(err, "%s", what);
  const char *arch = elf_oci_arch(&elf, &variant);
  if (arch == NULL) {
    elf_info_free(&elf);
    return derror_set(err, "%s: `%s`: an ELF machine distill does not know (%d)", what, b->src.source,
                      elf.machine);
  }
  if (p->arch && (strcmp(p->arch, arch) != 0)) {
    elf_info_free(&elf);
    return derror_set(err, "%s: `%s` is for %s, but the image is for %s (from contents.binaries[0])", what,
                      b->src.source, arch, p->arch);
  }
  p->arch = arch;
  p->variant = variant;
  if (st.st_mode & (S_ISUID | S_ISGID)) {
    bool origin = (elf.rpath && strstr(elf.rpath, "ORIGIN")) || (elf.runpath && strstr(elf.runpath, "ORIGIN"));
    /* The loader ignores $ORIGIN outside trusted directories in setuid
     * programs; without the bit, in the image, it follows it. */
    strv_push_take(&p->warnings, xasprintf("%s: `%s` is set%s: the bit is dropped in the image%s", what,
                                           b->src.source, (st.st_mode & S_ISUID) ? "uid" : "gid",
                                           origin ? "; its $ORIGIN search path, which the loader ignores for "
                                                    "setuid programs, is followed there" : ""));
  }
  rootfs_add_file(&p->fs, b->path, LAYER_APP, host, (uint64_t) st.st_size,
                  st.st_mode & 07777, what);
  /* At run time $ORIGIN is the directory the program sits in, in the image. */
  cleanup_free char *origin = path_dirname(b->path);
  if (closure_add_program(cl, b->path, origin, host, &elf, err) < 0)
    return derror_wrap(err, "%s", what);
  return 0;
}

static int
add_file(const struct recipe *r, size_t i, const struct sysroot *root, struct plan *p, struct derror *err)
{
  const struct recipe_file *f = &r->files[i];
  cleanup_free char *what = xasprintf("%s:%u:%u: contents.files[%zu]", r->file, f->pos.line, f->pos.column, i);
  cleanup_free char *host = NULL;
  struct stat st;

  if (sysroot_locate(root, r->dir, f->src.source, &st, &host, err) < 0)
    return derror_wrap(err, "%s", what);
  if (check_source_file(what, f->src.source, f->path, &st, err) < 0)
    return -1;
  struct rootfs_entry *e = rootfs_add_file(&p->fs, f->path, LAYER_APP, host, (uint64_t) st.st_size,
                                           f->mode >= 0 ? (mode_t) f->mode : st.st_mode & 07777, what);
  e->mode_set = f->mode >= 0;
  return 0;
}

static bool
has_elf_magic(const char *host)
{
  char magic[4];
  cleanup_close int fd = open(host, O_RDONLY | O_CLOEXEC | O_NOCTTY);

  return fd >= 0 && pread(fd, magic, 4, 0) == 4 && memcmp(magic, ELFMAG, SELFMAG) == 0;
}

/* ELF programs and libraries inside a tree bring their closure: each is
 * the root of a process of its own (a Python extension is loaded into the
 * interpreter, whose closure is already there).  Objects for another
 * machine are data to the image (test fixtures, firmware) and left alone. */
static int
add_tree_objects(struct plan *p, struct closure *cl, size_t from, const char *what, struct derror *err)
{
  struct strv paths = { 0 }, hosts = { 0 };
  int ret = 0;

  /* Collected first: the closure adds entries, which moves the table. */
  for (size_t i = from; i < p->fs.n; i++)
    if (p->fs.items[i].type == ROOTFS_FILE && p->fs.items[i].source && has_elf_magic(p->fs.items[i].source)) {
      strv_push(&paths, p->fs.items[i].path);
      strv_push(&hosts, p->fs.items[i].source);
    }
  for (size_t i = 0; ret == 0 && i < paths.n; i++) {
    struct elf_info elf;
    if (elf_read(hosts.items[i], paths.items[i], &elf, err) < 0) {
      ret = derror_wrap(err, "%s", what);
      break;
    }
    if ((cl->have_ref && !elf_compatible(&cl->ref, &elf)) || (elf.interp == NULL && elf.needed.n == 0)) {
      elf_info_free(&elf);
      continue;
    }
    cleanup_free char *origin = path_dirname(paths.items[i]);
    if (closure_add_program(cl, paths.items[i], origin, hosts.items[i], &elf, err) < 0)
      ret = derror_wrap(err, "%s", what);
  }
  strv_free(&paths);
  strv_free(&hosts);
  return ret;
}

static int
add_directory(const struct recipe *r, size_t i, const struct sysroot *root, struct closure *cl, struct plan *p,
              struct derror *err)
{
  const struct recipe_directory *d = &r->directories[i];
  cleanup_free char *what = xasprintf("%s:%u:%u: contents.directories[%zu]", r->file, d->pos.line,
                                      d->pos.column, i);
  cleanup_free char *host = NULL;
  struct stat st;
  size_t from = p->fs.n;

  if (sysroot_locate(root, r->dir, d->src.source, &st, &host, err) < 0)
    return derror_wrap(err, "%s", what);
  if (!S_ISDIR(st.st_mode))
    return derror_set(err, "%s: `%s` is not a directory", what, d->src.source);
  if (rootfs_add_tree(&p->fs, host, d->path, &d->exclude, LAYER_APP, what, err) < 0)
    return -1;
  return add_tree_objects(p, cl, from, what, err);
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
    rootfs_add_symlink(&p->fs, s->path, LAYER_APP, s->target, what);
  }
  for (size_t i = 0; i < r->n_paths; i++) {
    const struct recipe_path *rp = &r->paths[i];
    cleanup_free char *what = xasprintf("%s:%u:%u: paths[%zu]", r->file, rp->pos.line, rp->pos.column, i);
    struct rootfs_entry *e = rp->type == RECIPE_PATH_DIRECTORY
                               ? rootfs_add_dir(&p->fs, rp->path, LAYER_APP, (mode_t) rp->mode, what)
                               : rootfs_add_data(&p->fs, rp->path, LAYER_APP, "", 0, (mode_t) rp->mode, what);
    e->uid = rp->uid;
    e->gid = rp->gid;
    e->fixed = true;
  }
}

static void
run_as_ids(const struct recipe *r, uint32_t *uid, uint32_t *gid)
{
  *uid = *gid = 65532;
  if (strcmp(r->run_as, "nobody") == 0)
    *uid = *gid = 65534;
  for (size_t i = 0; i < r->n_users; i++)
    if (strcmp(r->users[i].name, r->run_as) == 0) {
      *uid = r->users[i].uid;
      *gid = r->users[i].gid;
    }
}

static bool
has_libc(const struct recipe *r)
{
  for (size_t i = 0; i < r->n_libraries; i++)
    if (strcmp(path_basename(r->libraries[i].name), "libc.so.6") == 0)
      return true;
  return false;
}

int
plan_build(const struct recipe *r, const struct sysroot *root, struct cache *cache, struct plan *p,
           struct derror *err)
{
  struct closure cl;
  const char *interp;
  int ret = -1;

  memset(p, 0, sizeof *p);
  run_as_ids(r, &p->uid, &p->gid);
  if (base_add(&p->fs, r, root, err) < 0)
    return -1;
  closure_init(&cl, root, &p->fs, LAYER_LIBRARIES);
  /* An empty RPATH element is the process's directory: the image's. */
  cl.cwd = r->work_dir ? r->work_dir : "/";
  for (size_t i = 0; i < r->n_binaries; i++)
    if (add_binary(r, i, root, &cl, p, err) < 0)
      goto out;
  /* Libraries without a program (a base for programs added later): they
   * are for the stated platform, else the host's, and glibc's loader goes
   * where those programs will look for it. */
  if (!cl.have_ref && r->n_libraries > 0
      && (interp = elf_of_oci_arch(r->platform_arch ? r->platform_arch : host_arch(), &cl.ref)) != NULL) {
    cl.have_ref = true;
    if (has_libc(r) && sysroot_is(root, interp, S_IFREG) && closure_add_library(&cl, interp, err) < 0)
      goto out;
  }
  for (size_t i = 0; i < r->n_libraries; i++)
    if (closure_add_library(&cl, r->libraries[i].name, err) < 0) {
      derror_wrap(err, "%s:%u:%u: contents.libraries[%zu]", r->file, r->libraries[i].pos.line,
                  r->libraries[i].pos.column, i);
      goto out;
    }
  for (size_t i = 0; i < r->n_files; i++)
    if (add_file(r, i, root, p, err) < 0)
      goto out;
  for (size_t i = 0; i < r->n_directories; i++)
    if (add_directory(r, i, root, &cl, p, err) < 0)
      goto out;
  add_symlinks_and_paths(r, p);
  if (closure_resolve(&cl, err) < 0) {
    derror_wrap(err, "%s", r->file);
    goto out;
  }
  for (size_t i = 0; i < cl.warnings.n; i++)
    strv_push(&p->warnings, cl.warnings.items[i]);
  hints_for_closure(&cl, root, &p->hints);
  if (cl.missing.n > 0) {
    missing_error(r, &cl.missing, err);
    goto out;
  }
  if (p->arch == NULL && cl.have_ref)
    p->arch = elf_oci_arch(&cl.ref, &p->variant);
  /* A stated platform must be the programs' own; without programs it
   * names the image's. */
  if (r->platform_arch) {
    if (p->arch && strcmp(p->arch, r->platform_arch) != 0) {
      derror_set(err, "%s: the platform is %s, but the programs are for %s", r->file, r->platform, p->arch);
      goto out;
    }
    p->arch = r->platform_arch;
    p->variant = r->platform_variant ? r->platform_variant : p->variant;
  }
  if (p->arch == NULL)
    p->arch = host_arch();
  if (dpkg_annotate(&p->fs, root, cache, &p->packages, err) < 0)
    goto out;
  if (rootfs_finish(&p->fs, err) < 0)
    goto out;
  policy_normalize(&p->fs);
  if (policy_check(&p->fs, err) < 0)
    goto out;
  ret = 0;
out:
  closure_free(&cl);
  return ret;
}

void
plan_free(struct plan *p)
{
  rootfs_free(&p->fs);
  strv_free(&p->warnings);
  strv_free(&p->hints);
  dpkg_packages_free(&p->packages);
}
