/* An image archive's merged tree as a view (view.h), so that the loader's
 * rules can be applied to any image: the closure of its entrypoint, the
 * can-start rule of `distill check`. */
#ifndef DISTILL_IMAGE_VIEW_H
#define DISTILL_IMAGE_VIEW_H

#include "image/image.h"
#include "plan/view.h"

struct image_view {
  struct view view;
  const struct image *img;
  char *dir; /* the extracted bytes, one file per index of img->files */
};

/* `img` was read from `archive` and must outlive the view. */
int image_view_open(struct image_view *iv, const char *archive, const struct image *img, struct derror *err);
void image_view_close(struct image_view *iv);

#endif
