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

/* IMAGE.tar [--json], for inspect and check: 0 to go on, -1 after --help,
 * else an exit status. */
int parse_image_args(int argc, char **argv, const char *usage, const char **image, bool *json);

#endif
