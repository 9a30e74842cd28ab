/* The facts of kube.c as the objects of the Kubernetes API (apps/v1
 * Deployment, v1 Pod), as YAML, and as `docker run` flags.  Members are
 * written in the order they are made here, so the same image gives the
 * same bytes. */
#include "image/kube.h"

#include <stdio.h>
#include <string.h>

static json_t *
labels(const struct kube_facts *f)
{
  return json_pack("{s:s}", "app", f->name);
}

static json_t *
security_context(const struct kube_facts *f)
{
  json_t *caps = json_pack("{s:[s]}", "drop", "ALL");

  if (f->low_port)
    json_object_set_new(caps, "add", json_pack("[s]", "NET_BIND_SERVICE"));
  return json_pack("{s:b, s:I, s:I, s:b, s:b, s:o, s:{s:s}}", "runAsNonRoot", 1, "runAsUser", (json_int_t) f->uid,
                   "runAsGroup", (json_int_t) f->gid, "readOnlyRootFilesystem", 1, "allowPrivilegeEscalation", 0,
                   "capabilities", caps, "seccompProfile", "type", "RuntimeDefault");
}

static json_t *
container(const struct kube_facts *f)
{
  json_t *c = json_pack("{s:s, s:s}", "name", f->name, "image", f->image);
  json_t *mounts = json_array();

  if (f->command)
    json_object_set(c, "command", f->command);
  if (f->args)
    json_object_set(c, "args", f->args);
  if (f->work_dir)
    json_object_set_new(c, "workingDir", json_string(f->work_dir));
  if (f->env)
    json_object_set(c, "env", f->env);
  if (f->n_ports) {
    json_t *ports = json_array();
    for (size_t i = 0; i < f->n_ports; i++)
      json_array_append_new(ports, json_pack("{s:I, s:s}", "containerPort", (json_int_t) f->ports[i].port,
                                             "protocol", f->ports[i].protocol));
    json_object_set_new(c, "ports", ports);
  }
  json_object_set_new(c, "securityContext", security_context(f));
  for (size_t i = 0; i < f->n_mounts; i++)
    json_array_append_new(mounts, json_pack("{s:s, s:s}", "name", f->mounts[i].volume, "mountPath",
                                            f->mounts[i].path));
  json_object_set_new(c, "volumeMounts", mounts);
  if (f->probe) {
    json_object_set(c, "livenessProbe", f->probe);
    json_object_set(c, "readinessProbe", f->probe);
  }
  return c;
}

static json_t *
pod_spec(const struct kube_facts *f)
{
  json_t *volumes = json_array();

  for (size_t i = 0; i < f->n_mounts; i++)
    json_array_append_new(volumes, json_pack("{s:s, s:{}}", "name", f->mounts[i].volume, "emptyDir"));
  return json_pack("{s:[o], s:o}", "containers", container(f), "volumes", volumes);
}

json_t *
kube_document(const struct kube_facts *f, bool pod)
{
  json_t *metadata = json_pack("{s:s, s:o}", "name", f->name, "labels", labels(f));

  if (pod)
    return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "v1", "kind", "Pod", "metadata", metadata, "spec",
                     pod_spec(f));
  json_t *template = json_pack("{s:{s:o}, s:o}", "metadata", "labels", labels(f), "spec", pod_spec(f));
  json_t *spec = json_pack("{s:i, s:{s:o}, s:o}", "replicas", 1, "selector", "matchLabels", labels(f), "template",
                           template);
  return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "apps/v1", "kind", "Deployment", "metadata", metadata,
                   "spec", spec);
}

/* One code point of UTF-8 (jansson's strings are valid UTF-8): its value,
 * the bytes it took in *n. */
static unsigned long
utf8_next(const unsigned char *p, size_t *n)
{
  if (p[0] < 0x80) {
    *n = 1;
    return p[0];
  }
  size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
  unsigned long c = p[0] & (0x7f >> len);
  size_t i;

  for (i = 1; i < len && (p[i] & 0xc0) == 0x80; i++)
    c = (c << 6) | (p[i] & 0x3f);
  *n = i;
  return c;
}

/* A YAML double-quoted scalar in printable ASCII: `"` and `\` escaped,
 * every other byte outside 0x20..0x7e as \xHH, \uHHHH or \UHHHHHHHH. */
static void
yaml_string(const char *s, struct buf *out)
{
  buf_append(out, "\"", 1);
  for (const unsigned char *p = (const unsigned char *) s; *p;) {
    size_t n;
    unsigned long c = utf8_next(p, &n);
    if (c == '"' || c == '\\')
      buf_printf(out, "\\%c", (char) c);
    else if (c >= 0x20 && c < 0x7f)
      buf_append(out, p, 1);
    else if (c < 0x100)
      buf_printf(out, "\\x%02lx", c);
    else if (c < 0x10000)
      buf_printf(out, "\\u%04lx", c);
    else
      buf_printf(out, "\\U%08lx", c);
    p += n;
  }
  buf_append(out, "\"", 1);
}

/* A key as it is when it is a plain word, else quoted. */
static void
yaml_key(const char *k, struct buf *out)
{
  bool plain = (*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z');

  for (const char *p = k; *p && plain; p++)
    plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');
  if (plain)
    buf_append(out, k, strlen(k));
  else
    yaml_string(k, out);
}

static bool
is_block(const json_t *v)
{
  return (json_is_object(v) && json_object_size(v) > 0) || (json_is_array(v) && json_array_size(v) > 0);
}

/* A scalar, or an empty object or array in flow style. */
static void
yaml_scalar(const json_t *v, struct buf *out)
{
  if (json_is_string(v))
    yaml_string(json_string_value(v), out);
  else if (json_is_integer(v))
    buf_printf(out, "%lld", (long long) json_integer_value(v));
  else if (json_is_true(v) || json_is_false(v))
    buf_printf(out, "%s", json_is_true(v) ? "true" : "false");
  else if (json_is_object(v))
    buf_printf(out, "{}");
  else if (json_is_array(v))
    buf_printf(out, "[]");
  else
    buf_printf(out, "null");
}

static void yaml_block(const json_t *v, int indent, struct buf *out);

/* An item of a sequence: "- " then the value; a block's first line
 * shares the dash's line, its others are indented past it. */
static void
yaml_item(const json_t *v, int indent, struct buf *out)
{
  if (!is_block(v)) {
    buf_printf(out, "%*s- ", indent, "");
    yaml_scalar(v, out);
    buf_append(out, "\n", 1);
    return;
  }
  struct buf inner = { 0 };
  yaml_block(v, indent + 2, &inner);
  /* the first line starts with indent + 2 spaces: the last two become "- " */
  inner.data[indent] = '-';
  buf_append(out, inner.data, inner.len);
  buf_free(&inner);
}

/* A non-empty object or array, each line indented by `indent`. */
static void
yaml_block(const json_t *v, int indent, struct buf *out)
{
  const char *key;
  json_t *m;
  size_t i;

  if (json_is_array(v)) {
    json_array_foreach (v, i, m)
      yaml_item(m, indent, out);
    return;
  }
  json_object_foreach ((json_t *) v, key, m) {
    buf_printf(out, "%*s", indent, "");
    yaml_key(key, out);
    if (is_block(m)) {
      buf_append(out, ":\n", 2);
      yaml_block(m, indent + 2, out);
    } else {
      buf_append(out, ": ", 2);
      yaml_scalar(m, out);
      buf_append(out, "\n", 1);
    }
  }
}

void
kube_yaml(const json_t *doc, struct buf *out)
{
  buf_append(out, "---\n", 4);
  yaml_block(doc, 0, out);
}

/* A word for a POSIX shell: as it is when it holds only characters no
 * shell gives a meaning to, else in single quotes ('\'' for a quote);
 * control characters, which no quote can show on one line, in bash's
 * $'...' as \xHH. */
static void
shell_word(const char *s, struct buf *out)
{
  bool plain = *s != '\0', controls = false;

  for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
    plain &= (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
             || strchr("_@%+=:,./-", *p) != NULL;
    controls |= *p < 0x20 || *p == 0x7f;
  }
  if (plain) {
    buf_append(out, s, strlen(s));
    return;
  }
  buf_append(out, controls ? "$'" : "'", controls ? 2 : 1);
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    if (*p == '\'')
      buf_printf(out, controls ? "\\'" : "'\\''");
    else if (controls && (*p == '\\' || *p < 0x20 || *p == 0x7f))
      buf_printf(out, "\\x%02x", *p);
    else
      buf_append(out, p, 1);
  buf_append(out, "'", 1);
}

static void
shell_args(struct buf *out, const char *a, const char *b)
{
  buf_append(out, " ", 1);
  shell_word(a, out);
  if (b) {
    buf_append(out, " ", 1);
    shell_word(b, out);
  }
}

void
kube_docker(const struct kube_facts *f, struct buf *out)
{
  char s[96];

  buf_printf(out, "docker run --rm --read-only");
  snprintf(s, sizeof s, "%u:%u", f->uid, f->gid);
  shell_args(out, "--user", s);
  shell_args(out, "--cap-drop", "ALL");
  if (f->low_port)
    shell_args(out, "--cap-add", "NET_BIND_SERVICE");
  shell_args(out, "--security-opt", "no-new-privileges");
  for (size_t i = 0; i < f->n_mounts; i++) {
    const struct kube_mount *m = &f->mounts[i];
    /* A tmpfs over a directory of the image takes that directory's mode
     * and root as its owner (runc), and --tmpfs takes no owner: a
     * directory only its user or group can write is an anonymous volume,
     * which docker and podman make with the directory's owner, mode and
     * contents, and --rm removes with the container. */
    if (m->mode & 0002) {
      cleanup_free char *t = xasprintf("%s:mode=%04o", m->path, m->mode);
      shell_args(out, "--tmpfs", t);
    } else {
      shell_args(out, "--volume", m->path);
    }
  }
  for (size_t i = 0; i < f->n_ports; i++) {
    char proto[8];
    size_t k;
    for (k = 0; f->ports[i].protocol[k]; k++)
      proto[k] = (char) (f->ports[i].protocol[k] - 'A' + 'a');
    proto[k] = '\0';
    snprintf(s, sizeof s, "%u:%u/%s", f->ports[i].port, f->ports[i].port, proto);
    shell_args(out, "-p", s);
  }
  shell_args(out, f->image, NULL);
  buf_append(out, "\n", 1);
}
