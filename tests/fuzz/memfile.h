/* The fuzzers hand the production code a path, as the commands do: the
 * input is written to a memfd and named through /proc/self/fd. */
#ifndef DISTILL_FUZZ_MEMFILE_H
#define DISTILL_FUZZ_MEMFILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static inline const char *
memfile(const uint8_t *data, size_t size)
{
  static int fd = -1;
  static char path[64];

  if (fd < 0) {
    fd = memfd_create("distill-fuzz", MFD_CLOEXEC);
    if (fd < 0)
      abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) < 0 || (size && pwrite(fd, data, size, 0) != (ssize_t) size))
    abort();
  return path;
}

#endif
