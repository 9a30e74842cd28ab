#include "plan/ldconfig.h"
#include "lib/file.h"
#include "lib/path.h"
#include "lib/strmap.h"

#include <elf.h>
#include <fcntl.h>
#include <stdbool.h>
#include <glob.h>
#include <string.h>
#include <sys/stat.h>

#define CACHE_MAX_BYTES (64u * 1024 * 1024)
#define CONF_MAX_BYTES (1024 * 1024)
/* ld.so.conf files include each other; bound the depth against loops. */
#define CONF_MAX_DEPTH 8
/* Files that include each other's globs fan out: a few dozen nested a few
 * deep are billions of reads.  Each file is read once, and the whole walk
 * is bounded: files read, their bytes, and glob matches followed (repeats
 * included), far above any real system's few dozen. */
#define CONF_MAX_FILES 4096
#define CONF_MAX_TOTAL_BYTES (16u * 1024 * 1024)
#define CONF_MAX_INCLUDED 65536

/* The layout of glibc's dl-cache.h, "new" format (glibc 2.32+ writes only
 * this one): a 48-byte header, then 24-byte entries whose string indices
 * count from the start of the new header. */
#define CACHE_MAGIC_NEW "glibc-ld.so.cache1.1"
#define CACHE_MAGIC_OLD "ld.so-1.7.0"
#define CACHE_HEADER_SIZE 48
#define CACHE_ENTRY_SIZE 24
#define CACHE_OLD_ENTRY_SIZE 12
#define FLAG_ELF_LIBC6 0x0003

static uint32_t
rd32(const char *p)
{
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

static uint64_t
rd64(const char *p)
{
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* Where the new-format table starts: at 0, or after an old table (the
 * compatibility layout of glibc 2.3 to 2.31), aligned to 8 bytes. */
static int
find_new_table(const char *d, size_t size, size_t *start)
{
  if (size >= CACHE_HEADER_SIZE && memcmp(d, CACHE_MAGIC_NEW, 20) == 0) {
    *start = 0;
    return 1;
  }
  if (size < 11 || memcmp(d, CACHE_MAGIC_OLD, 11) != 0)
    return -1;
  if (size < 16)
    return 0;
  uint64_t n = rd32(d + 12);
  uint64_t off = (16 + n * CACHE_OLD_ENTRY_SIZE + 7) & ~(uint64_t) 7;
  if (off + CACHE_HEADER_SIZE > size || memcmp(d + off, CACHE_MAGIC_NEW, 20) != 0)
    return 0;
  *start = (size_t) off;
  return 1;
}

int
ldcache_load(const struct view *v, struct ldcache *cache, struct derror *err)
{
  cleanup_free char *resolved = NULL;
  struct view_node node;
  struct buf b = { 0 };
  size_t start;

  memset(cache, 0, sizeof *cache);
  int r = view_resolve(v, "/etc/ld.so.cache", true, NULL, NULL, NULL, &resolved, &node, err);
  if (r < 0 && derror_is(err, DERROR_NOT_FOUND))
    derror_clear(err);
  else if (r < 0)
    return -1;
  if (r < 0 || node.type != VIEW_FILE)
    return 0;
  if (view_read(&node, "/etc/ld.so.cache", CACHE_MAX_BYTES, &b, err) < 0)
    return -1;
  int found = find_new_table(b.data, b.len, &start);
  if (found <= 0) {
    buf_free(&b);
    if (found == 0)
      return 0;
    return derror_set(err, "`/etc/ld.so.cache`: not an ld.so cache");
  }
  const char *h = b.data + start;
  uint64_t nlibs = rd32(h + 20);
  /* flags & 3 == 1 marks a cache ldconfig declared invalid */
  if ((h[28] & 3) == 1 || (b.len - start - CACHE_HEADER_SIZE) / CACHE_ENTRY_SIZE < nlibs) {
    buf_free(&b);
    return derror_set(err, "`/etc/ld.so.cache`: truncated or invalid");
  }
  cache->data = b.data + start;
  cache->size = b.len - start;
  cache->nlibs = (uint32_t) nlibs;
  cache->entries = CACHE_HEADER_SIZE;
  /* keep the allocation: data points into it at `start` */
  if (start != 0) {
    char *copy = xmalloc(cache->size);
    memcpy(copy, cache->data, cache->size);
    buf_free(&b);
    cache->data = copy;
  }
  return 1;
}

void
ldcache_free(struct ldcache *cache)
{
  free(cache->data);
  memset(cache, 0, sizeof *cache);
}

static const char *
cache_string(const struct ldcache *cache, uint32_t off)
{
  if (off >= cache->size || memchr(cache->data + off, '\0', cache->size - off) == NULL)
    return NULL;
  return cache->data + off;
}

const char *
ldcache_lookup(const struct ldcache *cache, const char *name, int32_t flags)
{
  for (uint32_t i = 0; i < cache->nlibs; i++) {
    const char *e = cache->data + cache->entries + (size_t) i * CACHE_ENTRY_SIZE;
    int32_t eflags = (int32_t) rd32(e);
    if (eflags != flags || rd64(e + 16) != 0)
      continue;
    const char *key = cache_string(cache, rd32(e + 4));
    if (key && strcmp(key, name) == 0)
      return cache_string(cache, rd32(e + 8));
  }
  return NULL;
}

/* The ELF header's float ABI bits (EF_ARM_ABI_FLOAT_HARD, EF_RISCV_FLOAT_ABI). */
#define ARM_ABI_FLOAT_HARD 0x400
#define RISCV_FLOAT_ABI_MASK 0x6
#define RISCV_FLOAT_ABI_DOUBLE 0x4

int32_t
ldcache_flags(const struct elf_info *elf)
{
  /* FLAG_ELF_LIBC6 with the bits the loader of that ABI requires
   * (_DL_CACHE_DEFAULT_ID): the class decides for x86-64/x32, s390 and
   * powerpc; the header's float ABI for ARM and RISC-V. */
  bool is64 = elf->elf_class == ELFCLASS64;

  switch (elf->machine) {
  case EM_X86_64:
    return FLAG_ELF_LIBC6 | (is64 ? 0x0300 : 0x0800);
  case EM_386:
    return FLAG_ELF_LIBC6;
  case EM_AARCH64:
    return FLAG_ELF_LIBC6 | 0x0a00;
  case EM_ARM:
    return FLAG_ELF_LIBC6 | ((elf->e_flags & ARM_ABI_FLOAT_HARD) ? 0x0900 : 0x0b00);
  case EM_PPC64:
    return FLAG_ELF_LIBC6 | 0x0500;
  case EM_PPC:
    return FLAG_ELF_LIBC6;
  case EM_S390:
    return FLAG_ELF_LIBC6 | (is64 ? 0x0400 : 0);
  case EM_RISCV:
    return FLAG_ELF_LIBC6
           | ((elf->e_flags & RISCV_FLOAT_ABI_MASK) == RISCV_FLOAT_ABI_DOUBLE ? 0x1000 : 0x0f00);
  default:
    return -1;
  }
}

/* ---- ld.so.conf ------------------------------------------------------- */

/* One expansion of /etc/ld.so.conf: what was read, and how much. */
struct conf_walk {
  const struct sysroot *root;
  struct strv *dirs;
  struct strmap seen; /* resolved path -> CONF_READING or CONF_DONE */
  size_t files, bytes, included;
};

enum { CONF_READING = 1, CONF_DONE = 2 };

static int read_conf(struct conf_walk *w, const char *path, int depth, struct derror *err);

static int
read_conf_glob(struct conf_walk *w, const char *conf, const char *pattern, int depth, struct derror *err)
{
  cleanup_free char *dir = path_dirname(conf);
  cleanup_free char *abs = pattern[0] == '/' ? xstrdup(pattern) : path_join(dir, pattern);
  cleanup_free char *host = sysroot_host_path(w->root, abs);
  size_t skip = strlen(w->root->root);
  glob_t g;
  int ret = 0;

  int r = glob(host, 0, NULL, &g);
  if (r == GLOB_NOMATCH)
    return 0;
  if (r != 0)
    return derror_set(err, "`%s`: include `%s`: cannot expand", conf, pattern);
  /* Each match is read through the confined resolver: a match reached
   * through a symlink leaving the root is read inside it instead. */
  for (size_t i = 0; ret == 0 && i < g.gl_pathc; i++) {
    if (++w->included > CONF_MAX_INCLUDED)
      ret = derror_set(err, "`%s`: include `%s`: more than %d files included in all", conf, pattern,
                       CONF_MAX_INCLUDED);
    else
      ret = read_conf(w, g.gl_pathv[i] + skip, depth + 1, err);
  }
  globfree(&g);
  return ret;
}

static int
read_conf(struct conf_walk *w, const char *path, int depth, struct derror *err)
{
  cleanup_free char *resolved = NULL, *host = NULL;
  struct buf b = { 0 };
  struct stat st;
  size_t state;
  int ret = 0;

  if (depth > CONF_MAX_DEPTH)
    return derror_set(err, "`%s`: includes nested deeper than %d", path, CONF_MAX_DEPTH);
  int r = sysroot_resolve(w->root, path, NULL, NULL, &resolved, &st, err);
  if (r < 0 && derror_is(err, DERROR_NOT_FOUND)) {
    derror_clear(err); /* an include may name nothing, as for ldconfig */
    return 0;
  }
  if (r < 0 || !S_ISREG(st.st_mode))
    return r < 0 ? -1 : 0;
  /* Read once: what it adds is in `dirs` already.  A file met again while
   * it is still being read includes itself; that is read again, for the
   * depth bound to name the loop. */
  if (strmap_get(&w->seen, resolved, &state) && state == CONF_DONE)
    return 0;
  if (++w->files > CONF_MAX_FILES)
    return derror_set(err, "`%s`: more than %d ld.so.conf files read through includes", path, CONF_MAX_FILES);
  strmap_put(&w->seen, resolved, CONF_READING, false);
  host = sysroot_host_path(w->root, resolved);
  if (read_file_flags(host, O_NOFOLLOW, CONF_MAX_BYTES, &b, err) < 0) {
    buf_free(&b);
    return -1;
  }
  w->bytes += b.len;
  if (w->bytes > CONF_MAX_TOTAL_BYTES) {
    buf_free(&b);
    return derror_set(err, "`%s`: ld.so.conf files of more than %u bytes in all", path, CONF_MAX_TOTAL_BYTES);
  }
  char *save = NULL;
  for (char *line = strtok_r(b.data, "\n", &save); ret == 0 && line; line = strtok_r(NULL, "\n", &save)) {
    char *hash = strchr(line, '#');
    if (hash)
      *hash = '\0';
    char *word = line + strspn(line, " \t\r");
    word[strcspn(word, "\r")] = '\0';
    if (*word == '\0')
      continue;
    if (strncmp(word, "include", 7) == 0 && (word[7] == ' ' || word[7] == '\t')) {
      char *isave = NULL;
      for (char *pat = strtok_r(word + 8, " \t", &isave); ret == 0 && pat; pat = strtok_r(NULL, " \t", &isave))
        ret = read_conf_glob(w, path, pat, depth, err);
      continue;
    }
    if (strncmp(word, "hwcap", 5) == 0 && (word[5] == ' ' || word[5] == '\t'))
      continue;
    /* A directory, possibly followed by blanks or an old "=TYPE". */
    word[strcspn(word, " \t=")] = '\0';
    char *norm = word[0] == '/' ? path_normalize(word) : NULL;
    if (norm && !strv_contains(w->dirs, norm))
      strv_push_take(w->dirs, norm);
    else
      free(norm);
  }
  buf_free(&b);
  if (ret == 0)
    strmap_put(&w->seen, resolved, CONF_DONE, true);
  return ret;
}

int
ldconf_read(const struct sysroot *root, struct strv *dirs, struct derror *err)
{
  struct conf_walk w = { .root = root, .dirs = dirs };
  int ret = read_conf(&w, "/etc/ld.so.conf", 0, err);

  strmap_free(&w.seen);
  return ret;
}
