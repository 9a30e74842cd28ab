/* Temporary files that a killed build must not leave behind. */
#ifndef DISTILL_TMPGUARD_H
#define DISTILL_TMPGUARD_H

#include <stdbool.h>

/* Files removed when SIGINT, SIGTERM or SIGHUP ends the program, which
 * then dies of that signal as it would have: temporary files, which have a
 * name only while guarded.  `name` is relative to `dirfd` (duplicated here;
 * AT_FDCWD for a path), shorter than PATH_MAX bytes.  0, or -1 with errno
 * EEXIST when the name is guarded already, ENOSPC when the table is full.
 * The handlers are installed with the first name, for the signals that are
 * not ignored or handled.  The build output's temporary file (util.c,
 * atomic_open) is guarded too. */
int tmpfile_guard(int dirfd, const char *name);
/* Forget `name`; remove it first when `remove` (in the directory given). */
void tmpfile_unguard(const char *name, bool remove);

#endif
