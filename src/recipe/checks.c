/* checks.allow: the findings of the image's own check a recipe accepts,
 * each for a reason. */
#include "recipe/parse.h"
#include "recipe/check_ids.h"
#include "recipe/keys.h"
#include "recipe/recipe.h"

#include <string.h>
#include <yaml.h>

static int
allow_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp)
{
  struct recipe_waiver *w = obj;
  const char *why;

  switch ((enum allow_key) key) {
  case ALLOW_ID:
    if (parse_nonempty(c, v, kp, &w->id) < 0)
      return -1;
    if ((why = check_waivable(w->id)) != NULL)
      return parse_error(c, v, kp, "\"%s\": %s", w->id, why);
    /* the build refuses these by policy before any check runs */
    if (strcmp(w->id, "no-shell") == 0 || strcmp(w->id, "no-package-manager") == 0)
      return parse_error(c, v, kp,
                         "\"%s\" cannot be waived in a recipe: distill images have no shell or package manager",
                         w->id);
    return 0;
  case ALLOW_PATH:
    return parse_image_path(c, v, kp, &w->path);
  case ALLOW_REASON:
    return parse_nonempty(c, v, kp, &w->reason);
  }
  return parse_unhandled(c, v, kp);
}

/* One finding of the image's own check accepted, for a reason: its id and
 * exact path (no pattern: a waiver must not cover a file added later). */
static int
allow_item(struct parse_ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_waiver *w = item;

  w->pos = parse_pos(n);
  if (parse_mapping(c, n, kp, KEYS(allow_keys), allow_value, w) < 0)
    return -1;
  for (struct recipe_waiver *o = c->r->waivers; o < w; o++)
    if (strcmp(o->id, w->id) == 0 && strcmp(o->path, w->path) == 0)
      return parse_error(c, n, kp, "%s %s is already waived by checks.allow[%td]", w->id, w->path,
                         o - c->r->waivers);
  return 0;
}

int
checks_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp)
{
  struct recipe *r = obj;

  switch ((enum checks_key) key) {
  case CHECKS_ALLOW:
    return parse_list(c, v, kp, (void **) &r->waivers, &r->n_waivers, sizeof(*r->waivers), allow_item);
  }
  return parse_unhandled(c, v, kp);
}
