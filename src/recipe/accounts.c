/* accounts and paths: the users and groups of the image's /etc/passwd and
 * /etc/group beside the built-in ones, the user it runs as, and the paths
 * made for them to own. */
#include "recipe/parse.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "recipe/keys.h"
#include "recipe/recipe.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <yaml.h>

static const char *const builtin_users[] = { "root", "nobody", "nonroot", NULL };
static const uint32_t builtin_uids[] = { 0, 65534, 65532 };
static const char *const builtin_groups[] = { "root", "tty", "staff", "nobody", "nonroot", NULL };
static const uint32_t builtin_gids[] = { 0, 5, 50, 65534, 65532 };

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

/* /etc/passwd and /etc/group are lines of ':'-separated fields: a ':' or a
 * newline in a value would start a field or an account of its own (a
 * passwordless uid 0, past the rule against root), and no other control
 * character belongs in them either. */
static int
check_account_field(struct parse_ctx *c, yaml_node_t *v, const char *kp, const char *s)
{
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    if (*p == ':' || *p < 0x20 || *p == 0x7f)
      return parse_error(c, v, kp, "must not contain ':', a newline or another control character "
                                   "(a field of /etc/passwd and /etc/group)");
  return 0;
}

static int
account_name(struct parse_ctx *c, yaml_node_t *v, const char *kp, char **out, const char *const builtin[])
{
  if (parse_nonempty(c, v, kp, out) < 0 || check_account_field(c, v, kp, *out) < 0)
    return -1;
  if (!valid_account_name(*out))
    return parse_error(c, v, kp, "\"%s\" is not a valid name (lower case letters, digits, '_' and '-')", *out);
  for (size_t i = 0; builtin[i]; i++)
    if (strcmp(builtin[i], *out) == 0)
      return parse_error(c, v, kp, "\"%s\" is built in and cannot be redefined", *out);
  return 0;
}

static int
user_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp)
{
  struct recipe_user *u = obj;

  switch ((enum user_key) key) {
  case USER_NAME:
    return account_name(c, v, kp, &u->name, builtin_users);
  case USER_UID:
    if (parse_id(c, v, kp, &u->uid) < 0)
      return -1;
    for (size_t i = 0; builtin_users[i]; i++)
      if (builtin_uids[i] == u->uid)
        return parse_error(c, v, kp, "uid %u belongs to the built-in user %s", u->uid, builtin_users[i]);
    return 0;
  case USER_GID:
    return parse_id(c, v, kp, &u->gid);
  case USER_HOME:
    if (parse_image_path(c, v, kp, &u->home) < 0)
      return -1;
    return check_account_field(c, v, kp, u->home);
  }
  return parse_unhandled(c, v, kp);
}

static int
user_item(struct parse_ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_user *u = item;

  u->pos = parse_pos(n);
  u->uid = u->gid = UINT32_MAX;
  if (parse_mapping(c, n, kp, KEYS(user_keys), user_value, u) < 0)
    return -1;
  if (u->gid == UINT32_MAX)
    u->gid = u->uid;
  if (u->home == NULL)
    u->home = xasprintf("/home/%s", u->name);
  return 0;
}

static int
group_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp)
{
  struct recipe_group *g = obj;

  switch ((enum group_key) key) {
  case GROUP_NAME:
    return account_name(c, v, kp, &g->name, builtin_groups);
  case GROUP_GID:
    if (parse_id(c, v, kp, &g->gid) < 0)
      return -1;
    for (size_t i = 0; builtin_groups[i]; i++)
      if (builtin_gids[i] == g->gid)
        return parse_error(c, v, kp, "gid %u belongs to the built-in group %s", g->gid, builtin_groups[i]);
    return 0;
  }
  return parse_unhandled(c, v, kp);
}

static int
group_item(struct parse_ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_group *g = item;

  g->pos = parse_pos(n);
  g->gid = UINT32_MAX;
  return parse_mapping(c, n, kp, KEYS(group_keys), group_value, g);
}

int
accounts_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp)
{
  struct recipe *r = c->r;

  switch ((enum accounts_key) key) {
  case ACCOUNTS_RUN_AS:
    r->run_as_pos = parse_pos(v);
    if (parse_nonempty(c, v, kp, &r->run_as) < 0)
      return -1;
    if (strcmp(r->run_as, "root") == 0)
      return parse_error(c, v, kp, "must not be root: images run as a non-root user");
    return 0;
  case ACCOUNTS_USERS:
    return parse_list(c, v, kp, (void **) &r->users, &r->n_users, sizeof(*r->users), user_item);
  case ACCOUNTS_GROUPS:
    return parse_list(c, v, kp, (void **) &r->groups, &r->n_groups, sizeof(*r->groups), group_item);
  }
  return parse_unhandled(c, v, kp);
}

static int
path_value(struct parse_ctx *c, void *obj, unsigned key, yaml_node_t *v, const char *kp)
{
  struct recipe_path *p = obj;
  cleanup_free char *type = NULL;

  switch ((enum path_key) key) {
  case PATH_PATH:
    return parse_image_path(c, v, kp, &p->path);
  case PATH_TYPE:
    if (parse_nonempty(c, v, kp, &type) < 0)
      return -1;
    if (strcmp(type, "directory") == 0)
      p->type = RECIPE_PATH_DIRECTORY;
    else if (strcmp(type, "file") == 0)
      p->type = RECIPE_PATH_FILE;
    else
      return parse_error(c, v, kp, "must be \"directory\" or \"file\" (got \"%s\")", type);
    return 0;
  case PATH_UID:
    return parse_id(c, v, kp, &p->uid);
  case PATH_GID:
    return parse_id(c, v, kp, &p->gid);
  case PATH_MODE:
    return parse_mode(c, v, kp, &p->mode);
  }
  return parse_unhandled(c, v, kp);
}

/* An entry of the top-level paths: owners and mode are filled in by
 * accounts_check() when left out. */
int
accounts_path_item(struct parse_ctx *c, void *item, yaml_node_t *n, const char *kp)
{
  struct recipe_path *p = item;

  p->pos = parse_pos(n);
  p->uid = p->gid = UINT32_MAX;
  p->mode = -1;
  return parse_mapping(c, n, kp, KEYS(path_keys), path_value, p);
}

/* ---- once the recipe is read ------------------------------------------ */

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
check_unique(struct parse_ctx *c)
{
  const struct recipe *r = c->r;

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
  return 0;
}

/* Accounts unique, run-as one of them, and what depends on it filled in:
 * the owners of paths and the working directory. */
int
accounts_check(struct parse_ctx *c)
{
  struct recipe *r = c->r;
  uint32_t uid, gid;

  if (check_unique(c) < 0)
    return -1;
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
