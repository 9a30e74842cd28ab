/* An image archive as push reads it: the OCI layout inside a plain tar
 * (index.json, blobs/sha256/...), each blob where its bytes are in the
 * file, so that they are sent from there as they are. */
#ifndef DISTILL_PUBLISH_LAYOUT_H
#define DISTILL_PUBLISH_LAYOUT_H

#include "lib/alloc.h"
#include "lib/digest.h"
#include "lib/error.h"

#include <jansson.h>
#include <stdint.h>

struct layout_blob {
  char digest[DIGEST_STR_LEN]; /* from its member's name */
  uint64_t size, offset;       /* its bytes: offset in the archive */
};

struct layout {
  char *path;
  int fd;
  struct layout_blob *blobs;
  size_t n, cap;
  json_t *index; /* index.json */
};

/* -1 with `err` naming the archive and why: not a plain tar, no
 * index.json, a member twice, a blob member not named by its digest. */
int layout_open(const char *path, struct layout *l, struct derror *err);
void layout_close(struct layout *l);
/* The blob of `digest`, or NULL. */
const struct layout_blob *layout_blob(const struct layout *l, const char *digest);
/* A small blob (a manifest, an index) read whole and checked against its
 * digest; at most `max` bytes. */
int layout_read(const struct layout *l, const struct layout_blob *b, size_t max, struct buf *out, struct derror *err);

#endif
