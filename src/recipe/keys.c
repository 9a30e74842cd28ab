/* The key tables of the recipe, each indexed by its enum (keys.h).  An
 * unknown key is refused with the nearest of its table; tests/integration/
 * docs.py reads these tables and holds man/distill-recipe.5 to them. */
#include "recipe/keys.h"

#include <stdbool.h>

const struct recipe_key top_keys[TOP_FROM_RECIPE + 1] = {
  [TOP_NAME] = { "name", true },
  [TOP_TAG] = { "tag", false },
  [TOP_SYSROOT] = { "sysroot", false },
  [TOP_CONTENTS] = { "contents", false },
  [TOP_CA_CERTIFICATES] = { "ca-certificates", false },
  [TOP_TZDATA] = { "tzdata", false },
  [TOP_ACCOUNTS] = { "accounts", false },
  [TOP_PATHS] = { "paths", false },
  [TOP_ENTRYPOINT] = { "entrypoint", false },
  [TOP_CMD] = { "cmd", false },
  [TOP_ENVIRONMENT] = { "environment", false },
  [TOP_WORK_DIR] = { "work-dir", false },
  [TOP_PORTS] = { "ports", false },
  [TOP_VOLUMES] = { "volumes", false },
  [TOP_LABELS] = { "labels", false },
  [TOP_ANNOTATIONS] = { "annotations", false },
  [TOP_STOP_SIGNAL] = { "stop-signal", false },
  [TOP_PLATFORM] = { "platform", false },
  [TOP_PLATFORMS] = { "platforms", false },
  [TOP_SBOM] = { "sbom", false },
  [TOP_HEALTHCHECK] = { "healthcheck", false },
  [TOP_CHECKS] = { "checks", false },
  [TOP_LAYERS] = { "layers", false },
  [TOP_FROM_RECIPE] = { "from-recipe", false },
};

const struct recipe_key contents_keys[CONTENTS_PACKAGES + 1] = {
  [CONTENTS_BINARIES] = { "binaries", false },
  [CONTENTS_LIBRARIES] = { "libraries", false },
  [CONTENTS_FILES] = { "files", false },
  [CONTENTS_DIRECTORIES] = { "directories", false },
  [CONTENTS_SYMLINKS] = { "symlinks", false },
  [CONTENTS_PACKAGES] = { "packages", false },
};

/* A binary's or a library's path may be left out when its source is in the
 * sysroot (the same path in the image): contents.c decides. */
const struct recipe_key binary_keys[BINARY_LAYER + 1] = {
  [BINARY_SOURCE] = { "source", true },
  [BINARY_PATH] = { "path", false },
  [BINARY_LAYER] = { "layer", false },
};

const struct recipe_key library_keys[LIBRARY_LAYER + 1] = {
  [LIBRARY_SOURCE] = { "source", true },
  [LIBRARY_PATH] = { "path", false },
  [LIBRARY_LAYER] = { "layer", false },
};

const struct recipe_key file_keys[FILE_LAYER + 1] = {
  [FILE_SOURCE] = { "source", true },
  [FILE_PATH] = { "path", true },
  [FILE_MODE] = { "mode", false },
  [FILE_LAYER] = { "layer", false },
};

const struct recipe_key directory_keys[DIRECTORY_LAYER + 1] = {
  [DIRECTORY_SOURCE] = { "source", true },
  [DIRECTORY_PATH] = { "path", true },
  [DIRECTORY_EXCLUDE] = { "exclude", false },
  [DIRECTORY_LAYER] = { "layer", false },
};

const struct recipe_key symlink_keys[SYMLINK_LAYER + 1] = {
  [SYMLINK_PATH] = { "path", true },
  [SYMLINK_TARGET] = { "target", true },
  [SYMLINK_LAYER] = { "layer", false },
};

/* A Debian package taken whole: "NAME[:ARCH]", or this mapping. */
const struct recipe_key package_keys[PACKAGE_LAYER + 1] = {
  [PACKAGE_NAME] = { "name", true },
  [PACKAGE_EXCLUDE] = { "exclude", false },
  [PACKAGE_LAYER] = { "layer", false },
};

const struct recipe_key accounts_keys[ACCOUNTS_GROUPS + 1] = {
  [ACCOUNTS_RUN_AS] = { "run-as", false },
  [ACCOUNTS_USERS] = { "users", false },
  [ACCOUNTS_GROUPS] = { "groups", false },
};

const struct recipe_key user_keys[USER_HOME + 1] = {
  [USER_NAME] = { "name", true },
  [USER_UID] = { "uid", true },
  [USER_GID] = { "gid", false },
  [USER_HOME] = { "home", false },
};

const struct recipe_key group_keys[GROUP_GID + 1] = {
  [GROUP_NAME] = { "name", true },
  [GROUP_GID] = { "gid", true },
};

const struct recipe_key path_keys[PATH_MODE + 1] = {
  [PATH_PATH] = { "path", true },
  [PATH_TYPE] = { "type", false },
  [PATH_UID] = { "uid", false },
  [PATH_GID] = { "gid", false },
  [PATH_MODE] = { "mode", false },
};

/* exactly one of test, http and tcp: healthcheck.c */
const struct recipe_key healthcheck_keys[HEALTH_RETRIES + 1] = {
  [HEALTH_TEST] = { "test", false },
  [HEALTH_HTTP] = { "http", false },
  [HEALTH_TCP] = { "tcp", false },
  [HEALTH_INTERVAL] = { "interval", false },
  [HEALTH_TIMEOUT] = { "timeout", false },
  [HEALTH_START_PERIOD] = { "start-period", false },
  [HEALTH_RETRIES] = { "retries", false },
};

const struct recipe_key checks_keys[CHECKS_ALLOW + 1] = {
  [CHECKS_ALLOW] = { "allow", false },
};

const struct recipe_key allow_keys[ALLOW_REASON + 1] = {
  [ALLOW_ID] = { "id", true },
  [ALLOW_PATH] = { "path", true },
  [ALLOW_REASON] = { "reason", true },
};
