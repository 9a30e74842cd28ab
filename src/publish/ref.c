/* Image references as skopeo's docker transport reads them, held to the
 * distribution spec's grammar (its reference package): a host, a path of
 * lower-case components, then a tag or a digest.  Docker Hub's short forms
 * are made whole as docker and skopeo make them. */
#include "publish/ref.h"
#include "image/escape.h"
#include "lib/alloc.h"
#include "lib/error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define TRANSPORT "docker://"
/* The spec's bound on a name, host included. */
#define NAME_MAX_BYTES 255
#define TAG_MAX_BYTES 128
#define DOCKER_HUB "docker.io"
/* Docker Hub's name and the host its API answers on are two names. */
#define DOCKER_HUB_API "registry-1.docker.io"
#define DOCKER_HUB_LEGACY "index.docker.io"

static int bad(const char *text, struct derror *err, const char *fmt, ...) DISTILL_PRINTF(3, 4);

/* "`TEXT`: what is wrong".  The text is shown escaped: it may have come
 * from a script or a file and must not reach the terminal as controls. */
static int
bad(const char *text, struct derror *err, const char *fmt, ...)
{
  va_list ap;
  cleanup_free char *shown = escape_text(text);

  va_start(ap, fmt);
  cleanup_free char *why = xvasprintf(fmt, ap);
  va_end(ap);
  return derror_set(err, "`%s`: %s", shown, why);
}

/* `n` bytes of `s`, escaped, for a message. */
static char *
shown(const char *s, size_t n)
{
  cleanup_free char *part = xstrndup(s, n);
  return escape_text(part);
}

static bool
is_lower_alnum(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_alnum(char c)
{
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool
is_hex(char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* What is wrong with one component of a repository, NULL when nothing:
 * [a-z0-9]+ joined by '.', '_', "__" or any number of '-'. */
static const char *
component_error(const char *c, size_t n)
{
  if (n == 0)
    return "has an empty component";
  for (size_t i = 0; i < n;) {
    if (is_lower_alnum(c[i])) {
      i++;
      continue;
    }
    if (c[i] >= 'A' && c[i] <= 'Z')
      return "has upper case: a repository is lower case";
    size_t run = strspn(c + i, "._-");
    if (run == 0)
      return "has a character other than a-z, 0-9, '.', '_', '-' and '/'";
    if (run > n - i)
      run = n - i;
    if (i == 0 || i + run == n)
      return "has a component that begins or ends with '.', '_' or '-'";
    bool dashes = strspn(c + i, "-") >= run;
    if (!dashes && !(run == 1 || (run == 2 && c[i] == '_' && c[i + 1] == '_')))
      return "has separators together other than \"__\" or '-'s";
    i += run;
  }
  return NULL;
}

static int
check_repo(const char *text, const char *repo, size_t n, struct derror *err)
{
  if (n == 0)
    return bad(text, err, "no repository");
  for (size_t i = 0; i <= n;) {
    size_t len = strcspn(repo + i, "/");
    if (len > n - i)
      len = n - i;
    const char *why = component_error(repo + i, len);
    if (why) {
      cleanup_free char *r = shown(repo, n);
      return bad(text, err, "the repository `%s` %s", r, why);
    }
    i += len + 1;
  }
  return 0;
}

/* The port after a host: digits, 1 to 65535. */
static int
check_port(const char *text, const char *p, size_t n, struct derror *err)
{
  unsigned long v = 0;

  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') {
      cleanup_free char *s = shown(p, n);
      return bad(text, err, "the port `%s` is not a number", s);
    }
    if (v <= 65535)
      v = v * 10 + (unsigned long) (p[i] - '0');
  }
  if (n == 0)
    return bad(text, err, "no port after the host's ':'");
  if (v < 1 || v > 65535) {
    cleanup_free char *s = shown(p, n);
    return bad(text, err, "the port %s is not one of 1 to 65535", s);
  }
  return 0;
}

/* A host name's labels (letters, digits, '-' inside) joined by '.', or an
 * IPv6 address in brackets. */
static bool
host_name_valid(const char *h, size_t n)
{
  if (n >= 2 && h[0] == '[') {
    if (h[n - 1] != ']')
      return false;
    for (size_t i = 1; i < n - 1; i++)
      if (!is_hex(h[i]) && h[i] != ':' && h[i] != '.')
        return false;
    return n > 2;
  }
  for (size_t i = 0; i < n;) {
    size_t len = 0;
    while (i + len < n && h[i + len] != '.')
      len++;
    if (len == 0 || !is_alnum(h[i]) || !is_alnum(h[i + len - 1]))
      return false;
    for (size_t k = i; k < i + len; k++)
      if (!is_alnum(h[k]) && h[k] != '-')
        return false;
    i += len + 1;
    if (i == n)
      return false; /* a trailing '.' */
  }
  return n > 0;
}

/* The host, as written but in lower case: names are not case-sensitive,
 * and one spelling keeps the credentials' keys and the messages the same. */
static int
parse_host(const char *text, const char *h, size_t n, struct image_ref *ref, struct derror *err)
{
  const char *close = n > 0 && h[0] == '[' ? memchr(h, ']', n) : NULL;
  const char *colon = memchr(close ? close : h, ':', n - (size_t) ((close ? close : h) - h));
  size_t name_len = colon ? (size_t) (colon - h) : n;

  if (!host_name_valid(h, name_len)) {
    cleanup_free char *s = shown(h, name_len);
    return bad(text, err, "the host `%s` is not a host name or an address", s);
  }
  if (colon && check_port(text, colon + 1, n - name_len - 1, err) < 0)
    return -1;
  ref->host = xstrndup(h, n);
  for (char *p = ref->host; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char) (*p - 'A' + 'a');
  if (strcmp(ref->host, DOCKER_HUB_LEGACY) == 0) {
    free(ref->host);
    ref->host = xstrdup(DOCKER_HUB);
  }
  return 0;
}

static int
check_tag(const char *text, const char *tag, struct derror *err)
{
  size_t n = strlen(tag);

  if (n == 0)
    return bad(text, err, "an empty tag after ':'");
  if (n > TAG_MAX_BYTES)
    return bad(text, err, "a tag of %zu bytes, more than %d", n, TAG_MAX_BYTES);
  cleanup_free char *s = escape_text(tag);
  if (tag[0] == '.' || tag[0] == '-')
    return bad(text, err, "the tag `%s` begins with '%c'", s, tag[0]);
  for (size_t i = 0; i < n; i++)
    if (!is_alnum(tag[i]) && tag[i] != '_' && tag[i] != '.' && tag[i] != '-')
      return bad(text, err, "the tag `%s` has a character other than A-Z, a-z, 0-9, '_', '.' and '-'", s);
  return 0;
}

static int
check_digest(const char *text, const char *digest, struct derror *err)
{
  cleanup_free char *s = escape_text(digest);

  if (strncmp(digest, "sha256:", strlen("sha256:")) != 0)
    return bad(text, err, "the digest `%s` is not sha256:<64 hex digits> (sha256 is the one algorithm taken)", s);
  const char *hex = digest + strlen("sha256:");
  size_t n = strlen(hex);
  for (size_t i = 0; i < n; i++)
    if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
      return bad(text, err, "the digest `%s` has a character that is no lower-case hex digit", s);
  if (n != 64)
    return bad(text, err, "the digest `%s` has %zu hex digits, not 64", s, n);
  return 0;
}

/* The first component is a host when a name could not be Docker Hub's:
 * it has '.' or ':' or is localhost (docker's rule, which skopeo keeps).
 * Without one the name is Docker Hub's, whose official images are under
 * library/. */
static int
parse_name(const char *text, const char *name, size_t n, struct image_ref *ref, struct derror *err)
{
  const char *slash = memchr(name, '/', n);
  size_t first = slash ? (size_t) (slash - name) : n;
  bool has_host = slash && (memchr(name, '.', first) || memchr(name, ':', first)
                            || (first == strlen("localhost") && strncmp(name, "localhost", first) == 0));

  if (has_host) {
    if (parse_host(text, name, first, ref, err) < 0)
      return -1;
    name += first + 1;
    n -= first + 1;
  } else {
    ref->host = xstrdup(DOCKER_HUB);
  }
  if (check_repo(text, name, n, err) < 0)
    return -1;
  bool hub = strcmp(ref->host, DOCKER_HUB) == 0;
  ref->repo = hub && !memchr(name, '/', n) ? xasprintf("library/%.*s", (int) n, name) : xstrndup(name, n);
  ref->api = xstrdup(hub ? DOCKER_HUB_API : ref->host);
  size_t total = strlen(ref->host) + 1 + strlen(ref->repo);
  if (total > NAME_MAX_BYTES)
    return bad(text, err, "a name of %zu bytes with its host, more than %d", total, NAME_MAX_BYTES);
  return 0;
}

/* NAME[:TAG][@DIGEST]: '@' cannot be in a name or a tag, and a tag's ':'
 * is the one after the last '/' (the one before is a port's). */
static int
parse_ref(const char *text, struct image_ref *ref, struct derror *err)
{
  const char *rest = text + strlen(TRANSPORT), *at = strchr(rest, '@');
  size_t name_len = at ? (size_t) (at - rest) : strlen(rest);
  const char *slash = memrchr(rest, '/', name_len);
  const char *colon = memrchr(slash ? slash : rest, ':', name_len - (size_t) ((slash ? slash : rest) - rest));

  if (at) {
    ref->digest = xstrdup(at + 1);
    if (check_digest(text, ref->digest, err) < 0)
      return -1;
  }
  if (colon) {
    ref->tag = xstrndup(colon + 1, name_len - (size_t) (colon + 1 - rest));
    if (check_tag(text, ref->tag, err) < 0)
      return -1;
    name_len = (size_t) (colon - rest);
  }
  /* skopeo's docker transport refuses both, as a tag would go unused */
  if (ref->tag && ref->digest)
    return bad(text, err, "both a tag and a digest: give one");
  if (parse_name(text, rest, name_len, ref, err) < 0)
    return -1;
  if (ref->tag == NULL && ref->digest == NULL)
    ref->tag = xstrdup("latest");
  return 0;
}

int
image_ref_parse(const char *text, struct image_ref *ref, struct derror *err)
{
  memset(ref, 0, sizeof *ref);
  if (strncmp(text, TRANSPORT, strlen(TRANSPORT)) != 0) {
    const char *sep = strstr(text, "://");
    if (sep)
      return bad(text, err, "the transport is not docker://: an image is pushed to a registry");
    return bad(text, err, "no docker:// transport: write docker://HOST[:PORT]/REPO[:TAG]");
  }
  if (parse_ref(text, ref, err) < 0) {
    image_ref_free(ref);
    return -1;
  }
  return 0;
}

void
image_ref_free(struct image_ref *ref)
{
  free(ref->host);
  free(ref->api);
  free(ref->repo);
  free(ref->tag);
  free(ref->digest);
  memset(ref, 0, sizeof *ref);
}

char *
image_ref_name(const struct image_ref *ref)
{
  return xasprintf("%s/%s", ref->host, ref->repo);
}
