#include "lib/strmap.h"
#include "lib/alloc.h"

#include <stdint.h>
#include <string.h>

static uint64_t
hash_string(const char *s)
{
  uint64_t h = 1469598103934665603ULL;

  for (; *s; s++)
    h = (h ^ (unsigned char) *s) * 1099511628211ULL;
  return h;
}

/* The slot of `key`, or the empty one where it would go; cap is a power
 * of two and never full, so the probe ends. */
static struct strmap_slot *
find_slot(const struct strmap *m, const char *key)
{
  size_t i = (size_t) hash_string(key) & (m->cap - 1);

  while (m->slots[i].key && strcmp(m->slots[i].key, key) != 0)
    i = (i + 1) & (m->cap - 1);
  return &m->slots[i];
}

static void
grow(struct strmap *m)
{
  struct strmap bigger = { xcalloc(m->cap ? m->cap * 2 : 64, sizeof(struct strmap_slot)), m->cap ? m->cap * 2 : 64,
                           m->used };

  for (size_t i = 0; i < m->cap; i++)
    if (m->slots[i].key)
      *find_slot(&bigger, m->slots[i].key) = m->slots[i];
  free(m->slots);
  *m = bigger;
}

bool
strmap_get(const struct strmap *m, const char *key, size_t *value)
{
  if (m->cap == 0)
    return false;
  const struct strmap_slot *s = find_slot(m, key);
  if (s->key == NULL)
    return false;
  *value = s->value;
  return true;
}

bool
strmap_put(struct strmap *m, const char *key, size_t value, bool replace)
{
  if ((m->used + 1) * 2 > m->cap)
    grow(m);
  struct strmap_slot *s = find_slot(m, key);
  if (s->key) {
    if (replace)
      s->value = value;
    return false;
  }
  s->key = xstrdup(key);
  s->value = value;
  m->used++;
  return true;
}

void
strmap_free(struct strmap *m)
{
  for (size_t i = 0; i < m->cap; i++)
    free(m->slots[i].key);
  free(m->slots);
  memset(m, 0, sizeof *m);
}
