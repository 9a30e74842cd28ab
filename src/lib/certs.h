/* CA certificate bundles: the base layer refuses a bundle OpenSSL would not
 * read, and `distill check` reads the image's again (and its expired
 * certificates), with the same rules. */
#ifndef DISTILL_CERTS_H
#define DISTILL_CERTS_H

#include "lib/alloc.h"
#include "lib/error.h"

#include <stddef.h>
#include <time.h>

/* Parse a PEM bundle; every block must be a certificate OpenSSL accepts.
 * `name` is how errors call the bundle.  Returns the number of
 * certificates, or -1. */
int certs_check(const char *data, size_t len, const char *name, struct derror *err);

/* The subjects of the certificates of a bundle that expired before `now`
 * (a bundle certs_check() accepted). */
void certs_expired(const char *data, size_t len, time_t now, struct strv *subjects);

#endif
