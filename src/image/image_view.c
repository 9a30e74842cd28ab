/* An image archive's merged tree as a view, for the loader's rules: the
 * bytes the closure and the can-start rule read (ELF files whole, the
 * first bytes of other programs, the accounts and the loader's cache) are
 * extracted once into a private temporary directory. */
#include "image/image_view.h"
#include "image/image.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "plan/view.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Enough of a program to tell a script's interpreter or an ELF header. */
#define PROGRAM_HEAD 4096
#define SMALL_FILE_MAX (4u * 1024 * 1024)

static uint64_t
wanted(void *data, const struct image_file *f)
{
  static const char *const small[] = { "/etc/passwd", "/etc/group", "/etc/ld.so.cache", "/etc/ld.so.preload", NULL };

  if (f->marks & IMAGE_MARK_ELF)
    return f->size ? f->size : 1;
  for (size_t i = 0; small[i]; i++)
    if (strcmp(f->path, small[i]) == 0)
      return SMALL_FILE_MAX;
  return (f->mode & 0111) ? PROGRAM_HEAD : 0;
}

/* A hardlink is its target's inode: type, mode, owner and bytes. */
static const struct image_file *
link_target(const struct image *img, const struct image_file *f)
{
  for (int hops = 0; f && f->type == 'h' && hops < VIEW_MAX_SYMLINKS; hops++)
    f = image_find(img, f->target);
  return f;
}

static int
image_lookup_one(const struct view *v, const char *path, bool lower, struct view_node *out, struct derror *err)
{
  const struct image_view *iv = v->data;
  const struct image_file *f = link_target(iv->img, image_find(iv->img, path));

  memset(out, 0, sizeof *out);
  if (f == NULL)
    return 0;
  out->mode = f->mode;
  out->uid = f->uid;
  out->gid = f->gid;
  out->size = f->size;
  switch (f->type) {
  case 'd':
    out->type = VIEW_DIR;
    return 0;
  case 'l':
    out->type = VIEW_SYMLINK;
    out->target = f->target;
    return 0;
  case 'f':
    out->type = VIEW_FILE;
    snprintf(out->buf, sizeof out->buf, "%s/%zu", iv->dir, (size_t) (f - iv->img->files));
    /* a file whose bytes were not wanted reads as empty */
    out->host = access(out->buf, F_OK) == 0 ? out->buf : NULL;
    return 0;
  default:
    out->type = VIEW_OTHER;
    return 0;
  }
}

int
image_view_open(struct image_view *iv, const char *archive, const struct image *img, struct derror *err)
{
  const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

  memset(iv, 0, sizeof *iv);
  iv->img = img;
  iv->dir = xasprintf("%s/distill-image.XXXXXX", tmp);
  if (mkdtemp(iv->dir) == NULL) {
    derror_errno(err, errno, "make a temporary directory in `%s`", tmp);
    free(iv->dir);
    iv->dir = NULL;
    return -1;
  }
  iv->view.lookup = image_lookup_one;
  iv->view.data = iv;
  iv->view.name = "the image";
  if (image_extract(archive, img, wanted, NULL, iv->dir, err) < 0) {
    image_view_close(iv);
    return -1;
  }
  return 0;
}

void
image_view_close(struct image_view *iv)
{
  if (iv->dir) {
    for (size_t i = 0; i < iv->img->n_files; i++) {
      cleanup_free char *file = xasprintf("%s/%zu", iv->dir, i);
      unlink(file);
    }
    rmdir(iv->dir);
    free(iv->dir);
  }
  memset(iv, 0, sizeof *iv);
}
