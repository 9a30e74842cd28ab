/* Copying a file's bytes into another: see copy.h. */
#include "lib/copy.h"
#include "lib/alloc.h"
#include "lib/file.h"
#include "lib/lane.h"
#include "lib/timing.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define COPY_CHUNK (1u << 20)

int
copy_buffered(int in, int fd, off_t base, struct digest *d, struct derror *err)
{
  cleanup_free char *buf = xmalloc(COPY_CHUNK);
  struct lane *h = d ? lane_new() : NULL;
  uint64_t started = base > 0 ? (uint64_t) base : 0, copied = 0;
  ssize_t n;
  int ret = 0;

  if (d)
    digest_init(d);
  for (;;) {
    n = read(in, buf, COPY_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    if (d)
      lane_put(h, digest_update_any, d, TIMING_VERIFY, buf, (size_t) n);
    if (write_all(fd, buf, (size_t) n) < 0) {
      ret = derror_errno(err, errno, "write");
      err->code = DERROR_OUTPUT;
      break;
    }
    copied += (uint64_t) n;
    if (base >= 0)
      write_behind(fd, &started, (uint64_t) base + copied);
  }
  if (n < 0 && ret == 0)
    ret = derror_errno(err, errno, "read");
  lane_sync(h);
  lane_free(h);
  if (d && ret < 0)
    digest_abort(d);
  return ret;
}

int
copy_kernel(int in, int fd, uint64_t size, off_t base, struct derror *err)
{
  uint64_t started = base > 0 ? (uint64_t) base : 0, done = 0;

  while (done < size) {
    size_t want = size - done < 8 * COPY_CHUNK ? (size_t) (size - done) : 8 * COPY_CHUNK;
    ssize_t n = copy_file_range(in, NULL, fd, NULL, want, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && done == 0
        && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP || errno == EBADF))
      return 1;
    if (n < 0 && (errno == ENOSPC || errno == EDQUOT || errno == EFBIG)) {
      derror_errno(err, errno, "write");
      err->code = DERROR_OUTPUT;
      return -1;
    }
    if (n < 0)
      return derror_errno(err, errno, "copy");
    if (n == 0 && done == 0)
      return 1; /* some file systems copy nothing rather than say they cannot */
    if (n == 0)
      return derror_set(err, "%llu bytes short", (unsigned long long) (size - done));
    done += (uint64_t) n;
    if (base >= 0)
      write_behind(fd, &started, (uint64_t) base + done);
  }
  return 0;
}

