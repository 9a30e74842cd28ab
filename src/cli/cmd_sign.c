/* distill sign --key KEY REF: a cosign signature of the image REF names,
 * stored beside it in its registry as cosign stores one; --gpg-key FPR:
 * containers' own signature, written into a lookaside storage. */
#include "config.h"
#include "cli/commands.h"

#include "lib/alloc.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#if DISTILL_REGISTRY
#include "publish/cosign.h"
#include "publish/gpgsign.h"
#include "publish/keys.h"
#include "publish/ref.h"
#endif

static const char usage_text[] =
  "usage: distill sign --key KEY [--passphrase-file FILE] [-a KEY=VALUE]... docker://HOST[:PORT]/REPO[:TAG]\n"
  "       distill sign --gpg-key FINGERPRINT [--lookaside DIR | --registries-d DIR]\n"
  "                    [--passphrase-file FILE] docker://HOST[:PORT]/REPO[:TAG]\n"
  "\n"
  "Sign the image a reference names, as cosign signs with a key: the manifest\n"
  "digest the registry serves for REF, in a simple signing payload signed with\n"
  "ECDSA P-256 and SHA-256, stored in REPO under the tag sha256-<hex>.sig\n"
  "beside the signatures already there. Prints HOST/REPO:sha256-<hex>.sig.\n"
  "Nothing is written to a transparency log (Rekor) and no certificate is\n"
  "made: the signature is checked with the public key alone (distill verify,\n"
  "cosign verify --key KEY.pub --insecure-ignore-tlog).\n"
  "\n"
  "With --gpg-key, a signature in containers' own format (containers-signature(5)),\n"
  "which podman, skopeo and CRI-O check with a policy's signedBy: the payload\n"
  "signed by GnuPG's key, written as LOOKASIDE/REPO@sha256=<hex>/signature-<N>\n"
  "(N the first free from 1). LOOKASIDE is --lookaside DIR, else the\n"
  "lookaside-staging (or lookaside) file:// URL registries.d configures for REF.\n"
  "Prints the file written.\n"
  "\n"
  "  --key KEY            the private key (distill key generate, or cosign\n"
  "                       generate-key-pair's cosign.key)\n"
  "  --gpg-key FINGERPRINT  the GnuPG key of $GNUPGHOME to sign with instead\n"
  "  --lookaside DIR      with --gpg-key: the lookaside storage's directory\n"
  "  --registries-d DIR   with --gpg-key: read DIR/*.yaml for it (default:\n"
  "                       ~/.config/containers/registries.d if it exists, else\n"
  "                       /etc/containers/registries.d)\n"
  "  --passphrase-file FILE  the key's passphrase: FILE's first line (default:\n"
  "                       $DISTILL_PASSPHRASE, else $COSIGN_PASSWORD for\n"
  "                       --key; gpg-agent asks for\n"
  "                       --gpg-key)\n"
  "  -a, --annotation KEY=VALUE  a claim in the payload's \"optional\" part\n"
  "  --authfile FILE      credentials (containers-auth.json or docker's\n"
  "                       config.json; as distill push reads them)\n"
  "  --cert-dir DIR       DIR/*.crt: CA certificates besides the system's;\n"
  "                       DIR/*.cert and *.key: a client certificate\n"
  "  --tls-verify=false   do not verify the registry's certificate; plain HTTP\n"
  "                       when it speaks no TLS (a registry on loopback)\n"
  "  -h, --help           show this help\n";

enum { OPT_KEY = 600, OPT_PASSPHRASE_FILE, OPT_GPG_KEY, OPT_LOOKASIDE, OPT_REGISTRIES_D };

struct sign_args {
  const char *key, *passphrase_file, *ref;
  const char *gpg_key, *lookaside, *registries_d;
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
    { "gpg-key", required_argument, NULL, OPT_GPG_KEY },
    { "lookaside", required_argument, NULL, OPT_LOOKASIDE },
    { "registries-d", required_argument, NULL, OPT_REGISTRIES_D },
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
    else if (opt == OPT_GPG_KEY)
      a->gpg_key = optarg;
    else if (opt == OPT_LOOKASIDE)
      a->lookaside = optarg;
    else if (opt == OPT_REGISTRIES_D)
      a->registries_d = optarg;
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
  if ((a->key == NULL) == (a->gpg_key == NULL))
    return usage_error("one of --key KEY and --gpg-key FINGERPRINT is required");
  if (a->key && (a->lookaside || a->registries_d))
    return usage_error("--lookaside and --registries-d are for --gpg-key: cosign's signatures go to the registry");
  if (a->gpg_key && a->annotations.n)
    return usage_error("-a is for --key: containers' signatures carry no claims of their own");
  if (a->lookaside && a->registries_d)
    return usage_error("--lookaside DIR or --registries-d DIR, not both");
  if (optind != argc - 1)
    return usage_error("one image reference is required");
  a->ref = argv[optind];
  return 0;
}

#if DISTILL_REGISTRY
static int
sign_gpg(const struct sign_args *a, const struct image_ref *ref, const struct registry_options *o)
{
  struct derror err = DERROR_INIT;
  struct gpgsign_result out = { 0 };
  cleanup_free char *pass = NULL;
  struct gpgsign_request req = {
    .key = a->gpg_key, .lookaside = a->lookaside, .registries_d = a->registries_d, .creator = "distill " DISTILL_VERSION,
  };
  /* Only a file given here: gpg-agent has its own way to ask. */
  int r = a->passphrase_file ? key_passphrase(a->passphrase_file, &pass, &err) : 0;

  req.passphrase = pass;
  if (r == 0)
    r = gpgsign_image(ref, o, &req, &out, &err);
  if (r == 0) {
    printf("%s\n", out.path);
  } else {
    fprintf(stderr, "distill: sign: %s\n", err.msg);
    derror_clear(&err);
  }
  gpgsign_result_free(&out);
  return r == 0 ? EXIT_OK : EXIT_FAIL;
}

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
  if (a->gpg_key) {
    int status = sign_gpg(a, &ref, &o);
    image_ref_free(&ref);
    return status;
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
