/* A small HTTP service for the example: answers every GET on port 8080
 * (or $PORT) with a line naming the user it runs as, one connection at a
 * time, and stops cleanly on SIGTERM. It writes nothing to disk, so it runs
 * on a read-only root filesystem. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void
on_term(int sig)
{
  (void) sig;
  stopping = 1;
}

int
main(void)
{
  const char *port_env = getenv("PORT");
  int port = port_env ? atoi(port_env) : 8080;
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
  struct sigaction sa = { .sa_handler = on_term };
  int one = 1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0
      || bind(fd, (struct sockaddr *) &addr, sizeof addr) < 0 || listen(fd, 16) < 0) {
    fprintf(stderr, "server: port %d: %s\n", port, strerror(errno));
    return 1;
  }
  fprintf(stderr, "server: listening on %d as uid %d\n", port, (int) getuid());
  while (!stopping) {
    char req[2048], body[128], resp[512];
    int c = accept(fd, NULL, NULL);
    if (c < 0)
      continue; /* EINTR on SIGTERM: the loop ends */
    ssize_t n = read(c, req, sizeof req - 1);
    if (n > 0) {
      int len = snprintf(body, sizeof body, "hello from distill, uid %d\n", (int) getuid());
      int r = snprintf(resp, sizeof resp,
                       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                       "Connection: close\r\n\r\n%s",
                       len, body);
      if (write(c, resp, (size_t) r) < 0)
        fprintf(stderr, "server: write: %s\n", strerror(errno));
    }
    close(c);
  }
  close(fd);
  return 0;
}
