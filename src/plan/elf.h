/* Reading what the dynamic loader reads from an ELF file: the header,
 * PT_INTERP and the dynamic section, through the program headers (section
 * headers may be stripped).  Every offset is bounded by libelf against the
 * file; the file is mapped, never read whole. */
#ifndef DISTILL_ELF_H
#define DISTILL_ELF_H

#include "lib/error.h"
#include "lib/alloc.h"

#include <stdbool.h>
#include <stdint.h>

struct elf_info {
  int elf_class; /* ELFCLASS32 or ELFCLASS64 */
  int data;      /* ELFDATA2LSB or ELFDATA2MSB */
  int osabi;
  int machine;   /* EM_* */
  int type;      /* ET_EXEC, ET_DYN, ... */
  uint32_t e_flags; /* the header's: the float ABI of ARM and RISC-V */
  char *interp;  /* PT_INTERP, NULL when absent */
  bool dynamic;  /* has PT_DYNAMIC */
  char *soname;
  struct strv needed; /* DT_NEEDED in order */
  char *rpath;        /* DT_RPATH, NULL when absent */
  char *runpath;      /* DT_RUNPATH, NULL when absent */
  uint64_t flags_1;   /* DT_FLAGS_1 */
};

/* Read `host_path`; `name` is how errors call it.  A file that is no ELF
 * object at all (a script, text) fails with DERROR_NOT_ELF, the message
 * saying what it is instead. */
int elf_read(const char *host_path, const char *name, struct elf_info *out, struct derror *err);

/* What the loader decides about a file found under a searched name, before
 * it maps it (glibc's open_verify): another class or machine than `ref`
 * fails with DERROR_OTHER_ARCH, which the loader passes by to search on;
 * any other failure stops the loader. */
int elf_read_candidate(const char *host_path, const char *name, const struct elf_info *ref, struct elf_info *out,
                       struct derror *err);
void elf_info_free(struct elf_info *info);

/* The file's first bytes are ELF's magic (any failure: false). */
bool elf_has_magic(const char *host_path);

/* True when the object imports (has an undefined dynamic symbol named)
 * one of `names`, NULL-terminated; read from SHT_DYNSYM, false when the
 * section headers are stripped. */
bool elf_imports_any(const char *host_path, const char *const names[]);

/* A range of bytes of a file. */
struct elf_range {
  uint64_t at, len;
};
/* The file ranges of the object's machine code: its SHT_PROGBITS sections
 * with SHF_EXECINSTR, in file order, merged, within the file.  String
 * constants are never there (compilers put them in .rodata).  0 when it
 * has none, its section headers are stripped, or it is no ELF object. */
size_t elf_code_ranges(const char *host_path, struct elf_range **out);
/* A program that needs no loader: no PT_INTERP and no DT_NEEDED
 * (static, and static-pie which has PT_DYNAMIC but needs nothing). */
bool elf_is_static(const struct elf_info *info);

/* The OCI architecture ("amd64", "arm64", ...) and variant ("v7" or NULL);
 * NULL when the machine is not one distill knows. */
const char *elf_oci_arch(const struct elf_info *info, const char **variant);
/* The ELF class, byte order and machine of an OCI architecture ("amd64"):
 * what a library must be to load on it.  Returns glibc's dynamic loader
 * path there (PT_INTERP), or NULL for an unknown architecture. */
const char *elf_of_oci_arch(const char *arch, struct elf_info *out);

/* Debian's multiarch tuple ("x86_64-linux-gnu"), NULL when unknown. */
const char *elf_multiarch(const struct elf_info *info);
/* True when `lib` could be loaded into a process of `exe`. */
bool elf_compatible(const struct elf_info *exe, const struct elf_info *lib);

#endif
