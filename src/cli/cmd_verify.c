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
#include "publish/attest.h"
#include "publish/cosign.h"
#include "publish/keys.h"
#include "publish/ref.h"

#include <jansson.h>
#endif

static const char usage_text[] =
  "usage: distill verify --key PUB [--attestations] [--json]\n"
  "                      (docker://HOST[:PORT]/REPO[:TAG] | IMAGE.tar)\n"
  "\n"
  "Check the cosign signatures of the image a reference names with a public\n"
  "key: the signature manifest sha256-<hex>.sig of the digest the registry\n"
  "serves for REF, each of its payloads against its digest, its signature\n"
  "(ECDSA P-256, SHA-256) against PUB, and its claims: cosign's type, this\n"
  "manifest digest, this repository. Of an archive (build --sign-key), the\n"
  "same offline, from the signature manifest its OCI layout carries, but\n"
  "for the repository (distill push checks it before publishing them).\n"
  "Exit 0 when at least one signature by the key verifies, as cosign\n"
  "decides, and no signature by the key names another image or repository\n"
  "(a signature moved from elsewhere); 1 otherwise. Signatures of other\n"
  "keys are listed, not counted against. No transparency log is read.\n"
  "With --attestations, the envelopes of sha256-<hex>.att too: each layer's\n"
  "bytes, a DSSE signature over the PAE by PUB, payloadType in-toto, the\n"
  "statement's _type (in-toto v1), its subject (this manifest digest) and\n"
  "its predicateType (SPDX or SLSA provenance v1). Exit 0 then only when\n"
  "the signatures pass, at least one SPDX and one SLSA provenance attestation\n"
  "by the key verify, and no attestation by the key names another image.\n"
  "\n"
  "  --key PUB            the public key (SubjectPublicKeyInfo PEM: distill\n"
  "                       key generate's PREFIX.pub, or cosign's cosign.pub)\n"
  "  --attestations       check the attestations too (see above)\n"
  "  --json               the report as JSON on stdout\n"
  "  --authfile FILE      credentials (containers-auth.json or docker's\n"
  "                       config.json; as distill push reads them)\n"
  "  --cert-dir DIR       DIR/*.crt: CA certificates besides the system's;\n"
  "                       DIR/*.cert and *.key: a client certificate\n"
  "  --tls-verify=false   do not verify the registry's certificate; plain HTTP\n"
  "                       when it speaks no TLS (a registry on loopback)\n"
  "  -h, --help           show this help\n";

enum { OPT_KEY = 600, OPT_JSON, OPT_ATTESTATIONS };

struct verify_args {
  const char *key, *ref;
  bool json, attestations;
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
    { "attestations", no_argument, NULL, OPT_ATTESTATIONS },
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
    else if (opt == OPT_ATTESTATIONS)
      a->attestations = true;
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
    return usage_error("one image reference or archive is required");
  a->ref = argv[optind];
  if (a->reg.given && strncmp(a->ref, "docker://", 9) != 0)
    return usage_error("--authfile, --cert-dir and --tls-verify are for a docker:// reference, not an archive");
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

/* The attestations' verdict: at least one verified SPDX and one SLSA
 * provenance attestation by the key, none by the key about another image. */
static bool
attestations_passed(const struct attest_verified *t)
{
  return t->sbom > 0 && t->provenance > 0 && t->false_claims == 0;
}

static json_t *
attestations_json(const struct attest_verified *t)
{
  json_t *list = json_array();
  for (size_t i = 0; i < t->n; i++)
    json_array_append_new(list, json_pack("{s:s, s:s?, s:s, s:s?}", "layer", t->checks[i].layer, "predicate_type",
                                          t->checks[i].predicate_type, "status",
                                          cosign_status_name(t->checks[i].status), "reason", t->checks[i].reason));
  return json_pack("{s:s, s:b, s:o, s:I, s:I, s:b}", "tag", t->tag, "found", t->found, "envelopes", list, "sbom",
                   (json_int_t) t->sbom, "provenance", (json_int_t) t->provenance, "verified",
                   attestations_passed(t));
}

/* Each envelope's verdict, and why the attestations failed. */
static void
print_attestations(const struct verify_args *a, const char *name, const struct attest_verified *t)
{
  bool ok = attestations_passed(t);
  FILE *out = ok ? stdout : stderr;

  for (size_t i = 0; i < t->n; i++)
    fprintf(out, "%s%s: %s %s%s%s\n", ok ? "" : "distill: verify: ", t->checks[i].layer,
            t->checks[i].predicate_type ? t->checks[i].predicate_type : "(no predicate type)",
            cosign_status_name(t->checks[i].status), t->checks[i].reason ? ": " : "",
            t->checks[i].reason ? t->checks[i].reason : "");
  if (ok)
    printf("%s@%s: %zu SBOM and %zu provenance attestations verified with `%s`\n", name, t->digest, t->sbom,
           t->provenance, a->key);
  else if (!t->found)
    fprintf(stderr, "distill: verify: %s@%s: no attestations: no attestation manifest %s\n", name, t->digest,
            t->tag);
  else if (t->false_claims)
    fprintf(stderr, "distill: verify: %s@%s: an attestation by `%s` is about another image: refused\n", name,
            t->digest, a->key);
  else
    fprintf(stderr, "distill: verify: %s@%s: %s attestation verifies with `%s`\n", name, t->digest,
            t->sbom ? "no SLSA provenance" : "no SBOM (SPDX)", a->key);
}

static void
print_json(const struct verify_args *a, const char *name, const struct cosign_verified *v,
           const struct attest_verified *t)
{
  cleanup_json json_t *sigs = json_array();
  for (size_t i = 0; i < v->n; i++)
    json_array_append_new(sigs, json_pack("{s:s, s:s, s:s?}", "layer", v->checks[i].layer, "status",
                                          cosign_status_name(v->checks[i].status), "reason", v->checks[i].reason));
  cleanup_json json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:O, s:I, s:b}", "reference", a->ref,
                                     "repository", name, "digest", v->digest, "signature_tag", v->tag, "key", a->key,
                                     "found", v->found, "signatures", sigs, "verified_count", (json_int_t) v->verified,
                                     "verified", passed(v) && (!a->attestations || attestations_passed(t)));
  if (a->attestations)
    json_object_set_new(j, "attestations", attestations_json(t));
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
    fprintf(stderr, "distill: verify: %s@%s: not signed: no signature manifest %s\n", name, v->digest, v->tag);
  else if (v->false_claims)
    fprintf(stderr, "distill: verify: %s@%s: a signature by `%s` names another image: refused\n", name, v->digest,
            a->key);
  else
    fprintf(stderr, "distill: verify: %s@%s: no signature verifies with `%s`\n", name, v->digest, a->key);
}

/* The checks, from the registry or the archive: -1 with `err` when they
 * could not be made; `name` gets what the messages call the image. */
static int
check(const struct verify_args *a, EVP_PKEY *key, struct cosign_verified *v, struct attest_verified *t, char **name,
      struct derror *err)
{
  struct registry_options o = { .authfile = a->reg.authfile, .cert_dir = a->reg.cert_dir, .insecure = a->reg.insecure,
                                .pull_only = true };
  struct image_ref ref = { 0 };
  int r;

  if (strncmp(a->ref, "docker://", 9) != 0) {
    *name = xstrdup(a->ref);
    r = cosign_verify_archive(a->ref, key, v, err);
    return r == 0 && a->attestations ? attest_verify_archive(a->ref, key, t, err) : r;
  }
  if (image_ref_parse(a->ref, &ref, err) < 0)
    return -1;
  *name = image_ref_name(&ref);
  r = cosign_verify(&ref, &o, key, v, err);
  if (r == 0 && a->attestations)
    r = attest_verify(&ref, &o, key, t, err);
  image_ref_free(&ref);
  return r;
}

static int
verify(const struct verify_args *a)
{
  struct derror err = DERROR_INIT;
  struct cosign_verified v = { 0 };
  struct attest_verified t = { 0 };
  cleanup_free char *name = NULL;
  cleanup_pkey EVP_PKEY *key = NULL;

  int r = (key = key_load_public(a->key, &err)) ? check(a, key, &v, &t, &name, &err) : -1;
  if (r == 0) {
    bool ok = passed(&v) && (!a->attestations || attestations_passed(&t));
    if (a->json)
      print_json(a, name, &v, &t);
    if (!a->json || !ok)
      print_text(a, name, &v);
    if (a->attestations && (!a->json || !ok))
      print_attestations(a, name, &t);
    r = ok ? 0 : -1;
  } else {
    fprintf(stderr, "distill: verify: %s\n", err.msg);
    derror_clear(&err);
  }
  cosign_verified_free(&v);
  attest_verified_free(&t);
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
