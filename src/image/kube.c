/* The facts `distill kube` writes settings from, each read from the
 * image: its config (User, Entrypoint, Cmd, Env, WorkingDir, ExposedPorts,
 * Volumes, Healthcheck) and its files (/etc/passwd and /etc/group for a
 * user's name, the owners and modes of its directories).  Nothing is
 * guessed: what the image does not say is left to the runtime, and what a
 * setting cannot carry is said in a warning. */
#include "image/kube.h"
#include "image/escape.h"
#include "image/image_view.h"
#include "plan/start.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
kube_label_valid(const char *s)
{
  size_t n = strlen(s);

  if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
      return false;
  return true;
}

/* `s` made a DNS-1123 label: lowercase, every run of other bytes one "-",
 * none at either end, at most `max` bytes; "" when nothing is left. */
static char *
label_of(const char *s, size_t max)
{
  char *out = xmalloc(strlen(s) + 1);
  size_t n = 0;

  for (; *s; s++) {
    char c = *s >= 'A' && *s <= 'Z' ? (char) (*s - 'A' + 'a') : *s;
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
      out[n++] = c;
    else if (n > 0 && out[n - 1] != '-')
      out[n++] = '-';
  }
  if (n > max)
    n = max;
  while (n > 0 && out[n - 1] == '-')
    n--;
  out[n] = '\0';
  return out;
}

/* The repository's last component of a reference: "reg:5000/a/b:1@sha256:..."
 * gives "b". */
static char *
repository_name(const char *ref)
{
  const char *at = strchr(ref, '@');
  cleanup_free char *r = xstrndup(ref, at ? (size_t) (at - ref) : strlen(ref));
  char *slash = strrchr(r, '/'), *base = slash ? slash + 1 : r;
  char *colon = strchr(base, ':');

  if (colon)
    *colon = '\0';
  return xstrdup(base);
}

static int
names(const struct image *img, const struct kube_options *o, struct kube_facts *f, struct derror *err)
{
  if (o->image == NULL && (img->name == NULL || *img->name == '\0'))
    return derror_set(err, "the archive names no image (no reference in its index or manifest.json), so the "
                           "container's image is unknown: give it with --image REF");
  f->image = xstrdup(o->image ? o->image : img->name);
  if (o->name) {
    f->name = xstrdup(o->name);
    return 0;
  }
  cleanup_free char *repo = repository_name(f->image);
  f->name = label_of(repo, 63);
  if (*f->name == '\0')
    return derror_set(err, "no name can be made of the image's name \"%s\": give one with --name", f->image);
  return 0;
}

/* "8080/tcp", "53/udp", "9090" (tcp): Docker's ExposedPorts keys. */
static int
port_of(const char *key, struct kube_port *p, struct derror *err)
{
  char *end;
  unsigned long n = strtoul(key, &end, 10);
  const char *proto = *end == '/' ? end + 1 : *end == '\0' ? "tcp" : NULL;

  if (end == key || key[0] < '0' || key[0] > '9' || n == 0 || n > 65535 || proto == NULL)
    return derror_set(err, "ExposedPorts \"%s\": not PORT[/PROTOCOL] with a port from 1 to 65535", key);
  static const char *const names[][2] = { { "tcp", "TCP" }, { "udp", "UDP" }, { "sctp", "SCTP" } };
  p->port = (unsigned) n;
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strcmp(proto, names[i][0]) == 0) {
      snprintf(p->protocol, sizeof p->protocol, "%s", names[i][1]);
      return 0;
    }
  return derror_set(err, "ExposedPorts \"%s\": the protocol is not tcp, udp or sctp", key);
}

static int
port_cmp(const void *a, const void *b)
{
  const struct kube_port *x = a, *y = b;

  return x->port != y->port ? (x->port < y->port ? -1 : 1) : strcmp(x->protocol, y->protocol);
}

static int
ports(const json_t *cfg, struct kube_facts *f, struct derror *err)
{
  const json_t *exposed = json_object_get(cfg, "ExposedPorts");
  const char *key;
  json_t *v;

  if (exposed == NULL || json_is_null(exposed))
    return 0;
  if (!json_is_object(exposed))
    return derror_set(err, "ExposedPorts is not an object");
  f->ports = xcalloc(json_object_size(exposed) + 1, sizeof *f->ports);
  json_object_foreach ((json_t *) exposed, key, v) {
    cleanup_free char *shown = escape_text(key);
    if (port_of(shown, &f->ports[f->n_ports], err) < 0)
      return -1;
    f->low_port |= f->ports[f->n_ports++].port < 1024;
  }
  qsort(f->ports, f->n_ports, sizeof *f->ports, port_cmp);
  /* "80" and "80/tcp" are one port: Kubernetes refuses it twice */
  size_t n = 0;
  for (size_t i = 0; i < f->n_ports; i++)
    if (n == 0 || port_cmp(&f->ports[n - 1], &f->ports[i]) != 0)
      f->ports[n++] = f->ports[i];
  f->n_ports = n;
  return 0;
}

/* A volume's name: the path as a label ("/var/lib/app": "var-lib-app"),
 * made unique with "-2", "-3"... */
static char *
volume_name(const struct kube_facts *f, const char *path)
{
  cleanup_free char *base = label_of(path, 56);
  char *name = xstrdup(*base ? base : "volume");

  for (unsigned k = 2;; k++) {
    size_t i;
    for (i = 0; i < f->n_mounts && strcmp(f->mounts[i].volume, name) != 0; i++)
      ;
    if (i == f->n_mounts)
      return name;
    free(name);
    name = xasprintf("%s-%u", *base ? base : "volume", k);
  }
}

static void
add_mount(struct kube_facts *f, const char *path, unsigned mode)
{
  for (size_t i = 0; i < f->n_mounts; i++)
    if (strcmp(f->mounts[i].path, path) == 0)
      return;
  f->mounts = xreallocarray(f->mounts, f->n_mounts + 1, sizeof *f->mounts);
  f->mounts[f->n_mounts] = (struct kube_mount) { xstrdup(path), volume_name(f, path), mode };
  f->n_mounts++;
}

/* Whether `path` is below a mount: what an emptyDir hides is said once,
 * by hidden(). */
static bool
below_mount(const struct kube_facts *f, const char *path)
{
  for (size_t i = 0; i < f->n_mounts; i++) {
    size_t n = strlen(f->mounts[i].path);
    if (strncmp(path, f->mounts[i].path, n) == 0 && path[n] == '/')
      return true;
  }
  return false;
}

static bool
user_can_write(const struct image_file *e, uint32_t uid, uint32_t gid)
{
  return e->uid == uid || (e->gid == gid && (e->mode & 020)) || (e->mode & 002);
}

static void warn(struct kube_facts *f, const char *fmt, ...) DISTILL_PRINTF(2, 3);
static void
warn(struct kube_facts *f, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  strv_push_take(&f->warnings, xvasprintf(fmt, ap));
  va_end(ap);
}

static int
mount_cmp(const void *a, const void *b)
{
  return strcmp(((const struct kube_mount *) a)->path, ((const struct kube_mount *) b)->path);
}

/* /tmp, each directory the user can write, each config Volume: the
 * places a read-only root leaves writable.  A file the user can write
 * stays read-only under it, and is said. */
static void
writable(const struct image *img, const json_t *cfg, struct kube_facts *f)
{
  const json_t *volumes = json_object_get(cfg, "Volumes");
  const struct image_file *tmp = image_find(img, "/tmp");
  const char *key;
  json_t *v;

  add_mount(f, "/tmp", tmp && tmp->type == 'd' ? tmp->mode & 07777 : 01777);
  for (size_t i = 0; i < img->n_files; i++) {
    const struct image_file *e = &img->files[i];
    if (strcmp(e->path, "/") == 0 || !user_can_write(e, f->uid, f->gid))
      continue;
    if (e->type == 'd')
      add_mount(f, e->path, e->mode & 07777);
    else if ((e->type == 'f' || e->type == 'h') && !below_mount(f, e->path)) {
      cleanup_free char *shown = escape_text(e->path);
      warn(f, "%s is a file the user can write, which readOnlyRootFilesystem keeps read-only: if the service "
              "writes it, give it a writable directory (a recipe's paths:) instead", shown);
    }
  }
  if (json_is_object(volumes))
    json_object_foreach ((json_t *) volumes, key, v) {
      const struct image_file *d = image_find(img, key);
      if (key[0] != '/' || strcmp(key, "/") == 0) {
        cleanup_free char *shown = escape_text(key);
        warn(f, "Volumes \"%s\" is not an absolute path below /: left out", shown);
        continue;
      }
      add_mount(f, key, d && d->type == 'd' ? d->mode & 07777 : 0755);
    }
  qsort(f->mounts, f->n_mounts, sizeof *f->mounts, mount_cmp);
}

/* What an emptyDir hides: the entries the image has below a mount (those
 * below a deeper mount counted there). */
static void
hidden(const struct image *img, struct kube_facts *f)
{
  for (size_t m = 0; m < f->n_mounts; m++) {
    const char *dir = f->mounts[m].path;
    size_t len = strlen(dir), n = 0;
    for (size_t i = 0; i < img->n_files; i++) {
      const char *p = img->files[i].path;
      if (strncmp(p, dir, len) != 0 || p[len] != '/')
        continue;
      size_t k;
      for (k = 0; k < f->n_mounts; k++)
        if (k != m && strlen(f->mounts[k].path) > len && strncmp(p, f->mounts[k].path, strlen(f->mounts[k].path)) == 0
            && (p[strlen(f->mounts[k].path)] == '/' || p[strlen(f->mounts[k].path)] == '\0'))
          break;
      n += k == f->n_mounts;
    }
    if (n > 0) {
      cleanup_free char *shown = escape_text(dir);
      warn(f, "%s holds %zu entr%s in the image, which the empty volume mounted there hides", shown, n,
           n == 1 ? "y" : "ies");
    }
  }
}

/* The user the runtime starts the image as, never root. */
static int
user(const char *archive, const struct image *img, const json_t *cfg, struct kube_facts *f, struct derror *err)
{
  const char *u = json_string_value(json_object_get(cfg, "User"));
  struct image_view iv;

  if (u == NULL || *u == '\0')
    return derror_set(err, "the image runs as root (its config has no User): runAsNonRoot would refuse it; build "
                           "it to run as a user of its own");
  if (image_view_open(&iv, archive, img, err) < 0)
    return -1;
  int r = start_user(&iv.view, u, &f->uid, &f->gid, err);
  image_view_close(&iv);
  cleanup_free char *shown = escape_text(u);
  if (r < 0)
    return derror_wrap(err, "config User \"%s\"", shown);
  if (f->uid == 0)
    return derror_set(err, "config User \"%s\" is root (uid 0): runAsNonRoot would refuse it; build the image "
                           "to run as a user of its own", shown);
  if (f->gid == 0)
    warn(f, "config User \"%s\" runs in group 0, root's: runAsGroup says so", shown);
  return 0;
}

/* Env: NAME=VALUE strings as name and value. */
static json_t *
env(const json_t *cfg, struct kube_facts *f)
{
  const json_t *list = json_object_get(cfg, "Env");
  json_t *out = json_array(), *e;
  size_t i;

  json_array_foreach (list, i, e) {
    const char *s = json_string_value(e), *eq = s ? strchr(s, '=') : NULL;
    if (eq == NULL || eq == s) {
      cleanup_free char *shown = escape_text(s ? s : "?");
      warn(f, "Env entry \"%s\" is not NAME=VALUE: left out", shown);
      continue;
    }
    cleanup_free char *name = xstrndup(s, (size_t) (eq - s));
    json_array_append_new(out, json_pack("{s:s, s:s}", "name", name, "value", eq + 1));
  }
  if (json_array_size(out) == 0) {
    json_decref(out);
    return NULL;
  }
  return out;
}

/* An array of strings, copied; NULL when absent or empty. */
static json_t *
strings(const json_t *cfg, const char *key, struct derror *err)
{
  const json_t *a = json_object_get(cfg, key), *s;
  size_t i;

  if (a == NULL || json_is_null(a) || (json_is_array(a) && json_array_size(a) == 0))
    return NULL;
  json_array_foreach (a, i, s)
    if (!json_is_string(s))
      break;
  if (!json_is_array(a) || i < json_array_size(a)) {
    derror_set(err, "%s is not an array of strings", key);
    return NULL;
  }
  return json_deep_copy(a);
}

/* Nanoseconds (Docker's durations) as whole seconds, rounded up. */
static int
seconds(const json_t *h, const char *key, const char *field, json_t *probe, struct kube_facts *f, struct derror *err)
{
  const json_t *v = json_object_get(h, key);

  if (v == NULL || (json_is_integer(v) && json_integer_value(v) == 0))
    return 0;
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return derror_set(err, "Healthcheck.%s is not a duration in nanoseconds", key);
  json_int_t ns = json_integer_value(v), s = ns / 1000000000 + (ns % 1000000000 != 0);
  if (s > INT32_MAX)
    return derror_set(err, "Healthcheck.%s is more seconds than a probe can count (2^31 - 1)", key);
  if (ns % 1000000000 != 0)
    warn(f, "Healthcheck.%s is not whole seconds, which a probe counts in: rounded up", key);
  json_object_set_new(probe, field, json_integer(s));
  return 0;
}

/* The command of Healthcheck.Test: ["CMD", program, args...] as it is;
 * ["CMD-SHELL", command] as Docker runs it, /bin/sh -c.  NULL when it is
 * neither. */
static json_t *
probe_command(const json_t *test)
{
  const char *kind = json_string_value(json_array_get(test, 0));
  json_t *command = json_array(), *s;
  size_t i;

  if (kind && strcmp(kind, "CMD-SHELL") == 0 && json_array_size(test) == 2) {
    json_array_append_new(command, json_string("/bin/sh"));
    json_array_append_new(command, json_string("-c"));
  } else if (kind == NULL || strcmp(kind, "CMD") != 0 || json_array_size(test) < 2)
    goto bad;
  json_array_foreach (test, i, s) {
    if (!json_is_string(s))
      goto bad;
    if (i > 0)
      json_array_append(command, s);
  }
  return command;
bad:
  json_decref(command);
  return NULL;
}

/* Liveness and readiness from the health check: ["NONE"] is none. */
static int
probe(const json_t *cfg, struct kube_facts *f, struct derror *err)
{
  const json_t *h = json_object_get(cfg, "Healthcheck"), *test = json_object_get(h, "Test");
  const char *kind = json_string_value(json_array_get(test, 0));
  json_t *command;

  /* no Test (or an empty one) inherits, and there is nothing to inherit */
  if (h == NULL || json_is_null(h) || json_array_size(test) == 0 || (kind && strcmp(kind, "NONE") == 0))
    return 0;
  if ((command = probe_command(test)) == NULL)
    return derror_set(err, "Healthcheck.Test is not [\"CMD\", PROGRAM, ARGS...] nor [\"CMD-SHELL\", COMMAND]");
  if (strcmp(kind, "CMD-SHELL") == 0)
    warn(f, "the health check is a shell command, which its probes run with /bin/sh -c as Docker does: the "
            "image needs a shell for it");
  f->probe = json_pack("{s:{s:o}}", "exec", "command", command);
  if (seconds(h, "StartPeriod", "initialDelaySeconds", f->probe, f, err) < 0
      || seconds(h, "Interval", "periodSeconds", f->probe, f, err) < 0
      || seconds(h, "Timeout", "timeoutSeconds", f->probe, f, err) < 0)
    return -1;
  const json_t *retries = json_object_get(h, "Retries");
  if (json_is_integer(retries) && json_integer_value(retries) > INT32_MAX)
    return derror_set(err, "Healthcheck.Retries is more than a probe can count (2^31 - 1)");
  if (json_is_integer(retries) && json_integer_value(retries) > 0)
    json_object_set_new(f->probe, "failureThreshold", json_integer(json_integer_value(retries)));
  return 0;
}

int
kube_facts(const char *archive, const struct image *img, const struct kube_options *o, struct kube_facts *f,
           struct derror *err)
{
  const json_t *cfg = json_object_get(img->config, "config");
  const char *wd = json_string_value(json_object_get(cfg, "WorkingDir"));

  memset(f, 0, sizeof *f);
  if (names(img, o, f, err) < 0 || user(archive, img, cfg, f, err) < 0 || ports(cfg, f, err) < 0)
    return -1;
  f->command = strings(cfg, "Entrypoint", err);
  if (err->msg == NULL)
    f->args = strings(cfg, "Cmd", err);
  if (err->msg)
    return -1;
  f->env = env(cfg, f);
  f->work_dir = wd && *wd ? xstrdup(wd) : NULL;
  writable(img, cfg, f);
  hidden(img, f);
  return probe(cfg, f, err);
}

void
kube_facts_free(struct kube_facts *f)
{
  free(f->name);
  free(f->image);
  json_decref(f->command);
  json_decref(f->args);
  json_decref(f->env);
  json_decref(f->probe);
  free(f->work_dir);
  free(f->ports);
  for (size_t i = 0; i < f->n_mounts; i++) {
    free(f->mounts[i].path);
    free(f->mounts[i].volume);
  }
  free(f->mounts);
  strv_free(&f->warnings);
}
