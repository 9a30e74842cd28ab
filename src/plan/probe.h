/* distill's health probe (probe/probe.c) in the image: the bytes this
 * build compiled for each platform it had a compiler for (probes.c,
 * generated from them by probe/embed.py), and the entry that places them. */
#ifndef DISTILL_PROBE_H
#define DISTILL_PROBE_H

#include "lib/error.h"
#include "plan/rootfs.h"

#include <stddef.h>

/* Where the probe is in every image that has one: root's, 0755. */
#define PROBE_PATH "/usr/libexec/distill/probe"

struct probe_binary {
  const char *arch; /* OCI architecture: "amd64", "arm" (its variant is v7, Debian's armhf) */
  const unsigned char *bytes;
  size_t len;
};

/* The probes of this build, ending with { NULL }. */
extern const struct probe_binary probe_binaries[];

/* The probe for `arch`, or NULL when this build has none. */
const struct probe_binary *probe_for(const char *arch);
/* Add the probe of `arch`/`variant` to `fs`, or say which compiler
 * distill must be built with to have it (`file` is the recipe's). */
int probe_add(struct rootfs *fs, const char *file, const char *arch, const char *variant, struct derror *err);

#endif
