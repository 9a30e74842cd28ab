/* An image's Debian packages and their differences: see packages.h; the
 * order of versions is versions.c's. */
#include "image/packages.h"
#include "plan/dpkg.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/file.h"
#include "lib/tmpguard.h"

#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATUS_D "/var/lib/dpkg/status.d/"
#define STANZA_MAX (1u << 20)

#define MD5SUMS_SUFFIX ".md5sums"
#define MD5SUMS_MAX (8u << 20)

/* A regular file directly in status.d: a stanza, or a stanza's md5sums. */
static bool
in_status_d(const struct image_file *f)
{
  const char *rest = f->path + strlen(STATUS_D);

  return f->type == 'f' && strncmp(f->path, STATUS_D, strlen(STATUS_D)) == 0 && *rest && !strchr(rest, '/');
}

static bool
is_md5sums(const char *path)
{
  size_t n = strlen(path), k = strlen(MD5SUMS_SUFFIX);
  return n > k && strcmp(path + n - k, MD5SUMS_SUFFIX) == 0;
}

/* A stanza of status.d (not an md5sums). */
static uint64_t
want_stanza(void *data, const struct image_file *f)
{
  (void) data;
  if (!in_status_d(f) || is_md5sums(f->path))
    return 0;
  return f->size < STANZA_MAX ? f->size : STANZA_MAX;
}

/* A stanza, or the md5sums that lists its package's files. */
static uint64_t
want_record(void *data, const struct image_file *f)
{
  if (!in_status_d(f))
    return 0;
  if (!is_md5sums(f->path))
    return want_stanza(data, f);
  return f->size < MD5SUMS_MAX ? f->size : MD5SUMS_MAX;
}

static int
by_name_arch(const void *pa, const void *pb)
{
  const struct image_package *a = pa, *b = pb;
  int c = strcmp(a->name, b->name);
  return c ? c : strcmp(a->arch, b->arch);
}

/* The files of a package's md5sums, extracted to `dir` (lines "MD5  PATH",
 * PATH without its leading slash), as image paths; its stanza and md5sums
 * are its own too.  An image without the md5sums has only those. */
static int
read_files(const struct image *img, const char *dir, size_t stanza, struct strv *files, struct derror *err)
{
  const char *path = img->files[stanza].path;
  cleanup_free char *sums = xasprintf("%s%s", path, MD5SUMS_SUFFIX);
  const struct image_file *f = image_find(img, sums);
  struct buf text = { 0 };

  strv_push(files, path);
  if (f == NULL || want_record(NULL, f) == 0)
    return 0;
  strv_push(files, sums);
  cleanup_free char *file = xasprintf("%s/%zu", dir, (size_t) (f - img->files));
  if (read_file(file, MD5SUMS_MAX, &text, err) < 0)
    return -1;
  for (size_t at = 0; at < text.len;) {
    const char *line = text.data + at, *eol = memchr(line, '\n', text.len - at);
    size_t n = eol ? (size_t) (eol - line) : text.len - at;
    at += n + 1;
    if (n > 34 && line[32] == ' ' && line[33] == ' ') {
      cleanup_free char *name = xstrndup(line + 34, n - 34);
      strv_push_take(files, xasprintf("/%s", name));
    }
  }
  buf_free(&text);
  return 0;
}

static int
by_path(const void *pa, const void *pb)
{
  const struct image_owned *a = pa, *b = pb;
  return strcmp(a->path, b->path);
}

/* Every package's files, by path. */
static void
index_files(struct image_packages *out)
{
  for (size_t i = 0; i < out->n; i++)
    for (size_t k = 0; k < out->items[i].files.n; k++) {
      out->owned = xreallocarray(out->owned, out->n_owned + 1, sizeof *out->owned);
      out->owned[out->n_owned++] = (struct image_owned){ out->items[i].files.items[k], i };
    }
  if (out->n_owned)
    qsort(out->owned, out->n_owned, sizeof *out->owned, by_path);
}

/* The stanzas extracted to `dir`, read. */
static int
read_stanzas(const struct image *img, const char *dir, struct image_packages *out, struct derror *err)
{
  for (size_t i = 0; i < img->n_files; i++) {
    if (want_stanza(NULL, &img->files[i]) == 0)
      continue;
    cleanup_free char *path = xasprintf("%s/%zu", dir, i);
    struct buf text = { 0 };
    if (read_file(path, STANZA_MAX, &text, err) < 0)
      return -1;
    const char *t = text.data ? text.data : "";
    struct image_package p = { dpkg_field(t, text.len, "Package"), dpkg_field(t, text.len, "Architecture"),
                               dpkg_field(t, text.len, "Version"), img->files[i].layer, { 0 } };
    buf_free(&text);
    if (p.name == NULL || p.version == NULL) {
      free(p.name), free(p.arch), free(p.version);
      continue;
    }
    if (p.arch == NULL)
      p.arch = xstrdup("all");
    out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
    out->items[out->n++] = p;
    if (read_files(img, dir, i, &out->items[out->n - 1].files, err) < 0)
      return -1;
  }
  if (out->n)
    qsort(out->items, out->n, sizeof *out->items, by_name_arch);
  index_files(out);
  return 0;
}

const struct image_package *
image_package_of(const struct image_packages *p, const char *path)
{
  struct image_owned key = { path, 0 };
  const struct image_owned *o = p->n_owned ? bsearch(&key, p->owned, p->n_owned, sizeof key, by_path) : NULL;

  return o ? &p->items[o->package] : NULL;
}

/* What image_extract wrote to `dir` (the stanzas, by index), and `dir`. */
static void
remove_stanzas(const struct image *img, const char *dir)
{
  for (size_t i = 0; i < img->n_files; i++)
    if (want_record(NULL, &img->files[i]) > 0) {
      cleanup_free char *file = xasprintf("%s/%zu", dir, i);
      unlink(file);
    }
  rmdir(dir);
}

int
image_packages(const char *archive, const struct image *img, struct image_packages *out, struct derror *err)
{
  const char *base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  cleanup_free char *dir = xasprintf("%s/distill-packages.XXXXXX", base);
  bool any = false;
  int ret;

  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < img->n_files && !any; i++)
    any = want_stanza(NULL, &img->files[i]) > 0;
  if (!any)
    return 0;
  if (mkdtemp(dir) == NULL)
    return derror_errno(err, errno, "a temporary directory in `%s`", base);
  ret = image_extract(archive, img, want_record, NULL, dir, err);
  if (ret == 0)
    ret = read_stanzas(img, dir, out, err);
  remove_stanzas(img, dir);
  if (ret < 0)
    image_packages_free(out);
  return ret;
}

void
image_packages_free(struct image_packages *p)
{
  for (size_t i = 0; i < p->n; i++) {
    free(p->items[i].name);
    free(p->items[i].arch);
    free(p->items[i].version);
    strv_free(&p->items[i].files);
  }
  free(p->items);
  free(p->owned);
  memset(p, 0, sizeof *p);
}

/* ---- two images' ------------------------------------------------------- */

size_t
packages_diff(const struct image_packages *a, const struct image_packages *b, struct package_diff **out)
{
  size_t i = 0, k = 0, n = 0;

  *out = xcalloc(a->n + b->n + 1, sizeof **out);
  while (i < a->n || k < b->n) {
    int c = i == a->n ? 1 : k == b->n ? -1 : by_name_arch(&a->items[i], &b->items[k]);
    struct package_diff *d = &(*out)[n];
    if (c < 0) {
      *d = (struct package_diff){ a->items[i].name, a->items[i].arch, a->items[i].version, NULL, PACKAGE_REMOVED };
      i++, n++;
    } else if (c > 0) {
      *d = (struct package_diff){ b->items[k].name, b->items[k].arch, NULL, b->items[k].version, PACKAGE_ADDED };
      k++, n++;
    } else {
      int v = debian_version_cmp(a->items[i].version, b->items[k].version);
      if (v)
        *d = (struct package_diff){ a->items[i].name, a->items[i].arch, a->items[i].version, b->items[k].version,
                                    v < 0 ? PACKAGE_UPGRADED : PACKAGE_DOWNGRADED };
      n += v != 0;
      i++, k++;
    }
  }
  return n;
}

const char *
package_change_name(enum package_change c)
{
  switch (c) {
  case PACKAGE_ADDED:
    return "added";
  case PACKAGE_REMOVED:
    return "removed";
  case PACKAGE_UPGRADED:
    return "upgrade";
  case PACKAGE_DOWNGRADED:
    return "downgrade";
  }
  return "?";
}
