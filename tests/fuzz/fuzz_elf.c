/* libFuzzer: the ELF reader, the loader's candidate check, the closure
 * of the object against this machine as the sysroot, and the SBOM's
 * readers of programs (.dep-v0, .go.buildinfo) and of package metadata
 * (the bytes as a section, a package.json, core metadata, a RECORD). */
#include "plan/ecosystem.h"
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

static void
sbom_inputs(const char *path, const uint8_t *data, size_t size)
{
  struct eco_packages pkgs = { 0 };
  struct eco_package pk;
  struct strv paths = { 0 };
  struct rootfs fs = { 0 };
  struct derror err = DERROR_INIT;

  if (rootfs_add_file(&fs, "/usr/bin/fuzz", LAYER_APP, path, size, 0755, "fuzz") && rootfs_finish(&fs, &err) == 0)
    eco_scan_binaries(&fs, &pkgs);
  rootfs_free(&fs);
  derror_clear(&err);
  eco_cargo_section(data, size, "/x", &pkgs);
  eco_go_buildinfo(data, size, "/x", &pkgs);
  eco_packages_free(&pkgs);
  if (eco_npm_manifest((const char *) data, size, &pk)) {
    eco_push(&pkgs, &pk);
    eco_packages_free(&pkgs);
  }
  if (eco_pypi_metadata((const char *) data, size, &pk)) {
    eco_push(&pkgs, &pk);
    eco_packages_free(&pkgs);
  }
  eco_pypi_record((const char *) data, size, "/site", &paths);
  strv_free(&paths);
}

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
  sbom_inputs(path, data, size);
  return 0;
}
