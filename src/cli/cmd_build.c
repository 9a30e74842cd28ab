/* distill build RECIPE: recipe -> plan -> layers -> archive. */
#include "plan/base.h"
#include "lib/cache.h"
#include "image/check.h"
#include "cli/commands.h"
#include "plan/elf.h"
#include "lib/platform.h"
#include "build/layer.h"
#include "build/oci.h"
#include "plan/plan.h"
#include "recipe/recipe.h"
#include "build/sbom.h"
#include "lib/secrets.h"
#include "lib/alloc.h"
#include "lib/file.h"
#include "lib/path.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Year 9999: far enough, and what every tar and JSON reader can print. */
#define EPOCH_MAX 253402300799LL

struct build_options {
  const char *recipe;
  const char *output;
  const char *name_tag;
  const char *sysroot;
  const char *context; /* --context */
  const char *platform;
  int64_t epoch;
  enum compression comp;
  unsigned jobs;
  const char *cache_dir; /* --cache */
  bool no_cache;
  const char *sbom; /* --sbom */
  int verbosity; /* 0 quiet, 1 normal, 2 verbose */
};

static const char usage_text[] =
  "usage: distill build RECIPE [-o FILE] [-t NAME:TAG] [--sysroot DIR] [--context DIR]\n"
  "                    [--platform P[,P...]] [--source-date-epoch N] [--compression gzip|zstd|none]\n"
  "                    [--jobs N] [--cache DIR | --no-cache] [--sbom FILE] [-q | -v]\n"
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

static int
parse_options(int argc, char **argv, struct build_options *o)
{
  enum {
    OPT_SYSROOT = 256,
    OPT_EPOCH,
    OPT_COMPRESSION,
    OPT_JOBS,
    OPT_CACHE,
    OPT_NO_CACHE,
    OPT_PLATFORM,
    OPT_SBOM,
    OPT_CONTEXT,
  };
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
    { "quiet", no_argument, NULL, 'q' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *env_epoch = getenv("SOURCE_DATE_EPOCH");
  bool have_epoch = false, cache = false, no_cache = false;
  int c;

  memset(o, 0, sizeof *o);
  o->jobs = compress_default_jobs();
  o->verbosity = isatty(STDOUT_FILENO) ? 1 : 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "o:t:qvh", longopts, NULL)) != -1) {
    switch (c) {
    case 'o':
      o->output = optarg;
      break;
    case 't':
      o->name_tag = optarg;
      break;
    case OPT_SYSROOT:
      o->sysroot = optarg;
      break;
    case OPT_CONTEXT:
      o->context = optarg;
      break;
    case OPT_PLATFORM: {
      const char *arch, *variant;
      cleanup_free char *copy = xstrdup(optarg);
      for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (platform_parse(t, &arch, &variant) < 0)
          return usage_error("--platform: \"%s\" is not a platform such as linux/amd64 or linux/arm64", t);
      if (optarg[0] == '\0' || optarg[0] == ',' || optarg[strlen(optarg) - 1] == ',' || strstr(optarg, ",,"))
        return usage_error("--platform: \"%s\" is not a list of platforms", optarg);
      o->platform = optarg;
      break;
    }
    case OPT_EPOCH:
      if (parse_epoch(optarg, &o->epoch) < 0)
        return usage_error("--source-date-epoch: \"%s\" is not a number of seconds from 0 to 253402300799",
                           optarg);
      have_epoch = true;
      break;
    case OPT_COMPRESSION:
      if (strcmp(optarg, "gzip") == 0)
        o->comp = COMPRESSION_GZIP;
      else if (strcmp(optarg, "none") == 0)
        o->comp = COMPRESSION_NONE;
      else if (strcmp(optarg, "zstd") == 0)
        o->comp = COMPRESSION_ZSTD;
      else
        return usage_error("--compression: \"%s\" is not gzip, zstd or none", optarg);
      break;
    case OPT_JOBS: {
      char *end;
      long jobs = strtol(optarg, &end, 10);
      if (*optarg == '\0' || *end || jobs < 1 || jobs > 1024)
        return usage_error("--jobs: \"%s\" is not a number from 1 to 1024", optarg);
      o->jobs = (unsigned) jobs;
      break;
    }
    case OPT_CACHE:
      cache = true;
      o->cache_dir = optarg;
      break;
    case OPT_NO_CACHE:
      no_cache = true;
      o->no_cache = true;
      break;
    case OPT_SBOM:
      o->sbom = optarg;
      break;
    case 'q':
      o->verbosity = 0;
      break;
    case 'v':
      o->verbosity = 2;
      break;
    case 'h':
      fputs(usage_text, stdout);
      return -1;
    default:
      fputs("Try 'distill build --help'.\n", stderr);
      return EXIT_USAGE;
    }
  }
  if (cache && no_cache)
    return usage_error("%s", "--cache and --no-cache exclude each other");
  if (optind != argc - 1)
    return usage_error("%s", optind >= argc ? "a recipe is required" : "only one recipe at a time");
  o->recipe = argv[optind];
  if (!have_epoch && env_epoch && *env_epoch && parse_epoch(env_epoch, &o->epoch) < 0)
    return usage_error("SOURCE_DATE_EPOCH: \"%s\" is not a number of seconds from 0 to 253402300799",
                       env_epoch);
  return 0;
}

/* -t NAME:TAG; the tag is after the last colon that follows the last slash
 * (a registry may have a port: localhost:5000/app:1). */
static int
apply_name_tag(struct recipe *r, const char *name_tag)
{
  const char *slash = strrchr(name_tag, '/');
  const char *colon = strrchr(slash ? slash : name_tag, ':');

  free(r->name);
  free(r->tag);
  if (colon) {
    r->name = xstrndup(name_tag, (size_t) (colon - name_tag));
    r->tag = xstrdup(colon + 1);
  } else {
    r->name = xstrdup(name_tag);
    r->tag = xstrdup("latest");
  }
  if (*r->name == '\0' || *r->tag == '\0')
    return -1;
  return 0;
}

/* --platform and the recipe's platform must say the same. */
static int
apply_platform(struct recipe *r, const char *platform, struct derror *err)
{
  const char *arch, *variant;

  platform_parse(platform, &arch, &variant);
  if (r->platform && (strcmp(arch, r->platform_arch) != 0 || (variant && r->platform_variant
                                                               && strcmp(variant, r->platform_variant) != 0)))
    return derror_set(err, "--platform %s disagrees with the recipe's platform %s", platform, r->platform);
  free(r->platform);
  r->platform = xstrdup(platform);
  r->platform_arch = arch;
  r->platform_variant = variant;
  return 0;
}

static const char *const layer_comments[LAYER_COUNT] = {
  "distill: base (accounts, name service, os-release, certificates)",
  "distill: libraries (the loader and the shared-library closure)",
  "distill: application (binaries, files, directories, symlinks, paths)",
};

static char *
default_output(const struct recipe *r)
{
  cleanup_free char *name = xstrdup(path_basename(r->name));
  return xasprintf("%s.tar", name);
}

/* The build's record of what it wrote, in the image reader's terms: every
 * entry of every layer in order, with what the scan of its bytes found as
 * they went into the layer. */
struct record {
  struct image img;
  int layer;     /* index among the image's layers */
  int64_t epoch;
  struct strv *marks; /* also "MARKS WHAT" per entry, for the cache; or NULL */
};

static void
record_entry(void *ctx, const struct rootfs_entry *e, const struct scan *content)
{
  struct record *r = ctx;
  struct image_file *f = image_history_add(&r->img);
  static const char types[] = { [ROOTFS_FILE] = 'f', [ROOTFS_DIR] = 'd', [ROOTFS_SYMLINK] = 'l',
                                [ROOTFS_HARDLINK] = 'h' };

  f->path = xstrdup(e->path);
  f->type = types[e->type];
  f->mode = e->mode & 07777;
  f->uid = e->uid;
  f->gid = e->gid;
  f->size = e->type == ROOTFS_FILE ? e->size : 0;
  f->mtime = r->epoch;
  f->target = e->target ? xstrdup(e->target) : NULL;
  f->layer = r->layer;
  f->marks = content->marks;
  f->what = content->what;
  f->secret = content->secret;
  if (r->marks)
    strv_push_take(r->marks, xasprintf("%u %s %s", content->marks, content->what ? content->what : "-",
                                       content->secret ? content->secret : "-"));
}

/* A layer from the cache: its entries told to the record as if written,
 * with the marks the cache kept. -1 when they do not match the layer. */
static int
replay_entries(struct record *rec, const struct rootfs *fs, enum rootfs_layer layer, const struct cache_hit *hit)
{
  cleanup_free size_t *idx = NULL;
  size_t n = layer_entries(fs, layer, &idx);

  if (n != hit->marks.n)
    return -1;
  for (size_t k = 0; k < n; k++) {
    struct scan sc;
    char what[64], secret[64];
    scan_init(&sc);
    /* a record from before the credential rules has two fields: rebuilt */
    if (sscanf(hit->marks.items[k], "%u %63s %63s", &sc.marks, what, secret) != 3)
      return -1;
    sc.what = scan_known(what);
    sc.secret = secrets_rule(secret);
    record_entry(rec, &fs->items[idx[k]], &sc);
  }
  return 0;
}

/* The entries and content bytes a layer holds. */
static size_t
layer_size(const struct rootfs *fs, enum rootfs_layer layer, uint64_t *bytes)
{
  cleanup_free size_t *idx = NULL;
  size_t n = layer_entries(fs, layer, &idx);

  *bytes = 0;
  for (size_t k = 0; k < n; k++)
    if (fs->items[idx[k]].type == ROOTFS_FILE)
      *bytes += fs->items[idx[k]].size;
  return n;
}

/* The progress line: on a terminal (stdout), once a build has run for half
 * a second, redrawn at most ten times a second; cleared at the end. */
struct progress {
  bool on, shown;
  struct timespec start, last;
  uint64_t bytes, total_bytes;
  size_t entries, total_entries;
  int layer, n_layers;
};

static double
seconds_since(const struct timespec *t)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double) (now.tv_sec - t->tv_sec) + (double) (now.tv_nsec - t->tv_nsec) / 1e9;
}

static void
progress_update(void *ctx, uint64_t bytes, size_t entries)
{
  struct progress *pg = ctx;
  double elapsed = seconds_since(&pg->start);

  pg->bytes += bytes;
  pg->entries += entries;
  if (!pg->on || elapsed < 0.5 || seconds_since(&pg->last) < 0.1)
    return;
  clock_gettime(CLOCK_MONOTONIC, &pg->last);
  printf("\r\033[Klayer %d/%d  %zu/%zu files  %.1f/%.1f MB  %.0f MB/s", pg->layer, pg->n_layers, pg->entries,
         pg->total_entries, (double) pg->bytes / 1e6, (double) pg->total_bytes / 1e6,
         (double) pg->bytes / 1e6 / elapsed);
  fflush(stdout);
  pg->shown = true;
}

static void
progress_end(struct progress *pg)
{
  if (pg->shown) {
    fputs("\r\033[K", stdout);
    fflush(stdout);
  }
}

/* A layer written but maybe not yet out: what its blob's begin and end
 * need, in the compressor's own time. */
struct pending {
  struct oci_archive *arc;
  struct cache *cache;
  enum compression comp;
  char key[DIGEST_STR_LEN];
  int tmp; /* the cache's copy being written, or -1 */
  char *tmp_name;
  struct strv marks;
  bool from_cache;
};

static int
pending_begin(void *ctx, struct derror *err)
{
  struct pending *pl = ctx;

  return oci_archive_blob_begin(pl->arc, err);
}

static int
pending_done(void *ctx, struct layer_blob *b, struct derror *err)
{
  struct pending *pl = ctx;
  struct cache_hit what = { .comp = pl->comp };

  if (oci_archive_blob_end(pl->arc, b->digest, b->size, err) < 0)
    return -1;
  if (pl->tmp >= 0 && !b->tee_failed) {
    snprintf(what.digest, sizeof what.digest, "%s", b->digest);
    snprintf(what.diff_id, sizeof what.diff_id, "%s", b->diff_id);
    what.size = b->size;
    what.marks = pl->marks;
    cache_put(pl->cache, pl->tmp, pl->tmp_name, pl->key, &what);
  } else if (pl->tmp >= 0) {
    cache_discard(pl->tmp, pl->tmp_name);
  }
  pl->tmp = -1;
  pl->tmp_name = NULL;
  return 0;
}

/* A build that failed: the cache's copies it was writing go. */
static void
pending_free(struct pending *pl)
{
  if (pl->tmp >= 0)
    cache_discard(pl->tmp, pl->tmp_name);
  strv_free(&pl->marks);
}

/* One layer into the archive: from the cache when its key is known there,
 * else written by the shared compressor and kept in the cache once out
 * (pending_done); -1 on failure. */
static int
put_layer(const struct build_options *o, struct cache *c, const struct plan *p, enum rootfs_layer l,
          struct compressor *comp, int fd, struct record *rec, struct progress *pg, struct pending *pl,
          struct layer_blob *b, struct derror *err)
{
  struct layer_options lo = {
    .epoch = o->epoch, .comp = o->comp, .jobs = o->jobs, .written = record_entry, .ctx = rec,
    .progress = progress_update, .progress_ctx = pg, .compressor = comp,
    .begin = pending_begin, .done = pending_done, .blob_ctx = pl, .blob_err = err,
  };
  struct cache_hit hit;
  bool keyed = c && layer_key(&p->fs, l, &lo, pl->key) == 0;

  pl->tmp = -1;
  if (keyed && cache_lookup(c, pl->key, o->comp, &hit) == 0) {
    size_t before = rec->img.n_history;
    /* the layers before it go out first */
    if (compressor_drain(comp) < 0) {
      cache_hit_free(&hit);
      if (err->msg == NULL)
        derror_set(err, "%s: compression failed", compression_library(o->comp));
      return -1;
    }
    int r = oci_archive_blob_begin(pl->arc, err);
    if (r == 0)
      r = cache_copy(c, &hit, fd, err);
    if (r == 0 && replay_entries(rec, &p->fs, l, &hit) < 0)
      r = derror_set(err, "cache: the record of %s does not match the layer", pl->key);
    if (r == 0) {
      snprintf(b->digest, sizeof b->digest, "%s", hit.digest);
      snprintf(b->diff_id, sizeof b->diff_id, "%s", hit.diff_id);
      b->size = hit.size;
      b->media_type = compression_media_type(o->comp);
      b->n_entries = hit.marks.n;
      cache_hit_free(&hit);
      uint64_t bytes;
      layer_size(&p->fs, l, &bytes);
      progress_update(pg, bytes, b->n_entries);
      pl->from_cache = true;
      return oci_archive_blob_end(pl->arc, b->digest, b->size, err);
    }
    cache_hit_free(&hit);
    if (derror_is(err, DERROR_OUTPUT))
      return -1;
    /* unusable: said, forgotten, and the layer written anew */
    fprintf(stderr, "distill: warning: %s\n", err->msg);
    derror_clear(err);
    while (rec->img.n_history > before) {
      struct image_file *f = &rec->img.history[--rec->img.n_history];
      free(f->path);
      free(f->target);
    }
    if (oci_archive_blob_cancel(pl->arc, err) < 0)
      return -1;
  }

  pl->tmp = keyed ? cache_begin(c, &pl->tmp_name) : -1;
  lo.tee_fd = pl->tmp;
  rec->marks = pl->tmp >= 0 ? &pl->marks : NULL;
  int r = layer_write(&p->fs, l, &lo, fd, b, err);
  rec->marks = NULL;
  return r;
}

/* Before the image gets its name it passes the checks of `distill check`
 * (check_image), run on the build's record of every entry and byte it
 * wrote; the CA bundle is read back from the archive itself. An image that
 * fails a check is never written. */
static int
self_check(int fd, const struct oci_image *oimg, const char *manifest_digest, struct record *rec,
           struct derror *err)
{
  char path[64];
  struct check_report rep;
  struct buf failed = { 0 };
  cleanup_free char *config = oci_config_json(oimg);
  struct image *img = &rec->img;

  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  img->config = json_loads(config, 0, NULL);
  if (img->config == NULL)
    return derror_set(err, "the image config is not JSON");
  digest_buffer(config, strlen(config), img->config_digest);
  snprintf(img->manifest_digest, sizeof img->manifest_digest, "%s", manifest_digest);
  img->n_layers = oimg->n_layers;
  img->layers = xcalloc(oimg->n_layers ? oimg->n_layers : 1, sizeof *img->layers);
  for (size_t i = 0; i < oimg->n_layers; i++) {
    const struct layer_blob *b = &oimg->layers[i];
    snprintf(img->layers[i].digest, sizeof img->layers[i].digest, "%s", b->digest);
    snprintf(img->layers[i].diff_id, sizeof img->layers[i].diff_id, "%s", b->diff_id);
    img->layers[i].media_type = xstrdup(b->media_type);
    img->layers[i].size = b->size;
    img->layers[i].n_entries = b->n_entries;
  }
  image_merge(img);
  /* the recipe's waivers (checks.allow), recorded in the manifest */
  const struct recipe *r = oimg->recipe;
  struct check_waiver *allow = xcalloc(r->n_waivers ? r->n_waivers : 1, sizeof *allow);
  for (size_t i = 0; i < r->n_waivers; i++)
    allow[i] = (struct check_waiver) { r->waivers[i].id, r->waivers[i].path, r->waivers[i].reason };
  struct check_options opt = { .allow = allow, .n_allow = r->n_waivers };
  check_image(path, img, false, &opt, &rep, err);
  free(allow);
  for (size_t i = 0; i < CHECK_COUNT; i++)
    for (size_t j = 0; rep.results[i].status == CHECK_FAIL && j < rep.results[i].findings.n; j++)
      buf_printf(&failed, "\n  %s: %s", rep.results[i].id, rep.results[i].findings.items[j]);
  if (failed.data)
    derror_set(err, "the image fails distill check:%s", failed.data);
  buf_free(&failed);
  check_report_free(&rep);
  return err->msg ? -1 : 0;
}

/* One image of the archive (one per platform): its plan, its layers on
 * their way, and the build's record of what went into them. */
struct target {
  char *platform;   /* as asked, or NULL: the recipe's own */
  char *sysroot;    /* or NULL: the recipe's, or --sysroot */
  struct sysroot root;
  struct plan plan;
  struct oci_image img;
  struct layer_blob layers[LAYER_COUNT];
  const char *comments[LAYER_COUNT];
  struct pending pend[LAYER_COUNT];
  struct record rec;
  char manifest_digest[DIGEST_STR_LEN];
};

static void
target_image(const struct build_options *o, const struct recipe *r, struct target *t)
{
  struct oci_image *img = &t->img;
  const struct plan *p = &t->plan;

  for (size_t i = 0; i < LAYER_COUNT; i++)
    t->pend[i].tmp = -1;
  t->rec.epoch = o->epoch;
  img->recipe = r;
  img->name = r->name;
  img->tag = r->tag;
  img->arch = p->arch;
  img->variant = p->variant;
  img->uid = p->uid;
  img->gid = p->gid;
  img->epoch = o->epoch;
  img->layers = t->layers;
  img->layer_comments = t->comments;
  for (size_t i = 0; i < p->env.n; i++)
    strv_push(&img->env, p->env.items[i]);
  img->has_entrypoint = p->has_entrypoint;
  for (size_t i = 0; i < p->entrypoint.n; i++)
    strv_push(&img->entrypoint, p->entrypoint.items[i]);
}

/* The layers of one target into the archive. */
static int
put_layers(const struct build_options *o, struct cache *cache, struct target *t, struct compressor *comp,
           struct oci_archive *arc, int fd, struct progress *pg, struct derror *err)
{
  const struct plan *p = &t->plan;

  for (int l = 0; l < LAYER_COUNT; l++) {
    if (layer_is_empty(&p->fs, (enum rootfs_layer) l))
      continue;
    struct pending *pl = &t->pend[t->img.n_layers];
    pl->arc = arc;
    pl->cache = cache;
    pl->comp = o->comp;
    t->rec.layer = (int) t->img.n_layers;
    pg->layer++;
    if (put_layer(o, cache, p, (enum rootfs_layer) l, comp, fd, &t->rec, pg, pl, &t->layers[t->img.n_layers], err)
        < 0)
      return -1;
    t->comments[t->img.n_layers++] = layer_comments[l];
  }
  return 0;
}

/* With several platforms each SBOM is named after its platform:
 * app.spdx.json -> app.linux-arm64.spdx.json. */
static char *
sbom_path(const char *path, const struct target *t, size_t n_targets)
{
  if (n_targets == 1)
    return xstrdup(path);
  const char *base = path_basename(path);
  const char *dot = strchr(base, '.');
  size_t stem = dot ? (size_t) (dot - path) : strlen(path);
  return xasprintf("%.*s.linux-%s%s%s%s", (int) stem, path, t->img.arch, t->img.variant ? "-" : "",
                   t->img.variant ? t->img.variant : "", dot ? dot : "");
}

/* ---- outputs that would destroy inputs --------------------------------- */

/* A file the build reads or writes, for the clash checks before it starts:
 * its identity when it exists (symlinks followed, so a link to the recipe
 * is the recipe), and its absolute path, normalised through its real
 * directory, which is all an output still to be made has. */
struct named_file {
  char *what; /* how the message names it */
  char *abs;
  bool exists;
  dev_t dev;
  ino_t ino;
};

struct file_set {
  struct named_file *items;
  size_t n, cap;
};

static char *
absolute_path(const char *path)
{
  char cwd[PATH_MAX], real[PATH_MAX];
  cleanup_free char *abs = path[0] == '/'           ? xstrdup(path)
                           : getcwd(cwd, sizeof cwd) ? path_join(cwd, path)
                                                     : xstrdup(path);
  cleanup_free char *dir = path_dirname(abs);

  if (realpath(dir, real) != NULL)
    return path_join(real, path_basename(abs));
  char *lexical = path_lexical(abs);
  return lexical ? lexical : xstrdup(abs);
}

/* Inputs that do not exist are left out: the plan stops at them, before
 * anything is written. */
static void
file_set_add(struct file_set *set, char *what, const char *path, bool input)
{
  struct stat st;
  bool exists = stat(path, &st) == 0;

  if (input && !exists) {
    free(what);
    return;
  }
  if (set->n == set->cap)
    set->items = xreallocarray(set->items, set->cap = set->cap ? set->cap * 2 : 16, sizeof *set->items);
  set->items[set->n++] = (struct named_file) { what, absolute_path(path), exists, exists ? st.st_dev : 0,
                                               exists ? st.st_ino : 0 };
}

static void
file_set_free(struct file_set *set)
{
  for (size_t i = 0; i < set->n; i++) {
    free(set->items[i].what);
    free(set->items[i].abs);
  }
  free(set->items);
}

static bool
same_file(const struct named_file *a, const struct named_file *b)
{
  return (a->exists && b->exists && a->dev == b->dev && a->ino == b->ino) || strcmp(a->abs, b->abs) == 0;
}

/* A source as the plan reads it: relative to the recipe, or inside each
 * target's sysroot. */
static void
add_source(struct file_set *in, const struct recipe *r, const struct target *targets, size_t n,
           const struct recipe_source *src, const char *key, size_t i)
{
  /* contents.files[0]'s source `x`; the ca-certificates bundle `x` */
  cleanup_free char *label = i == SIZE_MAX ? xstrdup(key) : xasprintf("%s[%zu]'s source", key, i);

  if (src->source == NULL)
    return;
  if (!src->in_sysroot) {
    cleanup_free char *host = path_join(r->dir, src->source);
    file_set_add(in, xasprintf("%s `%s`", label, src->source), host, true);
    return;
  }
  for (size_t k = 0; k < n; k++) {
    struct sysroot root = { 0 };
    struct derror ignored = DERROR_INIT;
    char *resolved = NULL;
    struct stat st;
    if (sysroot_open(&root, targets[k].sysroot, &ignored) == 0
        && sysroot_resolve(&root, src->source, NULL, NULL, &resolved, &st, &ignored) == SYSROOT_OK) {
      cleanup_free char *host = sysroot_host_path(&root, resolved);
      file_set_add(in, xasprintf("%s `%s` (`%s`)", label, src->source, host), host, true);
    }
    free(resolved);
    derror_clear(&ignored);
    sysroot_close(&root);
  }
}

/* The SBOM of each target, named as write_image() will name it; the
 * platform's variant is what the plan gives: the stated one, else the
 * architecture's own (arm: v7). */
static void
add_sboms(struct file_set *out, const char *sbom, const char *flag, const struct target *targets, size_t n)
{
  for (size_t k = 0; k < n; k++) {
    struct target probe;
    struct elf_info e = { 0 };
    const char *arch = NULL, *variant = NULL, *own = NULL;
    memset(&probe, 0, sizeof probe);
    if (n > 1 && platform_parse(targets[k].platform, &arch, &variant) == 0 && elf_of_oci_arch(arch, &e))
      elf_oci_arch(&e, &own);
    probe.img.arch = arch;
    probe.img.variant = variant ? variant : own;
    cleanup_free char *path = n > 1 && arch ? sbom_path(sbom, &probe, n) : xstrdup(sbom);
    file_set_add(out, xasprintf("%s `%s`", flag, path), path, false);
  }
}

/* An output that is an input, or the other output, would destroy it (the
 * archive is renamed over its path at the end): refused before the build
 * starts, comparing device and inode for existing files and normalised
 * paths for the others.  Prints the usage error; returns true on a clash. */
static bool
outputs_clash(const struct build_options *o, const struct recipe *r, const struct target *targets, size_t n,
              const char *output)
{
  struct file_set in = { 0 }, out = { 0 };
  bool clash = false;

  file_set_add(&in, xasprintf("the recipe `%s`", o->recipe), o->recipe, true);
  for (size_t i = 0; i < r->n_binaries; i++)
    add_source(&in, r, targets, n, &r->binaries[i].src, "contents.binaries", i);
  for (size_t i = 0; i < r->n_libraries; i++) {
    struct recipe_source named = { r->libraries[i].name, true };
    bool path = r->libraries[i].name && r->libraries[i].name[0] == '/';
    add_source(&in, r, targets, n, path ? &named : &r->libraries[i].src, "contents.libraries", i);
  }
  for (size_t i = 0; i < r->n_files; i++)
    add_source(&in, r, targets, n, &r->files[i].src, "contents.files", i);
  for (size_t i = 0; i < r->n_directories; i++)
    add_source(&in, r, targets, n, &r->directories[i].src, "contents.directories", i);
  struct recipe_source bundle = { (char *) BASE_CA_BUNDLE, true };
  if (r->ca != RECIPE_CA_NONE)
    add_source(&in, r, targets, n, r->ca == RECIPE_CA_PATH ? &r->ca_source : &bundle, "the ca-certificates bundle",
               SIZE_MAX);

  file_set_add(&out, o->output ? xasprintf("-o `%s`", output) : xasprintf("the output `%s`", output), output,
               false);
  if (o->sbom || r->sbom)
    add_sboms(&out, o->sbom ? o->sbom : r->sbom, o->sbom ? "--sbom" : "the recipe's sbom", targets, n);

  for (size_t i = 0; !clash && i < out.n; i++) {
    for (size_t k = 0; !clash && k < in.n; k++)
      if (same_file(&out.items[i], &in.items[k])) {
        usage_error("%s would overwrite %s, which the build reads", out.items[i].what, in.items[k].what);
        clash = true;
      }
    for (size_t k = 0; !clash && k < i; k++)
      if (same_file(&out.items[i], &out.items[k])) {
        usage_error("%s and %s are the same file: one would overwrite the other", out.items[k].what,
                    out.items[i].what);
        clash = true;
      }
  }
  file_set_free(&in);
  file_set_free(&out);
  return clash;
}

static int
write_image(const struct build_options *o, struct cache *cache, const struct recipe *r, struct target *targets,
            size_t n, const char *output, char top_digest[DIGEST_STR_LEN], struct derror *err)
{
  const char *sbom = o->sbom ? o->sbom : r->sbom;
  struct oci_image *imgs = xcalloc(n, sizeof *imgs);
  char (*digests)[DIGEST_STR_LEN] = xcalloc(n, sizeof *digests);
  struct compressor *comp = NULL;
  struct oci_archive arc = { 0 };
  struct progress pg = { 0 };
  struct atomic_file out;
  int ret = -1;

  for (size_t i = 0; i < n; i++)
    target_image(o, r, &targets[i]);
  if (atomic_open(&out, output, err) < 0)
    goto done;
  if (oci_archive_open(&arc, out.fd, o->epoch, err) < 0)
    goto fail;
  pg.on = o->verbosity == 1;
  clock_gettime(CLOCK_MONOTONIC, &pg.start);
  for (size_t i = 0; i < n; i++)
    for (int l = 0; l < LAYER_COUNT; l++) {
      uint64_t bytes;
      if (layer_is_empty(&targets[i].plan.fs, (enum rootfs_layer) l))
        continue;
      pg.n_layers++;
      pg.total_entries += layer_size(&targets[i].plan.fs, (enum rootfs_layer) l, &bytes);
      pg.total_bytes += bytes;
    }
  comp = compressor_new(o->comp, o->jobs);
  if (comp == NULL) {
    derror_set(err, "%s: cannot start compression", compression_library(o->comp));
    goto fail;
  }
  for (size_t i = 0; i < n; i++)
    if (put_layers(o, cache, &targets[i], comp, &arc, out.fd, &pg, err) < 0)
      goto fail;
  if (compressor_drain(comp) < 0) {
    if (err->msg == NULL)
      derror_set(err, "%s: compression failed", compression_library(o->comp));
    goto fail;
  }
  for (size_t i = 0; o->verbosity >= 2 && i < n; i++)
    for (size_t k = 0; k < targets[i].img.n_layers; k++)
      printf("layer %zu%s%s: %zu entries, %llu bytes, %s%s\n", k + 1, n > 1 ? " of linux/" : "",
             n > 1 ? targets[i].img.arch : "", targets[i].layers[k].n_entries,
             (unsigned long long) targets[i].layers[k].size, targets[i].layers[k].digest,
             targets[i].pend[k].from_cache ? " (from the cache)" : "");
  progress_end(&pg);
  for (size_t i = 0; i < n; i++)
    imgs[i] = targets[i].img;
  if (oci_archive_close(&arc, imgs, n, digests, top_digest, err) < 0)
    goto fail;
  for (size_t i = 0; i < n; i++) {
    memcpy(targets[i].manifest_digest, digests[i], DIGEST_STR_LEN);
    if (self_check(out.fd, &targets[i].img, digests[i], &targets[i].rec, err) < 0) {
      if (n > 1)
        derror_wrap(err, "linux/%s", targets[i].img.arch);
      goto fail;
    }
  }
  /* the SBOMs first: when one cannot be written, neither is the image */
  for (size_t i = 0; sbom && i < n; i++) {
    cleanup_free char *path = sbom_path(sbom, &targets[i], n);
    if (sbom_write(path, r, &targets[i].plan, digests[i], o->epoch, err) < 0)
      goto fail;
  }
  if (atomic_commit(&out, err) < 0)
    goto done;
  ret = 0;
  goto done;
fail:
  progress_end(&pg);
  derror_wrap(err, "write `%s`", output);
  compressor_free(comp);
  comp = NULL;
  oci_archive_abort(&arc);
  atomic_abort(&out);
done:
  compressor_free(comp);
  free(imgs);
  free(digests);
  return ret;
}

static void
target_free(struct target *t)
{
  for (size_t i = 0; i < LAYER_COUNT; i++)
    pending_free(&t->pend[i]);
  image_free(&t->rec.img);
  strv_free(&t->img.env);
  strv_free(&t->img.entrypoint);
  plan_free(&t->plan);
  sysroot_close(&t->root);
  free(t->platform);
  free(t->sysroot);
}

/* The images to build: the recipe's own; or, with --platform P1,P2 or the
 * recipe's platforms map, one per platform with its sysroot. */
static int
choose_targets(const struct build_options *o, const struct recipe *r, struct target **out, size_t *n,
               struct derror *err)
{
  struct strv want = { 0 };

  *n = 0;
  *out = NULL;
  if (o->platform && strchr(o->platform, ',')) {
    cleanup_free char *copy = xstrdup(o->platform);
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
      if (!strv_contains(&want, t))
        strv_push(&want, t);
  } else if (!o->platform && r->platforms.n) {
    for (size_t i = 0; i < r->platforms.n; i++)
      strv_push(&want, r->platforms.items[i].key);
  } else {
    /* one image, as the recipe and --platform say */
    *out = xcalloc(1, sizeof **out);
    (*out)[0].platform = o->platform ? xstrdup(o->platform) : NULL;
    (*out)[0].sysroot = xstrdup(o->sysroot ? o->sysroot : r->sysroot ? r->sysroot : "/");
    if (o->platform && r->platforms.n)
      for (size_t i = 0; i < r->platforms.n; i++)
        if (strcmp(r->platforms.items[i].key, o->platform) == 0) {
          free((*out)[0].sysroot);
          (*out)[0].sysroot = xstrdup(o->sysroot ? o->sysroot : r->platforms.items[i].value);
        }
    *n = 1;
    return 0;
  }
  if (o->sysroot) {
    strv_free(&want);
    return derror_set(err, "--sysroot names one sysroot; the recipe's platforms name one for each platform");
  }
  *out = xcalloc(want.n, sizeof **out);
  for (size_t i = 0; i < want.n; i++) {
    const char *arch, *variant, *sysroot = NULL;
    if (platform_parse(want.items[i], &arch, &variant) < 0) {
      derror_set(err, "--platform: \"%s\" is not a platform such as linux/amd64", want.items[i]);
      goto fail;
    }
    for (size_t k = 0; k < r->platforms.n; k++)
      if (strcmp(r->platforms.items[k].key, want.items[i]) == 0)
        sysroot = r->platforms.items[k].value;
    if (sysroot == NULL) {
      derror_set(err, "%s: %s: the recipe's platforms give no sysroot for it", r->file, want.items[i]);
      goto fail;
    }
    (*out)[i].platform = xstrdup(want.items[i]);
    (*out)[i].sysroot = xstrdup(sysroot);
    (*n)++;
  }
  strv_free(&want);
  return 0;
fail:
  for (size_t i = 0; i < *n; i++)
    target_free(&(*out)[i]);
  free(*out);
  *out = NULL;
  *n = 0;
  strv_free(&want);
  return -1;
}

/* Plan one target: its platform set on the recipe while planning. */
static int
plan_target(const struct build_options *o, struct recipe *r, struct cache *cache, struct target *t,
            struct derror *err)
{
  if (t->platform && apply_platform(r, t->platform, err) < 0)
    return -1;
  if (sysroot_open(&t->root, t->sysroot, err) < 0)
    return -1;
  if (o->context && sysroot_set_context(&t->root, o->context, err) < 0)
    return -1;
  if (plan_build(r, &t->root, cache, &t->plan, err) < 0) {
    if (t->platform && o->platform && strchr(o->platform, ','))
      derror_wrap(err, "%s", t->platform);
    return -1;
  }
  return 0;
}

static void
print_verbose_plan(const struct plan *p)
{
  for (size_t i = 0; i < p->fs.n; i++) {
    const struct rootfs_entry *e = &p->fs.items[i];
    printf("%d %04o %u:%u %10llu %s%s%s\n", (int) e->layer, (unsigned) e->mode, e->uid, e->gid,
           (unsigned long long) e->size, e->path, e->target ? " -> " : "", e->target ? e->target : "");
  }
}

/* What the programs may load with dlopen, which the closure cannot see:
 * without -v too, last, each once (the platforms of one recipe say the
 * same). */
static void
print_hints(const struct target *targets, size_t n)
{
  struct strv seen = { 0 };

  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < targets[i].plan.hints.n; k++) {
      const char *h = targets[i].plan.hints.items[k];
      if (strv_contains(&seen, h))
        continue;
      strv_push(&seen, h);
      printf("hint: %s\n", h);
    }
  strv_free(&seen);
}

/* The cache, when it can be used: an explicit --cache that cannot is an
 * error; the default one is left out, said with -v, or always when it is
 * refused as unsafe (someone else's doing). */
static int
open_cache(const struct build_options *o, struct cache *c, struct derror *err)
{
  int r = o->no_cache ? 0 : cache_open(c, o->cache_dir, err);

  if (r == 0 || o->cache_dir)
    return r < 0 ? -1 : 0;
  if (o->verbosity >= 2 || derror_is(err, DERROR_UNSAFE))
    fprintf(stderr, "distill: warning: %s; building without the cache\n", err->msg);
  derror_clear(err);
  return 0;
}

int
cmd_build(int argc, char **argv)
{
  struct build_options o;
  struct derror err = DERROR_INIT;
  struct recipe r;
  struct target *targets = NULL;
  size_t n = 0;
  struct cache cache = { 0 };
  char digest[DIGEST_STR_LEN];
  cleanup_free char *output = NULL;
  int ret = EXIT_FAIL;

  int opt = parse_options(argc, argv, &o);
  if (opt != 0)
    return opt < 0 ? EXIT_OK : opt;
  if (recipe_load(o.recipe, &r, &err) < 0)
    goto out;
  if (o.name_tag && apply_name_tag(&r, o.name_tag) < 0) {
    recipe_free(&r);
    return usage_error("-t: \"%s\" is not NAME:TAG", o.name_tag);
  }
  if (choose_targets(&o, &r, &targets, &n, &err) < 0)
    goto out;
  output = o.output ? xstrdup(o.output) : default_output(&r);
  if (outputs_clash(&o, &r, targets, n, output)) {
    ret = EXIT_USAGE;
    goto out;
  }
  if (open_cache(&o, &cache, &err) < 0)
    goto out;
  for (size_t i = 0; i < n; i++) {
    struct target *t = &targets[i];
    if (n > 1) {
      /* each platform its own: none is the recipe's */
      free(r.platform);
      r.platform = NULL;
    }
    if (plan_target(&o, &r, cache.dir ? &cache : NULL, t, &err) < 0)
      goto out;
    for (size_t k = 0; k < t->plan.warnings.n; k++)
      fprintf(stderr, "distill: warning: %s\n", t->plan.warnings.items[k]);
    if (o.verbosity >= 2)
      print_verbose_plan(&t->plan);
  }
  if (write_image(&o, cache.dir ? &cache : NULL, &r, targets, n, output, digest, &err) < 0)
    goto out;
  if (o.verbosity >= 1) {
    printf("%s: %s:%s %s (", output, r.name, r.tag, digest);
    for (size_t i = 0; i < n; i++)
      printf("%s%s%s%s", i ? ", " : "", targets[i].plan.arch, targets[i].plan.variant ? "/" : "",
             targets[i].plan.variant ? targets[i].plan.variant : "");
    printf(")\n");
  }
  for (size_t i = 0; o.verbosity >= 2 && i < n; i++) {
    const struct plan *p = &targets[i].plan;
    for (size_t k = 0; k < p->packages.n; k++)
      printf("package %s %s %s: %zu files\n", p->packages.items[k].name, p->packages.items[k].version,
             p->packages.items[k].arch, p->packages.items[k].files.n);
    if (n > 1)
      printf("manifest linux/%s: %s\n", p->arch, targets[i].manifest_digest);
  }
  if (o.verbosity >= 2 && (o.sbom || r.sbom))
    printf("sbom: %s%s\n", o.sbom ? o.sbom : r.sbom, n > 1 ? " (one per platform)" : "");
  if (o.verbosity >= 1)
    print_hints(targets, n);
  ret = EXIT_OK;
out:
  if (err.msg)
    fprintf(stderr, "distill: %s\n", err.msg);
  derror_clear(&err);
  cache_close(&cache);
  for (size_t i = 0; i < n; i++)
    target_free(&targets[i]);
  free(targets);
  recipe_free(&r);
  return ret;
}
