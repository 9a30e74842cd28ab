/* The recipe parser: YAML (libyaml's document API) into struct recipe.
 *
 * Every error names the file, the line and column of the offending node and
 * the key path to it, e.g. "app.yaml:7:5: contents.binaries[1].path: must be
 * an absolute path".  The key tables below are the schema of DESIGN.md
 * section 1; an unknown key is refused with the nearest known one. */
#include "recipe/recipe.h"
#include "lib/path.h"
#include "lib/file.h"
#include "recipe/check_ids.h"
#include "lib/platform.h"
#include "lib/secrets.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

/* A recipe is a short text; anything larger is a mistake or an attack. */
#define RECIPE_MAX_BYTES (1024 * 1024)
#define RECIPE_MAX_DEPTH 32
#define ID_MAX 4294967294u /* (uid_t) -1 is "no id" to the kernel */

struct ctx {
  const char *file;
  yaml_document_t *doc;
  struct recipe *r;
  struct derror *err;
};

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

static int perr(struct ctx *c, const yaml_node_t *node, const char *keypath, const char *fmt, ...) DISTILL_PRINTF(4, 5);

static int
perr(struct ctx *c, const yaml_node_t *node, const char *keypath, const char *fmt, ...)
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

static struct recipe_pos
pos_of(const yaml_node_t *node)
{
  return (struct recipe_pos) { (unsigned) node->start_mark.line + 1, (unsigned) node->start_mark.column + 1 };
}

static yaml_node_t *
node_at(struct ctx *c, int index)
{
  return yaml_document_get_node(c->doc, index);
}

/* ---- scalars ---------------------------------------------------------- */

static const char *
scalar_text(const yaml_node_t *n)
{
  return (const char *) n->data.scalar.value;
}

/* YAML's null: empty plain scalar, "~" or "null". */
static bool
is_null(const yaml_node_t *n)
{
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return false;
  const char *s = scalar_text(n);
  return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0
         || strcmp(s, "NULL") == 0;
}

static int
get_string(struct ctx *c, yaml_node_t *n, const char *kp, char **out)
{
  if (n->type != YAML_SCALAR_NODE || is_null(n))
    return perr(c, n, kp, "must be a string");
  if (n->data.scalar.length != strlen(scalar_text(n)))
    return perr(c, n, kp, "must not contain NUL characters");
  free(*out);
  *out = xstrdup(scalar_text(n));
  return 0;
}

static int
get_nonempty(struct ctx *c, yaml_node_t *n, const char *kp, char **out)
{
  if (get_string(c, n, kp, out) < 0)
    return -1;
  if (**out == '\0')
    return perr(c, n, kp, "must not be empty");
  return 0;
}

static int
get_bool(struct ctx *c, yaml_node_t *n, const char *kp, bool *out)
{
  static const char *const yes[] = { "true", "True", "TRUE", NULL };
  static const char *const no[] = { "false", "False", "FALSE", NULL };

  if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
    for (size_t i = 0; yes[i]; i++)
      if (strcmp(scalar_text(n), yes[i]) == 0)
        return *out = true, 0;
    for (size_t i = 0; no[i]; i++)
      if (strcmp(scalar_text(n), no[i]) == 0)
        return *out = false, 0;
  }
  return perr(c, n, kp, "must be true or false");
}

/* An absolute path inside the image, normalised; ".." is refused. */
static int
get_image_path(struct ctx *c, yaml_node_t *n, const char *kp, char **out)
{
  cleanup_free char *s = NULL;

  if (get_nonempty(c, n, kp, &s) < 0)
    return -1;
  if (s[0] != '/')
    return perr(c, n, kp, "must be an absolute path");
  char *norm = path_normalize(s);
  if (norm == NULL)
    return perr(c, n, kp, "must not contain '..'");
  if (strcmp(norm, "/") == 0) {
    free(norm);
    return perr(c, n, kp, "must not be the image root");
  }
  free(*out);
  *out = norm;
  return 0;
}

static int
get_source(struct ctx *c, yaml_node_t *n, const char *kp, struct recipe_source *out)
{
  if (get_nonempty(c, n, kp, &out->source) < 0)
    return -1;
  out->in_sysroot = out->source[0] == '/';
  return 0;
}

static int
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

static int
get_id(struct ctx *c, yaml_node_t *n, const char *kp, uint32_t *out)
{
  unsigned long long v;

  if (n->type != YAML_SCALAR_NODE || parse_uint(scalar_text(n), ID_MAX, &v) < 0)
    return perr(c, n, kp, "must be an integer from 0 to %u", ID_MAX);
  *out = (uint32_t) v;
  return 0;
}

/* Modes are octal with a leading 0 (YAML 1.1 reads 0644 as octal) or 0o. */
static int
get_mode(struct ctx *c, yaml_node_t *n, const char *kp, int *out)
{
  const char *s;
  char *end;

  if (n->type != YAML_SCALAR_NODE || is_null(n))
    return perr(c, n, kp, "must be an octal mode such as 0644");
  s = scalar_text(n);
  if (s[0] != '0' || s[1] == '\0')
    return perr(c, n, kp, "must be octal with a leading 0, such as 0644 (got \"%s\")", s);
  if (s[1] == 'o' || s[1] == 'O')
    s += 2;
  if (*s == '\0' || strspn(s, "01234567") != strlen(s))
    return perr(c, n, kp, "must be an octal mode such as 0644 (got \"%s\")", scalar_text(n));
  errno = 0;
  long v = strtol(s, &end, 8);
  if (errno || *end || v > 07777)
    return perr(c, n, kp, "must be at most 07777");
  *out = (int) v;
  return 0;
}

static int
get_string_list(struct ctx *c, yaml_node_t *n, const char *kp, struct strv *out)
{
  if (n->type != YAML_SEQUENCE_NODE)
    return perr(c, n, kp, "must be a list of strings");
  strv_free(out);
  for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
    yaml_node_t *item = node_at(c, *it);
    cleanup_free char *ikp = xasprintf("%s[%td]", kp, it - n->data.sequence.items.start);
    cleanup_free char *s = NULL;
    if (get_string(c, item, ikp, &s) < 0)
      return -1;
    strv_push_take(out, steal_pointer(&s));
  }
  return 0;
}

/* ---- mappings with a key table ---------------------------------------- */

/* Called for each known key of a mapping with the index of the key in the
 * table, the value node and the key path of the value. */
typedef int (*key_fn)(struct ctx *c, void *obj, int key, yaml_node_t *val, const char *kp);

static const char *
nearest_key(const char *const keys[], const char *key)
{
  const char *best = NULL;
  size_t best_d = SIZE_MAX, len = strlen(key);
  size_t limit = len < 6 ? 2 : len / 3 + 1;

  for (size_t i = 0; keys[i]; i++) {
    size_t d = edit_distance(keys[i], key);
    if (d < best_d) {
      best_d = d;
      best = keys[i];
    }
  }
  return best_d <= limit ? best : NULL;
}

static int
walk_map(struct ctx *c, yaml_node_t *map, const char *kp, const char *const keys[], key_fn fn, void *obj)
{
  if (map->type != YAML_MAPPING_NODE)
    return perr(c, map, kp, "must be a mapping");
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
    if (k->type != YAML_SCALAR_NODE)
      return perr(c, k, kp, "keys must be strings");
    const char *name = scalar_text(k);
    cleanup_free char *vkp = *kp ? xasprintf("%s.%s", kp, name) : xstrdup(name);

    for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
      if (strcmp(scalar_text(node_at(c, q->key)), name) == 0)
        return perr(c, k, vkp, "duplicate key");
    int idx = -1;
    for (int i = 0; keys[i]; i++)
      if (strcmp(keys[i], name) == 0)
        idx = i;
    if (idx < 0) {
      const char *near = nearest_key(keys, name);
      if (near)
        return perr(c, k, vkp, "unknown key; did you mean \"%s\"?", near);
      return perr(c, k, vkp, "unknown key");
    }
    if (fn(c, obj, idx, v, vkp) < 0)
      return -1;
  }
  return 0;
}

/* A sequence of mappings or scalars: calls fn for each item. */
typedef int (*item_fn)(struct ctx *c, void *item, yaml_node_t *n, const char *kp);

static int
walk_seq(struct ctx *c, yaml_node_t *seq, const char *kp, void **items, size_t *n_items, size_t item_size, item_fn fn)
{
  if (seq->type != YAML_SEQUENCE_NODE)
    return perr(c, seq, kp, "must be a list");
  size_t n = (size_t) (seq->data.sequence.items.top - seq->data.sequence.items.start);
  *items = xcalloc(n, item_size);
  *n_items = n;
  for (size_t i = 0; i < n; i++) {
    cleanup_free char *ikp = xasprintf("%s[%zu]", kp, i);
    if (fn(c, (char *) *items + i * item_size, node_at(c, seq->data.sequence.items.start[i]), ikp) < 0)
      return -1;
  }
  return 0;
}

static int
need_key(struct ctx *c, yaml_node_t *n, const char *kp, const char *key, const void *value)
{
  if (value == NULL)
    return perr(c, n, kp, "missing required key \"%s\"", key);
  return 0;
}

/* ---- contents --------------------------------------------------------- */

static const char *const binary_keys[] = { "source", "path", NULL };

static int
binary_key(struct ctx *c, void *obj, int key, yaml_node_t *v, const char *kp)
{
  struct recipe_binary *b = obj;
  return key == 0 ? get_source(c, v, kp, &b->src) : get_image_path(c, v, kp, &b->path);
}

/* Short form "/usr/bin/jq": read from the sysroot, same path in the image. */
static int
short_form(struct ctx *c, yaml_node_t *n, const char *kp, struct recipe_source *src, char **path)
{
  if (get_image_path(c, n, kp, path) < 0)
    return -1;
  src->source = xstrdup(scalar_text(n));
  src->in_sysroot = true;
  return 0;
}

static int
binary_item(struct ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_binary *b = item;

  b->pos = pos_of(n);
  if (n->type == YAML_SCALAR_NODE)
    return short_form(c, n, kp, &b->src, &b->path);
  if (walk_map(c, n, kp, binary_keys, binary_key, b) < 0)
    return -1;
  if (need_key(c, n, kp, "source", b->src.source) < 0)
    return -1;
  if (b->path == NULL) {
    if (!b->src.in_sysroot)
      return perr(c, n, kp, "missing required key \"path\" (the source is relative)");
    b->path = path_normalize(b->src.source);
    if (b->path == NULL)
      return perr(c, n, kp, "source must not contain '..' when path is omitted");
  }
  return 0;
}

static const char *const library_keys[] = { "source", "path", NULL };

static int
library_key(struct ctx *c, void *obj, int key, yaml_node_t *v, const char *kp)
{
  struct recipe_library *l = obj;
  return key == 0 ? get_source(c, v, kp, &l->src) : get_image_path(c, v, kp, &l->path);
}

/* A soname or an absolute path in the sysroot, searched for as dlopen()
 * would; or {source, path}: a library placed at `path`, like a binary. */
static int
library_item(struct ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_library *l = item;

  l->pos = pos_of(n);
  if (n->type == YAML_MAPPING_NODE) {
    if (walk_map(c, n, kp, library_keys, library_key, l) < 0 || need_key(c, n, kp, "source", l->src.source) < 0)
      return -1;
    if (l->path == NULL && !l->src.in_sysroot)
      return perr(c, n, kp, "missing required key \"path\" (the source is relative)");
    if (l->path == NULL && (l->path = path_normalize(l->src.source)) == NULL)
      return perr(c, n, kp, "source must not contain '..' when path is omitted");
    return 0;
  }
  if (get_nonempty(c, n, kp, &l->name) < 0)
    return -1;
  if (l->name[0] == '/') {
    char *norm = path_normalize(l->name);
    if (norm == NULL)
      return perr(c, n, kp, "must not contain '..'");
    free(l->name);
    l->name = norm;
  } else if (strchr(l->name, '/')) {
    return perr(c, n, kp, "must be a soname (libfoo.so.1), an absolute path or {source, path}");
  }
  return 0;
}

static const char *const file_keys[] = { "source", "path", "mode", NULL };

static int
file_key(struct ctx *c, void *obj, int key, yaml_node_t *v, const char *kp)
{
  struct recipe_file *f = obj;

  switch (key) {
  case 0:
    return get_source(c, v, kp, &f->src);
  case 1:
    return get_image_path(c, v, kp, &f->path);
  default:
    return get_mode(c, v, kp, &f->mode);
  }
}

static int
file_item(struct ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_file *f = item;

  f->pos = pos_of(n);
  f->mode = -1;
  if (n->type == YAML_SCALAR_NODE)
    return short_form(c, n, kp, &f->src, &f->path);
  if (walk_map(c, n, kp, file_keys, file_key, f) < 0)
    return -1;
  if (need_key(c, n, kp, "source", f->src.source) < 0 || need_key(c, n, kp, "path", f->path) < 0)
    return -1;
  return 0;
}

static const char *const directory_keys[] = { "source", "path", "exclude", NULL };

static int
directory_key(struct ctx *c, void *obj, int key, yaml_node_t *v, const char *kp)
{
  struct recipe_directory *d = obj;

  switch (key) {
  case 0:
    return get_source(c, v, kp, &d->src);
  case 1:
    return get_image_path(c, v, kp, &d->path);
  default:
    if (get_string_list(c, v, kp, &d->exclude) < 0)
      return -1;
    for (size_t i = 0; i < d->exclude.n; i++)
      if (d->exclude.items[i][0] == '\0')
        return perr(c, v, kp, "patterns must not be empty");
    return 0;
  }
}

static int
directory_item(struct ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_directory *d = item;

  d->pos = pos_of(n);
  if (n->type == YAML_SCALAR_NODE)
    return short_form(c, n, kp, &d->src, &d->path);
  if (walk_map(c, n, kp, directory_keys, directory_key, d) < 0)
    return -1;
  if (need_key(c, n, kp, "source", d->src.source) < 0 || need_key(c, n, kp, "path", d->path) < 0)
    return -1;
  return 0;
}

static const char *const symlink_keys[] = { "path", "target", NULL };

static int
symlink_key(struct ctx *c, void *obj, int key, yaml_node_t *v, const char *kp)
{
  struct recipe_symlink *s = obj;

  if (key == 0)
    return get_image_path(c, v, kp, &s->path);
  return get_nonempty(c, v, kp, &s->target);
}

static int
symlink_item(struct ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_symlink *s = item;

  s->pos = pos_of(n);
  if (walk_map(c, n, kp, symlink_keys, symlink_key, s) < 0)
    return -1;
  if (need_key(c, n, kp, "path", s->path) < 0 || need_key(c, n, kp, "target", s->target) < 0)
    return -1;
  return 0;
}

static const char *const contents_keys[] = { "binaries", "libraries", "files", "directories", "symlinks", NULL };

static int
contents_key(struct ctx *c, void *obj, int key, yaml_node_t *v, const char *kp)
{
  struct recipe *r = c->r;

  switch (key) {
  case 0:
    return walk_seq(c, v, kp, (void **) &r->binaries, &r->n_binaries, sizeof(*r->binaries), binary_item);
  case 1:
    return walk_seq(c, v, kp, (void **) &r->libraries, &r->n_libraries, sizeof(*r->libraries), library_item);
  case 2:
    return walk_seq(c, v, kp, (void **) &r->files, &r->n_files, sizeof(*r->files), file_item);
  case 3:
    return walk_seq(c, v, kp, (void **) &r->directories, &r->n_directories, sizeof(*r->directories),
                    directory_item);
  default:
    return walk_seq(c, v, kp, (void **) &r->symlinks, &r->n_symlinks, sizeof(*r->symlinks), symlink_item);
  }
}

/* ---- accounts and paths ----------------------------------------------- */

/* POSIX portable user names, as useradd accepts them by default. */
static bool
valid_account_name(const char *s)
{
  size_t n = strlen(s);

  if (n == 0 || n > 32 || !(islower((unsigned char) s[0]) || s[0] == '_'))
    return false;
  for (size_t i = 1; i < n; i++)
    if (!(islower((unsigned char) s[i]) || isdigit((unsigned char) s[i]) || s[i] == '_' || s[i] == '-'))
      return false;
  return true;
}

static const char *const builtin_users[] = { "root", "nobody", "nonroot", NULL };
static const uint32_t builtin_uids[] = { 0, 65534, 65532 };
static const char *const builtin_groups[] = { "root", "tty", "staff", "nobody", "nonroot", NULL };
static const uint32_t builtin_gids[] = { 0, 5, 50, 65534, 65532 };

/* /etc/passwd and /etc/group are lines of ':'-separated fields: a ':' or a
 * newline in a value would start a field or an account of its own (a
 * passwordless uid 0, past the rule against root), and no other control
 * character belongs in them either. */
static int
check_account_field(struct ctx *c, yaml_node_t *v, const char *kp, const char *s)
{
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    if (*p == ':' || *p < 0x20 || *p == 0x7f)
      return perr(c, v, kp, "must not contain ':', a newline or another control character "
                            "(a field of /etc/passwd and /etc/group)");
  return 0;
}

static int
get_account_name(struct ctx *c, yaml_node_t *v, const char *kp, char **out, const char *const builtin[])
{
  if (get_nonempty(c, v, kp, out) < 0 || check_account_field(c, v, kp, *out) < 0)
    return -1;
  if (!valid_account_name(*out))
    return perr(c, v, kp, "\"%s\" is not a valid name (lower case letters, digits, '_' and '-')", *out);
  for (size_t i = 0; builtin[i]; i++)
    if (strcmp(builtin[i], *out) == 0)
      return perr(c, v, kp, "\"%s\" is built in and cannot be redefined", *out);
  return 0;
}

static const char *const user_keys[] = { "name", "uid", "gid", "home", NULL };

static int
user_key(struct ctx *c, void *obj, int key, yaml_node_t *v, const char *kp)
{
  struct recipe_user *u = obj;

  switch (key) {
  case 0:
    return get_account_name(c, v, kp, &u->name, builtin_users);
  case 1:
    if (get_id(c, v, kp, &u->uid) < 0)
      return -1;
    for (size_t i = 0; builtin_users[i]; i++)
      if (builtin_uids[i] == u->uid)
        return perr(c, v, kp, "uid %u belongs to the built-in user %s", u->uid, builtin_users[i]);
    return 0;
  case 2:
    return get_id(c, v, kp, &u->gid);
  default:
    if (get_image_path(c, v, kp, &u->home) < 0)
      return -1;
    return check_account_field(c, v, kp, u->home);
  }
}

static int
user_item(struct ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_user *u = item;

  u->pos = pos_of(n);
  u->uid = u->gid = UINT32_MAX;
  if (walk_map(c, n, kp, user_keys, user_key, u) < 0)
    return -1;
  if (need_key(c, n, kp, "name", u->name) < 0)
    return -1;
  if (u->uid == UINT32_MAX)
    return perr(c, n, kp, "missing required key \"uid\"");
  if (u->gid == UINT32_MAX)
    u->gid = u->uid;
  if (u->home == NULL)
    u->home = xasprintf("/home/%s", u->name);
  return 0;
}

static const char *const group_keys[] = { "name", "gid", NULL };

static int
group_key(struct ctx *c, void *obj, int key, yaml_node_t *v, const char *kp)
{
  struct recipe_group *g = obj;

  if (key == 0)
    return get_account_name(c, v, kp, &g->name, builtin_groups);
  if (get_id(c, v, kp, &g->gid) < 0)
    return -1;
  for (size_t i = 0; builtin_groups[i]; i++)
    if (builtin_gids[i] == g->gid)
      return perr(c, v, kp, "gid %u belongs to the built-in group %s", g->gid, builtin_groups[i]);
  return 0;
}

static int
group_item(struct ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_group *g = item;

  g->pos = pos_of(n);
  g->gid = UINT32_MAX;
  if (walk_map(c, n, kp, group_keys, group_key, g) < 0)
    return -1;
  if (need_key(c, n, kp, "name", g->name) < 0)
    return -1;
  if (g->gid == UINT32_MAX)
    return perr(c, n, kp, "missing required key \"gid\"");
  return 0;
}

static const char *const accounts_keys[] = { "run-as", "users", "groups", NULL };

static int
accounts_key(struct ctx *c, void *obj, int key, yaml_node_t *v, const char *kp)
{
  struct recipe *r = c->r;

  switch (key) {
  case 0:
    r->run_as_pos = pos_of(v);
    if (get_nonempty(c, v, kp, &r->run_as) < 0)
      return -1;
    if (strcmp(r->run_as, "root") == 0)
      return perr(c, v, kp, "must not be root: images run as a non-root user");
    return 0;
  case 1:
    return walk_seq(c, v, kp, (void **) &r->users, &r->n_users, sizeof(*r->users), user_item);
  default:
    return walk_seq(c, v, kp, (void **) &r->groups, &r->n_groups, sizeof(*r->groups), group_item);
  }
}

static const char *const path_keys[] = { "path", "type", "uid", "gid", "mode", NULL };

static int
path_key(struct ctx *c, void *obj, int key, yaml_node_t *v, const char *kp)
{
  struct recipe_path *p = obj;
  cleanup_free char *type = NULL;

  switch (key) {
  case 0:
    return get_image_path(c, v, kp, &p->path);
  case 1:
    if (get_nonempty(c, v, kp, &type) < 0)
      return -1;
    if (strcmp(type, "directory") == 0)
      p->type = RECIPE_PATH_DIRECTORY;
    else if (strcmp(type, "file") == 0)
      p->type = RECIPE_PATH_FILE;
    else
      return perr(c, v, kp, "must be \"directory\" or \"file\" (got \"%s\")", type);
    return 0;
  case 2:
    return get_id(c, v, kp, &p->uid);
  case 3:
    return get_id(c, v, kp, &p->gid);
  default:
    return get_mode(c, v, kp, &p->mode);
  }
}

static int
path_item(struct ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_path *p = item;

  p->pos = pos_of(n);
  p->uid = p->gid = UINT32_MAX;
  p->mode = -1;
  if (walk_map(c, n, kp, path_keys, path_key, p) < 0)
    return -1;
  return need_key(c, n, kp, "path", p->path);
}

/* ---- checks ----------------------------------------------------------- */

static const char *const checks_keys[] = { "allow", NULL };
static const char *const allow_keys[] = { "id", "path", "reason", NULL };

static int
allow_key(struct ctx *c, void *obj, int key, yaml_node_t *v, const char *kp)
{
  struct recipe_waiver *w = obj;
  const char *why;

  switch (key) {
  case 0:
    if (get_nonempty(c, v, kp, &w->id) < 0)
      return -1;
    if ((why = check_waivable(w->id)) != NULL)
      return perr(c, v, kp, "\"%s\": %s", w->id, why);
    /* the build refuses these by policy before any check runs */
    if (strcmp(w->id, "no-shell") == 0 || strcmp(w->id, "no-package-manager") == 0)
      return perr(c, v, kp, "\"%s\" cannot be waived in a recipe: distill images have no shell or package manager",
                  w->id);
    return 0;
  case 1:
    return get_image_path(c, v, kp, &w->path);
  default:
    return get_nonempty(c, v, kp, &w->reason);
  }
}

/* One finding of the image's own check accepted, for a reason: its id and
 * exact path (no pattern: a waiver must not cover a file added later). */
static int
allow_item(struct ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_waiver *w = item;

  w->pos = pos_of(n);
  if (walk_map(c, n, kp, allow_keys, allow_key, w) < 0 || need_key(c, n, kp, "id", w->id) < 0
      || need_key(c, n, kp, "path", w->path) < 0 || need_key(c, n, kp, "reason", w->reason) < 0)
    return -1;
  for (struct recipe_waiver *o = c->r->waivers; o < w; o++)
    if (strcmp(o->id, w->id) == 0 && strcmp(o->path, w->path) == 0)
      return perr(c, n, kp, "%s %s is already waived by checks.allow[%td]", w->id, w->path, o - c->r->waivers);
  return 0;
}

static int
checks_key(struct ctx *c, void *obj, int key, yaml_node_t *v, const char *kp)
{
  struct recipe *r = obj;
  return walk_seq(c, v, kp, (void **) &r->waivers, &r->n_waivers, sizeof(*r->waivers), allow_item);
}

/* ---- image config values ---------------------------------------------- */

static bool
valid_env_name(const char *s)
{
  if (!(isalpha((unsigned char) *s) || *s == '_'))
    return false;
  for (s++; *s; s++)
    if (!(isalnum((unsigned char) *s) || *s == '_'))
      return false;
  return true;
}

static int
get_map(struct ctx *c, yaml_node_t *n, const char *kp, struct recipe_map *out, bool env)
{
  if (n->type != YAML_MAPPING_NODE)
    return perr(c, n, kp, "must be a mapping of strings");
  size_t count = (size_t) (n->data.mapping.pairs.top - n->data.mapping.pairs.start);
  out->items = xcalloc(count, sizeof(*out->items));
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
    struct recipe_kv *kv = &out->items[out->n];
    kv->pos = pos_of(k);
    if (get_nonempty(c, k, kp, &kv->key) < 0)
      return -1;
    out->n++;
    cleanup_free char *vkp = xasprintf("%s.%s", kp, kv->key);
    if (env && !valid_env_name(kv->key))
      return perr(c, k, vkp, "not a valid environment variable name");
    for (size_t i = 0; i + 1 < out->n; i++)
      if (strcmp(out->items[i].key, kv->key) == 0)
        return perr(c, k, vkp, "duplicate key");
    if (v->type != YAML_SCALAR_NODE)
      return perr(c, v, vkp, "must be a string");
    kv->value = xstrdup(is_null(v) ? "" : scalar_text(v));
  }
  return 0;
}

/* "8080", "8080/tcp", "53/udp", "9/sctp"; normalised to "PORT/PROTO". */
static int
get_port(struct ctx *c, yaml_node_t *n, const char *kp, char **out)
{
  cleanup_free char *s = NULL;
  unsigned long long port;
  const char *proto = "tcp";

  if (n->type != YAML_SCALAR_NODE || is_null(n))
    return perr(c, n, kp, "must be a port such as 8080/tcp");
  s = xstrdup(scalar_text(n));
  char *slash = strchr(s, '/');
  if (slash) {
    *slash = '\0';
    proto = slash + 1;
  }
  if (parse_uint(s, 65535, &port) < 0 || port == 0)
    return perr(c, n, kp, "\"%s\": port must be a number from 1 to 65535", scalar_text(n));
  if (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp"))
    return perr(c, n, kp, "\"%s\": protocol must be tcp, udp or sctp", scalar_text(n));
  *out = xasprintf("%llu/%s", port, proto);
  return 0;
}

static const struct {
  const char *name;
  int number;
} signals[] = {
  { "HUP", SIGHUP },   { "INT", SIGINT },     { "QUIT", SIGQUIT },   { "ILL", SIGILL },     { "TRAP", SIGTRAP },
  { "ABRT", SIGABRT }, { "BUS", SIGBUS },     { "FPE", SIGFPE },     { "KILL", SIGKILL },   { "USR1", SIGUSR1 },
  { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },   { "PIPE", SIGPIPE },   { "ALRM", SIGALRM },   { "TERM", SIGTERM },
  { "CHLD", SIGCHLD }, { "CONT", SIGCONT },   { "STOP", SIGSTOP },   { "TSTP", SIGTSTP },   { "TTIN", SIGTTIN },
  { "TTOU", SIGTTOU }, { "URG", SIGURG },     { "XCPU", SIGXCPU },   { "XFSZ", SIGXFSZ },   { "VTALRM", SIGVTALRM },
  { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO },       { "PWR", SIGPWR },     { "SYS", SIGSYS },
};

/* "SIGTERM", "TERM", "15", "SIGRTMIN+3"; normalised to "SIGTERM" or "15". */
static int
get_signal(struct ctx *c, yaml_node_t *n, const char *kp, char **out)
{
  cleanup_free char *s = NULL;
  unsigned long long num;

  if (get_nonempty(c, n, kp, &s) < 0)
    return -1;
  if (parse_uint(s, 64, &num) == 0 && num > 0) {
    *out = xasprintf("%llu", num);
    return 0;
  }
  const char *name = strncmp(s, "SIG", 3) == 0 ? s + 3 : s;
  for (size_t i = 0; i < sizeof signals / sizeof *signals; i++)
    if (strcmp(signals[i].name, name) == 0) {
      *out = xasprintf("SIG%s", name);
      return 0;
    }
  if (strncmp(name, "RTMIN+", 6) == 0 && parse_uint(name + 6, 30, &num) == 0) {
    *out = xasprintf("SIG%s", name);
    return 0;
  }
  return perr(c, n, kp, "\"%s\" is not a signal name such as SIGTERM", s);
}

/* The grammar of a repository name in a Docker reference, lower case. */
static bool
valid_image_name(const char *s)
{
  size_t n = strlen(s);

  if (n == 0 || n > 255)
    return false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    bool alnum = islower((unsigned char) ch) || isdigit((unsigned char) ch);
    if (alnum)
      continue;
    if (strchr("._-/", ch) == NULL)
      return false;
    /* separators sit between alphanumerics ("__" is allowed by Docker) */
    if (i == 0 || i == n - 1 || !(islower((unsigned char) s[i + 1]) || isdigit((unsigned char) s[i + 1])
                                  || (ch == '_' && s[i + 1] == '_') || (ch == '-' && s[i + 1] == '-')))
      return false;
  }
  return true;
}

static bool
valid_tag(const char *s)
{
  size_t n = strlen(s);

  if (n == 0 || n > 128 || !(isalnum((unsigned char) s[0]) || s[0] == '_'))
    return false;
  for (size_t i = 1; i < n; i++)
    if (!(isalnum((unsigned char) s[i]) || strchr("_.-", s[i])))
      return false;
  return true;
}

/* A host path written relative to the recipe's directory made absolute. */
static void
relative_to_recipe(const struct recipe *r, char **path)
{
  if ((*path)[0] != '/') {
    char *abs = path_join(r->dir, *path);
    free(*path);
    *path = abs;
  }
}

static int
get_host_path(struct ctx *c, yaml_node_t *v, const char *kp, char **out)
{
  if (get_nonempty(c, v, kp, out) < 0)
    return -1;
  relative_to_recipe(c->r, out);
  return 0;
}

static const char *const top_keys[] = {
  "name",     "tag",          "sysroot",   "contents", "ca-certificates", "tzdata",      "accounts",
  "paths",    "entrypoint",   "cmd",       "environment", "work-dir",     "ports",       "volumes",
  "labels",   "annotations",  "stop-signal", "platform", "platforms", "sbom", "checks", NULL,
};

enum {
  K_NAME, K_TAG, K_SYSROOT, K_CONTENTS, K_CA, K_TZDATA, K_ACCOUNTS, K_PATHS, K_ENTRYPOINT, K_CMD,
  K_ENVIRONMENT, K_WORKDIR, K_PORTS, K_VOLUMES, K_LABELS, K_ANNOTATIONS, K_STOPSIGNAL, K_PLATFORM, K_PLATFORMS, K_SBOM,
  K_CHECKS,
};

static int
top_key(struct ctx *c, void *obj, int key, yaml_node_t *v, const char *kp)
{
  struct recipe *r = c->r;

  switch (key) {
  case K_NAME:
    if (get_nonempty(c, v, kp, &r->name) < 0)
      return -1;
    if (!valid_image_name(r->name))
      return perr(c, v, kp, "\"%s\" is not a valid image name (lower case letters, digits, '.', '_', '-', '/')", r->name);
    return 0;
  case K_TAG:
    if (get_nonempty(c, v, kp, &r->tag) < 0)
      return -1;
    if (!valid_tag(r->tag))
      return perr(c, v, kp, "\"%s\" is not a valid tag (letters, digits, '_', '.', '-'; at most 128)", r->tag);
    return 0;
  case K_SBOM:
    return get_host_path(c, v, kp, &r->sbom);
  case K_CHECKS:
    return walk_map(c, v, kp, checks_keys, checks_key, r);
  case K_SYSROOT:
    return get_host_path(c, v, kp, &r->sysroot);
  case K_CONTENTS:
    return walk_map(c, v, kp, contents_keys, contents_key, r);
  case K_CA:
    if (v->type == YAML_SCALAR_NODE && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
        && (strcasecmp(scalar_text(v), "true") == 0 || strcasecmp(scalar_text(v), "false") == 0)) {
      bool on = false;
      if (get_bool(c, v, kp, &on) < 0)
        return -1;
      r->ca = on ? RECIPE_CA_SYSROOT : RECIPE_CA_NONE;
      return 0;
    }
    if (v->type != YAML_SCALAR_NODE || is_null(v))
      return perr(c, v, kp, "must be true, false or the path of a PEM bundle");
    r->ca = RECIPE_CA_PATH;
    return get_source(c, v, kp, &r->ca_source);
  case K_TZDATA:
    return get_bool(c, v, kp, &r->tzdata);
  case K_ACCOUNTS:
    return walk_map(c, v, kp, accounts_keys, accounts_key, r);
  case K_PATHS:
    return walk_seq(c, v, kp, (void **) &r->paths, &r->n_paths, sizeof(*r->paths), path_item);
  case K_ENTRYPOINT:
    r->has_entrypoint = true;
    return get_string_list(c, v, kp, &r->entrypoint);
  case K_CMD:
    r->has_cmd = true;
    return get_string_list(c, v, kp, &r->cmd);
  case K_ENVIRONMENT:
    return get_map(c, v, kp, &r->environment, true);
  case K_WORKDIR:
    return get_image_path(c, v, kp, &r->work_dir);
  case K_PORTS:
    if (v->type != YAML_SEQUENCE_NODE)
      return perr(c, v, kp, "must be a list of ports such as 8080/tcp");
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
      cleanup_free char *ikp = xasprintf("%s[%td]", kp, it - v->data.sequence.items.start);
      char *port = NULL;
      if (get_port(c, node_at(c, *it), ikp, &port) < 0)
        return -1;
      if (strv_contains(&r->ports, port)) {
        free(port);
        return perr(c, node_at(c, *it), ikp, "duplicate port");
      }
      strv_push_take(&r->ports, port);
    }
    return 0;
  case K_VOLUMES:
    if (v->type != YAML_SEQUENCE_NODE)
      return perr(c, v, kp, "must be a list of absolute paths");
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
      cleanup_free char *ikp = xasprintf("%s[%td]", kp, it - v->data.sequence.items.start);
      char *path = NULL;
      if (get_image_path(c, node_at(c, *it), ikp, &path) < 0)
        return -1;
      strv_push_take(&r->volumes, path);
    }
    return 0;
  case K_LABELS:
    return get_map(c, v, kp, &r->labels, false);
  case K_ANNOTATIONS:
    if (get_map(c, v, kp, &r->annotations, false) < 0)
      return -1;
    /* the build writes it from checks.allow, and nothing else may */
    for (size_t i = 0; i < r->annotations.n; i++)
      if (strcmp(r->annotations.items[i].key, CHECK_WAIVED_ANNOTATION) == 0)
        return perr(c, v, "annotations." CHECK_WAIVED_ANNOTATION, "reserved: the build records checks.allow in it");
    return 0;
  case K_PLATFORMS:
    if (get_map(c, v, kp, &r->platforms, false) < 0)
      return -1;
    for (size_t i = 0; i < r->platforms.n; i++) {
      struct recipe_kv *kv = &r->platforms.items[i];
      const char *arch, *variant;
      cleanup_free char *ikp = xasprintf("%s.%s", kp, kv->key);
      if (platform_parse(kv->key, &arch, &variant) < 0)
        return perr(c, v, ikp, "\"%s\" is not a platform such as linux/amd64, linux/arm64 or linux/arm/v7", kv->key);
      if (kv->value[0] == '\0')
        return perr(c, v, ikp, "must name the sysroot of that platform");
      relative_to_recipe(r, &kv->value);
    }
    return 0;
  case K_PLATFORM:
    if (get_nonempty(c, v, kp, &r->platform) < 0)
      return -1;
    if (platform_parse(r->platform, &r->platform_arch, &r->platform_variant) < 0)
      return perr(c, v, kp, "\"%s\" is not a platform such as linux/amd64, linux/arm64 or linux/arm/v7", r->platform);
    return 0;
  default:
    return get_signal(c, v, kp, &r->stop_signal);
  }
}

/* ---- cross-field checks ----------------------------------------------- */

static bool
user_exists(const struct recipe *r, const char *name, uint32_t *uid, uint32_t *gid)
{
  for (size_t i = 0; builtin_users[i]; i++)
    if (strcmp(builtin_users[i], name) == 0) {
      *uid = *gid = builtin_uids[i];
      return true;
    }
  for (size_t i = 0; i < r->n_users; i++)
    if (strcmp(r->users[i].name, name) == 0) {
      *uid = r->users[i].uid;
      *gid = r->users[i].gid;
      return true;
    }
  return false;
}

static int
check_recipe(struct ctx *c, yaml_node_t *root)
{
  struct recipe *r = c->r;
  uint32_t uid, gid;

  if (r->name == NULL)
    return perr(c, root, NULL, "missing required key \"name\"");
  if (r->platforms.n && (r->platform || r->sysroot))
    return perr(c, root, "platforms", "names each platform's sysroot: neither \"platform\" nor \"sysroot\" goes with it");
  for (size_t i = 0; i < r->n_users; i++)
    for (size_t j = 0; j < i; j++)
      if (strcmp(r->users[i].name, r->users[j].name) == 0 || r->users[i].uid == r->users[j].uid)
        return derror_set(c->err, "%s:%u:%u: accounts.users[%zu]: name or uid already used by accounts.users[%zu]",
                          c->file, r->users[i].pos.line, r->users[i].pos.column, i, j);
  for (size_t i = 0; i < r->n_groups; i++)
    for (size_t j = 0; j < i; j++)
      if (strcmp(r->groups[i].name, r->groups[j].name) == 0 || r->groups[i].gid == r->groups[j].gid)
        return derror_set(c->err,
                          "%s:%u:%u: accounts.groups[%zu]: name or gid already used by accounts.groups[%zu]",
                          c->file, r->groups[i].pos.line, r->groups[i].pos.column, i, j);
  if (!user_exists(r, r->run_as, &uid, &gid))
    return derror_set(c->err, "%s:%u:%u: accounts.run-as: no user named \"%s\" (built in: nonroot, nobody)",
                      c->file, r->run_as_pos.line, r->run_as_pos.column, r->run_as);
  /* Paths without owners belong to the user the image runs as. */
  for (size_t i = 0; i < r->n_paths; i++) {
    struct recipe_path *p = &r->paths[i];
    if (p->uid == UINT32_MAX)
      p->uid = uid;
    if (p->gid == UINT32_MAX)
      p->gid = gid;
    if (p->mode < 0)
      p->mode = p->type == RECIPE_PATH_DIRECTORY ? 0755 : 0644;
  }
  if (r->work_dir == NULL) {
    if (strcmp(r->run_as, "nobody") == 0)
      r->work_dir = xstrdup("/");
    else if (strcmp(r->run_as, "nonroot") == 0)
      r->work_dir = xstrdup("/home/nonroot");
    else
      for (size_t i = 0; i < r->n_users; i++)
        if (strcmp(r->users[i].name, r->run_as) == 0)
          r->work_dir = xstrdup(r->users[i].home);
  }
  return 0;
}

/* ---- credentials in values ------------------------------------------- */

/* What a rule finds, as a noun: its text without the details that speak
 * of formats and files (" (ghp_, ...)", " assigned in a .env file"), which
 * would mislead about a value of the config. */
static char *
rule_noun(const char *id)
{
  static const char *const details[] = { " (", " assigned", " in a ", NULL };

  for (const struct secret_rule_info *r = secret_rules; r->id; r++) {
    if (strcmp(r->id, id) != 0)
      continue;
    size_t n = strlen(r->what);
    for (size_t i = 0; details[i]; i++) {
      const char *at = strstr(r->what, details[i]);
      if (at && (size_t) (at - r->what) < n)
        n = (size_t) (at - r->what);
    }
    return xstrndup(r->what, n);
  }
  return xstrdup("a credential");
}

/* An image's config is read by anyone who pulls the image: a credential
 * there is published with it. */
static int
secret_error(struct ctx *c, struct recipe_pos pos, const char *kp, const char *rule)
{
  cleanup_free char *what = rule_noun(rule);

  return derror_set(c->err, "%s:%u:%u: %s: %s (%s): credentials never go in an image's config; pass them at run time",
                    c->file, pos.line, pos.column, kp, what, rule);
}

static bool
is_arg_name(int ch)
{
  return isalnum((unsigned char) ch) || ch == '_' || ch == '-';
}

const char *
recipe_secret_in_argument(const char *arg)
{
  const char *rule = secrets_in_value("ARG", arg), *p = arg;
  size_t n = 0;

  if (rule)
    return rule;
  /* --db-password=VALUE read as DB_PASSWORD=VALUE, so that the rule for
   * secret-ish names applies (and spares --password-file=/run/x as it
   * spares DB_PASSWORD_FILE) */
  while (*p == '-')
    p++;
  while (is_arg_name(p[n]))
    n++;
  /* $VAR: the shell of `sh -c` fills it in at run time */
  if (n == 0 || p[n] != '=' || p[n + 1] == '$')
    return NULL;
  cleanup_free char *name = xstrndup(p, n);
  for (char *q = name; *q; q++)
    if (*q == '-')
      *q = '_';
  return secrets_in_value(name, p + n + 1);
}

/* Each value of the map under its own name, as an environment file's
 * line would be read. */
static int
check_map_secrets(struct ctx *c, const char *kp, const struct recipe_map *m)
{
  for (size_t i = 0; i < m->n; i++) {
    const char *rule = secrets_in_value(m->items[i].key, m->items[i].value);
    if (rule) {
      cleanup_free char *ikp = xasprintf("%s.%s", kp, m->items[i].key);
      return secret_error(c, m->items[i].pos, ikp, rule);
    }
  }
  return 0;
}

/* The node of a top-level key, or NULL. */
static yaml_node_t *
top_node(struct ctx *c, yaml_node_t *root, const char *key)
{
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++)
    if (strcmp(scalar_text(node_at(c, p->key)), key) == 0)
      return node_at(c, p->value);
  return NULL;
}

/* The arguments of entrypoint or cmd; their positions are their nodes'
 * (the list parsed them all, one string each). */
static int
check_arg_secrets(struct ctx *c, yaml_node_t *root, const char *key, const struct strv *args)
{
  yaml_node_t *seq = top_node(c, root, key);

  for (size_t i = 0; seq && i < args->n; i++) {
    const char *rule = recipe_secret_in_argument(args->items[i]);
    if (rule) {
      cleanup_free char *ikp = xasprintf("%s[%zu]", key, i);
      return secret_error(c, pos_of(node_at(c, seq->data.sequence.items.start[i])), ikp, rule);
    }
  }
  return 0;
}

/* The last pass, over the values that go into the image's config and
 * manifest as written: no credential in any (secrets_in_value's rules),
 * refused before anything is built.  (A health check's arguments will be
 * read as cmd's are.) */
static int
check_values(struct ctx *c, yaml_node_t *root)
{
  struct recipe *r = c->r;

  if (check_map_secrets(c, "environment", &r->environment) < 0
      || check_arg_secrets(c, root, "entrypoint", &r->entrypoint) < 0
      || check_arg_secrets(c, root, "cmd", &r->cmd) < 0 || check_map_secrets(c, "labels", &r->labels) < 0
      || check_map_secrets(c, "annotations", &r->annotations) < 0)
    return -1;
  return 0;
}

/* ---- loading ---------------------------------------------------------- */

static int
yaml_error(const char *file, yaml_parser_t *p, const char *data, struct derror *err)
{
  const char *what = p->problem ? p->problem : "malformed YAML";

  /* The reader (encoding errors) reports a byte offset, not a mark. */
  if (p->error == YAML_READER_ERROR) {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < p->problem_offset; i++, col++)
      if (data[i] == '\n') {
        line++;
        col = 0;
      }
    return derror_set(err, "%s:%zu:%zu: %s", file, line, col, what);
  }

  if (p->context)
    return derror_set(err, "%s:%zu:%zu: %s %s", file, p->problem_mark.line + 1, p->problem_mark.column + 1,
                      p->context, what);
  return derror_set(err, "%s:%zu:%zu: %s", file, p->problem_mark.line + 1, p->problem_mark.column + 1, what);
}

/* libyaml's document loader expands aliases silently, so a first pass over
 * the events refuses them (and bounds nesting) before anything is built. */
static int
prescan(const char *file, const char *data, size_t len, struct derror *err)
{
  yaml_parser_t p;
  yaml_event_t ev;
  int depth = 0, ret = 0;

  if (!yaml_parser_initialize(&p))
    oom();
  yaml_parser_set_input_string(&p, (const unsigned char *) data, len);
  for (;;) {
    if (!yaml_parser_parse(&p, &ev)) {
      ret = yaml_error(file, &p, data, err);
      break;
    }
    yaml_event_type_t type = ev.type;
    size_t line = ev.start_mark.line + 1, col = ev.start_mark.column + 1;
    yaml_event_delete(&ev);
    if (type == YAML_ALIAS_EVENT) {
      ret = derror_set(err, "%s:%zu:%zu: YAML aliases are not allowed in a recipe", file, line, col);
      break;
    }
    if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) {
      if (++depth > RECIPE_MAX_DEPTH) {
        ret = derror_set(err, "%s:%zu:%zu: nested deeper than %d levels", file, line, col, RECIPE_MAX_DEPTH);
        break;
      }
    } else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) {
      depth--;
    } else if (type == YAML_STREAM_END_EVENT) {
      break;
    }
  }
  yaml_parser_delete(&p);
  return ret;
}

int
recipe_parse(const char *file, const char *data, size_t len, struct recipe *out, struct derror *err)
{
  yaml_parser_t parser;
  yaml_document_t doc, extra;
  struct ctx c = { file, &doc, out, err };
  yaml_node_t *root;
  bool more;
  size_t extra_line;
  int ret = -1;

  memset(out, 0, sizeof *out);
  out->file = xstrdup(file);
  out->dir = path_dirname(file);
  if (out->dir[0] != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL)
      return derror_errno(err, errno, "getcwd");
    char *abs = strcmp(out->dir, ".") == 0 ? xstrdup(cwd) : path_join(cwd, out->dir);
    free(out->dir);
    out->dir = abs;
  }
  out->tag = xstrdup("latest");
  out->ca = RECIPE_CA_SYSROOT;
  out->run_as = xstrdup("nonroot");

  if (len > RECIPE_MAX_BYTES)
    return derror_set(err, "%s: larger than %d bytes", file, RECIPE_MAX_BYTES);
  if (memchr(data, '\0', len))
    return derror_set(err, "%s: contains NUL bytes; not a YAML text", file);
  if (prescan(file, data, len, err) < 0)
    return -1;

  if (!yaml_parser_initialize(&parser))
    oom();
  yaml_parser_set_input_string(&parser, (const unsigned char *) data, len);
  if (!yaml_parser_load(&parser, &doc)) {
    ret = yaml_error(file, &parser, data, err);
    yaml_parser_delete(&parser);
    return ret;
  }
  root = yaml_document_get_root_node(&doc);
  if (root == NULL) {
    ret = derror_set(err, "%s: empty recipe", file);
    goto out;
  }
  if (!yaml_parser_load(&parser, &extra)) {
    ret = yaml_error(file, &parser, data, err);
    goto out;
  }
  more = yaml_document_get_root_node(&extra) != NULL;
  extra_line = extra.start_mark.line + 1;
  yaml_document_delete(&extra);
  if (more) {
    ret = derror_set(err, "%s:%zu:1: only one YAML document is allowed", file, extra_line);
    goto out;
  }
  if (root->type != YAML_MAPPING_NODE) {
    ret = perr(&c, root, NULL, "a recipe must be a mapping of keys");
    goto out;
  }
  if (walk_map(&c, root, "", top_keys, top_key, out) < 0 || check_recipe(&c, root) < 0 || check_values(&c, root) < 0)
    goto out;
  if (out->sysroot == NULL)
    out->sysroot = xstrdup("/");
  ret = 0;
out:
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  return ret;
}

int
recipe_load(const char *file, struct recipe *out, struct derror *err)
{
  struct buf b = { 0 };
  int ret;

  memset(out, 0, sizeof *out);
  if (read_file(file, RECIPE_MAX_BYTES, &b, err) < 0)
    return -1;
  ret = recipe_parse(file, b.data, b.len, out, err);
  buf_free(&b);
  return ret;
}

static void
map_free(struct recipe_map *m)
{
  for (size_t i = 0; i < m->n; i++) {
    free(m->items[i].key);
    free(m->items[i].value);
  }
  free(m->items);
}

void
recipe_free(struct recipe *r)
{
  for (size_t i = 0; i < r->n_binaries; i++) {
    free(r->binaries[i].src.source);
    free(r->binaries[i].path);
  }
  for (size_t i = 0; i < r->n_libraries; i++) {
    free(r->libraries[i].name);
    free(r->libraries[i].src.source);
    free(r->libraries[i].path);
  }
  for (size_t i = 0; i < r->n_files; i++) {
    free(r->files[i].src.source);
    free(r->files[i].path);
  }
  for (size_t i = 0; i < r->n_directories; i++) {
    free(r->directories[i].src.source);
    free(r->directories[i].path);
    strv_free(&r->directories[i].exclude);
  }
  for (size_t i = 0; i < r->n_symlinks; i++) {
    free(r->symlinks[i].path);
    free(r->symlinks[i].target);
  }
  for (size_t i = 0; i < r->n_users; i++) {
    free(r->users[i].name);
    free(r->users[i].home);
  }
  for (size_t i = 0; i < r->n_groups; i++)
    free(r->groups[i].name);
  for (size_t i = 0; i < r->n_paths; i++)
    free(r->paths[i].path);
  for (size_t i = 0; i < r->n_waivers; i++) {
    free(r->waivers[i].id);
    free(r->waivers[i].path);
    free(r->waivers[i].reason);
  }
  free(r->waivers);
  free(r->binaries);
  free(r->libraries);
  free(r->files);
  free(r->directories);
  free(r->symlinks);
  free(r->users);
  free(r->groups);
  free(r->paths);
  free(r->ca_source.source);
  strv_free(&r->entrypoint);
  strv_free(&r->cmd);
  strv_free(&r->ports);
  strv_free(&r->volumes);
  map_free(&r->environment);
  map_free(&r->labels);
  map_free(&r->annotations);
  free(r->file);
  free(r->dir);
  free(r->name);
  free(r->tag);
  free(r->sysroot);
  free(r->run_as);
  free(r->work_dir);
  free(r->stop_signal);
  free(r->sbom);
  free(r->platform);
  map_free(&r->platforms);
  memset(r, 0, sizeof *r);
}
