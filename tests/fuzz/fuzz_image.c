/* libFuzzer: the image reader and the checks, as `distill check` runs them. */
#include "distill/check.h"
#include "memfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *path = memfile(data, size);
  struct derror err = DERROR_INIT;
  struct image img;
  struct check_report rep;

  if (image_read(path, &img, &err) == 0) {
    if (check_image(path, &img, true, &rep, &err) == 0)
      check_report_free(&rep);
    image_free(&img);
  }
  derror_clear(&err);
  return 0;
}
