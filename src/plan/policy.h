/* What an image may contain and with which owners and modes
 * (DESIGN.md section 3). */
#ifndef DISTILL_POLICY_H
#define DISTILL_POLICY_H

#include "lib/error.h"
#include "plan/rootfs.h"

#include <stdbool.h>

/* Normalise every entry not marked `fixed`: owned by 0:0, directories 0755,
 * executables 0755, other files 0644; explicit modes keep their bits less
 * setuid, setgid, sticky and group/other write.  Fixed entries lose setuid and
 * setgid only. */
void policy_normalize(struct rootfs *fs);

/* Name rules apply to programs only: a file with an x bit, or ELF content
 * (which `ld.so FILE` runs whatever its mode).  A data file named like a
 * shell or package manager (the bash completion of apt, a man page
 * pip3.1.gz, /usr/share/menu/dash) is neither. */
bool policy_is_program(mode_t mode, bool elf);

/* The name of a shell or package manager `name` is, or NULL. */
const char *policy_forbidden_name(const char *name);
const char *policy_shell_name(const char *name);
const char *policy_package_manager_name(const char *name);

/* Refuse shells and package managers by the base name of every program of
 * the image (policy_is_program; a hardlink as its file, a symlink as what
 * it resolves to in the image, a dangling one as a program). */
int policy_check(const struct rootfs *fs, struct derror *err);

#endif
