/* The shared-library closure of ELF objects, by the search rules of glibc's
 * dynamic loader (elf/dl-load.c), read inside a sysroot and never by running
 * anything.  Every path the loader would open is added to the rootfs: the
 * symlinks met on the way stay symlinks, the objects are regular files. */
#ifndef DISTILL_CLOSURE_H
#define DISTILL_CLOSURE_H

#include "distill/elf.h"
#include "distill/error.h"
#include "distill/rootfs.h"
#include "distill/sysroot.h"

/* One object of the closure. */
struct closure_object {
  char *name;     /* as requested (DT_NEEDED, PT_INTERP or the recipe) */
  char *path;     /* in-root path the loader opens */
  char *real;     /* in-root path after symlinks */
  char *origin;   /* $ORIGIN: directory of `path` */
  struct elf_info elf;
  int loader;     /* index of the object that needed it, -1 for roots */
  bool processed; /* its DT_NEEDED have been resolved */
};

struct closure {
  const struct sysroot *root;
  struct rootfs *fs;
  enum rootfs_layer layer;
  struct elf_info ref;    /* class and machine every object must match */
  bool have_ref;
  struct strv conf_dirs;  /* from /etc/ld.so.conf, read once */
  bool conf_loaded;
  struct closure_object *objects;
  size_t n_objects, cap_objects;
};

void closure_init(struct closure *c, const struct sysroot *root, struct rootfs *fs, enum rootfs_layer layer);
void closure_free(struct closure *c);

/* A program placed in the image (not searched for): its interpreter and
 * its DT_NEEDED.  `name` is its image path; `origin` the directory $ORIGIN
 * means for it.  Takes over `elf`, leaving it empty. */
int closure_add_program(struct closure *c, const char *name, const char *origin, struct elf_info *elf,
                        struct derror *err);
/* A library loaded with dlopen(): a soname searched for like a DT_NEEDED
 * of the program, or an absolute in-root path. */
int closure_add_library(struct closure *c, const char *name, struct derror *err);
/* Resolve everything added so far. */
int closure_resolve(struct closure *c, struct derror *err);

/* The directories of the sysroot's /etc/ld.so.conf, includes expanded, in
 * order and without repeats. */
int closure_read_ld_so_conf(const struct sysroot *root, struct strv *dirs, struct derror *err);

#endif
