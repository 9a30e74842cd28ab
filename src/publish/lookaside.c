/* Lookaside storage and its registries.d configuration: see lookaside.h. */
#include "publish/lookaside.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/file.h"
#include "lib/path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYSTEM_DIR "/etc/containers/registries.d"
#define USER_DIR ".config/containers/registries.d"
#define ROOT_DEFAULT "file:///var/lib/containers/sigstore"
#define USER_DEFAULT ".local/share/containers/sigstore"
#define CONFIG_MAX (1u << 20)
/* More signatures than anyone keeps of one image: a bound on the search
 * for a free index, not a limit anyone should meet. */
#define INDEX_MAX 100000

/* A section of a file: its URL for writing, or NULL when it has none. */
struct scope {
  char *name, *url, *file;
};

struct config {
  struct scope *scopes; /* `docker`'s sections, from every file */
  size_t n;
  struct scope *fallback; /* `default-docker`'s, or NULL */
};

static void
config_free(struct config *c)
{
  for (size_t i = 0; i < c->n; i++)
    free(c->scopes[i].name), free(c->scopes[i].url), free(c->scopes[i].file);
  free(c->scopes);
  if (c->fallback)
    free(c->fallback->url), free(c->fallback->file), free(c->fallback);
}

static bool
is_null(const yaml_node_t *n)
{
  if (n == NULL || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return n == NULL;
  const char *v = (const char *) n->data.scalar.value;
  return strcmp(v, "") == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0;
}

static const char *
scalar(const yaml_node_t *n)
{
  return n && n->type == YAML_SCALAR_NODE ? (const char *) n->data.scalar.value : NULL;
}

/* A section's URL for writing: containers/image's order, the staging
 * URLs before those for reading, the current names before the legacy. */
static int
section_url(yaml_document_t *d, yaml_node_t *sec, const char *file, char **url, struct derror *err)
{
  static const char *const keys[] = { "lookaside-staging", "sigstore-staging", "lookaside", "sigstore" };
  const char *found[4] = { 0 };

  *url = NULL;
  if (is_null(sec))
    return 0;
  if (sec->type != YAML_MAPPING_NODE)
    return derror_set(err, "%s: line %zu: a section is not a mapping", file, sec->start_mark.line + 1);
  for (yaml_node_pair_t *p = sec->data.mapping.pairs.start; p < sec->data.mapping.pairs.top; p++) {
    const char *k = scalar(yaml_document_get_node(d, p->key));
    yaml_node_t *v = yaml_document_get_node(d, p->value);

    for (size_t i = 0; k && i < 4; i++) {
      if (strcmp(k, keys[i]) != 0)
        continue;
      if (scalar(v) == NULL)
        return derror_set(err, "%s: line %zu: %s is not a string", file, v->start_mark.line + 1, k);
      found[i] = scalar(v);
    }
  }
  for (size_t i = 0; i < 4; i++)
    if (found[i] && found[i][0]) {
      *url = xstrdup(found[i]);
      break;
    }
  return 0;
}

static int
add_scope(struct config *c, const char *name, char *url, const char *file, struct derror *err)
{
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->scopes[i].name, name) == 0) {
      free(url);
      return derror_set(err, "registries.d: the docker scope `%s` is defined both in %s and %s", name,
                        c->scopes[i].file, file);
    }
  c->scopes = xreallocarray(c->scopes, c->n + 1, sizeof *c->scopes);
  c->scopes[c->n++] = (struct scope) { xstrdup(name), url, xstrdup(file) };
  return 0;
}

static int
load_docker(yaml_document_t *d, yaml_node_t *m, const char *file, struct config *c, struct derror *err)
{
  if (is_null(m))
    return 0;
  if (m->type != YAML_MAPPING_NODE)
    return derror_set(err, "%s: line %zu: docker is not a mapping", file, m->start_mark.line + 1);
  for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(d, p->key);
    char *url;

    if (scalar(k) == NULL)
      return derror_set(err, "%s: line %zu: a docker scope is not a string", file, k->start_mark.line + 1);
    if (section_url(d, yaml_document_get_node(d, p->value), file, &url, err) < 0
        || add_scope(c, scalar(k), url, file, err) < 0)
      return -1;
  }
  return 0;
}

static int
load_fallback(yaml_document_t *d, yaml_node_t *sec, const char *file, struct config *c, struct derror *err)
{
  char *url;

  if (is_null(sec))
    return 0;
  if (c->fallback)
    return derror_set(err, "registries.d: default-docker is defined both in %s and %s", c->fallback->file, file);
  if (section_url(d, sec, file, &url, err) < 0)
    return -1;
  c->fallback = xcalloc(1, sizeof *c->fallback);
  c->fallback->url = url;
  c->fallback->file = xstrdup(file);
  return 0;
}

/* One file's sections; keys other than these two are ignored, as Go's
 * YAML decoder ignores fields a struct does not have. */
static int
load_file(const char *file, struct config *c, struct derror *err)
{
  struct buf text = { 0 };
  yaml_parser_t parser;
  yaml_document_t doc;
  cleanup_yaml_parser yaml_parser_t *pp = NULL;
  cleanup_yaml_document yaml_document_t *dp = NULL;

  if (read_file(file, CONFIG_MAX, &text, err) < 0)
    return derror_is(err, DERROR_NOT_FOUND) ? (derror_clear(err), 0) : -1; /* removed since listed */
  cleanup_free char *data = text.data;
  if (!yaml_parser_initialize(&parser))
    return derror_set(err, "%s: libyaml could not start", file);
  pp = &parser;
  yaml_parser_set_input_string(&parser, (const unsigned char *) data, text.len);
  if (!yaml_parser_load(&parser, &doc))
    return derror_set(err, "%s: line %zu: %s", file, parser.problem_mark.line + 1,
                      parser.problem ? parser.problem : "not YAML");
  dp = &doc;
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (root == NULL || is_null(root))
    return 0;
  if (root->type != YAML_MAPPING_NODE)
    return derror_set(err, "%s: not a YAML mapping", file);
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
    const char *k = scalar(yaml_document_get_node(&doc, p->key));
    yaml_node_t *v = yaml_document_get_node(&doc, p->value);

    if (k && strcmp(k, "docker") == 0 && load_docker(&doc, v, file, c, err) < 0)
      return -1;
    if (k && strcmp(k, "default-docker") == 0 && load_fallback(&doc, v, file, c, err) < 0)
      return -1;
  }
  return 0;
}

static int
names_cmp(const void *a, const void *b)
{
  return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Every *.yaml file of `dir`, in name order (so that an error names the
 * same two files every time). */
static int
load_dir(const char *dir, struct config *c, struct derror *err)
{
  DIR *d = opendir(dir);
  struct strv names = { 0 };
  struct dirent *e;
  int ret = 0;

  if (d == NULL)
    return errno == ENOENT ? 0 : derror_errno(err, errno, "registries.d: open `%s`", dir);
  while ((e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name);
    if (n > 5 && strcmp(e->d_name + n - 5, ".yaml") == 0)
      strv_push_take(&names, path_join(dir, e->d_name));
  }
  closedir(d);
  if (names.n)
    qsort(names.items, names.n, sizeof *names.items, names_cmp);
  for (size_t i = 0; i < names.n && ret == 0; i++)
    ret = load_file(names.items[i], c, err);
  strv_free(&names);
  return ret;
}

static const char *
find_url(const struct config *c, const char *name)
{
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->scopes[i].name, name) == 0)
      return c->scopes[i].url;
  return NULL;
}

/* containers/image's scopes, most precise first: the reference, its
 * repository and each parent namespace up to the host, then "*.DOMAIN"
 * for each domain suffix of the host without its port. */
static const char *
lookup(const struct config *c, const struct image_ref *ref)
{
  cleanup_free char *name = image_ref_name(ref);
  cleanup_free char *full = xasprintf("%s%s%s", name, ref->tag ? ":" : "@", ref->tag ? ref->tag : ref->digest);
  const char *url = find_url(c, full);

  for (char *slash; url == NULL;) {
    if ((url = find_url(c, name)) != NULL || (slash = strrchr(name, '/')) == NULL)
      break;
    *slash = '\0';
  }
  name[strcspn(name, ":")] = '\0';
  for (const char *dot = strchr(name, '.'); url == NULL && dot; dot = strchr(dot + 1, '.')) {
    cleanup_free char *wild = xasprintf("*%s", dot);
    url = find_url(c, wild);
  }
  if (url == NULL && c->fallback)
    url = c->fallback->url;
  return url;
}

static char *
default_dir(void)
{
  const char *home = getenv("HOME");
  cleanup_free char *user = home ? path_join(home, USER_DIR) : NULL;
  struct stat st;

  if (user && stat(user, &st) == 0)
    return steal_pointer(&user);
  return xstrdup(SYSTEM_DIR);
}

int
lookaside_staging_url(const char *dir, const struct image_ref *ref, char **url, struct derror *err)
{
  struct config c = { 0 };
  cleanup_free char *d = dir ? xstrdup(dir) : default_dir();
  const char *home = getenv("HOME");

  *url = NULL;
  if (load_dir(d, &c, err) < 0) {
    config_free(&c);
    return -1;
  }
  const char *u = lookup(&c, ref);
  if (u)
    *url = xstrdup(u);
  else if (geteuid() == 0 || home == NULL)
    *url = xstrdup(ROOT_DEFAULT);
  else
    *url = xasprintf("file://%s/%s", home, USER_DEFAULT);
  config_free(&c);
  return 0;
}

static int
hexval(char c)
{
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int
lookaside_url_dir(const char *url, char **dir, struct derror *err)
{
  const char *p;

  if (strncmp(url, "file://", 7) != 0)
    return derror_set(err, "lookaside `%s`: not a file:// URL (distill writes signatures to a directory only; "
                      "copy them to the server that serves them)", url);
  p = url + 7;
  if (strncmp(p, "localhost/", 10) == 0)
    p += 9;
  if (*p != '/')
    return derror_set(err, "lookaside `%s`: a file:// URL of another host", url);
  char *out = xmalloc(strlen(p) + 1), *o = out;
  for (; *p && *p != '?' && *p != '#'; p++) {
    if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
      *o++ = (char) (hexval(p[1]) * 16 + hexval(p[2]));
      p += 2;
    } else {
      *o++ = *p;
    }
  }
  *o = '\0';
  if (strlen(out) != (size_t) (o - out)) {
    free(out);
    return derror_set(err, "lookaside `%s`: a NUL byte in the path", url);
  }
  *dir = out;
  return 0;
}

/* mkdir -p, each component 0755. */
static int
make_dirs(const char *path, struct derror *err)
{
  cleanup_free char *p = xstrdup(path);

  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s != '\0')
      continue;
    char c = *s;
    *s = '\0';
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
      return derror_errno(err, errno, "create `%s`", p);
    if (c == '\0')
      return 0;
    *s = c;
  }
}

static int
write_tmp(int dfd, const char *tmp, const void *sig, size_t n, struct derror *err)
{
  cleanup_close int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

  if (fd < 0)
    return derror_errno(err, errno, "create `%s`", tmp);
  if (write_all(fd, sig, n) < 0 || fsync(fd) < 0)
    return derror_errno(err, errno, "write `%s`", tmp);
  return 0;
}

/* Link the temporary file to the first free signature-N of `dfd`. */
static int
link_free(int dfd, const char *tmp, const char *dir, char **written, struct derror *err)
{
  for (int i = 1; i <= INDEX_MAX; i++) {
    char name[32];
    snprintf(name, sizeof name, "signature-%d", i);
    if (linkat(dfd, tmp, dfd, name, 0) == 0) {
      *written = path_join(dir, name);
      return 0;
    }
    if (errno != EEXIST)
      return derror_errno(err, errno, "link `%s/%s`", dir, name);
  }
  return derror_set(err, "`%s`: signature-1 to signature-%d all exist", dir, INDEX_MAX);
}

int
lookaside_write(const char *base, const char *repo, const char *digest, const void *sig, size_t n,
                char **written, struct derror *err)
{
  const char *hex = strchr(digest, ':');

  if (hex == NULL || strncmp(digest, "sha256:", 7) != 0)
    return derror_set(err, "`%s`: not a sha256 digest", digest);
  cleanup_free char *dir = xasprintf("%s/%s@sha256=%s", base, repo, hex + 1);
  cleanup_free char *tmp = xasprintf(".signature.%ld.tmp", (long) getpid());
  if (make_dirs(dir, err) < 0)
    return -1;
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return derror_errno(err, errno, "open `%s`", dir);
  int ret = write_tmp(dfd, tmp, sig, n, err);
  if (ret == 0)
    ret = link_free(dfd, tmp, dir, written, err);
  unlinkat(dfd, tmp, 0);
  if (ret == 0)
    fsync(dfd); /* the name on the disk too; the signature is there either way */
  return ret;
}
