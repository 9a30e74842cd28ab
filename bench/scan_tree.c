/* scan-tree DIR...: the credential rules of `distill check` over every
 * regular file below each DIR, for the bench (what the scan costs beside
 * a build) and for measuring false positives on a real system's /usr.
 * Prints one line per finding (rule, path, offset) and, on stderr, the
 * files, bytes, findings, the seconds in all and the seconds in the rules
 * alone (reading the files, which a build does anyway, not counted). */
#include "lib/secrets.h"
#include "lib/alloc.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static struct secrets *state;
static unsigned long long files, bytes, findings;
static double in_rules; /* seconds */

static double
now(void)
{
  struct timespec t;

  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

static int
visit(const char *path, const struct stat *st, int type, struct FTW *f)
{
  static char buf[1 << 16];
  ssize_t n;

  if (type != FTW_F || !S_ISREG(st->st_mode))
    return 0;
  cleanup_close int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return 0;
  double t = now();
  secrets_init(state, path);
  in_rules += now() - t;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    t = now();
    secrets_chunk(state, buf, (size_t) n);
    in_rules += now() - t;
    bytes += (size_t) n;
  }
  t = now();
  secrets_end(state);
  in_rules += now() - t;
  files++;
  for (size_t i = 0; i < state->n_findings; i++, findings++)
    printf("%s\t%s\t%llu\n", state->findings[i].rule, path, (unsigned long long) state->findings[i].offset);
  return 0;
}

int
main(int argc, char **argv)
{
  struct timespec a, b;

  state = xmalloc(sizeof *state);
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 1; i < argc; i++)
    nftw(argv[i], visit, 64, FTW_PHYS);
  clock_gettime(CLOCK_MONOTONIC, &b);
  fprintf(stderr, "%llu files, %llu bytes, %llu findings, %.3f s, %.3f s in the rules\n", files, bytes, findings,
          (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9, in_rules);
  free(state);
  return 0;
}
