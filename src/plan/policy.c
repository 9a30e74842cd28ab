#include "plan/policy.h"
#include "plan/view.h"
#include "lib/path.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


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

bool
policy_is_program(mode_t mode, bool elf)
{
  return (mode & 0111) || elf;
}

/* The content's first bytes are ELF's magic. */
static bool
has_elf_magic(const struct rootfs_entry *e)
{
  char magic[4];

  if (e->data)
    return e->size >= 4 && memcmp(e->data, "\177ELF", 4) == 0;
  if (e->source == NULL)
    return false;
  int fd = open(e->source, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  bool elf = fd >= 0 && pread(fd, magic, 4, 0) == 4 && memcmp(magic, "\177ELF", 4) == 0;
  if (fd >= 0)
    close(fd);
  return elf;
}

/* Where the symlink `path` leads in the planned image, by the one walker
 * (view.h): *out the entry, NULL for the root; false when it leads nowhere
 * (a missing component, a loop). */
static bool
resolve(const struct rootfs *fs, const struct view *v, const char *path, const struct rootfs_entry **out)
{
  cleanup_free char *resolved = NULL;
  struct derror err = DERROR_INIT;
  struct view_node node;

  if (view_resolve(v, path, false, NULL, NULL, NULL, &resolved, &node, &err) < 0) {
    derror_clear(&err);
    return false;
  }
  *out = strcmp(resolved, "/") == 0 ? NULL : rootfs_find(fs, resolved);
  return strcmp(resolved, "/") == 0 || *out != NULL;
}

/* Whether an entry runs as a program (policy_is_program): a hardlink as
 * its file, a symlink as where it leads; one that leads nowhere counts,
 * since nothing shows that it is not. */
static bool
entry_is_program(const struct rootfs *fs, const struct view *v, const struct rootfs_entry *e)
{
  const struct rootfs_entry *to;

  switch (e->type) {
  case ROOTFS_DIR:
    return false;
  case ROOTFS_FILE:
    return policy_is_program(e->mode, has_elf_magic(e));
  case ROOTFS_HARDLINK:
    to = rootfs_find(fs, e->target);
    return policy_is_program(e->mode, false) || (to && to->type == ROOTFS_FILE && entry_is_program(fs, v, to));
  case ROOTFS_SYMLINK:
    if (!resolve(fs, v, e->path, &to))
      return true;
    return to && to->type != ROOTFS_SYMLINK && entry_is_program(fs, v, to);
  }
  return true;
}

int
policy_check(const struct rootfs *fs, struct derror *err)
{
  struct rootfs_view rv;
  int ret = 0;

  rootfs_view_init(&rv, fs, NULL);
  for (size_t i = 0; i < fs->n && ret == 0; i++) {
    const struct rootfs_entry *e = &fs->items[i];
    if (e->type == ROOTFS_DIR)
      continue;
    const char *what = policy_forbidden_name(strrchr(e->path, '/') + 1);
    if (what && entry_is_program(fs, &rv.view, e))
      ret = derror_set(err, "%s: `%s` is a shell or package manager (\"%s\"); distill images have none",
                       e->origin, e->path, what);
  }
  rootfs_view_free(&rv);
  return ret;
}
