/* Outputs that would destroy inputs: the archive, the SBOM or the
 * provenance written over the recipe, a source (a package's files too), or
 * each other.  Checked before anything is read,
 * since the archive is renamed over its path only at the end. */
#include "build/target.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "lib/file.h"
#include "lib/path.h"
#include "lib/platform.h"
#include "recipe/recipe.h"
#include "plan/base.h"
#include "plan/elf.h"
#include "plan/sysroot.h"
#include "build/build.h"

#include <glob.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A dpkg list longer than this is not read for its names. */
#define PACKAGE_LIST_MAX (64u << 20)

/* A file the build reads or writes: its identity when it exists (symlinks
 * followed, so a link to the recipe is the recipe), and its absolute path,
 * normalised through its real directory, which is all an output still to
 * be made has. */
struct named_file {
  char *what; /* how the message names it */
  char *abs;
  bool exists;
  dev_t dev;
  ino_t ino;
};

struct file_set {
  struct named_file *items;
  size_t n, cap;
};

static char *
absolute_path(const char *path)
{
  char cwd[PATH_MAX], real[PATH_MAX];
  cleanup_free char *abs = path[0] == '/'           ? xstrdup(path)
                           : getcwd(cwd, sizeof cwd) ? path_join(cwd, path)
                                                     : xstrdup(path);
  cleanup_free char *dir = path_dirname(abs);

  if (realpath(dir, real) != NULL)
    return path_join(real, path_basename(abs));
  char *lexical = path_lexical(abs);
  return lexical ? lexical : xstrdup(abs);
}

/* Inputs that do not exist are left out: the plan stops at them, before
 * anything is written.  Takes over `what`. */
static void
file_set_add(struct file_set *set, char *what, const char *path, bool input)
{
  struct stat st;
  bool exists = stat(path, &st) == 0;

  if (input && !exists) {
    free(what);
    return;
  }
  if (set->n == set->cap)
    set->items = xreallocarray(set->items, set->cap = set->cap ? set->cap * 2 : 16, sizeof *set->items);
  set->items[set->n++] = (struct named_file) { what, absolute_path(path), exists, exists ? st.st_dev : 0,
                                               exists ? st.st_ino : 0 };
}

static void
file_set_free(struct file_set *set)
{
  for (size_t i = 0; i < set->n; i++) {
    free(set->items[i].what);
    free(set->items[i].abs);
  }
  free(set->items);
}

static bool
same_file(const struct named_file *a, const struct named_file *b)
{
  return (a->exists && b->exists && a->dev == b->dev && a->ino == b->ino) || strcmp(a->abs, b->abs) == 0;
}

/* A source as the plan reads it: relative to the recipe, or inside each
 * target's sysroot. */
static void
add_source(struct file_set *in, const struct recipe *r, const struct target *targets, size_t n,
           const struct recipe_source *src, const char *key, size_t i)
{
  /* contents.files[0]'s source `x`; the ca-certificates bundle `x` */
  cleanup_free char *label = i == SIZE_MAX ? xstrdup(key) : xasprintf("%s[%zu]'s source", key, i);

  if (src->source == NULL)
    return;
  if (!src->in_sysroot) {
    cleanup_free char *host = path_join(r->dir, src->source);
    file_set_add(in, xasprintf("%s `%s`", label, src->source), host, true);
    return;
  }
  for (size_t k = 0; k < n; k++) {
    struct sysroot root = { 0 };
    struct derror ignored = DERROR_INIT;
    cleanup_free char *resolved = NULL;
    struct stat st;
    if (sysroot_open(&root, targets[k].sysroot, &ignored) == 0
        && sysroot_resolve(&root, src->source, NULL, NULL, &resolved, &st, &ignored) == 0) {
      cleanup_free char *host = sysroot_host_path(&root, resolved);
      file_set_add(in, xasprintf("%s `%s` (`%s`)", label, src->source, host), host, true);
    }
    derror_clear(&ignored);
    sysroot_close(&root);
  }
}

/* The files of contents.packages[i] in `root`, as its dpkg list names
 * them (NAME:ARCH.list, else NAME.list, else the one NAME:*.list). */
static void
add_package(struct file_set *in, const struct sysroot *root, const struct recipe_package *pk, size_t i)
{
  cleanup_free char *info = sysroot_host_path(root, "/var/lib/dpkg/info");
  cleanup_free char *list = pk->arch ? xasprintf("%s/%s:%s.list", info, pk->name, pk->arch)
                                     : xasprintf("%s/%s.list", info, pk->name);
  cleanup_free char *pattern = xasprintf("%s/%s:*.list", info, pk->name);
  glob_t g = { 0 };
  struct buf text = { 0 };
  struct derror ignored = DERROR_INIT;

  if (access(list, R_OK) != 0 && !pk->arch && glob(pattern, GLOB_NOSORT, NULL, &g) == 0 && g.gl_pathc == 1) {
    free(list);
    list = xstrdup(g.gl_pathv[0]);
  }
  globfree(&g);
  if (read_file(list, PACKAGE_LIST_MAX, &text, &ignored) < 0) {
    derror_clear(&ignored);
    return;
  }
  for (char *line = text.data, *end = text.data + text.len; line && line < end;) {
    char *eol = memchr(line, '\n', (size_t) (end - line));
    if (eol)
      *eol = '\0';
    cleanup_free char *resolved = NULL;
    struct stat st;
    if (line[0] == '/' && sysroot_resolve(root, line, NULL, NULL, &resolved, &st, &ignored) == 0
        && S_ISREG(st.st_mode)) {
      cleanup_free char *host = sysroot_host_path(root, resolved);
      file_set_add(in, xasprintf("contents.packages[%zu] `%s`'s `%s`", i, pk->name, line), host, true);
    }
    derror_clear(&ignored);
    line = eol ? eol + 1 : NULL;
  }
  buf_free(&text);
}

static void
add_packages(struct file_set *in, const struct recipe *r, const struct target *targets, size_t n)
{
  for (size_t k = 0; k < n && r->n_packages; k++) {
    struct sysroot root = { 0 };
    struct derror ignored = DERROR_INIT;
    if (sysroot_open(&root, targets[k].sysroot, &ignored) == 0)
      for (size_t i = 0; i < r->n_packages; i++)
        add_package(in, &root, &r->packages[i], i);
    derror_clear(&ignored);
    sysroot_close(&root);
  }
}

static void
add_inputs(struct file_set *in, const struct recipe *r, const struct target *targets, size_t n)
{
  file_set_add(in, xasprintf("the recipe `%s`", r->file), r->file, true);
  for (size_t i = 0; i < r->n_binaries; i++)
    add_source(in, r, targets, n, &r->binaries[i].src, "contents.binaries", i);
  for (size_t i = 0; i < r->n_libraries; i++) {
    struct recipe_source named = { r->libraries[i].name, true };
    bool path = r->libraries[i].name && r->libraries[i].name[0] == '/';
    add_source(in, r, targets, n, path ? &named : &r->libraries[i].src, "contents.libraries", i);
  }
  for (size_t i = 0; i < r->n_files; i++)
    add_source(in, r, targets, n, &r->files[i].src, "contents.files", i);
  for (size_t i = 0; i < r->n_directories; i++)
    add_source(in, r, targets, n, &r->directories[i].src, "contents.directories", i);
  add_packages(in, r, targets, n);
  struct recipe_source bundle = { (char *) BASE_CA_BUNDLE, true };
  if (r->ca != RECIPE_CA_NONE)
    add_source(in, r, targets, n, r->ca == RECIPE_CA_PATH ? &r->ca_source : &bundle, "the ca-certificates bundle",
               SIZE_MAX);
}

/* The SBOM of each target, named as write_image() will name it; the
 * platform's variant is what the plan gives: the stated one, else the
 * architecture's own (arm: v7). */
static void
add_sboms(struct file_set *out, const char *sbom, const char *flag, const struct target *targets, size_t n)
{
  for (size_t k = 0; k < n; k++) {
    struct elf_info e = { 0 };
    const char *arch = NULL, *variant = NULL, *own = NULL;
    if (n > 1 && platform_parse(targets[k].platform, &arch, &variant) == 0 && elf_of_oci_arch(arch, &e))
      elf_oci_arch(&e, &own);
    cleanup_free char *path = n > 1 && arch ? build_sbom_path(sbom, arch, variant ? variant : own, n)
                                            : xstrdup(sbom);
    file_set_add(out, xasprintf("%s `%s`", flag, path), path, false);
  }
}

static int
clash(const struct file_set *in, const struct file_set *out, struct derror *err)
{
  for (size_t i = 0; i < out->n; i++) {
    for (size_t k = 0; k < in->n; k++)
      if (same_file(&out->items[i], &in->items[k]))
        return derror_code(err, DERROR_USAGE, "%s would overwrite %s, which the build reads", out->items[i].what,
                           in->items[k].what);
    for (size_t k = 0; k < i; k++)
      if (same_file(&out->items[i], &out->items[k]))
        return derror_code(err, DERROR_USAGE, "%s and %s are the same file: one would overwrite the other",
                           out->items[k].what, out->items[i].what);
  }
  return 0;
}

int
outputs_check(const struct build_request *req, const struct target *targets, size_t n, const char *output,
              struct derror *err)
{
  const struct recipe *r = req->recipe;
  struct file_set in = { 0 }, out = { 0 };

  add_inputs(&in, r, targets, n);
  file_set_add(&out, req->output ? xasprintf("-o `%s`", output) : xasprintf("the output `%s`", output), output,
               false);
  if (req->sbom || r->sbom)
    add_sboms(&out, req->sbom ? req->sbom : r->sbom, req->sbom ? "--sbom" : "the recipe's sbom", targets, n);
  if (req->provenance)
    file_set_add(&out, xasprintf("--provenance `%s`", req->provenance), req->provenance, false);
  int ret = clash(&in, &out, err);
  file_set_free(&in);
  file_set_free(&out);
  return ret;
}
