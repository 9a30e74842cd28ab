/* The CPU-dependent subdirectories of glibc's library search, and $PLATFORM.
 *
 * What the loader does, as read in glibc's own sources (git tags
 * glibc-2.17 .. glibc-2.42 and master of early 2026) and in Linux's;
 * written here in our own words.
 *
 * Where the subdirectories come in (elf/dl-load.c, elf/dl-hwcaps.c):
 * _dl_init_paths asks _dl_important_hwcaps for a list of relative
 * subdirectories, and every directory of every search list (RPATH,
 * LD_LIBRARY_PATH, RUNPATH, the system directories) is tried with each
 * of them appended, in that list's order, before the directory itself.
 * The list holds, first, the glibc-hwcaps subdirectories the CPU supports
 * ("glibc-hwcaps/NAME", best first; from 2.33), then, up to 2.36, the
 * legacy ones.  The ld.so.cache answer is separate (ldconfig.c).
 *
 * Versions (NEWS): 2.33 introduced glibc-hwcaps ("power9"/"power10" on
 * powerpc64le, "z13"/"z14"/"z15" on s390x, "x86-64-v2"/"-v3"/"-v4" on
 * x86_64) and deprecated the legacy scheme; 2.37 removed it: no "tls"
 * directories, no AT_PLATFORM directory, no AT_HWCAP power set (the 2.37
 * _dl_important_hwcaps returns the glibc-hwcaps entries and the directory
 * itself only).  The names come from sysdeps/<arch>/dl-hwcaps-subdirs.c,
 * checked at every release tag: x86_64 "x86-64-v4:x86-64-v3:x86-64-v2"
 * since 2.33 (also used by x32, which builds from sysdeps/x86_64);
 * powerpc64le "power10:power9" since 2.33 (le only: big-endian ppc64 has
 * none); s390-64 "z15:z14:z13" in 2.33, "z16" prepended in 2.36, "z17" in
 * 2.42.  Every other architecture uses elf/dl-hwcaps-subdirs.c, an empty
 * list: aarch64, arm, riscv, i386 have no glibc-hwcaps names up to master.
 * Distributions may backport a newer name into an older release; a CPU
 * that finds no such directory falls back to the next one, so a variant
 * missed that way costs speed, not correctness.
 *
 * The legacy list, glibc <= 2.36 (_dl_important_hwcaps in
 * elf/dl-hwcaps.c; before 2.17 in elf/dl-sysdep.c): the loader
 * takes, in this order, the names of the "important" AT_HWCAP bits the
 * CPU has (dl_hwcap & the hwcap mask, lowest bit first; the mask is the
 * glibc.cpu.hwcap_mask tunable, alias LD_HWCAP_MASK, defaulting to
 * HWCAP_IMPORTANT), then dl_platform when not NULL, then "tls" (always,
 * in every version up to 2.36).  Before 2.32 the names the vDSO announces
 * in an NT_GNU_HWCAP note came first of all (the 32-bit x86 kernel under
 * Xen announced "nosegneg"; removed by "elf: Do not read hwcaps from the
 * vDSO in ld.so", 2.32).  It then tries every subset of those n names, as
 * "name/name/" with the later names first (so "tls/PLATFORM/HWCAP..."),
 * the subsets in decreasing order of their bit mask (name i is bit i):
 * for x86_64 names {x86_64, PLATFORM, tls} that is tls/P/x86_64, tls/P,
 * tls/x86_64, tls, P/x86_64, P, x86_64, then the directory itself.  On
 * this machine (Debian 12, glibc 2.36, AMD CPU, so P = "x86_64")
 * LD_DEBUG=libs shows exactly that: glibc-hwcaps/x86-64-v3,
 * glibc-hwcaps/x86-64-v2, tls/x86_64/x86_64, tls/x86_64, tls/x86_64,
 * tls, x86_64/x86_64, x86_64, x86_64, then the directory.
 *
 * HWCAP_IMPORTANT and dl_hwcap per architecture (dl-procinfo.h /
 * dl-hwcap.h of each version):
 *  - x86_64: 2.26 (BZ #21391) made dl_hwcap and dl_platform come from
 *    cpu-features.c instead of the kernel.  <= 2.25: HWCAP_IMPORTANT 0,
 *    dl_platform the kernel's "x86_64".  2.26: important "avx512_1"
 *    only, and dl_platform reset to NULL unless the CPU is an Intel one
 *    that earns "haswell" or "xeon_phi" (so no platform directory on
 *    others).  2.27 (BZ #22093, #22299) to master: dl_hwcap always has
 *    "x86_64" (bit 1) and, on Intel only, "avx512_1" (bit 2: AVX512F, CD,
 *    BW, DQ, VL usable and no AVX512ER); dl_platform stays the kernel's
 *    "x86_64" unless the CPU is Intel and has AVX512ER+PF ("xeon_phi",
 *    then never avx512_1) or AVX2, FMA, BMI1, BMI2, LZCNT, MOVBE, POPCNT
 *    ("haswell").  AMD and other vendors never get haswell or xeon_phi.
 *  - i386: important "sse2" (AT_HWCAP bit 26 <= 2.25, glibc's bit 0
 *    since).  dl_platform is the kernel's AT_PLATFORM, the utsname
 *    machine "i386".."i686" (family capped at 6) or "i686" for a 32-bit
 *    process on a 64-bit kernel (COMPAT_ELF_PLATFORM); from 2.26 glibc
 *    overrides it with "i686" when the CPU has CMOV, else "i586" with CX8.
 *  - aarch64: HWCAP_IMPORTANT "atomics" (bit 8) since 2.28 ("aarch64: add
 *    HWCAP_ATOMICS to HWCAP_IMPORTANT"), none before.  AT_PLATFORM is
 *    "aarch64", "aarch64_be" on big-endian kernels; glibc keeps it.
 *  - arm: "vfp" (bit 6) and "neon" (bit 12), all versions read (2.20 on).
 *    AT_PLATFORM is the CPU's ELF name plus 'l' or 'b' for endianness:
 *    v4l, v5l, v6l, v7l on 32-bit kernels, "v8l"/"v8b" for a 32-bit
 *    process on arm64.  VFP is optional on v5 and v6, NEON needs v7.  A
 *    hard-float binary (EF_ARM_ABI_FLOAT_HARD) needs a VFP, so no v4.
 *  - powerpc: "dfp" (bit 10) and "altivec" (bit 28), all versions.
 *    AT_PLATFORM is the kernel cputable's name: power4, ppc970, power5,
 *    power5+, power6, power6x, power7, power7+, power8, power9, power10,
 *    power11, power12, ppc-cell-be, pa6t on 64-bit CPUs (little-endian
 *    kernels run on power8 and later only); 32-bit book3s CPUs add
 *    ppc603, ppc604, ppc750, ppc7400, ppc7450.  (Embedded 32-bit cores
 *    have further names that are not listed here.)
 *  - s390: "zarch" (bit 1), "ldisp" (4), "eimm" (5), "dfp" (6); 2.30
 *    ("S390: Mark vx and vxe as important hwcap", and arch13) added "vx"
 *    (11), "vxe" (13), "vxe2" (15).  AT_PLATFORM from the machine type:
 *    z900 (also the default), z990, z9-109, z10, z196, zEC12, z13, z14,
 *    z15, z16, z17; "g5" on 31-bit kernels.  The facilities arrived in
 *    that order: ldisp with z990, eimm and dfp by z9/z10, vx z13, vxe
 *    z14, vxe2 z15.
 *  - riscv (and the generic dl-procinfo.h): HWCAP_IMPORTANT 0, and the
 *    kernel passes no AT_PLATFORM (ELF_PLATFORM is NULL), so the legacy
 *    list is "tls" alone and $PLATFORM has no value: elf/dl-load.c drops
 *    a path element whose $PLATFORM it cannot replace.
 *
 * $PLATFORM (elf/dl-load.c, _dl_dst_substitute) is dl_platform in every
 * version, 2.37+ included: the same values as above.
 *
 * Not modelled: LD_HWCAP_MASK / glibc.cpu.hwcap_mask and
 * --glibc-hwcaps-prepend/--glibc-hwcaps-mask can add or remove names;
 * they are choices of the environment, not of the CPU. */
#include "plan/hwcaps.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#ifndef EF_ARM_ABI_FLOAT_HARD
#define EF_ARM_ABI_FLOAT_HARD 0x400
#endif

/* ---- versions ---------------------------------------------------------- */

/* An unknown version stands for every version: "may be at least" and
 * "may be before" are both true of it, so the result is the union. */
static bool
known(const struct hwcaps_target *t)
{
  return t->glibc_major != 0;
}

static int
cmp_version(const struct hwcaps_target *t, int major, int minor)
{
  if (t->glibc_major != major)
    return t->glibc_major < major ? -1 : 1;
  return t->glibc_minor < minor ? -1 : t->glibc_minor > minor;
}

static bool
may_be_at_least(const struct hwcaps_target *t, int major, int minor)
{
  return !known(t) || cmp_version(t, major, minor) >= 0;
}

static bool
may_be_before(const struct hwcaps_target *t, int major, int minor)
{
  return !known(t) || cmp_version(t, major, minor) < 0;
}

/* ---- the model of one architecture ------------------------------------ */

#define MAX_NAMES 8
#define MAX_PLATFORMS 24

/* The important hwcap names in the loader's order (lowest bit first), the
 * ones this version uses, and each possible platform with the names a CPU
 * reporting it may have (bit i: names[i]). */
struct model {
  const char *names[MAX_NAMES];
  size_t n_names;
  unsigned enabled;
  struct {
    const char *platform;
    unsigned mask;
  } plats[MAX_PLATFORMS];
  size_t n_plats;
};

static void
add_name(struct model *m, const char *name, bool enabled)
{
  if (enabled)
    m->enabled |= 1u << m->n_names;
  m->names[m->n_names++] = name;
}

static void
add_platform(struct model *m, const char *platform, unsigned mask)
{
  m->plats[m->n_plats].platform = platform;
  m->plats[m->n_plats++].mask = mask;
}

static void
model_x86_64(const struct hwcaps_target *t, struct model *m)
{
  enum { X86_64 = 1, AVX512_1 = 2 };

  add_name(m, "x86_64", may_be_at_least(t, 2, 27));
  add_name(m, "avx512_1", may_be_at_least(t, 2, 26));
  /* The kernel's value, kept except on 2.26 (NULL there unless Intel). */
  if (may_be_before(t, 2, 26) || may_be_at_least(t, 2, 27))
    add_platform(m, "x86_64", X86_64 | AVX512_1);
  if (may_be_at_least(t, 2, 26)) {
    add_platform(m, "haswell", X86_64 | AVX512_1);
    add_platform(m, "xeon_phi", X86_64);
  }
}

static void
model_i386(const struct hwcaps_target *t, struct model *m)
{
  enum { NOSEGNEG = 1, SSE2 = 2 };

  add_name(m, "nosegneg", may_be_before(t, 2, 32));
  add_name(m, "sse2", true);
  add_platform(m, "i386", 0);
  add_platform(m, "i486", 0);
  add_platform(m, "i586", 0);
  add_platform(m, "i686", NOSEGNEG | SSE2);
}

static void
model_aarch64(const struct hwcaps_target *t, struct model *m)
{
  add_name(m, "atomics", may_be_at_least(t, 2, 28));
  add_platform(m, t->data == ELFDATA2MSB ? "aarch64_be" : "aarch64", 1);
}

static void
model_arm(const struct hwcaps_target *t, struct model *m)
{
  enum { VFP = 1, NEON = 2 };
  static const struct {
    const char *le, *be;
    unsigned mask;
  } cpus[] = {
    { "v4l", "v4b", 0 }, { "v5l", "v5b", VFP }, { "v6l", "v6b", VFP },
    { "v7l", "v7b", VFP | NEON }, { "v8l", "v8b", VFP | NEON },
  };
  bool hard = (t->e_flags & EF_ARM_ABI_FLOAT_HARD) != 0;

  add_name(m, "vfp", true);
  add_name(m, "neon", true);
  for (size_t i = 0; i < sizeof cpus / sizeof cpus[0]; i++)
    if (!hard || (cpus[i].mask & VFP))
      add_platform(m, t->data == ELFDATA2MSB ? cpus[i].be : cpus[i].le, cpus[i].mask);
}

static void
model_powerpc(const struct hwcaps_target *t, struct model *m)
{
  enum { DFP = 1, ALTIVEC = 2, BOTH = 3 };
  static const char *const le[] = { "power8", "power9", "power10", "power11", "power12" };
  static const struct {
    const char *name;
    unsigned mask;
  } be[] = {
    { "power4", 0 }, { "ppc970", ALTIVEC }, { "power5", 0 }, { "power5+", 0 },
    { "power6", BOTH }, { "power6x", BOTH }, { "power7", BOTH }, { "power7+", BOTH },
    { "ppc-cell-be", ALTIVEC }, { "pa6t", ALTIVEC },
  }, be32[] = {
    { "ppc603", 0 }, { "ppc604", 0 }, { "ppc750", 0 }, { "ppc7400", ALTIVEC }, { "ppc7450", ALTIVEC },
  };

  add_name(m, "dfp", true);
  add_name(m, "altivec", true);
  if (t->data == ELFDATA2MSB) {
    for (size_t i = 0; i < sizeof be / sizeof be[0]; i++)
      add_platform(m, be[i].name, be[i].mask);
    if (t->machine == EM_PPC)
      for (size_t i = 0; i < sizeof be32 / sizeof be32[0]; i++)
        add_platform(m, be32[i].name, be32[i].mask);
  }
  for (size_t i = 0; i < sizeof le / sizeof le[0]; i++)
    add_platform(m, le[i], BOTH);
}

static void
model_s390(const struct hwcaps_target *t, struct model *m)
{
  enum { ZARCH = 1, LDISP = 2, EIMM = 4, DFP = 8, VX = 16, VXE = 32, VXE2 = 64 };
  enum { Z9 = ZARCH | LDISP | EIMM | DFP, Z15 = Z9 | VX | VXE | VXE2 };
  static const struct {
    const char *name;
    unsigned mask;
  } cpus[] = {
    { "z900", ZARCH }, { "z990", ZARCH | LDISP }, { "z9-109", Z9 }, { "z10", Z9 }, { "z196", Z9 },
    { "zEC12", Z9 }, { "z13", Z9 | VX }, { "z14", Z9 | VX | VXE }, { "z15", Z15 }, { "z16", Z15 },
    { "z17", Z15 },
  };
  bool vector = may_be_at_least(t, 2, 30);

  add_name(m, "zarch", true);
  add_name(m, "ldisp", true);
  add_name(m, "eimm", true);
  add_name(m, "dfp", true);
  add_name(m, "vx", vector);
  add_name(m, "vxe", vector);
  add_name(m, "vxe2", vector);
  if (t->elf_class == ELFCLASS32)
    add_platform(m, "g5", 0);
  for (size_t i = 0; i < sizeof cpus / sizeof cpus[0]; i++)
    add_platform(m, cpus[i].name, cpus[i].mask);
}

/* Architectures not listed (RISC-V among them) have no important hwcaps
 * and, as far as modelled, no AT_PLATFORM. */
static void
model_of(const struct hwcaps_target *t, struct model *m)
{
  memset(m, 0, sizeof *m);
  switch (t->machine) {
  case EM_X86_64: model_x86_64(t, m); break;
  case EM_386: model_i386(t, m); break;
  case EM_AARCH64: model_aarch64(t, m); break;
  case EM_ARM: model_arm(t, m); break;
  case EM_PPC:
  case EM_PPC64: model_powerpc(t, m); break;
  case EM_S390: model_s390(t, m); break;
  default: break;
  }
}

/* ---- glibc-hwcaps ------------------------------------------------------ */

struct glibc_hwcap {
  const char *name;
  int major, minor; /* the first release that searches it */
};

static void
push_glibc_hwcaps(const struct hwcaps_target *t, const struct glibc_hwcap *names, size_t n,
                  struct strv *out)
{
  for (size_t i = 0; i < n; i++) {
    char *sub = xasprintf("glibc-hwcaps/%s", names[i].name);
    if (may_be_at_least(t, names[i].major, names[i].minor) && !strv_contains(out, sub))
      strv_push_take(out, sub);
    else
      free(sub);
  }
}

#define PUSH_GLIBC_HWCAPS(t, a, out) push_glibc_hwcaps((t), (a), sizeof(a) / sizeof((a)[0]), (out))

static void
glibc_hwcaps_subdirs(const struct hwcaps_target *t, struct strv *out)
{
  static const struct glibc_hwcap x86_64[] = {
    { "x86-64-v4", 2, 33 }, { "x86-64-v3", 2, 33 }, { "x86-64-v2", 2, 33 },
  }, ppc64le[] = {
    { "power10", 2, 33 }, { "power9", 2, 33 },
  }, s390x[] = {
    { "z17", 2, 42 }, { "z16", 2, 36 }, { "z15", 2, 33 }, { "z14", 2, 33 }, { "z13", 2, 33 },
  };

  if (t->machine == EM_X86_64)
    PUSH_GLIBC_HWCAPS(t, x86_64, out);
  else if (t->machine == EM_PPC64 && t->data == ELFDATA2LSB)
    PUSH_GLIBC_HWCAPS(t, ppc64le, out);
  else if (t->machine == EM_S390 && t->elf_class == ELFCLASS64)
    PUSH_GLIBC_HWCAPS(t, s390x, out);
}

/* ---- legacy power set -------------------------------------------------- */

/* "tls/PLATFORM/name.../name" for one subset, later names first, as the
 * loader writes it. */
static char *
legacy_path(const struct model *m, bool tls, const char *platform, unsigned mask)
{
  struct buf b = { 0 };

  buf_append(&b, "", 0); /* allocated: "" for the empty subset */
  if (tls)
    buf_printf(&b, "tls/");
  if (platform)
    buf_printf(&b, "%s/", platform);
  for (size_t i = m->n_names; i-- > 0;)
    if (mask & (1u << i))
      buf_printf(&b, "%s/", m->names[i]);
  if (b.len > 0)
    b.data[--b.len] = '\0';
  return b.data;
}

static void
push_nonempty(struct strv *v, char *path)
{
  if (path[0] == '\0')
    free(path);
  else
    strv_push_take(v, path);
}

/* Whether `s` is among items[from, n) of `v`. */
static bool
later_in(const struct strv *v, size_t from, const char *s)
{
  for (size_t i = from; i < v->n; i++)
    if (strcmp(v->items[i], s) == 0)
      return true;
  return false;
}

/* Whether some CPU may have every name of `mask` (a subset without the
 * platform is in the power set of every CPU whose names include it). */
static bool
some_cpu_has(const struct model *m, unsigned mask)
{
  for (size_t i = 0; i < m->n_plats; i++)
    if ((mask & ~m->plats[i].mask) == 0)
      return true;
  return mask == 0;
}

/* The union, over every CPU, of the loader's power sets, in an order that
 * agrees with each CPU's own: sorted by (tls, platform present, bit mask),
 * all descending, as each CPU's list is.  A name that is both a platform
 * and a hwcap ("x86_64") gives the same string at two places; it is kept
 * at the later one.  A CPU that has both tries it at the first, but
 * nothing it tries lies between the two (only haswell, xeon_phi or
 * avx512_1 entries do, and those CPUs have platform "x86_64" only when not
 * Intel or without AVX-512, short of a hypervisor hiding features). */
static void
legacy_subdirs(const struct model *m, struct strv *out)
{
  struct strv all = { 0 };
  unsigned top = m->enabled;

  for (int tls = 1; tls >= 0; tls--)
    for (int plat = 1; plat >= 0; plat--)
      for (unsigned mask = top + 1; mask-- > 0;) {
        if ((mask & ~top) != 0)
          continue;
        if (!plat) {
          if (some_cpu_has(m, mask))
            push_nonempty(&all, legacy_path(m, tls, NULL, mask));
          continue;
        }
        for (size_t i = 0; i < m->n_plats; i++)
          if ((mask & ~m->plats[i].mask) == 0)
            push_nonempty(&all, legacy_path(m, tls, m->plats[i].platform, mask));
      }
  for (size_t i = 0; i < all.n; i++)
    if (!later_in(&all, i + 1, all.items[i]) && !strv_contains(out, all.items[i]))
      strv_push(out, all.items[i]);
  strv_free(&all);
}

/* ---- the interface ----------------------------------------------------- */

void
hwcaps_subdirs(const struct hwcaps_target *t, struct strv *out)
{
  if (may_be_at_least(t, 2, 33))
    glibc_hwcaps_subdirs(t, out);
  if (may_be_before(t, 2, 37)) {
    struct model m;
    model_of(t, &m);
    legacy_subdirs(&m, out);
  }
}

void
hwcaps_platforms(const struct hwcaps_target *t, struct strv *out)
{
  struct model m;

  model_of(t, &m);
  for (size_t i = 0; i < m.n_plats; i++)
    if (!strv_contains(out, m.plats[i].platform))
      strv_push(out, m.plats[i].platform);
}

/* ---- the version banner ------------------------------------------------ */

#define BANNER "release version "
#define SCAN_MAX_BYTES (16u * 1024 * 1024)
#define SCAN_CHUNK (64u * 1024)
/* Kept from one chunk to the next so that a banner across the boundary is
 * still seen whole: the text and room for "NNN.NNN". */
#define SCAN_KEEP (sizeof BANNER + 16)

/* "X.Y" right after the banner at `p` (of `n` bytes); false when what
 * follows is not a version. */
static bool
parse_version(const char *p, size_t n, int *major, int *minor)
{
  int v[2] = { 0, 0 };
  size_t i = 0;

  for (int part = 0; part < 2; part++) {
    size_t start = i;
    while (i < n && i - start < 6 && p[i] >= '0' && p[i] <= '9')
      v[part] = v[part] * 10 + (p[i++] - '0');
    if (i == start || (part == 0 && (i >= n || p[i++] != '.')))
      return false;
  }
  *major = v[0];
  *minor = v[1];
  return true;
}

/* The banner in buf[0, len), whose version may run past `len` only if the
 * caller has more to read (then it is found again in the next window). */
static bool
find_banner(const char *buf, size_t len, bool more, int *major, int *minor)
{
  const char *p = buf, *end = buf + len;

  while ((p = memmem(p, (size_t) (end - p), BANNER, sizeof BANNER - 1)) != NULL) {
    const char *v = p + sizeof BANNER - 1;
    if (more && (size_t) (end - v) < SCAN_KEEP - sizeof BANNER)
      return false;
    if (parse_version(v, (size_t) (end - v), major, minor))
      return true;
    p = v;
  }
  return false;
}

int
hwcaps_glibc_version(const char *host_path, int *major, int *minor, struct derror *err)
{
  cleanup_close int fd = open(host_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  cleanup_free char *buf = xmalloc(SCAN_CHUNK + SCAN_KEEP);
  size_t kept = 0, total = 0;

  if (fd < 0)
    return derror_errno(err, errno, "open `%s`", host_path);
  while (total < SCAN_MAX_BYTES) {
    ssize_t r = read(fd, buf + kept, SCAN_CHUNK);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return derror_errno(err, errno, "read `%s`", host_path);
    total += (size_t) r;
    bool more = r > 0 && total < SCAN_MAX_BYTES;
    if (find_banner(buf, kept + (size_t) r, more, major, minor))
      return 0;
    if (r == 0)
      break;
    size_t len = kept + (size_t) r;
    kept = len < SCAN_KEEP ? len : SCAN_KEEP;
    memmove(buf, buf + len - kept, kept);
  }
  return derror_set(err, "`%s`: no glibc version banner (\"%s" "X.Y\") in its first %u MiB", host_path,
                    BANNER, SCAN_MAX_BYTES >> 20);
}
