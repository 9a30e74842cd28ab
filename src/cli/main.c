/* distill: the command line.  Finds the command word in the table and
 * hands over. */
#include "config.h"
#include "cli/commands.h"
#include "lib/compress.h"

#include <archive.h>
#if DISTILL_REGISTRY
#include <curl/curl.h>
#endif
#include <locale.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

static const char help_text[] =
  "usage: distill COMMAND [ARGS]\n"
  "\n"
  "Turn a compiled program into a minimal, reproducible OCI image.\n"
  "\n"
  "Commands:\n"
  "  build RECIPE     build the image a recipe describes into one tar archive\n"
  "  closure ELF...   the shared libraries the loader would load, without running anything\n"
  "  inspect IMAGE    an image's config, layers and files\n"
  "  check IMAGE      hardening checks of an image; exit 1 on a failure\n"
  "  diff A B         how two images differ; exit 0 when identical\n"
  "  export IMAGE DIR an image's merged tree into a directory, its config as a Dockerfile\n"
  "  push IMAGE REF   an image archive to a registry, byte for byte\n"
  "  sign REF         a cosign signature of a registry's image, with a key (no transparency log)\n"
  "  attest REF       an SBOM or provenance as a signed in-toto attestation of a registry's image\n"
  "  verify IMAGE     an image's cosign signatures, checked with a public key\n"
  "  key generate     an ECDSA P-256 key pair for sign and verify\n"
  "  kube IMAGE       the Kubernetes Deployment (or docker run flags) with the least the image needs\n"
  "\n"
  "Options:\n"
  "  -h, --help       show this help (COMMAND --help for a command's)\n"
  "      --version    show the version, and those of the libraries the bytes depend on\n";

static const struct command {
  const char *name;
  int (*run)(int argc, char **argv);
} commands[] = {
  { "build", cmd_build },
  { "closure", cmd_closure },
  { "inspect", cmd_inspect },
  { "check", cmd_check },
  { "diff", cmd_diff },
  { "export", cmd_export },
  { "push", cmd_push },
  { "sign", cmd_sign },
  { "attest", cmd_attest },
  { "verify", cmd_verify },
  { "key", cmd_key },
  { "kube", cmd_kube },
};

int
main(int argc, char **argv)
{
  /* Bytes, not characters: libarchive needs a UTF-8 locale to store
   * non-ASCII names in pax headers; nothing else may depend on it. */
  if (setlocale(LC_ALL, "C.UTF-8") == NULL)
    setlocale(LC_ALL, "C");

  if (argc < 2) {
    fputs(help_text, stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    fputs(help_text, stdout);
    return EXIT_OK;
  }
  if (strcmp(cmd, "--version") == 0) {
    /* The bytes of an image depend on the compressors too. */
    printf("distill %s\n%s\n%s\nzlib %s\n%s\n%s\n", DISTILL_VERSION, compression_library(COMPRESSION_GZIP),
           compression_library(COMPRESSION_ZSTD), zlibVersion(), archive_version_string(),
           OpenSSL_version(OPENSSL_VERSION));
#if DISTILL_REGISTRY
    puts(curl_version());
#endif
#if DISTILL_STATIC
    /* Those libraries are inside this binary, whatever the system has. */
    puts("linked statically, without the registry client (libcurl does not link statically)");
#endif
    return EXIT_OK;
  }
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    if (strcmp(cmd, commands[i].name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "distill: unknown command \"%s\"\nTry 'distill --help'.\n", cmd);
  return EXIT_USAGE;
}
