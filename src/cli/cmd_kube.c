/* distill kube IMAGE: the Kubernetes Deployment (or Pod, or docker run
 * flags) whose settings are the least the image needs. */
#include "cli/commands.h"
#include "image/escape.h"
#include "image/image.h"
#include "image/kube.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
  "usage: distill kube IMAGE [--name NAME] [--image REF] [--pod | --docker] [REGISTRY OPTIONS]\n"
  "\n"
  "IMAGE is an image archive or a registry's image, docker://HOST[:PORT]/REPO[:TAG].\n"
  "Print a Kubernetes Deployment (apps/v1) as YAML whose settings are the least\n"
  "the image needs, from the image's own facts: it runs as the config's user\n"
  "(runAsNonRoot, runAsUser, runAsGroup; root is refused), with a read-only\n"
  "root, an emptyDir on /tmp, on each directory its user can write and on\n"
  "each config volume, no privilege escalation, every capability dropped\n"
  "(NET_BIND_SERVICE added only for a port below 1024), the RuntimeDefault\n"
  "seccomp profile, its ports, and liveness and readiness probes from its\n"
  "health check. What a setting cannot carry is said on stderr.\n"
  "\n"
  "  --name NAME          metadata.name and the app label, a DNS-1123 label\n"
  "                       (default: from the image's name)\n"
  "  --image REF          the container's image (default: the reference, or the\n"
  "                       name the archive gives it; an archive that names none\n"
  "                       needs it)\n"
  "  --pod                a v1 Pod instead of a Deployment\n"
  "  --docker             the same settings as one docker run command line\n"
  "                       (podman run takes it too)\n"
  REGISTRY_READ_HELP
  "  -h, --help           show this help\n";

enum { OPT_NAME = 256, OPT_IMAGE, OPT_POD, OPT_DOCKER };

struct kube_args {
  const char *archive;
  struct kube_options o;
  struct registry_args reg;
  const char *platform;
  bool docker, help;
};

static int
usage_error(const char *msg)
{
  fprintf(stderr, "distill: kube: %s\nTry 'distill kube --help'.\n", msg);
  return EXIT_USAGE;
}

static int
parse_args(int argc, char **argv, struct kube_args *a)
{
  static const struct option longopts[] = {
    { "name", required_argument, NULL, OPT_NAME }, { "image", required_argument, NULL, OPT_IMAGE },
    { "pod", no_argument, NULL, OPT_POD },         { "docker", no_argument, NULL, OPT_DOCKER },
    { "help", no_argument, NULL, 'h' },            { "platform", required_argument, NULL, OPT_IMAGE_PLATFORM },
    REGISTRY_READ_LONGOPTS,                        { NULL, 0, NULL, 0 },
  };
  int opt, r;

  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if ((r = registry_option("kube", opt, optarg, &a->reg)) != 1) {
      if (r != 0)
        return r;
      continue;
    }
    if (opt == OPT_IMAGE_PLATFORM) {
      a->platform = optarg;
      continue;
    }
    if (opt == 'h') {
      fputs(usage_text, stdout);
      a->help = true;
      return 0;
    }
    if (opt == OPT_NAME)
      a->o.name = optarg;
    else if (opt == OPT_IMAGE)
      a->o.image = optarg;
    else if (opt == OPT_POD)
      a->o.pod = true;
    else if (opt == OPT_DOCKER)
      a->docker = true;
    else {
      fputs("Try 'distill kube --help'.\n", stderr);
      return EXIT_USAGE;
    }
  }
  if (optind != argc - 1)
    return usage_error("one image is required");
  a->archive = argv[optind];
  if ((r = image_source_options_check("kube", &a->reg, a->platform, (const char *const *) argv + optind, 1)) != 0)
    return r;
  if (a->o.pod && a->docker)
    return usage_error("--pod and --docker exclude each other");
  if (a->o.name && !kube_label_valid(a->o.name)) {
    cleanup_free char *shown = escape_text(a->o.name);
    cleanup_free char *msg = xasprintf("--name \"%s\": not a DNS-1123 label (lowercase letters, digits and \"-\", "
                                       "at most 63, starting and ending with a letter or digit)", shown);
    return usage_error(msg);
  }
  if (a->o.image && (*a->o.image == '\0' || strpbrk(a->o.image, " \t\n") != NULL))
    return usage_error("--image: not an image reference");
  return 0;
}

int
cmd_kube(int argc, char **argv)
{
  struct kube_args a = { 0 };
  struct image_source src = { 0 };
  struct image img = { 0 };
  struct kube_facts f = { 0 };
  struct derror err = DERROR_INIT;
  struct buf out = { 0 };
  int r = parse_args(argc, argv, &a), ret = EXIT_FAIL;

  if (r != 0 || a.help)
    return r;
  if ((r = image_source_open("kube", a.archive, &a.reg, a.platform, &src)) != 0)
    return r;
  /* a registry's image runs as its reference names it */
  if (image_source_is_ref(a.archive) && !a.o.image)
    a.o.image = a.archive + strlen("docker://");
  if (image_read(src.path, &img, &err) < 0) {
    /* the reader's messages name the image's paths as they are */
    cleanup_free char *msg = image_source_message(&src, err.msg);
    fprintf(stderr, "distill: %s\n", msg);
    derror_clear(&err);
    goto out;
  }
  if (kube_facts(src.path, &img, &a.o, &f, &err) < 0) {
    derror_wrap(&err, "kube: %s", a.archive); /* escaped once, when said */
    goto out;
  }
  for (size_t i = 0; i < f.warnings.n; i++)
    fprintf(stderr, "distill: kube: warning: %s\n", f.warnings.items[i]);
  if (a.docker) {
    kube_docker(&f, &out);
  } else {
    json_t *doc = kube_document(&f, a.o.pod);
    kube_yaml(doc, &out);
    json_decref(doc);
  }
  if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
    derror_errno(&err, errno, "kube: writing to stdout");
    goto out;
  }
  ret = EXIT_OK;
out:
  if (err.msg) {
    cleanup_free char *msg = escape_text(err.msg);
    fprintf(stderr, "distill: %s\n", msg);
  }
  derror_clear(&err);
  buf_free(&out);
  kube_facts_free(&f);
  image_free(&img);
  image_source_close(&src);
  return ret;
}
