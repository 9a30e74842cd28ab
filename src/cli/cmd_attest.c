/* distill attest --key KEY (--sbom FILE | --provenance FILE) REF: an
 * SBOM or a provenance distill wrote, as an in-toto statement in a DSSE
 * envelope attached to the image REF names, as cosign attaches one; and
 * what build --push --sign-key does after the push: sign and attest. */
#include "config.h"
#include "cli/commands.h"

#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/file.h"
#include "build/build.h"
#include "build/provenance.h"
#include "build/sbom.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#if DISTILL_REGISTRY
#include "publish/attest.h"
#include "publish/cosign.h"
#include "publish/dsse.h"
#include "publish/keys.h"
#include "publish/ref.h"
#endif

#define SBOM_MAX (256u << 20)

static const char usage_text[] =
  "usage: distill attest --key KEY [--passphrase-file FILE] (--sbom FILE | --provenance FILE)...\n"
  "                      docker://HOST[:PORT]/REPO[:TAG]\n"
  "\n"
  "Attach attestations to the image a reference names, as cosign attaches\n"
  "them with a key: for the manifest digest the registry serves for REF, an\n"
  "in-toto v1 statement of each predicate, in a DSSE envelope signed with\n"
  "ECDSA P-256 and SHA-256, stored in REPO under the tag sha256-<hex>.att\n"
  "beside the attestations already there (the same statement signed by the\n"
  "same key is not added twice). Prints HOST/REPO:sha256-<hex>.att. No\n"
  "transparency log is written; distill verify --attestations checks them.\n"
  "\n"
  "  --key KEY            the private key (distill key generate)\n"
  "  --passphrase-file FILE  its passphrase: FILE's first line (default:\n"
  "                       $DISTILL_PASSPHRASE, else $COSIGN_PASSWORD)\n"
  "  --sbom FILE          an SPDX JSON document (distill build --sbom), as the\n"
  "                       predicate of type https://spdx.dev/Document\n"
  "  --provenance FILE    a SLSA provenance distill build --provenance wrote,\n"
  "                       as the predicate of type https://slsa.dev/provenance/v1\n"
  "  --authfile FILE      credentials (containers-auth.json or docker's\n"
  "                       config.json; as distill push reads them)\n"
  "  --cert-dir DIR       DIR/*.crt: CA certificates besides the system's;\n"
  "                       DIR/*.cert and *.key: a client certificate\n"
  "  --tls-verify=false   do not verify the registry's certificate; plain HTTP\n"
  "                       when it speaks no TLS (a registry on loopback)\n"
  "  -h, --help           show this help\n";

enum { OPT_KEY = 600, OPT_PASSPHRASE_FILE, OPT_SBOM, OPT_PROVENANCE };

struct attest_args {
  const char *key, *passphrase_file, *sbom, *provenance, *ref;
  struct registry_args reg;
};

static int
usage_error(const char *msg)
{
  fprintf(stderr, "distill: attest: %s\nTry 'distill attest --help'.\n", msg);
  return EXIT_USAGE;
}

static int
parse_args(int argc, char **argv, struct attest_args *a)
{
  static const struct option longopts[] = {
    REGISTRY_LONGOPTS,
    { "key", required_argument, NULL, OPT_KEY },
    { "passphrase-file", required_argument, NULL, OPT_PASSPHRASE_FILE },
    { "sbom", required_argument, NULL, OPT_SBOM },
    { "provenance", required_argument, NULL, OPT_PROVENANCE },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int opt, r;

  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if ((r = registry_option("attest", opt, optarg, &a->reg)) != 1) {
      if (r != 0)
        return r;
      continue;
    }
    if (opt == OPT_KEY)
      a->key = optarg;
    else if (opt == OPT_PASSPHRASE_FILE)
      a->passphrase_file = optarg;
    else if (opt == OPT_SBOM)
      a->sbom = optarg;
    else if (opt == OPT_PROVENANCE)
      a->provenance = optarg;
    else if (opt == 'h')
      return fputs(usage_text, stdout), -1;
    else
      return fputs("Try 'distill attest --help'.\n", stderr), EXIT_USAGE;
  }
  if (a->reg.from)
    return usage_error("--from is push's: attest takes no blobs from another repository");
  if (a->key == NULL)
    return usage_error("--key KEY is required");
  if (a->sbom == NULL && a->provenance == NULL)
    return usage_error("--sbom FILE or --provenance FILE is required");
  if (optind != argc - 1)
    return usage_error("one image reference is required");
  a->ref = argv[optind];
  return 0;
}

#if DISTILL_REGISTRY
/* An SPDX JSON document: an object with an spdxVersion. */
static json_t *
sbom_read(const char *path, struct derror *err)
{
  struct buf text = { 0 };
  json_error_t jerr;

  if (read_file(path, SBOM_MAX, &text, err) < 0)
    return NULL;
  json_t *j = json_loadb(text.data, text.len, JSON_REJECT_DUPLICATES, &jerr);
  buf_free(&text);
  if (!json_is_string(json_object_get(j, "spdxVersion"))) {
    json_decref(j);
    derror_set(err, "`%s`: not an SPDX JSON document (no spdxVersion)", path);
    return NULL;
  }
  return j;
}

static EVP_PKEY *
load_key(const char *path, const char *passphrase_file, struct derror *err)
{
  cleanup_free char *pass = NULL;

  return key_passphrase(passphrase_file, &pass, err) < 0 ? NULL : key_load_private(path, pass, err);
}

/* Attach `preds` to `ref`, saying what was added unless `quiet`. */
static int
attach(const struct image_ref *ref, const struct registry_args *a, EVP_PKEY *key, const struct attest_predicate *preds,
       size_t n, bool quiet, struct derror *err)
{
  struct registry_options o = { .authfile = a->authfile, .cert_dir = a->cert_dir, .insecure = a->insecure };
  struct attest_added out = { 0 };

  if (attest_attach(ref, &o, key, preds, n, &out, err) < 0)
    return -1;
  if (!quiet) {
    cleanup_free char *name = image_ref_name(ref);
    printf("%s:%s (%zu added, %zu in all)\n", name, out.tag, out.added, out.attestations);
  }
  return 0;
}

static int
attest(const struct attest_args *a)
{
  struct derror err = DERROR_INIT;
  struct image_ref ref = { 0 };
  struct attest_predicate preds[2];
  size_t n = 0;
  cleanup_pkey EVP_PKEY *key = NULL;
  int r = 0;

  if (image_ref_parse(a->ref, &ref, &err) < 0) {
    fprintf(stderr, "distill: attest: %s\n", err.msg);
    derror_clear(&err);
    return EXIT_USAGE;
  }
  if (a->sbom && (preds[n].predicate = sbom_read(a->sbom, &err)) == NULL)
    r = -1;
  else if (a->sbom)
    preds[n++].type = PREDICATE_SPDX;
  if (r == 0 && a->provenance && (preds[n].predicate = provenance_read(a->provenance, &err)) == NULL)
    r = -1;
  else if (r == 0 && a->provenance)
    preds[n++].type = PREDICATE_SLSA_V1;
  if (r == 0 && (key = load_key(a->key, a->passphrase_file, &err)) == NULL)
    r = -1;
  if (r == 0)
    r = attach(&ref, &a->reg, key, preds, n, false, &err);
  if (r < 0)
    fprintf(stderr, "distill: attest: %s\n", err.msg);
  derror_clear(&err);
  for (size_t i = 0; i < n; i++)
    json_decref(preds[i].predicate);
  image_ref_free(&ref);
  return r == 0 ? EXIT_OK : EXIT_FAIL;
}

/* The statements of a build: each image's SBOM, then the provenance. */
static size_t
build_predicates(const struct build_request *req, const struct build_result *res, json_t *provenance,
                 struct attest_predicate *preds, struct derror *err)
{
  struct sbom_image named = { res->name, res->tag };
  size_t n = 0;

  for (size_t i = 0; i < res->n_images; i++) {
    preds[n].type = PREDICATE_SPDX;
    preds[n].predicate = sbom_document(&named, &res->images[i].plan, res->images[i].manifest_digest, req->epoch, err);
    if (preds[n].predicate == NULL)
      return n;
    n++;
  }
  preds[n].type = PREDICATE_SLSA_V1;
  preds[n++].predicate = json_incref(provenance);
  return n;
}

/* The repository the build signs for: --push's, else the image's name. */
static int
signed_for(const struct build_signing *s, const struct build_result *res, struct image_ref *identity,
           struct derror *err)
{
  cleanup_free char *text = s->push ? xstrdup(s->push) : xasprintf("docker://%s:%s", res->name, res->tag);

  if (image_ref_parse(text, identity, err) < 0)
    return derror_wrap(err, "the image's name, which --sign-key signs for");
  return 0;
}

int
build_signing_load(struct build_signing *s)
{
  struct derror err = DERROR_INIT;

  if ((s->key = load_key(s->key_path, s->passphrase_file, &err)) != NULL)
    return EXIT_OK;
  fprintf(stderr, "distill: build: --sign-key: %s\n", err.msg);
  derror_clear(&err);
  return EXIT_FAIL;
}

int
build_signing_attach(void *ctx, const struct build_request *req, const struct build_result *res,
                     struct oci_extra **extras, size_t *n, struct derror *err)
{
  struct build_signing *s = ctx;
  struct image_ref identity = { 0 };
  struct attest_predicate *preds = xcalloc(res->n_images + 1, sizeof *preds);
  size_t n_preds = 0;
  int r = signed_for(s, res, &identity, err);

  *extras = xcalloc(2, sizeof **extras);
  *n = 0;
  if (r == 0 && (s->provenance = provenance_predicate(req, res, err)) == NULL)
    r = -1;
  if (r == 0 && (n_preds = build_predicates(req, res, s->provenance, preds, err)) != res->n_images + 1)
    r = -1;
  if (r == 0 && (r = cosign_sign_extra(&identity, res->digest, s->key, &(*extras)[0], err)) == 0)
    *n = 1;
  if (r == 0 && (r = attest_extra(&identity, res->digest, s->key, preds, n_preds, &(*extras)[1], err)) == 0)
    *n = 2;
  for (size_t i = 0; i < n_preds; i++)
    json_decref(preds[i].predicate);
  free(preds);
  image_ref_free(&identity);
  return r < 0 ? derror_wrap(err, "--sign-key") : 0;
}

void
build_signing_free(struct build_signing *s)
{
  EVP_PKEY_free(s->key);
  json_decref(s->provenance);
  memset(s, 0, sizeof *s);
}
#else
int
build_signing_load(struct build_signing *s)
{
  (void) s;
  return no_registry("build");
}

int
build_signing_attach(void *ctx, const struct build_request *req, const struct build_result *res,
                     struct oci_extra **extras, size_t *n, struct derror *err)
{
  (void) ctx, (void) req, (void) res, (void) extras, (void) n;
  return derror_set(err, "this distill has no registry client");
}

void
build_signing_free(struct build_signing *s)
{
  json_decref(s->provenance);
}
#endif

int
cmd_attest(int argc, char **argv)
{
  struct attest_args a = { 0 };
  int r = parse_args(argc, argv, &a);

  if (r != 0)
    return r < 0 ? EXIT_OK : r;
#if DISTILL_REGISTRY
  return attest(&a);
#else
  return no_registry("attest");
#endif
}
