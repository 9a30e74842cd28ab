/* distill sign --key KEY REF: a cosign signature of the image REF names,
 * stored beside it in its registry as cosign stores one. */
#include "config.h"
#include "cli/commands.h"

#include "lib/alloc.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#if DISTILL_REGISTRY
#include "publish/cosign.h"
#include "publish/keys.h"
#include "publish/ref.h"
#endif

static const char usage_text[] =
  "usage: distill sign --key KEY [--passphrase-file FILE] [-a KEY=VALUE]... docker://HOST[:PORT]/REPO[:TAG]\n"
  "\n"
  "Sign the image a reference names, as cosign signs with a key: the manifest\n"
  "digest the registry serves for REF, in a simple signing payload signed with\n"
  "ECDSA P-256 and SHA-256, stored in REPO under the tag sha256-<hex>.sig\n"
  "beside the signatures already there. Prints HOST/REPO:sha256-<hex>.sig.\n"
  "Nothing is written to a transparency log (Rekor) and no certificate is\n"
  "made: the signature is checked with the public key alone (distill verify,\n"
  "cosign verify --key KEY.pub --insecure-ignore-tlog).\n"
  "\n"
  "  --key KEY            the private key (distill key generate)\n"
  "  --passphrase-file FILE  its passphrase: FILE's first line (default:\n"
  "                       $DISTILL_PASSPHRASE)\n"
  "  -a, --annotation KEY=VALUE  a claim in the payload's \"optional\" part\n"
  "  --authfile FILE      credentials (containers-auth.json or docker's\n"
  "                       config.json; as distill push reads them)\n"
  "  --cert-dir DIR       DIR/*.crt: CA certificates besides the system's;\n"
  "                       DIR/*.cert and *.key: a client certificate\n"
  "  --tls-verify=false   do not verify the registry's certificate; plain HTTP\n"
  "                       when it speaks no TLS (a registry on loopback)\n"
  "  -h, --help           show this help\n";

enum { OPT_KEY = 600, OPT_PASSPHRASE_FILE };

struct sign_args {
  const char *key, *passphrase_file, *ref;
  struct strv annotations;
  struct registry_args reg;
};

static int
usage_error(const char *msg)
{
  fprintf(stderr, "distill: sign: %s\nTry 'distill sign --help'.\n", msg);
  return EXIT_USAGE;
}

static int
parse_args(int argc, char **argv, struct sign_args *a)
{
  static const struct option longopts[] = {
    REGISTRY_LONGOPTS,
    { "key", required_argument, NULL, OPT_KEY },
    { "passphrase-file", required_argument, NULL, OPT_PASSPHRASE_FILE },
    { "annotation", required_argument, NULL, 'a' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int opt, r;

  optind = 1;
  while ((opt = getopt_long(argc, argv, "a:h", longopts, NULL)) != -1) {
    if ((r = registry_option("sign", opt, optarg, &a->reg)) != 1) {
      if (r != 0)
        return r;
      continue;
    }
    if (opt == OPT_KEY)
      a->key = optarg;
    else if (opt == OPT_PASSPHRASE_FILE)
      a->passphrase_file = optarg;
    else if (opt == 'a' && (strchr(optarg, '=') == NULL || optarg[0] == '='))
      return usage_error("-a takes KEY=VALUE");
    else if (opt == 'a')
      strv_push(&a->annotations, optarg);
    else if (opt == 'h')
      return fputs(usage_text, stdout), -1;
    else
      return fputs("Try 'distill sign --help'.\n", stderr), EXIT_USAGE;
  }
  if (a->reg.from)
    return usage_error("--from is push's: sign takes no blobs from another repository");
  if (a->key == NULL)
    return usage_error("--key KEY is required");
  if (optind != argc - 1)
    return usage_error("one image reference is required");
  a->ref = argv[optind];
  return 0;
}

#if DISTILL_REGISTRY
static int
sign(const struct sign_args *a)
{
  struct derror err = DERROR_INIT;
  struct image_ref ref = { 0 };
  struct cosign_signed out = { 0 };
  struct registry_options o = { .authfile = a->reg.authfile, .cert_dir = a->reg.cert_dir, .insecure = a->reg.insecure };
  cleanup_free char *pass = NULL;
  cleanup_pkey EVP_PKEY *key = NULL;

  if (image_ref_parse(a->ref, &ref, &err) < 0) {
    fprintf(stderr, "distill: sign: %s\n", err.msg);
    derror_clear(&err);
    return EXIT_USAGE;
  }
  int r = key_passphrase(a->passphrase_file, &pass, &err);
  if (r == 0 && (key = key_load_private(a->key, pass, &err)) == NULL)
    r = -1;
  if (r == 0)
    r = cosign_sign(&ref, &o, key, &a->annotations, &out, &err);
  if (r == 0) {
    cleanup_free char *name = image_ref_name(&ref);
    printf("%s:%s\n", name, out.tag);
  } else {
    fprintf(stderr, "distill: sign: %s\n", err.msg);
    derror_clear(&err);
  }
  image_ref_free(&ref);
  return r == 0 ? EXIT_OK : EXIT_FAIL;
}
#endif

int
cmd_sign(int argc, char **argv)
{
  struct sign_args a = { 0 };
  int r = parse_args(argc, argv, &a);

  if (r == 0) {
#if DISTILL_REGISTRY
    r = sign(&a);
#else
    r = no_registry("sign");
#endif
  }
  strv_free(&a.annotations);
  return r < 0 ? EXIT_OK : r;
}
