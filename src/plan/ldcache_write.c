/* Writing /etc/ld.so.cache in glibc's "new" format.
 *
 * What the format is and what glibc's loader expects of it, as read in
 * glibc's sysdeps/generic/dl-cache.h (layout), elf/dl-cache.c (the
 * loader's search_cache and _dl_cache_libcmp) and elf/cache.c (ldconfig's
 * save_cache, compare and the extension writer):
 *
 * File.  A header of 48 bytes, then nlibs entries of 24 bytes, then the
 * string table (len_strings bytes of NUL-terminated strings), then, at a
 * 4-aligned offset, the extension directory and its sections.  Every
 * string reference (entry key and value, the glibc-hwcaps section's
 * elements) is a byte offset from the start of the header, which is the
 * start of the file when there is no old-format table before it (the old
 * "ld.so-1.7.0" table is obsolete; ldconfig stopped writing it by default
 * in 2.32).  All integers are in the byte order of the target.
 *
 * Header.  0: the 20 bytes "glibc-ld.so.cache1.1" (no NUL); 20: u32
 * nlibs; 24: u32 len_strings; 28: one byte of flags whose low two bits
 * give the byte order (0 unknown, 1 "invalid, ignore this cache", 2
 * little, 3 big; the loader ignores a cache whose order is not its own
 * unless the byte is 0; other bits are zero); 29: three bytes of zero;
 * 32: u32 extension_offset (a multiple of 4; 0 means no extensions);
 * 36: twelve bytes of zero.
 *
 * Entry.  0: i32 flags (type in the low byte, 3 = ELF for glibc 2; the
 * architecture's ABI bits in the next byte, e.g. 0x0300 x86-64, so
 * 0x0303 for x86-64); 4: u32 key (the soname); 8: u32 value (the path);
 * 12: u32 "OS version", unused, zero; 16: u64 hwcap.  hwcap is 0 for an
 * ordinary entry.  An entry for a glibc-hwcaps subdirectory has bit 62
 * set, its low 32 bits the index of its subdirectory's name in the
 * glibc-hwcaps extension section, and bits 32..41 an x86 ISA level
 * (0 = baseline, which ldconfig records for libraries without an ISA
 * marker, and which any x86-64 CPU satisfies).  Entries whose hwcap has
 * any other bit set are the legacy hwcap mechanism, which loaders from
 * 2.37 skip.
 *
 * Order.  The loader binary-searches the entries by key with its own
 * comparison, in which a run of decimal digits in both strings compares
 * as a number (so libfoo.so.9 < libfoo.so.10, and "01" equals "1"), a
 * digit run is greater than any other character, the end of a string is
 * less than anything, and other characters compare by their `char`
 * value.  The table is sorted by that comparison in DESCENDING order
 * (ldconfig's comparison swaps its operands; the loader moves right when
 * the name it looks for is smaller).  Once it hits an equal key it walks
 * back to the first of the run of equal keys and scans forward: entries
 * whose flags are not acceptable to the architecture are skipped; among
 * glibc-hwcaps entries (whose subdirectory the CPU supports) it keeps the
 * one of the best priority; at an acceptable ordinary entry it stops,
 * returning the best glibc-hwcaps entry seen if any, else this entry
 * (where two flags values are acceptable, as ARM's 0x0903 and 0x0003,
 * the first one listed wins).  So within equal keys ldconfig orders:
 * flags descending, then glibc-hwcaps entries before ordinary ones, the
 * former by their subdirectory name (strcmp).
 *
 * Extensions.  At extension_offset: u32 magic 0xeaa42174 (the u32 of
 * -358342284), u32 count, then count sections of four u32: tag, flags
 * (0), offset (from the start of the file), size.  Tag 0 holds the bytes
 * of a "generator" text shown by ldconfig -p; tag 1 is glibc-hwcaps: an
 * array of u32 string offsets of the subdirectory names, sorted by
 * strcmp, without repeats (the loader merges it with its own sorted list
 * of supported names), 4-aligned, size a multiple of 4 and not 0 (else
 * the loader ignores it).  Sections with unknown tags are ignored.
 * ldconfig places the directory after the strings, then the glibc-hwcaps
 * array, then the generator text.
 *
 * What is written here: that layout, little- or big-endian; strings
 * shared where one is the tail of another (a soname is usually the tail
 * of its path), in an order that depends only on the set of strings; a
 * generator section holding the constant "distill"; ISA level 0 in
 * glibc-hwcaps entries (the loader's own list of supported
 * subdirectories already leaves out those the CPU cannot run). */
#include "plan/ldcache_write.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "glibc-ld.so.cache1.1"
#define MAGIC_LEN 20
#define HEADER_SIZE 48
#define ENTRY_SIZE 24
#define ORDER_LITTLE 2
#define ORDER_BIG 3
#define EXT_MAGIC 0xeaa42174u
#define EXT_TAG_GENERATOR 0
#define EXT_TAG_HWCAPS 1
#define EXT_DIR_SIZE 8
#define EXT_SECTION_SIZE 16
#define HWCAP_EXTENSION (UINT64_C(1) << 62)
#define FLAG_TYPE_MASK 0x00ff
#define FLAG_ELF_LIBC6 0x0003
#define GENERATOR "distill"

static bool
is_digit(char c)
{
  return c >= '0' && c <= '9';
}

/* The loader's comparison of keys (for keys that passed check_key: ASCII,
 * digit runs within int).  Numbers compare by value: without their
 * leading zeros, the longer is greater, else the digits decide. */
static int
key_cmp(const char *a, const char *b)
{
  for (;;) {
    if (is_digit(*a) && is_digit(*b)) {
      while (*a == '0')
        a++;
      while (*b == '0')
        b++;
      size_t la = 0, lb = 0;
      while (is_digit(a[la]))
        la++;
      while (is_digit(b[lb]))
        lb++;
      if (la != lb)
        return la < lb ? -1 : 1;
      int c = memcmp(a, b, la);
      if (c != 0)
        return c;
      a += la;
      b += lb;
    } else if (is_digit(*a)) {
      return 1;
    } else if (is_digit(*b)) {
      return -1;
    } else if (*a != *b) {
      return (unsigned char) *a < (unsigned char) *b ? -1 : 1;
    } else if (*a == '\0') {
      return 0;
    } else {
      a++;
      b++;
    }
  }
}

/* The order of the table: keys descending, then flags descending, then
 * glibc-hwcaps entries (by name) before the ordinary one.  0 only for
 * entries the loader cannot tell apart. */
static int
entry_cmp(const struct ldcache_entry *a, const struct ldcache_entry *b)
{
  int c = key_cmp(b->key, a->key);
  if (c != 0)
    return c;
  if (a->flags != b->flags)
    return a->flags > b->flags ? -1 : 1;
  if ((a->hwcaps == NULL) != (b->hwcaps == NULL))
    return a->hwcaps != NULL ? -1 : 1;
  return a->hwcaps != NULL ? strcmp(a->hwcaps, b->hwcaps) : 0;
}

/* entry_cmp made total, so that the sorted order (and the entry named by
 * an error) does not depend on the input's. */
static int
entry_sort_cmp(const void *pa, const void *pb)
{
  const struct ldcache_entry *a = *(const struct ldcache_entry *const *) pa;
  const struct ldcache_entry *b = *(const struct ldcache_entry *const *) pb;
  int c = entry_cmp(a, b);
  if (c == 0)
    c = strcmp(a->key, b->key);
  if (c == 0)
    c = strcmp(a->value, b->value);
  return c;
}

static int
check_key(const char *key, struct derror *err)
{
  if (key == NULL || *key == '\0')
    return derror_set(err, "ld.so.cache entry without a soname");
  for (const char *p = key; *p; p++) {
    if ((unsigned char) *p >= 0x80)
      return derror_set(err, "`%s`: soname with a byte outside ASCII, which glibc's loaders order differently by "
                        "architecture", key);
    if (!is_digit(*p))
      continue;
    while (*p == '0' && is_digit(p[1]))
      p++;
    size_t len = 0;
    while (is_digit(p[len]))
      len++;
    if (len > 10 || (len == 10 && memcmp(p, "2147483647", 10) > 0))
      return derror_set(err, "`%s`: soname with a number above what the loader compares", key);
    p += len - 1;
  }
  return 0;
}

static int
check_entry(const struct ldcache_entry *e, struct derror *err)
{
  if (check_key(e->key, err) < 0)
    return -1;
  if (e->value == NULL || e->value[0] != '/')
    return derror_set(err, "`%s`: ld.so.cache path `%s` is not absolute", e->key, e->value ? e->value : "");
  if ((e->flags & FLAG_TYPE_MASK) != FLAG_ELF_LIBC6 || e->flags < 0 || e->flags > 0xffff)
    return derror_set(err, "`%s`: ld.so.cache flags %#x are not those of a glibc library", e->key,
                      (unsigned) e->flags);
  if (e->hwcaps && (*e->hwcaps == '\0' || strchr(e->hwcaps, '/')))
    return derror_set(err, "`%s`: `%s` is not a glibc-hwcaps subdirectory name", e->key, e->hwcaps);
  return 0;
}

/* ---- the string table --------------------------------------------------- */

struct str {
  const char *s;
  size_t len;
  uint32_t off; /* from the start of the file */
};

/* Strings by their reversed bytes, descending: a string that is the tail
 * of others comes right after them, and repeats are adjacent. */
static int
str_tail_cmp(const void *pa, const void *pb)
{
  const struct str *a = *(const struct str *const *) pa;
  const struct str *b = *(const struct str *const *) pb;
  size_t n = a->len < b->len ? a->len : b->len;
  for (size_t i = 1; i <= n; i++) {
    unsigned char ca = (unsigned char) a->s[a->len - i], cb = (unsigned char) b->s[b->len - i];
    if (ca != cb)
      return ca < cb ? 1 : -1;
  }
  if (a->len != b->len)
    return a->len < b->len ? 1 : -1;
  return 0;
}

/* Lay out the strings from offset `base`, sharing tails; fills each
 * off.  Returns the table's size. */
static size_t
strings_layout(struct str *strs, size_t n, uint32_t base, struct buf *table)
{
  struct str **order = xreallocarray(NULL, n ? n : 1, sizeof *order);
  for (size_t i = 0; i < n; i++)
    order[i] = &strs[i];
  qsort(order, n, sizeof *order, str_tail_cmp);
  const struct str *host = NULL;
  for (size_t i = 0; i < n; i++) {
    struct str *s = order[i];
    if (host && host->len >= s->len && memcmp(host->s + host->len - s->len, s->s, s->len) == 0) {
      s->off = host->off + (uint32_t) (host->len - s->len);
      continue;
    }
    s->off = base + (uint32_t) table->len;
    buf_append(table, s->s, s->len + 1);
    host = s;
  }
  free(order);
  return table->len;
}

/* ---- output ---------------------------------------------------------------- */

/* `v` as `n` bytes (4 or 8) in the byte order of the cache's reader. */
static void
put_uint(struct buf *b, uint64_t v, int n, bool big)
{
  unsigned char p[8];
  for (int i = 0; i < n; i++)
    p[big ? n - 1 - i : i] = (unsigned char) (v >> (8 * i));
  buf_append(b, p, (size_t) n);
}

static void
put32(struct buf *b, uint32_t v, bool big)
{
  put_uint(b, v, 4, big);
}

static void
put64(struct buf *b, uint64_t v, bool big)
{
  put_uint(b, v, 8, big);
}

static void
put_zeros(struct buf *b, size_t n)
{
  static const char zeros[16];
  while (n > 0) {
    size_t k = n < sizeof zeros ? n : sizeof zeros;
    buf_append(b, zeros, k);
    n -= k;
  }
}

static int
name_cmp(const void *pa, const void *pb)
{
  return strcmp(*(const char *const *) pa, *(const char *const *) pb);
}

/* The index of `name` in the sorted, unique `names`. */
static uint32_t
name_index(const char *const *names, size_t n, const char *name)
{
  const char *const *p = bsearch(&name, names, n, sizeof *names, name_cmp);
  return (uint32_t) (p - names);
}

/* Refuse what the loader could not tell apart: one key+flags+hwcaps
 * twice, or two spellings of one key ("libfoo.so.1", "libfoo.so.01"),
 * whose runs of entries would mix.  `sorted` is in table order. */
static int
check_repeats(const struct ldcache_entry *const *sorted, size_t n, struct derror *err)
{
  for (size_t i = 1; i < n; i++) {
    const struct ldcache_entry *a = sorted[i - 1], *b = sorted[i];
    if (key_cmp(a->key, b->key) == 0 && strcmp(a->key, b->key) != 0)
      return derror_set(err, "ld.so.cache: sonames `%s` and `%s` are the same name to the loader", a->key, b->key);
    if (entry_cmp(a, b) == 0)
      return derror_set(err, "ld.so.cache: `%s` (flags %#x%s%s) listed twice, as `%s` and `%s`", a->key,
                        (unsigned) a->flags, a->hwcaps ? ", glibc-hwcaps " : "", a->hwcaps ? a->hwcaps : "",
                        a->value, b->value);
  }
  return 0;
}

/* Write the file of the checked, sorted entries and the sorted, unique
 * subdirectory names to `file`. */
static void
write_cache(const struct ldcache_entry *const *sorted, size_t n, const char *const *hwcaps, size_t nhw, bool big,
            struct buf *file)
{
  cleanup_free struct str *strs = xreallocarray(NULL, 2 * n + nhw + 1, sizeof *strs);
  struct buf table = { 0 };
  size_t nstrs = 0;

  /* Strings: key and value of each entry in table order, then the
   * subdirectory names. */
  for (size_t i = 0; i < n; i++) {
    strs[nstrs++] = (struct str) { sorted[i]->key, strlen(sorted[i]->key), 0 };
    strs[nstrs++] = (struct str) { sorted[i]->value, strlen(sorted[i]->value), 0 };
  }
  for (size_t i = 0; i < nhw; i++)
    strs[nstrs++] = (struct str) { hwcaps[i], strlen(hwcaps[i]), 0 };
  uint32_t strings_at = HEADER_SIZE + (uint32_t) n * ENTRY_SIZE;
  size_t len_strings = strings_layout(strs, nstrs, strings_at, &table);

  uint32_t nsections = nhw ? 2 : 1;
  uint32_t ext_at = (uint32_t) ((strings_at + len_strings + 3) & ~(size_t) 3);
  uint32_t hwcaps_at = ext_at + EXT_DIR_SIZE + nsections * EXT_SECTION_SIZE;
  uint32_t generator_at = hwcaps_at + 4 * (uint32_t) nhw;

  buf_append(file, MAGIC, MAGIC_LEN);
  put32(file, (uint32_t) n, big);
  put32(file, (uint32_t) len_strings, big);
  unsigned char order[4] = { big ? ORDER_BIG : ORDER_LITTLE, 0, 0, 0 };
  buf_append(file, order, sizeof order);
  put32(file, ext_at, big);
  put_zeros(file, 12);

  for (size_t i = 0; i < n; i++) {
    const struct ldcache_entry *e = sorted[i];
    uint64_t hwcap = e->hwcaps ? HWCAP_EXTENSION | name_index(hwcaps, nhw, e->hwcaps) : 0;
    put32(file, (uint32_t) e->flags, big);
    put32(file, strs[2 * i].off, big);
    put32(file, strs[2 * i + 1].off, big);
    put32(file, 0, big);
    put64(file, hwcap, big);
  }
  buf_append(file, table.data, table.len);
  buf_free(&table);
  put_zeros(file, ext_at - file->len);

  put32(file, EXT_MAGIC, big);
  put32(file, nsections, big);
  put32(file, EXT_TAG_GENERATOR, big);
  put32(file, 0, big);
  put32(file, generator_at, big);
  put32(file, (uint32_t) strlen(GENERATOR), big);
  if (nhw) {
    put32(file, EXT_TAG_HWCAPS, big);
    put32(file, 0, big);
    put32(file, hwcaps_at, big);
    put32(file, 4 * (uint32_t) nhw, big);
  }
  for (size_t i = 0; i < nhw; i++)
    put32(file, strs[2 * n + i].off, big);
  buf_append(file, GENERATOR, strlen(GENERATOR));
}

int
ldcache_build(const struct ldcache_entry *entries, size_t n, bool big_endian, struct buf *out,
              struct derror *err)
{
  if (n > (size_t) INT_MAX / ENTRY_SIZE)
    return derror_set(err, "ld.so.cache: %zu entries are too many", n);
  uint64_t total = HEADER_SIZE + 3 + EXT_DIR_SIZE + 2 * EXT_SECTION_SIZE + strlen(GENERATOR);
  for (size_t i = 0; i < n; i++) {
    if (check_entry(&entries[i], err) < 0)
      return -1;
    total += ENTRY_SIZE + strlen(entries[i].key) + 1 + strlen(entries[i].value) + 1;
    if (entries[i].hwcaps)
      total += 4 + strlen(entries[i].hwcaps) + 1;
  }
  if (total > UINT32_MAX)
    return derror_set(err, "ld.so.cache: the entries do not fit in 4 GiB");

  cleanup_free const struct ldcache_entry **sorted = xreallocarray(NULL, n ? n : 1, sizeof *sorted);
  for (size_t i = 0; i < n; i++)
    sorted[i] = &entries[i];
  qsort(sorted, n, sizeof *sorted, entry_sort_cmp);
  if (check_repeats(sorted, n, err) < 0)
    return -1;

  /* The glibc-hwcaps subdirectories, sorted, once each. */
  cleanup_free const char **hwcaps = xreallocarray(NULL, n ? n : 1, sizeof *hwcaps);
  size_t nhw = 0;
  for (size_t i = 0; i < n; i++)
    if (entries[i].hwcaps)
      hwcaps[nhw++] = entries[i].hwcaps;
  qsort(hwcaps, nhw, sizeof *hwcaps, name_cmp);
  size_t uniq = 0;
  for (size_t i = 0; i < nhw; i++)
    if (uniq == 0 || strcmp(hwcaps[uniq - 1], hwcaps[i]) != 0)
      hwcaps[uniq++] = hwcaps[i];

  struct buf file = { 0 };
  write_cache(sorted, n, hwcaps, uniq, big_endian, &file);
  buf_append(out, file.data, file.len);
  buf_free(&file);
  return 0;
}
