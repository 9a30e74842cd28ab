/* The walk over a recipe's YAML (libyaml's document API): typed values
 * read from its nodes, mappings read against the key tables of keys.c,
 * lists, and every error placed at its node's line and column. */
#include "recipe/parse.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "lib/path.h"
#include "recipe/keys.h"
#include "recipe/recipe.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define ID_MAX 4294967294u /* (uid_t) -1 is "no id" to the kernel */

/* ---- nodes and errors ------------------------------------------------- */

int
parse_error(struct parse_ctx *c, const yaml_node_t *node, const char *keypath, const char *fmt, ...)
{
  va_list ap;
  cleanup_free char *what = NULL;

  va_start(ap, fmt);
  what = xvasprintf(fmt, ap);
  va_end(ap);
  if (keypath && *keypath)
    return derror_set(c->err, "%s:%zu:%zu: %s: %s", c->file, node->start_mark.line + 1,
                      node->start_mark.column + 1, keypath, what);
  return derror_set(c->err, "%s:%zu:%zu: %s", c->file, node->start_mark.line + 1,
                    node->start_mark.column + 1, what);
}

struct recipe_pos
parse_pos(const yaml_node_t *node)
{
  return (struct recipe_pos) { (unsigned) node->start_mark.line + 1, (unsigned) node->start_mark.column + 1 };
}

yaml_node_t *
parse_node(struct parse_ctx *c, int index)
{
  return yaml_document_get_node(c->doc, index);
}

const char *
parse_text(const yaml_node_t *scalar)
{
  return (const char *) scalar->data.scalar.value;
}

bool
parse_is_null(const yaml_node_t *n)
{
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return false;
  const char *s = parse_text(n);
  return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0
         || strcmp(s, "NULL") == 0;
}

/* Only on a mapping whose keys are all scalars: parse_mapping() has
 * refused any other before this is asked. */
yaml_node_t *
parse_lookup(struct parse_ctx *c, yaml_node_t *map, const char *key)
{
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
    if (strcmp(parse_text(parse_node(c, p->key)), key) == 0)
      return parse_node(c, p->value);
  return NULL;
}

/* ---- scalars ---------------------------------------------------------- */

int
parse_string(struct parse_ctx *c, yaml_node_t *n, const char *kp, char **out)
{
  if (n->type != YAML_SCALAR_NODE || parse_is_null(n))
    return parse_error(c, n, kp, "must be a string");
  if (n->data.scalar.length != strlen(parse_text(n)))
    return parse_error(c, n, kp, "must not contain NUL characters");
  free(*out);
  *out = xstrdup(parse_text(n));
  return 0;
}

int
parse_nonempty(struct parse_ctx *c, yaml_node_t *n, const char *kp, char **out)
{
  if (parse_string(c, n, kp, out) < 0)
    return -1;
  if (**out == '\0')
    return parse_error(c, n, kp, "must not be empty");
  return 0;
}

int
parse_bool(struct parse_ctx *c, yaml_node_t *n, const char *kp, bool *out)
{
  static const char *const yes[] = { "true", "True", "TRUE", NULL };
  static const char *const no[] = { "false", "False", "FALSE", NULL };

  if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
    for (size_t i = 0; yes[i]; i++)
      if (strcmp(parse_text(n), yes[i]) == 0)
        return *out = true, 0;
    for (size_t i = 0; no[i]; i++)
      if (strcmp(parse_text(n), no[i]) == 0)
        return *out = false, 0;
  }
  return parse_error(c, n, kp, "must be true or false");
}

int
parse_image_path(struct parse_ctx *c, yaml_node_t *n, const char *kp, char **out)
{
  cleanup_free char *s = NULL;

  if (parse_nonempty(c, n, kp, &s) < 0)
    return -1;
  if (s[0] != '/')
    return parse_error(c, n, kp, "must be an absolute path");
  char *norm = path_normalize(s);
  if (norm == NULL)
    return parse_error(c, n, kp, "must not contain '..'");
  if (strcmp(norm, "/") == 0) {
    free(norm);
    return parse_error(c, n, kp, "must not be the image root");
  }
  free(*out);
  *out = norm;
  return 0;
}

int
parse_source(struct parse_ctx *c, yaml_node_t *n, const char *kp, struct recipe_source *out)
{
  if (parse_nonempty(c, n, kp, &out->source) < 0)
    return -1;
  out->in_sysroot = out->source[0] == '/';
  return 0;
}

int
parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
  char *end;

  if (!isdigit((unsigned char) s[0]))
    return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v > max)
    return -1;
  *out = v;
  return 0;
}

int
parse_id(struct parse_ctx *c, yaml_node_t *n, const char *kp, uint32_t *out)
{
  unsigned long long v;

  if (n->type != YAML_SCALAR_NODE || parse_uint(parse_text(n), ID_MAX, &v) < 0)
    return parse_error(c, n, kp, "must be an integer from 0 to %u", ID_MAX);
  *out = (uint32_t) v;
  return 0;
}

int
parse_mode(struct parse_ctx *c, yaml_node_t *n, const char *kp, int *out)
{
  const char *s;
  char *end;

  if (n->type != YAML_SCALAR_NODE || parse_is_null(n))
    return parse_error(c, n, kp, "must be an octal mode such as 0644");
  s = parse_text(n);
  if (s[0] != '0' || s[1] == '\0')
    return parse_error(c, n, kp, "must be octal with a leading 0, such as 0644 (got \"%s\")", s);
  if (s[1] == 'o' || s[1] == 'O')
    s += 2;
  if (*s == '\0' || strspn(s, "01234567") != strlen(s))
    return parse_error(c, n, kp, "must be an octal mode such as 0644 (got \"%s\")", parse_text(n));
  errno = 0;
  long v = strtol(s, &end, 8);
  if (errno || *end || v > 07777)
    return parse_error(c, n, kp, "must be at most 07777");
  *out = (int) v;
  return 0;
}

int
parse_strings(struct parse_ctx *c, yaml_node_t *n, const char *kp, struct strv *out)
{
  if (n->type != YAML_SEQUENCE_NODE)
    return parse_error(c, n, kp, "must be a list of strings");
  strv_free(out);
  for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
    yaml_node_t *item = parse_node(c, *it);
    cleanup_free char *ikp = xasprintf("%s[%td]", kp, it - n->data.sequence.items.start);
    cleanup_free char *s = NULL;
    if (parse_string(c, item, ikp, &s) < 0)
      return -1;
    strv_push_take(out, steal_pointer(&s));
  }
  return 0;
}

/* ---- mappings with a key table, lists --------------------------------- */

/* Levenshtein distance, for suggestions of a near key. */
static size_t
edit_distance(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  cleanup_free size_t *row = xcalloc(lb + 1, sizeof(size_t));

  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best)
        best = up + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

/* The first of the nearest keys, if near enough to be the one meant. */
static const char *
nearest_key(const struct recipe_key keys[], size_t n_keys, const char *key)
{
  const char *best = NULL;
  size_t best_d = SIZE_MAX, len = strlen(key);
  size_t limit = len < 6 ? 2 : len / 3 + 1;

  for (size_t i = 0; i < n_keys; i++) {
    size_t d = edit_distance(keys[i].name, key);
    if (d < best_d) {
      best_d = d;
      best = keys[i].name;
    }
  }
  return best_d <= limit ? best : NULL;
}

static int
find_key(const struct recipe_key keys[], size_t n_keys, const char *name)
{
  for (size_t i = 0; i < n_keys; i++)
    if (strcmp(keys[i].name, name) == 0)
      return (int) i;
  return -1;
}

int
parse_mapping(struct parse_ctx *c, yaml_node_t *map, const char *kp, const struct recipe_key keys[],
              size_t n_keys, key_fn fn, void *obj)
{
  if (map->type != YAML_MAPPING_NODE)
    return parse_error(c, map, kp, "must be a mapping");
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = parse_node(c, p->key), *v = parse_node(c, p->value);
    if (k->type != YAML_SCALAR_NODE)
      return parse_error(c, k, kp, "keys must be strings");
    const char *name = parse_text(k);
    cleanup_free char *vkp = *kp ? xasprintf("%s.%s", kp, name) : xstrdup(name);

    for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
      if (strcmp(parse_text(parse_node(c, q->key)), name) == 0)
        return parse_error(c, k, vkp, "duplicate key");
    int idx = find_key(keys, n_keys, name);
    if (idx < 0) {
      const char *near = nearest_key(keys, n_keys, name);
      if (near)
        return parse_error(c, k, vkp, "unknown key; did you mean \"%s\"?", near);
      return parse_error(c, k, vkp, "unknown key");
    }
    if (fn(c, obj, (unsigned) idx, v, vkp) < 0)
      return -1;
  }
  for (size_t i = 0; i < n_keys; i++)
    if (keys[i].required && parse_lookup(c, map, keys[i].name) == NULL)
      return parse_error(c, map, kp, "missing required key \"%s\"", keys[i].name);
  return 0;
}

int
parse_unhandled(struct parse_ctx *c, yaml_node_t *v, const char *kp)
{
  return parse_error(c, v, kp, "unknown key");
}

int
parse_list(struct parse_ctx *c, yaml_node_t *seq, const char *kp, void **items, size_t *n_items, size_t item_size,
           item_fn fn)
{
  if (seq->type != YAML_SEQUENCE_NODE)
    return parse_error(c, seq, kp, "must be a list");
  size_t n = (size_t) (seq->data.sequence.items.top - seq->data.sequence.items.start);
  *items = xcalloc(n, item_size);
  *n_items = n;
  for (size_t i = 0; i < n; i++) {
    cleanup_free char *ikp = xasprintf("%s[%zu]", kp, i);
    if (fn(c, (char *) *items + i * item_size, parse_node(c, seq->data.sequence.items.start[i]), ikp) < 0)
      return -1;
  }
  return 0;
}
