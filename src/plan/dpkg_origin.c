/* Where each Debian package of an image comes from: the Origin of the APT
 * repository that has its exact version (dpkg.h, dpkg_origins()). */
#include "plan/dpkg.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "plan/sysroot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Lists larger than this are not read, nor more of one than LIST_TEXT_MAX
 * once decompressed. */
#define LIST_MAX (1ull << 30)
#define LIST_TEXT_MAX (4ull << 30)

/* The file `name` of the lists directory (no symlink), or -1. */
static int
open_list(int dir, const char *name)
{
  struct stat st;
  int fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);

  if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (unsigned long long) st.st_size > LIST_MAX)) {
    close(fd);
    fd = -1;
  }
  return fd;
}

/* The Origin field of a Release or InRelease file (the first paragraph,
 * after a clearsigned header), or NULL. */
static char *
release_origin(int dir, const char *name)
{
  int fd = open_list(dir, name);
  FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
  char line[1024];
  char *origin = NULL;

  if (f == NULL) {
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  for (int n = 0; n < 200 && fgets(line, sizeof line, f); n++) {
    if (strncmp(line, "-----BEGIN PGP SIGNATURE", 24) == 0)
      break;
    if (strncmp(line, "Origin:", 7) == 0) {
      char *v = line + 7 + strspn(line + 7, " \t");
      v[strcspn(v, "\r\n")] = '\0';
      if (*v && strlen(v) < 128)
        origin = xstrdup(v);
      break;
    }
  }
  fclose(f);
  return origin;
}

/* The Origin of the repository a Packages list (name "X_Packages" or
 * "X_Packages.gz") belongs to: the Release or InRelease file named by the
 * longest prefix of X ending at a '_' ("host_path_dists_suite" for
 * "host_path_dists_suite_main_binary-amd64"; X itself in a flat
 * repository). */
static char *
list_origin(int dir, const char *list)
{
  cleanup_free char *stem = xstrndup(list, (size_t) (strstr(list, "_Packages") - list));

  for (char *cut = stem + strlen(stem); cut; cut = strrchr(stem, '_')) {
    *cut = '\0';
    for (int k = 0; k < 2; k++) {
      cleanup_free char *rel = xasprintf("%s_%s", stem, k ? "Release" : "InRelease");
      char *origin = release_origin(dir, rel);
      if (origin)
        return origin;
    }
  }
  return NULL;
}

static int
by_name(const void *key, const void *item)
{
  return strcmp(key, ((const struct dpkg_package *) item)->name);
}

/* A paragraph of a Packages list ends: the package of `pkgs` with that
 * name, architecture and version gets `origin`, unless the distribution
 * has it already (a Debian origin wins over any other). */
static void
paragraph_end(struct dpkg_packages *pkgs, const char *name, const char *arch, const char *version,
              const char *origin)
{
  struct dpkg_package *pk = bsearch(name, pkgs->items, pkgs->n, sizeof *pkgs->items, by_name);

  if (pk == NULL)
    return;
  while (pk > pkgs->items && strcmp(pk[-1].name, name) == 0)
    pk--;
  for (; pk < pkgs->items + pkgs->n && strcmp(pk->name, name) == 0; pk++) {
    if (strcmp(pk->version, version) != 0 || (strcmp(pk->arch, arch) != 0 && strcmp(arch, "all") != 0))
      continue;
    if (pk->origin == NULL || strcmp(origin, "Debian") == 0) {
      free(pk->origin);
      pk->origin = xstrdup(origin);
    }
  }
}

/* Every paragraph of one Packages list (plain or gzip), by its
 * Package, Architecture and Version fields; a line longer than the
 * buffer is skipped whole, and what is past LIST_TEXT_MAX unread. */
static void
read_list(struct dpkg_packages *pkgs, int dir, const char *list, const char *origin)
{
  int fd = open_list(dir, list);
  gzFile z = fd >= 0 ? gzdopen(fd, "rb") : NULL;
  char line[4096], name[256] = "", arch[64] = "", version[256] = "";
  bool at_start = true;
  unsigned long long total = 0;

  if (z == NULL) {
    if (fd >= 0)
      close(fd);
    return;
  }
  while (total < LIST_TEXT_MAX && gzgets(z, line, sizeof line)) {
    size_t n = strlen(line);
    total += n ? n : 1;
    bool start = at_start;
    at_start = n && line[n - 1] == '\n';
    if (!start)
      continue;
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0') {
      if (*name && *arch && *version)
        paragraph_end(pkgs, name, arch, version, origin);
      name[0] = arch[0] = version[0] = '\0';
    } else if (strncmp(line, "Package: ", 9) == 0 && strlen(line + 9) < sizeof name) {
      strcpy(name, line + 9);
    } else if (strncmp(line, "Architecture: ", 14) == 0 && strlen(line + 14) < sizeof arch) {
      strcpy(arch, line + 14);
    } else if (strncmp(line, "Version: ", 9) == 0 && strlen(line + 9) < sizeof version) {
      strcpy(version, line + 9);
    }
  }
  if (*name && *arch && *version)
    paragraph_end(pkgs, name, arch, version, origin);
  gzclose(z);
}

static int
by_string(const void *a, const void *b)
{
  return strcmp(*(char *const *) a, *(char *const *) b);
}

void
dpkg_origins(struct dpkg_packages *pkgs, const struct sysroot *root)
{
  struct derror ignored = DERROR_INIT;
  cleanup_free char *resolved = NULL, *host = NULL;
  struct stat st;
  struct strv lists = { 0 };
  DIR *d = NULL;

  for (size_t i = 0; i < pkgs->n; i++) {
    const struct dpkg_package *pk = &pkgs->items[i];
    pkgs->items[i].origin = pk->stanza ? dpkg_field(pk->stanza, strlen(pk->stanza), "Origin") : NULL;
  }
  if (pkgs->n == 0 || sysroot_resolve(root, "/var/lib/apt/lists", NULL, NULL, &resolved, &st, &ignored) < 0
      || !S_ISDIR(st.st_mode))
    goto out;
  host = sysroot_host_path(root, resolved);
  if ((d = opendir(host)) == NULL)
    goto out;
  for (struct dirent *de; (de = readdir(d)) != NULL && lists.n < 4096;) {
    const char *p = strstr(de->d_name, "_Packages");
    if (p && (strcmp(p, "_Packages") == 0 || strcmp(p, "_Packages.gz") == 0))
      strv_push(&lists, de->d_name);
  }
  /* the order of the directory has no say */
  if (lists.n)
    qsort(lists.items, lists.n, sizeof *lists.items, by_string);
  for (size_t i = 0; i < lists.n; i++) {
    cleanup_free char *origin = list_origin(dirfd(d), lists.items[i]);
    if (origin)
      read_list(pkgs, dirfd(d), lists.items[i], origin);
  }
out:
  if (d)
    closedir(d);
  strv_free(&lists);
  derror_clear(&ignored);
}
