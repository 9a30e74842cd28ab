/* The base layer: accounts, name service, os-release, CA certificates,
 * tzdata and the always-present directories (DESIGN.md section 3). */
#ifndef DISTILL_BASE_H
#define DISTILL_BASE_H

#include "lib/error.h"
#include "recipe/recipe.h"
#include "plan/rootfs.h"
#include "plan/sysroot.h"

#include <stddef.h>
#include <time.h>

#define BASE_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

int base_add(struct rootfs *fs, const struct recipe *r, const struct sysroot *root, struct derror *err);

/* The text of /etc/passwd and /etc/group for a recipe. */
char *base_passwd(const struct recipe *r);
char *base_group(const struct recipe *r);
/* os-release of the sysroot with PRETTY_NAME marking the image distroless. */
char *base_os_release(const char *sysroot_text);


#endif
