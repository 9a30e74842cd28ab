/* The schema of a recipe (DESIGN.md section 1): for each mapping, its keys
 * as an enum, and in keys.c a table of their names indexed by it.  The
 * tables cannot drift from the code that reads them: a name put in a table
 * needs its enumerator to compile; an enumerator without a case in its
 * handler's switch is a -Wswitch error (the switches have no default, and
 * -Wswitch-enum would name it if one had); an enumerator left out of its
 * table is a NULL name, which test_recipe refuses.  The order of an enum
 * is the order of its table, which is the order in which missing required
 * keys are reported and decides the near key suggested on a tie. */
#ifndef DISTILL_RECIPE_KEYS_H
#define DISTILL_RECIPE_KEYS_H

#include <stdbool.h>

struct recipe_key {
  const char *name;
  bool required; /* refused as "missing required key" when absent */
};

/* The number of entries of a key table, for parse_mapping(). */
#define KEYS(table) (table), sizeof(table) / sizeof *(table)

enum top_key {
  TOP_NAME,
  TOP_TAG,
  TOP_SYSROOT,
  TOP_CONTENTS,
  TOP_CA_CERTIFICATES,
  TOP_TZDATA,
  TOP_ACCOUNTS,
  TOP_PATHS,
  TOP_ENTRYPOINT,
  TOP_CMD,
  TOP_ENVIRONMENT,
  TOP_WORK_DIR,
  TOP_PORTS,
  TOP_VOLUMES,
  TOP_LABELS,
  TOP_ANNOTATIONS,
  TOP_STOP_SIGNAL,
  TOP_PLATFORM,
  TOP_PLATFORMS,
  TOP_SBOM,
  TOP_HEALTHCHECK,
  TOP_CHECKS,
  TOP_LAYERS,
  TOP_FROM_RECIPE,
};
extern const struct recipe_key top_keys[TOP_FROM_RECIPE + 1];

enum contents_key {
  CONTENTS_BINARIES,
  CONTENTS_LIBRARIES,
  CONTENTS_FILES,
  CONTENTS_DIRECTORIES,
  CONTENTS_SYMLINKS,
  CONTENTS_PACKAGES,
};
extern const struct recipe_key contents_keys[CONTENTS_PACKAGES + 1];

enum binary_key { BINARY_SOURCE, BINARY_PATH, BINARY_LAYER };
extern const struct recipe_key binary_keys[BINARY_LAYER + 1];

enum library_key { LIBRARY_SOURCE, LIBRARY_PATH, LIBRARY_LAYER };
extern const struct recipe_key library_keys[LIBRARY_LAYER + 1];

enum file_key { FILE_SOURCE, FILE_PATH, FILE_MODE, FILE_LAYER };
extern const struct recipe_key file_keys[FILE_LAYER + 1];

enum directory_key { DIRECTORY_SOURCE, DIRECTORY_PATH, DIRECTORY_EXCLUDE, DIRECTORY_LAYER };
extern const struct recipe_key directory_keys[DIRECTORY_LAYER + 1];

enum symlink_key { SYMLINK_PATH, SYMLINK_TARGET, SYMLINK_LAYER };
extern const struct recipe_key symlink_keys[SYMLINK_LAYER + 1];

enum package_key { PACKAGE_NAME, PACKAGE_EXCLUDE, PACKAGE_LAYER };
extern const struct recipe_key package_keys[PACKAGE_LAYER + 1];

enum accounts_key { ACCOUNTS_RUN_AS, ACCOUNTS_USERS, ACCOUNTS_GROUPS };
extern const struct recipe_key accounts_keys[ACCOUNTS_GROUPS + 1];

enum user_key { USER_NAME, USER_UID, USER_GID, USER_HOME };
extern const struct recipe_key user_keys[USER_HOME + 1];

enum group_key { GROUP_NAME, GROUP_GID };
extern const struct recipe_key group_keys[GROUP_GID + 1];

enum path_key { PATH_PATH, PATH_TYPE, PATH_UID, PATH_GID, PATH_MODE };
extern const struct recipe_key path_keys[PATH_MODE + 1];

enum healthcheck_key {
  HEALTH_TEST,
  HEALTH_HTTP,
  HEALTH_TCP,
  HEALTH_INTERVAL,
  HEALTH_TIMEOUT,
  HEALTH_START_PERIOD,
  HEALTH_RETRIES
};
extern const struct recipe_key healthcheck_keys[HEALTH_RETRIES + 1];

enum checks_key { CHECKS_ALLOW };
extern const struct recipe_key checks_keys[CHECKS_ALLOW + 1];

enum allow_key { ALLOW_ID, ALLOW_PATH, ALLOW_REASON };
extern const struct recipe_key allow_keys[ALLOW_REASON + 1];

#endif
