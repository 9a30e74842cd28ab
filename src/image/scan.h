/* What the content of a regular file reveals, found while it streams by in
 * chunks of any size (needles across chunk seams are found too): used by
 * the image reader and by the build as it writes each layer. */
#ifndef DISTILL_SCAN_H
#define DISTILL_SCAN_H

#include "plan/elf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum scan_mark {
  IMAGE_MARK_PRIVATE_KEY = 1 << 0, /* a PEM or OpenSSH private key */
  IMAGE_MARK_SHELL = 1 << 1,       /* the text of a known shell */
  IMAGE_MARK_PACKAGE_MANAGER = 1 << 2,
  IMAGE_MARK_ELF = 1 << 3,
  IMAGE_MARK_SECRET = 1 << 4,      /* a credential by content (secrets.h): `secret` names the rule */
};

struct scan {
  unsigned marks;
  const char *what; /* the shell or package manager the content shows */
  unsigned magic;   /* bytes of the ELF magic seen so far; 5: not ELF */
  char tail[96];    /* the last bytes so far, for needles across chunks */
  size_t tail_len;
  struct secrets *secrets; /* the credential rules' state, between scan_begin and scan_finish */
  const char *secret;      /* the first credential rule the content breaks, or NULL */
  uint64_t offset;         /* of the next byte in the file */
  const struct elf_range *skip; /* ranges left out (scan_skip), in order */
  size_t n_skip, next_skip;
};

void scan_init(struct scan *s);
/* A file's scan with the credential rules too (`path` is its path in the
 * image, which narrows some of them); scan_finish() ends it. */
void scan_begin(struct scan *s, const char *path);
void scan_finish(struct scan *s);
void scan_chunk(struct scan *s, const void *data, size_t n);
/* Leave these ranges of the file out (sorted, not overlapping; kept by
 * the caller until the scan ends): an ELF object's machine code
 * (elf_code_ranges), where no text a signature or a credential rule looks
 * for is.  Needles are not looked for across a range left out. */
void scan_skip(struct scan *s, const struct elf_range *ranges, size_t n);
/* The scan's own name for `what` ("busybox", "dpkg"), or NULL. */
const char *scan_known(const char *what);

#endif
