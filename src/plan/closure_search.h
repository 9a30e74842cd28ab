/* The loader's search, shared by the files of the closure: closure.c keeps
 * the objects and walks them in the loader's order of search,
 * closure_dirs.c says where the loader looks (its system directories, the
 * CPU variants, the dynamic string tokens), closure_probe.c tries one name
 * in one place and adds what the loader would map. */
#ifndef DISTILL_CLOSURE_SEARCH_H
#define DISTILL_CLOSURE_SEARCH_H

#include "plan/closure.h"
#include "plan/elf.h"
#include "lib/alloc.h"
#include "lib/error.h"

#include <stdbool.h>

/* What became of one file name the loader tried. */
enum probe {
  PROBE_FOUND,   /* loaded (or already loaded under another name) */
  PROBE_PARTIAL, /* found only on some CPUs: on the others the search goes on */
  PROBE_ABSENT,  /* not there: the search goes on */
  PROBE_OTHER,   /* another class or machine: the search goes on */
  PROBE_STOP,    /* open failed otherwise (a symlink loop): the loader
                    gives up the rest of this list of directories */
  PROBE_ERROR,   /* the loader stops with an error */
};

/* One name being looked for, and what the search has learnt of it. */
struct request {
  const char *name; /* as requested */
  int loader;       /* requesting object, or -1 */
  int process;      /* the process it is loaded into, or -1 */
  enum closure_how how;
  bool other_class; /* a candidate for another machine was passed by */
  bool partial;     /* found so far only for some CPUs */
};

/* closure.c: the objects. */

/* Add an object, taking over `elf`; `process` is the root the object is
 * loaded under, or -1: a root itself.  Returns its index. */
int closure_new_object(struct closure *c, const char *name, const char *path, const char *real,
                       struct elf_info *elf, int loader, int process, enum closure_how how);
/* The object at `idx` as messages call it (-1: the recipe). */
const char *closure_object_name(const struct closure *c, int idx);

/* closure_dirs.c: where the loader looks. */

/* True when `path` lies under one of the loader's system directories. */
bool closure_under_system_dir(const struct closure *c, const char *path);
/* Compute the hwcaps subdirectories and $PLATFORM values once the
 * interpreter is known; later calls do nothing. */
void closure_cpu_variants(struct closure *c);
/* `elem` with $ORIGIN, $LIB and $PLATFORM expanded. */
char *closure_expand_tokens(const struct closure *c, const char *elem, const char *origin, const char *platform);
/* True when `s` names the token `token` ($TOKEN or ${TOKEN}). */
bool closure_has_token(const char *s, const char *token);

/* closure_probe.c: one name in one place. */

/* One path; with `lower` false, in the planned image alone. */
enum probe probe_path(struct closure *c, struct request *rq, const char *path, bool lower, const char *variant,
                      struct derror *err);
/* One path, and its counterpart `host_path` beside a source outside the
 * sysroot (or NULL). */
enum probe probe_name(struct closure *c, struct request *rq, const char *path, const char *host_path,
                      const char *variant, struct derror *err);
/* A DT_RPATH or DT_RUNPATH list of object `o`; the directories tried are
 * added to `searched`, for the message when nothing is found. */
enum probe probe_list(struct closure *c, struct request *rq, const char *list, const struct closure_object *o,
                      struct strv *searched, struct derror *err);
/* Directories in order (the system's, or ld.so.conf's). */
enum probe probe_dirs(struct closure *c, struct request *rq, const struct strv *dirs, bool nodeflib,
                      struct strv *searched, struct derror *err);
/* /etc/ld.so.cache, or the sysroot's ld.so.conf where it has no cache. */
enum probe probe_cache(struct closure *c, struct request *rq, bool nodeflib, struct strv *searched,
                       struct derror *err);

#endif
