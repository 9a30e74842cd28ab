/* The merged tree: the history applied layer by layer, whiteouts and
 * hardlinks as a runtime applies them, into the names of img->files. */
#include "image/reader.h"
#include "image/image.h"
#include "lib/alloc.h"
#include "lib/error.h"

#include <stdlib.h>
#include <string.h>

/* A set of the numbers below n with insert, remove and find-next in
 * O(log n): words of bits, and above each level words saying which words
 * of the level below are not empty. */
#define BITS_LEVELS 12
struct bits {
  uint64_t *level[BITS_LEVELS];
  size_t words[BITS_LEVELS];
  size_t n_levels;
};

static void
bits_init(struct bits *b, size_t n)
{
  memset(b, 0, sizeof *b);
  do {
    n = (n + 63) / 64;
    b->words[b->n_levels] = n ? n : 1;
    b->level[b->n_levels] = xcalloc(b->words[b->n_levels], sizeof(uint64_t));
    b->n_levels++;
  } while (n > 1);
}

static void
bits_free(struct bits *b)
{
  for (size_t l = 0; l < b->n_levels; l++)
    free(b->level[l]);
}

static bool
bits_has(const struct bits *b, size_t i)
{
  return (b->level[0][i >> 6] >> (i & 63)) & 1;
}

static void
bits_add(struct bits *b, size_t i)
{
  for (size_t l = 0; l < b->n_levels; l++, i >>= 6) {
    uint64_t *w = &b->level[l][i >> 6];
    bool was_empty = *w == 0;
    *w |= 1ull << (i & 63);
    if (!was_empty)
      return;
  }
}

static void
bits_del(struct bits *b, size_t i)
{
  for (size_t l = 0; l < b->n_levels; l++, i >>= 6) {
    uint64_t *w = &b->level[l][i >> 6];
    *w &= ~(1ull << (i & 63));
    if (*w)
      return;
  }
}

/* The first member >= i, or NONE: up while the words are empty, then down
 * along the first bits set. */
static size_t
bits_next(const struct bits *b, size_t i)
{
  size_t l = 0;

  for (;;) {
    if (l == b->n_levels || (i >> 6) >= b->words[l])
      return NONE;
    uint64_t w = b->level[l][i >> 6] & (~0ull << (i & 63));
    if (w) {
      i = (i & ~(size_t) 63) | (size_t) __builtin_ctzll(w);
      break;
    }
    i = (i >> 6) + 1;
    l++;
  }
  while (l-- > 0)
    i = (i << 6) | (size_t) __builtin_ctzll(b->level[l][i]);
  return i;
}

/* What is at a name of the tree: history indexes of the entry that wrote
 * the name and of the one whose inode it is (itself, or for a hardlink the
 * entry its target was when the link was applied). */
struct slot {
  size_t name, inode;
};

/* The tree while the history is applied.  Every name of the history is
 * sorted once (its rank), so that the names below "/a" are one range of
 * ranks, from "/a/" up to "/a0" ('0' follows '/').  `live` holds the ranks
 * now in the tree and `lower` those of them written by layers below the one
 * being applied: whiteouts apply only to lower layers, so they walk `lower`
 * alone and never even visit an entry of their own layer.  Removing a name
 * and what is below it costs O(log n) and O(1) per entry removed. */
struct tree {
  struct image *img;
  const char *archive; /* NULL: a described image, whose links are not checked */
  const char **names;  /* by rank */
  size_t n;
  size_t *rank;        /* by history index */
  struct slot *slots;  /* by rank */
  struct bits live, lower;
  size_t *fresh;       /* ranks written by the layer being applied */
  size_t n_fresh;
  int layer;
};

static int
by_path(const void *a, const void *b, void *data)
{
  const struct image_file *h = data;
  return strcmp(h[*(const size_t *) a].path, h[*(const size_t *) b].path);
}

static void
tree_init(struct tree *t, struct image *img, const char *archive)
{
  size_t n = img->n_history;
  cleanup_free size_t *order = xcalloc(n ? n : 1, sizeof *order);

  memset(t, 0, sizeof *t);
  t->img = img;
  t->archive = archive;
  t->layer = -1;
  t->names = xcalloc(n ? n : 1, sizeof *t->names);
  t->rank = xcalloc(n ? n : 1, sizeof *t->rank);
  t->fresh = xcalloc(n ? n : 1, sizeof *t->fresh);
  for (size_t i = 0; i < n; i++)
    order[i] = i;
  qsort_r(order, n, sizeof *order, by_path, img->history);
  for (size_t i = 0; i < n; i++) {
    const char *p = img->history[order[i]].path;
    if (t->n == 0 || strcmp(t->names[t->n - 1], p) != 0)
      t->names[t->n++] = p;
    t->rank[order[i]] = t->n - 1;
  }
  t->slots = xcalloc(t->n ? t->n : 1, sizeof *t->slots);
  bits_init(&t->live, t->n);
  bits_init(&t->lower, t->n);
}

static void
tree_free(struct tree *t)
{
  free(t->names);
  free(t->rank);
  free(t->slots);
  free(t->fresh);
  bits_free(&t->live);
  bits_free(&t->lower);
}

/* The first rank whose name is not below `p` (len bytes) followed by `c`. */
static size_t
bound(const struct tree *t, const char *p, size_t len, char c)
{
  size_t lo = 0, hi = t->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const char *s = t->names[mid];
    int r = strncmp(s, p, len);
    if (r == 0)
      r = (unsigned char) s[len] < (unsigned char) c ? -1 : 0;
    if (r < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static size_t
find_name(const struct tree *t, const char *p)
{
  size_t len = strlen(p), r = bound(t, p, len, '\0');
  return r < t->n && strcmp(t->names[r], p) == 0 ? r : NONE;
}

/* Remove from the tree the members of `set` named below `p` (len bytes). */
static void
remove_below(struct tree *t, struct bits *set, const char *p, size_t len)
{
  size_t lo = 0, hi = t->n;

  if (len > 1) { /* else the root: everything */
    lo = bound(t, p, len, '/');
    hi = bound(t, p, len, '0');
  }
  for (size_t i = bits_next(set, lo); i < hi; i = bits_next(set, i + 1)) {
    bits_del(&t->live, i);
    bits_del(&t->lower, i);
  }
}

/* The entries of the layer just applied are lower for the next one. */
static void
next_layer(struct tree *t, int layer)
{
  for (size_t i = 0; i < t->n_fresh; i++)
    if (bits_has(&t->live, t->fresh[i]))
      bits_add(&t->lower, t->fresh[i]);
  t->n_fresh = 0;
  t->layer = layer;
}

/* ".wh.NAME" removes NAME and ".wh..wh..opq" what its directory held, as
 * lower layers wrote them: an entry of the whiteout's own layer stays,
 * before or after it in the tar (OCI image spec, as umoci applies it). */
static void
apply_whiteout(struct tree *t, const struct image_file *e)
{
  const char *base = strrchr(e->path, '/') + 1, *name = base + 4;
  size_t dir = (size_t) (base - e->path); /* with its '/' */

  if (strcmp(name, ".wh..opq") == 0) {
    remove_below(t, &t->lower, e->path, dir > 1 ? dir - 1 : 1);
    return;
  }
  /* ".wh..wh.*" is reserved; ".wh.", ".wh.." and ".wh..." name nothing */
  if (strncmp(name, ".wh.", 4) == 0 || *name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return;
  cleanup_free char *gone = xasprintf("%.*s%s", (int) dir, e->path, name);
  size_t r = find_name(t, gone);
  if (r != NONE && bits_has(&t->lower, r)) {
    bits_del(&t->live, r);
    bits_del(&t->lower, r);
  }
  remove_below(t, &t->lower, gone, strlen(gone));
}

/* The inode a hardlink names: its target as the tree has it now, in the
 * link's layer or below (a later entry of its layer is not there yet). */
static int
link_inode(const struct tree *t, const struct image_file *e, size_t *inode, struct derror *err)
{
  size_t r = e->target ? find_name(t, e->target) : NONE;

  if (r == NONE || !bits_has(&t->live, r)) {
    if (t->archive == NULL)
      return 0;
    return derror_set(err, "`%s`: layer %d: hardlink `%s` names `%s`, which is not in the image (in its layer or "
                           "below, before the link)", t->archive, e->layer + 1, e->path, e->target ? e->target : "");
  }
  size_t target = t->slots[r].inode;
  if (t->img->history[target].type == 'd') {
    if (t->archive == NULL)
      return 0;
    return derror_set(err, "`%s`: layer %d: hardlink `%s` names the directory `%s`", t->archive, e->layer + 1,
                      e->path, e->target);
  }
  *inode = target;
  return 0;
}

static int
apply_entry(struct tree *t, size_t h, struct derror *err)
{
  const struct image_file *e = &t->img->history[h];
  const char *base = strrchr(e->path, '/') + 1;
  size_t r = t->rank[h], inode = h;

  if (e->layer != t->layer)
    next_layer(t, e->layer);
  if (strncmp(base, ".wh.", 4) == 0) {
    apply_whiteout(t, e);
    return 0;
  }
  if (e->type == 'h' && link_inode(t, e, &inode, err) < 0)
    return -1;
  if (bits_has(&t->live, r)) {
    /* a directory stays a directory with its children; anything else
     * replaces the old entry, and a directory's children with it */
    if (!(t->img->history[t->slots[r].inode].type == 'd' && t->img->history[inode].type == 'd'))
      remove_below(t, &t->live, e->path, strlen(e->path));
    bits_del(&t->lower, r);
  }
  t->slots[r] = (struct slot) { h, inode };
  bits_add(&t->live, r);
  t->fresh[t->n_fresh++] = r;
  return 0;
}

/* The tree, in the order of the ranks: sorted by path. */
static void
tree_files(struct tree *t)
{
  struct image *img = t->img;
  size_t n = 0;

  for (size_t r = bits_next(&t->live, 0); r != NONE; r = bits_next(&t->live, r + 1))
    n++;
  img->files = xcalloc(n ? n : 1, sizeof *img->files);
  img->n_files = 0;
  for (size_t r = bits_next(&t->live, 0); r != NONE; r = bits_next(&t->live, r + 1)) {
    const struct slot *s = &t->slots[r];
    struct image_file *f = &img->files[img->n_files++];
    *f = img->history[s->inode];
    f->path = img->history[s->name].path;
    f->layer = img->history[s->name].layer;
    f->src = s->inode;
  }
}

int
tree_merge(struct image *img, const char *archive, struct derror *err)
{
  __attribute__((cleanup(tree_free))) struct tree t;

  tree_init(&t, img, archive);
  for (size_t i = 0; i < img->n_history; i++)
    if (apply_entry(&t, i, err) < 0)
      return -1;
  tree_files(&t);
  return 0;
}

void
image_merge(struct image *img)
{
  tree_merge(img, NULL, NULL);
}
