/* Registry credentials from the auth files skopeo, podman and docker
 * write, found as containers/image finds them (pkg/docker/config), and the
 * challenges of RFC 7235 a registry answers with.  No credential helper is
 * ever run: a file that keeps the host's credentials in one gets a note. */
#include "publish/auth.h"
#include "image/escape.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/error.h"
#include "lib/file.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* An auth file holds a few keys; a larger one is no auth file. */
#define AUTH_FILE_MAX (1u << 20)
#define DOCKER_HUB "docker.io"

/* An environment variable, NULL when unset or empty (the XDG rule: an
 * empty one counts as unset). */
static const char *
env(const char *name)
{
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* The files of containers-auth.json(5), in its order; one without $HOME
 * to place it is left out. */
static void
auth_paths(struct strv *out)
{
  const char *home = env("HOME"), *e;

  if ((e = env("REGISTRY_AUTH_FILE")))
    strv_push(out, e);
  if ((e = env("XDG_RUNTIME_DIR")))
    strv_push_take(out, xasprintf("%s/containers/auth.json", e));
  if ((e = env("XDG_CONFIG_HOME")))
    strv_push_take(out, xasprintf("%s/containers/auth.json", e));
  else if (home)
    strv_push_take(out, xasprintf("%s/.config/containers/auth.json", home));
  if ((e = env("DOCKER_CONFIG")))
    strv_push_take(out, xasprintf("%s/config.json", e));
  else if (home)
    strv_push_take(out, xasprintf("%s/.docker/config.json", home));
}

static bool
host_is(const char *s, size_t n, const char *host)
{
  return strlen(host) == n && strncasecmp(s, host, n) == 0;
}

/* The names docker and its files have given Docker Hub's registry. */
static bool
hub_alias(const char *s, size_t n)
{
  return host_is(s, n, DOCKER_HUB) || host_is(s, n, "index.docker.io") || host_is(s, n, "registry-1.docker.io");
}

/* How well a key of "auths" names `host` and `repo`: 0 not at all; 1 by
 * a URL (docker's "https://index.docker.io/v1/", podman's old
 * "https://HOST") or another of Docker Hub's names; 2 by the host; 3 and
 * more by a namespace of the host that `repo` is in, whole components,
 * the longer the better (containers-auth.json(5)). */
static size_t
key_score(const char *key, const char *host, const char *repo)
{
  bool hub = strcmp(host, DOCKER_HUB) == 0, url = false;

  if (strncmp(key, "https://", 8) == 0 || strncmp(key, "http://", 7) == 0) {
    key = strstr(key, "://") + 3;
    url = true;
  }
  size_t n = strcspn(key, "/");
  const char *path = key[n] == '/' ? key + n + 1 : NULL;
  if (url)
    return (host_is(key, n, host) || (hub && hub_alias(key, n))) ? 1 : 0;
  if (path == NULL)
    return host_is(key, n, host) ? 2 : hub && hub_alias(key, n) ? 1 : 0;
  size_t plen = strlen(path);
  if (!host_is(key, n, host) || repo == NULL || plen == 0 || strncmp(repo, path, plen) != 0
      || (repo[plen] != '\0' && repo[plen] != '/'))
    return 0;
  return 3 + plen;
}

static int
base64_value(char c)
{
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const char *at = c ? strchr(alphabet, c) : NULL;
  return at ? (int) (at - alphabet) : -1;
}

/* Standard base64 (RFC 4648, section 4), padded as docker writes it and
 * as containers/image requires; NULL when `s` is not that. */
static char *
base64_decode(const char *s, size_t *len)
{
  size_t n = strlen(s), o = 0;
  cleanup_free char *out = xmalloc(n / 4 * 3 + 1);

  if (n == 0 || n % 4 != 0)
    return NULL;
  for (size_t i = 0; i < n; i += 4) {
    uint32_t w = 0;
    unsigned pad = 0;
    for (size_t k = 0; k < 4; k++) {
      int v = base64_value(s[i + k]);
      /* '=' only at the end, in the last two places of the last four */
      if (s[i + k] == '=' && i + 4 == n && k >= 2 && (k == 3 || s[i + 3] == '='))
        pad++;
      else if (v < 0 || pad)
        return NULL;
      w = w << 6 | (uint32_t) (v < 0 ? 0 : v);
    }
    out[o++] = (char) (w >> 16);
    if (pad < 2)
      out[o++] = (char) (w >> 8 & 0xff);
    if (pad < 1)
      out[o++] = (char) (w & 0xff);
  }
  out[o] = '\0';
  *len = o;
  return steal_pointer(&out);
}

/* The entry's "auth", base64 of "user:password", and "identitytoken".
 * Nothing of the decoded text goes into a message: it is the secret. */
static int
decode_entry(const char *path, const char *key, json_t *entry, struct registry_creds *out, struct derror *err)
{
  const char *auth = json_string_value(json_object_get(entry, "auth"));
  const char *token = json_string_value(json_object_get(entry, "identitytoken"));
  cleanup_free char *place = escape_text(key);

  if (auth && *auth) {
    size_t len;
    cleanup_free char *plain = base64_decode(auth, &len);
    char *colon = plain ? memchr(plain, ':', len) : NULL;
    if (plain == NULL)
      return derror_set(err, "`%s`: auths.\"%s\".auth is not base64", path, place);
    if (colon == NULL || colon == plain || strlen(plain) != len)
      return derror_set(err, "`%s`: auths.\"%s\".auth is not base64 of \"user:password\"%s", path, place,
                        colon == plain ? " (an empty user name)"
                        : strlen(plain) != len ? " (a NUL byte in it)"
                                               : " (no ':' in it)");
    *colon = '\0';
    out->username = xstrdup(plain);
    out->password = xstrdup(colon + 1);
  }
  if (token && *token)
    out->identity_token = xstrdup(token);
  out->file = xstrdup(path);
  return 0;
}

/* An entry of "auths" that holds something: docker writes "HOST": {}
 * when a helper keeps the credentials, and such an entry is passed over
 * as containers/image passes over it. */
static int
entry_usable(const char *path, const char *key, json_t *entry, struct derror *err)
{
  json_t *auth = json_object_get(entry, "auth"), *token = json_object_get(entry, "identitytoken");
  cleanup_free char *place = escape_text(key);

  if (!json_is_object(entry))
    return derror_set(err, "`%s`: auths.\"%s\" is not an object", path, place);
  if (auth && !json_is_string(auth))
    return derror_set(err, "`%s`: auths.\"%s\".auth is not a string", path, place);
  if (token && !json_is_string(token))
    return derror_set(err, "`%s`: auths.\"%s\".identitytoken is not a string", path, place);
  return (auth && *json_string_value(auth)) || (token && *json_string_value(token));
}

/* The best entry for the host in "auths" in `*best`, by key_score(); the
 * first of equals, in the file's order; NULL when none. */
static int
best_entry(const char *path, json_t *auths, const char *host, const char *repo, json_t **best,
           const char **best_key, struct derror *err)
{
  const char *key;
  json_t *entry;
  size_t best_score = 0;

  *best = NULL;
  json_object_foreach (auths, key, entry) {
    size_t score = key_score(key, host, repo);
    if (score <= best_score)
      continue;
    int usable = entry_usable(path, key, entry, err);
    if (usable < 0)
      return -1;
    if (usable) {
      *best = entry;
      best_score = score;
      *best_key = key;
    }
  }
  return 0;
}

/* The note for a file that keeps the host's credentials in a helper
 * ("credHelpers" for the host, or "credsStore" for every host), NULL when
 * it does not. */
static char *
helper_note(const char *path, json_t *doc, const char *host, const char *repo)
{
  const char *key, *helper = NULL, *field = "credHelpers";
  json_t *v;

  json_object_foreach (json_object_get(doc, "credHelpers"), key, v)
    if (key_score(key, host, repo) > 0 && json_string_value(v) && *json_string_value(v)) {
      helper = json_string_value(v);
      break;
    }
  if (helper == NULL) {
    helper = json_string_value(json_object_get(doc, "credsStore"));
    field = "credsStore";
  }
  if (helper == NULL || *helper == '\0')
    return NULL;
  cleanup_free char *shown = escape_text(helper);
  return xasprintf("`%s`: the credentials for %s are kept by docker-credential-%s (\"%s\"), which distill does not "
                   "run: log in with podman login or skopeo login, or give --authfile",
                   path, host, shown, field);
}

/* jansson's message without its " near '...'": what it quotes of an auth
 * file may be a piece of a credential. */
static int
not_json(const char *path, const json_error_t *je, struct derror *err)
{
  const char *near = strstr(je->text, " near ");
  int n = near ? (int) (near - je->text) : (int) strlen(je->text);

  return derror_set(err, "`%s`:%d:%d: not JSON: %.*s", path, je->line, je->column, n, je->text);
}

/* 1 with `out` filled, 0 when the file has no entry for the host (`*note`
 * set when it has a helper for it and none was set before), -1 on error:
 * DERROR_NOT_FOUND when the file does not exist. */
static int
lookup_file(const char *path, const char *host, const char *repo, struct registry_creds *out, char **note,
            struct derror *err)
{
  struct buf b = { 0 };
  json_error_t je;
  const char *key = NULL;

  if (read_file(path, AUTH_FILE_MAX, &b, err) < 0) {
    buf_free(&b);
    return -1;
  }
  cleanup_json json_t *doc = json_loadb(b.data, b.len, 0, &je);
  buf_free(&b);
  if (doc == NULL)
    return not_json(path, &je, err);
  json_t *auths = json_object_get(doc, "auths");
  if (!json_is_object(doc) || (auths && !json_is_object(auths)))
    return derror_set(err, "`%s`: not an auth file: %s", path,
                      !json_is_object(doc) ? "not a JSON object" : "\"auths\" is not an object");
  json_t *entry;
  if (best_entry(path, auths, host, repo, &entry, &key, err) < 0)
    return -1;
  if (entry) {
    if (decode_entry(path, key, entry, out, err) < 0) {
      registry_creds_free(out);
      return -1;
    }
    return 1;
  }
  if (*note == NULL)
    *note = helper_note(path, doc, host, repo);
  return 0;
}

int
auth_lookup(const char *authfile, const char *host, const char *repo, struct registry_creds *out,
            struct derror *err)
{
  struct strv paths = { 0 };
  cleanup_free char *note = NULL;
  int r = 0;

  memset(out, 0, sizeof *out);
  if (authfile)
    strv_push(&paths, authfile);
  else
    auth_paths(&paths);
  for (size_t i = 0; i < paths.n && r == 0; i++) {
    r = lookup_file(paths.items[i], host, repo, out, &note, err);
    /* the files of the search may be missing; --authfile may not */
    if (r < 0 && authfile == NULL && derror_is(err, DERROR_NOT_FOUND)) {
      derror_clear(err);
      r = 0;
    }
  }
  strv_free(&paths);
  if (r == 0 && note)
    derror_set(err, "%s", note);
  return r;
}

void
registry_creds_free(struct registry_creds *c)
{
  free(c->username);
  free(c->password);
  free(c->identity_token);
  free(c->file);
  memset(c, 0, sizeof *c);
}

/* WWW-Authenticate (RFC 7235, section 4.1): 1#challenge, a challenge an
 * auth-scheme then a token68 or #auth-param.  Commas part both challenges
 * and parameters: a token followed by '=' and a value is a parameter, any
 * other token begins the next challenge. */
struct challenge_parse {
  const char *value, *p;
  struct auth_challenge *c;
  bool taking; /* the parameters read are the chosen challenge's */
  bool found;  /* a Basic or Bearer challenge was seen */
  struct strv schemes;
  struct derror *err;
};

static int bad_value(struct challenge_parse *st, const char *fmt, ...) DISTILL_PRINTF(2, 3);

/* The value comes from the server: it is shown escaped. */
static int
bad_value(struct challenge_parse *st, const char *fmt, ...)
{
  va_list ap;
  cleanup_free char *shown = escape_text(st->value);

  va_start(ap, fmt);
  cleanup_free char *why = xvasprintf(fmt, ap);
  va_end(ap);
  return derror_set(st->err, "WWW-Authenticate `%s`: %s (at byte %zu)", shown, why, (size_t) (st->p - st->value));
}

static bool
is_tchar(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
         || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static size_t
token_len(const char *p)
{
  size_t n = 0;
  while (is_tchar(p[n]))
    n++;
  return n;
}

static const char *
skip_ows(const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* At a token: is it a parameter's name, "=" and the start of a value
 * after it?  ("abc==" is a token68.) */
static bool
param_at(const char *p)
{
  size_t n = token_len(p);
  const char *q = skip_ows(p + n);

  if (n == 0 || *q != '=')
    return false;
  q = skip_ows(q + 1);
  return *q == '"' || is_tchar(*q);
}

/* A quoted-string from the '"' at st->p, quoted-pairs undone. */
static char *
quoted_string(struct challenge_parse *st)
{
  struct buf b = { 0 };

  buf_append(&b, "", 0);
  for (st->p++; *st->p != '"'; st->p++) {
    if (*st->p == '\\' && st->p[1] != '\0')
      st->p++;
    unsigned char ch = (unsigned char) *st->p;
    if (ch == '\0' || (ch < 0x20 && ch != '\t') || ch == 0x7f) {
      buf_free(&b);
      bad_value(st, ch ? "a control character in a quoted string" : "a quoted string without its closing '\"'");
      return NULL;
    }
    buf_append(&b, &ch, 1);
  }
  st->p++;
  return b.data;
}

/* Where the chosen challenge keeps a parameter, NULL for one it does not
 * keep. */
static char **
param_slot(struct auth_challenge *c, const char *name, size_t n)
{
  return n == 5 && strncasecmp(name, "realm", 5) == 0     ? &c->realm
         : n == 7 && strncasecmp(name, "service", 7) == 0 ? &c->service
         : n == 5 && strncasecmp(name, "scope", 5) == 0   ? &c->scope
                                                          : NULL;
}

static int
parse_param(struct challenge_parse *st)
{
  const char *name = st->p;
  size_t n = token_len(name);
  char *v;

  st->p = skip_ows(skip_ows(name + n) + 1);
  if (*st->p == '"') {
    if ((v = quoted_string(st)) == NULL)
      return -1;
  } else {
    size_t vn = token_len(st->p);
    v = xstrndup(st->p, vn);
    st->p += vn;
  }
  char **slot = st->taking ? param_slot(st->c, name, n) : NULL;
  if (slot && *slot) {
    free(v);
    return bad_value(st, "the parameter %.*s given twice", (int) n, name);
  }
  if (slot)
    *slot = v;
  else
    free(v);
  return 0;
}

/* A scheme, then maybe a token68 (kept by no scheme taken here) or the
 * first parameter, which the caller's loop reads. */
static int
parse_scheme(struct challenge_parse *st)
{
  const char *scheme = st->p;
  size_t n = token_len(scheme);
  bool basic = n == 5 && strncasecmp(scheme, "basic", 5) == 0;
  bool bearer = n == 6 && strncasecmp(scheme, "bearer", 6) == 0;

  strv_push_take(&st->schemes, xstrndup(scheme, n));
  st->taking = !st->found && (basic || bearer);
  if (st->taking) {
    st->found = true;
    st->c->bearer = bearer;
  }
  st->p = skip_ows(st->p + n);
  if (*st->p == ',' || *st->p == '\0' || param_at(st->p))
    return 0;
  size_t t = strspn(st->p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/");
  if (t == 0)
    return bad_value(st, "neither a token68 nor a parameter after the scheme %.*s", (int) n, scheme);
  st->p += t + strspn(st->p + t, "=");
  return 0;
}

static int
parse_challenges(struct challenge_parse *st)
{
  bool after_param = false;

  for (;;) {
    st->p = skip_ows(st->p);
    if (*st->p == '\0')
      return 0;
    if (*st->p == ',') {
      st->p++;
      after_param = false;
      continue;
    }
    if (after_param)
      return bad_value(st, "no ',' before the next challenge or parameter");
    if (token_len(st->p) == 0)
      return bad_value(st, "a character that begins no scheme and no parameter");
    if (!param_at(st->p)) {
      if (parse_scheme(st) < 0)
        return -1;
      after_param = !param_at(skip_ows(st->p));
      continue;
    }
    if (st->schemes.n == 0)
      return bad_value(st, "a parameter before any scheme");
    if (parse_param(st) < 0)
      return -1;
    after_param = true;
  }
}

int
auth_challenge_parse(const char *value, struct auth_challenge *c, struct derror *err)
{
  struct challenge_parse st = { .value = value, .p = value, .c = c, .err = err };
  int r = 0;

  memset(c, 0, sizeof *c);
  if (parse_challenges(&st) < 0) {
    r = -1;
  } else if (!st.found) {
    cleanup_free char *schemes = NULL;
    for (size_t i = 0; i < st.schemes.n; i++) {
      char *s = xasprintf("%s%s%s", schemes ? schemes : "", i ? ", " : "", st.schemes.items[i]);
      free(schemes);
      schemes = s;
    }
    st.p = value + strlen(value);
    r = st.schemes.n ? bad_value(&st, "no Basic or Bearer challenge, only %s", schemes)
                     : bad_value(&st, "no challenge");
  } else if (c->bearer && (c->realm == NULL || *c->realm == '\0')) {
    st.p = value + strlen(value);
    r = bad_value(&st, "a Bearer challenge without a realm to ask for a token");
  }
  strv_free(&st.schemes);
  if (r < 0)
    auth_challenge_free(c);
  return r;
}

void
auth_challenge_free(struct auth_challenge *c)
{
  free(c->realm);
  free(c->service);
  free(c->scope);
  memset(c, 0, sizeof *c);
}
