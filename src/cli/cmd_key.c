/* distill key generate: an ECDSA P-256 key pair for distill sign. */
#include "config.h"
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#if DISTILL_REGISTRY
#include "lib/alloc.h"
#include "publish/keys.h"
#endif

static const char usage_text[] =
  "usage: distill key generate [--output-key-prefix PREFIX] [--passphrase-file FILE | --no-passphrase]\n"
  "\n"
  "Make an ECDSA P-256 key pair for distill sign: PREFIX.key, the private key\n"
  "(PKCS#8 PEM, mode 0600, encrypted with the passphrase) and PREFIX.pub, the\n"
  "public key (SubjectPublicKeyInfo PEM, as cosign verify --key takes it).\n"
  "Existing files are not written over. The passphrase is the first line of\n"
  "--passphrase-file, else $DISTILL_PASSPHRASE, else $COSIGN_PASSWORD; without\n"
  "any the key is written unencrypted only when --no-passphrase says so.\n"
  "\n"
  "  --output-key-prefix PREFIX  the files' names without .key and .pub\n"
  "                              (default: distill; PREFIX may also be given\n"
  "                              as the one argument)\n"
  "  --passphrase-file FILE      the passphrase: FILE's first line\n"
  "  --no-passphrase             write the private key unencrypted\n"
  "  -h, --help                  show this help\n";

enum { OPT_PREFIX = 600, OPT_PASSPHRASE_FILE, OPT_NO_PASSPHRASE };

struct key_args {
  const char *prefix, *passphrase_file;
  bool no_passphrase;
};

static int
usage_error(const char *msg)
{
  fprintf(stderr, "distill: key: %s\nTry 'distill key --help'.\n", msg);
  return EXIT_USAGE;
}

static int
parse_args(int argc, char **argv, struct key_args *a)
{
  static const struct option longopts[] = {
    { "output-key-prefix", required_argument, NULL, OPT_PREFIX },
    { "passphrase-file", required_argument, NULL, OPT_PASSPHRASE_FILE },
    { "no-passphrase", no_argument, NULL, OPT_NO_PASSPHRASE },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int opt;

  memset(a, 0, sizeof *a);
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (opt == OPT_PREFIX)
      a->prefix = optarg;
    else if (opt == OPT_PASSPHRASE_FILE)
      a->passphrase_file = optarg;
    else if (opt == OPT_NO_PASSPHRASE)
      a->no_passphrase = true;
    else if (opt == 'h')
      return fputs(usage_text, stdout), -1;
    else
      return fputs("Try 'distill key --help'.\n", stderr), EXIT_USAGE;
  }
  if (optind >= argc || strcmp(argv[optind], "generate") != 0)
    return usage_error("the one subcommand is generate");
  if (argc - optind > 2 || (argc - optind == 2 && a->prefix))
    return usage_error("one prefix: --output-key-prefix PREFIX or PREFIX");
  if (argc - optind == 2)
    a->prefix = argv[optind + 1];
  if (a->prefix == NULL)
    a->prefix = "distill";
  if (a->prefix[0] == '\0')
    return usage_error("an empty prefix");
  if (a->no_passphrase && a->passphrase_file)
    return usage_error("--no-passphrase and --passphrase-file contradict each other");
  return 0;
}

#if DISTILL_REGISTRY
static int
generate(const struct key_args *a)
{
  struct derror err = DERROR_INIT;
  cleanup_free char *pass = NULL;

  if (!a->no_passphrase && key_passphrase(a->passphrase_file, &pass, &err) < 0)
    goto fail;
  if (!a->no_passphrase && pass == NULL)
    return usage_error("no passphrase: give --passphrase-file FILE or $DISTILL_PASSPHRASE, or --no-passphrase "
                       "for an unencrypted key");
  if (pass && pass[0] == '\0')
    return usage_error("an empty passphrase: use --no-passphrase for an unencrypted key");
  if (key_generate(a->prefix, pass, &err) < 0)
    goto fail;
  printf("%s.key\n%s.pub\n", a->prefix, a->prefix);
  return EXIT_OK;
fail:
  fprintf(stderr, "distill: key: %s\n", err.msg);
  derror_clear(&err);
  return EXIT_FAIL;
}
#endif

int
cmd_key(int argc, char **argv)
{
  struct key_args a;
  int r = parse_args(argc, argv, &a);

  if (r != 0)
    return r < 0 ? EXIT_OK : r;
#if DISTILL_REGISTRY
  return generate(&a);
#else
  return no_registry("key");
#endif
}
