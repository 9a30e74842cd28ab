/* The CPU-dependent parts of glibc's library search, for every CPU of an
 * architecture at once: the subdirectories tried before each searched
 * directory (glibc-hwcaps and the legacy hwcap/platform ones) and the
 * values of $PLATFORM.  The image may run on any CPU, and each CPU picks
 * its own variant at run time, so all of them are needed. */
#ifndef DISTILL_HWCAPS_H
#define DISTILL_HWCAPS_H

#include "lib/error.h"
#include "lib/alloc.h"

#include <stdint.h>

/* The target whose loader is modelled. */
struct hwcaps_target {
  int machine;                  /* EM_* */
  int elf_class;                /* ELFCLASS32/64 */
  int data;                     /* ELFDATA2LSB/MSB */
  uint32_t e_flags;             /* the ELF header's, for ARM's float ABI */
  int glibc_major, glibc_minor; /* the sysroot loader's version; 0,0 when unknown */
};

/* Every subdirectory (relative, no trailing slash, e.g.
 * "glibc-hwcaps/x86-64-v3", "tls/haswell/x86_64") the loader of that
 * version may try before each searched directory, on any CPU of the
 * architecture, highest priority first: glibc-hwcaps (2.33+), then the
 * legacy hwcap/platform directories (up to 2.36).  An unknown version gives
 * both kinds: a directory the loader does not search costs one lookup, a
 * missing one loses a variant.  The directory itself ("") is not listed.
 * Appended to `out`, without duplicates. */
void hwcaps_subdirs(const struct hwcaps_target *t, struct strv *out);

/* Every value $PLATFORM may take on that architecture, on any CPU; appended
 * to `out`.  None on an architecture whose kernel passes no AT_PLATFORM
 * (RISC-V): there the loader drops a path that uses $PLATFORM. */
void hwcaps_platforms(const struct hwcaps_target *t, struct strv *out);

/* The glibc version of a loader or libc file: scans it (at most 16 MiB, in
 * chunks) for glibc's banner "release version X.Y" (libc.so.6 always has
 * it, ld.so from glibc 2.33 on); returns 0 and sets major/minor, or -1
 * with err set when absent or unreadable. */
int hwcaps_glibc_version(const char *host_path, int *major, int *minor, struct derror *err);

#endif
