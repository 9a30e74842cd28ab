/* distill check IMAGE: the hardening checks; exit 1 when one fails. */
#include "image/check.h"
#include "image/escape.h"
#include "lib/path.h"
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
  "usage: distill check IMAGE.tar|docker://HOST[:PORT]/REPO[:TAG|@DIGEST] [--json]\n"
  "                     [--allow ID:PATH]... [OPTIONS]\n"
  "\n"
  "Check an image archive (anyone's) or a registry's image for what a hardened image must not have:\n"
  "a root or non-numeric user, a shell, a package manager, setuid files,\n"
  "world-writable paths, programs the user can change, device files, private\n"
  "keys or credentials in any layer, a CA bundle that does not parse, an\n"
  "entrypoint that cannot start (missing, not executable by the user, no\n"
  "interpreter, a library missing from the image: can-start); and warn of\n"
  "expired certificates and ports below 1024. Exits 1 on a failure.\n"
  "A finding --allow accepts is shown as waived and does not fail. Waivers\n"
  "the image records (a recipe's checks.allow) are shown with their finding,\n"
  "which still fails unless --allow repeats them.\n"
  "\n"
  "  --json               one JSON document, for CI\n"
  "  --allow ID:PATH      accept the finding of check ID about exactly PATH\n"
  "                       (repeatable)\n"
  REGISTRY_READ_HELP
  "  -h, --help           show this help\n";

#define CLI_REASON "waived on the command line (--allow)"

static int
usage_error(const char *what, const char *why)
{
  fprintf(stderr, "distill: check: %s: %s\nTry 'distill check --help'.\n", what, why);
  return EXIT_USAGE;
}

/* --allow ID:PATH: the id up to the first colon, the path after it (a
 * path may hold colons). */
static int
parse_allow(const char *arg, struct check_waiver **allow, size_t *n)
{
  const char *colon = strchr(arg, ':');
  const char *why;

  cleanup_free char *shown = escape_text(arg);
  cleanup_free char *what = xasprintf("--allow \"%s\"", shown);
  if (colon == NULL)
    return usage_error(what, "not ID:PATH");
  cleanup_free char *id = xstrndup(arg, (size_t) (colon - arg));
  if ((why = check_waivable(id)) != NULL)
    return usage_error(what, why);
  /* a path in the image, or a place in its config (config:Env:NAME) */
  char *path = strncmp(colon + 1, "config:", 7) == 0 ? xstrdup(colon + 1)
               : colon[1] == '/'                     ? path_normalize(colon + 1)
                                                     : NULL;
  if (path == NULL || strcmp(path, "/") == 0) {
    free(path);
    return usage_error(what, "PATH must be an absolute path in the image without \"..\", or config:...");
  }
  *allow = xreallocarray(*allow, *n + 1, sizeof **allow);
  (*allow)[(*n)++] = (struct check_waiver) { steal_pointer(&id), path, xstrdup(CLI_REASON) };
  return 0;
}

/* --allow ID:PATH, gathered into the waivers of `data`. */
struct allow_list {
  struct check_waiver *items;
  size_t n;
};

static int
take_allow(const char *arg, void *data)
{
  struct allow_list *l = data;

  return parse_allow(arg, &l->items, &l->n);
}

static void
print_text(const char *archive, const struct check_report *rep)
{
  for (size_t i = 0; i < CHECK_COUNT; i++) {
    const struct check_result *r = &rep->results[i];
    printf("%-6s %-20s %s (%s)\n", r->status == CHECK_PASS ? "ok" : check_status_name(r->status), r->id, r->title,
           r->refs);
    for (size_t j = 0; j < r->findings.n; j++)
      printf("       %s\n", r->findings.items[j]);
    for (size_t j = 0; j < r->waived.n; j++)
      printf("       waived: %s; reason: %s\n", r->waived.items[j], r->reasons.items[j]);
  }
  cleanup_free char *name = escape_text(archive);
  printf("%s: %zu checks, %zu failed, %zu warned", name, (size_t) CHECK_COUNT, rep->n_failed, rep->n_warned);
  if (rep->n_waived)
    printf(", %zu finding%s waived", rep->n_waived, rep->n_waived == 1 ? "" : "s");
  putchar('\n');
}

static json_t *
waivers_json(const struct check_waiver *w, size_t n)
{
  json_t *a = json_array();

  for (size_t i = 0; i < n; i++) {
    cleanup_free char *id = escape_json(w[i].id), *path = escape_json(w[i].path), *reason = escape_json(w[i].reason);
    json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "id", id, "path", path, "reason", reason));
  }
  return a;
}

static void
print_json(const char *archive, const struct check_report *rep, const struct check_waiver *recorded, size_t n_recorded)
{
  json_t *checks = json_array();

  for (size_t i = 0; i < CHECK_COUNT; i++) {
    const struct check_result *r = &rep->results[i];
    json_t *findings = json_array(), *waived = json_array();
    for (size_t j = 0; j < r->findings.n; j++)
      json_array_append_new(findings, json_string(r->findings.items[j]));
    for (size_t j = 0; j < r->waived.n; j++)
      json_array_append_new(waived, json_pack("{s:s, s:s}", "finding", r->waived.items[j], "reason",
                                              r->reasons.items[j]));
    json_array_append_new(checks, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "id", r->id, "title", r->title,
                                            "references", r->refs, "status", check_status_name(r->status),
                                            "findings", findings, "waived", waived));
  }
  cleanup_free char *name = escape_json(archive);
  json_t *doc = json_pack("{s:s, s:o, s:I, s:I, s:I, s:o}", "image", name, "checks", checks, "failed",
                          (json_int_t) rep->n_failed, "warned", (json_int_t) rep->n_warned, "waived",
                          (json_int_t) rep->n_waived, "recorded_waivers", waivers_json(recorded, n_recorded));
  json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
  putchar('\n');
  json_decref(doc);
}

int
cmd_check(int argc, char **argv)
{
  const char *archive;
  bool json;
  struct image img = { 0 };
  struct check_report rep = { 0 };
  struct check_waiver *allow = NULL, *recorded = NULL;
  size_t n_allow = 0, n_recorded = 0;
  struct check_options opt = { 0 };
  struct derror err = DERROR_INIT;
  struct image_source src = { 0 };
  int ret = EXIT_FAIL;

  struct allow_list given = { NULL, 0 };
  struct image_args args = { .on_allow = take_allow, .data = &given };
  int r = parse_image_args(argc, argv, usage_text, &args);
  allow = given.items;
  n_allow = given.n;
  if (r != 0 || args.help) {
    check_waivers_free(allow, n_allow);
    return r;
  }
  if ((r = image_source_open("check", args.image, &args.reg, args.platform, &src)) != 0) {
    check_waivers_free(allow, n_allow);
    return r;
  }
  archive = src.path;
  json = args.json;
  if (image_read(archive, &img, &err) < 0 || check_recorded_waivers(archive, &img, &recorded, &n_recorded, &err) < 0)
    goto out;
  /* repeating a waiver the image records accepts it with its reason */
  for (size_t i = 0; i < n_allow; i++)
    for (size_t k = 0; k < n_recorded; k++)
      if (strcmp(allow[i].id, recorded[k].id) == 0 && strcmp(allow[i].path, recorded[k].path) == 0) {
        free((char *) allow[i].reason);
        allow[i].reason = xasprintf("%s (recorded in the image, accepted by --allow)", recorded[k].reason);
        break;
      }
  opt = (struct check_options) { allow, n_allow, recorded, n_recorded };
  if (check_image(archive, &img, true, &opt, &rep, &err) < 0)
    goto out;
  if (json)
    print_json(src.arg, &rep, recorded, n_recorded);
  else
    print_text(src.arg, &rep);
  /* a waiver that accepts nothing has outlived its reason */
  for (size_t i = 0; i < n_allow; i++)
    if (!rep.used[i]) {
      cleanup_free char *path = escape_text(allow[i].path);
      fprintf(stderr, "distill: check: warning: --allow %s:%s accepts no finding\n", allow[i].id, path);
    }
  ret = rep.n_failed ? EXIT_FAIL : EXIT_OK;
  check_report_free(&rep);
out:
  if (err.msg) {
    /* the reader's messages name the image's paths as they are */
    cleanup_free char *msg = image_source_message(&src, err.msg);
    fprintf(stderr, "distill: %s\n", msg);
  }
  derror_clear(&err);
  image_source_close(&src);
  check_waivers_free(allow, n_allow);
  check_waivers_free(recorded, n_recorded);
  image_free(&img);
  return ret;
}
