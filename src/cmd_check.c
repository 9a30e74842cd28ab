/* distill check IMAGE.tar: the hardening checks; exit 1 when one fails. */
#include "distill/check.h"
#include "distill/commands.h"

#include <stdio.h>

static const char usage_text[] =
  "usage: distill check IMAGE.tar [--json]\n"
  "\n"
  "Check an image archive (anyone's) for what a hardened image must not have:\n"
  "a root or non-numeric user, a shell, a package manager, setuid files,\n"
  "world-writable paths, programs the user can change, device files, private\n"
  "keys or credentials in any layer, a CA bundle that does not parse, an\n"
  "entrypoint that cannot start (missing, not executable by the user, no\n"
  "interpreter, a library missing from the image: can-start); and warn of\n"
  "expired certificates and ports below 1024. Exits 1 on a failure.\n"
  "\n"
  "  --json       one JSON document, for CI\n"
  "  -h, --help   show this help\n";

static void
print_text(const char *archive, const struct check_report *rep)
{
  for (size_t i = 0; i < CHECK_COUNT; i++) {
    const struct check_result *r = &rep->results[i];
    printf("%-4s %-20s %s (%s)\n", r->status == CHECK_PASS ? "ok" : check_status_name(r->status), r->id, r->title,
           r->refs);
    for (size_t j = 0; j < r->findings.n; j++)
      printf("       %s\n", r->findings.items[j]);
  }
  printf("%s: %zu checks, %zu failed, %zu warned\n", archive, (size_t) CHECK_COUNT, rep->n_failed, rep->n_warned);
}

static void
print_json(const char *archive, const struct check_report *rep)
{
  json_t *checks = json_array();

  for (size_t i = 0; i < CHECK_COUNT; i++) {
    const struct check_result *r = &rep->results[i];
    json_t *findings = json_array();
    for (size_t j = 0; j < r->findings.n; j++)
      json_array_append_new(findings, json_string(r->findings.items[j]));
    json_array_append_new(checks, json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", r->id, "title", r->title,
                                            "references", r->refs, "status", check_status_name(r->status),
                                            "findings", findings));
  }
  json_t *doc = json_pack("{s:s, s:o, s:I, s:I}", "image", archive, "checks", checks, "failed",
                          (json_int_t) rep->n_failed, "warned", (json_int_t) rep->n_warned);
  json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
  putchar('\n');
  json_decref(doc);
}

int
cmd_check(int argc, char **argv)
{
  const char *archive;
  bool json;
  struct image img;
  struct check_report rep;
  struct derror err = DERROR_INIT;

  int r = parse_image_args(argc, argv, usage_text, &archive, &json);
  if (r != 0)
    return r < 0 ? EXIT_OK : r;
  if (image_read(archive, &img, &err) < 0 || check_image(archive, &img, true, &rep, &err) < 0) {
    fprintf(stderr, "distill: %s\n", err.msg);
    derror_clear(&err);
    return EXIT_FAIL;
  }
  if (json)
    print_json(archive, &rep);
  else
    print_text(archive, &rep);
  int ret = rep.n_failed ? EXIT_FAIL : EXIT_OK;
  check_report_free(&rep);
  image_free(&img);
  return ret;
}
