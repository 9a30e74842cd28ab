#include "distill/policy.h"

#include <fnmatch.h>
#include <string.h>
#include <sys/stat.h>

/* An image without these cannot be used to pivot: no interpreter to run a
 * dropped script, no way to install tools.  Patterns are fnmatch(3) ones. */
static const char *const shells[] = {
  "sh", "bash", "rbash", "dash", "ash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "csh", "tcsh", "fish", "yash",
  "posh", "busybox", "toybox", NULL,
};
static const char *const package_managers[] = {
  "apt", "apt-get", "apt-cache", "aptitude", "dpkg", "dpkg-deb", "apk", "rpm", "yum", "dnf", "microdnf", "tdnf",
  "zypper", "pacman", "emerge", "opkg", "ipkg", "xbps-install", "nix-env", "pip", "pip[0-9]*", "easy_install",
  NULL,
};

static const char *
match(const char *const patterns[], const char *name)
{
  for (size_t i = 0; patterns[i]; i++)
    if (fnmatch(patterns[i], name, 0) == 0)
      return patterns[i];
  return NULL;
}

const char *
policy_shell_name(const char *name)
{
  return match(shells, name);
}

const char *
policy_package_manager_name(const char *name)
{
  return match(package_managers, name);
}

const char *
policy_forbidden_name(const char *name)
{
  const char *what = policy_shell_name(name);
  return what ? what : policy_package_manager_name(name);
}

static mode_t
normal_mode(const struct rootfs_entry *e)
{
  switch (e->type) {
  case ROOTFS_DIR:
    return 0755;
  case ROOTFS_SYMLINK:
    return 0777;
  case ROOTFS_FILE:
  case ROOTFS_HARDLINK:
    break;
  }
  return (e->mode & 0111) ? 0755 : 0644;
}

void
policy_normalize(struct rootfs *fs)
{
  for (size_t i = 0; i < fs->n; i++) {
    struct rootfs_entry *e = &fs->items[i];
    if (e->fixed) {
      e->mode &= ~(mode_t) (S_ISUID | S_ISGID);
      continue;
    }
    e->uid = e->gid = 0;
    if (e->mode_set && e->type == ROOTFS_FILE)
      e->mode &= ~(mode_t) (S_ISUID | S_ISGID | S_ISVTX | S_IWGRP | S_IWOTH);
    else
      e->mode = normal_mode(e);
  }
}

int
policy_check(const struct rootfs *fs, struct derror *err)
{
  for (size_t i = 0; i < fs->n; i++) {
    const struct rootfs_entry *e = &fs->items[i];
    if (e->type == ROOTFS_DIR)
      continue;
    const char *what = policy_forbidden_name(strrchr(e->path, '/') + 1);
    if (what)
      return derror_set(err, "%s: `%s` is a shell or package manager (\"%s\"); distill images have none",
                        e->origin, e->path, what);
  }
  return 0;
}
