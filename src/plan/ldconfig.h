/* What ldconfig leaves for the loader in a sysroot: /etc/ld.so.cache
 * (format glibc-ld.so.cache1.1) and, when there is no cache, the
 * directories of /etc/ld.so.conf it would have been made from. */
#ifndef DISTILL_LDCONFIG_H
#define DISTILL_LDCONFIG_H

#include "plan/elf.h"
#include "lib/error.h"
#include "plan/sysroot.h"
#include "lib/alloc.h"
#include "plan/view.h"

#include <stddef.h>
#include <stdint.h>

struct ldcache {
  char *data; /* the whole file */
  size_t size;
  uint32_t nlibs;
  size_t entries; /* offset of the first entry */
};

/* Read the cache of a tree (a sysroot, an image).  Returns 1 when there is a usable one, 0 when
 * there is none (or only the pre-2.32 format, which the loader also
 * ignores when a new one is missing), -1 when it is malformed. */
int ldcache_load(const struct view *v, struct ldcache *cache, struct derror *err);
void ldcache_free(struct ldcache *cache);

/* The path the loader would take from the cache for `name`, for objects
 * whose cache flags are `flags` (ldcache_flags()); NULL when absent.
 * Only entries without hwcaps are answered: glibc-hwcaps variants are
 * found beside the answer by the closure. */
const char *ldcache_lookup(const struct ldcache *cache, const char *name, int32_t flags);

/* The cache flags the loader of such ELF objects accepts
 * (_DL_CACHE_DEFAULT_ID), or -1 when unknown. */
int32_t ldcache_flags(const struct elf_info *elf);

/* The directories of /etc/ld.so.conf, includes expanded, in order and
 * without repeats. */
int ldconf_read(const struct sysroot *root, struct strv *dirs, struct derror *err);

#endif
