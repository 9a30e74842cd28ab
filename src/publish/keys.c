/* Signing keys: see keys.h. */
#include "publish/keys.h"
#include "lib/file.h"
#include "publish/cosignkey.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_MAX (64u << 10)

/* OpenSSL's reason for the last failure, its queue emptied. */
static int
ossl_error(struct derror *err, const char *what)
{
  char reason[256] = "no reason given";
  unsigned long e = ERR_peek_last_error();

  if (e)
    ERR_error_string_n(e, reason, sizeof reason);
  ERR_clear_error();
  return derror_set(err, "%s: %s", what, reason);
}

int
key_passphrase(const char *file, char **out, struct derror *err)
{
  struct buf b = { 0 };

  *out = NULL;
  if (file == NULL) {
    const char *env = getenv("DISTILL_PASSPHRASE");
    if (env == NULL)
      env = getenv("COSIGN_PASSWORD"); /* cosign's own, for its keys */
    *out = env ? xstrdup(env) : NULL;
    return 0;
  }
  if (read_file(file, 4096, &b, err) < 0)
    return derror_wrap(err, "the passphrase file");
  size_t n = 0;
  while (n < b.len && b.data[n] != '\n' && b.data[n] != '\r')
    n++;
  *out = xstrndup(b.data ? b.data : "", n);
  buf_free(&b);
  if (strlen(*out) != n) {
    free(*out);
    *out = NULL;
    return derror_set(err, "the passphrase file `%s`: a NUL byte in its first line", file);
  }
  return 0;
}

static bool
is_p256(EVP_PKEY *k)
{
  char group[64];

  return EVP_PKEY_is_a(k, "EC") && EVP_PKEY_get_group_name(k, group, sizeof group, NULL) == 1
         && strcmp(group, "prime256v1") == 0;
}

/* PEM text of the key: private (PKCS#8, encrypted when `pass` is set) or
 * public. */
static int
key_pem(EVP_PKEY *k, bool private, const char *pass, struct buf *out, struct derror *err)
{
  BIO *bio = BIO_new(BIO_s_mem());
  char *data;
  int ok;

  if (bio == NULL)
    oom();
  if (private)
    ok = PEM_write_bio_PKCS8PrivateKey(bio, k, pass ? EVP_aes_256_cbc() : NULL, pass, pass ? (int) strlen(pass) : 0,
                                       NULL, NULL);
  else
    ok = PEM_write_bio_PUBKEY(bio, k);
  long n = BIO_get_mem_data(bio, &data);
  if (ok == 1 && n > 0)
    buf_append(out, data, (size_t) n);
  BIO_free(bio);
  return ok == 1 ? 0 : ossl_error(err, private ? "write the private key" : "write the public key");
}

/* `text` to `path` whole, with `mode`. */
static int
write_key_file(const char *path, const struct buf *text, mode_t mode, struct derror *err)
{
  struct atomic_file f;
  mode_t old = umask(0777 & ~mode);
  int r = atomic_open(&f, path, err);

  umask(old);
  if (r < 0)
    return -1;
  if (fchmod(f.fd, mode) < 0 || write_all(f.fd, text->data, text->len) < 0) {
    int e = errno;
    atomic_abort(&f);
    return derror_errno(err, e, "write `%s`", path);
  }
  f.durable = true;
  return atomic_commit(&f, err);
}

int
key_generate(const char *prefix, const char *passphrase, struct derror *err)
{
  cleanup_free char *priv = xasprintf("%s.key", prefix);
  cleanup_free char *pub = xasprintf("%s.pub", prefix);
  struct buf priv_pem = { 0 }, pub_pem = { 0 };
  struct stat st;
  int r = 0;

  for (const char *p = priv; p; p = p == priv ? pub : NULL)
    if (lstat(p, &st) == 0)
      return derror_code(err, DERROR_USAGE, "`%s` exists: a key is never written over", p);
  cleanup_pkey EVP_PKEY *k = EVP_EC_gen("P-256");
  if (k == NULL)
    return ossl_error(err, "generate a P-256 key");
  if (key_pem(k, true, passphrase, &priv_pem, err) < 0 || key_pem(k, false, NULL, &pub_pem, err) < 0)
    r = -1;
  if (r == 0 && write_key_file(priv, &priv_pem, 0600, err) < 0)
    r = -1;
  if (r == 0 && write_key_file(pub, &pub_pem, 0644, err) < 0) {
    unlink(priv); /* a private key without its public one is of no use */
    r = -1;
  }
  OPENSSL_cleanse(priv_pem.data, priv_pem.len);
  buf_free(&priv_pem);
  buf_free(&pub_pem);
  return r;
}

struct pass_ctx {
  const char *pass;
  bool asked;
};

/* Never a prompt: OpenSSL asks the terminal when given no callback. */
static int
pass_cb(char *buf, int size, int rwflag, void *u)
{
  struct pass_ctx *c = u;
  (void) rwflag;

  c->asked = true;
  if (c->pass == NULL)
    return -1;
  size_t n = strlen(c->pass);
  if (n > (size_t) size)
    return -1;
  memcpy(buf, c->pass, n);
  return (int) n;
}

/* The key of a file in cosign's own format (cosignkey.h), which cosign
 * knows by the type of its first PEM block; *is says whether it is one. */
static EVP_PKEY *
load_cosign(const char *path, const struct buf *text, const char *pass, bool *is, struct derror *err)
{
  BIO *bio = BIO_new_mem_buf(text->data, (int) text->len);
  char *name = NULL, *header = NULL;
  unsigned char *body = NULL;
  long len = 0;
  EVP_PKEY *k = NULL;

  if (bio == NULL)
    oom();
  *is = PEM_read_bio(bio, &name, &header, &body, &len) == 1 && cosignkey_is_type(name);
  BIO_free(bio);
  ERR_clear_error();
  if (*is && (k = cosignkey_open(body, (size_t) len, pass, err)) == NULL)
    derror_wrap(err, "`%s`", path);
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(body);
  return k;
}

/* The PEM file's key: private or public, a P-256 one. */
static EVP_PKEY *
load(const char *path, bool private, const char *pass, struct derror *err)
{
  struct buf text = { 0 };
  struct pass_ctx c = { pass, false };
  EVP_PKEY *k = NULL;
  bool cosign = false;

  if (read_file(path, KEY_FILE_MAX, &text, err) < 0)
    return NULL;
  if (private)
    k = load_cosign(path, &text, pass, &cosign, err);
  if (!cosign) {
    BIO *bio = BIO_new_mem_buf(text.data, (int) text.len);
    if (bio == NULL)
      oom();
    k = private ? PEM_read_bio_PrivateKey(bio, NULL, pass_cb, &c) : PEM_read_bio_PUBKEY(bio, NULL, pass_cb, &c);
    BIO_free(bio);
  }
  OPENSSL_cleanse(text.data, text.len);
  buf_free(&text);
  if (k == NULL && cosign) {
    /* err says why */
  } else if (k == NULL && c.asked && pass == NULL) {
    derror_set(err, "`%s`: the key is encrypted: give its passphrase (--passphrase-file or $DISTILL_PASSPHRASE)", path);
  } else if (k == NULL && c.asked) {
    derror_set(err, "`%s`: the passphrase does not decrypt the key (a wrong passphrase)", path);
  } else if (k == NULL) {
    cleanup_free char *what = xasprintf("`%s`: no PEM %s", path, private ? "private key" : "public key");
    ossl_error(err, what);
  } else if (!is_p256(k)) {
    derror_set(err, "`%s`: not an ECDSA P-256 key, the one kind distill signs with", path);
    EVP_PKEY_free(k);
    k = NULL;
  }
  ERR_clear_error();
  return k;
}

EVP_PKEY *
key_load_private(const char *path, const char *passphrase, struct derror *err)
{
  return load(path, true, passphrase, err);
}

EVP_PKEY *
key_load_public(const char *path, struct derror *err)
{
  return load(path, false, NULL, err);
}

int
key_sign(EVP_PKEY *key, const void *data, size_t n, struct buf *sig, struct derror *err)
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  size_t len = 0;
  int ok;

  if (ctx == NULL)
    oom();
  ok = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1
       && EVP_DigestSign(ctx, NULL, &len, data, n) == 1;
  if (ok) {
    unsigned char *out = xmalloc(len);
    ok = EVP_DigestSign(ctx, out, &len, data, n) == 1;
    if (ok)
      buf_append(sig, out, len);
    free(out);
  }
  EVP_MD_CTX_free(ctx);
  return ok ? 0 : ossl_error(err, "sign with ECDSA P-256");
}

int
key_verify(EVP_PKEY *key, const void *data, size_t n, const void *sig, size_t sig_len)
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();

  if (ctx == NULL)
    oom();
  int ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1
           && EVP_DigestVerify(ctx, sig, sig_len, data, n) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}
