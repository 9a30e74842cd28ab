/* One entry point per subcommand; each returns the process exit status:
 * 0 success, 1 the work failed, 2 wrong usage. */
#ifndef DISTILL_COMMANDS_H
#define DISTILL_COMMANDS_H

#include <stdbool.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

int cmd_build(int argc, char **argv);
int cmd_closure(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);

/* The registry options of push, which build --push takes too. */
enum { OPT_AUTHFILE = 512, OPT_CERT_DIR, OPT_TLS_VERIFY, OPT_FROM };
#define REGISTRY_LONGOPTS                                                                                          \
  { "authfile", required_argument, NULL, OPT_AUTHFILE }, { "cert-dir", required_argument, NULL, OPT_CERT_DIR },     \
    { "tls-verify", optional_argument, NULL, OPT_TLS_VERIFY }, { "from", required_argument, NULL, OPT_FROM }
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
/* Push `archive` to `ref`, printing HOST/REPO@DIGEST unless `quiet`: an
 * exit status. */
int push_run(const char *cmd, const char *archive, const char *ref, const struct registry_args *a, int verbose,
             bool quiet);

/* The arguments of inspect and check: IMAGE.tar [--json], and --allow
 * ID:PATH when `on_allow` is set (it returns 0, or an exit status). */
struct image_args {
  const char *image;
  bool json;
  bool help; /* --help: the usage is printed, the command exits 0 */
  int (*on_allow)(const char *arg, void *data);
  void *data;
};
/* 0 (`a->help` may be set), or an exit status after a message. */
int parse_image_args(int argc, char **argv, const char *usage, struct image_args *a);

#endif
