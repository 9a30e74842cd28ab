/* distill build RECIPE: options, one call to build_image(), printing. */
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/compress.h"
#include "lib/error.h"
#include "lib/platform.h"
#include "lib/timing.h"
#include "recipe/recipe.h"
#include "plan/plan.h"
#include "plan/rootfs.h"
#include "build/build.h"
#include "build/provenance.h"
#include "cli/commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Year 9999: far enough, and what every tar and JSON reader can print. */
#define EPOCH_MAX 253402300799LL

struct build_options {
  const char *recipe;
  const char *output;
  const char *name_tag;
  const char *sysroot;
  const char *context;
  struct strv platforms; /* --platform, split at its commas */
  int64_t epoch;
  bool have_epoch;
  enum compression comp;
  unsigned jobs;
  const char *cache_dir; /* --cache */
  bool no_cache;
  const char *sbom;
  int verbosity; /* 0 quiet, 1 normal, 2 verbose */
  bool timings;  /* where the time went, on stderr */
  bool sync;     /* durable outputs */
  bool help;     /* -h: the usage, and nothing else */
  bool quiet;       /* -q itself, not only stdout that is no terminal */
  const char *push; /* --push REF */
  const char *sign_key, *passphrase_file; /* --sign-key KEY: sign and attest what --push pushed */
  const char *provenance;                 /* --provenance FILE */
  struct strv cache_from;                 /* --cache-from REF... */
  const char *cache_to;                   /* --cache-to REF */
  struct registry_args reg;
};

static const char usage_text[] =
  "usage: distill build RECIPE [-o FILE] [-t NAME:TAG] [--sysroot DIR] [--context DIR]\n"
  "                    [--platform P[,P...]] [--source-date-epoch N] [--compression gzip|zstd|none]\n"
  "                    [--jobs N] [--cache DIR | --no-cache] [--sbom FILE] [--provenance FILE]\n"
  "                    [--sync] [--timings] [-q | -v] [--sign-key KEY [--passphrase-file FILE]]\n"
  "                    [--push REF] [--cache-from REF]... [--cache-to REF]\n"
  "                    [--authfile FILE] [--cert-dir DIR] [--tls-verify=false] [--from REPO]\n"
  "\n"
  "Build the OCI image a recipe describes into one tar archive.\n"
  "\n"
  "  -o, --output FILE          the archive to write (default: NAME.tar)\n"
  "  -t, --tag NAME:TAG         the image name and tag (default: the recipe's)\n"
  "      --sysroot DIR          where absolute sources are read (default: the recipe's, or /)\n"
  "      --context DIR          the directory relative sources must stay in, after \"..\" and symlinks\n"
  "                             (default: the recipe's)\n"
  "      --platform P[,P...]    linux/amd64, linux/arm64, ...: must be the programs' own; several\n"
  "                             make one image per platform, each from its sysroot in the\n"
  "                             recipe's platforms (default: all of those)\n"
  "      --source-date-epoch N  the time of every entry and of the image\n"
  "                             (default: $SOURCE_DATE_EPOCH, else 0)\n"
  "      --compression KIND     gzip (default), zstd or none\n"
  "      --jobs N               compression threads (default: the CPUs); the bytes do not depend on it\n"
  "      --cache DIR            the layer cache (default: $XDG_CACHE_HOME/distill or ~/.cache/distill;\n"
  "                             at most $DISTILL_CACHE_MAX bytes, default 4G)\n"
  "      --no-cache             compress every layer, keep nothing\n"
  "      --sbom FILE            also write an SPDX 2.3 JSON SBOM of the image (default: the recipe's sbom)\n"
  "      --provenance FILE      also write the build's SLSA provenance v1 predicate (JSON), which\n"
  "                             distill attest --provenance attaches\n"
  "      --sync                 the archive and SBOM on the disk before distill exits (fsync);\n"
  "                             else the kernel writes them back in its own time\n"
  "      --timings              say on stderr where the time went: each part's seconds of\n"
  "                             thread time (parts overlap on several threads), wall, CPU\n"
  "      --push REF             then push the archive to docker://HOST[:PORT]/REPO[:TAG], as\n"
  "                             distill push does, with its --authfile, --cert-dir,\n"
  "                             --tls-verify and --from; prints HOST/REPO@sha256:...\n"
  "      --cache-from REF       also look for layers in the layer cache kept in a registry under\n"
  "                             docker://HOST[:PORT]/REPO:TAG (--cache-to's); several may be given.\n"
  "                             A layer found there is fetched into the local cache and used once\n"
  "                             its blob decompresses to the layer's own diff_id; with --push to\n"
  "                             the same registry it is mounted, not sent\n"
  "      --cache-to REF         after the build (and its push), keep its layers in the registry's\n"
  "                             layer cache REF: their blobs, then the cache's manifest\n"
  "      --authfile FILE        --cert-dir DIR  --tls-verify=false  --from REPO: see distill push\n"
  "      --sign-key KEY         sign the image and attest each platform's SBOM and the build's\n"
  "                             provenance, as distill sign and attest do, for the repository\n"
  "                             of --push REF, else of the image's name (-t): the signature\n"
  "                             and attestation manifests go into the archive (sha256-<hex>.sig\n"
  "                             and .att), which verify checks offline and push publishes\n"
  "      --passphrase-file FILE the key's passphrase: FILE's first line (default:\n"
  "                             $DISTILL_PASSPHRASE, else $COSIGN_PASSWORD)\n"
  "  -q, --quiet                print nothing but errors\n"
  "  -v, --verbose              print what goes into each layer\n"
  "  -h, --help                 show this help\n";

static int usage_error(const char *fmt, ...) DISTILL_PRINTF(1, 2);

static int
usage_error(const char *fmt, ...)
{
  va_list ap;

  fputs("distill: build: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\nTry 'distill build --help'.\n", stderr);
  return EXIT_USAGE;
}

static int
parse_epoch(const char *s, int64_t *out)
{
  char *end;

  if (*s < '0' || *s > '9')
    return -1;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < 0 || v > EPOCH_MAX)
    return -1;
  *out = v;
  return 0;
}

/* --platform P[,P...]: the last one given counts. */
static int
parse_platforms(const char *arg, struct strv *out)
{
  const char *arch, *variant;
  cleanup_free char *copy = xstrdup(arg);

  strv_free(out);
  for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (platform_parse(t, &arch, &variant) < 0)
      return usage_error("--platform: \"%s\" is not a platform such as linux/amd64 or linux/arm64", t);
    strv_push(out, t);
  }
  if (arg[0] == '\0' || arg[0] == ',' || arg[strlen(arg) - 1] == ',' || strstr(arg, ",,"))
    return usage_error("--platform: \"%s\" is not a list of platforms", arg);
  return 0;
}

static int
parse_compression(const char *arg, enum compression *out)
{
  static const enum compression kinds[] = { COMPRESSION_GZIP, COMPRESSION_NONE, COMPRESSION_ZSTD };

  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
    if (strcmp(arg, compression_name(kinds[i])) == 0) {
      *out = kinds[i];
      return 0;
    }
  return usage_error("--compression: \"%s\" is not gzip, zstd or none", arg);
}

static int
parse_jobs(const char *arg, unsigned *out)
{
  char *end;
  long jobs = strtol(arg, &end, 10);

  if (*arg == '\0' || *end || jobs < 1 || jobs > 1024)
    return usage_error("--jobs: \"%s\" is not a number from 1 to 1024", arg);
  *out = (unsigned) jobs;
  return 0;
}

enum { OPT_SYSROOT = 256, OPT_EPOCH, OPT_COMPRESSION, OPT_JOBS, OPT_CACHE, OPT_NO_CACHE, OPT_PLATFORM, OPT_SBOM,
       OPT_CONTEXT, OPT_SYNC, OPT_TIMINGS, OPT_PUSH, OPT_SIGN_KEY, OPT_PASSPHRASE_FILE, OPT_PROVENANCE,
       OPT_CACHE_FROM, OPT_CACHE_TO };

/* One option: 0, or the exit status of a usage error. */
static int
parse_option(int c, const char *arg, struct build_options *o)
{
  int r = registry_option("build", c, arg, &o->reg);

  if (r != 1)
    return r;
  switch (c) {
  case OPT_PUSH:
    o->push = arg;
    return push_ref_check("build", arg);
  case OPT_SIGN_KEY:
    o->sign_key = arg;
    return 0;
  case OPT_PASSPHRASE_FILE:
    o->passphrase_file = arg;
    return 0;
  case OPT_PROVENANCE:
    o->provenance = arg;
    return 0;
  case OPT_CACHE_FROM:
    strv_push(&o->cache_from, arg);
    return push_ref_check("build", arg);
  case OPT_CACHE_TO:
    o->cache_to = arg;
    return push_ref_check("build", arg);
  case 'o':
    o->output = arg;
    return 0;
  case 't':
    o->name_tag = arg;
    return 0;
  case OPT_SYSROOT:
    o->sysroot = arg;
    return 0;
  case OPT_CONTEXT:
    o->context = arg;
    return 0;
  case OPT_PLATFORM:
    return parse_platforms(arg, &o->platforms);
  case OPT_EPOCH:
    o->have_epoch = true;
    if (parse_epoch(arg, &o->epoch) < 0)
      return usage_error("--source-date-epoch: \"%s\" is not a number of seconds from 0 to 253402300799", arg);
    return 0;
  case OPT_COMPRESSION:
    return parse_compression(arg, &o->comp);
  case OPT_JOBS:
    return parse_jobs(arg, &o->jobs);
  case OPT_CACHE:
    o->cache_dir = arg;
    return 0;
  case OPT_NO_CACHE:
    o->no_cache = true;
    return 0;
  case OPT_SBOM:
    o->sbom = arg;
    return 0;
  case OPT_SYNC:
    o->sync = true;
    return 0;
  case OPT_TIMINGS:
    o->timings = true;
    timing_enable();
    timing_switch(TIMING_OTHER);
    return 0;
  case 'q':
    o->verbosity = 0;
    o->quiet = true;
    return 0;
  case 'v':
    o->verbosity = 2;
    return 0;
  case 'h':
    o->help = true;
    return 0;
  default:
    fputs("Try 'distill build --help'.\n", stderr);
    return EXIT_USAGE;
  }
}

/* 0 to build (or, with o->help, to show the usage), else the exit status
 * of a usage error, said. */
static int
parse_options(int argc, char **argv, struct build_options *o)
{
  static const struct option longopts[] = {
    { "output", required_argument, NULL, 'o' },
    { "tag", required_argument, NULL, 't' },
    { "sysroot", required_argument, NULL, OPT_SYSROOT },
    { "context", required_argument, NULL, OPT_CONTEXT },
    { "platform", required_argument, NULL, OPT_PLATFORM },
    { "source-date-epoch", required_argument, NULL, OPT_EPOCH },
    { "compression", required_argument, NULL, OPT_COMPRESSION },
    { "jobs", required_argument, NULL, OPT_JOBS },
    { "cache", required_argument, NULL, OPT_CACHE },
    { "no-cache", no_argument, NULL, OPT_NO_CACHE },
    { "sbom", required_argument, NULL, OPT_SBOM },
    { "sync", no_argument, NULL, OPT_SYNC },
    { "timings", no_argument, NULL, OPT_TIMINGS },
    { "push", required_argument, NULL, OPT_PUSH },
    { "sign-key", required_argument, NULL, OPT_SIGN_KEY },
    { "passphrase-file", required_argument, NULL, OPT_PASSPHRASE_FILE },
    { "provenance", required_argument, NULL, OPT_PROVENANCE },
    { "cache-from", required_argument, NULL, OPT_CACHE_FROM },
    { "cache-to", required_argument, NULL, OPT_CACHE_TO },
    REGISTRY_LONGOPTS,
    { "quiet", no_argument, NULL, 'q' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *env_epoch = getenv("SOURCE_DATE_EPOCH");
  int c, ret;

  memset(o, 0, sizeof *o);
  o->jobs = compress_default_jobs();
  o->verbosity = isatty(STDOUT_FILENO) ? 1 : 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "o:t:qvh", longopts, NULL)) != -1)
    if ((ret = parse_option(c, optarg, o)) != 0 || o->help)
      return ret;
  if (o->cache_dir && o->no_cache)
    return usage_error("%s", "--cache and --no-cache exclude each other");
  if (o->reg.given && !o->push && !o->cache_from.n && !o->cache_to)
    return usage_error("%s", "--authfile, --cert-dir, --tls-verify and --from are options of --push, --cache-from "
                             "and --cache-to");
  if (o->no_cache && (o->cache_from.n || o->cache_to))
    return usage_error("%s", "--cache-from and --cache-to go through the local cache: not with --no-cache");
  if (o->passphrase_file && !o->sign_key)
    return usage_error("%s", "--passphrase-file is an option of --sign-key");
  if (optind != argc - 1)
    return usage_error("%s", optind >= argc ? "a recipe is required" : "only one recipe at a time");
  o->recipe = argv[optind];
  if (!o->have_epoch && env_epoch && *env_epoch && parse_epoch(env_epoch, &o->epoch) < 0)
    return usage_error("SOURCE_DATE_EPOCH: \"%s\" is not a number of seconds from 0 to 253402300799",
                       env_epoch);
  return 0;
}

/* -t NAME:TAG; the tag is after the last colon that follows the last slash
 * (a registry may have a port: localhost:5000/app:1). */
static int
split_name_tag(const char *name_tag, char **name, char **tag)
{
  const char *slash = strrchr(name_tag, '/');
  const char *colon = strrchr(slash ? slash : name_tag, ':');

  *name = colon ? xstrndup(name_tag, (size_t) (colon - name_tag)) : xstrdup(name_tag);
  *tag = xstrdup(colon ? colon + 1 : "latest");
  return **name && **tag ? 0 : -1;
}

/* After the build: the provenance written, the archive pushed (with the
 * signatures and attestations it carries), as asked. */
static int
publish(const struct build_options *o, const struct build_request *req, const struct build_result *res,
        json_t *provenance, struct remote_cache *rc)
{
  struct derror err = DERROR_INIT;
  cleanup_json json_t *made = NULL;
  struct registry_args reg = o->reg;

  if (o->provenance && provenance == NULL && (provenance = made = provenance_predicate(req, res, &err)) == NULL) {
    fprintf(stderr, "distill: provenance: %s\n", err.msg);
    derror_clear(&err);
    return EXIT_FAIL;
  }
  if (o->provenance && provenance_write(o->provenance, provenance, &err) < 0) {
    fprintf(stderr, "distill: provenance: %s\n", err.msg);
    derror_clear(&err);
    return EXIT_FAIL;
  }
  if (o->sign_key && o->verbosity >= 1)
    printf("%s: signed, with %zu SBOM and 1 provenance attestations\n", res->output, res->n_images);
  /* what the registry's cache gave is mounted from where it is */
  if (reg.from == NULL)
    reg.from = build_cache_mount(rc, o->push);
  int ret = o->push ? push_run("build", res->output, o->push, &reg, false, o->verbosity >= 2, o->quiet) : EXIT_OK;
  if (ret == EXIT_OK && o->cache_to)
    ret = build_cache_to(o->cache_to, &o->reg, o->push, req, res);
  return ret;
}

/* The recipe loaded and the request made; then one call. */
static int
build(const struct build_options *o)
{
  struct derror err = DERROR_INIT;
  struct build_display d = { .verbosity = o->verbosity };
  struct build_result res = { 0 };
  cleanup_free char *name = NULL, *tag = NULL;
  struct remote_cache *rc = NULL;
  struct build_remote remote = { 0 };
  struct recipe r;

  if (recipe_load(o->recipe, &r, &err) < 0) {
    fprintf(stderr, "distill: %s\n", err.msg);
    derror_clear(&err);
    recipe_free(&r);
    return EXIT_FAIL;
  }
  if (o->name_tag && split_name_tag(o->name_tag, &name, &tag) < 0) {
    recipe_free(&r);
    return usage_error("-t: \"%s\" is not NAME:TAG", o->name_tag);
  }
  struct build_signing signing = { .push = o->push, .key_path = o->sign_key, .passphrase_file = o->passphrase_file };
  if ((o->sign_key && build_signing_load(&signing) != EXIT_OK)
      || build_cache_from(&o->cache_from, &o->reg, &rc, &remote) != EXIT_OK) {
    build_signing_free(&signing);
    recipe_free(&r);
    return EXIT_FAIL;
  }
  struct build_request req = {
    .recipe = &r, .name = name, .tag = tag, .output = o->output, .sbom = o->sbom, .provenance = o->provenance,
    .platforms = o->platforms,
    .sysroot = o->sysroot, .context = o->context, .epoch = o->epoch, .comp = o->comp, .jobs = o->jobs,
    .cache_dir = o->cache_dir, .no_cache = o->no_cache, .sync = o->sync,
    .observer = build_display_observer(&d),
    .attach = { .ctx = &signing, .fn = o->sign_key ? build_signing_attach : NULL },
    .remote = remote,
  };
  int ret = build_image(&req, &res, &err) == 0 ? EXIT_OK : EXIT_FAIL;
  if (ret == EXIT_OK) {
    build_print_result(&res, o->verbosity);
    ret = publish(o, &req, &res, signing.provenance, rc);
  } else if (derror_is(&err, DERROR_USAGE))
    ret = usage_error("%s", err.msg);
  else
    fprintf(stderr, "distill: %s\n", err.msg);
  derror_clear(&err);
  build_signing_free(&signing);
  build_cache_close(rc);
  build_result_free(&res);
  recipe_free(&r);
  return ret;
}

int
cmd_build(int argc, char **argv)
{
  struct build_options o;
  int ret = parse_options(argc, argv, &o);

  if (ret == 0 && o.help)
    fputs(usage_text, stdout);
  else if (ret == 0)
    ret = build(&o);
  if (ret == 0 && o.timings && !o.help)
    timing_report(stderr);
  strv_free(&o.platforms);
  strv_free(&o.cache_from);
  return ret;
}
