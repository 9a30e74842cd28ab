/* distill diff A B: how two images (archives or registry images) differ, from the archive bytes
 * down to each file, so a rebuild that does not reproduce says why. */
#include "image/check.h"
#include "image/escape.h"
#include "cli/commands.h"
#include "image/image.h"
#include "image/diff.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
  "usage: distill diff A B [--json] [OPTIONS]\n"
  "\n"
  "Say how two image archives differ: first the Debian packages (added,\n"
  "removed, upgraded, downgraded, by dpkg's order of versions, read from their\n"
  "status.d), what a pull of B downloads where A is (its layers A lacks),\n"
  "then the config's keys, the layers (content\n"
  "or only compression), and each file added, removed, or changed in content,\n"
  "mode, owner, mtime or link target; when the files are the same but the\n"
  "bytes are not, the order or headers of the tar. Both must read as images.\n"
  "Names from the images are escaped (see distill-diff(1)). Exit 0 when the\n"
  "archives are identical, 1 when not, 2 when one cannot be read as an image\n"
  "(as cmp(1) does). A or B may be a registry's image,\n"
  "docker://HOST[:PORT]/REPO[:TAG|@DIGEST]: then the images are identical when\n"
  "their manifest digests are.\n"
  "\n"
  "  --json               one JSON document\n"
  REGISTRY_READ_HELP
  "  -h, --help           show this help\n";

static int
file_digest(const char *path, char out[DIGEST_STR_LEN], struct derror *err)
{
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  cleanup_free char *buf = xmalloc(1 << 16);
  struct digest d;
  ssize_t n;

  if (fd < 0)
    return derror_errno(err, errno, "open `%s`", path);
  digest_init(&d);
  while ((n = read(fd, buf, 1 << 16)) > 0)
    digest_update(&d, buf, (size_t) n);
  if (n < 0) {
    digest_abort(&d);
    return derror_errno(err, errno, "read `%s`", path);
  }
  digest_final(&d, out);
  return 0;
}

#define GROUP_MIN 3

/* The package or directory a file's difference is grouped in, and its
 * heading: "files of package libc6:amd64" or "files in /usr/bin". */
static char *
group_of(json_t *v)
{
  json_t *pk = json_object_get(v, "package"), *dir = json_object_get(v, "directory");

  if (pk)
    return xasprintf("files of package %s", json_string_value(pk));
  return xasprintf("files in %s", dir ? json_string_value(dir) : "/");
}

struct counts {
  json_t *by_what;  /* how many files share each change ("what") */
  json_t *by_group; /* each group's differences that no more than GROUP_MIN files share */
};

static void
count_changes(json_t *items, struct counts *c)
{
  size_t i;
  json_t *v;

  for (int pass = 0; pass < 2; pass++)
    json_array_foreach(items, i, v)
    {
      if (strcmp(json_string_value(json_object_get(v, "kind")), "file") != 0)
        continue;
      const char *what = json_string_value(json_object_get(v, "what"));
      json_t *n = json_object_get(c->by_what, what);
      if (pass == 0)
        json_object_set_new(c->by_what, what, json_integer(n ? json_integer_value(n) + 1 : 1));
      else if (json_integer_value(n) <= GROUP_MIN) {
        cleanup_free char *group = group_of(v);
        json_t *g = json_object_get(c->by_group, group);
        json_object_set_new(c->by_group, group, json_integer(g ? json_integer_value(g) + 1 : 1));
      }
    }
}

static void
print_line(const char *kind, const char *where, const char *what, json_int_t more)
{
  /* escape_json left control characters to JSON's own escapes */
  cleanup_free char *w = escape_controls(where), *x = escape_controls(what);

  if (more > 0)
    printf("%s %s and %lld more: %s\n", kind, w, (long long) more, x);
  else
    printf("%s %s: %s\n", kind, w, x);
}

/* A change shared by more than GROUP_MIN files (an epoch moves every
 * mtime): one line naming the first file and the count, before the
 * groups. */
static void
print_shared(json_t *items, json_t *count)
{
  size_t i;
  json_t *v;

  json_array_foreach(items, i, v)
  {
    const char *what = json_string_value(json_object_get(v, "what"));
    if (strcmp(json_string_value(json_object_get(v, "kind")), "file") != 0)
      continue;
    json_int_t many = json_integer_value(json_object_get(count, what));
    if (many > GROUP_MIN) {
      print_line("file", json_string_value(json_object_get(v, "where")), what, many - 1);
      json_object_set_new(count, what, json_integer(-1)); /* printed */
    }
  }
}

/* One line per difference.  The files' come under a heading for each
 * package or directory (diff.c sorted them so), but for the changes
 * print_shared gives one line; --json keeps every file. */
static void
print_text(json_t *items)
{
  struct counts c = { json_object(), json_object() };
  cleanup_free char *heading = NULL;
  bool shared = false;
  size_t i;
  json_t *v;

  count_changes(items, &c);
  json_array_foreach(items, i, v)
  {
    const char *kind = json_string_value(json_object_get(v, "kind"));
    const char *where = json_string_value(json_object_get(v, "where"));
    const char *what = json_string_value(json_object_get(v, "what"));

    if (strcmp(kind, "file") != 0) {
      print_line(kind, where, what, 0);
      continue;
    }
    if (!shared)
      print_shared(items, c.by_what);
    shared = true;
    if (json_integer_value(json_object_get(c.by_what, what)) < 0)
      continue;
    cleanup_free char *group = group_of(v);
    if (heading == NULL || strcmp(heading, group) != 0) {
      cleanup_free char *h = escape_controls(group);
      printf("%s (%lld):\n", h, (long long) json_integer_value(json_object_get(c.by_group, group)));
      free(heading);
      heading = xstrdup(group);
    }
    print_line(kind, where, what, 0);
  }
  json_decref(c.by_what);
  json_decref(c.by_group);
}

struct diff_args {
  const char *a, *b;
  struct registry_args reg;
  const char *platform;
  bool json;
};

/* 0, -1 after --help, or an exit status. */
static int
parse_args(int argc, char **argv, struct diff_args *args)
{
  static const struct option longopts[] = {
    { "json", no_argument, NULL, 'j' },
    { "help", no_argument, NULL, 'h' },
    { "platform", required_argument, NULL, OPT_IMAGE_PLATFORM },
    REGISTRY_READ_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  int opt, r;

  memset(args, 0, sizeof *args);
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if ((r = registry_option("diff", opt, optarg, &args->reg)) != 1) {
      if (r != 0)
        return r;
    } else if (opt == 'j') {
      args->json = true;
    } else if (opt == OPT_IMAGE_PLATFORM) {
      args->platform = optarg;
    } else if (opt == 'h') {
      fputs(usage_text, stdout);
      return -1;
    } else {
      fputs("Try 'distill diff --help'.\n", stderr);
      return EXIT_USAGE;
    }
  }
  if (optind != argc - 2) {
    fputs("distill: diff: two images (archives or docker:// references) are required\nTry 'distill diff --help'.\n",
          stderr);
    return EXIT_USAGE;
  }
  args->a = argv[optind];
  args->b = argv[optind + 1];
  return image_source_options_check("diff", &args->reg, args->platform, (const char *const *) argv + optind, 2);
}

/* What says whether two images are identical: an archive's bytes; a
 * registry's image has no archive, so there its manifest digest, which
 * names every other blob by its digest (an archive's is that of the image
 * it names first). */
static int
identity(const struct image_source *s, const struct image *img, bool by_manifest, char out[DIGEST_STR_LEN],
         struct derror *err)
{
  if (by_manifest) {
    memcpy(out, img->manifest_digest[0] ? img->manifest_digest : img->config_digest, DIGEST_STR_LEN);
    return 0;
  }
  return file_digest(s->path, out, err);
}

static void
print_diff(const struct image_diff *d, bool json, const char *da, const char *db)
{
  if (json) {
    json_t *doc = json_pack("{s:b, s:s, s:s, s:O}", "identical", strcmp(da, db) == 0, "a", da, "b", db,
                            "differences", d->items);
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    putchar('\n');
    json_decref(doc);
  } else if (strcmp(da, db) == 0) {
    printf("identical: %s\n", da);
  } else {
    print_text(d->items);
    printf("%zu difference%s\n", json_array_size(d->items), json_array_size(d->items) == 1 ? "" : "s");
  }
}

int
cmd_diff(int argc, char **argv)
{
  struct derror err = DERROR_INIT;
  struct image a = { 0 }, b = { 0 };
  struct image_source sa = { 0 }, sb = { 0 };
  char da[DIGEST_STR_LEN], db[DIGEST_STR_LEN];
  struct diff_args args;
  bool by_manifest;
  int ret = parse_args(argc, argv, &args);

  if (ret != 0)
    return ret < 0 ? EXIT_OK : ret;
  ret = EXIT_USAGE; /* trouble: not an answer to "do they differ" */
  struct image_diff d = { json_array() };
  if (image_source_open("diff", args.a, &args.reg, args.platform, &sa) != 0
      || image_source_open("diff", args.b, &args.reg, args.platform, &sb) != 0)
    goto out;
  by_manifest = sa.tmp || sb.tmp;
  /* both read as images first: two equal files that are not images (two
   * empty files, /dev/null twice) are no answer */
  if (image_read(sa.path, &a, &err) < 0 || image_read(sb.path, &b, &err) < 0)
    goto out;
  if (identity(&sa, &a, by_manifest, da, &err) < 0 || identity(&sb, &b, by_manifest, db, &err) < 0)
    goto out;
  if (strcmp(da, db) != 0 && image_diff(sa.path, &a, sb.path, &b, sa.arg, !by_manifest, &d, &err) < 0)
    goto out;
  print_diff(&d, args.json, da, db);
  ret = strcmp(da, db) == 0 ? EXIT_OK : EXIT_FAIL;
out:
  if (err.msg) {
    /* the reader's messages name the images' paths as they are */
    cleanup_free char *ma = image_source_message(&sa, err.msg);
    cleanup_free char *msg = image_source_message(&sb, ma);
    fprintf(stderr, "distill: %s\n", msg);
  }
  derror_clear(&err);
  json_decref(d.items);
  image_free(&a);
  image_free(&b);
  image_source_close(&sa);
  image_source_close(&sb);
  return ret;
}
