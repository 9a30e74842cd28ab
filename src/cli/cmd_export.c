/* distill export IMAGE.tar DIR: the image's merged tree as a directory,
 * and its config as Dockerfile instructions, for builders that can only
 * copy a directory. */
#include "image/dockerfile.h"
#include "image/escape.h"
#include "image/export.h"
#include "cli/commands.h"
#include "image/image.h"
#include "lib/file.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
  "usage: distill export IMAGE.tar DIR [--dockerfile FILE]\n"
  "\n"
  "Write an image's merged tree into DIR, which must not exist or be empty:\n"
  "owners, modes (setuid, setgid, sticky), symlinks, hardlinks, contents and\n"
  "modification times as the image has them. Without root, what cannot be kept\n"
  "(owners, device nodes) is said on stderr, one line per kind. Nothing of the\n"
  "image is followed while writing: an entry below a symlink of the image is an\n"
  "error. On an error, what was written stays in DIR.\n"
  "\n"
  "  --dockerfile FILE  also write the image config as Dockerfile instructions\n"
  "                     (FROM scratch, USER, ENV, ...) to FILE, - for stdout\n"
  "  -h, --help         show this help\n";

struct export_args {
  const char *archive, *dir, *dockerfile;
};

static int
parse_args(int argc, char **argv, struct export_args *a)
{
  static const struct option longopts[] = {
    { "dockerfile", required_argument, NULL, 'd' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int opt;

  memset(a, 0, sizeof *a);
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (opt) {
    case 'd':
      a->dockerfile = optarg;
      break;
    case 'h':
      fputs(usage_text, stdout);
      return -1;
    default:
      fputs("Try 'distill export --help'.\n", stderr);
      return EXIT_USAGE;
    }
  }
  if (optind != argc - 2) {
    fputs("distill: export: an image archive and a directory are required\nTry 'distill export --help'.\n", stderr);
    return EXIT_USAGE;
  }
  a->archive = argv[optind];
  a->dir = argv[optind + 1];
  return 0;
}

/* "0, 65532": the image's owners the report names. */
static char *
owners_text(const struct export_report *rep)
{
  struct buf b = { 0 };

  for (size_t i = 0; i < rep->n_uids; i++)
    buf_printf(&b, "%s%u", i ? ", " : "", rep->uids[i]);
  if (rep->n_uids == EXPORT_MAX_OWNERS)
    buf_printf(&b, ", ...");
  buf_append(&b, "", 1);
  return b.data;
}

/* One line per kind of what could not be kept. */
static void
print_report(const struct export_report *rep)
{
  if (rep->owners) {
    cleanup_free char *uids = owners_text(rep);
    fprintf(stderr, "distill: export: owners of %zu entries not kept (not root): they belong to uid%s %s in the image\n",
            rep->owners, rep->n_uids > 1 ? "s" : "", uids);
  }
  if (rep->modes) {
    cleanup_free char *p = escape_text(rep->mode_path);
    fprintf(stderr, "distill: export: modes of %zu entries not kept (the kernel cleared setuid or setgid bits), "
                    "the first `%s`\n", rep->modes, p);
  }
  if (rep->devices) {
    cleanup_free char *p = escape_text(rep->device_path);
    fprintf(stderr, "distill: export: %zu device nodes not made (not root), the first `%s`\n", rep->devices, p);
  }
  if (rep->sockets) {
    cleanup_free char *p = escape_text(rep->socket_path);
    fprintf(stderr, "distill: export: %zu sockets not made (a socket is made by the program that listens on it), "
                    "the first `%s`\n", rep->sockets, p);
  }
}

static int
write_dockerfile(const struct image *img, const struct export_args *a, struct derror *err)
{
  struct buf text = { 0 };
  struct atomic_file out;
  int r = 0;

  dockerfile_write(img->config, a->dir, &text);
  if (strcmp(a->dockerfile, "-") == 0) {
    if (fwrite(text.data, 1, text.len, stdout) != text.len || fflush(stdout) != 0)
      r = derror_set(err, "write the Dockerfile to stdout");
  } else if (atomic_open(&out, a->dockerfile, err) < 0) {
    r = -1;
  } else if (write_all(out.fd, text.data, text.len) < 0) {
    r = derror_errno(err, errno, "write `%s`", a->dockerfile);
    atomic_abort(&out);
  } else {
    r = atomic_commit(&out, err);
  }
  buf_free(&text);
  return r;
}

int
cmd_export(int argc, char **argv)
{
  struct export_args a;
  struct export_report rep = { 0 };
  struct image img;
  struct derror err = DERROR_INIT;
  bool partial = false;
  int r = parse_args(argc, argv, &a);

  if (r != 0)
    return r < 0 ? EXIT_OK : r;
  if (image_read(a.archive, &img, &err) == 0) {
    partial = image_export(a.archive, &img, a.dir, &rep, &err) < 0 && !derror_is(&err, DERROR_USAGE);
    print_report(&rep);
    if (err.msg == NULL && a.dockerfile)
      write_dockerfile(&img, &a, &err);
    export_report_free(&rep);
  }
  image_free(&img);
  if (err.msg == NULL)
    return EXIT_OK;
  /* the messages name the image's paths as they are */
  cleanup_free char *msg = escape_text(err.msg);
  fprintf(stderr, "distill: export: %s\n", msg);
  if (partial) {
    cleanup_free char *dir = escape_text(a.dir);
    fprintf(stderr, "distill: export: `%s` is left as it is, written in part, for inspection: remove it before "
                    "exporting again\n", dir);
  }
  derror_clear(&err);
  return EXIT_FAIL;
}
