/* An image on a base recipe (`from-recipe`): first the layers of the base
 * recipe's image, entry for entry as when it is built alone (so the same
 * diff_ids and blobs), then the recipe's own layers, holding only what the
 * base does not already have.  The recipe is planned whole on its own
 * (its closure, its accounts, its start check); an entry the base has
 * too is left to the base when it is the same, and refused when it would
 * change it.  The config (entrypoint, user, environment, ...) is the
 * recipe's own; the base gives files only. */
#include "plan/plan.h"
#include "lib/path.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(LAYER_MAX == RECIPE_MAX_LAYERS, "the recipe's bound on layers is the image's");

/* The recipes of the chain so far, by real path: a cycle is refused. */
struct chain {
  char *files[RECIPE_MAX_BASES + 1];
  size_t n;
};

static int plan_chain(const struct recipe *r, const char *platform, const struct sysroot *root, struct cache *cache,
                      struct chain *ch, struct plan *out, struct derror *err);

/* What a base may have that the recipe's own plan has otherwise: the
 * status of a package both take files of lists the files each has. */
static bool
replaceable(const struct rootfs_entry *e)
{
  return strncmp(e->path, "/var/lib/dpkg/status.d/", 23) == 0;
}

static bool
same_content(const struct rootfs_entry *a, const struct rootfs_entry *b)
{
  if (a->type != b->type || a->size != b->size)
    return false;
  switch (a->type) {
  case ROOTFS_FILE:
    if (a->source || b->source)
      return a->source && b->source && strcmp(a->source, b->source) == 0;
    return a->size == 0 || memcmp(a->data, b->data, a->size) == 0;
  case ROOTFS_SYMLINK:
  case ROOTFS_HARDLINK:
    return strcmp(a->target, b->target) == 0;
  case ROOTFS_DIR:
    return true;
  }
  return false;
}

/* An entry of the recipe's own plan at a path of the base's: 1 to leave
 * it to the base, 0 to add it above (it replaces the base's), -1 when it
 * would change the base. */
static int
against_base(const char *file, const char *base_file, const struct rootfs_entry *a, const struct rootfs_entry *b,
             struct derror *err)
{
  bool owner = a->mode == b->mode && a->uid == b->uid && a->gid == b->gid;

  if (a->type == ROOTFS_DIR && b->type == ROOTFS_DIR && (a->implicit || owner))
    return 1;
  if (owner && same_content(a, b))
    return 1;
  if (replaceable(a) && a->type == b->type)
    return 0;
  return derror_set(err, "%s: `%s` (from %s) would change what its base recipe %s puts there (from %s): a "
                    "recipe on a base cannot change a file of its base; change it in the base, or leave it out",
                    file, a->path, a->origin, base_file, b->origin);
}

/* A package's md5sums written again above the base's: every line of the
 * base's, then those of `e`'s that are new, so that it lists the files of
 * both. */
static void
md5sums_union(struct rootfs_entry *e, const struct rootfs_entry *b)
{
  struct buf u = { 0 };
  size_t len = strlen(e->path);

  if (len < 8 || strcmp(e->path + len - 8, ".md5sums") != 0 || !e->data || !b->data)
    return;
  buf_append(&u, b->data, b->size);
  for (const char *p = e->data, *end = e->data + e->size; p < end;) {
    const char *nl = memchr(p, '\n', (size_t) (end - p));
    size_t n = nl ? (size_t) (nl - p) + 1 : (size_t) (end - p);
    bool had = false;
    for (const char *q = b->data, *bend = b->data + b->size; q < bend && !had;) {
      const char *qnl = memchr(q, '\n', (size_t) (bend - q));
      size_t m = qnl ? (size_t) (qnl - q) + 1 : (size_t) (bend - q);
      had = m == n && memcmp(p, q, n) == 0;
      q += m;
    }
    if (!had)
      buf_append(&u, p, n);
    p += n;
  }
  free(e->data);
  e->data = u.data;
  e->size = u.len;
}

/* The recipe's own entries onto the base's image in `out`, their layers
 * after the base's. */
static int
add_own(const struct recipe *r, const struct recipe *base, const struct plan *own, struct plan *out,
        struct derror *err)
{
  size_t nb = out->fs.layers.n, n_base = out->fs.n;

  for (size_t i = 0; i < own->fs.n; i++) {
    const struct rootfs_entry *a = &own->fs.items[i], *b = rootfs_find_in(&out->fs, n_base, a->path);
    int keep = b ? against_base(r->file, base->file, a, b, err) : 0;
    if (keep < 0)
      return -1;
    if (keep > 0)
      continue;
    struct rootfs_entry *e = rootfs_add_copy(&out->fs, a, (rootfs_layer) (a->layer + nb));
    if (b)
      md5sums_union(e, b);
    /* a hardlink to a file the base has: the file itself, in this layer */
    const struct rootfs_entry *t = a->type == ROOTFS_HARDLINK ? rootfs_find_in(&out->fs, n_base, a->target) : NULL;
    if (t) {
      free(e->target);
      e->target = NULL;
      e->type = ROOTFS_FILE;
      e->source = t->source ? xstrdup(t->source) : NULL;
      e->size = t->size;
      if (t->data) {
        e->data = xmalloc(t->size ? t->size : 1);
        memcpy(e->data, t->data, t->size);
      }
    }
  }
  return 0;
}

static int
package_cmp(const void *x, const void *y)
{
  const struct dpkg_package *a = x, *b = y;
  int c = strcmp(a->name, b->name);

  return c ? c : strcmp(a->arch, b->arch);
}

static int
owned_cmp(const void *a, const void *b)
{
  return strcmp(((const struct dpkg_owned *) a)->path, ((const struct dpkg_owned *) b)->path);
}

/* The packages of both images: one of both holds the files of each. */
static void
packages_merge(struct dpkg_packages *into, struct dpkg_packages *from, rootfs_layer shift)
{
  size_t n = into->n;

  into->items = xreallocarray(into->items, into->n + from->n + 1, sizeof *into->items);
  for (size_t i = 0; i < from->n; i++) {
    struct dpkg_package *p = &from->items[i], *had = NULL;
    for (size_t k = 0; k < n && had == NULL; k++)
      if (package_cmp(&into->items[k], p) == 0)
        had = &into->items[k];
    if (had == NULL) {
      p->layer += shift;
      into->items[into->n++] = *p;
      memset(p, 0, sizeof *p);
      continue;
    }
    for (size_t j = 0; j < p->files.n; j++)
      if (!strv_contains(&had->files, p->files.items[j])) {
        strv_push(&had->files, p->files.items[j]);
        strv_push(&had->canonical, p->canonical.items[j]);
      }
  }
  qsort(into->items, into->n, sizeof *into->items, package_cmp);
  free(into->owned);
  into->n_owned = 0;
  for (size_t i = 0; i < into->n; i++)
    into->n_owned += into->items[i].files.n;
  into->owned = xcalloc(into->n_owned + 1, sizeof *into->owned);
  for (size_t i = 0, k = 0; i < into->n; i++)
    for (size_t j = 0; j < into->items[i].files.n; j++)
      into->owned[k++] = (struct dpkg_owned) { into->items[i].files.items[j], i };
  qsort(into->owned, into->n_owned, sizeof *into->owned, owned_cmp);
}

/* `out` holds the base's image: the recipe's own plan goes on it. */
static int
merge(const struct recipe *r, const struct recipe *base, struct plan *own, struct plan *out, struct derror *err)
{
  size_t nb = out->fs.layers.n, na = own->fs.layers.n;
  char *names[LAYER_MAX];

  if (nb + na > LAYER_MAX)
    return derror_set(err, "%s: %zu layers with those of its base recipe %s: at most %d", r->file, nb + na,
                      base->file, LAYER_MAX);
  if (strcmp(out->arch, own->arch) != 0)
    return derror_set(err, "%s: the image is for %s, but its base recipe %s is for %s", r->file, own->arch,
                      base->file, out->arch);
  if (add_own(r, base, own, out, err) < 0)
    return -1;
  rootfs_sort(&out->fs);
  for (size_t i = 0; i < nb; i++)
    names[i] = out->fs.layers.names[i];
  for (size_t i = 0; i < na; i++)
    names[nb + i] = own->fs.layers.names[i];
  struct rootfs_layers was = out->fs.layers;
  memset(&out->fs.layers, 0, sizeof out->fs.layers);
  rootfs_set_layers(&out->fs, names, nb + na);
  for (size_t i = 0; i < nb; i++)
    free(was.names[i]);
  out->fs.layers.base = (rootfs_layer) (own->fs.layers.base + nb);
  out->fs.layers.libraries = (rootfs_layer) (own->fs.layers.libraries + nb);
  out->fs.layers.app = (rootfs_layer) (own->fs.layers.app + nb);
  packages_merge(&out->packages, &own->packages, (rootfs_layer) nb);
  image_config_free(&out->config);
  out->config = own->config;
  memset(&own->config, 0, sizeof own->config);
  out->variant = own->variant;
  for (size_t i = 0; i < own->warnings.n; i++)
    strv_push(&out->warnings, own->warnings.items[i]);
  for (size_t i = 0; i < own->hints.n; i++)
    if (!strv_contains(&out->hints, own->hints.items[i]))
      strv_push(&out->hints, own->hints.items[i]);
  return 0;
}

/* The base's own sysroot: its image is the same as when it is built alone. */
static const char *
base_sysroot(const struct recipe *r, const struct recipe *base, const char *platform, struct derror *err)
{
  const char *want = platform ? platform : r->platform;

  if (base->platforms.n == 0)
    return base->sysroot;
  for (size_t i = 0; want && i < base->platforms.n; i++)
    if (strcmp(base->platforms.items[i].key, want) == 0)
      return base->platforms.items[i].value;
  derror_set(err, "%s: its `platforms` has no sysroot for %s", base->file, want ? want : "the host's platform");
  return NULL;
}

/* The image of `r` on its base recipe into `out`, the chain checked. */
static int
plan_on_base(const struct recipe *r, const char *platform, const struct sysroot *root, struct cache *cache,
             struct chain *ch, struct plan *out, struct derror *err)
{
  char real[PATH_MAX];
  struct recipe base;
  struct sysroot broot = { 0 };
  struct plan own;
  const char *sysroot;
  int ret = -1;

  memset(out, 0, sizeof *out);
  memset(&own, 0, sizeof own);
  if (realpath(r->from_recipe, real) == NULL)
    return derror_errno(err, errno, "%s:%u:%u: from-recipe: `%s`", r->file, r->from_recipe_pos.line,
                        r->from_recipe_pos.column, r->from_recipe);
  for (size_t i = 0; i < ch->n; i++)
    if (strcmp(ch->files[i], real) == 0) {
      struct buf b = { 0 };
      for (size_t k = 0; k < ch->n; k++)
        buf_printf(&b, "%s -> ", ch->files[k]);
      derror_set(err, "%s:%u:%u: from-recipe: `%s` makes a cycle of base recipes: %s%s", r->file,
                 r->from_recipe_pos.line, r->from_recipe_pos.column, r->from_recipe, b.data, real);
      buf_free(&b);
      return -1;
    }
  if (ch->n > RECIPE_MAX_BASES)
    return derror_set(err, "%s:%u:%u: from-recipe: more than %d base recipes, one on another", r->file,
                      r->from_recipe_pos.line, r->from_recipe_pos.column, RECIPE_MAX_BASES);
  if (recipe_load(r->from_recipe, &base, err) < 0)
    return derror_wrap(err, "%s: from-recipe", r->file);
  ch->files[ch->n++] = xstrdup(real);
  if ((sysroot = base_sysroot(r, &base, platform, err)) != NULL && sysroot_open(&broot, sysroot, err) == 0) {
    ret = plan_chain(&base, platform, &broot, cache, ch, out, err);
    sysroot_close(&broot);
  }
  if (ret == 0)
    ret = plan_recipe(r, platform, root, cache, &own, err);
  if (ret == 0)
    ret = merge(r, &base, &own, out, err);
  if (ret == 0)
    ret = plan_check_start(r, out, err);
  plan_free(&own);
  recipe_free(&base);
  return ret;
}

static int
plan_chain(const struct recipe *r, const char *platform, const struct sysroot *root, struct cache *cache,
           struct chain *ch, struct plan *out, struct derror *err)
{
  if (r->from_recipe == NULL)
    return plan_recipe(r, platform, root, cache, out, err);
  return plan_on_base(r, platform, root, cache, ch, out, err);
}

int
plan_build(const struct recipe *r, const char *platform, const struct sysroot *root, struct cache *cache,
           struct plan *out, struct derror *err)
{
  struct chain ch = { 0 };
  char real[PATH_MAX];
  int ret;

  if (r->from_recipe == NULL)
    return plan_recipe(r, platform, root, cache, out, err);
  ch.files[ch.n++] = xstrdup(realpath(r->file, real) ? real : r->file);
  ret = plan_chain(r, platform, root, cache, &ch, out, err);
  for (size_t i = 0; i < ch.n; i++)
    free(ch.files[i]);
  return ret;
}
