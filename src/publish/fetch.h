/* An image of a registry as an archive the image reader reads: the
 * manifest (the platform's, through an index), the config and the layers,
 * each checked against its descriptor's size and digest as it streams,
 * written as an OCI layout in a tar. */
#ifndef DISTILL_PUBLISH_FETCH_H
#define DISTILL_PUBLISH_FETCH_H

#include "lib/digest.h"
#include "lib/error.h"
#include "publish/ref.h"
#include "publish/registry.h"

/* The manifest of `ref` (a tag's, or the one its digest names), through an
 * image index or a Docker manifest list to the image of `platform`
 * ("linux/arm64"; NULL: linux and the host's architecture), its config
 * and layers, into the archive `fd` (a new, empty file): blobs/sha256/...,
 * index.json naming the manifest, with the reference as its name, and
 * oci-layout.  Every blob is at most its descriptor's size and must hash
 * to its digest; the blobs are held to DISTILL_MAX_LAYER_BYTES each and to
 * DISTILL_MAX_IMAGE_BYTES together, as the reader holds their
 * uncompressed bytes.  `o->pull_only` is set here.  `digest` receives the
 * manifest's digest.  -1 with `err` naming the reference and why. */
int registry_fetch(const struct image_ref *ref, const struct registry_options *o, const char *platform, int fd,
                   char digest[DIGEST_STR_LEN], struct derror *err);

/* A temporary archive of `text` (docker://...) in $TMPDIR, made by
 * registry_fetch, guarded against SIGINT, SIGTERM and SIGHUP
 * (lib/tmpguard.h): its path, which fetch_remove takes back.  NULL with
 * `err` set. */
char *fetch_temporary(const char *text, const struct registry_options *o, const char *platform,
                      char digest[DIGEST_STR_LEN], struct derror *err);
/* Remove and forget a temporary archive; NULL is nothing. */
void fetch_remove(char *path);

#endif
