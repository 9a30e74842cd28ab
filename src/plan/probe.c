/* The probe's entry in the image.  It goes into the app layer: the base
 * layer then stays the same bytes whether or not an image has a probe (an
 * organisation's images share it), and the probe, a few KB, is the app's
 * own choice, like its URL. */
#include "plan/probe.h"

#include <string.h>

/* The cross compiler that builds each platform's probe when distill is
 * built (probe/meson.build): the host's is always built, by the C compiler. */
static const struct {
  const char *arch, *compiler;
} compilers[] = {
  { "amd64", "x86_64-linux-gnu-gcc" },
  { "arm64", "aarch64-linux-gnu-gcc" },
  { "386", "i686-linux-gnu-gcc" },
  { "arm", "arm-linux-gnueabihf-gcc" },
};

const struct probe_binary *
probe_for(const char *arch)
{
  for (const struct probe_binary *p = probe_binaries; p->arch; p++)
    if (strcmp(p->arch, arch) == 0)
      return p;
  return NULL;
}

int
probe_add(struct rootfs *fs, const char *file, const char *arch, const char *variant, struct derror *err)
{
  const struct probe_binary *p = probe_for(arch);
  const char *compiler = NULL;

  /* ARMv7 code, which an ARMv8 CPU runs as well, an older one not */
  if (p && variant && strcmp(arch, "arm") == 0 && strcmp(variant, "v7") != 0 && strcmp(variant, "v8") != 0)
    return derror_set(err, "%s: healthcheck: this distill has no probe for linux/arm/%s: distill's is built for "
                      "linux/arm/v7; use test: a program of the image", file, variant);
  if (p == NULL) {
    for (size_t i = 0; i < sizeof compilers / sizeof *compilers; i++)
      if (strcmp(compilers[i].arch, arch) == 0)
        compiler = compilers[i].compiler;
    return derror_set(err,
                      "%s: healthcheck: this distill has no probe for linux/%s%s%s: %s%s%s", file, arch,
                      variant ? "/" : "", variant ? variant : "",
                      compiler ? "build distill where " : "the probe has no system calls for it; use test: a program of the image",
                      compiler ? compiler : "", compiler ? " is installed (meson finds it when it configures)" : "");
  }
  struct rootfs_entry *e =
    rootfs_add_data(fs, PROBE_PATH, LAYER_APP, (const char *) p->bytes, p->len, 0755, "healthcheck probe");
  e->uid = 0;
  e->gid = 0;
  e->fixed = true;
  return 0;
}
