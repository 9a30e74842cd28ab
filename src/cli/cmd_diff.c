/* distill diff A B: how two images (archives or registry images) differ, from the archive bytes
 * down to each file, so a rebuild that does not reproduce says why. */
#include "image/check.h"
#include "image/escape.h"
#include "cli/commands.h"
#include "image/image.h"
#include "image/packages.h"

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

struct diff {
  json_t *items; /* [{"kind", "where", "what"}] */
};

static void add(struct diff *d, const char *kind, const char *where, const char *fmt, ...) DISTILL_PRINTF(4, 5);

/* One difference.  `where` as it is (a path of the image, a key of the
 * config), escaped here; names in `fmt`'s arguments escaped by the caller
 * (escape_json): jansson refuses bytes that are not UTF-8, and a
 * difference left out would be a lie. */
static void
add(struct diff *d, const char *kind, const char *where, const char *fmt, ...)
{
  va_list ap;
  char *what;

  va_start(ap, fmt);
  what = xvasprintf(fmt, ap);
  va_end(ap);
  cleanup_free char *w = escape_json(where);
  json_t *item = json_pack("{s:s, s:s, s:s}", "kind", kind, "where", w, "what", what);
  if (item == NULL) {
    cleanup_free char *safe = escape_json(what);
    item = json_pack("{s:s, s:s, s:s}", "kind", kind, "where", w, "what", safe);
  }
  json_array_append_new(d->items, item);
  free(what);
}

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

/* ---- config ----------------------------------------------------------- */

static char *
show(json_t *v)
{
  if (v == NULL)
    return xstrdup("(absent)");
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
  return s ? s : xstrdup("?");
}

static bool
all_strings(json_t *a)
{
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v)
  {
    if (!json_is_string(v))
      return false;
  }
  return true;
}

static bool
contains(json_t *a, json_t *v)
{
  size_t i;
  json_t *x;
  json_array_foreach(a, i, x)
  {
    if (json_equal(x, v))
      return true;
  }
  return false;
}

static void
diff_json(struct diff *d, const char *key, json_t *a, json_t *b)
{
  if (json_equal(a, b))
    return;
  /* the layers' part of the report says how their content differs */
  if (strcmp(key, "rootfs.diff_ids") == 0)
    return;
  if (json_is_object(a) && json_is_object(b)) {
    const char *k;
    json_t *v;
    json_object_foreach(a, k, v)
    {
      cleanup_free char *sub = *key ? xasprintf("%s.%s", key, k) : xstrdup(k);
      diff_json(d, sub, v, json_object_get(b, k));
    }
    json_object_foreach(b, k, v)
    {
      if (json_object_get(a, k) == NULL) {
        cleanup_free char *sub = *key ? xasprintf("%s.%s", key, k) : xstrdup(k);
        diff_json(d, sub, NULL, v);
      }
    }
    return;
  }
  /* the environment is a set of strings: which items came and went */
  if (strcmp(key, "config.Env") == 0 && json_is_array(a) && json_is_array(b) && all_strings(a) && all_strings(b)) {
    size_t i;
    json_t *v;
    bool any = false;
    json_array_foreach(a, i, v)
    {
      if (!contains(b, v)) {
        add(d, "config", key, "removed \"%s\"", json_string_value(v));
        any = true;
      }
    }
    json_array_foreach(b, i, v)
    {
      if (!contains(a, v)) {
        add(d, "config", key, "added \"%s\"", json_string_value(v));
        any = true;
      }
    }
    if (!any)
      add(d, "config", key, "the same items in another order");
    return;
  }
  /* other lists are ordered: element by element */
  if (json_is_array(a) && json_is_array(b)) {
    size_t n = json_array_size(a) > json_array_size(b) ? json_array_size(a) : json_array_size(b);
    for (size_t i = 0; i < n; i++) {
      cleanup_free char *sub = xasprintf("%s[%zu]", key, i);
      diff_json(d, sub, json_array_get(a, i), json_array_get(b, i));
    }
    return;
  }
  cleanup_free char *sa = show(a);
  cleanup_free char *sb = show(b);
  add(d, "config", key, "%s -> %s", sa, sb);
}

/* ---- files ------------------------------------------------------------ */

static void
diff_file(struct diff *d, const struct image_file *a, const struct image_file *b)
{
  if (a->type != b->type) {
    add(d, "file", a->path, "type %c -> %c", a->type, b->type);
    return;
  }
  if (a->type == 'f' && (a->size != b->size || strcmp(a->digest, b->digest) != 0))
    add(d, "file", a->path, "content: %llu bytes %s -> %llu bytes %s", (unsigned long long) a->size, a->digest,
        (unsigned long long) b->size, b->digest);
  if (a->mode != b->mode)
    add(d, "file", a->path, "mode %04o -> %04o", a->mode, b->mode);
  if (a->uid != b->uid || a->gid != b->gid)
    add(d, "file", a->path, "owner %u:%u -> %u:%u", a->uid, a->gid, b->uid, b->gid);
  if (a->mtime != b->mtime)
    add(d, "file", a->path, "mtime %lld -> %lld", (long long) a->mtime, (long long) b->mtime);
  if ((a->target || b->target) && (!a->target || !b->target || strcmp(a->target, b->target) != 0)) {
    cleanup_free char *ta = escape_json(a->target ? a->target : "(none)");
    cleanup_free char *tb = escape_json(b->target ? b->target : "(none)");
    add(d, "file", a->path, "link target %s -> %s", ta, tb);
  }
}

static void
diff_files(struct diff *d, const struct image *a, const struct image *b)
{
  size_t i = 0, j = 0;

  while (i < a->n_files || j < b->n_files) {
    int c = i == a->n_files ? 1 : j == b->n_files ? -1 : strcmp(a->files[i].path, b->files[j].path);
    if (c < 0)
      add(d, "file", a->files[i++].path, "removed");
    else if (c > 0)
      add(d, "file", b->files[j++].path, "added");
    else
      diff_file(d, &a->files[i++], &b->files[j++]);
  }
}

/* The entries of layer `li` in the order the tar holds them. */
static void
layer_entries(const struct image *img, size_t li, const struct image_file ***out, size_t *n)
{
  *n = 0;
  *out = xcalloc(img->n_history, sizeof **out);
  for (size_t i = 0; i < img->n_history; i++)
    if ((size_t) img->history[i].layer == li)
      (*out)[(*n)++] = &img->history[i];
}

/* Same files, different bytes: the order of entries or their headers. */
static void
diff_tar(struct diff *d, const struct image *a, const struct image *b, size_t li)
{
  const struct image_file **ea, **eb;
  size_t na, nb;
  char where[32];

  snprintf(where, sizeof where, "%zu", li + 1);
  layer_entries(a, li, &ea, &na);
  layer_entries(b, li, &eb, &nb);
  size_t k = 0;
  while (k < na && k < nb && strcmp(ea[k]->path, eb[k]->path) == 0)
    k++;
  if (k < na || k < nb) {
    cleanup_free char *pa = escape_json(k < na ? ea[k]->path : "(end)");
    cleanup_free char *pb = escape_json(k < nb ? eb[k]->path : "(end)");
    add(d, "layer", where, "the entries are in another order (from entry %zu: %s -> %s)", k + 1, pa, pb);
  } else
    add(d, "layer", where, "the same entries in the same order, with other tar headers (names, pax records or "
                           "padding)");
  free(ea);
  free(eb);
}

static void
diff_layers(struct diff *d, const struct image *a, const struct image *b, bool files_differ)
{
  if (a->n_layers != b->n_layers)
    add(d, "layer", "count", "%zu -> %zu", a->n_layers, b->n_layers);
  for (size_t i = 0; i < a->n_layers && i < b->n_layers; i++) {
    const struct image_layer *x = &a->layers[i], *y = &b->layers[i];
    char where[32];
    snprintf(where, sizeof where, "%zu", i + 1);
    if (strcmp(x->diff_id, y->diff_id) == 0) {
      if (strcmp(x->digest, y->digest) != 0)
        add(d, "layer", where, "the same content compressed differently (%s, %llu -> %llu bytes)",
            x->media_type, (unsigned long long) x->size, (unsigned long long) y->size);
      continue;
    }
    add(d, "layer", where, "content %s -> %s", x->diff_id, y->diff_id);
    if (!files_differ && a->n_layers == b->n_layers)
      diff_tar(d, a, b, i);
  }
}

/* One line per difference, except that a file change shared by more than
 * GROUP_MIN files (an epoch moves every mtime) is one line naming the first
 * file and the count; --json keeps every file. */
#define GROUP_MIN 3

static void
print_text(json_t *items)
{
  json_t *count = json_object(); /* what -> number of files with it */
  size_t i;
  json_t *v;

  json_array_foreach(items, i, v)
  {
    if (strcmp(json_string_value(json_object_get(v, "kind")), "file") != 0)
      continue;
    const char *what = json_string_value(json_object_get(v, "what"));
    json_t *n = json_object_get(count, what);
    json_object_set_new(count, what, json_integer(n ? json_integer_value(n) + 1 : 1));
  }
  json_array_foreach(items, i, v)
  {
    const char *kind = json_string_value(json_object_get(v, "kind"));
    const char *where = json_string_value(json_object_get(v, "where"));
    const char *what = json_string_value(json_object_get(v, "what"));
    json_t *n = strcmp(kind, "file") == 0 ? json_object_get(count, what) : NULL;
    json_int_t many = n ? json_integer_value(n) : 0;

    /* escape_json left control characters to JSON's own escapes */
    cleanup_free char *w = escape_controls(where), *x = escape_controls(what);

    if (many > GROUP_MIN) {
      printf("%s %s and %lld more: %s\n", kind, w, (long long) many - 1, x);
      json_object_set_new(count, what, json_integer(-1)); /* printed */
    } else if (many >= 0) {
      printf("%s %s: %s\n", kind, w, x);
    }
  }
  json_decref(count);
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

/* The packages first: what a reader of a diff wants to know before any
 * file (a library that went down a version).  JSON: "old", "new" and
 * "change" beside "what". */
static int
diff_packages(struct diff *d, const struct image_source *sa, const struct image_source *sb, const struct image *a,
              const struct image *b, struct derror *err)
{
  struct image_packages pa = { 0 }, pb = { 0 };
  struct package_diff *changes = NULL;

  if (image_packages(sa->path, a, &pa, err) < 0 || image_packages(sb->path, b, &pb, err) < 0) {
    image_packages_free(&pa);
    return -1;
  }
  size_t n = packages_diff(&pa, &pb, &changes);
  for (size_t i = 0; i < n; i++) {
    const struct package_diff *c = &changes[i];
    cleanup_free char *where = xasprintf("%s:%s", c->name, c->arch);
    if (c->old_version && c->new_version)
      add(d, "package", where, "%s -> %s (%s)", c->old_version, c->new_version, package_change_name(c->change));
    else
      add(d, "package", where, "%s %s", package_change_name(c->change), c->old_version ? c->old_version
                                                                                   : c->new_version);
    json_t *item = json_array_get(d->items, json_array_size(d->items) - 1);
    json_object_set_new(item, "old", c->old_version ? json_string(c->old_version) : json_null());
    json_object_set_new(item, "new", c->new_version ? json_string(c->new_version) : json_null());
    json_object_set_new(item, "change", json_string(package_change_name(c->change)));
  }
  free(changes);
  image_packages_free(&pa);
  image_packages_free(&pb);
  return 0;
}

/* What a host that has A downloads to have B: B's layers A has not (by
 * digest), their compressed bytes. */
static void
diff_pull(struct diff *d, const struct image *a, const struct image *b)
{
  uint64_t bytes = 0, total = 0;
  size_t n = 0;

  for (size_t i = 0; i < b->n_layers; i++) {
    bool had = false;
    for (size_t k = 0; k < a->n_layers && !had; k++)
      had = strcmp(a->layers[k].digest, b->layers[i].digest) == 0;
    total += b->layers[i].size;
    if (!had) {
      bytes += b->layers[i].size;
      n++;
    }
  }
  if (n == 0)
    return;
  add(d, "pull", "layers", "%zu of %zu, %.1f of %.1f MB", n, b->n_layers, (double) bytes / 1e6, (double) total / 1e6);
  json_t *item = json_array_get(d->items, json_array_size(d->items) - 1);
  json_object_set_new(item, "layers", json_integer((json_int_t) n));
  json_object_set_new(item, "bytes", json_integer((json_int_t) bytes));
}

static void
diff_images(struct diff *d, const struct image_source *sa, const struct image *a, const struct image *b,
            bool names)
{
  diff_pull(d, a, b);
  if (names && (a->name || b->name) && (!a->name || !b->name || strcmp(a->name, b->name) != 0))
    add(d, "archive", "name", "%s -> %s", a->name ? a->name : "(none)", b->name ? b->name : "(none)");
  diff_json(d, "", a->config, b->config);
  size_t before = json_array_size(d->items);
  diff_files(d, a, b);
  bool files_differ = json_array_size(d->items) > before;
  diff_layers(d, a, b, files_differ);
  if (json_array_size(d->items) == 0 && strcmp(a->manifest_digest, b->manifest_digest) == 0)
    add(d, "archive", sa->arg, "the same image (manifest %s) in another archive: its member order, its headers, or "
                               "what else it carries (signatures, attestations)", a->manifest_digest);
  else if (json_array_size(d->items) == 0)
    add(d, "archive", sa->arg, "the same image in another archive (member order, headers or the manifest's bytes: "
                               "%s -> %s)",
        a->manifest_digest, b->manifest_digest);
}

static void
print_diff(const struct diff *d, bool json, const char *da, const char *db)
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
  struct diff d = { json_array() };
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
  if (strcmp(da, db) != 0 && diff_packages(&d, &sa, &sb, &a, &b, &err) < 0)
    goto out;
  if (strcmp(da, db) != 0)
    diff_images(&d, &sa, &a, &b, !by_manifest);
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
