/* The image config as Dockerfile instructions.  A Dockerfile is read line
 * by line, and ENV, LABEL, USER, WORKDIR, EXPOSE and STOPSIGNAL substitute
 * `$NAME` and take quotes as a shell would (Docker's and BuildKit's
 * lexer: within double quotes a backslash escapes `"`, `$` and itself, and
 * nothing else).  So every value is either a plain word or quoted, and no
 * byte of it can end the line: exec forms are JSON, whose strings carry
 * their controls as escapes that the builder decodes. */
#include "image/dockerfile.h"
#include "image/escape.h"
#include "lib/alloc.h"

#include <stdio.h>
#include <string.h>

char *
dockerfile_quote(const char *s, bool *lossy)
{
  struct buf b = { 0 };

  *lossy = false;
  buf_append(&b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
    if (*p == '"' || *p == '\\' || *p == '$') {
      buf_printf(&b, "\\%c", *p);
      continue;
    }
    if (*p >= 0x20 && *p != 0x7f) {
      buf_append(&b, p, 1);
      continue;
    }
    *lossy = true;
    if (*p == '\n' || *p == '\t' || *p == '\r')
      buf_printf(&b, "\\%c", *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r');
    else
      buf_printf(&b, "\\x%02x", *p);
  }
  buf_append(&b, "\"\0", 2);
  return b.data;
}

/* Whether `s` can stand unquoted: letters, digits and punctuation that no
 * lexer of a Dockerfile gives a meaning to. */
static bool
plain(const char *s)
{
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')
          || strchr("_-.,:/@+%", *s) != NULL))
      return false;
  return true;
}

/* The comment line before an instruction whose value had a control
 * character in it. */
static void
note_lossy(struct buf *note, const char *instruction, const char *quoted)
{
  buf_printf(note, "# %s %s: a control character, which a Dockerfile cannot hold, is written as an escape\n",
             instruction, quoted);
}

/* `s` as a plain word when it can be one, else quoted. */
static char *
word(const char *s, const char *instruction, struct buf *note)
{
  bool lossy;
  char *q = dockerfile_quote(s, &lossy);

  if (plain(s)) {
    free(q);
    return xstrdup(s);
  }
  if (lossy)
    note_lossy(note, instruction, q);
  return q;
}

/* One instruction with one value: INSTRUCTION VALUE. */
static void
put_word(struct buf *out, const char *instruction, const char *value)
{
  struct buf note = { 0 };
  cleanup_free char *w = word(value, instruction, &note);

  if (note.data)
    buf_append(out, note.data, note.len);
  buf_printf(out, "%s %s\n", instruction, w);
  buf_free(&note);
}

/* One KEY=VALUE pair, the value always quoted so that spaces survive.  A
 * key with "=" in it would be split there: it is left out, and said so. */
static void
put_pair(struct buf *out, const char *instruction, const char *key, const char *value)
{
  struct buf note = { 0 };
  bool lossy;

  if (strchr(key, '=') != NULL || *key == '\0') {
    cleanup_free char *q = dockerfile_quote(key, &lossy);
    buf_printf(out, "# %s %s not written: a key cannot be empty or hold \"=\"\n", instruction, q);
    return;
  }
  cleanup_free char *k = word(key, instruction, &note);
  cleanup_free char *v = dockerfile_quote(value, &lossy);
  if (lossy)
    note_lossy(&note, instruction, k);
  if (note.data)
    buf_append(out, note.data, note.len);
  buf_printf(out, "%s %s=%s\n", instruction, k, v);
  buf_free(&note);
}

/* An exec form: a JSON array of strings, one line. */
static void
put_array(struct buf *out, const char *instruction, const json_t *v)
{
  size_t i;
  json_t *s;

  if (v == NULL || json_is_null(v))
    return;
  json_array_foreach (v, i, s)
    if (!json_is_string(s))
      break;
  if (!json_is_array(v) || i < json_array_size(v)) {
    buf_printf(out, "# %s not written: not an array of strings in the config\n", instruction);
    return;
  }
  cleanup_free char *j = json_dumps(v, 0);
  buf_printf(out, "%s %s\n", instruction, j);
}

static void
put_env(struct buf *out, const json_t *env)
{
  size_t i;
  json_t *e;

  json_array_foreach (env, i, e) {
    const char *s = json_string_value(e), *eq = s ? strchr(s, '=') : NULL;
    if (eq == NULL) {
      buf_printf(out, "# ENV: entry %zu not written: not NAME=VALUE\n", i + 1);
      continue;
    }
    cleanup_free char *key = xstrndup(s, (size_t) (eq - s));
    put_pair(out, "ENV", key, eq + 1);
  }
}

/* The names of an object (ExposedPorts, Volumes, Labels), in the order
 * jansson keeps them: the order of the config document. */
static void
put_keys(struct buf *out, const char *instruction, const json_t *obj, bool labels)
{
  const char *key;
  json_t *v;

  json_object_foreach ((json_t *) obj, key, v) {
    if (labels)
      put_pair(out, instruction, key, json_is_string(v) ? json_string_value(v) : "");
    else if (strcmp(instruction, "VOLUME") == 0) {
      json_t *one = json_pack("[s]", key);
      put_array(out, instruction, one);
      json_decref(one);
    } else
      put_word(out, instruction, key);
  }
}

/* The COPY a Dockerfile needs, as a comment: its JSON form holds any name. */
static void
put_copy_hint(struct buf *out, const char *tree)
{
  cleanup_free char *name = escape_json(tree);
  json_t *args = json_pack("[s, s]", name, "/");
  cleanup_free char *j = args ? json_dumps(args, 0) : NULL;

  json_decref(args);
  buf_printf(out, "# the tree distill export wrote, copied from the build context (COPY makes every file\n"
                  "# root's, whatever its owner in the image: see distill-export(1)):\n"
                  "# COPY %s\n",
             j ? j : "[\"DIR\", \"/\"]");
}

void
dockerfile_write(const json_t *image_config, const char *tree, struct buf *out)
{
  const json_t *cfg = json_object_get(image_config, "config");
  const char *user = json_string_value(json_object_get(cfg, "User"));
  const char *workdir = json_string_value(json_object_get(cfg, "WorkingDir"));
  const char *signal = json_string_value(json_object_get(cfg, "StopSignal"));

  buf_printf(out, "FROM scratch\n");
  if (tree)
    put_copy_hint(out, tree);
  if (user && *user)
    put_word(out, "USER", user);
  put_env(out, json_object_get(cfg, "Env"));
  if (workdir && *workdir)
    put_word(out, "WORKDIR", workdir);
  put_keys(out, "EXPOSE", json_object_get(cfg, "ExposedPorts"), false);
  put_keys(out, "VOLUME", json_object_get(cfg, "Volumes"), false);
  put_array(out, "ENTRYPOINT", json_object_get(cfg, "Entrypoint"));
  put_array(out, "CMD", json_object_get(cfg, "Cmd"));
  put_keys(out, "LABEL", json_object_get(cfg, "Labels"), true);
  if (signal && *signal)
    put_word(out, "STOPSIGNAL", signal);
  if (json_object_get(cfg, "Healthcheck") != NULL)
    buf_printf(out, "# the image's healthcheck is not written: distill inspect shows it\n");
}
