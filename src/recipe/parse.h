/* What the files of the recipe parser share (private to src/recipe/): the
 * walk over libyaml's document, the typed values read from its nodes, and
 * errors that name the file, the line and column of the offending node and
 * the key path to it ("app.yaml:7:5: contents.binaries[1].path: must be an
 * absolute path").  Each parse_* function fills `c->err` and returns -1 on
 * a bad value, as lib/error.h has it. */
#ifndef DISTILL_RECIPE_PARSE_H
#define DISTILL_RECIPE_PARSE_H

#include "lib/alloc.h"
#include "lib/error.h"
#include "recipe/keys.h"
#include "recipe/recipe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

struct parse_ctx {
  const char *file;
  yaml_document_t *doc;
  struct recipe *r;
  struct derror *err;
};

/* "FILE:LINE:COL: KEYPATH: what", or without the key path when it is
 * NULL or empty (the top of the recipe). */
int parse_error(struct parse_ctx *c, const yaml_node_t *node, const char *keypath, const char *fmt, ...)
  DISTILL_PRINTF(4, 5);
struct recipe_pos parse_pos(const yaml_node_t *node);
yaml_node_t *parse_node(struct parse_ctx *c, int index);
const char *parse_text(const yaml_node_t *scalar);
/* YAML's null: an empty plain scalar, "~" or "null". */
bool parse_is_null(const yaml_node_t *n);
/* The value of `key` in the mapping `map`, or NULL. */
yaml_node_t *parse_lookup(struct parse_ctx *c, yaml_node_t *map, const char *key);
/* Decimal digits only, at most `max`. */
int parse_uint(const char *s, unsigned long long max, unsigned long long *out);

/* Each of these replaces `*out` with the value of `n`, or refuses it. */
int parse_string(struct parse_ctx *c, yaml_node_t *n, const char *kp, char **out);
int parse_nonempty(struct parse_ctx *c, yaml_node_t *n, const char *kp, char **out);
int parse_bool(struct parse_ctx *c, yaml_node_t *n, const char *kp, bool *out);
/* An absolute path inside the image, normalised; ".." and "/" are refused. */
int parse_image_path(struct parse_ctx *c, yaml_node_t *n, const char *kp, char **out);
int parse_source(struct parse_ctx *c, yaml_node_t *n, const char *kp, struct recipe_source *out);
int parse_id(struct parse_ctx *c, yaml_node_t *n, const char *kp, uint32_t *out);
/* Octal with a leading 0 (YAML 1.1 reads 0644 as octal) or 0o. */
int parse_mode(struct parse_ctx *c, yaml_node_t *n, const char *kp, int *out);
int parse_strings(struct parse_ctx *c, yaml_node_t *n, const char *kp, struct strv *out);

/* Called for each key of a mapping found in its table, with the key's
 * index in the table (the table's enum), its value and the key path of the
 * value. */
typedef int (*key_fn)(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *val, const char *kp);
/* A mapping read against a key table (pass it with KEYS()): keys that are
 * not strings, duplicate, unknown (with the nearest known one suggested) or
 * required and missing are refused. */
int parse_mapping(struct parse_ctx *c, yaml_node_t *map, const char *kp, const struct recipe_key keys[],
                  size_t n_keys, key_fn fn, void *obj);

/* What a key_fn returns after its switch, which has a case for every key
 * of its enum and no default (so that -Wswitch-enum names a key left
 * without one): parse_mapping() passes only the table's indices, so this
 * is not reached. */
int parse_unhandled(struct parse_ctx *c, yaml_node_t *v, const char *kp);

/* healthcheck.c: the healthcheck mapping. */
struct recipe_healthcheck;
int recipe_healthcheck(struct parse_ctx *c, yaml_node_t *v, const char *kp, struct recipe_healthcheck *out);

/* Called for each item of a list, on its element of the array. */
typedef int (*item_fn)(struct parse_ctx *c, void *item, yaml_node_t *n, const char *kp);
/* A list read into a new array of `item_size` elements, zeroed. */
int parse_list(struct parse_ctx *c, yaml_node_t *seq, const char *kp, void **items, size_t *n_items, size_t item_size,
               item_fn fn);

/* The sections of a recipe, a file each.  The *_value functions are the
 * key_fn of their mapping; the *_check ones pass over the whole recipe once
 * it is read, in the order recipe_parse() calls them. */
/* top.c */
int top_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp);
int top_check(struct parse_ctx *c, yaml_node_t *root);
/* contents.c */
int contents_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp);
/* accounts.c */
int accounts_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp);
int accounts_path_item(struct parse_ctx *c, void *item, yaml_node_t *n, const char *kp);
int accounts_check(struct parse_ctx *c);
/* checks.c */
int checks_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp);
/* layers.c: `layer:` of an item, `layers:` and `from-recipe:`; then each
 * item's layer chosen (after accounts_check). */
int parse_layer_ref(struct parse_ctx *c, yaml_node_t *v, const char *kp, struct recipe_layer_ref *out);
int layers_value(struct parse_ctx *c, yaml_node_t *v, const char *kp);
int from_recipe_value(struct parse_ctx *c, yaml_node_t *v, const char *kp);
int layers_check(struct parse_ctx *c, yaml_node_t *root);
/* credentials.c */
int credentials_check(struct parse_ctx *c, yaml_node_t *root);

#endif
