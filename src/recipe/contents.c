/* contents: the binaries, libraries, files, directories, symlinks and
 * Debian packages a recipe puts in its image, and where each is read from. */
#include "recipe/parse.h"
#include "lib/alloc.h"
#include "lib/path.h"
#include "recipe/keys.h"
#include "recipe/recipe.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Short form "/usr/bin/jq": read from the sysroot, same path in the image. */
static int
short_form(struct parse_ctx *c, yaml_node_t *n, const char *kp, struct recipe_source *src, char **path)
{
  if (parse_image_path(c, n, kp, path) < 0)
    return -1;
  src->source = xstrdup(parse_text(n));
  src->in_sysroot = true;
  return 0;
}

static int
binary_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp)
{
  struct recipe_binary *b = obj;

  switch ((enum binary_key) key) {
  case BINARY_SOURCE:
    return parse_source(c, v, kp, &b->src);
  case BINARY_PATH:
    return parse_image_path(c, v, kp, &b->path);
  case BINARY_LAYER:
    return parse_layer_ref(c, v, kp, &b->layer);
  }
  return parse_unhandled(c, v, kp);
}

static int
binary_item(struct parse_ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_binary *b = item;

  b->pos = parse_pos(n);
  if (n->type == YAML_SCALAR_NODE)
    return short_form(c, n, kp, &b->src, &b->path);
  if (parse_mapping(c, n, kp, KEYS(binary_keys), binary_value, b) < 0)
    return -1;
  if (b->path == NULL) {
    if (!b->src.in_sysroot)
      return parse_error(c, n, kp, "missing required key \"path\" (the source is relative)");
    b->path = path_normalize(b->src.source);
    if (b->path == NULL)
      return parse_error(c, n, kp, "source must not contain '..' when path is omitted");
  }
  return 0;
}

static int
library_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp)
{
  struct recipe_library *l = obj;

  switch ((enum library_key) key) {
  case LIBRARY_SOURCE:
    return parse_source(c, v, kp, &l->src);
  case LIBRARY_PATH:
    return parse_image_path(c, v, kp, &l->path);
  case LIBRARY_LAYER:
    return parse_layer_ref(c, v, kp, &l->layer);
  }
  return parse_unhandled(c, v, kp);
}

/* A soname or an absolute path in the sysroot, searched for as dlopen()
 * would; or {source, path}: a library placed at `path`, like a binary. */
static int
library_item(struct parse_ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_library *l = item;

  l->pos = parse_pos(n);
  if (n->type == YAML_MAPPING_NODE) {
    if (parse_mapping(c, n, kp, KEYS(library_keys), library_value, l) < 0)
      return -1;
    if (l->path == NULL && !l->src.in_sysroot)
      return parse_error(c, n, kp, "missing required key \"path\" (the source is relative)");
    if (l->path == NULL && (l->path = path_normalize(l->src.source)) == NULL)
      return parse_error(c, n, kp, "source must not contain '..' when path is omitted");
    return 0;
  }
  if (parse_nonempty(c, n, kp, &l->name) < 0)
    return -1;
  if (l->name[0] == '/') {
    char *norm = path_normalize(l->name);
    if (norm == NULL)
      return parse_error(c, n, kp, "must not contain '..'");
    free(l->name);
    l->name = norm;
  } else if (strchr(l->name, '/')) {
    return parse_error(c, n, kp, "must be a soname (libfoo.so.1), an absolute path or {source, path}");
  }
  return 0;
}

static int
file_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp)
{
  struct recipe_file *f = obj;

  switch ((enum file_key) key) {
  case FILE_SOURCE:
    return parse_source(c, v, kp, &f->src);
  case FILE_PATH:
    return parse_image_path(c, v, kp, &f->path);
  case FILE_MODE:
    return parse_mode(c, v, kp, &f->mode);
  case FILE_LAYER:
    return parse_layer_ref(c, v, kp, &f->layer);
  }
  return parse_unhandled(c, v, kp);
}

static int
file_item(struct parse_ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_file *f = item;

  f->pos = parse_pos(n);
  f->mode = -1;
  if (n->type == YAML_SCALAR_NODE)
    return short_form(c, n, kp, &f->src, &f->path);
  return parse_mapping(c, n, kp, KEYS(file_keys), file_value, f);
}

/* exclude: fnmatch(3) patterns, none empty. */
static int
exclude_value(struct parse_ctx *c, yaml_node_t *v, const char *kp, struct strv *out)
{
  if (parse_strings(c, v, kp, out) < 0)
    return -1;
  for (size_t i = 0; i < out->n; i++)
    if (out->items[i][0] == '\0')
      return parse_error(c, v, kp, "patterns must not be empty");
  return 0;
}

static int
directory_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp)
{
  struct recipe_directory *d = obj;

  switch ((enum directory_key) key) {
  case DIRECTORY_SOURCE:
    return parse_source(c, v, kp, &d->src);
  case DIRECTORY_PATH:
    return parse_image_path(c, v, kp, &d->path);
  case DIRECTORY_EXCLUDE:
    return exclude_value(c, v, kp, &d->exclude);
  case DIRECTORY_LAYER:
    return parse_layer_ref(c, v, kp, &d->layer);
  }
  return parse_unhandled(c, v, kp);
}

static int
directory_item(struct parse_ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_directory *d = item;

  d->pos = parse_pos(n);
  if (n->type == YAML_SCALAR_NODE)
    return short_form(c, n, kp, &d->src, &d->path);
  return parse_mapping(c, n, kp, KEYS(directory_keys), directory_value, d);
}

static int
symlink_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp)
{
  struct recipe_symlink *s = obj;

  switch ((enum symlink_key) key) {
  case SYMLINK_PATH:
    return parse_image_path(c, v, kp, &s->path);
  case SYMLINK_TARGET:
    return parse_nonempty(c, v, kp, &s->target);
  case SYMLINK_LAYER:
    return parse_layer_ref(c, v, kp, &s->layer);
  }
  return parse_unhandled(c, v, kp);
}

static int
symlink_item(struct parse_ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_symlink *s = item;

  s->pos = parse_pos(n);
  return parse_mapping(c, n, kp, KEYS(symlink_keys), symlink_value, s);
}

/* Debian Policy 5.6.1: a package name is lower-case letters, digits, '+',
 * '-' and '.', two or more, starting with a letter or digit.  An
 * architecture (dpkg-architecture's names, and "all") is lower-case
 * letters, digits and '-'. */
static bool
package_name_ok(const char *s)
{
  if (strlen(s) < 2 || !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
    return false;
  return s[strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+-.")] == '\0';
}

static bool
arch_name_ok(const char *s)
{
  return *s && s[strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-")] == '\0';
}

/* "NAME" or "NAME:ARCH", split and checked. */
static int
package_name(struct parse_ctx *c, yaml_node_t *n, const char *kp, struct recipe_package *p)
{
  if (parse_nonempty(c, n, kp, &p->name) < 0)
    return -1;
  char *colon = strchr(p->name, ':');
  if (colon) {
    *colon = '\0';
    p->arch = xstrdup(colon + 1);
    if (!arch_name_ok(p->arch))
      return parse_error(c, n, kp, "\"%s\" is not an architecture (amd64, arm64, all, ...)", p->arch);
  }
  if (!package_name_ok(p->name))
    return parse_error(c, n, kp,
                       "\"%s\" is not a Debian package name (lower-case letters, digits, '+', '-' and '.', "
                       "two or more, the first a letter or digit)",
                       p->name);
  return 0;
}

static int
package_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp)
{
  struct recipe_package *p = obj;

  switch ((enum package_key) key) {
  case PACKAGE_NAME:
    return package_name(c, v, kp, p);
  case PACKAGE_EXCLUDE:
    return exclude_value(c, v, kp, &p->exclude);
  case PACKAGE_LAYER:
    return parse_layer_ref(c, v, kp, &p->layer);
  }
  return parse_unhandled(c, v, kp);
}

static int
package_item(struct parse_ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_package *p = item;

  p->pos = parse_pos(n);
  if (n->type == YAML_SCALAR_NODE)
    return package_name(c, n, kp, p);
  return parse_mapping(c, n, kp, KEYS(package_keys), package_value, p);
}

int
contents_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp)
{
  struct recipe *r = c->r;

  switch ((enum contents_key) key) {
  case CONTENTS_BINARIES:
    return parse_list(c, v, kp, (void **) &r->binaries, &r->n_binaries, sizeof(*r->binaries), binary_item);
  case CONTENTS_LIBRARIES:
    return parse_list(c, v, kp, (void **) &r->libraries, &r->n_libraries, sizeof(*r->libraries), library_item);
  case CONTENTS_FILES:
    return parse_list(c, v, kp, (void **) &r->files, &r->n_files, sizeof(*r->files), file_item);
  case CONTENTS_DIRECTORIES:
    return parse_list(c, v, kp, (void **) &r->directories, &r->n_directories, sizeof(*r->directories),
                      directory_item);
  case CONTENTS_SYMLINKS:
    return parse_list(c, v, kp, (void **) &r->symlinks, &r->n_symlinks, sizeof(*r->symlinks), symlink_item);
  case CONTENTS_PACKAGES:
    return parse_list(c, v, kp, (void **) &r->packages, &r->n_packages, sizeof(*r->packages), package_item);
  }
  return parse_unhandled(c, v, kp);
}
