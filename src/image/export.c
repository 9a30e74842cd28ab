/* The merged tree written into a directory.  The bytes of the regular
 * files are extracted first, by extract.c, into a staging directory inside
 * the output (so that each is renamed into place, not copied again, and
 * the names of one inode stay hardlinks); then every name of the tree is
 * made in sorted order, parents first, relative to a descriptor of its
 * parent; directories get their owner, mode and time last, deepest first,
 * so that a directory the caller may not write into (0555 without root)
 * and a time that writing into it would change come after its contents. */
#include "image/export.h"
#include "image/image.h"
#include "lib/alloc.h"
#include "lib/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct writer {
  const struct image *img;
  const char *dir;    /* as the caller named it, without trailing slashes: for messages */
  int root;           /* the output directory */
  int stage;          /* the staging directory, named stage_name in root */
  char *stage_name;
  char *parent;       /* the image path whose descriptor parent_fd is, or NULL */
  int parent_fd;      /* root itself when parent is "/" */
  struct export_report *rep;
};

/* The output directory: made, or one that exists and holds nothing.  It
 * is the caller's own argument, so a symlink to a directory is followed. */
static int
open_output(const char *dir, struct derror *err)
{
  if (mkdir(dir, 0700) < 0 && errno != EEXIST)
    return derror_errno(err, errno, "create `%s`", dir);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return derror_errno(err, errno, "open `%s`", dir);
  int copy = dup(fd);
  DIR *d = copy < 0 ? NULL : fdopendir(copy);
  if (d == NULL) {
    int e = errno;
    if (copy >= 0)
      close(copy);
    close(fd);
    return derror_errno(err, e, "read `%s`", dir);
  }
  struct dirent *de;
  bool empty = true;
  while (empty && (de = readdir(d)) != NULL)
    empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
  closedir(d);
  if (!empty) {
    close(fd);
    return derror_code(err, DERROR_USAGE, "`%s`: not empty: export writes only into a new or an empty directory",
                       dir);
  }
  return fd;
}

/* Open `rel` (an image path without its leading '/') below `root`, one
 * component at a time, following no symlink: a name of the tree that is
 * not a directory cannot lead out of the output. */
static int
walk_dirs(const struct writer *w, const char *path, struct derror *err)
{
  cleanup_free char *copy = xstrdup(path);
  char *save = NULL;
  int fd = -1;

  for (char *c = strtok_r(copy, "/", &save); c != NULL; c = strtok_r(NULL, "/", &save)) {
    if (strcmp(c, ".") == 0 || strcmp(c, "..") == 0) {
      if (fd >= 0)
        close(fd);
      return derror_set(err, "`%s%s`: a name with \".\" or \"..\"", w->dir, path);
    }
    int at = fd >= 0 ? fd : w->root;
    int next = openat(at, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    /* a layer need not list the parents of its entries: a runtime makes
     * them, 0755 and root's (the caller's), and so does export */
    if (next < 0 && e == ENOENT && mkdirat(at, c, 0755) == 0 && fchmodat(at, c, 0755, 0) == 0)
      next = openat(at, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), e = errno;
    if (fd >= 0)
      close(fd);
    if (next < 0) {
      if (e == ENOTDIR || e == ELOOP)
        return derror_set(err, "`%s%s`: not a directory in the image (a symlink or a file): nothing below it is "
                               "written through it", w->dir, path);
      return derror_errno(err, e, "open `%s%s`", w->dir, path);
    }
    fd = next;
  }
  return fd;
}

/* The descriptor of the directory `path` lies in, and its last name. */
static int
parent_of(struct writer *w, const char *path, const char **name, struct derror *err)
{
  const char *slash = strrchr(path, '/');
  cleanup_free char *parent = xstrndup(path, (size_t) (slash - path));

  *name = slash + 1;
  if (w->parent && strcmp(w->parent, parent) == 0)
    return w->parent_fd;
  if (w->parent_fd >= 0 && w->parent_fd != w->root)
    close(w->parent_fd);
  free(w->parent);
  w->parent = NULL;
  w->parent_fd = parent[0] == '\0' ? w->root : walk_dirs(w, parent, err);
  if (w->parent_fd < 0)
    return -1;
  w->parent = steal_pointer(&parent);
  return w->parent_fd;
}

static void
note_owner(struct export_report *rep, uint32_t uid)
{
  rep->owners++;
  for (size_t i = 0; i < rep->n_uids; i++)
    if (rep->uids[i] == uid)
      return;
  if (rep->n_uids < EXPORT_MAX_OWNERS)
    rep->uids[rep->n_uids++] = uid;
}

static void
note(size_t *count, char **first, const char *path)
{
  if ((*count)++ == 0)
    *first = xstrdup(path);
}

/* Owner, mode and time of the name just made.  Owner first: chown clears
 * setuid and setgid.  Without CAP_CHOWN an owner cannot be given away, and
 * the kernel silently drops a setgid bit for a group the caller is not in:
 * both are noted, not errors. */
static int
set_meta(struct writer *w, int fd, const char *name, const struct image_file *f, struct derror *err)
{
  struct timespec ts[2] = { { (time_t) f->mtime, 0 }, { (time_t) f->mtime, 0 } };
  struct stat st;

  if (fchownat(fd, name, f->uid, f->gid, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno != EPERM && errno != EINVAL)
      return derror_errno(err, errno, "chown `%s%s`", w->dir, f->path);
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_uid != f->uid || st.st_gid != f->gid)
      note_owner(w->rep, f->uid);
  }
  if (f->type != 'l') {
    if (fchmodat(fd, name, f->mode & 07777, 0) < 0 && errno != EPERM)
      return derror_errno(err, errno, "chmod `%s%s`", w->dir, f->path);
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      return derror_errno(err, errno, "stat `%s%s`", w->dir, f->path);
    if ((st.st_mode & 07777) != (f->mode & 07777))
      note(&w->rep->modes, &w->rep->mode_path, f->path);
  }
  if (utimensat(fd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
    return derror_errno(err, errno, "set the time of `%s%s`", w->dir, f->path);
  return 0;
}

/* Make the name `i` of the tree; a directory's owner, mode and time wait
 * for finish_dirs(). */
static int
write_entry(struct writer *w, size_t i, struct derror *err)
{
  const struct image_file *f = &w->img->files[i];
  const char *name;
  int fd = parent_of(w, f->path, &name, err), r = 0;

  if (fd < 0)
    return -1;
  if (*name == '\0') /* the root: the output directory itself */
    return 0;
  switch (f->type) {
  case 'd':
    if (mkdirat(fd, name, 0700) < 0)
      return derror_errno(err, errno, "create `%s%s`", w->dir, f->path);
    return 0;
  case 'f': {
    char staged[32];
    snprintf(staged, sizeof staged, "%zu", i);
    if (renameat(w->stage, staged, fd, name) < 0)
      return derror_errno(err, errno, "move the content of `%s%s` into place", w->dir, f->path);
    break;
  }
  case 'l':
    r = symlinkat(f->target ? f->target : "", fd, name);
    break;
  case 'p':
    r = mknodat(fd, name, S_IFIFO | 0600, 0);
    break;
  case 'c':
  case 'b':
    r = mknodat(fd, name, (f->type == 'c' ? S_IFCHR : S_IFBLK) | 0600, f->rdev);
    if (r < 0 && errno == EPERM) {
      note(&w->rep->devices, &w->rep->device_path, f->path);
      return 0;
    }
    break;
  case 's':
    note(&w->rep->sockets, &w->rep->socket_path, f->path);
    return 0;
  default:
    return derror_set(err, "`%s%s`: an entry of type '%c', which export cannot make", w->dir, f->path, f->type);
  }
  if (r < 0)
    return derror_errno(err, errno, "create `%s%s`", w->dir, f->path);
  return set_meta(w, fd, name, f, err);
}

/* Directories last, deepest first: a child's time is set before its
 * parent's, and a parent the caller may not enter keeps its 0700 until its
 * children are done. */
static int
finish_dirs(struct writer *w, struct derror *err)
{
  for (size_t i = w->img->n_files; i-- > 0;) {
    const struct image_file *f = &w->img->files[i];
    const char *name;
    if (f->type != 'd' || strcmp(f->path, "/") == 0)
      continue;
    int fd = parent_of(w, f->path, &name, err);
    if (fd < 0 || set_meta(w, fd, name, f, err) < 0)
      return -1;
  }
  return 0;
}

static uint64_t
want_all(void *data, const struct image_file *f)
{
  (void) data;
  (void) f;
  return UINT64_MAX;
}

/* The staging directory, with a name no one can guess: an image naming it
 * too would only make its own name fail to be created. */
static int
stage_open(struct writer *w, const char *archive, struct derror *err)
{
  cleanup_free char *tmpl = xasprintf("%s/.distill-export-XXXXXX", w->dir);

  if (mkdtemp(tmpl) == NULL)
    return derror_errno(err, errno, "create a staging directory in `%s`", w->dir);
  w->stage_name = xstrdup(strrchr(tmpl, '/') + 1);
  w->stage = openat(w->root, w->stage_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (w->stage < 0)
    return derror_errno(err, errno, "open `%s`", tmpl);
  return image_extract(archive, w->img, want_all, NULL, tmpl, err);
}

/* Remove the staging directory and what is left in it (all of it when
 * the export failed before moving the files into place). */
static void
stage_remove(struct writer *w)
{
  if (w->stage >= 0) {
    int copy = dup(w->stage);
    DIR *d = copy < 0 ? NULL : fdopendir(copy);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
      if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
        unlinkat(w->stage, de->d_name, 0);
    if (d)
      closedir(d);
    else if (copy >= 0)
      close(copy);
    close(w->stage);
  }
  if (w->stage_name)
    unlinkat(w->root, w->stage_name, AT_REMOVEDIR);
  free(w->stage_name);
}

int
image_export(const char *archive, const struct image *img, const char *dir, struct export_report *rep,
             struct derror *err)
{
  cleanup_free char *shown = xstrdup(dir);
  struct writer w = { img, shown, -1, -1, NULL, NULL, -1, rep };
  int r = 0;

  memset(rep, 0, sizeof *rep);
  for (size_t n = strlen(shown); n > 1 && shown[n - 1] == '/'; n--)
    shown[n - 1] = '\0';
  if ((w.root = open_output(dir, err)) < 0)
    return -1;
  if (stage_open(&w, archive, err) < 0)
    r = -1;
  for (size_t i = 0; r == 0 && i < img->n_files; i++)
    r = write_entry(&w, i, err);
  if (r == 0)
    r = finish_dirs(&w, err);
  stage_remove(&w);
  if (w.parent_fd >= 0 && w.parent_fd != w.root)
    close(w.parent_fd);
  free(w.parent);
  close(w.root);
  return r;
}

void
export_report_free(struct export_report *rep)
{
  free(rep->mode_path);
  free(rep->device_path);
  free(rep->socket_path);
  memset(rep, 0, sizeof *rep);
}
