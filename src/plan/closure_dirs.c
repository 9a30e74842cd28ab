#include "plan/closure.h"
#include "plan/closure_search.h"
#include "lib/alloc.h"
#include "lib/error.h"
#include "lib/file.h"
#include "plan/elf.h"
#include "plan/hwcaps.h"
#include "plan/view.h"

#include <ctype.h>
#include <elf.h>
#include <string.h>

/* ---- the sysroot's layout --------------------------------------------- */

/* The loader's system directories are compiled into it: Debian's searches
 * /lib/<triplet>, /usr/lib/<triplet>, /lib and /usr/lib, a lib64 one
 * (Fedora, Arch) /lib64 and /usr/lib64.  Its own bytes say which (the
 * list is a run of strings in it); without a loader to read, the
 * sysroot's layout does. */
static enum closure_layout
layout_of_loader(const struct closure *c, const char *host)
{
  const char *mt = elf_multiarch(&c->ref);
  cleanup_free char *multi = mt ? xasprintf("/lib/%s/", mt) : NULL;
  struct derror err = DERROR_INIT;
  struct buf b = { 0 };
  enum closure_layout l = LAYOUT_UNKNOWN;

  if (read_file(host, 16u << 20, &b, &err) < 0) {
    derror_clear(&err);
    return l;
  }
  if (multi && memmem(b.data, b.len, multi, strlen(multi) + 1))
    l = LAYOUT_MULTIARCH;
  else if (memmem(b.data, b.len, "/lib64/", sizeof "/lib64/"))
    l = LAYOUT_LIB64;
  else if (memmem(b.data, b.len, "/lib/", sizeof "/lib/"))
    l = LAYOUT_LIB;
  buf_free(&b);
  return l;
}

static enum closure_layout
layout_of_tree(const struct closure *c)
{
  const char *mt = elf_multiarch(&c->ref);
  cleanup_free char *lib = mt ? xasprintf("/lib/%s", mt) : NULL;
  cleanup_free char *usrlib = mt ? xasprintf("/usr/lib/%s", mt) : NULL;

  if (mt && (view_is(c->view, lib, VIEW_DIR) || view_is(c->view, usrlib, VIEW_DIR)))
    return LAYOUT_MULTIARCH;
  return c->ref.elf_class == ELFCLASS64 ? LAYOUT_LIB64 : LAYOUT_LIB;
}

void
closure_system_dirs(const struct closure *c, struct strv *dirs)
{
  const char *mt = elf_multiarch(&c->ref);
  enum closure_layout l = c->layout != LAYOUT_UNKNOWN ? c->layout : layout_of_tree(c);

  if (l == LAYOUT_MULTIARCH && mt) {
    strv_push_take(dirs, xasprintf("/lib/%s", mt));
    strv_push_take(dirs, xasprintf("/usr/lib/%s", mt));
  } else if (l == LAYOUT_LIB64) {
    strv_push(dirs, "/lib64");
    strv_push(dirs, "/usr/lib64");
    return;
  }
  strv_push(dirs, "/lib");
  strv_push(dirs, "/usr/lib");
}

bool
closure_under_system_dir(const struct closure *c, const char *path)
{
  struct strv sys = { 0 };
  bool under = false;

  closure_system_dirs(c, &sys);
  for (size_t i = 0; i < sys.n && !under; i++) {
    size_t n = strlen(sys.items[i]);
    under = strncmp(path, sys.items[i], n) == 0 && path[n] == '/';
  }
  strv_free(&sys);
  return under;
}

/* The version of glibc whose loader runs the programs: the interpreter's
 * (it is the loader that searches), else unknown. */
static void
loader_version(struct closure *c, int *major, int *minor)
{
  struct derror err = DERROR_INIT;

  *major = *minor = 0;
  for (size_t i = 0; i < c->n_objects; i++)
    if (c->objects[i].how == CLOSURE_INTERP && c->objects[i].host) {
      c->layout = layout_of_loader(c, c->objects[i].host);
      if (hwcaps_glibc_version(c->objects[i].host, major, minor, &err) == 0)
        return;
      derror_clear(&err);
    }
}

/* Subdirectories tried before each searched directory and the values of
 * $PLATFORM, for every CPU of the architecture: the CPU that runs the
 * image picks at run time, so every one present is copied.  Computed once
 * the interpreter is known, at the first search. */
void
closure_cpu_variants(struct closure *c)
{
  struct hwcaps_target t = { c->ref.machine, c->ref.elf_class, c->ref.data, c->ref.e_flags, 0, 0 };

  if (c->cpu_ready)
    return;
  loader_version(c, &t.glibc_major, &t.glibc_minor);
  hwcaps_subdirs(&t, &c->subdirs);
  hwcaps_platforms(&t, &c->platforms);
  c->cpu_ready = true;
}

/* $LIB: the loader's own library directory, relative, as its system
 * directories show it ("lib/x86_64-linux-gnu" on Debian, "lib64" on a
 * lib64 layout). */
static char *
lib_token(const struct closure *c)
{
  struct strv sys = { 0 };

  closure_system_dirs(c, &sys);
  char *lib = xstrdup(sys.n ? sys.items[0] + 1 : "lib");
  strv_free(&sys);
  return lib;
}

/* ---- dynamic string tokens -------------------------------------------- */

/* Expand $ORIGIN, $LIB and $PLATFORM (and their ${} forms) in a path from
 * DT_RPATH, DT_RUNPATH or a DT_NEEDED with a slash, $PLATFORM as
 * `platform`; unknown tokens stay as they are, as the loader leaves
 * them. */
char *
closure_expand_tokens(const struct closure *c, const char *elem, const char *origin, const char *platform)
{
  static const char *const tokens[] = { "ORIGIN", "LIB", "PLATFORM" };
  cleanup_free char *lib = lib_token(c);
  struct buf b = { 0 };

  buf_append(&b, "", 0);
  for (const char *p = elem; *p;) {
    size_t t, len = 0;
    bool braced = p[0] == '$' && p[1] == '{';
    for (t = 0; p[0] == '$' && t < 3; t++) {
      const char *q = p + 1 + braced;
      len = strlen(tokens[t]);
      /* q[len] is read only once the token matched: it is then in bounds */
      if (strncmp(q, tokens[t], len) == 0
          && (braced ? q[len] == '}' : !(q[len] == '_' || isalnum((unsigned char) q[len]))))
        break;
    }
    if (p[0] != '$' || t == 3) {
      buf_append(&b, p, 1);
      p++;
      continue;
    }
    const char *value = t == 0 ? origin : t == 1 ? lib : platform;
    buf_append(&b, value ? value : "", value ? strlen(value) : 0);
    p += 1 + len + (braced ? 2 : 0);
  }
  return b.data;
}

bool
closure_has_token(const char *s, const char *token)
{
  const char *p = strstr(s, token);

  return p && p > s && (p[-1] == '$' || (p[-1] == '{' && p - 1 > s && p[-2] == '$'));
}
