/* distill verify --key PUB REF: the cosign signatures of the image REF
 * names, checked with a public key. */
#include "config.h"
#include "cli/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#if DISTILL_REGISTRY
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "publish/cosign.h"
#include "publish/keys.h"
#include "publish/ref.h"

#include <jansson.h>
#endif

static const char usage_text[] =
  "usage: distill verify --key PUB [--json] docker://HOST[:PORT]/REPO[:TAG]\n"
  "\n"
  "Check the cosign signatures of the image a reference names with a public\n"
  "key: the signature manifest sha256-<hex>.sig of the digest the registry\n"
  "serves for REF, each of its payloads against its digest, its signature\n"
  "(ECDSA P-256, SHA-256) against PUB, and its claims: cosign's type, this\n"
  "manifest digest, this repository. Exit 0 when at least one signature by\n"
  "the key verifies, as cosign decides, and no signature by the key names\n"
  "another image or repository (a signature moved from elsewhere); 1\n"
  "otherwise. Signatures of other keys are listed, not counted against.\n"
  "No transparency log is read.\n"
  "\n"
  "  --key PUB            the public key (SubjectPublicKeyInfo PEM: distill\n"
  "                       key generate's PREFIX.pub, or cosign's cosign.pub)\n"
  "  --json               the report as JSON on stdout\n"
  "  --authfile FILE      credentials (containers-auth.json or docker's\n"
  "                       config.json; as distill push reads them)\n"
  "  --cert-dir DIR       DIR/*.crt: CA certificates besides the system's;\n"
  "                       DIR/*.cert and *.key: a client certificate\n"
  "  --tls-verify=false   do not verify the registry's certificate; plain HTTP\n"
  "                       when it speaks no TLS (a registry on loopback)\n"
  "  -h, --help           show this help\n";

enum { OPT_KEY = 600, OPT_JSON };

struct verify_args {
  const char *key, *ref;
  bool json;
  struct registry_args reg;
};

static int
usage_error(const char *msg)
{
  fprintf(stderr, "distill: verify: %s\nTry 'distill verify --help'.\n", msg);
  return EXIT_USAGE;
}

static int
parse_args(int argc, char **argv, struct verify_args *a)
{
  static const struct option longopts[] = {
    REGISTRY_LONGOPTS,
    { "key", required_argument, NULL, OPT_KEY },
    { "json", no_argument, NULL, OPT_JSON },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int opt, r;

  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if ((r = registry_option("verify", opt, optarg, &a->reg)) != 1) {
      if (r != 0)
        return r;
      continue;
    }
    if (opt == OPT_KEY)
      a->key = optarg;
    else if (opt == OPT_JSON)
      a->json = true;
    else if (opt == 'h')
      return fputs(usage_text, stdout), -1;
    else
      return fputs("Try 'distill verify --help'.\n", stderr), EXIT_USAGE;
  }
  if (a->reg.from)
    return usage_error("--from is push's: verify reads one repository");
  if (a->key == NULL)
    return usage_error("--key PUB is required");
  if (optind != argc - 1)
    return usage_error("one image reference is required");
  a->ref = argv[optind];
  return 0;
}

#if DISTILL_REGISTRY
/* The verdict: at least one of the key's signatures verified, none of the
 * key's for another image. */
static bool
passed(const struct cosign_verified *v)
{
  return v->verified > 0 && v->false_claims == 0;
}

static void
print_json(const struct verify_args *a, const char *name, const struct cosign_verified *v)
{
  cleanup_json json_t *sigs = json_array();
  for (size_t i = 0; i < v->n; i++)
    json_array_append_new(sigs, json_pack("{s:s, s:s, s:s?}", "layer", v->checks[i].layer, "status",
                                          cosign_status_name(v->checks[i].status), "reason", v->checks[i].reason));
  cleanup_json json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:O, s:I, s:b}", "reference", a->ref,
                                     "repository", name, "digest", v->digest, "signature_tag", v->tag, "key", a->key,
                                     "found", v->found, "signatures", sigs, "verified_count", (json_int_t) v->verified,
                                     "verified", passed(v));
  json_dumpf(j, stdout, JSON_INDENT(2));
  putchar('\n');
}

/* Each signature's verdict on stderr, and why the whole failed. */
static void
print_text(const struct verify_args *a, const char *name, const struct cosign_verified *v)
{
  FILE *out = passed(v) ? stdout : stderr;

  for (size_t i = 0; i < v->n; i++)
    fprintf(out, "%s%s: %s%s%s\n", passed(v) ? "" : "distill: verify: ", v->checks[i].layer,
            cosign_status_name(v->checks[i].status), v->checks[i].reason ? ": " : "",
            v->checks[i].reason ? v->checks[i].reason : "");
  if (passed(v))
    printf("%s@%s: %zu of %zu signatures verified with `%s`\n", name, v->digest, v->verified, v->n, a->key);
  else if (!v->found)
    fprintf(stderr, "distill: verify: %s@%s: not signed: the registry has no %s:%s\n", name, v->digest, name, v->tag);
  else if (v->false_claims)
    fprintf(stderr, "distill: verify: %s@%s: a signature by `%s` names another image: refused\n", name, v->digest,
            a->key);
  else
    fprintf(stderr, "distill: verify: %s@%s: no signature verifies with `%s`\n", name, v->digest, a->key);
}

static int
verify(const struct verify_args *a)
{
  struct derror err = DERROR_INIT;
  struct image_ref ref = { 0 };
  struct cosign_verified v = { 0 };
  struct registry_options o = { .authfile = a->reg.authfile, .cert_dir = a->reg.cert_dir, .insecure = a->reg.insecure,
                                .pull_only = true };
  cleanup_pkey EVP_PKEY *key = NULL;

  if (image_ref_parse(a->ref, &ref, &err) < 0) {
    fprintf(stderr, "distill: verify: %s\n", err.msg);
    derror_clear(&err);
    return EXIT_USAGE;
  }
  int r = (key = key_load_public(a->key, &err)) ? cosign_verify(&ref, &o, key, &v, &err) : -1;
  if (r == 0) {
    cleanup_free char *name = image_ref_name(&ref);
    if (a->json)
      print_json(a, name, &v);
    if (!a->json || !passed(&v))
      print_text(a, name, &v);
    r = passed(&v) ? 0 : -1;
  } else {
    fprintf(stderr, "distill: verify: %s\n", err.msg);
    derror_clear(&err);
  }
  cosign_verified_free(&v);
  image_ref_free(&ref);
  return r == 0 ? EXIT_OK : EXIT_FAIL;
}
#endif

int
cmd_verify(int argc, char **argv)
{
  struct verify_args a = { 0 };
  int r = parse_args(argc, argv, &a);

  if (r != 0)
    return r < 0 ? EXIT_OK : r;
#if DISTILL_REGISTRY
  return verify(&a);
#else
  return no_registry("verify");
#endif
}
