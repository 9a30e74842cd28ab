/* One exchange with a registry: see http.h. */
#include "config.h"
#include "publish/http.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/file.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CA_MAX (4u << 20)

void
http_seen_free(struct http_seen *h)
{
  free(h->authenticate);
  free(h->retry_after);
  memset(h, 0, sizeof *h);
}

char *
http_error(CURLcode c, const struct http_seen *seen)
{
  const char *hint = "";

  if (c == CURLE_PEER_FAILED_VERIFICATION || c == CURLE_SSL_CACERT_BADFILE)
    hint = " (trust its CA with --cert-dir DIR holding it as ca.crt)";
  if (seen->error[0] == '\0' || strstr(seen->error, curl_easy_strerror(c)))
    return xasprintf("%s%s", seen->error[0] ? seen->error : curl_easy_strerror(c), hint);
  return xasprintf("%s (%s)%s", seen->error, curl_easy_strerror(c), hint);
}

void
http_tls_free(struct http_tls *t)
{
  buf_free(&t->ca);
  free(t->cert);
  free(t->key);
  memset(t, 0, sizeof *t);
}

static bool
ends_with(const char *s, const char *tail)
{
  size_t n = strlen(s), t = strlen(tail);
  return n > t && strcmp(s + n - t, tail) == 0;
}

int
http_tls_load(struct http_tls *t, const char *dir, struct derror *err)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  int ret = 0;

  if (d == NULL)
    return derror_errno(err, errno, "--cert-dir `%s`", dir);
  while (ret == 0 && (de = readdir(d)) != NULL) {
    cleanup_free char *path = xasprintf("%s/%s", dir, de->d_name);
    if (ends_with(de->d_name, ".crt")) {
      ret = read_file(path, CA_MAX, &t->ca, err);
      buf_append(&t->ca, "\n", 1);
    } else if (ends_with(de->d_name, ".cert")) {
      size_t stem = strlen(path) - strlen(".cert");
      cleanup_free char *key = xasprintf("%.*s.key", (int) stem, path);
      if (access(key, R_OK) < 0)
        ret = derror_errno(err, errno, "--cert-dir `%s`: `%s` has no key `%s`", dir, de->d_name, key);
      else if (t->cert)
        ret = derror_set(err, "--cert-dir `%s`: more than one client certificate (*.cert)", dir);
      else {
        t->cert = xstrdup(path);
        t->key = steal_pointer(&key);
      }
    }
  }
  closedir(d);
  return ret;
}

struct exchange {
  CURL *curl;
  const struct registry_body *body;
  uint64_t sent;
  struct registry_response *resp;
};

static size_t
on_read(char *out, size_t size, size_t n, void *data)
{
  struct exchange *x = data;
  const struct registry_body *b = x->body;
  size_t want = size * n;

  if (want > b->size - x->sent)
    want = (size_t) (b->size - x->sent);
  if (want == 0)
    return 0;
  if (b->fd < 0) {
    memcpy(out, (const char *) b->data + x->sent, want);
  } else {
    ssize_t got = pread(b->fd, out, want, (off_t) (b->offset + x->sent));
    if (got <= 0)
      return CURL_READFUNC_ABORT;
    want = (size_t) got;
  }
  x->sent += want;
  return want;
}

/* libcurl sends a request again on a new connection when the old one
 * was closed under it: the body from its start. */
static int
on_seek(void *data, curl_off_t offset, int origin)
{
  struct exchange *x = data;

  if (origin != SEEK_SET || offset < 0 || (uint64_t) offset > x->body->size)
    return CURL_SEEKFUNC_CANTSEEK;
  x->sent = (uint64_t) offset;
  return CURL_SEEKFUNC_OK;
}

static size_t
on_write(char *data, size_t size, size_t n, void *p)
{
  struct exchange *x = p;
  size_t len = size * n;
  long status = 0;

  if (x->body && x->body->sink && curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK
      && status == 200)
    return x->body->sink->write(x->body->sink->data, data, len) == 0 ? len : 0;
  if (x->resp->body.len < REGISTRY_BODY_MAX)
    buf_append(&x->resp->body, data, len < REGISTRY_BODY_MAX - x->resp->body.len ? len : REGISTRY_BODY_MAX - x->resp->body.len);
  return len;
}

/* `name: value` into `*slot` when the line is that header. */
static void
header_value(const char *line, size_t len, const char *name, char **slot)
{
  size_t n = strlen(name);

  if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
    return;
  const char *v = line + n + 1, *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
    end--;
  free(*slot);
  *slot = xstrndup(v, (size_t) (end - v));
}

struct header_sink {
  struct exchange *x;
  struct http_seen *h;
};

static size_t
on_header(char *line, size_t size, size_t n, void *p)
{
  struct header_sink *s = p;
  struct registry_response *resp = s->x->resp;
  size_t len = size * n;

  if (len > 5 && strncmp(line, "HTTP/", 5) == 0) { /* a response begins: forget an earlier one's */
    struct buf keep = resp->body;
    free(resp->location);
    free(resp->digest);
    free(resp->content_type);
    free(resp->range);
    memset(resp, 0, sizeof *resp);
    resp->body = keep;
    http_seen_free(s->h);
    return len;
  }
  header_value(line, len, "Location", &resp->location);
  header_value(line, len, "Docker-Content-Digest", &resp->digest);
  header_value(line, len, "Content-Type", &resp->content_type);
  header_value(line, len, "Range", &resp->range);
  header_value(line, len, "WWW-Authenticate", &s->h->authenticate);
  header_value(line, len, "Retry-After", &s->h->retry_after);
  return len;
}

static void
set_tls(CURL *curl, const struct http_tls *t)
{
  if (t->insecure) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (t->ca.len) {
    struct curl_blob blob = { t->ca.data, t->ca.len, CURL_BLOB_COPY };
    curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
  }
  if (t->cert) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, t->cert);
    curl_easy_setopt(curl, CURLOPT_SSLKEY, t->key);
  }
}

CURLcode
http_perform(CURL *curl, const struct http_tls *tls, const char *method, const char *url,
             const struct registry_body *body, struct curl_slist *headers, struct registry_response *resp,
             struct http_seen *seen)
{
  struct exchange x = { curl, body, 0, resp };
  struct header_sink sink = { &x, seen };
  bool head = strcmp(method, "HEAD") == 0;

  registry_response_free(resp);
  http_seen_free(seen);
  curl_easy_reset(curl);
  set_tls(curl, tls);
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, seen->error);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
  /* a connection that stalls for a minute is dead: tried again */
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "distill/" DISTILL_VERSION);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
  if (head) {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (strcmp(method, "GET") == 0) {
    /* blobs may be served from elsewhere; curl drops credentials there */
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  } else {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &x);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &x);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t) (body ? body->size : 0));
  }
  CURLcode c = curl_easy_perform(curl);
  if (c == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_off_t len = 0;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    resp->length = len > 0 ? (uint64_t) len : 0;
  }
  return c;
}
