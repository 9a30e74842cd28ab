/* Reading an image archive, ours or anyone's: an OCI layout in a tar
 * (skopeo's oci-archive, distill, docker save since 25) or Docker's
 * manifest.json (docker save before 25, podman).  Blob digests, sizes and
 * diff_ids are verified; the layers are applied in order with OCI whiteouts
 * into one file tree, in memory, never extracted to disk.  Every entry of
 * every layer is kept as well, so that what a later layer deleted is still
 * seen.  The archive is anyone's, so everything it can make distill spend
 * is bounded: see the bounds below and the BOUNDS of distill-inspect(1). */
#ifndef DISTILL_IMAGE_H
#define DISTILL_IMAGE_H

#include "lib/digest.h"
#include "lib/error.h"
#include "image/scan.h"
#include "lib/alloc.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Bounds on hostile archives. */
#define IMAGE_MAX_JSON (4u * 1024 * 1024)
#define IMAGE_MAX_LAYERS 1024
#define IMAGE_MAX_ENTRIES (4u * 1024 * 1024)
/* A name or link target, its terminating NUL included (PATH_MAX), and all
 * of them over every entry of every layer: what the history keeps, and
 * what libarchive converts to wide characters at some 75 ns a byte (5 s
 * for 64 MiB; the names of a large image's layers add up to some 10 or 20
 * MB: 150,000 files of 70 bytes are 10 MB). */
#define IMAGE_MAX_PATH 4096
#define IMAGE_MAX_NAME_BYTES (64u * 1024 * 1024)
/* Bytes of tar a layer, and all layers together, may uncompress to; the
 * environment's DISTILL_MAX_LAYER_BYTES and DISTILL_MAX_IMAGE_BYTES (bytes,
 * or a number with K, M, G or T) set others. */
#define IMAGE_MAX_LAYER_BYTES (16ull << 30)
#define IMAGE_MAX_IMAGE_BYTES (64ull << 30)
/* The two bounds as the environment sets them (a registry's blobs are held
 * to them too: fetch.c). */
int image_bounds(uint64_t *layer_max, uint64_t *image_max, struct derror *err);
/* Past the first GiB, a layer may uncompress to at most 4096 times the
 * bytes read for it: gzip cannot exceed about 1032:1, and only a bomb
 * (zeros upon zeros in zstd) comes near this. */
#define IMAGE_MAX_RATIO 4096
#define IMAGE_RATIO_FROM (1ull << 30)

/* An entry of a layer (in `history`), or a name of the merged tree (in
 * `files`, whose strings belong to the history).  In the merged tree a
 * hardlink is what a runtime shows at its name: the entry it named when it
 * was applied (type, mode, owner, size, digest, marks; a regular file's
 * target is NULL), whatever later became of that name. */
struct image_file {
  char *path;   /* "/usr/bin/x" */
  char type;    /* 'f' file, 'd' dir, 'l' symlink, 'h' hardlink, 'c' 'b' 'p' 's' */
  mode_t mode;  /* permission bits with setuid/setgid/sticky */
  uint32_t uid, gid;
  uint64_t size;
  int64_t mtime;
  dev_t rdev;   /* device number, 'c' and 'b' */
  char digest[DIGEST_STR_LEN]; /* of the content, regular files */
  char *target; /* symlink or hardlink target */
  int layer;    /* index of the layer that wrote it */
  unsigned marks; /* enum scan_mark: what the content revealed */
  const char *what; /* the shell or package manager the content shows */
  const char *secret; /* the credential rule the content breaks (secrets.h), or NULL */
  size_t src;   /* merged tree: the history entry whose inode (and bytes) this is */
};

struct image_layer {
  char digest[DIGEST_STR_LEN];
  char diff_id[DIGEST_STR_LEN];
  char *media_type;
  uint64_t size;
  size_t n_entries;
};

struct image {
  char *name;            /* the reference, when the archive names one */
  char manifest_digest[DIGEST_STR_LEN];
  char config_digest[DIGEST_STR_LEN];
  json_t *config;        /* the image config */
  struct image_layer *layers;
  size_t n_layers;
  struct image_file *files; /* the merged tree, sorted by path */
  size_t n_files;
  struct image_file *history; /* every entry of every layer, in order */
  size_t n_history, cap_history;
};

int image_read(const char *archive, struct image *img, struct derror *err);

/* Describing an image without reading an archive (the build describes what
 * it wrote): add every entry of every layer in order to the history, then
 * merge them, whiteouts applied, into the sorted tree of `files`.  A
 * hardlink whose target is not there stays a hardlink ('h') here; reading
 * an archive refuses it. */
struct image_file *image_history_add(struct image *img);
void image_merge(struct image *img);
void image_free(struct image *img);

/* The entry at exactly `path` in the merged tree (no symlink followed),
 * or NULL. */
const struct image_file *image_find(const struct image *img, const char *path);
/* The index of the first name of the merged tree below the directory
 * `path` (the names below it follow it, in order), or n_files. */
size_t image_first_below(const struct image *img, const char *path);

/* The file at `path` in the merged tree, symlinks followed in its parents
 * and, when `follow`, at its end, by the one walker of view.h: a target's
 * ".." goes up from where its link led, and more than VIEW_MAX_SYMLINKS
 * hops is an error.  NULL with err unset when absent. */
const struct image_file *image_lookup(const struct image *img, const char *path, bool follow, struct derror *err);

/* Read the whole content of a regular file of the merged tree or of the
 * history (at most `max` bytes) by reading its layer again. */
int image_read_file(const char *archive, const struct image *img, const struct image_file *f, size_t max,
                    struct buf *out, struct derror *err);

/* Write the content of files of the merged tree to `dir`/INDEX (INDEX:
 * the file's index in img->files), reading each layer that holds one once:
 * `want` says how many bytes of each to keep, 0 for none.  The bytes are
 * those of the entry the file is (a hardlink's: its target's as it was
 * then); names of one inode are hardlinks of one file in `dir`. */
typedef uint64_t (*image_extract_fn)(void *data, const struct image_file *f);
int image_extract(const char *archive, const struct image *img, image_extract_fn want, void *data, const char *dir,
                  struct derror *err);

#endif
