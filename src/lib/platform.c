#include "lib/platform.h"
#include "lib/alloc.h"

#include <elf.h>
#include <string.h>

static const struct platform platforms[] = {
  { EM_X86_64, ELFCLASS64, ELFDATA2LSB, "amd64", NULL, "x86_64-linux-gnu", "/lib64/ld-linux-x86-64.so.2" },
  { EM_AARCH64, ELFCLASS64, ELFDATA2LSB, "arm64", NULL, "aarch64-linux-gnu", "/lib/ld-linux-aarch64.so.1" },
  { EM_ARM, ELFCLASS32, ELFDATA2LSB, "arm", "v7", "arm-linux-gnueabihf", "/lib/ld-linux-armhf.so.3" },
  { EM_386, ELFCLASS32, ELFDATA2LSB, "386", NULL, "i386-linux-gnu", "/lib/ld-linux.so.2" },
  { EM_PPC64, ELFCLASS64, ELFDATA2LSB, "ppc64le", NULL, "powerpc64le-linux-gnu", "/lib64/ld64.so.2" },
  { EM_S390, ELFCLASS64, ELFDATA2MSB, "s390x", NULL, "s390x-linux-gnu", "/lib/ld64.so.1" },
  { EM_RISCV, ELFCLASS64, ELFDATA2LSB, "riscv64", NULL, "riscv64-linux-gnu", "/lib/ld-linux-riscv64-lp64d.so.1" },
};

const struct platform *
platform_of_arch(const char *arch)
{
  for (size_t i = 0; i < sizeof platforms / sizeof *platforms; i++)
    if (strcmp(platforms[i].arch, arch) == 0)
      return &platforms[i];
  return NULL;
}

const struct platform *
platform_of_elf(int machine, int elf_class, int data)
{
  for (size_t i = 0; i < sizeof platforms / sizeof *platforms; i++)
    if (platforms[i].machine == machine && platforms[i].elf_class == elf_class && platforms[i].data == data)
      return &platforms[i];
  return NULL;
}

int
platform_parse(const char *s, const char **arch, const char **variant)
{
  static const char *const variants[] = { "v5", "v6", "v7", "v8", NULL };
  cleanup_free char *copy = xstrdup(s);
  char *parts[3] = { NULL, NULL, NULL };
  size_t n = 0;

  for (char *save = NULL, *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
    if (n == 3)
      return -1;
    parts[n++] = t;
  }
  size_t a = 0;
  if (n > 0 && strcmp(parts[0], "linux") == 0)
    a = 1;
  else if (n == 3)
    return -1;
  if (a >= n)
    return -1;
  const struct platform *p = platform_of_arch(parts[a]);
  if (p == NULL)
    return -1;
  *arch = p->arch;
  *variant = NULL;
  if (a + 1 < n) {
    for (size_t i = 0; variants[i]; i++)
      if (strcmp(variants[i], parts[a + 1]) == 0)
        *variant = variants[i];
    if (*variant == NULL)
      return -1;
  } else if (strcmp(*arch, "arm") == 0) {
    *variant = "v7"; /* Debian's armhf */
  }
  return 0;
}

const char *
platform_host_arch(void)
{
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__arm__)
  return "arm";
#elif defined(__i386__)
  return "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
  return "unknown";
#endif
}
