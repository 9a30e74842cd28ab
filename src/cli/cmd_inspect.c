/* distill inspect IMAGE: what an image is and holds, like dive's summary
 * without the interface. */
#include "image/check.h"
#include "image/escape.h"
#include "cli/commands.h"
#include "image/image.h"
#include "image/packages.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char usage_text[] =
  "usage: distill inspect IMAGE.tar|docker://HOST[:PORT]/REPO[:TAG|@DIGEST] [--json] [OPTIONS]\n"
  "\n"
  "Show an image archive (distill's, docker save, skopeo oci-archive, podman)\n"
  "or a registry's image: its name, platform, config, layers (named when the\n"
  "image records their names) and every file with mode, owner and size, layer\n"
  "by layer. Digests and diff_ids are verified; nothing is extracted. The\n"
  "waivers of checks the image records are shown. Names from the image are\n"
  "escaped (a control character or a byte that is not UTF-8 as \\xHH, a\n"
  "backslash as \\\\).\n"
  "\n"
  "  --json               one JSON document\n"
  "  --packages           the Debian packages instead (its status.d), each with\n"
  "                       its version and the layer that holds it\n"
  REGISTRY_READ_HELP
  "  -h, --help           show this help\n";

static void
mode_string(const struct image_file *f, char out[11])
{
  static const char rwx[] = "rwxrwxrwx";
  out[0] = f->type == 'f' || f->type == 'h' ? '-' : f->type;
  for (int i = 0; i < 9; i++)
    out[1 + i] = (f->mode & (0400 >> i)) ? rwx[i] : '-';
  if (f->mode & S_ISUID)
    out[3] = (f->mode & 0100) ? 's' : 'S';
  if (f->mode & S_ISGID)
    out[6] = (f->mode & 0010) ? 's' : 'S';
  if (f->mode & S_ISVTX)
    out[9] = (f->mode & 0001) ? 't' : 'T';
  out[10] = '\0';
}


/* The name of layer `i` (from 0) as distill records it in the history's
 * created_by ("distill: NAME (...)", "application" for app), or NULL: the
 * history's entries that are not empty_layer are the layers, in order. */
static char *
layer_name(const struct image *img, size_t i)
{
  json_t *history = json_object_get(img->config, "history"), *h;
  size_t k = 0, idx;

  json_array_foreach(history, idx, h) {
    if (json_is_true(json_object_get(h, "empty_layer")))
      continue;
    if (k++ != i)
      continue;
    const char *by = json_string_value(json_object_get(h, "created_by"));
    if (by == NULL || strncmp(by, "distill: ", 9) != 0)
      return NULL;
    by += 9;
    size_t n = strcspn(by, " ");
    if (n == 11 && strncmp(by, "application", 11) == 0)
      return xstrdup("app");
    return n ? xstrndup(by, n) : NULL;
  }
  return NULL;
}

/* A value of the image made safe for one line of a terminal. */
static char *
text(const char *s)
{
  return escape_text(s ? s : "(null)");
}

static void print_files(const struct image *img);
static void print_layer_files(const struct image *img, int layer);

static void
print_text(const struct image *img, const struct check_waiver *waivers, size_t n_waivers)
{
  json_t *cfg = json_object_get(img->config, "config");
  const char *variant = json_string_value(json_object_get(img->config, "variant"));
  cleanup_free char *name = text(img->name ? img->name : "(none)");
  cleanup_free char *os = text(json_string_value(json_object_get(img->config, "os")));
  cleanup_free char *arch = text(json_string_value(json_object_get(img->config, "architecture")));
  cleanup_free char *var = text(variant ? variant : "");
  cleanup_free char *user = text(json_string_value(json_object_get(cfg, "User")) ?: "(none: root)");

  printf("name:        %s\n", name);
  printf("platform:    %s/%s%s%s\n", os, arch, variant ? "/" : "", var);
  if (img->manifest_digest[0])
    printf("manifest:    %s\n", img->manifest_digest);
  printf("config:      %s\n", img->config_digest);
  printf("user:        %s\n", user);
  static const char *const keys[] = { "Entrypoint", "Cmd", "Env", "ExposedPorts", "Volumes", "Labels",
                                      "WorkingDir", "StopSignal" };
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    json_t *v = json_object_get(cfg, keys[i]);
    if (v == NULL || json_is_null(v))
      continue;
    cleanup_free char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    /* JSON escapes C0 controls, not C1 ones */
    cleanup_free char *safe = escape_controls(s ? s : "?");
    printf("%-12s %s\n", keys[i], safe);
  }
  for (size_t i = 0; i < img->n_layers; i++) {
    cleanup_free char *lname = layer_name(img, i);
    cleanup_free char *safe = lname ? text(lname) : NULL;
    printf("layer %zu:     %s %llu bytes, %zu entries (diff_id %s)%s%s\n", i + 1, img->layers[i].digest,
           (unsigned long long) img->layers[i].size, img->layers[i].n_entries, img->layers[i].diff_id,
           safe ? " " : "", safe ? safe : "");
  }
  for (size_t i = 0; i < n_waivers; i++) {
    cleanup_free char *id = text(waivers[i].id), *path = text(waivers[i].path), *reason = text(waivers[i].reason);
    printf("waiver:      %s %s: %s\n", id, path, reason);
  }
  print_files(img);
}

/* The files by layer, each after a line naming its layer. */
static void
print_files(const struct image *img)
{
  for (size_t l = 0; l < img->n_layers; l++) {
    cleanup_free char *lname = layer_name(img, l);
    cleanup_free char *safe = lname ? text(lname) : NULL;
    printf("files of layer %zu%s%s%s:\n", l + 1, safe ? " (" : "", safe ? safe : "", safe ? ")" : "");
    print_layer_files(img, (int) l);
  }
}

static void
print_layer_files(const struct image *img, int layer)
{
  for (size_t i = 0; i < img->n_files; i++) {
    const struct image_file *f = &img->files[i];
    char mode[11];
    if (f->layer != layer)
      continue;
    mode_string(f, mode);
    cleanup_free char *path = text(f->path);
    cleanup_free char *target = f->target ? text(f->target) : NULL;
    printf("%s %u:%u %10llu %s%s%s\n", mode, f->uid, f->gid, (unsigned long long) f->size, path,
           f->target ? (f->type == 'h' ? " => " : " -> ") : "", target ? target : "");
  }
}

static void
print_json(const struct image *img, const struct check_waiver *waivers, size_t n_waivers)
{
  json_t *layers = json_array(), *files = json_array(), *waived = json_array();

  char **names = xcalloc(img->n_layers + 1, sizeof *names);

  for (size_t i = 0; i < img->n_layers; i++) {
    json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I}", "digest", img->layers[i].digest, "diff_id",
                          img->layers[i].diff_id, "media_type", img->layers[i].media_type, "size",
                          (json_int_t) img->layers[i].size, "entries", (json_int_t) img->layers[i].n_entries);
    char *lname = layer_name(img, i);
    names[i] = lname ? escape_json(lname) : NULL;
    free(lname);
    if (names[i])
      json_object_set_new(j, "name", json_string(names[i]));
    json_array_append_new(layers, j);
  }
  /* names as escape_json makes them: jansson refuses bytes that are not
   * UTF-8, and a file left out would be a lie */
  for (size_t i = 0; i < img->n_files; i++) {
    const struct image_file *f = &img->files[i];
    char type[2] = { f->type, '\0' };
    cleanup_free char *path = escape_json(f->path);
    json_t *j = json_pack("{s:s, s:s, s:i, s:i, s:i, s:I, s:i}", "path", path, "type", type, "mode",
                          (int) f->mode, "uid", (int) f->uid, "gid", (int) f->gid, "size", (json_int_t) f->size,
                          "layer", f->layer + 1);
    if (f->layer >= 0 && (size_t) f->layer < img->n_layers && names[f->layer])
      json_object_set_new(j, "layer_name", json_string(names[f->layer]));
    if (f->target) {
      cleanup_free char *target = escape_json(f->target);
      json_object_set_new(j, "target", json_string(target));
    }
    json_array_append_new(files, j);
  }
  for (size_t i = 0; i < n_waivers; i++) {
    cleanup_free char *id = escape_json(waivers[i].id), *path = escape_json(waivers[i].path);
    cleanup_free char *reason = escape_json(waivers[i].reason);
    json_array_append_new(waived, json_pack("{s:s, s:s, s:s}", "id", id, "path", path, "reason", reason));
  }
  for (size_t i = 0; i < img->n_layers; i++)
    free(names[i]);
  free(names);
  json_t *doc = json_pack("{s:o, s:s, s:s, s:O, s:o, s:o, s:o}", "name",
                          img->name ? json_string(img->name) : json_null(),
                          "manifest_digest", img->manifest_digest, "config_digest", img->config_digest, "config",
                          img->config, "layers", layers, "files", files, "waivers", waived);
  json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
  putchar('\n');
  json_decref(doc);
}

/* --packages: each package the image's status.d names, by layer. */
static int
print_packages(const char *archive, const struct image *img, bool json, struct derror *err)
{
  struct image_packages pk;

  if (image_packages(archive, img, &pk, err) < 0)
    return -1;
  json_t *list = json_array();
  for (int layer = 0; layer < (int) img->n_layers; layer++)
    for (size_t i = 0; i < pk.n; i++) {
      const struct image_package *p = &pk.items[i];
      if (p->layer != layer)
        continue;
      cleanup_free char *name = escape_json(p->name), *arch = escape_json(p->arch), *v = escape_json(p->version);
      /* escape_json leaves control characters to JSON's own escapes */
      cleanup_free char *label = image_package_label(p), *ej = escape_json(label), *shown = escape_controls(ej);
      if (json) {
        json_t *item = json_pack("{s:s, s:s, s:s, s:i, s:s}", "name", name, "arch", arch, "version", v, "layer",
                                 layer + 1, "ecosystem", p->kind ? p->kind : "deb");
        if (p->at) {
          cleanup_free char *at = escape_json(p->at);
          json_object_set_new(item, "path", json_string(at));
        }
        json_array_append_new(list, item);
      } else {
        cleanup_free char *sv = escape_controls(v);
        printf("layer %d: %s %s\n", layer + 1, shown, sv);
      }
    }
  if (json) {
    json_t *doc = json_pack("{s:o}", "packages", list);
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    putchar('\n');
    json_decref(doc);
  } else {
    json_decref(list);
  }
  image_packages_free(&pk);
  return 0;
}

int
cmd_inspect(int argc, char **argv)
{
  struct image_args args = { 0 };
  bool packages = false;
  struct image img;
  struct check_waiver *waivers = NULL;
  size_t n_waivers = 0;
  struct derror err = DERROR_INIT;

  struct image_source src;

  args.packages = &packages;
  int r = parse_image_args(argc, argv, usage_text, &args);
  if (r != 0 || args.help)
    return r;
  if ((r = image_source_open("inspect", args.image, &args.reg, args.platform, &src)) != 0)
    return r;
  const char *archive = src.path;
  bool json = args.json;
  if (image_read(archive, &img, &err) < 0 || check_recorded_waivers(archive, &img, &waivers, &n_waivers, &err) < 0) {
    /* the reader's messages name the image's paths as they are */
    cleanup_free char *msg = image_source_message(&src, err.msg);
    fprintf(stderr, "distill: %s\n", msg);
    derror_clear(&err);
    image_free(&img);
    image_source_close(&src);
    return EXIT_FAIL;
  }
  if (packages && print_packages(archive, &img, json, &err) < 0) {
    fprintf(stderr, "distill: inspect: %s\n", err.msg);
    derror_clear(&err);
    r = EXIT_FAIL;
  } else if (!packages && json) {
    print_json(&img, waivers, n_waivers);
  } else if (!packages) {
    print_text(&img, waivers, n_waivers);
  }
  image_source_close(&src);
  check_waivers_free(waivers, n_waivers);
  image_free(&img);
  return r;
}
