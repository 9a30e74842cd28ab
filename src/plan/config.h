/* The image config as the plan decides it: what the runtime starts, as
 * whom, with which environment, and what the manifest records.  The
 * recipe's values with the defaults a distill image always has (a PATH, the
 * CA bundle's SSL_CERT_FILE, its one program as the entrypoint); the OCI
 * writer takes them from here and never reads the recipe. */
#ifndef DISTILL_CONFIG_H
#define DISTILL_CONFIG_H

#include "lib/alloc.h"
#include "recipe/check_ids.h"

#include <stdbool.h>
#include <stdint.h>

/* Labels and annotations: keys[i] is given values[i]; no key twice. */
struct config_map {
  struct strv keys, values;
};

struct image_config {
  uint32_t uid, gid;      /* User, numeric, so that runAsNonRoot can verify it */
  struct strv env;        /* "KEY=value": the defaults, then the recipe's in its order */
  struct strv entrypoint; /* when has_entrypoint */
  bool has_entrypoint;
  struct strv cmd;        /* when has_cmd */
  bool has_cmd;
  char *work_dir;         /* or NULL */
  struct strv ports;      /* "PORT/PROTO" */
  struct strv volumes;
  struct config_map labels;
  char *stop_signal;      /* or NULL */
  /* Healthcheck (Docker's): when health_test.n, the program and its
   * arguments; durations in nanoseconds, 0 (and retries 0): the engine's */
  struct strv health_test;
  int64_t health_interval, health_timeout, health_start_period;
  int health_retries;
  struct config_map annotations; /* of the manifest */
  /* The findings the recipe waived (checks.allow): the build's own check
   * accepts them and the manifest records them. */
  struct check_waiver *waivers;
  size_t n_waivers;
};

struct recipe;

/* Every string is copied: the config outlives the recipe. */
void image_config_init(struct image_config *c, const struct recipe *r);
void image_config_free(struct image_config *c);

#endif
