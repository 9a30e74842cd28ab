/* libFuzzer: the ELF reader, the loader's candidate check, and the closure
 * of the object against this machine as the sysroot. */
#include "plan/closure.h"
#include "plan/elf.h"
#include "plan/rootfs.h"
#include "plan/sysroot.h"
#include "plan/view.h"
#include "lib/error.h"
#include "memfile.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct sysroot root;
  const char *path = memfile(data, size);
  struct derror err = DERROR_INIT;
  struct elf_info elf, cand;

  if (root.root == NULL && sysroot_open(&root, "/", &err) < 0)
    abort();
  if (elf_read_candidate(path, "fuzz", NULL, &cand, &err) == 0)
    elf_info_free(&cand);
  derror_clear(&err);
  if (elf_read(path, "fuzz", &elf, &err) == 0) {
    struct rootfs fs = { 0 };
    struct closure c;
    struct view view;

    view_host(&view, root.root);
    closure_init(&c, &view, &root, &fs, LAYER_LIBRARIES);
    if (closure_add_program(&c, "/fuzz/prog", "/fuzz", NULL, path, &elf, &err) == 0)
      closure_resolve(&c, &err);
    closure_free(&c);
    rootfs_free(&fs);
  }
  derror_clear(&err);
  return 0;
}
