/* One HTTP exchange with a registry over libcurl: the request's body sent
 * from memory or a file range, the headers a registry client needs, TLS
 * as containers-certs.d(5) sets it.  registry.c makes sessions of them. */
#ifndef DISTILL_PUBLISH_HTTP_H
#define DISTILL_PUBLISH_HTTP_H

#include "lib/alloc.h"
#include "lib/error.h"
#include "publish/registry.h"

#include <curl/curl.h>
#include <stdbool.h>

struct http_tls {
  bool insecure;     /* no verification of the server */
  struct buf ca;     /* extra CA roots, PEM; the system's stay */
  char *cert, *key;  /* a client certificate, or NULL */
};

/* DIR/ *.crt are CA roots added to the system's, DIR/NAME.cert with
 * DIR/NAME.key a client certificate (one). */
int http_tls_load(struct http_tls *t, const char *dir, struct derror *err);
void http_tls_free(struct http_tls *t);

/* Headers a client acts on that the response does not keep, and what
 * libcurl said of a failure. */
struct http_seen {
  char *authenticate, *retry_after;
  char error[CURL_ERROR_SIZE];
};
/* "Failed to connect to ... (Couldn't connect to server)": the details
 * when libcurl gave some, with a hint for what a user can do. */
char *http_error(CURLcode c, const struct http_seen *seen);
void http_seen_free(struct http_seen *h);

/* `method` on `url` with `headers`; `resp` (cleared first) and `seen`
 * filled from the last response (after redirects, which only GET
 * follows). */
CURLcode http_perform(CURL *curl, const struct http_tls *tls, const char *method, const char *url,
                      const struct registry_body *body, struct curl_slist *headers, struct registry_response *resp,
                      struct http_seen *seen);

#endif
