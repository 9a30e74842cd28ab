/* One entry point per subcommand; each returns the process exit status:
 * 0 success, 1 the work failed, 2 wrong usage. */
#ifndef DISTILL_COMMANDS_H
#define DISTILL_COMMANDS_H

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

int cmd_build(int argc, char **argv);
int cmd_closure(int argc, char **argv);

#endif
