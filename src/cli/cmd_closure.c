/* distill closure ELF...: the libraries the loader would load, read inside a
 * sysroot, as a tree or JSON; nothing is run and nothing is written. */
#include "plan/closure.h"
#include "cli/commands.h"
#include "plan/elf.h"
#include "plan/plan.h"
#include "plan/sysroot.h"
#include "recipe/recipe.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "lib/file.h"
#include "lib/path.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
  "usage: distill closure [--sysroot DIR] [--json] ELF... | RECIPE\n"
  "\n"
  "Print the shared libraries glibc's loader would load for each ELF program\n"
  "or library, found by the loader's rules inside the sysroot, without running\n"
  "anything. Each library says how it was found: interpreter, rpath, runpath,\n"
  "cache, ld.so.conf, default, path or beside the source, and which hwcaps\n"
  "variant or $PLATFORM value it is for. Given a recipe, the closure of every\n"
  "program and library it places, looked up in the planned image first, then\n"
  "in the sysroot: what `distill build` puts in the image. Exits 1 when a\n"
  "library is missing, naming every one.\n"
  "\n"
  "  --sysroot DIR   the root the programs and libraries are read in (default /)\n"
  "  --json          one JSON document instead of a tree\n"
  "  -h, --help      show this help\n";

static void
print_tree(const struct closure *c, int parent, int depth)
{
  for (size_t i = 0; i < c->n_objects; i++) {
    const struct closure_object *o = &c->objects[i];
    if (o->loader != parent || o->how == CLOSURE_PROGRAM)
      continue;
    printf("%*s%s => %s [%s%s%s]\n", 4 * depth, "", o->name, o->path, closure_how_name(o->how),
           o->variant ? ", " : "", o->variant ? o->variant : "");
    print_tree(c, (int) i, depth + 1);
  }
}

static json_t *
objects_json(const struct closure *c)
{
  json_t *a = json_array();

  for (size_t i = 0; i < c->n_objects; i++) {
    const struct closure_object *o = &c->objects[i];
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", o->name, "path", o->path, "real", o->real, "how",
                          closure_how_name(o->how), "program", c->objects[o->process].path);
    json_object_set_new(j, "needed_by", o->loader >= 0 ? json_string(c->objects[o->loader].path) : json_null());
    json_object_set_new(j, "variant", o->variant ? json_string(o->variant) : json_null());
    json_object_set_new(j, "soname", o->elf.soname ? json_string(o->elf.soname) : json_null());
    json_array_append_new(a, j);
  }
  return a;
}

/* An argument is a path inside the sysroot; with the host as sysroot a
 * relative one is taken from the working directory, as a shell would. */
static char *
in_root_path(const char *arg, bool host_root)
{
  char cwd[PATH_MAX];

  if (arg[0] == '/' || !host_root || getcwd(cwd, sizeof cwd) == NULL)
    return path_join("/", arg);
  return path_join(cwd, arg);
}

static int
add_argument(struct closure *c, const struct sysroot *root, const char *arg, struct derror *err)
{
  cleanup_free char *path = in_root_path(arg, *root->root == '\0');
  cleanup_free char *resolved = NULL;
  struct elf_info elf;
  struct stat st;

  int r = sysroot_resolve(root, path, NULL, NULL, &resolved, &st, err);
  if (r < 0 && derror_is(err, DERROR_NOT_FOUND))
    return derror_set(err, "`%s`: not found in the sysroot", path);
  if (r < 0)
    return -1;
  if (!S_ISREG(st.st_mode))
    return derror_set(err, "`%s`: not a regular file", path);
  cleanup_free char *host = sysroot_host_path(root, resolved);
  if (elf_read(host, path, &elf, err) < 0)
    return -1;
  /* $ORIGIN of a program is its real directory (the kernel's view). */
  cleanup_free char *origin = path_dirname(resolved);
  return closure_add_program(c, path, origin, NULL, host, &elf, err);
}

static int
print_closure(const struct closure *c, bool json)
{
  if (json) {
    json_t *doc = json_pack("{s:o, s:o, s:o}", "objects", objects_json(c), "missing", json_array(), "warnings",
                            json_array());
    for (size_t i = 0; i < c->missing.n; i++)
      json_array_append_new(json_object_get(doc, "missing"), json_string(c->missing.items[i]));
    for (size_t i = 0; i < c->warnings.n; i++)
      json_array_append_new(json_object_get(doc, "warnings"), json_string(c->warnings.items[i]));
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    putchar('\n');
    json_decref(doc);
  } else {
    for (size_t i = 0; i < c->n_objects; i++)
      if (c->objects[i].how == CLOSURE_PROGRAM) {
        printf("%s%s\n", c->objects[i].path, elf_is_static(&c->objects[i].elf) ? " (static)" : "");
        print_tree(c, (int) i, 1);
      }
    for (size_t i = 0; i < c->warnings.n; i++)
      fprintf(stderr, "distill: warning: %s\n", c->warnings.items[i]);
  }
  for (size_t i = 0; i < c->missing.n; i++)
    fprintf(stderr, "distill: %s\n", c->missing.items[i]);
  return c->missing.n ? EXIT_FAIL : EXIT_OK;
}

/* A recipe rather than ELF files: named like one, and not ELF. */
static bool
is_recipe(const char *arg)
{
  size_t n = strlen(arg);
  char magic[4] = { 0 };
  struct derror err = DERROR_INIT;
  struct stat st;

  if (!((n > 5 && strcmp(arg + n - 5, ".yaml") == 0) || (n > 4 && strcmp(arg + n - 4, ".yml") == 0)))
    return false;
  /* never blocks: a FIFO is refused, and then read as a recipe, which
   * says so */
  cleanup_close int fd = open_input(arg, NULL, 0, &st, &err);
  derror_clear(&err);
  return fd < 0 || pread(fd, magic, 4, 0) < 4 || memcmp(magic, "\177ELF", 4) != 0;
}

/* The closure `distill build` computes for a recipe. */
static int
closure_of_recipe(const char *file, const char *sysroot, bool json)
{
  struct derror err = DERROR_INIT;
  struct sysroot root = { 0 };
  struct plan p = { 0 };
  struct plan_closure pc;
  struct recipe r;
  int ret = EXIT_FAIL;

  if (recipe_load(file, &r, &err) < 0) {
    fprintf(stderr, "distill: %s\n", err.msg);
    derror_clear(&err);
    return EXIT_FAIL;
  }
  if (sysroot_open(&root, sysroot ? sysroot : r.sysroot ? r.sysroot : "/", &err) == 0) {
    if (plan_closure(&r, &root, &p, &pc, &err) == 0)
      ret = print_closure(&pc.closure, json);
    plan_closure_free(&pc);
  }
  if (err.msg)
    fprintf(stderr, "distill: %s\n", err.msg);
  derror_clear(&err);
  plan_free(&p);
  sysroot_close(&root);
  recipe_free(&r);
  return ret;
}

int
cmd_closure(int argc, char **argv)
{
  static const struct option longopts[] = {
    { "sysroot", required_argument, NULL, 's' },
    { "json", no_argument, NULL, 'j' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *sysroot = NULL;
  bool json = false;
  struct derror err = DERROR_INIT;
  struct sysroot root = { 0 };
  struct rootfs fs = { 0 };
  struct closure c;
  char cwd[PATH_MAX];
  int opt, ret = EXIT_FAIL;

  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (opt) {
    case 's':
      sysroot = optarg;
      break;
    case 'j':
      json = true;
      break;
    case 'h':
      fputs(usage_text, stdout);
      return EXIT_OK;
    default:
      fputs("Try 'distill closure --help'.\n", stderr);
      return EXIT_USAGE;
    }
  }
  if (optind >= argc) {
    fputs("distill: closure: at least one ELF file or a recipe is required\nTry 'distill closure --help'.\n",
          stderr);
    return EXIT_USAGE;
  }
  if (argc - optind == 1 && is_recipe(argv[optind]))
    return closure_of_recipe(argv[optind], sysroot, json);
  if (sysroot_open(&root, sysroot ? sysroot : "/", &err) < 0) {
    fprintf(stderr, "distill: %s\n", err.msg);
    derror_clear(&err);
    return EXIT_FAIL;
  }
  struct view view;
  view_host(&view, root.root);
  closure_init(&c, &view, &root, &fs, LAYER_LIBRARIES);
  /* Relative RPATH elements are the process's directory: here, ours. */
  if (*root.root == '\0' && getcwd(cwd, sizeof cwd))
    c.cwd = cwd;
  for (int i = optind; i < argc; i++)
    if (add_argument(&c, &root, argv[i], &err) < 0)
      goto out;
  if (closure_resolve(&c, &err) < 0)
    goto out;
  ret = print_closure(&c, json);
out:
  if (err.msg)
    fprintf(stderr, "distill: %s\n", err.msg);
  derror_clear(&err);
  closure_free(&c);
  rootfs_free(&fs);
  sysroot_close(&root);
  return ret;
}
