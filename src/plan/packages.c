#include "plan/packages.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "lib/file.h"
#include "lib/path.h"
#include "plan/dpkg.h"
#include "plan/dpkg_dirs.h"
#include "plan/elf.h"
#include "plan/policy.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATUS "/var/lib/dpkg/status"
#define INFO "/var/lib/dpkg/info"
#define MAX_DB_FILE (256u << 20)

/* A package is a runtime the application is built on (node, Python, a
 * library's tools), which changes with the sysroot, not with each build of
 * the application: it goes with the shared-library closure, below the
 * application's own files, so that a change to those re-ships no package. */
rootfs_layer
packages_layer(const struct recipe_package *pkg)
{
  return pkg->layer.index; /* the libraries layer, unless it names one (recipe/layers.c) */
}

/* Why each is left out (the man page says the same):
 * - doc: changelogs, READMEs, examples; the copyright, which the licence
 *   asks to ship with the files, is added back by dpkg_annotate;
 * - man, info: read by man(1) and info(1), which the image has not;
 * - lintian: overrides for Debian's archive checker, used when building;
 * - locale: message catalogues, which no program uses in an image without
 *   the compiled locales (/usr/lib/locale) a distill image has not. */
static const char *const doc_dirs[] = {
  "/usr/share/doc", "/usr/share/man", "/usr/share/info", "/usr/share/lintian", "/usr/share/locale", NULL,
};

bool
packages_is_doc(const char *path)
{
  for (size_t i = 0; doc_dirs[i]; i++) {
    size_t n = strlen(doc_dirs[i]);
    if (strncmp(path, doc_dirs[i], n) == 0 && (path[n] == '\0' || path[n] == '/'))
      return true;
  }
  return false;
}

bool
packages_excluded(const struct strv *exclude, const char *path)
{
  if (exclude->n == 0)
    return false;
  cleanup_free char *p = xstrdup(path);
  for (char *slash; (slash = strrchr(p, '/')) != NULL; *slash = '\0') {
    for (size_t i = 0; i < exclude->n; i++)
      if (fnmatch(exclude->items[i], slash + 1, 0) == 0 || fnmatch(exclude->items[i], p, FNM_PATHNAME) == 0)
        return true;
    if (slash == p)
      break;
  }
  return false;
}

/* "WANT FLAG STATE": dpkg has unpacked and configured every file when the
 * flag is "ok" and the state "installed", whatever is wanted (a held
 * package, or one selected for removal, is still whole). */
static bool
status_installed(const char *status)
{
  size_t l = strlen(status);
  const char *sp = strchr(status, ' ');
  return sp && l >= 13 && strcmp(status + l - 13, " ok installed") == 0 && sp == status + l - 13;
}

int
packages_find_installed(const char *text, size_t len, const char *name, const char *arch, char **arch_out,
                        struct derror *err)
{
  struct strv found = { 0 }, other = { 0 };
  cleanup_free char *bad = NULL;

  for (const char *p = text; p < text + len;) {
    const char *end = memmem(p, (size_t) (text + len - p), "\n\n", 2);
    size_t n = end ? (size_t) (end - p) + 1 : (size_t) (text + len - p);
    cleanup_free char *pkg = dpkg_field(p, n, "Package");
    cleanup_free char *a = dpkg_field(p, n, "Architecture");
    cleanup_free char *status = dpkg_field(p, n, "Status");
    if (pkg && a && strcmp(pkg, name) == 0) {
      if (arch && strcmp(a, arch) != 0)
        strv_push(&other, a);
      else if (status && status_installed(status))
        strv_push(&found, a);
      else if (bad == NULL)
        bad = status ? steal_pointer(&status) : xstrdup("(none)");
    }
    p += n;
    while (p < text + len && *p == '\n')
      p++;
  }
  int ret = 0;
  if (found.n == 1) {
    *arch_out = xstrdup(found.items[0]);
  } else if (found.n > 1) {
    ret = derror_set(err, "`%s` is installed for %s and %s: name one as %s:ARCH", name, found.items[0],
                     found.items[1], name);
  } else if (bad) {
    ret = derror_set(err, "`%s` is not installed in the sysroot: its status is \"%s\", not \"install ok installed\"",
                     name, bad);
  } else if (other.n) {
    ret = derror_set(err, "`%s:%s` is not installed in the sysroot (`%s:%s` is)", name, arch, name,
                     other.items[0]);
  } else {
    ret = derror_set(err, "`%s` is not installed in the sysroot (its dpkg status has no such package)", name);
  }
  strv_free(&found);
  strv_free(&other);
  return ret;
}

/* One package being added. */
struct unit {
  const struct sysroot *root;
  struct dpkg_dirs dirs;
  struct rootfs *fs;
  rootfs_layer layer;
  const struct recipe_package *pkg;
  const char *what;
  struct strv *warnings;
  size_t missing;
  char *first_missing;
};

/* A program that is a shell or a package manager: refused by name, here
 * where the package can be named, before policy_check would refuse it. */
static int
check_program(struct unit *u, const char *path, const char *host, mode_t mode, struct derror *err)
{
  const char *base = path_basename(path), *shell = policy_shell_name(base);
  const char *bad = shell ? shell : policy_package_manager_name(base);

  if (bad == NULL || !policy_is_program(mode, elf_has_magic(host)))
    return 0;
  return derror_set(err,
                    "%s: package `%s` brings `%s`, a %s (\"%s\"); distill images have none (leave it out "
                    "with exclude, or take what you need with contents.files)",
                    u->what, u->pkg->name, path, shell ? "shell" : "package manager", bad);
}

static int
add_regular(struct unit *u, const char *canon, struct derror *err)
{
  cleanup_free char *host = NULL;
  struct stat st;

  /* a credential store or kernel interface is refused as any source is */
  if (sysroot_locate(u->root, NULL, canon, &st, &host, err) < 0)
    return derror_wrap(err, "%s", u->what);
  if (check_program(u, canon, host, st.st_mode, err) < 0)
    return -1;
  if (st.st_mode & (S_ISUID | S_ISGID))
    strv_push_take(u->warnings, xasprintf("%s: `%s` of package `%s` is set%s: the bit is dropped in the image",
                                          u->what, canon, u->pkg->name, (st.st_mode & S_ISUID) ? "uid" : "gid"));
  struct rootfs_entry *e = rootfs_add_file(u->fs, canon, u->layer, host, (uint64_t) st.st_size,
                                           st.st_mode & 07777, u->what);
  /* its own mode, less what policy drops from any explicit mode */
  e->mode_set = true;
  e->linked = st.st_nlink > 1;
  e->dev = st.st_dev;
  e->ino = st.st_ino;
  return 0;
}

/* One line of the list: an absolute path the package installed. */
static int
add_listed(struct unit *u, const char *path, struct derror *err)
{
  if (strcmp(path, "/.") == 0 || strcmp(path, "/") == 0 || packages_is_doc(path)
      || packages_excluded(&u->pkg->exclude, path))
    return 0;
  cleanup_free char *canon = dpkg_canonical(u->root, &u->dirs, path);
  if (canon && (packages_is_doc(canon) || packages_excluded(&u->pkg->exclude, canon)))
    return 0;
  cleanup_free char *host = canon ? sysroot_host_path(u->root, canon) : NULL;
  struct stat st;
  if (canon == NULL || lstat(host, &st) < 0) {
    if (canon && errno != ENOENT && errno != ENOTDIR)
      return derror_errno(err, errno, "%s: `%s`", u->what, host);
    if (u->missing++ == 0)
      u->first_missing = xstrdup(path);
    return 0;
  }
  if (S_ISDIR(st.st_mode)) {
    if (strcmp(canon, "/") != 0)
      rootfs_add_dir(u->fs, canon, u->layer, st.st_mode & 07777, u->what);
    return 0;
  }
  if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlink(host, target, sizeof target - 1);
    if (n < 0)
      return derror_errno(err, errno, "%s: readlink `%s`", u->what, host);
    target[n] = '\0';
    rootfs_add_symlink(u->fs, canon, u->layer, target, u->what);
    return 0;
  }
  if (S_ISREG(st.st_mode))
    return add_regular(u, canon, err);
  return derror_set(err, "%s: `%s`: a device, FIFO or socket cannot be put in an image", u->what, path);
}

/* info/NAME:ARCH.list (a Multi-Arch: same package), else info/NAME.list. */
static int
read_list(const struct sysroot *root, const char *name, const char *arch, struct buf *out, struct derror *err)
{
  cleanup_free char *qualified = xasprintf("%s/%s:%s.list", INFO, name, arch);
  cleanup_free char *plain = xasprintf("%s/%s.list", INFO, name);
  cleanup_free char *host = sysroot_host_path(root, qualified);

  if (access(host, F_OK) < 0) {
    free(host);
    host = sysroot_host_path(root, plain);
  }
  if (access(host, F_OK) < 0)
    return derror_set(err, "`%s`: its list of files (%s) is not in the sysroot", name, plain);
  return read_file(host, MAX_DB_FILE, out, err);
}

/* Every line of the list, in its order (the rootfs sorts). */
static int
add_lines(struct unit *u, struct buf *list, struct derror *err)
{
  for (char *line = list->data; line && line < list->data + list->len;) {
    char *eol = memchr(line, '\n', (size_t) (list->data + list->len - line));
    if (eol)
      *eol = '\0';
    if (line[0] == '/' && add_listed(u, line, err) < 0)
      return -1;
    line = eol ? eol + 1 : NULL;
  }
  return 0;
}

int
packages_add(const struct recipe *r, size_t i, const struct sysroot *root, struct rootfs *fs,
             struct strv *warnings, struct derror *err)
{
  const struct recipe_package *pkg = &r->packages[i];
  cleanup_free char *what = xasprintf("%s:%u:%u: contents.packages[%zu]", r->file, pkg->pos.line,
                                      pkg->pos.column, i);
  cleanup_free char *status = sysroot_host_path(root, STATUS);
  cleanup_free char *arch = NULL;
  struct buf text = { 0 }, list = { 0 };
  struct unit u = { .root = root, .fs = fs, .layer = packages_layer(pkg), .pkg = pkg, .what = what,
                    .warnings = warnings };
  int ret = -1;

  if (access(status, F_OK) < 0) {
    derror_set(err, "%s: `%s`: the sysroot has no dpkg database (%s)", what, pkg->name, STATUS);
    goto out;
  }
  if (read_file(status, MAX_DB_FILE, &text, err) < 0
      || packages_find_installed(text.data, text.len, pkg->name, pkg->arch, &arch, err) < 0
      || read_list(root, pkg->name, arch, &list, err) < 0) {
    derror_wrap(err, "%s", what);
    goto out;
  }
  if (add_lines(&u, &list, err) < 0)
    goto out;
  if (u.missing)
    strv_push_take(warnings, xasprintf("%s: %zu file%s of package `%s` %s not in the sysroot (the first: `%s`)",
                                       what, u.missing, u.missing == 1 ? "" : "s", pkg->name,
                                       u.missing == 1 ? "is" : "are", u.first_missing));
  ret = 0;
out:
  free(u.first_missing);
  dpkg_dirs_free(&u.dirs);
  buf_free(&text);
  buf_free(&list);
  return ret;
}
