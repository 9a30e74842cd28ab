#include "lib/certs.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>

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
certs_check(const char *data, size_t len, const char *name, struct derror *err)
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
certs_expired(const char *data, size_t len, time_t now, struct strv *subjects)
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
