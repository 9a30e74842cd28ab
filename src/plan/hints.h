/* What the loader cannot see: libraries programs load with dlopen().  The
 * closure is exact for DT_NEEDED; these hints name the usual dlopen
 * dependencies a program of the closure is likely to need at run time. */
#ifndef DISTILL_HINTS_H
#define DISTILL_HINTS_H

#include "plan/closure.h"
#include "plan/sysroot.h"
#include "lib/alloc.h"

/* One sentence per hint, for the programs of `c` (roots placed by the
 * recipe as binaries). */
void hints_for_closure(const struct closure *c, const struct sysroot *root, struct strv *out);

#endif
