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
