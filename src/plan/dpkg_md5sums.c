/* status.d/<package>.md5sums: each file of a package that the image has,
 * "<md5>  <path in the image, without its leading slash>", one a line, in
 * the format of dpkg's own info/<package>.md5sums.  Trivy (since it reads
 * *.md5sums rather than *.list) and Syft map an image's files to Debian
 * packages through them.  The sum is the one dpkg recorded at install,
 * matched through the name it has in the sysroot (every directory
 * resolved, as the lists are: a merged /usr names one file twice); a file
 * dpkg has no sum of (a conffile, a package whose md5sums is missing) is
 * read and summed here. */
#include "plan/dpkg.h"
#include "plan/dpkg_dirs.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/file.h"
#include "lib/strmap.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#define INFO "/var/lib/dpkg/info"
#define SUMS_MAX (64u << 20)
#define MD5_HEX 32

/* dpkg's sums of the package, by name in the sysroot: `sums` holds the
 * file's text, `index` each name's offset of its sum in it. */
static void
read_sums(const struct sysroot *root, struct dpkg_dirs *dirs, const struct dpkg_package *p, struct buf *sums,
          struct strmap *index)
{
  cleanup_free char *with_arch = xasprintf(INFO "/%s:%s.md5sums", p->name, p->arch);
  cleanup_free char *plain = xasprintf(INFO "/%s.md5sums", p->name);
  struct derror err = DERROR_INIT;
  cleanup_free char *a = sysroot_host_path(root, with_arch), *b = sysroot_host_path(root, plain);

  if (read_file(a, SUMS_MAX, sums, &err) < 0) {
    derror_clear(&err);
    if (read_file(b, SUMS_MAX, sums, &err) < 0) {
      derror_clear(&err);
      return;
    }
  }
  for (char *line = sums->data, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    /* "<32 hex>  path" */
    if (strlen(line) < MD5_HEX + 3 || strspn(line, "0123456789abcdef") != MD5_HEX || line[MD5_HEX] != ' '
        || line[MD5_HEX + 1] != ' ')
      continue;
    cleanup_free char *in_root = xasprintf("/%s", line + MD5_HEX + 2);
    cleanup_free char *canon = dpkg_canonical(root, dirs, in_root);
    if (canon)
      strmap_put(index, canon, (size_t) (line - sums->data), false);
  }
}

/* The MD5 of a file of the host, in hex. */
static int
md5_file(const char *path, char hex[MD5_HEX + 1], struct derror *err)
{
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  cleanup_free char *chunk = xmalloc(1 << 16);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  ssize_t n = 0;

  if (ctx == NULL)
    oom();
  if (fd < 0) {
    EVP_MD_CTX_free(ctx);
    return derror_errno(err, errno, "open `%s`", path);
  }
  EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
  while ((n = read(fd, chunk, 1 << 16)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0)
      EVP_DigestUpdate(ctx, chunk, (size_t) n);
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  if (n < 0)
    return derror_errno(err, errno, "read `%s`", path);
  digest_hex(md, len, hex);
  return 0;
}

int
dpkg_md5sums(const struct sysroot *root, struct dpkg_dirs *dirs, const struct dpkg_package *p, struct buf *out,
             struct derror *err)
{
  struct buf sums = { 0 };
  struct strmap index = { 0 };
  int ret = 0;

  read_sums(root, dirs, p, &sums, &index);
  for (size_t i = 0; ret == 0 && i < p->files.n; i++) {
    size_t at;
    char hex[MD5_HEX + 1];
    if (strmap_get(&index, p->canonical.items[i], &at)) {
      memcpy(hex, sums.data + at, MD5_HEX);
      hex[MD5_HEX] = '\0';
    } else {
      cleanup_free char *host = sysroot_host_path(root, p->canonical.items[i]);
      if (md5_file(host, hex, err) < 0) {
        ret = derror_wrap(err, "%s.md5sums", p->status_path);
        break;
      }
    }
    buf_printf(out, "%s  %s\n", hex, p->files.items[i] + 1);
  }
  strmap_free(&index);
  buf_free(&sums);
  return ret;
}
