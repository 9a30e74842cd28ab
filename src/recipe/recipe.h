/* The recipe: a YAML file describing an image (DESIGN.md section 1). */
#ifndef DISTILL_RECIPE_H
#define DISTILL_RECIPE_H

#include "lib/error.h"
#include "lib/alloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Where a value came from, for errors raised after parsing. */
struct recipe_pos {
  unsigned line, column; /* 1-based */
};

/* A content source, as written.  Relative sources are read under the
 * recipe's directory, absolute ones inside the sysroot (`in_sysroot`). */
struct recipe_source {
  char *source;
  bool in_sysroot;
};

/* `layer: NAME` of a content item: the name as written (NULL: none given)
 * and, once the recipe is read, the index in recipe.layers of the layer
 * it goes in.  layers.c is the one place an item's layer is chosen: the
 * one named, else its kind's built-in layer (a library's is `libraries`,
 * anything else's `app`). */
struct recipe_layer_ref {
  char *name;
  struct recipe_pos pos;
  unsigned index;
};

/* At most this many layers (plan/rootfs.h's LAYER_MAX, with a base
 * recipe's), and base recipes on base recipes at most this deep. */
#define RECIPE_MAX_LAYERS 32
#define RECIPE_MAX_BASES 4

struct recipe_binary {
  struct recipe_source src;
  char *path; /* in the image */
  struct recipe_layer_ref layer;
  struct recipe_pos pos;
};

struct recipe_library {
  char *name; /* a soname or an absolute path in the sysroot; NULL for {source, path} */
  struct recipe_source src; /* {source, path}: placed like a binary, in the libraries layer */
  char *path;
  struct recipe_layer_ref layer;
  struct recipe_pos pos;
};

struct recipe_file {
  struct recipe_source src;
  char *path;
  int mode; /* -1: from the source */
  struct recipe_layer_ref layer;
  struct recipe_pos pos;
};

struct recipe_directory {
  struct recipe_source src;
  char *path;
  struct strv exclude;
  struct recipe_layer_ref layer;
  struct recipe_pos pos;
};

struct recipe_symlink {
  char *path;
  char *target;
  struct recipe_layer_ref layer;
  struct recipe_pos pos;
};

/* A Debian package of the sysroot taken whole (contents.packages). */
struct recipe_package {
  char *name;          /* a Debian package name */
  char *arch;          /* from "NAME:ARCH", or NULL: the only one installed */
  struct strv exclude; /* fnmatch patterns, as contents.directories' */
  struct recipe_layer_ref layer;
  struct recipe_pos pos;
};

struct recipe_user {
  char *name;
  uint32_t uid, gid;
  char *home;
  struct recipe_pos pos;
};

struct recipe_group {
  char *name;
  uint32_t gid;
  struct recipe_pos pos;
};

enum recipe_path_type { RECIPE_PATH_DIRECTORY, RECIPE_PATH_FILE };

struct recipe_path {
  char *path;
  enum recipe_path_type type;
  uint32_t uid, gid;
  int mode;
  struct recipe_pos pos;
};

/* A finding of the image's own check accepted (checks.allow). */
struct recipe_waiver {
  char *id;     /* a check id (check_waivable) */
  char *path;   /* exactly the path the finding names */
  char *reason; /* never empty */
  struct recipe_pos pos;
};

enum recipe_ca { RECIPE_CA_SYSROOT, RECIPE_CA_NONE, RECIPE_CA_PATH };

/* An ordered string map (environment, labels, annotations). */
struct recipe_kv {
  char *key, *value;
  struct recipe_pos pos; /* of the key */
};
struct recipe_map {
  struct recipe_kv *items;
  size_t n;
};

#define RECIPE_ARRAY(type, name) \
  type *name;                    \
  size_t n_##name

/* healthcheck: Docker's HEALTHCHECK, exec form; durations in
 * nanoseconds, 0 (and retries 0): the engine's default.  Either `test`,
 * or `probe_url` for distill's probe: "http://HOST[:PORT][/PATH]" or
 * "tcp://HOST:PORT", HOST an IP address (IPv6 in brackets) or localhost. */
struct recipe_healthcheck {
  bool set;
  struct strv test;
  char *probe_url;
  int64_t interval_ns, timeout_ns, start_period_ns;
  int retries;
};

struct recipe {
  char *file;      /* as given */
  char *dir;       /* directory of the recipe, for relative sources */
  char *name;
  char *tag;
  char *sysroot;
  char *platform;       /* "linux/ARCH[/VARIANT]" as written, or NULL */
  char *from_recipe;    /* the base recipe (absolute), or NULL */
  struct recipe_pos from_recipe_pos;
  /* The layers in image order: as `layers:` gives them, else base,
   * libraries, app; and where the built-in ones are among them. */
  struct strv layers;
  unsigned layer_base, layer_libraries, layer_app;
  const char *platform_arch, *platform_variant;
  struct recipe_map platforms; /* platform -> its sysroot (absolute), for multi-platform images */
  RECIPE_ARRAY(struct recipe_binary, binaries);
  RECIPE_ARRAY(struct recipe_library, libraries);
  RECIPE_ARRAY(struct recipe_file, files);
  RECIPE_ARRAY(struct recipe_directory, directories);
  RECIPE_ARRAY(struct recipe_symlink, symlinks);
  RECIPE_ARRAY(struct recipe_package, packages);
  enum recipe_ca ca;
  struct recipe_source ca_source;
  bool tzdata;
  char *run_as;
  struct recipe_pos run_as_pos; /* 0:0 when defaulted */
  RECIPE_ARRAY(struct recipe_user, users);
  RECIPE_ARRAY(struct recipe_group, groups);
  RECIPE_ARRAY(struct recipe_path, paths);
  struct strv entrypoint;
  struct strv cmd;
  bool has_entrypoint, has_cmd;
  struct recipe_map environment;
  char *work_dir;
  struct strv ports;   /* normalised "PORT/PROTO" */
  struct strv volumes;
  struct recipe_map labels;
  struct recipe_map annotations;
  char *stop_signal;
  struct recipe_healthcheck healthcheck;
  char *sbom; /* where to write the SPDX document (relative: to the recipe's directory), or NULL */
  RECIPE_ARRAY(struct recipe_waiver, waivers); /* checks.allow */
};

/* Parse a recipe file.  Errors read "FILE:LINE:COL: KEY.PATH: reason". */
int recipe_load(const char *file, struct recipe *out, struct derror *err);
/* Parse a recipe from memory; `file` names it in errors and sets its dir. */
int recipe_parse(const char *file, const char *data, size_t len, struct recipe *out, struct derror *err);
void recipe_free(struct recipe *r);

/* The credential rule (secrets_in_value) a command-line argument breaks,
 * or NULL: a token anywhere in it, or a secret-ish name given a literal
 * value (--db-password=VALUE, DB_PASSWORD=VALUE).  The recipe's
 * entrypoint and cmd are refused by it; check reads an image's the same
 * way. */
const char *recipe_secret_in_argument(const char *arg);


#endif
