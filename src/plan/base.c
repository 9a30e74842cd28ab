#include "plan/base.h"
#include "lib/file.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>
#include <sys/stat.h>

/* A CA bundle of the whole Mozilla store is ~220 KB. */
#define CA_BUNDLE_MAX (16u * 1024 * 1024)
#define OS_RELEASE_MAX (64u * 1024)

static const char nsswitch[] = "passwd: files\n"
                               "group: files\n"
                               "shadow: files\n"
                               "gshadow: files\n"
                               "hosts: files dns\n"
                               "networks: files\n"
                               "protocols: files\n"
                               "services: files\n"
                               "ethers: files\n"
                               "rpc: files\n";

char *
base_passwd(const struct recipe *r)
{
  struct buf b = { 0 };

  buf_printf(&b, "root:x:0:0:root:/root:/sbin/nologin\n");
  buf_printf(&b, "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n");
  buf_printf(&b, "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n");
  for (size_t i = 0; i < r->n_users; i++) {
    const struct recipe_user *u = &r->users[i];
    buf_printf(&b, "%s:x:%u:%u:%s:%s:/sbin/nologin\n", u->name, u->uid, u->gid, u->name, u->home);
  }
  return b.data;
}

static bool
group_listed(const struct recipe *r, uint32_t gid)
{
  static const uint32_t builtin[] = { 0, 5, 50, 65534, 65532 };

  for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
    if (builtin[i] == gid)
      return true;
  for (size_t i = 0; i < r->n_groups; i++)
    if (r->groups[i].gid == gid)
      return true;
  return false;
}

char *
base_group(const struct recipe *r)
{
  struct buf b = { 0 };

  buf_printf(&b, "root:x:0:\ntty:x:5:\nstaff:x:50:\nnobody:x:65534:\nnonroot:x:65532:\n");
  for (size_t i = 0; i < r->n_groups; i++)
    buf_printf(&b, "%s:x:%u:\n", r->groups[i].name, r->groups[i].gid);
  /* A user's primary group exists even when the recipe does not list it. */
  for (size_t i = 0; i < r->n_users; i++) {
    const struct recipe_user *u = &r->users[i];
    bool earlier = false;
    for (size_t j = 0; j < i; j++)
      earlier |= r->users[j].gid == u->gid;
    if (!group_listed(r, u->gid) && !earlier)
      buf_printf(&b, "%s:x:%u:\n", u->name, u->gid);
  }
  return b.data;
}

char *
base_os_release(const char *text)
{
  struct buf b = { 0 };
  const char *pretty = "Linux";
  size_t pretty_len = 5;

  for (const char *line = text; line && *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t) (end - line) : strlen(line);
    if (strncmp(line, "PRETTY_NAME=", 12) == 0) {
      pretty = line + 12;
      pretty_len = len - 12;
      if (pretty_len >= 2 && (pretty[0] == '"' || pretty[0] == '\'') && pretty[pretty_len - 1] == pretty[0]) {
        pretty++;
        pretty_len -= 2;
      }
    }
    line = end ? end + 1 : NULL;
  }
  buf_printf(&b, "PRETTY_NAME=\"Distroless (%.*s)\"\n", (int) pretty_len, pretty);
  for (const char *line = text; line && *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t) (end - line) : strlen(line);
    if (strncmp(line, "PRETTY_NAME=", 12) != 0 && len > 0) {
      buf_append(&b, line, len);
      buf_append(&b, "\n", 1);
    }
    line = end ? end + 1 : NULL;
  }
  return b.data;
}

static const char *
openssl_reason(void)
{
  unsigned long e = ERR_peek_last_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  return r ? r : "malformed";
}

/* The line of the first "-----BEGIN" at or after `offset`. */
static size_t
line_of(const char *data, size_t len, size_t offset)
{
  const char *begin = memmem(data + offset, len - offset, "-----BEGIN", 10);
  size_t end = begin ? (size_t) (begin - data) : offset, line = 1;

  for (size_t i = 0; i < end; i++)
    line += data[i] == '\n';
  return line;
}

/* OpenSSL skips any text between PEM blocks; a bundle may hold only
 * blank lines and '#' comments there, anything else is garbage. */
static int
check_pem_text(const char *data, size_t len, const char *name, struct derror *err)
{
  bool inside = false;
  size_t line = 0;

  for (size_t pos = 0; pos < len;) {
    const char *s = data + pos, *nl = memchr(s, '\n', len - pos);
    size_t n = nl ? (size_t) (nl - s) : len - pos;
    pos += n + 1;
    line++;
    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
      n--;
    if (inside) {
      inside = !(n >= 9 && memcmp(s, "-----END ", 9) == 0);
      continue;
    }
    if (n >= 11 && memcmp(s, "-----BEGIN ", 11) == 0)
      inside = true;
    else if (n > 0 && s[0] != '#')
      return derror_set(err, "`%s`:%zu: text outside a PEM block: \"%.*s\"", name, line, (int) (n < 40 ? n : 40),
                        s);
  }
  if (inside)
    return derror_set(err, "`%s`: the last PEM block has no END line", name);
  return 0;
}

int
base_check_certificates(const char *data, size_t len, const char *name, struct derror *err)
{
  BIO *bio;
  int count = 0, ret = -1;

  if (len > INT32_MAX)
    return derror_set(err, "`%s`: too large", name);
  if (check_pem_text(data, len, name, err) < 0)
    return -1;
  bio = BIO_new_mem_buf(data, (int) len);
  if (bio == NULL)
    oom();
  ERR_clear_error();
  for (;;) {
    char *pem_name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long der_len = 0;
    size_t start = len - (size_t) BIO_pending(bio);

    if (!PEM_read_bio(bio, &pem_name, &header, &der, &der_len)) {
      unsigned long e = ERR_peek_last_error();
      if (ERR_GET_REASON(e) == PEM_R_NO_START_LINE && count > 0) {
        ret = count;
      } else if (count == 0 && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        derror_set(err, "`%s`: no certificates in it", name);
      } else {
        derror_set(err, "`%s`: certificate %d (line %zu): %s", name, count + 1, line_of(data, len, start),
                   openssl_reason());
      }
      ERR_clear_error();
      break;
    }
    const unsigned char *p = der;
    X509 *cert = NULL;
    bool is_cert = strcmp(pem_name, "CERTIFICATE") == 0 || strcmp(pem_name, "TRUSTED CERTIFICATE") == 0;
    if (is_cert)
      cert = strcmp(pem_name, "CERTIFICATE") == 0 ? d2i_X509(NULL, &p, der_len) : d2i_X509_AUX(NULL, &p, der_len);
    OPENSSL_free(header);
    OPENSSL_free(der);
    if (!is_cert) {
      derror_set(err, "`%s`: block %d (line %zu) is a \"%s\", not a certificate", name, count + 1,
                 line_of(data, len, start), pem_name);
      OPENSSL_free(pem_name);
      break;
    }
    OPENSSL_free(pem_name);
    if (cert == NULL) {
      derror_set(err, "`%s`: certificate %d (line %zu): %s", name, count + 1, line_of(data, len, start),
                 openssl_reason());
      ERR_clear_error();
      break;
    }
    X509_free(cert);
    count++;
  }
  BIO_free(bio);
  return ret;
}

void
base_expired_certificates(const char *data, size_t len, time_t now, struct strv *subjects)
{
  BIO *bio = BIO_new_mem_buf(data, (int) len);
  X509 *cert;

  if (bio == NULL)
    oom();
  while ((cert = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL)) != NULL) {
    if (X509_cmp_time(X509_get0_notAfter(cert), &now) < 0) {
      char name[256];
      X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof name);
      strv_push(subjects, name);
    }
    X509_free(cert);
  }
  ERR_clear_error();
  BIO_free(bio);
}

static int
add_certificates(struct rootfs *fs, const struct recipe *r, const struct sysroot *root, struct derror *err)
{
  const char *source = r->ca == RECIPE_CA_PATH ? r->ca_source.source : BASE_CA_BUNDLE;
  cleanup_free char *host = NULL;
  struct buf b = { 0 };
  struct stat st;

  if (sysroot_locate(root, r->dir, source, &st, &host, err) < 0) {
    if (r->ca == RECIPE_CA_SYSROOT)
      return derror_wrap(err, "ca-certificates: true, but no bundle (install ca-certificates in the sysroot "
                              "or set ca-certificates: false)");
    return derror_wrap(err, "ca-certificates");
  }
  /* an absolute source was resolved inside the sysroot: its last
   * component is no symlink, unless one was put there since */
  if (read_file_flags(host, source[0] == '/' ? O_NOFOLLOW : 0, CA_BUNDLE_MAX, &b, err) < 0)
    return derror_wrap(err, "ca-certificates");
  if (base_check_certificates(b.data, b.len, source, err) < 0) {
    buf_free(&b);
    return derror_wrap(err, "ca-certificates");
  }
  rootfs_add_data(fs, BASE_CA_BUNDLE, LAYER_BASE, b.data, b.len, 0644, "ca-certificates");
  buf_free(&b);
  return 0;
}

static int
add_os_release(struct rootfs *fs, const struct sysroot *root, struct derror *err)
{
  cleanup_free char *resolved = NULL, *text = NULL;
  struct buf b = { 0 };
  struct stat st;
  int r = sysroot_resolve(root, "/etc/os-release", NULL, NULL, &resolved, &st, err);

  if (r < 0 && !derror_is(err, DERROR_NOT_FOUND))
    return derror_wrap(err, "os-release");
  if (r < 0)
    derror_clear(err); /* a sysroot without one: distill's lines alone */
  if (r == 0 && S_ISREG(st.st_mode)) {
    cleanup_free char *host = sysroot_host_path(root, resolved);
    if (read_file_flags(host, O_NOFOLLOW, OS_RELEASE_MAX, &b, err) < 0)
      return derror_wrap(err, "os-release");
  }
  text = base_os_release(b.data ? b.data : "");
  buf_free(&b);
  rootfs_add_data(fs, "/etc/os-release", LAYER_BASE, text, strlen(text), 0644, "os-release");
  return 0;
}

static int
add_tzdata(struct rootfs *fs, const struct sysroot *root, struct derror *err)
{
  cleanup_free char *host = NULL;
  struct stat st;

  if (sysroot_locate(root, "/", "/usr/share/zoneinfo", &st, &host, err) < 0)
    return derror_wrap(err, "tzdata: true, but no time zone data (install tzdata in the sysroot)");
  return rootfs_add_tree(fs, host, "/usr/share/zoneinfo", NULL, LAYER_BASE, "tzdata", err);
}

static void
add_home(struct rootfs *fs, const char *path, uint32_t uid, uint32_t gid)
{
  struct rootfs_entry *e = rootfs_add_dir(fs, path, LAYER_BASE, 0700, "accounts");
  e->uid = uid;
  e->gid = gid;
  e->fixed = true;
}

int
base_add(struct rootfs *fs, const struct recipe *r, const struct sysroot *root, struct derror *err)
{
  cleanup_free char *passwd = base_passwd(r);
  cleanup_free char *group = base_group(r);

  rootfs_add_data(fs, "/etc/passwd", LAYER_BASE, passwd, strlen(passwd), 0644, "accounts");
  rootfs_add_data(fs, "/etc/group", LAYER_BASE, group, strlen(group), 0644, "accounts");
  rootfs_add_data(fs, "/etc/nsswitch.conf", LAYER_BASE, nsswitch, sizeof nsswitch - 1, 0644, "base");
  struct rootfs_entry *tmp = rootfs_add_dir(fs, "/tmp", LAYER_BASE, 01777, "base");
  tmp->fixed = true;
  add_home(fs, "/root", 0, 0);
  add_home(fs, "/home/nonroot", 65532, 65532);
  for (size_t i = 0; i < r->n_users; i++)
    add_home(fs, r->users[i].home, r->users[i].uid, r->users[i].gid);
  if (add_os_release(fs, root, err) < 0)
    return -1;
  if (r->ca != RECIPE_CA_NONE && add_certificates(fs, r, root, err) < 0)
    return -1;
  if (r->tzdata && add_tzdata(fs, root, err) < 0)
    return -1;
  return 0;
}
