/* The layers of an image's entry table by name, and copies of entries
 * from one table into another (an image made on a base recipe's). */
#include "plan/rootfs.h"

#include <stdlib.h>
#include <string.h>

static const char *const builtin[] = { "base", "libraries", "app" };

static rootfs_layer
index_of(const struct rootfs_layers *l, const char *name)
{
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->names[i], name) == 0)
      return (rootfs_layer) i;
  return 0;
}

void
rootfs_set_layers(struct rootfs *fs, char *const *names, size_t n)
{
  struct rootfs_layers *l = &fs->layers;

  for (size_t i = 0; i < l->n; i++)
    free(l->names[i]);
  memset(l, 0, sizeof *l);
  if (names == NULL) {
    names = (char *const *) builtin;
    n = sizeof builtin / sizeof *builtin;
  }
  for (size_t i = 0; i < n && i < LAYER_MAX; i++)
    l->names[l->n++] = xstrdup(names[i]);
  l->base = index_of(l, "base");
  l->libraries = index_of(l, "libraries");
  l->app = index_of(l, "app");
}

struct rootfs_entry *
rootfs_add_copy(struct rootfs *fs, const struct rootfs_entry *e, rootfs_layer layer)
{
  if (fs->n == fs->cap) {
    fs->cap = fs->cap ? fs->cap * 2 : 64;
    fs->items = xreallocarray(fs->items, fs->cap, sizeof(*fs->items));
  }
  struct rootfs_entry *c = &fs->items[fs->n++];
  *c = *e;
  c->layer = layer;
  c->path = xstrdup(e->path);
  c->source = e->source ? xstrdup(e->source) : NULL;
  c->target = e->target ? xstrdup(e->target) : NULL;
  c->origin = xstrdup(e->origin);
  if (e->data) {
    c->data = xmalloc(e->size ? e->size : 1);
    memcpy(c->data, e->data, e->size);
  }
  return c;
}

static int
path_cmp(const void *a, const void *b)
{
  return strcmp(((const struct rootfs_entry *) a)->path, ((const struct rootfs_entry *) b)->path);
}

void
rootfs_sort(struct rootfs *fs)
{
  if (fs->n)
    qsort(fs->items, fs->n, sizeof *fs->items, path_cmp);
}
