/* One entry point per subcommand; each returns the process exit status:
 * 0 success, 1 the work failed, 2 wrong usage. */
#ifndef DISTILL_COMMANDS_H
#define DISTILL_COMMANDS_H

#include "lib/digest.h"

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

int cmd_attest(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_closure(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_kube(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);

/* The registry options of push, which build --push takes too; those that
 * read (inspect, check, diff) take all but --from. */
enum { OPT_AUTHFILE = 512, OPT_CERT_DIR, OPT_TLS_VERIFY, OPT_FROM };
#define REGISTRY_READ_LONGOPTS                                                                                     \
  { "authfile", required_argument, NULL, OPT_AUTHFILE }, { "cert-dir", required_argument, NULL, OPT_CERT_DIR },     \
    { "tls-verify", optional_argument, NULL, OPT_TLS_VERIFY }
#define REGISTRY_LONGOPTS REGISTRY_READ_LONGOPTS, { "from", required_argument, NULL, OPT_FROM }
struct registry_args {
  const char *authfile, *cert_dir, *from;
  bool insecure;
  bool given; /* any of them */
};
/* 0 when `c` is one of them (taken), 1 when not, or an exit status after
 * a message. */
int registry_option(const char *cmd, int c, const char *arg, struct registry_args *a);
/* The message of a command that needs the registry client, in a distill
 * built without it (a static one): EXIT_FAIL. */
int no_registry(const char *cmd);
/* 0 when `ref` is a reference push takes, else EXIT_USAGE after a message. */
int push_ref_check(const char *cmd, const char *ref);
/* Push `archive` to `ref` (with the signatures and attestations it
 * carries, unless `image_only`), printing HOST/REPO@DIGEST unless
 * `quiet`: an exit status. */
int push_run(const char *cmd, const char *archive, const char *ref, const struct registry_args *a, bool image_only,
             int verbose, bool quiet);

/* build --sign-key KEY (cmd_attest.c): the key, loaded before the build;
 * then, once the build has written the manifests (its build_attach), the
 * image's signature and the attestations of each image's SBOM and of the
 * build's provenance, as the archive's signature and attestation
 * manifests, for the repository of --push REF, else of the image's name. */
struct build_request;
struct build_result;
struct oci_extra;
struct derror;
struct build_signing {
  const char *push, *key_path, *passphrase_file;
  void *key;          /* EVP_PKEY */
  json_t *provenance; /* the build's, made for its attestation */
};
/* An exit status: EXIT_OK, or EXIT_FAIL after a message. */
int build_signing_load(struct build_signing *s);
int build_signing_attach(void *ctx, const struct build_request *req, const struct build_result *res,
                         struct oci_extra **extras, size_t *n, struct derror *err);
void build_signing_free(struct build_signing *s);

/* build --cache-from, --cache-to (build_cache.c): the --cache-from caches
 * read and `remote` set to fetch from them (nothing when there are none);
 * after the build and its push, the image's layers as entries of the
 * --cache-to cache (their blobs mounted from `push`'s repository when it
 * is on the same registry).  Exit statuses, after any message. */
struct remote_cache;
struct strv;
struct build_remote;
int build_cache_from(const struct strv *refs, const struct registry_args *a, struct remote_cache **rc,
                     struct build_remote *remote);
void build_cache_close(struct remote_cache *rc);
/* The repository of `push`'s registry the hits came from, for the push to
 * mount them; or NULL. */
const char *build_cache_mount(struct remote_cache *rc, const char *push);
int build_cache_to(const char *ref, const struct registry_args *a, const char *push, const struct build_request *req,
                   const struct build_result *res);

/* What build says as it goes (build_show.c): warnings on stderr, with -v
 * the plan and the layers, and on a terminal (stdout) the progress line;
 * at the end, with -v, the archive and its images. */
struct build_display {
  int verbosity;
  bool started, shown;
  struct timespec start, last;
};
struct build_observer build_display_observer(struct build_display *d);
void build_print_result(const struct build_result *res, int verbosity);

/* The registry options of inspect, check and diff, in their --help. */
#define REGISTRY_READ_HELP                                                                                        \
  "  --authfile FILE      credentials for a docker:// reference (as push reads\n"                                    \
  "                       them; see distill-push(1))\n"                                                           \
  "  --cert-dir DIR       DIR/*.crt: CA certificates besides the system's;\n"                                      \
  "                       DIR/*.cert and *.key: a client certificate\n"                                            \
  "  --tls-verify=false   do not verify the registry's certificate; plain HTTP\n"                                  \
  "                       when it speaks no TLS (a registry on loopback)\n"                                        \
  "  --platform P         the image of a multi-platform reference: linux/arm64, ...\n"                              \
  "                       (default: linux and this machine's architecture)\n"
enum { OPT_IMAGE_PLATFORM = OPT_FROM + 1 };

/* An image to read: an archive, or a docker://HOST[:PORT]/REPO[:TAG|@DIGEST]
 * reference fetched into a temporary archive first (fetch.h). */
struct image_source {
  const char *arg;  /* as given: what messages and reports name */
  const char *path; /* what the reader opens: `arg`, or the temporary archive */
  char *tmp;        /* the temporary archive, or NULL */
  char manifest[DIGEST_STR_LEN]; /* a reference's manifest digest */
};
bool image_source_is_ref(const char *arg);
/* 0 with `s` filled, or an exit status after a message naming `arg`. */
int image_source_open(const char *cmd, const char *arg, const struct registry_args *reg, const char *platform,
                      struct image_source *s);
/* The temporary archive removed. */
void image_source_close(struct image_source *s);
/* A reader's message made safe to print (escape_text), the temporary
 * archive's path in it replaced by the reference. */
char *image_source_message(const struct image_source *s, const char *msg);
/* EXIT_USAGE after a message when registry options or --platform are
 * given without a docker:// reference among `args`, else 0. */
int image_source_options_check(const char *cmd, const struct registry_args *reg, const char *platform,
                               const char *const *args, int n);

/* The arguments of inspect and check: IMAGE [--json], the registry
 * options, and --allow ID:PATH when `on_allow` is set (it returns 0, or an
 * exit status). */
struct image_args {
  const char *image;
  struct registry_args reg;
  const char *platform;
  bool json;
  bool *packages; /* where --packages goes; NULL: the command has none */
  bool help; /* --help: the usage is printed, the command exits 0 */
  int (*on_allow)(const char *arg, void *data);
  void *data;
};
/* 0 (`a->help` may be set), or an exit status after a message. */
int parse_image_args(int argc, char **argv, const char *usage, struct image_args *a);

#endif
