/* npm packages and Python distributions of the image (ecosystem.h),
 * and what every kind of package shares. */
#include "plan/ecosystem.h"
#include "plan/license.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "lib/file.h"
#include "lib/path.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The largest metadata file read; larger ones are skipped. */
#define META_MAX (4u << 20)

struct eco_package *
eco_push(struct eco_packages *pkgs, const struct eco_package *pk)
{
  if (pkgs->n == pkgs->cap) {
    pkgs->cap = pkgs->cap ? 2 * pkgs->cap : 16;
    pkgs->items = xreallocarray(pkgs->items, pkgs->cap, sizeof *pkgs->items);
  }
  pkgs->items[pkgs->n] = *pk;
  return &pkgs->items[pkgs->n++];
}

struct eco_package *
eco_add(struct eco_packages *pkgs, const char *kind, const char *name, const char *version)
{
  struct eco_package pk = { .kind = kind, .name = xstrdup(name), .version = version ? xstrdup(version) : NULL };
  return eco_push(pkgs, &pk);
}

void
eco_package_free(struct eco_package *pk)
{
  free(pk->name);
  free(pk->version);
  free(pk->license);
  free(pk->purl);
  free(pk->at);
  free(pk->comment);
  strv_free(&pk->files);
}

void
eco_packages_free(struct eco_packages *pkgs)
{
  for (size_t i = 0; i < pkgs->n; i++)
    eco_package_free(&pkgs->items[i]);
  free(pkgs->items);
  *pkgs = (struct eco_packages){ 0 };
}

char *
eco_purl(const char *kind, const char *name, const char *version)
{
  struct buf b = { 0 };

  buf_printf(&b, "pkg:%s/", kind);
  /* each segment of a namespace/name path escaped on its own */
  for (const char *seg = name; *seg;) {
    size_t n = strcspn(seg, "/");
    cleanup_free char *one = xstrndup(seg, n);
    cleanup_free char *esc = eco_purl_escape(one);
    buf_printf(&b, "%s%s", esc, seg[n] ? "/" : "");
    seg += n + (seg[n] != '\0');
  }
  if (version) {
    cleanup_free char *v = eco_purl_escape(version);
    buf_printf(&b, "@%s", v);
  }
  return b.data;
}

bool
eco_read(const struct rootfs *fs, const struct rootfs_entry *e, size_t max, struct buf *out)
{
  struct derror ignored = DERROR_INIT;
  bool ok;

  if (e && e->type == ROOTFS_HARDLINK)
    e = rootfs_find(fs, e->target);
  if (e == NULL || e->type != ROOTFS_FILE || e->size > max)
    return false;
  if (e->source == NULL) {
    buf_append(out, e->data ? e->data : "", e->size);
    return true;
  }
  ok = read_file(e->source, max, out, &ignored) == 0;
  derror_clear(&ignored);
  return ok;
}

/* A string member of at most `max` bytes and no control character, or
 * NULL. */
static const char *
short_string(json_t *obj, const char *key, size_t max)
{
  const char *s = json_string_value(json_object_get(obj, key));
  if (s == NULL || *s == '\0' || strlen(s) > max)
    return NULL;
  for (const char *p = s; *p; p++)
    if ((unsigned char) *p < 0x20 || *p == 0x7f)
      return NULL;
  return s;
}

/* npm's rules for a package name: at most 214 characters, URL-safe,
 * "@scope/name" or "name". */
static bool
npm_name_ok(const char *name)
{
  const char *slash = strchr(name, '/');
  if (strlen(name) > 214 || name[0] == '.' || name[0] == '_' || (slash && name[0] != '@')
      || (name[0] == '@' && (slash == NULL || slash == name + 1 || slash[1] == '\0' || strchr(slash + 1, '/'))))
    return false;
  for (const char *p = name; *p; p++)
    if (!(islower((unsigned char) *p) || isdigit((unsigned char) *p) || strchr("-._~@/", *p)
          || isupper((unsigned char) *p)))
      return false;
  return true;
}

bool
eco_npm_manifest(const char *text, size_t len, struct eco_package *out)
{
  json_error_t jerr;
  json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  const char *name = short_string(doc, "name", 214), *version = short_string(doc, "version", 256);
  json_t *lic = json_object_get(doc, "license");
  bool ok = false;

  if (!json_is_object(doc) || name == NULL || !npm_name_ok(name))
    goto out;
  if (json_is_object(lic)) /* the old form, {"type": "MIT", "url": ...} */
    lic = json_object_get(lic, "type");
  *out = (struct eco_package){ .kind = "npm", .name = xstrdup(name), .version = version ? xstrdup(version) : NULL };
  out->license = license_spdx_expression(json_string_value(lic));
  out->purl = eco_purl("npm", name, version);
  ok = true;
out:
  json_decref(doc);
  return ok;
}

/* The first value of a header field of core metadata, or NULL; the
 * headers end at the first empty line. */
static char *
meta_field(const char *text, size_t len, const char *field)
{
  size_t fl = strlen(field);

  for (const char *line = text; line < text + len;) {
    const char *eol = memchr(line, '\n', (size_t) (text + len - line));
    size_t n = eol ? (size_t) (eol - line) : (size_t) (text + len - line);
    if (n && line[n - 1] == '\r')
      n--;
    if (n == 0)
      break;
    if (n > fl && line[fl] == ':' && strncasecmp(line, field, fl) == 0) {
      const char *v = line + fl + 1;
      while (v < line + n && (*v == ' ' || *v == '\t')) /* the text is not terminated */
        v++;
      size_t vn = n - (size_t) (v - line);
      while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
        vn--;
      return vn && vn <= 1024 && !memchr(v, '\0', vn) ? xstrndup(v, vn) : NULL;
    }
    line += (eol ? (size_t) (eol - line) : n) + 1;
  }
  return NULL;
}

bool
eco_pypi_metadata(const char *text, size_t len, struct eco_package *out)
{
  cleanup_free char *name = meta_field(text, len, "Name");
  cleanup_free char *version = meta_field(text, len, "Version");
  cleanup_free char *expr = meta_field(text, len, "License-Expression");
  cleanup_free char *lic = meta_field(text, len, "License");

  if (name == NULL || strlen(name) > 256)
    return false;
  for (char *p = name; *p; p++)
    if (!(isalnum((unsigned char) *p) || *p == '-' || *p == '_' || *p == '.'))
      return false;
  *out = (struct eco_package){ .kind = "pypi", .name = xstrdup(name), .version = steal_pointer(&version) };
  out->license = license_spdx_expression(expr ? expr : lic);
  /* the purl spec's pypi name: lowercase, '_' as '-' */
  cleanup_free char *purl_name = xstrdup(name);
  for (char *p = purl_name; *p; p++)
    *p = *p == '_' ? '-' : (char) tolower((unsigned char) *p);
  out->purl = eco_purl("pypi", purl_name, out->version);
  return true;
}

/* A path of a list file: `rel` below `dir` (".." taken lexically). */
static void
push_path(struct strv *paths, const char *dir, const char *rel, size_t n)
{
  cleanup_free char *r = xstrndup(rel, n);
  cleanup_free char *joined = NULL;
  char *norm;

  if (n == 0 || n > 4096 || memchr(rel, '\0', n))
    return;
  joined = path_join(dir, r);
  if (joined && (norm = path_lexical(joined)))
    strv_push_take(paths, norm);
}

void
eco_pypi_record(const char *text, size_t len, const char *site, struct strv *paths)
{
  for (const char *line = text; line < text + len;) {
    const char *end = text + len, *eol = memchr(line, '\n', (size_t) (end - line));
    const char *stop = eol ? eol : end;
    struct buf field = { 0 };
    if (*line == '"') { /* quoted: "" is one quote */
      const char *p = line + 1;
      for (; p < end; p++) {
        if (*p == '"' && p + 1 < end && p[1] == '"')
          buf_append(&field, p++, 1);
        else if (*p == '"')
          break;
        else
          buf_append(&field, p, 1);
      }
      if (p >= end) { /* no closing quote: the list ends */
        buf_free(&field);
        break;
      }
      eol = memchr(p, '\n', (size_t) (end - p));
      stop = eol ? eol : end;
      if (field.len)
        push_path(paths, site, field.data, field.len);
    } else {
      const char *comma = memchr(line, ',', (size_t) (stop - line));
      size_t n = (size_t) ((comma ? comma : stop) - line);
      if (n && line[n - 1] == '\r')
        n--;
      push_path(paths, site, line, n);
    }
    buf_free(&field);
    line = stop + 1;
  }
}

/* Is the entry a file with content (a regular file or a hardlink)? */
static bool
has_content(const struct rootfs_entry *e)
{
  return e->type == ROOTFS_FILE || e->type == ROOTFS_HARDLINK;
}

/* The files of `fs` below `dir`; with `skip_nested`, none below a further
 * node_modules.  The table is sorted bytewise, so they follow the first
 * path at or after "dir/". */
static void
files_below(const struct rootfs *fs, const char *dir, bool skip_nested, struct strv *files)
{
  cleanup_free char *prefix = xasprintf("%s/", dir);
  size_t pl = strlen(prefix), lo = 0, hi = fs->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(fs->items[mid].path, prefix) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (size_t i = lo; i < fs->n && strncmp(fs->items[i].path, prefix, pl) == 0; i++) {
    const struct rootfs_entry *e = &fs->items[i];
    if (has_content(e) && !(skip_nested && strstr(e->path + pl - 1, "/node_modules/")))
      strv_push(files, e->path);
  }
}

/* Is `dir` a package's directory in a node_modules ("…/node_modules/x" or
 * "…/node_modules/@scope/x")? */
static bool
npm_package_dir(const char *dir)
{
  const char *base = strrchr(dir, '/');
  size_t n = (size_t) (base - dir);
  if (n >= 13 && strncmp(base - 13, "/node_modules", 13) == 0)
    return true;
  const char *scope = n ? memrchr(dir, '/', n) : NULL;
  return scope && scope[1] == '@' && scope - dir >= 13 && strncmp(scope - 13, "/node_modules", 13) == 0;
}

enum eco_metadata
eco_metadata_of(const char *path)
{
  const char *base = path_basename(path);
  size_t dl = (size_t) (base - path), n = strlen(base);
  cleanup_free char *dir = dl > 1 ? xstrndup(path, dl - 1) : NULL;

  if (strcmp(base, "package.json") == 0 && dir && npm_package_dir(dir))
    return ECO_NPM;
  if (strcmp(base, "METADATA") == 0 && dl > 11 && strncmp(base - 11, ".dist-info/", 11) == 0)
    return ECO_DIST_INFO;
  if (strcmp(base, "PKG-INFO") == 0 && dl > 10 && strncmp(base - 10, ".egg-info/", 10) == 0)
    return ECO_EGG_INFO_DIR;
  if (n > 9 && strcmp(base + n - 9, ".egg-info") == 0)
    return ECO_EGG_INFO_FILE;
  return ECO_NONE;
}

/* The package.json at `e`, when it is a package's: one in a node_modules,
 * or the application's own (a directory not in a node_modules that holds
 * one). */
static void
npm_package(const struct rootfs *fs, const struct rootfs_entry *e, struct eco_packages *out)
{
  cleanup_free char *dir = path_dirname(e->path);
  cleanup_free char *modules = path_join(dir, "node_modules");
  struct buf text = { 0 };
  struct eco_package pk;

  if (!npm_package_dir(dir)) {
    const struct rootfs_entry *m = rootfs_find(fs, modules);
    if (strstr(e->path, "/node_modules/") || m == NULL || m->type != ROOTFS_DIR)
      return;
  }
  if (eco_read(fs, e, META_MAX, &text) && eco_npm_manifest(text.data, text.len, &pk)) {
    struct eco_package *to = eco_push(out, &pk);
    to->at = xstrdup(e->path);
    files_below(fs, dir, true, &to->files);
  }
  buf_free(&text);
}

/* The files a distribution's list file names (`list` in `meta_dir`,
 * relative to `base`) that the image has; false when there is no list. */
static bool
listed_files(const struct rootfs *fs, const char *meta_dir, const char *list, const char *base, bool record,
             struct strv *files)
{
  cleanup_free char *path = path_join(meta_dir, list);
  struct strv paths = { 0 };
  struct buf text = { 0 };
  bool ok = eco_read(fs, rootfs_find(fs, path), META_MAX, &text);

  if (ok && record)
    eco_pypi_record(text.data, text.len, base, &paths);
  else if (ok)
    for (const char *line = text.data; line && line < text.data + text.len;) {
      const char *eol = memchr(line, '\n', (size_t) (text.data + text.len - line));
      size_t n = eol ? (size_t) (eol - line) : (size_t) (text.data + text.len - line);
      push_path(&paths, base, line, n && line[n - 1] == '\r' ? n - 1 : n);
      line += n + 1;
    }
  for (size_t i = 0; i < paths.n; i++) {
    const struct rootfs_entry *f = rootfs_find(fs, paths.items[i]);
    if (f && has_content(f)) /* each once: eco_scan() sorts and drops repeats */
      strv_push(files, f->path);
  }
  strv_free(&paths);
  buf_free(&text);
  return ok;
}

/* A Python distribution: `e` is a dist-info's METADATA, an egg-info's
 * PKG-INFO, or an egg-info that is one file (distutils' form). */
static void
pypi_package(const struct rootfs *fs, const struct rootfs_entry *e, enum eco_metadata form, struct eco_packages *out)
{
  cleanup_free char *dir = path_dirname(e->path);
  cleanup_free char *site = path_dirname(dir);
  struct buf text = { 0 };
  struct eco_package pk;

  if (eco_read(fs, e, META_MAX, &text) && eco_pypi_metadata(text.data, text.len, &pk)) {
    struct eco_package *to = eco_push(out, &pk);
    to->at = xstrdup(e->path);
    if (form == ECO_EGG_INFO_FILE) {
      strv_push(&to->files, e->path);
    } else if (form == ECO_DIST_INFO) {
      if (!listed_files(fs, dir, "RECORD", site, true, &to->files))
        files_below(fs, dir, false, &to->files);
    } else {
      if (!listed_files(fs, dir, "installed-files.txt", dir, false, &to->files))
        listed_files(fs, dir, "SOURCES.txt", site, false, &to->files);
      /* the egg-info's own files, whatever the lists say */
      files_below(fs, dir, false, &to->files);
    }
  }
  buf_free(&text);
}

static int
compare_packages(const void *a, const void *b)
{
  const struct eco_package *x = a, *y = b;
  int c = strcmp(x->kind, y->kind);
  if (c == 0)
    c = strcmp(x->name, y->name);
  if (c == 0)
    c = strcmp(x->version ? x->version : "", y->version ? y->version : "");
  return c ? c : strcmp(x->at, y->at);
}

void
eco_scan(const struct rootfs *fs, struct eco_packages *out)
{
  for (size_t i = 0; i < fs->n; i++) {
    const struct rootfs_entry *e = &fs->items[i];
    if (!has_content(e))
      continue;
    enum eco_metadata form = eco_metadata_of(e->path);
    if (strcmp(path_basename(e->path), "package.json") == 0)
      npm_package(fs, e, out);
    else if (form != ECO_NONE)
      pypi_package(fs, e, form, out);
  }
  eco_scan_binaries(fs, out);
  for (size_t i = 0; i < out->n; i++) {
    struct strv *f = &out->items[i].files;
    size_t kept = 0;
    strv_sort(f);
    for (size_t k = 0; k < f->n; k++) {
      if (kept && strcmp(f->items[kept - 1], f->items[k]) == 0)
        free(f->items[k]);
      else
        f->items[kept++] = f->items[k];
    }
    f->n = kept;
    if (f->items)
      f->items[kept] = NULL;
  }
  if (out->n)
    qsort(out->items, out->n, sizeof *out->items, compare_packages);
}

char *
eco_purl_escape(const char *s)
{
  struct buf b = { 0 };

  for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
    if (isalnum(*p) || *p == '.' || *p == '-' || *p == '_' || *p == '~')
      buf_append(&b, p, 1);
    else
      buf_printf(&b, "%%%02X", *p);
  }
  if (b.data == NULL)
    buf_append(&b, "", 0);
  return b.data;
}
