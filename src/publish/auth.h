/* Registry credentials as skopeo, podman and docker keep them, and the
 * challenges a registry answers with (WWW-Authenticate). */
#ifndef DISTILL_PUBLISH_AUTH_H
#define DISTILL_PUBLISH_AUTH_H

#include "lib/error.h"

#include <stdbool.h>

struct registry_creds {
  char *username, *password; /* from "auth": base64 of "user:password" */
  char *identity_token;      /* "identitytoken", when the file has one */
  char *file;                /* the file they came from, for messages */
};

/* The credentials for `host` (as image_ref's host: "127.0.0.1:5000",
 * "docker.io").  With `authfile` (--authfile) only that file is read, and
 * a missing one is an error.  Else the first file that exists and has an
 * entry for the host, in the order containers-auth.json(5) gives:
 * $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json,
 * $XDG_CONFIG_HOME/containers/auth.json (~/.config when unset),
 * $DOCKER_CONFIG/config.json (~/.docker when unset).
 * An entry is found under "auths" by the key HOST, HOST/REPO-PREFIX (the
 * longest that `repo` starts with, by whole components), https://HOST,
 * http://HOST, or a docker URL whose host is HOST ("https://index.docker.io/v1/"
 * for docker.io).  1 and `out` filled when found; 0 when no file has one
 * (a file that names credsStore or credHelpers for the host without an
 * "auth" is said in `err` as a note: helpers are not run, and 0 is
 * returned with err->msg set); -1 with `err` naming the file and the place
 * when a file cannot be read or is not what it must be (not JSON, "auth"
 * not base64 of "user:password"). */
int auth_lookup(const char *authfile, const char *host, const char *repo, struct registry_creds *out,
                struct derror *err);
void registry_creds_free(struct registry_creds *c);

/* One challenge of a WWW-Authenticate header value (RFC 7235: a scheme,
 * then auth-params, values as tokens or quoted strings with \ escapes).
 * The first challenge whose scheme is Basic or Bearer (either case) is
 * taken. */
struct auth_challenge {
  bool bearer;   /* else Basic */
  char *realm;   /* required for Bearer */
  char *service; /* or NULL */
  char *scope;   /* or NULL */
};
int auth_challenge_parse(const char *value, struct auth_challenge *c, struct derror *err);
void auth_challenge_free(struct auth_challenge *c);

#endif
