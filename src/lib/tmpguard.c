#include "lib/tmpguard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

/* The signal-time cleanup: a fixed table, since a handler may neither
 * allocate nor lock.  `live` says a slot's directory and name are whole;
 * changes are made under the lock, the handler only reads. */
#define GUARD_SLOTS 64
static struct {
  atomic_int live;
  int dir;
  char name[PATH_MAX];
} guards[GUARD_SLOTS];
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static bool guard_installed;
static const int guard_signals[] = { SIGINT, SIGTERM, SIGHUP };

static void
guard_handler(int sig)
{
  int saved = errno;

  for (size_t i = 0; i < GUARD_SLOTS; i++)
    if (atomic_load(&guards[i].live))
      unlinkat(guards[i].dir, guards[i].name, 0);
  errno = saved;
  /* blocked while handled: delivered, now with its default action, on
   * return */
  signal(sig, SIG_DFL);
  raise(sig);
}

/* Only signals that would kill the program as it is: one that is ignored
 * (nohup, a background job) stays ignored. */
static void
guard_install(void)
{
  struct sigaction sa = { .sa_handler = guard_handler, .sa_flags = SA_RESTART };

  guard_installed = true;
  sigfillset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof guard_signals / sizeof *guard_signals; i++) {
    struct sigaction old;
    if (sigaction(guard_signals[i], NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL)
      sigaction(guard_signals[i], &sa, NULL);
  }
}

/* A free slot for `name`, or -1 with errno set; under the lock. */
static int
guard_slot(const char *name)
{
  int slot = -1;

  for (int i = 0; i < GUARD_SLOTS; i++) {
    if (!atomic_load(&guards[i].live)) {
      if (slot < 0)
        slot = i;
    } else if (strcmp(guards[i].name, name) == 0) {
      errno = EEXIST;
      return -1;
    }
  }
  if (slot < 0)
    errno = ENOSPC;
  return slot;
}

int
tmpfile_guard(int dirfd, const char *name)
{
  if (strlen(name) >= PATH_MAX) {
    errno = ENAMETOOLONG;
    return -1;
  }
  pthread_mutex_lock(&guard_lock);
  int slot = guard_slot(name);
  int dir = slot < 0 || dirfd == AT_FDCWD ? dirfd : fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
  if (slot >= 0 && dir != -1) {
    if (!guard_installed)
      guard_install();
    guards[slot].dir = dir;
    strcpy(guards[slot].name, name);
    atomic_store(&guards[slot].live, 1);
  }
  pthread_mutex_unlock(&guard_lock);
  return slot >= 0 && dir != -1 ? 0 : -1;
}

void
tmpfile_unguard(const char *name, bool remove)
{
  pthread_mutex_lock(&guard_lock);
  for (int i = 0; i < GUARD_SLOTS; i++) {
    if (!atomic_load(&guards[i].live) || strcmp(guards[i].name, name) != 0)
      continue;
    if (remove)
      unlinkat(guards[i].dir, guards[i].name, 0);
    atomic_store(&guards[i].live, 0);
    if (guards[i].dir >= 0)
      close(guards[i].dir);
    break;
  }
  pthread_mutex_unlock(&guard_lock);
}
