#include "plan/base.h"
#include "lib/certs.h"
#include "lib/file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

/* A CA bundle of the whole Mozilla store is ~220 KB. */
#define CA_BUNDLE_MAX (16u * 1024 * 1024)
#define OS_RELEASE_MAX (64u * 1024)

static const char nsswitch[] = "passwd: files\n"
                               "group: files\n"
                               "shadow: files\n"
                               "gshadow: files\n"
                               "hosts: files dns\n"
                               "networks: files\n"
                               "protocols: files\n"
                               "services: files\n"
                               "ethers: files\n"
                               "rpc: files\n";

char *
base_passwd(const struct recipe *r)
{
  struct buf b = { 0 };

  buf_printf(&b, "root:x:0:0:root:/root:/sbin/nologin\n");
  buf_printf(&b, "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n");
  buf_printf(&b, "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n");
  for (size_t i = 0; i < r->n_users; i++) {
    const struct recipe_user *u = &r->users[i];
    buf_printf(&b, "%s:x:%u:%u:%s:%s:/sbin/nologin\n", u->name, u->uid, u->gid, u->name, u->home);
  }
  return b.data;
}

static bool
group_listed(const struct recipe *r, uint32_t gid)
{
  static const uint32_t builtin[] = { 0, 5, 50, 65534, 65532 };

  for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
    if (builtin[i] == gid)
      return true;
  for (size_t i = 0; i < r->n_groups; i++)
    if (r->groups[i].gid == gid)
      return true;
  return false;
}

char *
base_group(const struct recipe *r)
{
  struct buf b = { 0 };

  buf_printf(&b, "root:x:0:\ntty:x:5:\nstaff:x:50:\nnobody:x:65534:\nnonroot:x:65532:\n");
  for (size_t i = 0; i < r->n_groups; i++)
    buf_printf(&b, "%s:x:%u:\n", r->groups[i].name, r->groups[i].gid);
  /* A user's primary group exists even when the recipe does not list it. */
  for (size_t i = 0; i < r->n_users; i++) {
    const struct recipe_user *u = &r->users[i];
    bool earlier = false;
    for (size_t j = 0; j < i; j++)
      earlier |= r->users[j].gid == u->gid;
    if (!group_listed(r, u->gid) && !earlier)
      buf_printf(&b, "%s:x:%u:\n", u->name, u->gid);
  }
  return b.data;
}

char *
base_os_release(const char *text)
{
  struct buf b = { 0 };
  const char *pretty = "Linux";
  size_t pretty_len = 5;

  for (const char *line = text; line && *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t) (end - line) : strlen(line);
    if (strncmp(line, "PRETTY_NAME=", 12) == 0) {
      pretty = line + 12;
      pretty_len = len - 12;
      if (pretty_len >= 2 && (pretty[0] == '"' || pretty[0] == '\'') && pretty[pretty_len - 1] == pretty[0]) {
        pretty++;
        pretty_len -= 2;
      }
    }
    line = end ? end + 1 : NULL;
  }
  buf_printf(&b, "PRETTY_NAME=\"Distroless (%.*s)\"\n", (int) pretty_len, pretty);
  for (const char *line = text; line && *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t) (end - line) : strlen(line);
    if (strncmp(line, "PRETTY_NAME=", 12) != 0 && len > 0) {
      buf_append(&b, line, len);
      buf_append(&b, "\n", 1);
    }
    line = end ? end + 1 : NULL;
  }
  return b.data;
}

static int
add_certificates(struct rootfs *fs, const struct recipe *r, const struct sysroot *root, struct derror *err)
{
  const char *source = r->ca == RECIPE_CA_PATH ? r->ca_source.source : BASE_CA_BUNDLE;
  cleanup_free char *host = NULL;
  struct buf b = { 0 };
  struct stat st;

  if (sysroot_locate(root, r->dir, source, &st, &host, err) < 0) {
    if (r->ca == RECIPE_CA_SYSROOT)
      return derror_wrap(err, "ca-certificates: true, but no bundle (install ca-certificates in the sysroot "
                              "or set ca-certificates: false)");
    return derror_wrap(err, "ca-certificates");
  }
  /* an absolute source was resolved inside the sysroot: its last
   * component is no symlink, unless one was put there since */
  if (read_file_flags(host, source[0] == '/' ? O_NOFOLLOW : 0, CA_BUNDLE_MAX, &b, err) < 0)
    return derror_wrap(err, "ca-certificates");
  if (certs_check(b.data, b.len, source, err) < 0) {
    buf_free(&b);
    return derror_wrap(err, "ca-certificates");
  }
  rootfs_add_data(fs, BASE_CA_BUNDLE, fs->layers.base, b.data, b.len, 0644, "ca-certificates");
  buf_free(&b);
  return 0;
}

static int
add_os_release(struct rootfs *fs, const struct sysroot *root, struct derror *err)
{
  cleanup_free char *resolved = NULL, *text = NULL;
  struct buf b = { 0 };
  struct stat st;
  int r = sysroot_resolve(root, "/etc/os-release", NULL, NULL, &resolved, &st, err);

  if (r < 0 && !derror_is(err, DERROR_NOT_FOUND))
    return derror_wrap(err, "os-release");
  if (r < 0)
    derror_clear(err); /* a sysroot without one: distill's lines alone */
  if (r == 0 && S_ISREG(st.st_mode)) {
    cleanup_free char *host = sysroot_host_path(root, resolved);
    if (read_file_flags(host, O_NOFOLLOW, OS_RELEASE_MAX, &b, err) < 0)
      return derror_wrap(err, "os-release");
  }
  text = base_os_release(b.data ? b.data : "");
  buf_free(&b);
  rootfs_add_data(fs, "/etc/os-release", fs->layers.base, text, strlen(text), 0644, "os-release");
  return 0;
}

static int
add_tzdata(struct rootfs *fs, const struct sysroot *root, struct derror *err)
{
  cleanup_free char *host = NULL;
  struct stat st;

  if (sysroot_locate(root, "/", "/usr/share/zoneinfo", &st, &host, err) < 0)
    return derror_wrap(err, "tzdata: true, but no time zone data (install tzdata in the sysroot)");
  return rootfs_add_tree(fs, host, "/usr/share/zoneinfo", NULL, fs->layers.base, "tzdata", err);
}

static void
add_home(struct rootfs *fs, const char *path, uint32_t uid, uint32_t gid)
{
  struct rootfs_entry *e = rootfs_add_dir(fs, path, fs->layers.base, 0700, "accounts");
  e->uid = uid;
  e->gid = gid;
  e->fixed = true;
}

int
base_add(struct rootfs *fs, const struct recipe *r, const struct sysroot *root, struct derror *err)
{
  cleanup_free char *passwd = base_passwd(r);
  cleanup_free char *group = base_group(r);

  rootfs_add_data(fs, "/etc/passwd", fs->layers.base, passwd, strlen(passwd), 0644, "accounts");
  rootfs_add_data(fs, "/etc/group", fs->layers.base, group, strlen(group), 0644, "accounts");
  rootfs_add_data(fs, "/etc/nsswitch.conf", fs->layers.base, nsswitch, sizeof nsswitch - 1, 0644, "base");
  struct rootfs_entry *tmp = rootfs_add_dir(fs, "/tmp", fs->layers.base, 01777, "base");
  tmp->fixed = true;
  add_home(fs, "/root", 0, 0);
  add_home(fs, "/home/nonroot", 65532, 65532);
  for (size_t i = 0; i < r->n_users; i++)
    add_home(fs, r->users[i].home, r->users[i].uid, r->users[i].gid);
  if (add_os_release(fs, root, err) < 0)
    return -1;
  if (r->ca != RECIPE_CA_NONE && add_certificates(fs, r, root, err) < 0)
    return -1;
  if (r->tzdata && add_tzdata(fs, root, err) < 0)
    return -1;
  return 0;
}
