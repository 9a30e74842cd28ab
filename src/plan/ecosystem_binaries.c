/* The crates of Rust programs built with `cargo auditable` and the modules
 * of Go programs, from sections of their ELF files (ecosystem.h). */
#include "plan/ecosystem.h"
#include "lib/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <jansson.h>
#include <libelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* The largest section read, and the most a .dep-v0 may decompress to. */
#define SECTION_MAX (4u << 20)
#define DEPS_JSON_MAX (16u << 20)

/* zlib data of at most DEPS_JSON_MAX bytes once inflated, inflated. */
static bool
inflate_bounded(const void *data, size_t len, struct buf *out)
{
  z_stream z = { 0 };
  unsigned char chunk[16384];
  int r = Z_OK;

  if (len > UINT32_MAX || inflateInit(&z) != Z_OK)
    return false;
  z.next_in = (unsigned char *) (uintptr_t) data;
  z.avail_in = (uInt) len;
  while (r == Z_OK) {
    z.next_out = chunk;
    z.avail_out = sizeof chunk;
    r = inflate(&z, Z_NO_FLUSH);
    if (r != Z_OK && r != Z_STREAM_END)
      break;
    buf_append(out, chunk, sizeof chunk - z.avail_out);
    if (out->len > DEPS_JSON_MAX)
      r = Z_DATA_ERROR;
    else if (r == Z_OK && z.avail_in == 0 && z.avail_out != 0)
      r = Z_DATA_ERROR; /* the stream ends before its end */
  }
  inflateEnd(&z);
  return r == Z_STREAM_END;
}

/* A crate name or version: 1 to 128 characters of [A-Za-z0-9._+-]. */
static const char *
crate_word(json_t *pkg, const char *key)
{
  const char *s = json_string_value(json_object_get(pkg, key));
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 128 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-") != n)
    return NULL;
  return s;
}

bool
eco_cargo_section(const void *data, size_t len, const char *at, struct eco_packages *out)
{
  struct buf text = { 0 };
  json_error_t jerr;
  json_t *doc = NULL, *list;
  bool ok = false;

  if (!inflate_bounded(data, len, &text))
    goto done;
  doc = json_loadb(text.data, text.len, 0, &jerr);
  list = json_object_get(doc, "packages");
  if (!json_is_array(list))
    goto done;
  for (size_t i = 0; i < json_array_size(list); i++) {
    json_t *pkg = json_array_get(list, i);
    const char *name = crate_word(pkg, "name"), *version = crate_word(pkg, "version");
    const char *kind = json_string_value(json_object_get(pkg, "kind"));
    const char *source = json_string_value(json_object_get(pkg, "source"));
    /* The root is the program's own crate, already in the document as the
     * file; build dependencies ran at build time and are not in it. */
    if (name == NULL || version == NULL || json_is_true(json_object_get(pkg, "root"))
        || (kind && strcmp(kind, "build") == 0))
      continue;
    struct eco_package *pk = eco_add(out, "cargo", name, version);
    pk->purl = eco_purl("cargo", name, version);
    pk->at = xstrdup(at);
    pk->relation = "STATIC_LINK";
    if (source && strcmp(source, "crates.io") != 0 && strlen(source) < 64)
      pk->comment = xasprintf("source: %s (not crates.io), by the program's .dep-v0", source);
    else
      pk->comment = xstrdup("by the program's .dep-v0 (cargo auditable)");
  }
  ok = true;
done:
  json_decref(doc);
  buf_free(&text);
  return ok;
}

/* A varint-prefixed string at `*p` (before `end`), or false. */
static bool
go_string(const unsigned char **p, const unsigned char *end, const unsigned char **s, size_t *n)
{
  uint64_t v = 0;

  for (unsigned shift = 0;; shift += 7) {
    if (*p >= end || shift > 63)
      return false;
    unsigned char b = *(*p)++;
    v |= (uint64_t) (b & 0x7f) << shift;
    if (!(b & 0x80))
      break;
  }
  if (v > (uint64_t) (end - *p))
    return false;
  *s = *p;
  *n = (size_t) v;
  *p += v;
  return true;
}

/* A module path or version as the build info writes it: printable, no
 * space, at most 512 bytes. */
static bool
go_word(const char *s)
{
  size_t n = strlen(s);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char) s[i] <= 0x20 || (unsigned char) s[i] >= 0x7f)
      return false;
  return n && n <= 512;
}

/* One line of the module information: "mod", "dep" or "=>" (which
 * replaces the module of the line before). */
static void
go_line(char *line, const char *at, const char *runtime, struct eco_packages *out, struct eco_package **last)
{
  char *save = NULL, *what = strtok_r(line, "\t", &save);
  char *path = strtok_r(NULL, "\t", &save), *version = strtok_r(NULL, "\t", &save);

  if (what == NULL || path == NULL || !go_word(path) || (version && !go_word(version)))
    return;
  if (strcmp(what, "=>") == 0 && *last) {
    struct eco_package *pk = *last;
    /* a directory of the build machine (Go's rule: a path starting with
     * "./", "../" or "/", whatever version it is given): the path stays */
    if (version == NULL || path[0] == '.' || path[0] == '/') {
      free(pk->comment);
      pk->comment = xasprintf("replaced by the directory %s, by the program's build info", path);
      return;
    }
    free(pk->comment);
    pk->comment = xasprintf("replaces %s %s, by the program's build info", pk->name, pk->version ? pk->version : "");
    free(pk->name);
    free(pk->version);
    free(pk->purl);
    pk->name = xstrdup(path);
    pk->version = xstrdup(version);
    pk->purl = eco_purl("golang", path, version);
    return;
  }
  bool main_module = strcmp(what, "mod") == 0;
  if (!main_module && strcmp(what, "dep") != 0)
    return;
  if (version && strcmp(version, "(devel)") == 0)
    version = NULL;
  struct eco_package *pk = eco_add(out, "golang", path, version);
  pk->purl = eco_purl("golang", path, version);
  pk->at = xstrdup(at);
  /* the program is built from its main module, and links the others */
  pk->relation = main_module ? "GENERATED_FROM" : "STATIC_LINK";
  pk->comment = main_module ? xasprintf("the main module, built with %s", runtime)
                            : xstrdup("by the program's build info");
  *last = pk;
}

bool
eco_go_buildinfo(const void *data, size_t len, const char *at, struct eco_packages *out)
{
  static const char magic[] = "\xff Go buildinf:";
  const unsigned char *p = data, *end = p + len, *vers, *mod;
  size_t vn, mn;
  struct eco_package *last = NULL;

  /* a 32-byte header: the magic, the pointer size, flags (2: the strings
   * follow inline, Go 1.18 and later) */
  if (len < 32 || memcmp(p, magic, 14) != 0 || !(p[15] & 2))
    return false;
  p += 32;
  if (!go_string(&p, end, &vers, &vn) || !go_string(&p, end, &mod, &mn) || vn == 0 || vn > 64)
    return false;
  /* the module information sits between two 16-byte sentinels */
  if (mn < 33 || mod[mn - 17] != '\n')
    return false;
  cleanup_free char *runtime = xstrndup((const char *) vers, vn);
  cleanup_free char *text = xstrndup((const char *) mod + 16, mn - 32);
  if (!go_word(runtime) || strlen(text) != mn - 32)
    return false;
  for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
    go_line(line, at, runtime, out, &last);
  return true;
}

/* The section `name` of an ELF file, at most SECTION_MAX bytes, or NULL. */
static Elf_Data *
section(Elf *e, const char *name)
{
  size_t shstrndx;
  Elf_Scn *scn = NULL;

  if (elf_getshdrstrndx(e, &shstrndx) != 0)
    return NULL;
  while ((scn = elf_nextscn(e, scn)) != NULL) {
    GElf_Shdr sh;
    const char *n;
    if (gelf_getshdr(scn, &sh) == NULL || sh.sh_type == SHT_NOBITS || sh.sh_size > SECTION_MAX
        || (n = elf_strptr(e, shstrndx, sh.sh_name)) == NULL || strcmp(n, name) != 0)
      continue;
    Elf_Data *d = elf_rawdata(scn, NULL);
    return d && d->d_buf && d->d_size == sh.sh_size ? d : NULL;
  }
  return NULL;
}

/* The packages of the program at `e`, when it is an ELF file with a
 * .dep-v0 or .go.buildinfo section. */
static void
binary_packages(const struct rootfs_entry *e, struct eco_packages *out)
{
  cleanup_close int fd = -1;
  unsigned char head[4];
  Elf *elf = NULL;
  Elf_Data *d;

  if (e->source) {
    fd = open(e->source, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || pread(fd, head, 4, 0) != 4 || memcmp(head, "\177ELF", 4) != 0)
      return;
    elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
  } else if (e->data && e->size >= 4 && memcmp(e->data, "\177ELF", 4) == 0) {
    elf = elf_memory(e->data, e->size);
  }
  if (elf == NULL || elf_kind(elf) != ELF_K_ELF) {
    elf_end(elf);
    return;
  }
  if ((d = section(elf, ".dep-v0")) != NULL)
    eco_cargo_section(d->d_buf, d->d_size, e->path, out);
  if ((d = section(elf, ".go.buildinfo")) != NULL)
    eco_go_buildinfo(d->d_buf, d->d_size, e->path, out);
  elf_end(elf);
}

void
eco_scan_binaries(const struct rootfs *fs, struct eco_packages *out)
{
  if (elf_version(EV_CURRENT) == EV_NONE)
    return;
  for (size_t i = 0; i < fs->n; i++)
    if (fs->items[i].type == ROOTFS_FILE && fs->items[i].size >= 64)
      binary_packages(&fs->items[i], out);
}
