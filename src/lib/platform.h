/* The platforms distill builds for: an OCI architecture and variant, the
 * ELF class, byte order and machine of its programs, Debian's multiarch
 * tuple and glibc's loader there.  The recipe (platform, platforms), the
 * closure (what may load) and the build (which image is the host's) all
 * read this one table. */
#ifndef DISTILL_PLATFORM_H
#define DISTILL_PLATFORM_H

struct platform {
  int machine, elf_class, data; /* e_machine, EI_CLASS, EI_DATA */
  const char *arch, *variant;  /* OCI: "arm", "v7" (variant NULL when none) */
  const char *multiarch;       /* Debian's tuple: "arm-linux-gnueabihf" */
  const char *interp;          /* glibc's PT_INTERP there */
};

/* Parse an OCI platform "linux/arm64", "linux/arm/v7" or "arm64": the
 * architecture and variant (NULL when none) as static strings; -1 when the
 * OS is not linux or the architecture unknown. */
int platform_parse(const char *s, const char **arch, const char **variant);
/* The table's entry of an OCI architecture, NULL when unknown. */
const struct platform *platform_of_arch(const char *arch);
/* The table's entry of an ELF class, byte order and machine, NULL when
 * distill knows none. */
const struct platform *platform_of_elf(int machine, int elf_class, int data);
/* The OCI architecture of the machine distill was built for: "amd64",
 * "arm64"; "unknown" for one the table lacks.  An image without programs
 * is built for it, and a registry's index is read for it by default. */
const char *platform_host_arch(void);

#endif
