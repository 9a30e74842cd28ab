/* The simple signing payload: see simplesign.h. */
#include "publish/simplesign.h"
#include "lib/cleanup.h"
#include "lib/digest.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

/* Length of the UTF-8 sequence at `s` (of `n` bytes), 0 when invalid:
 * overlong forms, surrogates and values past U+10FFFF are invalid, as Go
 * reads them. */
static size_t
utf8_len(const unsigned char *s, size_t n, unsigned *cp)
{
  size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
  static const unsigned min[] = { 0, 0, 0x80, 0x800, 0x10000 };

  if (len == 0 || len > n)
    return 0;
  *cp = len == 1 ? s[0] : s[0] & (0x7f >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    *cp = *cp << 6 | (s[i] & 0x3f);
  }
  if (*cp < min[len] || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
    return 0;
  return len;
}

/* `s` as Go's encoding/json writes a string: \" \\ \b \f \n \r \t, other
 * controls as \u00XX, and <, >, &, U+2028 and U+2029 escaped as \uXXXX
 * (its HTML-safe default).  -1 on bytes that are not UTF-8, which Go
 * would replace. */
static int
go_string(struct buf *b, const char *s)
{
  const unsigned char *p = (const unsigned char *) s;
  size_t n = strlen(s);

  buf_append(b, "\"", 1);
  for (size_t i = 0; i < n;) {
    unsigned cp;
    size_t len = utf8_len(p + i, n - i, &cp);
    const char *short_esc = cp == '"' ? "\\\"" : cp == '\\' ? "\\\\" : cp == '\b' ? "\\b" : cp == '\f' ? "\\f"
                            : cp == '\n' ? "\\n" : cp == '\r' ? "\\r" : cp == '\t' ? "\\t" : NULL;
    if (len == 0)
      return -1;
    if (short_esc)
      buf_append(b, short_esc, 2);
    else if (cp < 0x20 || cp == '<' || cp == '>' || cp == '&' || cp == 0x2028 || cp == 0x2029)
      buf_printf(b, "\\u%04x", cp);
    else
      buf_append(b, p + i, len);
    i += len;
  }
  buf_append(b, "\"", 1);
  return 0;
}

/* Key of "KEY=VALUE" compared bytewise, as Go sorts a map's keys. */
static int
key_cmp(const char *a, const char *b)
{
  size_t la = strcspn(a, "="), lb = strcspn(b, "=");
  int c = memcmp(a, b, la < lb ? la : lb);

  return c ? c : (la > lb) - (la < lb);
}

/* The annotations sorted by key, the last of each key kept. */
static void
sorted_annotations(const struct strv *in, struct strv *out)
{
  for (size_t i = 0; in && i < in->n; i++) {
    size_t at = 0;
    while (at < out->n && key_cmp(out->items[at], in->items[i]) < 0)
      at++;
    if (at < out->n && key_cmp(out->items[at], in->items[i]) == 0) {
      free(out->items[at]);
      out->items[at] = xstrdup(in->items[i]);
      continue;
    }
    strv_push(out, in->items[i]);
    char *added = out->items[out->n - 1];
    memmove(out->items + at + 1, out->items + at, (out->n - 1 - at) * sizeof *out->items);
    out->items[at] = added;
  }
}

static int
optional(struct buf *b, const struct strv *annotations, struct derror *err)
{
  struct strv sorted = { 0 };
  int r = 0;

  sorted_annotations(annotations, &sorted);
  if (sorted.n == 0)
    buf_append(b, "null", 4);
  for (size_t i = 0; r == 0 && i < sorted.n; i++) {
    const char *eq = strchr(sorted.items[i], '=');
    if (eq == NULL || eq == sorted.items[i]) {
      r = derror_set(err, "annotation `%s`: not KEY=VALUE", sorted.items[i]);
      break;
    }
    cleanup_free char *key = xstrndup(sorted.items[i], (size_t) (eq - sorted.items[i]));
    buf_append(b, i == 0 ? "{" : ",", 1);
    if (go_string(b, key) < 0 || (buf_append(b, ":", 1), go_string(b, eq + 1)) < 0)
      r = derror_set(err, "annotation `%s`: not UTF-8", sorted.items[i]);
  }
  if (sorted.n)
    buf_append(b, "}", 1);
  strv_free(&sorted);
  return r;
}

int
simplesign_payload(const char *identity, const char *digest, const struct strv *annotations, struct buf *out,
                   struct derror *err)
{
  static const char head[] = "{\"critical\":{\"identity\":{\"docker-reference\":";

  buf_append(out, head, sizeof head - 1);
  if (go_string(out, identity) < 0)
    return derror_set(err, "the reference `%s` is not UTF-8", identity);
  buf_printf(out, "},\"image\":{\"docker-manifest-digest\":\"%s\"},\"type\":\"%s\"},\"optional\":", digest,
             SIMPLESIGN_TYPE);
  if (optional(out, annotations, err) < 0)
    return -1;
  buf_append(out, "}", 1);
  return 0;
}

char *
simplesign_identity(const struct image_ref *ref)
{
  return xasprintf("%s/%s", strcmp(ref->host, "docker.io") == 0 ? "index.docker.io" : ref->host, ref->repo);
}

/* `s` starts with `prefix`, then ends or goes on with ':' or '@'. */
static bool
names(const char *s, const char *prefix)
{
  size_t n = strlen(prefix);
  return strncmp(s, prefix, n) == 0 && (s[n] == '\0' || s[n] == ':' || s[n] == '@');
}

bool
simplesign_identity_matches(const char *claimed, const struct image_ref *ref)
{
  cleanup_free char *mine = xasprintf("%s/%s", ref->host, ref->repo);
  cleanup_free char *hub = xasprintf("index.docker.io/%s", ref->repo);
  bool docker_io = strcmp(ref->host, "docker.io") == 0;

  return names(claimed, mine) || (docker_io && (names(claimed, hub) || names(claimed, ref->repo)));
}

/* obj[key] as Go's decoder finds it: the exact key, else one equal but
 * for case. */
static json_t *
get(json_t *obj, const char *key)
{
  json_t *v = json_object_get(obj, key);
  const char *k;
  json_t *any;

  if (v || !json_is_object(obj))
    return v;
  json_object_foreach (obj, k, any)
    if (strcasecmp(k, key) == 0)
      return any;
  return NULL;
}

int
simplesign_parse(const void *data, size_t n, struct simplesign_claims *c, struct derror *err)
{
  json_error_t jerr;
  cleanup_json json_t *j = json_loadb(data, n, JSON_REJECT_DUPLICATES, &jerr);
  json_t *critical = get(j, "critical");
  const char *type = json_string_value(get(critical, "type"));
  const char *identity = json_string_value(get(get(critical, "identity"), "docker-reference"));
  const char *digest = json_string_value(get(get(critical, "image"), "docker-manifest-digest"));

  memset(c, 0, sizeof *c);
  if (j == NULL)
    return derror_set(err, "the payload is not JSON: line %d: %s", jerr.line, jerr.text);
  if (!json_is_object(critical))
    return derror_set(err, "the payload has no \"critical\" object");
  if (type == NULL || strcmp(type, SIMPLESIGN_TYPE) != 0)
    return derror_set(err, "the payload's critical.type is %s%s%s, not \"%s\"", type ? "\"" : "",
                      type ? type : "missing", type ? "\"" : "", SIMPLESIGN_TYPE);
  if (identity == NULL || digest == NULL)
    return derror_set(err, "the payload has no critical.%s", identity ? "image.docker-manifest-digest"
                                                                     : "identity.docker-reference");
  c->identity = xstrdup(identity);
  c->digest = xstrdup(digest);
  return 0;
}

void
simplesign_claims_free(struct simplesign_claims *c)
{
  free(c->identity);
  free(c->digest);
  memset(c, 0, sizeof *c);
}

char *
base64_encode(const void *data, size_t n)
{
  char *out = xmalloc(4 * ((n + 2) / 3) + 1);
  EVP_EncodeBlock((unsigned char *) out, data, (int) n);
  return out;
}

int
base64_decode(const char *text, struct buf *out)
{
  size_t n = strlen(text), pad = 0;

  if (n == 0 || n % 4 != 0 || n > (1u << 20) || strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                             "0123456789+/=") != n)
    return -1;
  while (pad < 2 && text[n - 1 - pad] == '=')
    pad++;
  const char *eq = strchr(text, '=');
  if (eq && eq != text + n - pad)
    return -1;
  unsigned char *bytes = xmalloc(n / 4 * 3);
  int got = EVP_DecodeBlock(bytes, (const unsigned char *) text, (int) n);
  if (got >= 0)
    buf_append(out, bytes, (size_t) got - pad);
  free(bytes);
  return got < 0 ? -1 : 0;
}
