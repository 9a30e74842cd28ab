/* distill push IMAGE.tar REF: an image archive to a registry, its bytes
 * as they are, so that the registry serves the archive's digest.  Also
 * the registry options and the push that build --push shares. */
#include "config.h"
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#if DISTILL_REGISTRY
#include "lib/alloc.h"
#include "publish/push.h"
#include "publish/ref.h"
#endif

static const char usage_text[] =
  "usage: distill push IMAGE.tar docker://HOST[:PORT]/REPO[:TAG] [OPTIONS]\n"
  "\n"
  "Send an image archive (an OCI layout in a tar, as build writes it) to a\n"
  "registry: the blobs it lacks, then the manifests, then the tag, so the tag\n"
  "never names a blob the registry does not have. The bytes are the archive's:\n"
  "the registry serves the archive's manifest digest. Then the signatures\n"
  "and attestations the archive carries (build --sign-key), beside those the\n"
  "registry has, under cosign's tags; refused, before anything is sent, when\n"
  "they were signed for another repository. Prints HOST/REPO@sha256:... on\n"
  "success.\n"
  "\n"
  "  --authfile FILE      credentials (containers-auth.json or docker's\n"
  "                       config.json; default: $REGISTRY_AUTH_FILE,\n"
  "                       $XDG_RUNTIME_DIR/containers/auth.json,\n"
  "                       ~/.config/containers/auth.json, ~/.docker/config.json)\n"
  "  --cert-dir DIR       DIR/*.crt: CA certificates besides the system's;\n"
  "                       DIR/*.cert and *.key: a client certificate\n"
  "  --tls-verify=false   do not verify the registry's certificate; plain HTTP\n"
  "                       when it speaks no TLS (a registry on loopback)\n"
  "  --from REPO          mount blobs the registry has in REPO instead of\n"
  "                       uploading them\n"
  "  --image-only         leave out the signatures and attestations the\n"
  "                       archive carries\n"
  "  -v, --verbose        say what happens to each blob\n"
  "  -q, --quiet          print nothing on success\n"
  "  -h, --help           show this help\n";

int
registry_option(const char *cmd, int c, const char *arg, struct registry_args *a)
{
  switch (c) {
  case OPT_AUTHFILE:
    a->authfile = arg;
    break;
  case OPT_CERT_DIR:
    a->cert_dir = arg;
    break;
  case OPT_FROM:
    a->from = arg;
    break;
  case OPT_TLS_VERIFY:
    if (arg && strcmp(arg, "true") != 0 && strcmp(arg, "false") != 0) {
      fprintf(stderr, "distill: %s: --tls-verify takes true or false, not `%s`\nTry 'distill %s --help'.\n", cmd,
              arg, cmd);
      return EXIT_USAGE;
    }
    a->insecure = arg && strcmp(arg, "false") == 0;
    break;
  default:
    return 1;
  }
  a->given = true;
  return 0;
}

int
no_registry(const char *cmd)
{
  fprintf(stderr, "distill: %s: this distill was built without the registry client (a static build: libcurl does "
                  "not link statically); use a distill built with its shared libraries\n", cmd);
  return EXIT_FAIL;
}

#if DISTILL_REGISTRY
int
push_ref_check(const char *cmd, const char *text)
{
  struct derror err = DERROR_INIT;
  struct image_ref ref = { 0 };
  int r = image_ref_parse(text, &ref, &err);

  if (r < 0) {
    fprintf(stderr, "distill: %s: %s\n", cmd, err.msg);
    derror_clear(&err);
  }
  image_ref_free(&ref);
  return r < 0 ? EXIT_USAGE : 0;
}

int
push_run(const char *cmd, const char *archive, const char *text, const struct registry_args *a, bool image_only,
         int verbose, bool quiet)
{
  struct derror err = DERROR_INIT;
  struct image_ref ref = { 0 };
  struct push_report rep;
  struct registry_options o = { .authfile = a->authfile, .cert_dir = a->cert_dir, .insecure = a->insecure,
                                .from = a->from, .verbose = verbose };

  if (image_ref_parse(text, &ref, &err) < 0) {
    fprintf(stderr, "distill: %s: %s\n", cmd, err.msg);
    derror_clear(&err);
    return EXIT_USAGE;
  }
  int r = push_archive(archive, &ref, &o, image_only, &rep, &err);
  if (r == 0 && verbose)
    fprintf(stderr, "pushed %zu blobs: %zu uploaded, %zu mounted, %zu already there; %zu signature and attestation "
                    "manifests; %llu bytes sent\n", rep.blobs, rep.uploaded, rep.mounted,
            rep.blobs - rep.uploaded - rep.mounted, rep.attached, (unsigned long long) rep.bytes_sent);
  if (r == 0 && !quiet) {
    cleanup_free char *name = image_ref_name(&ref);
    printf("%s@%s\n", name, rep.digest);
  }
  image_ref_free(&ref);
  if (r == 0)
    return EXIT_OK;
  fprintf(stderr, "distill: %s: %s\n", cmd, err.msg);
  derror_clear(&err);
  return EXIT_FAIL;
}
#else
int
push_ref_check(const char *cmd, const char *text)
{
  (void) text;
  return no_registry(cmd);
}

int
push_run(const char *cmd, const char *archive, const char *text, const struct registry_args *a, bool image_only,
         int verbose, bool quiet)
{
  (void) archive, (void) text, (void) a, (void) image_only, (void) verbose, (void) quiet;
  return no_registry(cmd);
}
#endif

enum { OPT_IMAGE_ONLY = 700 };

struct push_args {
  const char *archive, *ref;
  struct registry_args reg;
  bool quiet, image_only;
  int verbose;
};

static int
parse_args(int argc, char **argv, struct push_args *a)
{
  static const struct option longopts[] = {
    REGISTRY_LONGOPTS,
    { "image-only", no_argument, NULL, OPT_IMAGE_ONLY },
    { "verbose", no_argument, NULL, 'v' },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int opt, r;

  memset(a, 0, sizeof *a);
  optind = 1;
  while ((opt = getopt_long(argc, argv, "vqh", longopts, NULL)) != -1) {
    if ((r = registry_option("push", opt, optarg, &a->reg)) != 1) {
      if (r != 0)
        return r;
      continue;
    }
    switch (opt) {
    case OPT_IMAGE_ONLY:
      a->image_only = true;
      break;
    case 'v':
      a->verbose++;
      break;
    case 'q':
      a->quiet = true;
      break;
    case 'h':
      fputs(usage_text, stdout);
      return -1;
    default:
      fputs("Try 'distill push --help'.\n", stderr);
      return EXIT_USAGE;
    }
  }
  if (optind != argc - 2) {
    fputs("distill: push: an image archive and a reference are required\nTry 'distill push --help'.\n", stderr);
    return EXIT_USAGE;
  }
  a->archive = argv[optind];
  a->ref = argv[optind + 1];
  return 0;
}

int
cmd_push(int argc, char **argv)
{
  struct push_args a;
  int r = parse_args(argc, argv, &a);

  if (r != 0)
    return r < 0 ? EXIT_OK : r;
  return push_run("push", a.archive, a.ref, &a.reg, a.image_only, a.verbose, a.quiet);
}
