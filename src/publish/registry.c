#include "publish/registry.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/file.h"
#include "publish/auth.h"
#include "publish/http.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define ATTEMPTS 5
#define RETRY_AFTER_MAX 60 /* seconds: a longer Retry-After is waited this long */

struct registry {
  CURL *curl;
  char *host, *repo, *base; /* base: "https://HOST" or "http://HOST" */
  struct registry_options o;
  struct http_tls tls;
  struct registry_creds creds; /* username NULL: none */
  enum { ASKS_NOTHING, ASKS_BASIC, ASKS_BEARER } asks;
  char *token;
  struct auth_challenge challenge;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_start(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *
registry_host(const struct registry *r)
{
  return r->host;
}

void
registry_response_free(struct registry_response *resp)
{
  free(resp->location);
  free(resp->digest);
  free(resp->content_type);
  free(resp->range);
  buf_free(&resp->body);
  memset(resp, 0, sizeof *resp);
}

/* The URL of `target`: a path from the host, or a Location, absolute or
 * not. */
static char *
target_url(const struct registry *r, const char *target)
{
  if (strncmp(target, "https://", 8) == 0 || strncmp(target, "http://", 7) == 0)
    return xstrdup(target);
  return xasprintf("%s%s%s", r->base, target[0] == '/' ? "" : "/", target);
}

/* ---- credentials ------------------------------------------------------ */

static char *
basic_header(const struct registry_creds *c)
{
  cleanup_free char *plain = xasprintf("%s:%s", c->username, c->password ? c->password : "");
  size_t n = strlen(plain);
  char *enc = xmalloc(4 * ((n + 2) / 3) + 1);

  EVP_EncodeBlock((unsigned char *) enc, (const unsigned char *) plain, (int) n);
  char *h = xasprintf("Authorization: Basic %s", enc);
  free(enc);
  return h;
}

static bool
have_creds(const struct registry *r)
{
  return r->creds.username != NULL || r->creds.identity_token != NULL;
}

/* The credentials for this registry, looked up once; a note (a helper
 * named, not run) is said with -v. */
static int
find_creds(struct registry *r, struct derror *err)
{
  if (have_creds(r))
    return 0;
  int found = auth_lookup(r->o.authfile, r->host, r->repo, &r->creds, err);
  if (found < 0)
    return -1;
  if (found == 0 && err->msg) {
    if (r->o.verbose)
      fprintf(stderr, "distill: %s\n", err->msg);
    derror_clear(err);
  }
  return 0;
}

/* scope=...: this repository's, and the one blobs are mounted from. */
static char *
scope_query(struct registry *r, const char *scope)
{
  char *mine = curl_easy_escape(r->curl, scope, 0);
  char *q;

  if (r->o.from) {
    cleanup_free char *other = xasprintf("repository:%s:pull", r->o.from);
    char *theirs = curl_easy_escape(r->curl, other, 0);
    q = xasprintf("scope=%s&scope=%s", mine, theirs);
    curl_free(theirs);
  } else {
    q = xasprintf("scope=%s", mine);
  }
  curl_free(mine);
  return q;
}

/* A bearer token from the challenge's realm (the distribution spec's
 * token flow): asked with Basic credentials when there are some, or by
 * OAuth2 with an identity token, else anonymously. */
static int
fetch_token(struct registry *r, struct derror *err)
{
  const struct auth_challenge *ch = &r->challenge;
  cleanup_free char *scope = xasprintf("repository:%s:%s", r->repo, r->o.pull_only ? "pull" : "pull,push");
  cleanup_free char *sq = scope_query(r, ch->scope && !r->o.from ? ch->scope : scope);
  char *service = curl_easy_escape(r->curl, ch->service ? ch->service : "", 0);
  cleanup_free char *url = xasprintf("%s%cservice=%s&%s", ch->realm, strchr(ch->realm, '?') ? '&' : '?', service, sq);
  cleanup_free char *auth = r->creds.username ? basic_header(&r->creds) : NULL;
  struct curl_slist *headers = auth ? curl_slist_append(NULL, auth) : NULL;
  struct registry_response resp = { 0 };
  struct http_seen seen = { 0 };
  json_error_t jerr;
  int ret = -1;

  curl_free(service);
  CURLcode c = http_perform(r->curl, &r->tls, "GET", url, NULL, headers, &resp, &seen);
  curl_slist_free_all(headers);
  if (c != CURLE_OK) {
    cleanup_free char *why = http_error(c, &seen);
    derror_set(err, "registry %s: its token service `%s`: %s", r->host, ch->realm, why);
  } else if (resp.status != 200) {
    derror_set(err, "registry %s: its token service `%s` answered %ld%s", r->host, ch->realm, resp.status,
               resp.status == 401 ? ": the credentials were refused (UNAUTHORIZED)" : "");
  } else {
    cleanup_json json_t *j = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, &jerr);
    const char *tok = json_string_value(json_object_get(j, "token"));
    if (tok == NULL || !*tok)
      tok = json_string_value(json_object_get(j, "access_token"));
    if (tok == NULL || !*tok) {
      derror_set(err, "registry %s: its token service `%s` sent no token", r->host, ch->realm);
    } else {
      free(r->token);
      r->token = xstrdup(tok);
      ret = 0;
    }
  }
  http_seen_free(&seen);
  registry_response_free(&resp);
  return ret;
}

/* What a 401 asked for: Basic (credentials needed) or a token. */
static int
answer_challenge(struct registry *r, const char *value, struct derror *err)
{
  auth_challenge_free(&r->challenge);
  if (value == NULL)
    return derror_set(err, "registry %s: 401 without a WWW-Authenticate challenge", r->host);
  if (auth_challenge_parse(value, &r->challenge, err) < 0)
    return derror_wrap(err, "registry %s", r->host);
  if (find_creds(r, err) < 0)
    return -1;
  r->asks = r->challenge.bearer ? ASKS_BEARER : ASKS_BASIC;
  if (r->asks == ASKS_BEARER)
    return fetch_token(r, err);
  if (!have_creds(r))
    return derror_set(err, "registry %s: credentials are required and none are known for it (--authfile, "
                           "$REGISTRY_AUTH_FILE, containers' auth.json or ~/.docker/config.json)", r->host);
  return 0;
}

static struct curl_slist *
request_headers(const struct registry *r, const struct registry_body *body, const char *accept)
{
  struct curl_slist *h = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
  char *line;

  if (r->asks == ASKS_BEARER && r->token) {
    line = xasprintf("Authorization: Bearer %s", r->token);
    h = curl_slist_append(h, line);
    free(line);
  } else if (r->asks == ASKS_BASIC && r->creds.username) {
    line = basic_header(&r->creds);
    h = curl_slist_append(h, line);
    free(line);
  }
  if (accept) {
    line = xasprintf("Accept: %s", accept);
    h = curl_slist_append(h, line);
    free(line);
  }
  if (body && body->content_type) {
    line = xasprintf("Content-Type: %s", body->content_type);
    h = curl_slist_append(h, line);
    free(line);
  }
  if (body && body->content_range) {
    line = xasprintf("Content-Range: %s", body->content_range);
    h = curl_slist_append(h, line);
    free(line);
  }
  return h;
}

/* ---- requests, tried again ------------------------------------------ */

static bool
transient(CURLcode c)
{
  return c == CURLE_SEND_ERROR || c == CURLE_RECV_ERROR || c == CURLE_GOT_NOTHING || c == CURLE_PARTIAL_FILE
         || c == CURLE_SEND_FAIL_REWIND
         || c == CURLE_OPERATION_TIMEDOUT || c == CURLE_HTTP2 || c == CURLE_HTTP2_STREAM;
}

/* Seconds to wait before attempt `n` (from 1): Retry-After when the
 * registry said, at most RETRY_AFTER_MAX; else 0.5 s doubled each time. */
static double
backoff(int n, const char *retry_after)
{
  if (retry_after) {
    char *end;
    long s = strtol(retry_after, &end, 10);
    if (end == retry_after) { /* an HTTP date */
      time_t at = curl_getdate(retry_after, NULL);
      s = at < 0 ? 1 : (long) (at - time(NULL));
    }
    return s < 0 ? 0 : s > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : (double) s;
  }
  return 0.5 * (double) (1 << (n - 1));
}

static void
wait_seconds(double s)
{
  struct timespec ts = { (time_t) s, (long) ((s - (double) (time_t) s) * 1e9) };
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

int
registry_request(struct registry *r, const char *method, const char *target, const struct registry_body *body,
                 const char *accept, struct registry_response *resp, struct derror *err)
{
  cleanup_free char *url = target_url(r, target);
  bool asked_again = false;

  for (int attempt = 1;; attempt++) {
    struct curl_slist *headers = request_headers(r, body, accept);
    struct http_seen seen = { 0 };
    registry_response_free(resp);
    if (body && body->sink)
      body->sink->reset(body->sink->data);
    CURLcode c = http_perform(r->curl, &r->tls, method, url, body, headers, resp, &seen);
    curl_slist_free_all(headers);
    bool again = c != CURLE_OK ? transient(c)
                               : resp->status == 429 || resp->status == 500 || resp->status == 502
                                   || resp->status == 503 || resp->status == 504;
    if (c == CURLE_OK && resp->status == 401 && !asked_again) {
      /* a token expired, or the registry asks now what it did not ask */
      asked_again = true;
      int a = answer_challenge(r, seen.authenticate, err);
      http_seen_free(&seen);
      if (a < 0)
        return -1;
      attempt--;
      continue;
    }
    if (!again || attempt == ATTEMPTS) {
      cleanup_free char *why = c != CURLE_OK ? http_error(c, &seen) : NULL;
      http_seen_free(&seen);
      if (c != CURLE_OK)
        return derror_set(err, "registry %s: %s %s: %s", r->host, method, target, why);
      return 0;
    }
    double s = backoff(attempt, c == CURLE_OK ? seen.retry_after : NULL);
    if (r->o.verbose)
      fprintf(stderr, "distill: registry %s: %s %s: %s; again in %.1f s\n", r->host, method, target,
              c != CURLE_OK ? curl_easy_strerror(c) : resp->status == 429 ? "429 too many requests" : "server error",
              s);
    http_seen_free(&seen);
    wait_seconds(s);
  }
}

int
registry_error(struct registry *r, const char *method, const char *target, const struct registry_response *resp,
               struct derror *err)
{
  json_error_t jerr;
  cleanup_json json_t *j = resp->body.len ? json_loadb(resp->body.data, resp->body.len, 0, &jerr) : NULL;
  json_t *first = json_array_get(json_object_get(j, "errors"), 0);
  const char *code = json_string_value(json_object_get(first, "code"));
  const char *message = json_string_value(json_object_get(first, "message"));

  if (resp->status == 401 && code == NULL)
    code = "UNAUTHORIZED";
  if (resp->status == 401)
    message = r->creds.username ? "the registry refused the credentials" : "no credentials are known for it";
  cleanup_free char *from = r->creds.file && resp->status == 401 ? xasprintf(" of `%s`", r->creds.file) : NULL;
  if (code)
    return derror_set(err, "registry %s: %s %s: %ld %s%s%s%s", r->host, method, target, resp->status, code,
                      message ? ": " : "", message ? message : "", from ? from : "");
  return derror_set(err, "registry %s: %s %s: %ld", r->host, method, target, resp->status);
}

/* ---- the session ---------------------------------------------------- */

/* With --tls-verify=false, plain HTTP when HTTPS finds no TLS server
 * there (a connection that fails otherwise fails again in the ping). */
static void
choose_scheme(struct registry *r)
{
  struct registry_response resp = { 0 };
  struct http_seen seen = { 0 };
  struct curl_slist *headers = curl_slist_append(NULL, "Expect:");
  cleanup_free char *url = xasprintf("%s/v2/", r->base);
  CURLcode c = http_perform(r->curl, &r->tls, "GET", url, NULL, headers, &resp, &seen);

  if (c == CURLE_SSL_CONNECT_ERROR || c == CURLE_RECV_ERROR || c == CURLE_GOT_NOTHING
      || c == CURLE_WEIRD_SERVER_REPLY) {
    free(r->base);
    r->base = xasprintf("http://%s", r->host);
  }
  curl_slist_free_all(headers);
  http_seen_free(&seen);
  registry_response_free(&resp);
}

/* GET /v2/, tried again as any request is: the registry is there, speaks
 * the API, and says whether and how it wants credentials (answered then
 * by registry_request). */
static int
ping(struct registry *r, struct derror *err)
{
  struct registry_response resp = { 0 };
  int ret;

  if (r->o.insecure)
    choose_scheme(r);
  ret = registry_request(r, "GET", "/v2/", NULL, NULL, &resp, err);
  if (ret == 0 && resp.status == 404)
    ret = derror_set(err, "registry %s: GET /v2/ answered 404: not an OCI distribution registry", r->host);
  else if (ret == 0 && resp.status != 200)
    ret = registry_error(r, "GET", "/v2/", &resp, err);
  registry_response_free(&resp);
  return ret;
}

struct registry *
registry_open(const struct image_ref *ref, const struct registry_options *o, struct derror *err)
{
  struct registry *r = xcalloc(1, sizeof *r);

  pthread_once(&curl_once, curl_start);
  r->o = *o;
  r->host = xstrdup(ref->api);
  r->repo = xstrdup(ref->repo);
  r->base = xasprintf("https://%s", r->host);
  r->curl = curl_easy_init();
  if (r->curl == NULL) {
    derror_set(err, "registry %s: libcurl could not start", r->host);
    registry_close(r);
    return NULL;
  }
  r->tls.insecure = o->insecure;
  if ((o->cert_dir && http_tls_load(&r->tls, o->cert_dir, err) < 0) || ping(r, err) < 0) {
    registry_close(r);
    return NULL;
  }
  return r;
}

static char *
dup_or_null(const char *s)
{
  return s ? xstrdup(s) : NULL;
}

struct registry *
registry_clone(const struct registry *r)
{
  struct registry *c = xcalloc(1, sizeof *c);

  c->curl = curl_easy_init();
  if (c->curl == NULL) {
    free(c);
    return NULL;
  }
  c->host = xstrdup(r->host);
  c->repo = xstrdup(r->repo);
  c->base = xstrdup(r->base);
  c->o = r->o;
  c->tls.insecure = r->tls.insecure;
  if (r->tls.ca.len)
    buf_append(&c->tls.ca, r->tls.ca.data, r->tls.ca.len);
  c->tls.cert = dup_or_null(r->tls.cert);
  c->tls.key = dup_or_null(r->tls.key);
  c->creds.username = dup_or_null(r->creds.username);
  c->creds.password = dup_or_null(r->creds.password);
  c->creds.identity_token = dup_or_null(r->creds.identity_token);
  c->creds.file = dup_or_null(r->creds.file);
  c->asks = r->asks;
  c->token = dup_or_null(r->token);
  c->challenge.bearer = r->challenge.bearer;
  c->challenge.realm = dup_or_null(r->challenge.realm);
  c->challenge.service = dup_or_null(r->challenge.service);
  c->challenge.scope = dup_or_null(r->challenge.scope);
  return c;
}

void
registry_close(struct registry *r)
{
  if (r == NULL)
    return;
  if (r->curl)
    curl_easy_cleanup(r->curl);
  free(r->host);
  free(r->repo);
  free(r->base);
  http_tls_free(&r->tls);
  registry_creds_free(&r->creds);
  free(r->token);
  auth_challenge_free(&r->challenge);
  free(r);
}
