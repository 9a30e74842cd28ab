/* containers' own signatures with GnuPG: see gpgsign.h. */
#include "publish/gpgsign.h"
#include "lib/cleanup.h"
#include "publish/lookaside.h"
#include "publish/store.h"

#include <errno.h>
#include <gpgme.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


void
gpgsign_payload(const char *identity, const char *digest, const char *creator, int64_t timestamp, struct buf *out)
{
  cleanup_json json_t *j = json_pack("{s:{s:s,s:{s:s},s:{s:s}},s:{s:s,s:I}}", "critical", "type",
                                     ATOMIC_SIGNATURE_TYPE, "image", "docker-manifest-digest", digest, "identity",
                                     "docker-reference", identity, "optional", "creator", creator, "timestamp",
                                     (json_int_t) timestamp);
  /* Go sorts a map's keys and writes no spaces; none of these values has
   * a character Go would escape where jansson does not (<, >, &). */
  cleanup_free char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

  if (text == NULL)
    abort(); /* only on allocation failure */
  buf_append(out, text, strlen(text));
}

char *
gpgsign_identity(const struct image_ref *ref)
{
  cleanup_free char *name = image_ref_name(ref);

  return ref->tag ? xasprintf("%s:%s", name, ref->tag) : xasprintf("%s@%s", name, ref->digest);
}

static void
cleanup_gpgme_ctxp(gpgme_ctx_t *c)
{
  if (*c)
    gpgme_release(*c);
}

static void
cleanup_gpgme_keyp(gpgme_key_t *k)
{
  if (*k)
    gpgme_key_unref(*k);
}

static void
cleanup_gpgme_datap(gpgme_data_t *d)
{
  if (*d)
    gpgme_data_release(*d);
}

static gpgme_error_t
give_passphrase(void *hook, const char *uid_hint, const char *info, int prev_was_bad, int fd)
{
  const char *pass = hook;

  (void) uid_hint, (void) info;
  if (prev_was_bad)
    return gpgme_error(GPG_ERR_BAD_PASSPHRASE);
  if (gpgme_io_writen(fd, pass, strlen(pass)) != 0 || gpgme_io_writen(fd, "\n", 1) != 0)
    return gpgme_error_from_errno(errno);
  return 0;
}

/* A context for OpenPGP, binary output, `key` its one signer. */
static int
signing_context(gpgme_ctx_t *ctx, const char *key, const char *passphrase, struct derror *err)
{
  __attribute__((cleanup(cleanup_gpgme_keyp))) gpgme_key_t k = NULL;
  gpgme_error_t e;

  gpgme_check_version(NULL); /* gpgme's own initialisation, before any context */
  if ((e = gpgme_new(ctx)) != 0 || (e = gpgme_set_protocol(*ctx, GPGME_PROTOCOL_OpenPGP)) != 0)
    return derror_set(err, "gpgme: %s", gpgme_strerror(e));
  gpgme_set_armor(*ctx, 0);
  if ((e = gpgme_get_key(*ctx, key, &k, 1)) != 0)
    return derror_set(err, "GnuPG key `%s`: %s", key,
                      gpgme_err_code(e) == GPG_ERR_EOF ? "no such secret key in the keyring" : gpgme_strerror(e));
  if ((e = gpgme_signers_add(*ctx, k)) != 0)
    return derror_set(err, "GnuPG key `%s`: %s", key, gpgme_strerror(e));
  if (passphrase) {
    if ((e = gpgme_set_pinentry_mode(*ctx, GPGME_PINENTRY_MODE_LOOPBACK)) != 0)
      return derror_set(err, "gpgme: loopback pinentry: %s", gpgme_strerror(e));
    gpgme_set_passphrase_cb(*ctx, give_passphrase, (void *) passphrase);
  }
  return 0;
}

int
gpgsign_sign(const char *key, const char *passphrase, const struct buf *payload, struct buf *sig, struct derror *err)
{
  __attribute__((cleanup(cleanup_gpgme_ctxp))) gpgme_ctx_t ctx = NULL;
  __attribute__((cleanup(cleanup_gpgme_datap))) gpgme_data_t in = NULL, out = NULL;
  gpgme_error_t e;
  size_t n;

  if (signing_context(&ctx, key, passphrase, err) < 0)
    return -1;
  if ((e = gpgme_data_new_from_mem(&in, payload->data, payload->len, 0)) != 0 || (e = gpgme_data_new(&out)) != 0)
    return derror_set(err, "gpgme: %s", gpgme_strerror(e));
  if ((e = gpgme_op_sign(ctx, in, out, GPGME_SIG_MODE_NORMAL)) != 0)
    return derror_set(err, "GnuPG key `%s`: sign: %s", key, gpgme_strerror(e));
  gpgme_sign_result_t res = gpgme_op_sign_result(ctx);
  if (res == NULL || res->invalid_signers || res->signatures == NULL)
    return derror_set(err, "GnuPG key `%s`: no signature made (not a key that can sign?)", key);
  char *bytes = gpgme_data_release_and_get_mem(out, &n);
  out = NULL;
  if (bytes == NULL)
    return derror_set(err, "gpgme: the signature could not be read");
  buf_append(sig, bytes, n);
  gpgme_free(bytes);
  return 0;
}

/* The directory to write into: --lookaside, else registries.d's URL. */
static int
lookaside_dir(const struct image_ref *ref, const struct gpgsign_request *req, char **dir, struct derror *err)
{
  cleanup_free char *url = NULL;

  if (req->lookaside) {
    *dir = xstrdup(req->lookaside);
    return 0;
  }
  if (lookaside_staging_url(req->registries_d, ref, &url, err) < 0)
    return -1;
  return lookaside_url_dir(url, dir, err);
}

int
gpgsign_image(const struct image_ref *ref, const struct registry_options *o, const struct gpgsign_request *req,
              struct gpgsign_result *out, struct derror *err)
{
  cleanup_free char *dir = NULL;
  cleanup_free char *identity = gpgsign_identity(ref);
  struct buf payload = { 0 }, sig = { 0 };
  struct registry *r;
  int ret = lookaside_dir(ref, req, &dir, err);

  /* The configuration first: a mistake in it costs no request. */
  if (ret == 0 && (r = registry_open(ref, o, err)) != NULL) {
    ret = store_resolve(r, ref, out->digest, err);
    registry_close(r);
  } else {
    ret = -1;
  }
  if (ret == 0) {
    gpgsign_payload(identity, out->digest, req->creator, (int64_t) time(NULL), &payload);
    ret = gpgsign_sign(req->key, req->passphrase, &payload, &sig, err);
  }
  if (ret == 0)
    ret = lookaside_write(dir, ref->repo, out->digest, sig.data, sig.len, &out->path, err);
  buf_free(&payload);
  buf_free(&sig);
  return ret;
}

void
gpgsign_result_free(struct gpgsign_result *r)
{
  free(r->path);
  r->path = NULL;
}
