/* A small service-like program: greets, says who it runs as, and shows that
 * the image's files are not its to change. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
  const char *name = argc > 1 ? argv[1] : "world";
  int fd = open("/usr/local/bin/hello", O_WRONLY);

  printf("hello, %s: uid %d, gid %d\n", name, (int) getuid(), (int) getgid());
  printf("writing my own binary: %s\n", fd < 0 ? strerror(errno) : "allowed (this should not happen)");
  return 0;
}
