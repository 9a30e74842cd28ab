/* The order of versions in the package ecosystems an image may hold:
 * Debian's (deb-version(7), as dpkg --compare-versions), npm's (Semantic
 * Versioning 2.0.0's precedence) and Python's (PEP 440).  Each returns
 * < 0, 0 or > 0 as `a` is older than, the same as, or newer than `b`. */
#ifndef DISTILL_IMAGE_VERSIONS_H
#define DISTILL_IMAGE_VERSIONS_H

/* [epoch:]upstream[-revision] */
int debian_version_cmp(const char *a, const char *b);

/* MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], a leading "v" or "=" allowed;
 * the build metadata has no say.  A version that is not one is ordered by
 * the digits and other characters in it (as Debian orders an upstream
 * version), after every valid one. */
int semver_cmp(const char *a, const char *b);

/* [N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local], with the spellings PEP 440
 * normalises (alpha, beta, c, pre, preview, rev, r, "-N" for a post
 * release, separators, case, a leading "v").  A version that is not one is
 * ordered as semver_cmp orders an invalid one. */
int pep440_cmp(const char *a, const char *b);

#endif
