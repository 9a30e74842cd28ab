/* A map from strings to size_t values: open addressing with FNV-1a, keys
 * copied.  Entries are never removed; the map grows at 1/2 load. */
#ifndef DISTILL_STRMAP_H
#define DISTILL_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct strmap_slot {
  char *key; /* NULL: empty */
  size_t value;
};

struct strmap {
  struct strmap_slot *slots;
  size_t cap, used;
};

/* The value of `key` in `*value`; false when absent. */
bool strmap_get(const struct strmap *m, const char *key, size_t *value);
/* Set `key` to `value`, adding it when absent; returns false when it was
 * there already (its value then replaced only when `replace`). */
bool strmap_put(struct strmap *m, const char *key, size_t value, bool replace);
void strmap_free(struct strmap *m);

#endif
