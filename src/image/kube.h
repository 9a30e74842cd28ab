/* The runtime settings an image needs, from its own facts only: the user
 * it runs as, the paths it makes writable to that user, its ports, volumes
 * and health check.  From them, a Kubernetes Deployment or Pod whose
 * securityContext is the least the image needs, written as YAML, or the
 * `docker run` flags that say the same. */
#ifndef DISTILL_KUBE_H
#define DISTILL_KUBE_H

#include "image/image.h"
#include "lib/alloc.h"
#include "lib/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* What the command line adds: nothing the image could say itself. */
struct kube_options {
  const char *name;  /* metadata.name, or NULL: from the image's name */
  const char *image; /* the container's image, or NULL: the archive's name */
  bool pod;          /* a v1 Pod instead of an apps/v1 Deployment */
};

/* A path given a writable volume: an emptyDir (for docker run, a tmpfs
 * or an anonymous volume); its mode in the image. */
struct kube_mount {
  char *path;
  char *volume; /* its volume's name: a DNS-1123 label */
  unsigned mode;
};

struct kube_port {
  unsigned port;
  char protocol[8]; /* TCP, UDP or SCTP */
};

/* The facts, as the image states them. */
struct kube_facts {
  char *name, *image;
  uint32_t uid, gid;
  json_t *command, *args, *env; /* arrays, or NULL */
  char *work_dir;
  struct kube_port *ports;      /* by number, then protocol */
  size_t n_ports;
  bool low_port;                /* one below 1024: NET_BIND_SERVICE */
  struct kube_mount *mounts;    /* by path */
  size_t n_mounts;
  json_t *probe;                /* the probe of the health check, or NULL */
  struct strv warnings;         /* what the settings cannot carry, one sentence each */
};

/* Whether `s` is a DNS-1123 label: [a-z0-9-], at most 63, starting and
 * ending alphanumeric. */
bool kube_label_valid(const char *s);

/* The facts of `img` (read from `archive`).  -1 with err set when the
 * image gives none that can be honoured: it runs as root, its user is not
 * in its /etc/passwd, it names no image (and o->image is NULL), a port or
 * the health check cannot be read. */
int kube_facts(const char *archive, const struct image *img, const struct kube_options *o, struct kube_facts *f,
               struct derror *err);
void kube_facts_free(struct kube_facts *f);

/* The Deployment (or Pod) as a JSON document; then as YAML: every string
 * double-quoted, every byte outside printable ASCII escaped. */
json_t *kube_document(const struct kube_facts *f, bool pod);
void kube_yaml(const json_t *doc, struct buf *out);

/* The same settings as one `docker run` command line, shell-quoted. */
void kube_docker(const struct kube_facts *f, struct buf *out);

#endif
