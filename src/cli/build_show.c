/* What build says as it goes (the observer of its request) and at the
 * end: see struct build_display in commands.h. */
#include "config.h"
#include "cli/commands.h"

#include "lib/alloc.h"
#include "build/build.h"
#include "plan/plan.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* What the build says as it goes: warnings on stderr, with -v the plan
 * and the layers, and on a terminal (stdout) the progress line, once a
 * build has run for half a second, redrawn at most ten times a second and
 * cleared at the end. */
static double
seconds_since(const struct timespec *t)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double) (now.tv_sec - t->tv_sec) + (double) (now.tv_nsec - t->tv_nsec) / 1e9;
}

static void
show_progress(void *ctx, const struct build_progress *pg)
{
  struct build_display *d = ctx;

  if (d->verbosity != 1)
    return;
  if (!d->started) {
    clock_gettime(CLOCK_MONOTONIC, &d->start);
    d->started = true;
  }
  if (pg->done && d->shown) {
    fputs("\r\033[K", stdout);
    fflush(stdout);
    d->shown = false;
  }
  if (pg->done)
    return;
  double elapsed = seconds_since(&d->start);
  if (elapsed < 0.5 || seconds_since(&d->last) < 0.1)
    return;
  clock_gettime(CLOCK_MONOTONIC, &d->last);
  printf("\r\033[Klayer %d/%d  %zu/%zu files  %.1f/%.1f MB  %.0f MB/s", pg->layer, pg->n_layers, pg->entries,
         pg->total_entries, (double) pg->bytes / 1e6, (double) pg->total_bytes / 1e6,
         (double) pg->bytes / 1e6 / elapsed);
  fflush(stdout);
  d->shown = true;
}

static void
show_warning(void *ctx, const char *msg, bool detail)
{
  struct build_display *d = ctx;

  if (!detail || d->verbosity >= 2)
    fprintf(stderr, "distill: warning: %s\n", msg);
}

static void
show_plan(void *ctx, const struct plan *p)
{
  struct build_display *d = ctx;

  for (size_t i = 0; d->verbosity >= 2 && i < p->fs.n; i++) {
    const struct rootfs_entry *e = &p->fs.items[i];
    printf("%d %04o %u:%u %10llu %s%s%s\n", (int) e->layer, (unsigned) e->mode, e->uid, e->gid,
           (unsigned long long) e->size, e->path, e->target ? " -> " : "", e->target ? e->target : "");
  }
}

static void
show_layers(void *ctx, const struct build_result *res)
{
  struct build_display *d = ctx;
  size_t n = res->n_images;

  for (size_t i = 0; d->verbosity >= 2 && i < n; i++) {
    const struct built_image *img = &res->images[i];
    for (size_t k = 0; k < img->n_layers; k++)
      printf("layer %zu%s%s: %zu entries, %llu bytes, %s%s\n", k + 1, n > 1 ? " of linux/" : "",
             n > 1 ? img->plan.arch : "", img->layers[k].n_entries, (unsigned long long) img->layers[k].size,
             img->layers[k].digest, img->from_cache[k] ? " (from the cache)" : "");
  }
}

/* What the programs may load with dlopen, which the closure cannot see:
 * without -v too, last, each once (the platforms of one recipe say the
 * same). */
static void
print_hints(const struct build_result *res)
{
  struct strv seen = { 0 };

  for (size_t i = 0; i < res->n_images; i++)
    for (size_t k = 0; k < res->images[i].plan.hints.n; k++) {
      const char *h = res->images[i].plan.hints.items[k];
      if (strv_contains(&seen, h))
        continue;
      strv_push(&seen, h);
      printf("hint: %s\n", h);
    }
  strv_free(&seen);
}

void
build_print_result(const struct build_result *res, int verbosity)
{
  size_t n = res->n_images;

  if (verbosity >= 1) {
    printf("%s: %s:%s %s (", res->output, res->name, res->tag, res->digest);
    for (size_t i = 0; i < n; i++)
      printf("%s%s%s%s", i ? ", " : "", res->images[i].plan.arch, res->images[i].plan.variant ? "/" : "",
             res->images[i].plan.variant ? res->images[i].plan.variant : "");
    printf(")\n");
  }
  for (size_t i = 0; verbosity >= 2 && i < n; i++) {
    const struct plan *p = &res->images[i].plan;
    for (size_t k = 0; k < p->packages.n; k++)
      printf("package %s %s %s: %zu files\n", p->packages.items[k].name, p->packages.items[k].version,
             p->packages.items[k].arch, p->packages.items[k].files.n);
    if (n > 1)
      printf("manifest linux/%s: %s\n", p->arch, res->images[i].manifest_digest);
  }
  if (verbosity >= 2 && res->sbom)
    printf("sbom: %s%s\n", res->sbom, n > 1 ? " (one per platform)" : "");
  if (verbosity >= 1)
    print_hints(res);
}

struct build_observer
build_display_observer(struct build_display *d)
{
  return (struct build_observer){ .ctx = d, .warning = show_warning, .planned = show_plan,
                                  .progress = show_progress, .layers_out = show_layers };
}
