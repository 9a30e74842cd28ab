/* The shared-library closure of ELF objects, by the search rules of glibc's
 * dynamic loader (elf/dl-load.c, _dl_map_object), read in a view of the
 * tree the program will run in (a sysroot, the planned image over its
 * sysroot, an image) and never by running anything.  Every path the loader
 * would open that the view's lower tree (the sysroot) supplies is added to
 * the rootfs: the symlinks met on the way stay symlinks, the objects are
 * regular files.  The CPU that runs the image is not the one that builds
 * it: every variant the loader could pick on any CPU of the architecture
 * is taken. */
#ifndef DISTILL_CLOSURE_H
#define DISTILL_CLOSURE_H

#include "plan/elf.h"
#include "lib/error.h"
#include "plan/ldconfig.h"
#include "plan/rootfs.h"
#include "plan/sysroot.h"
#include "plan/view.h"

/* How an object was found, in the loader's order of search. */
enum closure_how {
  CLOSURE_PROGRAM,  /* placed by the recipe */
  CLOSURE_INTERP,   /* PT_INTERP */
  CLOSURE_PATH,     /* a name with a slash, or an absolute dlopen */
  CLOSURE_RPATH,
  CLOSURE_RUNPATH,
  CLOSURE_CACHE,    /* /etc/ld.so.cache */
  CLOSURE_CONF,     /* /etc/ld.so.conf, when the sysroot has no cache */
  CLOSURE_DEFAULT,  /* the loader's system directories */
  CLOSURE_BESIDE,   /* $ORIGIN beside a source outside the sysroot */
};

const char *closure_how_name(enum closure_how how);

struct closure_object {
  char *name;   /* as requested (DT_NEEDED, PT_INTERP or the recipe) */
  char *path;   /* in-root path the loader opens */
  char *real;   /* in-root path after symlinks */
  char *origin; /* $ORIGIN: directory of `path`, symlinks not resolved */
  char *host;   /* where its bytes are read */
  char *host_origin; /* $ORIGIN's counterpart beside the source, when that is outside the sysroot */
  struct elf_info elf;
  int loader;   /* index of the object that needed it, -1 for roots */
  int process;  /* index of the root: each program is its own process */
  enum closure_how how;
  const char *variant; /* glibc-hwcaps or legacy subdirectory, or the $PLATFORM value, or NULL */
  bool processed;      /* its DT_NEEDED have been resolved */
};

/* Where the loader's system directories are (and so what $LIB is). */
enum closure_layout { LAYOUT_UNKNOWN, LAYOUT_MULTIARCH, LAYOUT_LIB64, LAYOUT_LIB };

struct closure {
  const struct view *view;
  const struct sysroot *root; /* or NULL: the view is an image, whose loader reads no ld.so.conf */
  struct rootfs *fs;
  rootfs_layer layer;
  struct elf_info ref; /* class and machine every object must match */
  bool have_ref;
  const char *cwd;     /* the process's directory: empty or relative elements */
  struct ldcache cache;
  int cache_state;     /* 0 unread, 1 present, 2 absent, 3 unreadable: ignored as the loader does */
  struct strv conf_dirs;
  bool conf_loaded;
  bool cpu_ready;       /* subdirs, platforms and layout computed */
  enum closure_layout layout; /* read from the interpreter, or unknown */
  struct strv subdirs;  /* hwcaps subdirectories, for any CPU */
  struct strv platforms; /* the values of $PLATFORM, for any CPU */
  struct closure_object *objects;
  size_t n_objects, cap_objects;
  struct strv missing;  /* one sentence per library not found */
  struct strv warnings;
};

/* `root` is the sysroot under `view` (or NULL); it and `view` must outlive the closure. */
void closure_init(struct closure *c, const struct view *view, const struct sysroot *root, struct rootfs *fs,
                  rootfs_layer layer);
void closure_free(struct closure *c);

/* A program or library placed in the image (not searched for), the root of
 * a process of its own: its interpreter and its DT_NEEDED.  `name` is its
 * image path, `origin` the directory $ORIGIN means for it, `host` where it
 * is read, `host_origin` (or NULL) the directory beside its source that
 * $ORIGIN stands for when the source is outside the sysroot.  Takes over
 * `elf`, leaving it empty. */
int closure_add_program(struct closure *c, const char *name, const char *origin, const char *host_origin,
                        const char *host, struct elf_info *elf, struct derror *err);
/* A library loaded with dlopen() by the first program (or by nothing): a
 * soname searched for like its DT_NEEDED, or an absolute in-root path. */
int closure_add_library(struct closure *c, const char *name, struct derror *err);
/* Resolve everything added so far, breadth first.  Libraries not found are
 * collected in `missing`; -1 means an error that stops the loader itself
 * (a file under a searched name that is not a loadable ELF object). */
int closure_resolve(struct closure *c, struct derror *err);

/* The loader's system directories for the sysroot's layout. */
void closure_system_dirs(const struct closure *c, struct strv *dirs);

#endif
