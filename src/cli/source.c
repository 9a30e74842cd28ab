/* The images inspect, check and diff read: archives, or docker://
 * references fetched into a temporary archive first; and the arguments
 * of inspect and check. */
#include "config.h"
#include "cli/commands.h"
#include "image/escape.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#if DISTILL_REGISTRY
#include "publish/fetch.h"
#endif

bool
image_source_is_ref(const char *arg)
{
  return strncmp(arg, "docker://", 9) == 0;
}

#if DISTILL_REGISTRY
static int
fetch_source(const char *cmd, const struct registry_args *reg, const char *platform, struct image_source *s)
{
  struct derror err = DERROR_INIT;
  struct registry_options o = { .authfile = reg->authfile, .cert_dir = reg->cert_dir, .insecure = reg->insecure };

  s->tmp = fetch_temporary(s->arg, &o, platform, s->manifest, &err);
  if (s->tmp == NULL) {
    cleanup_free char *msg = escape_text(err.msg);
    fprintf(stderr, "distill: %s: %s\n", cmd, msg);
    derror_clear(&err);
    return EXIT_FAIL;
  }
  s->path = s->tmp;
  return 0;
}
#else
static int
fetch_source(const char *cmd, const struct registry_args *reg, const char *platform, struct image_source *s)
{
  (void) reg, (void) platform;
  fprintf(stderr, "distill: %s: %s: this distill was built without the registry client (a static build: libcurl "
                  "does not link statically), so it reads archives only; use a distill built with its shared "
                  "libraries\n", cmd, s->arg);
  return EXIT_FAIL;
}
#endif

int
image_source_open(const char *cmd, const char *arg, const struct registry_args *reg, const char *platform,
                  struct image_source *s)
{
  memset(s, 0, sizeof *s);
  s->arg = s->path = arg;
  if (!image_source_is_ref(arg))
    return 0;
  return fetch_source(cmd, reg, platform, s);
}

void
image_source_close(struct image_source *s)
{
#if DISTILL_REGISTRY
  fetch_remove(s->tmp);
#endif
  s->tmp = NULL;
}

char *
image_source_message(const struct image_source *s, const char *msg)
{
  struct buf out = { 0 };
  const char *p = msg, *at;
  size_t n = s->tmp ? strlen(s->tmp) : 0;

  while (n && (at = strstr(p, s->tmp)) != NULL) {
    buf_append(&out, p, (size_t) (at - p));
    buf_append(&out, s->arg, strlen(s->arg));
    p = at + n;
  }
  buf_append(&out, p, strlen(p) + 1);
  char *safe = escape_text(out.data);
  buf_free(&out);
  return safe;
}

int
image_source_options_check(const char *cmd, const struct registry_args *reg, const char *platform,
                           const char *const *args, int n)
{
  for (int i = 0; i < n; i++)
    if (image_source_is_ref(args[i]))
      return 0;
  if (!reg->given && platform == NULL)
    return 0;
  fprintf(stderr, "distill: %s: --authfile, --cert-dir, --tls-verify and --platform are for a docker:// "
                  "reference\nTry 'distill %s --help'.\n", cmd, cmd);
  return EXIT_USAGE;
}

enum { OPT_JSON = 256, OPT_ALLOW, OPT_PACKAGES };

/* One option of inspect and check: 0 taken, 1 not theirs, or an exit
 * status. */
static int
image_option(const char *cmd, int opt, const char *arg, struct image_args *a)
{
  int r = registry_option(cmd, opt, arg, &a->reg);

  if (r != 1)
    return r;
  if (opt == OPT_IMAGE_PLATFORM)
    a->platform = arg;
  else if (opt == OPT_JSON)
    a->json = true;
  else if (opt == OPT_PACKAGES && a->packages)
    *a->packages = true;
  else if (opt == OPT_ALLOW && a->on_allow)
    return a->on_allow(arg, a->data);
  else
    return 1;
  return 0;
}

int
parse_image_args(int argc, char **argv, const char *usage, struct image_args *a)
{
  /* --allow last, left out where there is no taker: getopt refuses it */
  static const struct option longopts[] = {
    { "json", no_argument, NULL, OPT_JSON },
    { "help", no_argument, NULL, 'h' },
    { "platform", required_argument, NULL, OPT_IMAGE_PLATFORM },
    { "packages", no_argument, NULL, OPT_PACKAGES },
    REGISTRY_READ_LONGOPTS,
    { "allow", required_argument, NULL, OPT_ALLOW },
    { NULL, 0, NULL, 0 },
  };
  const size_t n_opts = sizeof longopts / sizeof *longopts;
  struct option no_allow[sizeof longopts / sizeof *longopts];
  int opt, r;

  memcpy(no_allow, longopts, sizeof longopts);
  no_allow[n_opts - 2] = (struct option) { NULL, 0, NULL, 0 };
  a->json = a->help = false;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", a->on_allow ? longopts : no_allow, NULL)) != -1) {
    if (opt == 'h') {
      fputs(usage, stdout);
      a->help = true;
      return 0;
    }
    if ((r = image_option(argv[0], opt, optarg, a)) == 1) {
      fprintf(stderr, "Try 'distill %s --help'.\n", argv[0]);
      return EXIT_USAGE;
    }
    if (r != 0)
      return r;
  }
  if (optind != argc - 1) {
    fprintf(stderr, "distill: %s: one image (an archive or a docker:// reference) is required\nTry 'distill %s "
                    "--help'.\n", argv[0], argv[0]);
    return EXIT_USAGE;
  }
  a->image = argv[optind];
  return image_source_options_check(argv[0], &a->reg, a->platform, (const char *const *) &a->image, 1);
}
