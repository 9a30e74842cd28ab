/* Names from an image, made safe to show: whoever made the image chose
 * them, byte by byte. */
#include "image/escape.h"
#include "lib/alloc.h"

#include <stdbool.h>
#include <stddef.h>

/* The length of the well-formed UTF-8 sequence at `s` (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), 0 when none. */
static size_t
utf8_len(const unsigned char *s)
{
  unsigned c = s[0];

  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    return (s[1] & 0xc0) == 0x80 ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
  }
  return 0;
}

static char *
escape(const char *s, bool backslash, bool controls)
{
  const unsigned char *p = (const unsigned char *) s;
  struct buf b = { 0 };

  while (*p) {
    size_t n = utf8_len(p);
    /* C1 controls (U+0080 to U+009F): some terminals obey them as ESC [ */
    bool c1 = n == 2 && p[0] == 0xc2 && p[1] < 0xa0;
    if (n == 0) {
      buf_printf(&b, "\\x%02x", *p++);
    } else if (backslash && *p == '\\') {
      buf_append(&b, "\\\\", 2);
      p++;
    } else if (controls && n == 1 && (*p < 0x20 || *p == 0x7f)) {
      if (*p == '\n' || *p == '\t' || *p == '\r')
        buf_printf(&b, "\\%c", *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r');
      else
        buf_printf(&b, "\\x%02x", *p);
      p++;
    } else if (controls && c1) {
      buf_printf(&b, "\\x%02x\\x%02x", p[0], p[1]);
      p += 2;
    } else {
      buf_append(&b, p, n);
      p += n;
    }
  }
  return b.data ? b.data : xstrdup("");
}

char *
escape_json(const char *s)
{
  return escape(s, true, false);
}

char *
escape_controls(const char *s)
{
  return escape(s, false, true);
}

char *
escape_text(const char *s)
{
  return escape(s, true, true);
}
