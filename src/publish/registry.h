/* A session with one repository of a registry (OCI distribution spec
 * v1.1) over libcurl: TLS as containers-certs.d(5) sets it, credentials
 * from the auth files, the Basic or Bearer scheme the registry's challenge
 * asks for (a token fetched from its realm for the repository's scope),
 * and retries of what a retry can mend. */
#ifndef DISTILL_PUBLISH_REGISTRY_H
#define DISTILL_PUBLISH_REGISTRY_H

#include "lib/alloc.h"
#include "lib/error.h"
#include "publish/ref.h"

#include <stdbool.h>
#include <stdint.h>

struct registry_options {
  const char *authfile; /* --authfile, or NULL: the usual files (auth.h) */
  const char *cert_dir; /* --cert-dir: *.crt CA roots beside the system's, *.cert + *.key a client's */
  bool insecure;        /* --tls-verify=false: HTTPS unverified, or plain HTTP */
  const char *from;     /* another repository of the registry to mount blobs from, or NULL */
  bool pull_only;       /* ask a token for pull alone: a reader (fetch.h); token services refuse
                           push to anonymous users and to read-only accounts */
  int verbose;
};

struct registry;

/* Reach the registry of `ref` (GET /v2/) and learn how it wants to be
 * asked: -1 with `err` naming the registry and why it cannot be used. */
struct registry *registry_open(const struct image_ref *ref, const struct registry_options *o, struct derror *err);
void registry_close(struct registry *r);
/* Another session like `r` (its credentials, token and TLS), on a
 * connection of its own, for a thread of its own; NULL when libcurl
 * cannot start one. */
struct registry *registry_clone(const struct registry *r);
/* "127.0.0.1:5000", for messages. */
const char *registry_host(const struct registry *r);

/* Where the body of a 200 answer goes instead of the response's buffer:
 * `write` takes each piece as it comes (non-zero stops the request, which
 * then fails); `reset` forgets what was written, before every attempt. */
struct registry_sink {
  int (*write)(void *data, const void *bytes, size_t n);
  void (*reset)(void *data);
  void *data;
};

/* What a request sends: nothing, bytes in memory, or `size` bytes of the
 * file `fd` from `offset` (read again from there when a retry resends);
 * and, for a GET, a sink for the answer's bytes, or NULL. */
struct registry_body {
  const void *data;
  int fd; /* -1: `data`, or nothing when size is 0 */
  uint64_t offset, size;
  const char *content_type;
  const char *content_range; /* "START-END" for a chunk, or NULL */
  const struct registry_sink *sink;
};

struct registry_response {
  long status;
  char *location;       /* Location */
  char *digest;         /* Docker-Content-Digest */
  char *content_type;
  char *range;          /* Range (of an upload) */
  uint64_t length;      /* Content-Length */
  struct buf body;      /* at most REGISTRY_BODY_MAX bytes; none that went to a sink */
};
#define REGISTRY_BODY_MAX (4u << 20)
void registry_response_free(struct registry_response *resp);

/* `method` on `target`: a path from the host ("/v2/...") or a URL the
 * registry gave (a Location).  Credentials are sent as the registry asked;
 * a 401 fetches a token again once.  5xx, 429 (after its Retry-After) and
 * a connection reset are tried again, up to 5 times in all, waiting 0.5,
 * 1, 2, 4 s.  0 with `resp` filled whatever the status; -1 with `err` set
 * when no response came. */
int registry_request(struct registry *r, const char *method, const char *target, const struct registry_body *body,
                     const char *accept, struct registry_response *resp, struct derror *err);

/* An error for a response that is not what was expected: the registry,
 * the request, the status and the registry's errors[].code and message. */
int registry_error(struct registry *r, const char *method, const char *target, const struct registry_response *resp,
                   struct derror *err);

#endif
