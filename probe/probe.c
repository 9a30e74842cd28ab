/* The health probe distill puts in an image whose recipe asks for
 * `healthcheck: {http: URL}` or `{tcp: PORT}`: an image has no shell and
 * no curl, so the engine runs this instead.
 *
 *   probe [-t MILLISECONDS] http://HOST[:PORT][/PATH]
 *   probe [-t MILLISECONDS] tcp://HOST:PORT
 *
 * Exit 0 when the service answers (tcp: the connection is accepted; http:
 * an HTTP/1.x status 2xx or 3xx to a GET), 1 otherwise, and 1 when the
 * whole exchange takes longer than the timeout (default 3000 ms): Docker
 * reserves 2.  HOST is an IPv4 address, an IPv6 one in brackets, or
 * localhost (127.0.0.1, then ::1): the image has no resolver to ask, so
 * no name is looked up.
 *
 * Freestanding: no libc, its own _start and raw system calls, so that it is
 * a few KB, static, with no loader, and the same bytes in every image of a
 * platform.  The time limit is one budget handed to every ppoll, which
 * writes back what is left of it. */
#include <asm/unistd.h>

typedef unsigned long size_t;

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_NONBLOCK 04000
#define SOCK_CLOEXEC 02000000
#define SOL_SOCKET 1
#define SO_ERROR 4
#define POLLIN 1
#define POLLOUT 4
#define EINTR 4
#define EAGAIN 11
#define EINPROGRESS 115

struct timespec_k {
  long sec, nsec; /* the kernel's timespec of this ABI's ppoll */
};

struct pollfd_k {
  int fd;
  short events, revents;
};

/* ---- system calls ------------------------------------------------------ */

#if defined(__x86_64__)
static long
sys5(long n, long a, long b, long c, long d, long e)
{
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
  return ret;
}
__asm__(".text\n.global _start\n_start:\n\txor %ebp, %ebp\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n"
        "\tcall start_c\n\thlt\n");
#elif defined(__aarch64__)
static long
sys5(long n, long a, long b, long c, long d, long e)
{
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
  return x0;
}
__asm__(".text\n.global _start\n_start:\n\tmov x29, #0\n\tmov x30, #0\n\tmov x0, sp\n\tbl start_c\n");
#elif defined(__i386__)
static long
sys5(long n, long a, long b, long c, long d, long e)
{
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(n), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e) : "memory");
  return ret;
}
__asm__(".text\n.global _start\n_start:\n\txor %ebp, %ebp\n\tmov %esp, %eax\n\tand $-16, %esp\n"
        "\tsub $12, %esp\n\tpush %eax\n\tcall start_c\n\thlt\n");
#elif defined(__arm__)
static long
sys5(long n, long a, long b, long c, long d, long e)
{
  register long r7 __asm__("r7") = n;
  register long r0 __asm__("r0") = a;
  register long r1 __asm__("r1") = b;
  register long r2 __asm__("r2") = c;
  register long r3 __asm__("r3") = d;
  register long r4 __asm__("r4") = e;
  __asm__ volatile("svc 0" : "+r"(r0) : "r"(r7), "r"(r1), "r"(r2), "r"(r3), "r"(r4) : "memory");
  return r0;
}
__asm__(".text\n.arm\n.global _start\n.type _start, %function\n_start:\n\tmov fp, #0\n\tmov lr, #0\n"
        "\tmov r0, sp\n\tbic sp, sp, #7\n\tbl start_c\n");
#else
#error "the probe has no system calls for this architecture (x86_64, aarch64, i386, arm)"
#endif

/* A freestanding program must bring the four functions the compiler may
 * call for its own block moves, fills and compares, whatever the code
 * says (gcc for 32-bit ARM zeroes a struct of the probe's with memset;
 * another compiler or version may copy one with memcpy).  Each goes
 * through volatile pointers, so that its loop is not taken for the very
 * function and turned into a call to itself. */
void *memset(void *to, int c, size_t n);
void *memcpy(void *restrict to, const void *restrict from, size_t n);
void *memmove(void *to, const void *from, size_t n);
int memcmp(const void *a, const void *b, size_t n);

void *
memset(void *to, int c, size_t n)
{
  volatile unsigned char *d = to;

  while (n--)
    *d++ = (unsigned char) c;
  return to;
}

void *
memmove(void *to, const void *from, size_t n)
{
  volatile unsigned char *d = to;
  const volatile unsigned char *f = from;

  if ((unsigned long) d < (unsigned long) f)
    while (n--)
      *d++ = *f++;
  else
    while (n--)
      d[n] = f[n];
  return to;
}

void *
memcpy(void *restrict to, const void *restrict from, size_t n)
{
  return memmove(to, from, n);
}

int
memcmp(const void *a, const void *b, size_t n)
{
  const volatile unsigned char *x = a, *y = b;

  for (; n; n--, x++, y++)
    if (*x != *y)
      return *x < *y ? -1 : 1;
  return 0;
}

#define sys1(n, a) sys5(n, (long) (a), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys5(n, (long) (a), (long) (b), (long) (c), 0, 0)

static void
say(const char *s)
{
  size_t n = 0;

  while (s[n])
    n++;
  sys3(__NR_write, 2, s, n);
}

static int
fail(const char *a, const char *b)
{
  say("probe: ");
  say(a);
  say(b);
  say("\n");
  return 1;
}

/* ---- the address --------------------------------------------------------- */

struct target {
  unsigned char addr[28]; /* a sockaddr_in or sockaddr_in6, built bytewise */
  int len;
  int family;
};

/* A decimal number of at most `max` from *s on, advancing *s; -1 when none. */
static long
number(const char **s, long max)
{
  long v = 0;
  const char *p = *s;

  if (*p < '0' || *p > '9')
    return -1;
  while (*p >= '0' && *p <= '9') {
    v = v * 10 + (*p++ - '0');
    if (v > max)
      return -1;
  }
  *s = p;
  return v;
}

static int
parse_ipv4(const char **s, unsigned char out[4])
{
  for (int i = 0; i < 4; i++) {
    long v = number(s, 255);
    if (v < 0 || (i < 3 && *(*s)++ != '.'))
      return -1;
    out[i] = (unsigned char) v;
  }
  return 0;
}

static int
hex(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* An IPv6 address up to `end` (the ']'): groups of up to 4 hex digits, one
 * "::" at most, an IPv4 address for the last 32 bits if you like. */
static int
parse_ipv6(const char *s, const char *end, unsigned char out[16])
{
  unsigned char tail[16];
  int n = 0, gap = -1;

  if (s[0] == ':' && s[1] == ':') {
    gap = 0;
    s += 2;
  }
  while (s < end) {
    const char *p = s;
    unsigned v = 0;
    int d;
    while (p < end && (d = hex(*p)) >= 0 && p - s < 4)
      v = v * 16 + (unsigned) d, p++;
    if (p < end && *p == '.' && n <= 12) {
      if (parse_ipv4(&s, tail + n) < 0 || s != end)
        return -1;
      n += 4;
      break;
    }
    if (p == s || n > 14)
      return -1;
    tail[n++] = (unsigned char) (v >> 8);
    tail[n++] = (unsigned char) v;
    s = p;
    if (s < end && *s++ != ':')
      return -1;
    if (s < end && *s == ':' && gap < 0) {
      gap = n;
      s++;
    } else if (s == end && s[-1] == ':') {
      return -1;
    }
  }
  if ((gap < 0 && n != 16) || (gap >= 0 && n > 14))
    return -1;
  for (int i = 0; i < 16; i++)
    out[i] = 0;
  for (int i = 0; i < n; i++)
    out[gap < 0 || i < gap ? i : 16 - (n - i)] = tail[i];
  return 0;
}

static void
target_set(struct target *t, int family, const unsigned char *ip, unsigned port)
{
  for (int i = 0; i < 28; i++)
    t->addr[i] = 0;
  t->family = family;
  t->addr[0] = (unsigned char) family; /* sa_family: little-endian on every target here */
  t->addr[2] = (unsigned char) (port >> 8);
  t->addr[3] = (unsigned char) port;
  if (family == AF_INET) {
    for (int i = 0; i < 4; i++)
      t->addr[4 + i] = ip[i];
    t->len = 16;
  } else {
    for (int i = 0; i < 16; i++)
      t->addr[8 + i] = ip[i];
    t->len = 28;
  }
}

static int
starts(const char *s, const char *prefix)
{
  while (*prefix)
    if (*s++ != *prefix++)
      return 0;
  return 1;
}

/* ---- the exchange ------------------------------------------------------- */

/* Wait for `events` on fd within what is left of the budget: 1 ready, 0
 * out of time, -1 an error. */
static int
wait_for(int fd, short events, struct timespec_k *left)
{
  for (;;) {
    struct pollfd_k p = { fd, events, 0 };
    long r = sys5(__NR_ppoll, (long) &p, 1, (long) left, 0, 8);
    if (r == -EINTR)
      continue;
    return r < 0 ? -1 : r > 0;
  }
}

/* A connected socket, or -1 having said why. */
static int
connect_to(const struct target *t, const char *shown, struct timespec_k *left)
{
  int fd = (int) sys3(__NR_socket, t->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int soerr = 0, len = sizeof soerr, w;
  long r;

  if (fd < 0)
    return fail("socket: ", "cannot make one"), -1;
  r = sys3(__NR_connect, fd, t->addr, t->len);
  if (r == -EINPROGRESS) {
    if ((w = wait_for(fd, POLLOUT, left)) <= 0) {
      sys1(__NR_close, fd);
      return fail(shown, w == 0 ? ": timed out connecting" : ": poll failed"), -1;
    }
    r = sys5(__NR_getsockopt, fd, SOL_SOCKET, SO_ERROR, (long) &soerr, (long) &len);
    r = r < 0 ? r : -soerr;
  }
  if (r < 0) {
    sys1(__NR_close, fd);
    return fail(shown, r == -111 ? ": connection refused" : ": cannot connect"), -1;
  }
  return fd;
}

static int
send_all(int fd, const char *s, size_t n, struct timespec_k *left)
{
  while (n > 0) {
    long r = sys3(__NR_write, fd, s, n);
    if (r == -EAGAIN || r == -EINTR) {
      if (wait_for(fd, POLLOUT, left) <= 0)
        return -1;
      continue;
    }
    if (r <= 0)
      return -1;
    s += r;
    n -= (size_t) r;
  }
  return 0;
}

/* Read until the status line is complete: "HTTP/1.x NNN ...\r\n". */
static int
http_status(int fd, struct timespec_k *left)
{
  char buf[64];
  size_t n = 0;

  while (n < sizeof buf) {
    long r = sys3(__NR_read, fd, buf + n, sizeof buf - n);
    if (r == -EAGAIN || r == -EINTR) {
      int w = wait_for(fd, POLLIN, left);
      if (w <= 0)
        return fail("no answer", w == 0 ? " within the timeout" : ": poll failed");
      continue;
    }
    if (r <= 0)
      break;
    n += (size_t) r;
    if (n >= 12)
      break;
  }
  if (n < 12 || !starts(buf, "HTTP/1.") || buf[8] != ' ')
    return fail("the answer is not HTTP/1.x", "");
  const char *p = buf + 9;
  long status = number(&p, 999);
  if (status < 100 || p != buf + 12)
    return fail("the answer has no status code", "");
  if (status >= 200 && status < 400)
    return 0;
  buf[12] = '\0';
  return fail("status ", buf + 9);
}

static size_t
append(char *buf, size_t at, size_t cap, const char *s, const char *end)
{
  while ((end ? s < end : *s != '\0') && at < cap)
    buf[at++] = *s++;
  return at;
}

static int
http_get(int fd, const char *host, const char *path, struct timespec_k *left)
{
  char req[2048];
  size_t n = 0, cap = sizeof req;
  const char *hend = host;

  while (*hend && *hend != '/')
    hend++;
  n = append(req, n, cap, "GET ", 0);
  n = append(req, n, cap, *path ? path : "/", 0);
  n = append(req, n, cap, " HTTP/1.0\r\nHost: ", 0);
  n = append(req, n, cap, host, hend);
  n = append(req, n, cap, "\r\nUser-Agent: distill-probe\r\nConnection: close\r\n\r\n", 0);
  if (n == cap)
    return fail("the request is too long", "");
  if (send_all(fd, req, n, left) < 0)
    return fail("the request could not be sent", "");
  return http_status(fd, left);
}

/* ---- the URL -------------------------------------------------------------- */

struct url {
  int http;
  const char *host;  /* from the host on: "127.0.0.1:8080/healthz" */
  const char *path;  /* "/healthz", or "" */
  unsigned char ip[16];
  int family, localhost;
  unsigned port;
};

static int
parse_host(const char **s, struct url *u)
{
  const char *p = *s;

  if (*p == '[') {
    const char *end = p + 1;
    while (*end && *end != ']')
      end++;
    if (*end != ']' || parse_ipv6(p + 1, end, u->ip) < 0)
      return -1;
    u->family = AF_INET6;
    *s = end + 1;
    return 0;
  }
  if (starts(p, "localhost") && (p[9] == ':' || p[9] == '/' || p[9] == '\0')) {
    u->localhost = 1;
    u->family = AF_INET;
    u->ip[0] = 127, u->ip[3] = 1;
    *s = p + 9;
    return 0;
  }
  u->family = AF_INET;
  return parse_ipv4(s, u->ip);
}

static int
parse_url(const char *s, struct url *u)
{
  long port = 80;

  if (starts(s, "http://"))
    u->http = 1, s += 7;
  else if (starts(s, "tcp://"))
    s += 6;
  else
    return -1;
  u->host = s;
  if (parse_host(&s, u) < 0)
    return -1;
  if (*s == ':') {
    s++;
    if ((port = number(&s, 65535)) < 1)
      return -1;
  } else if (!u->http) {
    return -1;
  }
  u->port = (unsigned) port;
  if (*s != '\0' && (!u->http || *s != '/'))
    return -1;
  u->path = s;
  for (; *s; s++)
    if ((unsigned char) *s <= ' ' || *s == 0x7f)
      return -1;
  return 0;
}

static int
probe(const struct url *u, const char *shown, struct timespec_k *left)
{
  static const unsigned char loopback6[16] = { [15] = 1 };
  struct target t;
  int fd, ret;

  target_set(&t, u->family, u->ip, u->port);
  fd = connect_to(&t, shown, left);
  if (fd < 0 && u->localhost) {
    target_set(&t, AF_INET6, loopback6, u->port);
    fd = connect_to(&t, shown, left);
  }
  if (fd < 0)
    return 1;
  ret = u->http ? http_get(fd, u->host, u->path, left) : 0;
  sys1(__NR_close, fd);
  return ret;
}

static int
run(int argc, char **argv)
{
  struct timespec_k left = { 3, 0 };
  struct url u = { 0 };
  int i = 1;

  if (argc > 2 && argv[1][0] == '-' && argv[1][1] == 't' && argv[1][2] == '\0') {
    const char *p = argv[2];
    long ms = number(&p, 86400000);
    if (ms < 1 || *p)
      return fail("-t: not a number of milliseconds: ", argv[2]);
    /* no division: 32-bit ARM would need libgcc's */
    for (left.sec = 0; ms >= 1000; ms -= 1000)
      left.sec++;
    left.nsec = ms * 1000000;
    i = 3;
  }
  if (argc != i + 1)
    return fail("usage: probe [-t MILLISECONDS] http://HOST[:PORT][/PATH] | tcp://HOST:PORT", "");
  if (parse_url(argv[i], &u) < 0)
    return fail("not a URL the probe takes (an IP address or localhost, no names): ", argv[i]);
  return probe(&u, argv[i], &left);
}

__attribute__((noreturn, used)) void start_c(long *sp);

void
start_c(long *sp)
{
  int status = run((int) sp[0], (char **) (sp + 1));

  for (;;)
    sys1(__NR_exit_group, status);
}
