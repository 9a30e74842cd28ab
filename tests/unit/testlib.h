/* Helpers shared by the unit tests: scratch directories, files, fixtures
 * compiled with the system's gcc. */
#ifndef DISTILL_TESTLIB_H
#define DISTILL_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/alloc.h"
#include "lib/file.h"
#include "lib/path.h"

/* `n` bytes that compress somewhat, like a tar of programs: text and
 * noise, the same every time. */
static inline unsigned char *
tl_sample(size_t n)
{
  unsigned char *p = xmalloc(n ? n : 1);
  uint32_t x = 2463534242u;

  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (i / 4096) % 3 == 0 ? (unsigned char) x : (unsigned char) "distill layer text "[i % 19];
  }
  return p;
}

/* A fresh directory under $TMPDIR, removed by tl_rmtree(). */
static inline char *
tl_tmpdir(void)
{
  const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  char *d = xasprintf("%s/distill-test.XXXXXX", base);
  /* not assert_non_null(): a compiler that cannot see it never returns
   * (gcc with UBSan) would take d for NULL after it */
  if (mkdtemp(d) == NULL)
    fail_msg("mkdtemp %s failed", d);
  return d;
}

static inline int
tl_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run a shell command line; returns its exit status. */
static inline int
tl_sh(const char *fmt, ...)
{
  va_list ap;
  char *cmd;

  va_start(ap, fmt);
  assert_true(vasprintf(&cmd, fmt, ap) >= 0);
  va_end(ap);
  int r = system(cmd);
  free(cmd);
  return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static inline void
tl_rmtree(char *dir)
{
  if (dir && strncmp(dir, "/", 1) == 0 && strstr(dir, "distill-test."))
    tl_sh("rm -rf '%s'", dir);
  free(dir);
}

/* Write `text` to dir/rel, creating parent directories. */
static inline char *
tl_write(const char *dir, const char *rel, const char *text)
{
  char *path = xasprintf("%s/%s", dir, rel);
  char *parent = path_dirname(path);
  assert_int_equal(tl_sh("mkdir -p '%s'", parent), 0);
  free(parent);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
  return path;
}

static inline char *
tl_read(const char *path, size_t *len)
{
  struct buf b = { 0 };
  struct derror err = DERROR_INIT;
  assert_int_equal(read_file(path, 1u << 30, &b, &err), 0);
  if (len)
    *len = b.len;
  return b.data;
}

/* Compile a C source text with gcc and the given flags into `out`. */
static inline void
tl_cc(const char *out, const char *source, const char *flags)
{
  char *src = xasprintf("%s.c", out);
  FILE *f = fopen(src, "w");
  assert_non_null(f);
  fputs(source, f);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(tl_sh("gcc -o '%s' '%s' %s", out, src, flags), 0);
  unlink(src);
  free(src);
}

#endif
