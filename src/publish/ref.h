/* Image references as skopeo writes them: docker://HOST[:PORT]/REPO[:TAG]
 * or docker://HOST[:PORT]/REPO@sha256:HEX.  A name without a host (its
 * first component has no '.' or ':' and is not "localhost") is Docker
 * Hub's, as docker and skopeo read it: "docker://alpine" is
 * docker.io/library/alpine:latest. */
#ifndef DISTILL_PUBLISH_REF_H
#define DISTILL_PUBLISH_REF_H

#include "lib/error.h"

struct image_ref {
  char *host;   /* as written, lower case: "127.0.0.1:5000", "docker.io" */
  char *api;    /* where its API is: host, or "registry-1.docker.io" for docker.io */
  char *repo;   /* "distill/curl", "library/alpine" */
  char *tag;    /* "latest" when neither tag nor digest is given; NULL with a digest */
  char *digest; /* "sha256:<64 hex>", or NULL */
};

/* -1 with `err` naming the text and what is wrong with it: no docker://
 * transport, an empty or upper-case or over-long repository (the
 * distribution spec's grammar: components of [a-z0-9] separated by '.',
 * '_', "__" or '-'s, at most 255 bytes with the host), a tag not of
 * [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, a digest not sha256:<64 lower hex>,
 * a port not 1-65535. */
int image_ref_parse(const char *text, struct image_ref *ref, struct derror *err);
void image_ref_free(struct image_ref *ref);
/* "HOST/REPO" (docker.io as written), for messages and what push prints
 * before "@sha256:...". */
char *image_ref_name(const struct image_ref *ref);

#endif
