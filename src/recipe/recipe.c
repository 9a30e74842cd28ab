/* The recipe parser: a YAML text (libyaml's document API) into struct
 * recipe.  This file loads the text, refuses what libyaml would accept and
 * a recipe must not (aliases, deep nesting, several documents), and runs
 * the passes in order: the walk over the key tables (keys.c), the checks
 * across keys (top.c, accounts.c), then credentials (credentials.c).
 *
 * Every error names the file, the line and column of the offending node and
 * the key path to it, e.g. "app.yaml:7:5: contents.binaries[1].path: must be
 * an absolute path"; an unknown key is refused with the nearest known one. */
#include "recipe/recipe.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/error.h"
#include "lib/file.h"
#include "lib/path.h"
#include "recipe/keys.h"
#include "recipe/parse.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

/* A recipe is a short text; anything larger is a mistake or an attack. */
#define RECIPE_MAX_BYTES (1024 * 1024)
#define RECIPE_MAX_DEPTH 32

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
  yaml_parser_t parser;
  yaml_event_t ev;
  int depth = 0;

  if (!yaml_parser_initialize(&parser))
    oom();
  cleanup_yaml_parser yaml_parser_t *p = &parser;
  yaml_parser_set_input_string(p, (const unsigned char *) data, len);
  for (;;) {
    if (!yaml_parser_parse(p, &ev))
      return yaml_error(file, p, data, err);
    yaml_event_type_t type = ev.type;
    size_t line = ev.start_mark.line + 1, col = ev.start_mark.column + 1;
    yaml_event_delete(&ev);
    if (type == YAML_ALIAS_EVENT)
      return derror_set(err, "%s:%zu:%zu: YAML aliases are not allowed in a recipe", file, line, col);
    if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) {
      if (++depth > RECIPE_MAX_DEPTH)
        return derror_set(err, "%s:%zu:%zu: nested deeper than %d levels", file, line, col, RECIPE_MAX_DEPTH);
    } else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) {
      depth--;
    } else if (type == YAML_STREAM_END_EVENT) {
      return 0;
    }
  }
}

/* libyaml loads a stream a document at a time: a second one is refused,
 * not ignored. */
static int
single_document(const char *file, yaml_parser_t *parser, const char *data, struct derror *err)
{
  yaml_document_t extra;

  if (!yaml_parser_load(parser, &extra))
    return yaml_error(file, parser, data, err);
  cleanup_yaml_document yaml_document_t *d = &extra;
  if (yaml_document_get_root_node(d) != NULL)
    return derror_set(err, "%s:%zu:1: only one YAML document is allowed", file, d->start_mark.line + 1);
  return 0;
}

/* What a recipe is before its keys are read: the defaults, and the
 * directory its relative sources are read under, made absolute. */
static int
recipe_init(struct recipe *out, const char *file, struct derror *err)
{
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
  return 0;
}

int
recipe_parse(const char *file, const char *data, size_t len, struct recipe *out, struct derror *err)
{
  yaml_parser_t parser;
  yaml_document_t doc;

  if (recipe_init(out, file, err) < 0)
    return -1;
  if (len > RECIPE_MAX_BYTES)
    return derror_set(err, "%s: larger than %d bytes", file, RECIPE_MAX_BYTES);
  if (memchr(data, '\0', len))
    return derror_set(err, "%s: contains NUL bytes; not a YAML text", file);
  if (prescan(file, data, len, err) < 0)
    return -1;

  if (!yaml_parser_initialize(&parser))
    oom();
  cleanup_yaml_parser yaml_parser_t *p = &parser;
  yaml_parser_set_input_string(p, (const unsigned char *) data, len);
  if (!yaml_parser_load(p, &doc))
    return yaml_error(file, p, data, err);
  cleanup_yaml_document yaml_document_t *d = &doc;
  yaml_node_t *root = yaml_document_get_root_node(d);
  if (root == NULL)
    return derror_set(err, "%s: empty recipe", file);
  if (single_document(file, p, data, err) < 0)
    return -1;

  struct parse_ctx c = { file, d, out, err };
  if (root->type != YAML_MAPPING_NODE)
    return parse_error(&c, root, NULL, "a recipe must be a mapping of keys");
  if (parse_mapping(&c, root, "", KEYS(top_keys), top_value, out) < 0 || top_check(&c, root) < 0
      || accounts_check(&c) < 0 || layers_check(&c, root) < 0 || credentials_check(&c, root) < 0)
    return -1;
  if (out->sysroot == NULL)
    out->sysroot = xstrdup("/");
  return 0;
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

/* contents: every item and its strings */
static void
contents_free(struct recipe *r)
{
  for (size_t i = 0; i < r->n_binaries; i++) {
    free(r->binaries[i].layer.name);
    free(r->binaries[i].src.source);
    free(r->binaries[i].path);
  }
  for (size_t i = 0; i < r->n_libraries; i++) {
    free(r->libraries[i].name);
    free(r->libraries[i].layer.name);
    free(r->libraries[i].src.source);
    free(r->libraries[i].path);
  }
  for (size_t i = 0; i < r->n_files; i++) {
    free(r->files[i].src.source);
    free(r->files[i].layer.name);
    free(r->files[i].path);
  }
  for (size_t i = 0; i < r->n_directories; i++) {
    free(r->directories[i].src.source);
    free(r->directories[i].layer.name);
    free(r->directories[i].path);
    strv_free(&r->directories[i].exclude);
  }
  for (size_t i = 0; i < r->n_symlinks; i++) {
    free(r->symlinks[i].path);
    free(r->symlinks[i].layer.name);
    free(r->symlinks[i].target);
  }
  for (size_t i = 0; i < r->n_packages; i++) {
    free(r->packages[i].name);
    free(r->packages[i].arch);
    strv_free(&r->packages[i].exclude);
    free(r->packages[i].layer.name);
  }
  free(r->binaries);
  free(r->libraries);
  free(r->files);
  free(r->directories);
  free(r->symlinks);
  free(r->packages);
}

void
recipe_free(struct recipe *r)
{
  contents_free(r);
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
  strv_free(&r->healthcheck.test);
  free(r->healthcheck.probe_url);
  free(r->sbom);
  free(r->platform);
  free(r->from_recipe);
  strv_free(&r->layers);
  map_free(&r->platforms);
  memset(r, 0, sizeof *r);
}
