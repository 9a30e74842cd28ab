/* How two images differ: see diff.h. */
#include "image/diff.h"
#include "image/escape.h"
#include "image/packages.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void add(struct image_diff *d, const char *kind, const char *where, const char *fmt, ...) DISTILL_PRINTF(4, 5);

/* One difference.  `where` as it is (a path of the image, a key of the
 * config), escaped here; names in `fmt`'s arguments escaped by the caller
 * (escape_json): jansson refuses bytes that are not UTF-8, and a
 * difference left out would be a lie. */
static void
add(struct image_diff *d, const char *kind, const char *where, const char *fmt, ...)
{
  va_list ap;
  char *what;

  va_start(ap, fmt);
  what = xvasprintf(fmt, ap);
  va_end(ap);
  cleanup_free char *w = escape_json(where);
  json_t *item = json_pack("{s:s, s:s, s:s}", "kind", kind, "where", w, "what", what);
  if (item == NULL) {
    cleanup_free char *safe = escape_json(what);
    item = json_pack("{s:s, s:s, s:s}", "kind", kind, "where", w, "what", safe);
  }
  json_array_append_new(d->items, item);
  free(what);
}

/* The last difference's structured form beside its prose: what changed
 * (`field`), and its old and new values (references taken; NULL: null,
 * absent on that side). */
static void
fields(struct image_diff *d, const char *field, json_t *old, json_t *new)
{
  json_t *item = json_array_get(d->items, json_array_size(d->items) - 1);

  json_object_set_new(item, "field", json_string(field));
  json_object_set_new(item, "old", old ? old : json_null());
  json_object_set_new(item, "new", new ? new : json_null());
}

static json_t *
content_json(const struct image_file *f)
{
  return json_pack("{s:I, s:s}", "size", (json_int_t) f->size, "digest", f->digest);
}

/* ---- config ----------------------------------------------------------- */

static char *
show(json_t *v)
{
  if (v == NULL)
    return xstrdup("(absent)");
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
  return s ? s : xstrdup("?");
}

static bool
all_strings(json_t *a)
{
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v)
  {
    if (!json_is_string(v))
      return false;
  }
  return true;
}

static bool
contains(json_t *a, json_t *v)
{
  size_t i;
  json_t *x;
  json_array_foreach(a, i, x)
  {
    if (json_equal(x, v))
      return true;
  }
  return false;
}

static void
diff_json(struct image_diff *d, const char *key, json_t *a, json_t *b)
{
  if (json_equal(a, b))
    return;
  /* the layers' part of the report says how their content differs */
  if (strcmp(key, "rootfs.diff_ids") == 0)
    return;
  if (json_is_object(a) && json_is_object(b)) {
    const char *k;
    json_t *v;
    json_object_foreach(a, k, v)
    {
      cleanup_free char *sub = *key ? xasprintf("%s.%s", key, k) : xstrdup(k);
      diff_json(d, sub, v, json_object_get(b, k));
    }
    json_object_foreach(b, k, v)
    {
      if (json_object_get(a, k) == NULL) {
        cleanup_free char *sub = *key ? xasprintf("%s.%s", key, k) : xstrdup(k);
        diff_json(d, sub, NULL, v);
      }
    }
    return;
  }
  /* the environment is a set of strings: which items came and went */
  if (strcmp(key, "config.Env") == 0 && json_is_array(a) && json_is_array(b) && all_strings(a) && all_strings(b)) {
    size_t i;
    json_t *v;
    bool any = false;
    json_array_foreach(a, i, v)
    {
      if (!contains(b, v)) {
        add(d, "config", key, "removed \"%s\"", json_string_value(v));
        fields(d, key, json_incref(v), NULL);
        any = true;
      }
    }
    json_array_foreach(b, i, v)
    {
      if (!contains(a, v)) {
        add(d, "config", key, "added \"%s\"", json_string_value(v));
        fields(d, key, NULL, json_incref(v));
        any = true;
      }
    }
    if (!any) {
      add(d, "config", key, "the same items in another order");
      fields(d, key, json_incref(a), json_incref(b));
    }
    return;
  }
  /* other lists are ordered: element by element */
  if (json_is_array(a) && json_is_array(b)) {
    size_t n = json_array_size(a) > json_array_size(b) ? json_array_size(a) : json_array_size(b);
    for (size_t i = 0; i < n; i++) {
      cleanup_free char *sub = xasprintf("%s[%zu]", key, i);
      diff_json(d, sub, json_array_get(a, i), json_array_get(b, i));
    }
    return;
  }
  cleanup_free char *sa = show(a);
  cleanup_free char *sb = show(b);
  add(d, "config", key, "%s -> %s", sa, sb);
  fields(d, key, json_incref(a), json_incref(b));
}

/* ---- files ------------------------------------------------------------ */

static void
diff_file(struct image_diff *d, const struct image_file *a, const struct image_file *b)
{
  if (a->type != b->type) {
    add(d, "file", a->path, "type %c -> %c", a->type, b->type);
    fields(d, "type", json_sprintf("%c", a->type), json_sprintf("%c", b->type));
    return;
  }
  if (a->type == 'f' && (a->size != b->size || strcmp(a->digest, b->digest) != 0)) {
    add(d, "file", a->path, "content: %llu bytes %s -> %llu bytes %s", (unsigned long long) a->size, a->digest,
        (unsigned long long) b->size, b->digest);
    fields(d, "content", content_json(a), content_json(b));
  }
  if (a->mode != b->mode) {
    add(d, "file", a->path, "mode %04o -> %04o", a->mode, b->mode);
    fields(d, "mode", json_sprintf("%04o", a->mode), json_sprintf("%04o", b->mode));
  }
  if (a->uid != b->uid || a->gid != b->gid) {
    add(d, "file", a->path, "owner %u:%u -> %u:%u", a->uid, a->gid, b->uid, b->gid);
    fields(d, "owner", json_sprintf("%u:%u", a->uid, a->gid), json_sprintf("%u:%u", b->uid, b->gid));
  }
  if (a->mtime != b->mtime) {
    add(d, "file", a->path, "mtime %lld -> %lld", (long long) a->mtime, (long long) b->mtime);
    fields(d, "mtime", json_integer(a->mtime), json_integer(b->mtime));
  }
  if ((a->target || b->target) && (!a->target || !b->target || strcmp(a->target, b->target) != 0)) {
    cleanup_free char *ta = escape_json(a->target ? a->target : "(none)");
    cleanup_free char *tb = escape_json(b->target ? b->target : "(none)");
    add(d, "file", a->path, "link target %s -> %s", ta, tb);
    fields(d, "target", a->target ? json_string(ta) : NULL, b->target ? json_string(tb) : NULL);
  }
}

/* The group of the differences of `path` (whose first is item `from`): the
 * package whose file it is (by b's status.d, else a's), else its
 * directory. */
static void
set_group(struct image_diff *d, size_t from, const struct image_packages *pa, const struct image_packages *pb,
          const char *path)
{
  const struct image_package *pk = image_package_of(pb, path);
  json_t *group;

  if (pk == NULL)
    pk = image_package_of(pa, path);
  if (pk) {
    cleanup_free char *label = image_package_label(pk);
    cleanup_free char *safe = escape_json(label);
    group = json_pack("{s:s}", "package", safe);
  } else {
    const char *slash = strrchr(path, '/');
    cleanup_free char *dir = slash && slash > path ? xstrndup(path, (size_t) (slash - path)) : xstrdup("/");
    cleanup_free char *safe = escape_json(dir);
    group = json_pack("{s:s}", "directory", safe);
  }
  for (size_t i = from; i < json_array_size(d->items); i++)
    json_object_update(json_array_get(d->items, i), group);
  json_decref(group);
}

struct grouped {
  json_t *item;
  size_t at;
};

/* Packages first, by name, then directories, by path; within a group, in
 * the order of the paths. */
static int
by_group(const void *pa, const void *pb)
{
  const struct grouped *a = pa, *b = pb;
  json_t *ka = json_object_get(a->item, "package"), *kb = json_object_get(b->item, "package");
  int c;

  if (!ka != !kb)
    return ka ? -1 : 1;
  if (!ka) {
    ka = json_object_get(a->item, "directory");
    kb = json_object_get(b->item, "directory");
  }
  c = strcmp(json_string_value(ka), json_string_value(kb));
  return c ? c : (a->at > b->at) - (a->at < b->at);
}

static void
sort_groups(struct image_diff *d, size_t from)
{
  size_t n = json_array_size(d->items) - from;
  struct grouped *g = xcalloc(n ? n : 1, sizeof *g);

  for (size_t i = 0; i < n; i++)
    g[i] = (struct grouped){ json_incref(json_array_get(d->items, from + i)), i };
  qsort(g, n, sizeof *g, by_group);
  for (size_t i = 0; i < n; i++)
    json_array_set_new(d->items, from + i, g[i].item);
  free(g);
}

/* Each file's differences, grouped by the package or the directory it is
 * in: a changed library reads as one package's, not as names scattered in
 * the order of the paths. */
static void
diff_files(struct image_diff *d, const struct image *a, const struct image *b, const struct image_packages *pa,
           const struct image_packages *pb)
{
  size_t i = 0, j = 0, from = json_array_size(d->items);

  while (i < a->n_files || j < b->n_files) {
    int c = i == a->n_files ? 1 : j == b->n_files ? -1 : strcmp(a->files[i].path, b->files[j].path);
    size_t first = json_array_size(d->items);
    const char *path = c < 0 ? a->files[i].path : b->files[j].path;
    if (c < 0) {
      const struct image_file *f = &a->files[i++];
      add(d, "file", f->path, "removed");
      fields(d, "presence", f->type == 'f' ? content_json(f) : json_true(), NULL);
    } else if (c > 0) {
      const struct image_file *f = &b->files[j++];
      add(d, "file", f->path, "added");
      fields(d, "presence", NULL, f->type == 'f' ? content_json(f) : json_true());
    } else
      diff_file(d, &a->files[i++], &b->files[j++]);
    set_group(d, first, pa, pb, path);
  }
  sort_groups(d, from);
}

/* The entries of layer `li` in the order the tar holds them. */
static void
layer_entries(const struct image *img, size_t li, const struct image_file ***out, size_t *n)
{
  *n = 0;
  *out = xcalloc(img->n_history, sizeof **out);
  for (size_t i = 0; i < img->n_history; i++)
    if ((size_t) img->history[i].layer == li)
      (*out)[(*n)++] = &img->history[i];
}

/* Same files, different bytes: the order of entries or their headers. */
static void
diff_tar(struct image_diff *d, const struct image *a, const struct image *b, size_t li)
{
  const struct image_file **ea, **eb;
  size_t na, nb;
  char where[32];

  snprintf(where, sizeof where, "%zu", li + 1);
  layer_entries(a, li, &ea, &na);
  layer_entries(b, li, &eb, &nb);
  size_t k = 0;
  while (k < na && k < nb && strcmp(ea[k]->path, eb[k]->path) == 0)
    k++;
  if (k < na || k < nb) {
    cleanup_free char *pa = escape_json(k < na ? ea[k]->path : "(end)");
    cleanup_free char *pb = escape_json(k < nb ? eb[k]->path : "(end)");
    add(d, "layer", where, "the entries are in another order (from entry %zu: %s -> %s)", k + 1, pa, pb);
  } else
    add(d, "layer", where, "the same entries in the same order, with other tar headers (names, pax records or "
                           "padding)");
  free(ea);
  free(eb);
}

static void
diff_layers(struct image_diff *d, const struct image *a, const struct image *b, bool files_differ)
{
  if (a->n_layers != b->n_layers)
    add(d, "layer", "count", "%zu -> %zu", a->n_layers, b->n_layers);
  for (size_t i = 0; i < a->n_layers && i < b->n_layers; i++) {
    const struct image_layer *x = &a->layers[i], *y = &b->layers[i];
    char where[32];
    snprintf(where, sizeof where, "%zu", i + 1);
    if (strcmp(x->diff_id, y->diff_id) == 0) {
      if (strcmp(x->digest, y->digest) != 0)
        add(d, "layer", where, "the same content compressed differently (%s, %llu -> %llu bytes)",
            x->media_type, (unsigned long long) x->size, (unsigned long long) y->size);
      continue;
    }
    add(d, "layer", where, "content %s -> %s", x->diff_id, y->diff_id);
    if (!files_differ && a->n_layers == b->n_layers)
      diff_tar(d, a, b, i);
  }
}

/* The packages first: what a reader of a diff wants to know before any
 * file (a library that went down a version).  JSON: "old", "new" and
 * "change" beside "what". */
static void
diff_packages(struct image_diff *d, const struct image_packages *pa, const struct image_packages *pb)
{
  struct package_diff *changes = NULL;
  size_t n = packages_diff(pa, pb, &changes);

  for (size_t i = 0; i < n; i++) {
    const struct package_diff *c = &changes[i];
    cleanup_free char *where = image_package_label(c->pkg);
    if (c->old_version && c->new_version)
      add(d, "package", where, "%s -> %s (%s)", c->old_version, c->new_version, package_change_name(c->change));
    else
      add(d, "package", where, "%s %s", package_change_name(c->change), c->old_version ? c->old_version
                                                                                   : c->new_version);
    json_t *item = json_array_get(d->items, json_array_size(d->items) - 1);
    json_object_set_new(item, "old", c->old_version ? json_string(c->old_version) : json_null());
    json_object_set_new(item, "new", c->new_version ? json_string(c->new_version) : json_null());
    json_object_set_new(item, "change", json_string(package_change_name(c->change)));
    json_object_set_new(item, "ecosystem", json_string(c->pkg->kind ? c->pkg->kind : "deb"));
    if (c->pkg->at)
      json_object_set_new(item, "path", json_string(c->pkg->at));
  }
  free(changes);
}

/* What a host that has A downloads to have B: B's layers A has not (by
 * digest), their compressed bytes. */
static void
diff_pull(struct image_diff *d, const struct image *a, const struct image *b)
{
  uint64_t bytes = 0, total = 0;
  size_t n = 0;

  for (size_t i = 0; i < b->n_layers; i++) {
    bool had = false;
    for (size_t k = 0; k < a->n_layers && !had; k++)
      had = strcmp(a->layers[k].digest, b->layers[i].digest) == 0;
    total += b->layers[i].size;
    if (!had) {
      bytes += b->layers[i].size;
      n++;
    }
  }
  if (n == 0)
    return;
  add(d, "pull", "layers", "%zu of %zu, %.1f of %.1f MB", n, b->n_layers, (double) bytes / 1e6, (double) total / 1e6);
  json_t *item = json_array_get(d->items, json_array_size(d->items) - 1);
  json_object_set_new(item, "layers", json_integer((json_int_t) n));
  json_object_set_new(item, "bytes", json_integer((json_int_t) bytes));
}

int
image_diff(const char *path_a, const struct image *a, const char *path_b, const struct image *b, const char *name_a,
           bool names, struct image_diff *d, struct derror *err)
{
  struct image_packages pa = { 0 }, pb = { 0 };

  if (image_packages(path_a, a, &pa, err) < 0 || image_packages(path_b, b, &pb, err) < 0) {
    image_packages_free(&pa);
    return -1;
  }
  diff_packages(d, &pa, &pb);
  diff_pull(d, a, b);
  if (names && (a->name || b->name) && (!a->name || !b->name || strcmp(a->name, b->name) != 0))
    add(d, "archive", "name", "%s -> %s", a->name ? a->name : "(none)", b->name ? b->name : "(none)");
  diff_json(d, "", a->config, b->config);
  size_t before = json_array_size(d->items);
  diff_files(d, a, b, &pa, &pb);
  image_packages_free(&pa);
  image_packages_free(&pb);
  bool files_differ = json_array_size(d->items) > before;
  diff_layers(d, a, b, files_differ);
  if (json_array_size(d->items) == 0 && strcmp(a->manifest_digest, b->manifest_digest) == 0)
    add(d, "archive", name_a, "the same image (manifest %s) in another archive: its member order, its headers, or "
                               "what else it carries (signatures, attestations)", a->manifest_digest);
  else if (json_array_size(d->items) == 0)
    add(d, "archive", name_a, "the same image in another archive (member order, headers or the manifest's bytes: "
                               "%s -> %s)",
        a->manifest_digest, b->manifest_digest);
  return 0;
}
