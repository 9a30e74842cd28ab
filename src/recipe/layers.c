/* The layers a recipe decides: `layers:` (their order), `layer:` of each
 * content item, and `from-recipe:` (a base recipe whose layers come first).
 * layers_check() is the one place where an item's layer is chosen. */
#include "recipe/parse.h"
#include "lib/alloc.h"
#include "lib/path.h"
#include "recipe/recipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* A layer's name is written in the image's history: [a-z0-9-]+, short. */
#define LAYER_NAME_MAX 64

static const char *const builtin[] = { "base", "libraries", "app" };

static bool
valid_layer_name(const char *s)
{
  size_t n = strlen(s);

  if (n == 0 || n > LAYER_NAME_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
      return false;
  return true;
}

static int
layer_name(struct parse_ctx *c, yaml_node_t *v, const char *kp, char **out)
{
  if (parse_nonempty(c, v, kp, out) < 0)
    return -1;
  if (!valid_layer_name(*out))
    return parse_error(c, v, kp, "\"%s\" is not a layer name (lower case letters, digits and '-', at most %d)",
                       *out, LAYER_NAME_MAX);
  return 0;
}

int
parse_layer_ref(struct parse_ctx *c, yaml_node_t *v, const char *kp, struct recipe_layer_ref *out)
{
  out->pos = parse_pos(v);
  return layer_name(c, v, kp, &out->name);
}

/* layers: [NAME, ...]: each once, the built-in ones among them. */
int
layers_value(struct parse_ctx *c, yaml_node_t *v, const char *kp)
{
  struct recipe *r = c->r;

  if (v->type != YAML_SEQUENCE_NODE)
    return parse_error(c, v, kp, "must be a list of layer names, such as [base, libraries, runtime, app]");
  for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
    yaml_node_t *item = parse_node(c, *it);
    cleanup_free char *ikp = xasprintf("%s[%td]", kp, it - v->data.sequence.items.start);
    cleanup_free char *name = NULL;
    if (layer_name(c, item, ikp, &name) < 0)
      return -1;
    if (strv_contains(&r->layers, name))
      return parse_error(c, item, ikp, "\"%s\": duplicate layer", name);
    strv_push_take(&r->layers, steal_pointer(&name));
    if (r->layers.n > RECIPE_MAX_LAYERS)
      return parse_error(c, item, ikp, "more than %d layers", RECIPE_MAX_LAYERS);
  }
  for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
    if (!strv_contains(&r->layers, builtin[i]))
      return parse_error(c, v, kp, "must name the built-in layer \"%s\" (base, libraries and app hold what distill "
                         "adds itself: accounts and certificates, the libraries, what has no layer: key)", builtin[i]);
  return 0;
}

/* from-recipe: the path of the base recipe, relative to this one's
 * directory. */
int
from_recipe_value(struct parse_ctx *c, yaml_node_t *v, const char *kp)
{
  struct recipe *r = c->r;

  if (parse_nonempty(c, v, kp, &r->from_recipe) < 0)
    return -1;
  r->from_recipe_pos = parse_pos(v);
  if (r->from_recipe[0] != '/') {
    char *abs = path_join(r->dir, r->from_recipe);
    free(r->from_recipe);
    r->from_recipe = abs;
  }
  return 0;
}

static unsigned
layer_index(const struct recipe *r, const char *name)
{
  for (size_t i = 0; i < r->layers.n; i++)
    if (strcmp(r->layers.items[i], name) == 0)
      return (unsigned) i;
  return (unsigned) r->layers.n;
}

/* An item's layer: the one it names, else `dflt`. */
static int
choose(struct parse_ctx *c, const char *kind, size_t i, struct recipe_layer_ref *ref, unsigned dflt)
{
  const struct recipe *r = c->r;

  if (ref->name == NULL) {
    ref->index = dflt;
    return 0;
  }
  ref->index = layer_index(r, ref->name);
  if (ref->index < r->layers.n)
    return 0;
  struct buf list = { 0 };
  for (size_t k = 0; k < r->layers.n; k++)
    buf_printf(&list, "%s%s", k ? ", " : "", r->layers.items[k]);
  derror_set(c->err, "%s:%u:%u: contents.%s[%zu].layer: \"%s\" is not a layer of the recipe (layers: %s)", c->file,
             ref->pos.line, ref->pos.column, kind, i, ref->name, list.data);
  buf_free(&list);
  return -1;
}

int
layers_check(struct parse_ctx *c, yaml_node_t *root)
{
  struct recipe *r = c->r;
  int ret = 0;

  (void) root;
  if (r->layers.n == 0)
    for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
      strv_push(&r->layers, builtin[i]);
  r->layer_base = layer_index(r, "base");
  r->layer_libraries = layer_index(r, "libraries");
  r->layer_app = layer_index(r, "app");
  for (size_t i = 0; ret == 0 && i < r->n_binaries; i++)
    ret = choose(c, "binaries", i, &r->binaries[i].layer, r->layer_app);
  for (size_t i = 0; ret == 0 && i < r->n_libraries; i++)
    ret = choose(c, "libraries", i, &r->libraries[i].layer, r->layer_libraries);
  for (size_t i = 0; ret == 0 && i < r->n_files; i++)
    ret = choose(c, "files", i, &r->files[i].layer, r->layer_app);
  for (size_t i = 0; ret == 0 && i < r->n_directories; i++)
    ret = choose(c, "directories", i, &r->directories[i].layer, r->layer_app);
  for (size_t i = 0; ret == 0 && i < r->n_symlinks; i++)
    ret = choose(c, "symlinks", i, &r->symlinks[i].layer, r->layer_app);
  /* a package is a runtime the app is built on: below the app's own files */
  for (size_t i = 0; ret == 0 && i < r->n_packages; i++)
    ret = choose(c, "packages", i, &r->packages[i].layer, r->layer_libraries);
  return ret;
}
