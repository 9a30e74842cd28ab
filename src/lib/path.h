/* Image and host paths taken apart and put together lexically (no file
 * system access: src/plan/view.c resolves symbolic links). */
#ifndef DISTILL_PATH_H
#define DISTILL_PATH_H

/* Join an absolute directory and a relative or absolute name, normalising
 * duplicate slashes; `dir` "/" and name "x" give "/x". */
char *path_join(const char *dir, const char *name);
/* The directory part of an absolute path ("/" for "/x"). */
char *path_dirname(const char *path);
const char *path_basename(const char *path);
/* Lexically normalise an absolute image path: collapse "//" and ".",
 * refuse "..".  Returns NULL when the path is not absolute or has "..". */
char *path_normalize(const char *path);
/* Normalise an absolute path with ".." taken lexically (stopping at the
 * root), for paths whose directories are known not to be symlinks; NULL
 * when not absolute. */
char *path_lexical(const char *path);

#endif
