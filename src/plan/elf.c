#include "plan/elf.h"
#include "lib/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bounds for hostile files: the loader itself has no use for more. */
#define ELF_MAX_DYN_ENTRIES (1u << 16)

static void
cleanup_elfp(Elf **e)
{
  if (*e)
    elf_end(*e);
}
#define cleanup_elf __attribute__((cleanup(cleanup_elfp)))

/* Classify a file that is not ELF by its first bytes, for a useful error. */
static int
not_elf(int fd, const char *name, struct derror *err)
{
  unsigned char magic[4] = { 0 };
  ssize_t n = pread(fd, magic, sizeof magic, 0);

  if (n >= 2 && magic[0] == '#' && magic[1] == '!')
    return derror_code(err, DERROR_NOT_ELF, "`%s`: a script (#!), not an ELF program", name);
  if (n < 4 || memcmp(magic, ELFMAG, SELFMAG) != 0)
    return derror_code(err, DERROR_NOT_ELF, "`%s`: not an ELF file", name);
  return derror_set(err, "`%s`: malformed ELF file", name);
}

bool
elf_has_magic(const char *host_path)
{
  unsigned char magic[SELFMAG];
  int fd = open(host_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  bool elf = fd >= 0 && pread(fd, magic, SELFMAG, 0) == SELFMAG && memcmp(magic, ELFMAG, SELFMAG) == 0;

  if (fd >= 0)
    close(fd);
  return elf;
}

struct segments {
  GElf_Phdr *load;
  size_t n_load;
};

/* Map a virtual address to a file offset through the PT_LOAD segments. */
static bool
vaddr_to_offset(const struct segments *seg, uint64_t addr, uint64_t *off)
{
  for (size_t i = 0; i < seg->n_load; i++) {
    const GElf_Phdr *p = &seg->load[i];
    if (addr >= p->p_vaddr && addr - p->p_vaddr < p->p_filesz) {
      *off = p->p_offset + (addr - p->p_vaddr);
      return true;
    }
  }
  return false;
}

static int
read_interp(Elf *e, const GElf_Phdr *p, const char *name, struct elf_info *out, struct derror *err)
{
  if (p->p_filesz == 0 || p->p_filesz > 4096)
    return derror_set(err, "`%s`: PT_INTERP has an invalid size", name);
  Elf_Data *d = elf_getdata_rawchunk(e, (int64_t) p->p_offset, p->p_filesz, ELF_T_BYTE);
  if (d == NULL || d->d_buf == NULL)
    return derror_set(err, "`%s`: PT_INTERP lies outside the file", name);
  const char *s = d->d_buf;
  if (memchr(s, '\0', d->d_size) == NULL || s[0] == '\0')
    return derror_set(err, "`%s`: PT_INTERP is not a string", name);
  out->interp = xstrdup(s);
  return 0;
}

static const char *
dyn_string(Elf_Data *strtab, uint64_t off)
{
  if (strtab == NULL || off >= strtab->d_size)
    return NULL;
  const char *s = (const char *) strtab->d_buf + off;
  if (memchr(s, '\0', strtab->d_size - off) == NULL)
    return NULL;
  return s;
}

static int
read_dynamic(Elf *e, const GElf_Phdr *dynp, const struct segments *seg, const char *name, struct elf_info *out,
             struct derror *err)
{
  Elf_Data *dyn = elf_getdata_rawchunk(e, (int64_t) dynp->p_offset, dynp->p_filesz, ELF_T_DYN);
  size_t entsize = gelf_fsize(e, ELF_T_DYN, 1, EV_CURRENT);
  uint64_t strtab_addr = 0, strsz = 0;
  bool have_strtab = false;

  if (dyn == NULL || entsize == 0)
    return derror_set(err, "`%s`: PT_DYNAMIC lies outside the file", name);
  size_t count = dyn->d_size / entsize;
  if (count > ELF_MAX_DYN_ENTRIES)
    count = ELF_MAX_DYN_ENTRIES;

  /* First pass: where the strings are. */
  for (size_t i = 0; i < count; i++) {
    GElf_Dyn d;
    if (gelf_getdyn(dyn, (int) i, &d) == NULL || d.d_tag == DT_NULL)
      break;
    if (d.d_tag == DT_STRTAB) {
      strtab_addr = d.d_un.d_ptr;
      have_strtab = true;
    } else if (d.d_tag == DT_STRSZ) {
      strsz = d.d_un.d_val;
    } else if (d.d_tag == DT_FLAGS_1) {
      out->flags_1 = d.d_un.d_val;
    }
  }
  Elf_Data *strtab = NULL;
  if (have_strtab) {
    uint64_t off;
    if (!vaddr_to_offset(seg, strtab_addr, &off) || strsz == 0)
      return derror_set(err, "`%s`: DT_STRTAB lies outside the loaded segments", name);
    strtab = elf_getdata_rawchunk(e, (int64_t) off, strsz, ELF_T_BYTE);
    if (strtab == NULL)
      return derror_set(err, "`%s`: DT_STRTAB lies outside the file", name);
  }

  /* Second pass: the names. */
  for (size_t i = 0; i < count; i++) {
    GElf_Dyn d;
    if (gelf_getdyn(dyn, (int) i, &d) == NULL || d.d_tag == DT_NULL)
      break;
    if (d.d_tag != DT_NEEDED && d.d_tag != DT_SONAME && d.d_tag != DT_RPATH && d.d_tag != DT_RUNPATH)
      continue;
    const char *s = dyn_string(strtab, d.d_un.d_val);
    if (s == NULL)
      return derror_set(err, "`%s`: dynamic entry %zu points outside the string table", name, i);
    switch (d.d_tag) {
    case DT_NEEDED:
      if (*s == '\0')
        return derror_set(err, "`%s`: empty DT_NEEDED", name);
      strv_push(&out->needed, s);
      break;
    case DT_SONAME:
      free(out->soname);
      out->soname = xstrdup(s);
      break;
    case DT_RPATH:
      free(out->rpath);
      out->rpath = xstrdup(s);
      break;
    default:
      free(out->runpath);
      out->runpath = xstrdup(s);
      break;
    }
  }
  return 0;
}

int
elf_read(const char *host_path, const char *name, struct elf_info *out, struct derror *err)
{
  cleanup_close int fd = -1;
  cleanup_elf Elf *e = NULL;
  GElf_Ehdr eh;
  size_t phnum;
  struct segments seg = { 0 };
  int ret = -1;

  memset(out, 0, sizeof *out);
  if (elf_version(EV_CURRENT) == EV_NONE)
    return derror_set(err, "libelf: %s", elf_errmsg(-1));
  fd = open(host_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return derror_errno(err, errno, "open `%s`", name);
  e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
  if (e == NULL || elf_kind(e) != ELF_K_ELF)
    return not_elf(fd, name, err);
  if (gelf_getehdr(e, &eh) == NULL)
    return derror_set(err, "`%s`: malformed ELF header: %s", name, elf_errmsg(-1));
  out->elf_class = eh.e_ident[EI_CLASS];
  out->data = eh.e_ident[EI_DATA];
  out->osabi = eh.e_ident[EI_OSABI];
  out->machine = eh.e_machine;
  out->e_flags = eh.e_flags;
  out->type = eh.e_type;
  if (elf_getphdrnum(e, &phnum) != 0)
    return derror_set(err, "`%s`: malformed program headers: %s", name, elf_errmsg(-1));
  /* libelf quietly gives no headers when the table lies past the end of a
   * truncated file; the loader would refuse it, and so do we. */
  struct stat st;
  size_t phentsize = gelf_fsize(e, ELF_T_PHDR, 1, EV_CURRENT);
  if (fstat(fd, &st) < 0)
    return derror_errno(err, errno, "stat `%s`", name);
  uint64_t fsize = (uint64_t) st.st_size;
  if ((eh.e_type == ET_EXEC || eh.e_type == ET_DYN) && phnum == 0)
    return derror_set(err, "`%s`: no program headers", name);
  if (phentsize == 0 || eh.e_phoff > fsize || phnum > (fsize - eh.e_phoff) / phentsize)
    return derror_set(err, "`%s`: truncated: the program headers lie past the end of the file", name);

  GElf_Phdr dynp = { 0 };
  seg.load = xcalloc(phnum, sizeof(*seg.load));
  for (size_t i = 0; i < phnum; i++) {
    GElf_Phdr p;
    if (gelf_getphdr(e, (int) i, &p) == NULL) {
      derror_set(err, "`%s`: program header %zu: %s", name, i, elf_errmsg(-1));
      goto out;
    }
    if (p.p_type == PT_LOAD)
      seg.load[seg.n_load++] = p;
    else if (p.p_type == PT_DYNAMIC) {
      dynp = p;
      out->dynamic = true;
    } else if (p.p_type == PT_INTERP && out->interp == NULL && read_interp(e, &p, name, out, err) < 0)
      goto out;
  }
  if (out->dynamic && read_dynamic(e, &dynp, &seg, name, out, err) < 0)
    goto out;
  ret = 0;
out:
  free(seg.load);
  if (ret < 0)
    elf_info_free(out);
  return ret;
}

int
elf_read_candidate(const char *host_path, const char *name, const struct elf_info *ref, struct elf_info *out,
                   struct derror *err)
{
  unsigned char h[EI_NIDENT + 4];
  cleanup_close int fd = open(host_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

  memset(out, 0, sizeof *out);
  if (fd < 0)
    return derror_errno(err, errno, "open `%s`", name);
  ssize_t n = pread(fd, h, sizeof h, 0);
  if (n < 0)
    return derror_errno(err, errno, "`%s`: cannot read file data", name);
  if ((size_t) n < sizeof h)
    return derror_set(err, "`%s`: file too short", name);
  if (memcmp(h, ELFMAG, SELFMAG) != 0)
    return derror_set(err, "`%s`: not an ELF file (invalid ELF header)", name);
  if (ref && h[EI_CLASS] != ref->elf_class)
    return derror_code(err, DERROR_OTHER_ARCH, "`%s`: another ELF class than the program's", name);
  if (ref && h[EI_DATA] != ref->data)
    return derror_set(err, "`%s`: ELF data encoding differs from the program's", name);
  if (h[EI_OSABI] != ELFOSABI_SYSV && h[EI_OSABI] != ELFOSABI_GNU)
    return derror_set(err, "`%s`: ELF file OS ABI invalid (%u)", name, h[EI_OSABI]);
  int machine = h[EI_DATA] == ELFDATA2MSB ? (h[EI_NIDENT + 2] << 8 | h[EI_NIDENT + 3])
                                          : (h[EI_NIDENT + 3] << 8 | h[EI_NIDENT + 2]);
  if (ref && machine != ref->machine)
    return derror_code(err, DERROR_OTHER_ARCH, "`%s`: another machine than the program's", name);
  if (elf_read(host_path, name, out, err) < 0)
    return -1;
  if (out->type != ET_DYN && out->type != ET_EXEC) {
    elf_info_free(out);
    return derror_set(err, "`%s`: only ET_DYN and ET_EXEC objects can be loaded", name);
  }
  return 0;
}

bool
elf_imports_any(const char *host_path, const char *const names[])
{
  cleanup_close int fd = open(host_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  cleanup_elf Elf *e = NULL;
  Elf_Scn *scn = NULL;

  if (fd < 0 || elf_version(EV_CURRENT) == EV_NONE || (e = elf_begin(fd, ELF_C_READ_MMAP, NULL)) == NULL)
    return false;
  while ((scn = elf_nextscn(e, scn)) != NULL) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == NULL || sh.sh_type != SHT_DYNSYM || sh.sh_entsize == 0)
      continue;
    Elf_Data *data = elf_getdata(scn, NULL);
    size_t count = data ? data->d_size / sh.sh_entsize : 0;
    for (size_t i = 0; i < count; i++) {
      GElf_Sym sym;
      if (gelf_getsym(data, (int) i, &sym) == NULL || sym.st_shndx != SHN_UNDEF)
        continue;
      const char *name = elf_strptr(e, sh.sh_link, sym.st_name);
      for (size_t j = 0; name && names[j]; j++)
        if (strcmp(name, names[j]) == 0)
          return true;
    }
  }
  return false;
}

static int
range_cmp(const void *a, const void *b)
{
  const struct elf_range *x = a, *y = b;

  return x->at < y->at ? -1 : x->at > y->at;
}

size_t
elf_code_ranges(const char *host_path, struct elf_range **out)
{
  cleanup_close int fd = open(host_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  cleanup_elf Elf *e = NULL;
  Elf_Scn *scn = NULL;
  struct stat st;
  size_t n = 0, cap = 0;

  *out = NULL;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || elf_version(EV_CURRENT) == EV_NONE
      || (e = elf_begin(fd, ELF_C_READ_MMAP, NULL)) == NULL || elf_kind(e) != ELF_K_ELF)
    return 0;
  uint64_t size = (uint64_t) st.st_size;
  while ((scn = elf_nextscn(e, scn)) != NULL) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == NULL || sh.sh_type != SHT_PROGBITS || !(sh.sh_flags & SHF_EXECINSTR)
        || sh.sh_size == 0 || sh.sh_offset >= size || sh.sh_size > size - sh.sh_offset)
      continue;
    if (n == cap)
      *out = xreallocarray(*out, cap = cap ? cap * 2 : 8, sizeof **out);
    (*out)[n++] = (struct elf_range){ sh.sh_offset, sh.sh_size };
  }
  if (n == 0)
    return 0;
  qsort(*out, n, sizeof **out, range_cmp);
  size_t k = 0;
  for (size_t i = 1; i < n; i++) {
    struct elf_range *last = &(*out)[k];
    if ((*out)[i].at <= last->at + last->len) {
      uint64_t end = (*out)[i].at + (*out)[i].len;
      if (end > last->at + last->len)
        last->len = end - last->at;
    } else {
      (*out)[++k] = (*out)[i];
    }
  }
  return k + 1;
}

void
elf_info_free(struct elf_info *info)
{
  free(info->interp);
  free(info->soname);
  free(info->rpath);
  free(info->runpath);
  strv_free(&info->needed);
  memset(info, 0, sizeof *info);
}

bool
elf_is_static(const struct elf_info *info)
{
  return info->interp == NULL && info->needed.n == 0;
}

const char *
elf_oci_arch(const struct elf_info *info, const char **variant)
{
  const struct platform *p = platform_of_elf(info->machine, info->elf_class, info->data);

  if (variant)
    *variant = p ? p->variant : NULL;
  return p ? p->arch : NULL;
}

const char *
elf_of_oci_arch(const char *arch, struct elf_info *out)
{
  const struct platform *p = arch ? platform_of_arch(arch) : NULL;

  if (p == NULL)
    return NULL;
  out->machine = p->machine;
  out->elf_class = p->elf_class;
  out->data = p->data;
  out->osabi = ELFOSABI_SYSV;
  return p->interp;
}

const char *
elf_multiarch(const struct elf_info *info)
{
  const struct platform *p = platform_of_elf(info->machine, info->elf_class, info->data);

  return p ? p->multiarch : NULL;
}

bool
elf_compatible(const struct elf_info *exe, const struct elf_info *lib)
{
  if (exe->elf_class != lib->elf_class || exe->data != lib->data || exe->machine != lib->machine)
    return false;
  /* The loader accepts SYSV and GNU (Linux) objects alike. */
  return lib->osabi == ELFOSABI_SYSV || lib->osabi == ELFOSABI_GNU || lib->osabi == exe->osabi;
}
