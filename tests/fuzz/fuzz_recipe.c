/* libFuzzer: the recipe parser, as `distill build` calls it. */
#include "recipe/recipe.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct recipe r;
  struct derror err = DERROR_INIT;

  recipe_parse("/fuzz/recipe.yaml", (const char *) data, size, &r, &err);
  derror_clear(&err);
  recipe_free(&r);
  return 0;
}
