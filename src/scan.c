/* What the content of a file reveals, read in chunks of any size: an ELF
 * header, a private key, the text of a shell or package manager. */
#include "distill/scan.h"

#include <string.h>

static const struct {
  const char *needle;
  unsigned mark;
  const char *what;
} signatures[] = {
  { "BusyBox v", IMAGE_MARK_SHELL, "busybox" },
  { "Toybox ", IMAGE_MARK_SHELL, "toybox" },
  { "GNU bash, version", IMAGE_MARK_SHELL, "bash" },
  { "Usage: getopts optstring var [arg...]", IMAGE_MARK_SHELL, "dash" },
  { "ZSH_VERSION", IMAGE_MARK_SHELL, "zsh" },
  { "KSH_VERSION", IMAGE_MARK_SHELL, "ksh" },
  { "Debian `dpkg' package management program", IMAGE_MARK_PACKAGE_MANAGER, "dpkg" },
  { "apt-get is a command line interface", IMAGE_MARK_PACKAGE_MANAGER, "apt-get" },
  { "RPM version %s", IMAGE_MARK_PACKAGE_MANAGER, "rpm" },
  { "apk-tools ", IMAGE_MARK_PACKAGE_MANAGER, "apk" },
};

/* A PEM private key: "-----BEGIN ...PRIVATE KEY-----" at a line start. */
static bool
has_private_key(const char *p, size_t n)
{
  const char *end = p + n;
  while ((p = memmem(p, (size_t) (end - p), "-----BEGIN ", 11)) != NULL) {
    const char *eol = memchr(p, '\n', (size_t) (end - p));
    size_t line = eol ? (size_t) (eol - p) : (size_t) (end - p);
    if (line < 64 && memmem(p, line, "PRIVATE KEY-----", 16))
      return true;
    p += 11;
  }
  return false;
}

void
scan_chunk(struct scan *s, const void *bytes, size_t n)
{
  const char *data = bytes;

  if (s->first && n >= 4 && memcmp(data, "\177ELF", 4) == 0)
    s->marks |= IMAGE_MARK_ELF;
  s->first = false;
  /* scan the seam between chunks, then the chunk */
  char seam[192];
  size_t head = n < sizeof seam - s->tail_len ? n : sizeof seam - s->tail_len;
  memcpy(seam, s->tail, s->tail_len);
  memcpy(seam + s->tail_len, data, head);
  const char *parts[2] = { seam, data };
  size_t lens[2] = { s->tail_len + head, n };
  for (int k = 0; k < 2; k++) {
    if (!(s->marks & IMAGE_MARK_ELF) && has_private_key(parts[k], lens[k]))
      s->marks |= IMAGE_MARK_PRIVATE_KEY;
    for (size_t i = 0; i < sizeof signatures / sizeof *signatures && s->what == NULL; i++)
      if ((s->marks & IMAGE_MARK_ELF) && memmem(parts[k], lens[k], signatures[i].needle, strlen(signatures[i].needle))) {
        s->marks |= signatures[i].mark;
        s->what = signatures[i].what;
      }
  }
  s->tail_len = n < sizeof s->tail ? n : sizeof s->tail;
  memcpy(s->tail, data + n - s->tail_len, s->tail_len);
}


void
scan_init(struct scan *s)
{
  memset(s, 0, sizeof *s);
  s->first = true;
}
