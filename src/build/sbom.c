#include "config.h"
#include "lib/digest.h"
#include "lib/time.h"
#include "build/sbom.h"
#include "lib/alloc.h"
#include "lib/file.h"
#include "lib/path.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Debian's short license names (copyright format 1.0, "License
 * specification") and the SPDX identifiers of the same licenses. */
static const struct {
  const char *debian, *spdx;
} licenses[] = {
  { "Apache-2.0", "Apache-2.0" },
  { "Artistic", "Artistic-1.0" },
  { "Artistic-2.0", "Artistic-2.0" },
  { "BSD-2-clause", "BSD-2-Clause" },
  { "BSD-3-clause", "BSD-3-Clause" },
  { "BSD-4-clause", "BSD-4-Clause" },
  { "BSL-1.0", "BSL-1.0" },
  { "CC0-1.0", "CC0-1.0" },
  { "CC-BY-3.0", "CC-BY-3.0" },
  { "CC-BY-4.0", "CC-BY-4.0" },
  { "CC-BY-SA-3.0", "CC-BY-SA-3.0" },
  { "CC-BY-SA-4.0", "CC-BY-SA-4.0" },
  { "curl", "curl" },
  { "Expat", "MIT" },
  { "FSFAP", "FSFAP" },
  { "FSFUL", "FSFUL" },
  { "FSFULLR", "FSFULLR" },
  { "GFDL-1.2", "GFDL-1.2-only" },
  { "GFDL-1.2+", "GFDL-1.2-or-later" },
  { "GFDL-1.3", "GFDL-1.3-only" },
  { "GFDL-1.3+", "GFDL-1.3-or-later" },
  { "GPL-1", "GPL-1.0-only" },
  { "GPL-1+", "GPL-1.0-or-later" },
  { "GPL-2", "GPL-2.0-only" },
  { "GPL-2+", "GPL-2.0-or-later" },
  { "GPL-3", "GPL-3.0-only" },
  { "GPL-3+", "GPL-3.0-or-later" },
  { "ISC", "ISC" },
  { "LGPL-2", "LGPL-2.0-only" },
  { "LGPL-2+", "LGPL-2.0-or-later" },
  { "LGPL-2.1", "LGPL-2.1-only" },
  { "LGPL-2.1+", "LGPL-2.1-or-later" },
  { "LGPL-3", "LGPL-3.0-only" },
  { "LGPL-3+", "LGPL-3.0-or-later" },
  { "MIT", "MIT" },
  { "MPL-1.1", "MPL-1.1" },
  { "MPL-2.0", "MPL-2.0" },
  { "OpenSSL", "OpenSSL" },
  { "PSF-2", "PSF-2.0" },
  { "Python-2.0", "Python-2.0" },
  { "Unicode-DFS-2016", "Unicode-DFS-2016" },
  { "X11", "X11" },
  { "Zlib", "Zlib" },
  { "zlib", "Zlib" },
};

/* Letters, digits, '.' and '-': what SPDX identifiers are made of; '+'
 * becomes "plus", runs of anything else one '-'. */
static char *
idstring(const char *s)
{
  struct buf b = { 0 };

  for (const char *p = s; *p; p++) {
    if (isalnum((unsigned char) *p) || *p == '.' || *p == '-')
      buf_append(&b, p, 1);
    else if (*p == '+')
      buf_printf(&b, "plus");
    else if (b.len && b.data[b.len - 1] != '-')
      buf_append(&b, "-", 1);
  }
  if (b.data == NULL)
    buf_append(&b, "none", 4);
  return b.data;
}

/* One license of a copyright file ("GPL-2+", or "GPL-2+ with Autoconf
 * exception") as an SPDX identifier: the SPDX license list's when Debian's
 * short name has one, else LicenseRef-<name> (remembered in `refs`). */
static char *
spdx_license(const char *name, struct sbom_refs *refs)
{
  for (size_t i = 0; i < sizeof licenses / sizeof *licenses; i++)
    if (strcmp(name, licenses[i].debian) == 0 || strcmp(name, licenses[i].spdx) == 0)
      return xstrdup(licenses[i].spdx);
  cleanup_free char *id = idstring(name);
  char *ref = xasprintf("LicenseRef-%s", id);
  if (!strv_contains(&refs->ids, ref)) {
    strv_push(&refs->ids, ref);
    strv_push(&refs->names, name);
  }
  return ref;
}

/* Part of a License field with no comma ("GPL-2+ or LGPL-3+") as an SPDX
 * expression: the words between "and" and "or" are one license each, an
 * exception ("with ... exception") included. */
static char *
spdx_terms(const char *line, struct sbom_refs *refs)
{
  cleanup_free char *copy = xstrdup(line);
  struct buf out = { 0 }, term = { 0 };
  size_t terms = 0;

  for (char *save = NULL, *w = strtok_r(copy, " \t", &save);; w = strtok_r(NULL, " \t", &save)) {
    bool op = w && (strcasecmp(w, "or") == 0 || strcasecmp(w, "and") == 0);
    if ((w == NULL || op) && term.len) {
      cleanup_free char *id = spdx_license(term.data, refs);
      buf_printf(&out, "%s", id);
      term.len = 0;
      terms++;
    }
    if (w == NULL)
      break;
    if (op) {
      if (out.len)
        buf_printf(&out, " %s ", strcasecmp(w, "or") == 0 ? "OR" : "AND");
      continue;
    }
    buf_printf(&term, "%s%s", term.len ? " " : "", w);
  }
  buf_free(&term);
  /* an operator with nothing after it */
  while (out.len && out.data[out.len - 1] == ' ') {
    char *sp = strrchr(out.data, ' ');
    *sp = '\0';
    out.len = (size_t) (sp - out.data);
    sp = strrchr(out.data, ' ');
    if (sp == NULL)
      break;
    *sp = '\0';
    out.len = (size_t) (sp - out.data);
  }
  if (out.data == NULL || out.len == 0) {
    buf_free(&out);
    return NULL;
  }
  if (terms > 1) {
    char *wrapped = xasprintf("(%s)", out.data);
    buf_free(&out);
    return wrapped;
  }
  return out.data;
}

/* The first line of a License field as an SPDX expression.  Debian groups
 * with commas: "A or B, and C" is (A or B) and C. */
static char *
spdx_expression(const char *line, struct sbom_refs *refs)
{
  cleanup_free char *copy = xstrdup(line);
  char *save = NULL, *seg = strtok_r(copy, ",", &save);
  char *expr = seg ? spdx_terms(seg, refs) : NULL;

  for (seg = strtok_r(NULL, ",", &save); expr && seg; seg = strtok_r(NULL, ",", &save)) {
    seg += strspn(seg, " \t");
    size_t w = strcspn(seg, " \t");
    const char *op = w == 2 && strncasecmp(seg, "or", 2) == 0 ? "OR" : "AND";
    if ((w == 2 && strncasecmp(seg, "or", 2) == 0) || (w == 3 && strncasecmp(seg, "and", 3) == 0))
      seg += w;
    cleanup_free char *rest = spdx_terms(seg, refs);
    if (rest == NULL)
      continue;
    char *joined = xasprintf("(%s %s %s)", expr, op, rest);
    free(expr);
    expr = joined;
  }
  return expr;
}

char *
sbom_declared_license(const char *copyright, size_t len, struct sbom_refs *refs)
{
  struct strv exprs = { 0 };
  struct buf all = { 0 };
  bool dep5 = false, in_files = false, header = true;

  for (const char *line = copyright; line < copyright + len;) {
    const char *eol = memchr(line, '\n', (size_t) (copyright + len - line));
    size_t n = eol ? (size_t) (eol - line) : (size_t) (copyright + len - line);
    cleanup_free char *l = xstrndup(line, n);
    if (header && strncmp(l, "Format:", 7) == 0 && strstr(l, "copyright-format/1.0"))
      dep5 = true;
    if (strspn(l, " \t") == n) {
      /* a paragraph ends: the header's License counts, a Files one's too */
      header = false;
      in_files = false;
    } else if (strncmp(l, "Files:", 6) == 0) {
      in_files = true;
    } else if (strncmp(l, "License:", 8) == 0 && (in_files || header)) {
      const char *v = l + 8 + strspn(l + 8, " \t");
      cleanup_free char *e = *v ? spdx_expression(v, refs) : NULL;
      if (e && !strv_contains(&exprs, e))
        strv_push(&exprs, e);
    }
    line += n + 1;
  }
  if (!dep5 || exprs.n == 0) {
    strv_free(&exprs);
    return NULL;
  }
  for (size_t i = 0; i < exprs.n; i++)
    buf_printf(&all, "%s%s", i ? " AND " : "", exprs.items[i]);
  strv_free(&exprs);
  return all.data;
}

void
sbom_refs_free(struct sbom_refs *refs)
{
  strv_free(&refs->ids);
  strv_free(&refs->names);
  strv_free(&refs->owners);
}

struct file_sums {
  char sha1[41], sha256[65];
};

/* SHA-1 and SHA-256 of an entry's content, read again from its source. */
static int
sum_entry(const struct rootfs_entry *e, struct file_sums *out, struct derror *err)
{
  EVP_MD_CTX *c1 = EVP_MD_CTX_new(), *c256 = EVP_MD_CTX_new();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n;
  int ret = -1;

  if (c1 == NULL || c256 == NULL || EVP_DigestInit_ex(c1, EVP_sha1(), NULL) != 1
      || EVP_DigestInit_ex(c256, EVP_sha256(), NULL) != 1)
    oom();
  if (e->source) {
    cleanup_close int fd = open(e->source, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    cleanup_free char *chunk = xmalloc(1 << 17);
    uint64_t total = 0;
    if (fd < 0) {
      derror_errno(err, errno, "open `%s`", e->source);
      goto out;
    }
    for (;;) {
      ssize_t r = read(fd, chunk, 1 << 17);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0) {
        derror_errno(err, errno, "read `%s`", e->source);
        goto out;
      }
      if (r == 0)
        break;
      EVP_DigestUpdate(c1, chunk, (size_t) r);
      EVP_DigestUpdate(c256, chunk, (size_t) r);
      total += (uint64_t) r;
    }
    if (total != e->size) {
      derror_set(err, "`%s` changed while the image was being built", e->source);
      goto out;
    }
  } else if (e->size) {
    EVP_DigestUpdate(c1, e->data, e->size);
    EVP_DigestUpdate(c256, e->data, e->size);
  }
  EVP_DigestFinal_ex(c1, md, &n);
  digest_hex(md, n, out->sha1);
  EVP_DigestFinal_ex(c256, md, &n);
  digest_hex(md, n, out->sha256);
  ret = 0;
out:
  EVP_MD_CTX_free(c1);
  EVP_MD_CTX_free(c256);
  return ret;
}

/* SPDX 2.3 clause 7.9: the SHA-1 of the files' SHA-1s, sorted and joined. */
static char *
verification_code(struct strv *sha1s)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n;
  char out[41];
  EVP_MD_CTX *c = EVP_MD_CTX_new();

  if (c == NULL || EVP_DigestInit_ex(c, EVP_sha1(), NULL) != 1)
    oom();
  strv_sort(sha1s);
  for (size_t i = 0; i < sha1s->n; i++)
    EVP_DigestUpdate(c, sha1s->items[i], strlen(sha1s->items[i]));
  EVP_DigestFinal_ex(c, md, &n);
  EVP_MD_CTX_free(c);
  digest_hex(md, n, out);
  return xstrdup(out);
}

/* purl version and qualifier values: everything but unreserved characters
 * percent-encoded. */
static char *
purl_escape(const char *s)
{
  struct buf b = { 0 };

  for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
    if (isalnum(*p) || *p == '.' || *p == '-' || *p == '_' || *p == '~')
      buf_append(&b, p, 1);
    else
      buf_printf(&b, "%%%02X", *p);
  }
  if (b.data == NULL)
    buf_append(&b, "", 0);
  return b.data;
}

/* "Name <mail>" (a Maintainer field) as an SPDX agent: "Name (mail)". */
static json_t *
supplier(const char *maintainer)
{
  cleanup_free char *s = xasprintf("Organization: %s", maintainer);
  for (char *p = s; *p; p++)
    if (*p == '<')
      *p = '(';
    else if (*p == '>')
      *p = ')';
  return json_string(s);
}

/* The distribution's ID from the image's os-release, for purls. */
static char *
distro_id(const struct rootfs *fs)
{
  const struct rootfs_entry *e = rootfs_find(fs, "/etc/os-release");
  cleanup_free char *text = NULL;

  if (e && e->data)
    text = xstrndup(e->data, e->size);
  for (char *line = text; line && *line;) {
    char *eol = strchr(line, '\n');
    if (eol)
      *eol = '\0';
    if (strncmp(line, "ID=", 3) == 0) {
      char *v = line + 3 + (line[3] == '"');
      v[strcspn(v, "\"")] = '\0';
      if (*v)
        return xstrdup(v);
    }
    line = eol ? eol + 1 : NULL;
  }
  return xstrdup("debian");
}

static json_t *
relationship(const char *from, const char *type, const char *to)
{
  return json_pack("{s:s, s:s, s:s}", "spdxElementId", from, "relationshipType", type, "relatedSpdxElement", to);
}

static json_t *
checksum(const char *algorithm, const char *value)
{
  return json_pack("{s:s, s:s}", "algorithm", algorithm, "checksumValue", value);
}

/* The sums of every regular file and hardlink (its target's content), and
 * the package each is in (-1: none); the other entries keep an empty sum. */
static int
sum_files(const struct plan *p, struct file_sums *sums, ssize_t *owner, struct derror *err)
{
  const struct rootfs *fs = &p->fs;

  for (size_t i = 0; i < fs->n; i++) {
    const struct rootfs_entry *e = &fs->items[i];
    const struct rootfs_entry *content = e;
    owner[i] = -1;
    if (e->type == ROOTFS_HARDLINK)
      content = rootfs_find(fs, e->target);
    else if (e->type != ROOTFS_FILE)
      continue;
    if (content == NULL || content->type != ROOTFS_FILE)
      continue;
    if (content < e)
      sums[i] = sums[content - fs->items];
    else if (sum_entry(content, &sums[i], err) < 0)
      return -1;
    owner[i] = dpkg_package_of(&p->packages, e->path);
  }
  return 0;
}

/* The document, once every file's sums are known. */
static json_t *
compose(const struct recipe *r, const struct plan *p, const char *manifest_digest, int64_t epoch,
        const struct file_sums *sums, const ssize_t *owner)
{
  const struct rootfs *fs = &p->fs;
  const struct dpkg_packages *pkgs = &p->packages;
  json_t *doc, *packages, *files, *rels, *refs_json;
  struct sbom_refs refs = { 0 };
  struct strv *pkg_sha1s = xcalloc(pkgs->n + 1, sizeof *pkg_sha1s); /* the last: the image's */
  size_t n_files = 0;

  packages = json_array();
  files = json_array();
  rels = json_array();
  refs_json = json_array();
  json_array_append_new(rels, relationship("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"));
  for (size_t i = 0; i < fs->n; i++) {
    char id[48];
    if (sums[i].sha1[0] == '\0')
      continue;
    snprintf(id, sizeof id, "SPDXRef-File-%zu", ++n_files);
    json_t *f = json_pack("{s:o, s:s, s:[o, o]}", "fileName", json_sprintf(".%s", fs->items[i].path), "SPDXID", id,
                          "checksums", checksum("SHA1", sums[i].sha1), checksum("SHA256", sums[i].sha256));
    if (owner[i] < 0)
      json_object_set_new(f, "comment", json_string("in no Debian package of the sysroot"));
    json_array_append_new(files, f);
    if (owner[i] >= 0)
      strv_push(&pkg_sha1s[owner[i]], sums[i].sha1);
    strv_push(&pkg_sha1s[pkgs->n], sums[i].sha1);
  }

  /* the image */
  cleanup_free char *distro = distro_id(fs);
  cleanup_free char *base = xstrdup(path_basename(r->name));
  cleanup_free char *tag = purl_escape(r->tag);
  cleanup_free char *arch = purl_escape(p->arch);
  cleanup_free char *image_code = verification_code(&pkg_sha1s[pkgs->n]);
  json_t *image = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:[{s:s, s:s, s:o}]}", "SPDXID",
                            "SPDXRef-Image", "name", r->name, "versionInfo", r->tag, "primaryPackagePurpose",
                            "CONTAINER", "downloadLocation", "NOASSERTION", "supplier", "NOASSERTION",
                            "packageVerificationCode", "packageVerificationCodeValue", image_code, "externalRefs",
                            "referenceCategory", "PACKAGE-MANAGER", "referenceType", "purl", "referenceLocator",
                            json_sprintf("pkg:oci/%s@sha256%%3A%s?arch=%s&tag=%s", base, manifest_digest + 7, arch,
                                         tag));
  json_array_append_new(packages, image);

  /* the Debian packages */
  for (size_t k = 0; k < pkgs->n; k++) {
    const struct dpkg_package *pk = &pkgs->items[k];
    cleanup_free char *name_id = idstring(pk->name);
    cleanup_free char *version = purl_escape(pk->version);
    cleanup_free char *parch = purl_escape(pk->arch);
    cleanup_free char *code = verification_code(&pkg_sha1s[k]);
    cleanup_free char *license = NULL;
    char id[300];
    snprintf(id, sizeof id, "SPDXRef-Package-%zu-%s", k + 1, name_id);
    if (pk->copyright) {
      struct buf text = { 0 };
      struct derror ignored = DERROR_INIT;
      size_t before = refs.ids.n;
      if (read_file(pk->copyright, 16u << 20, &text, &ignored) == 0)
        license = sbom_declared_license(text.data, text.len, &refs);
      for (size_t i = before; i < refs.ids.n; i++)
        strv_push(&refs.owners, pk->name);
      derror_clear(&ignored);
      buf_free(&text);
    }
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:[{s:s, s:s, s:o}]}", "SPDXID", id,
                          "name", pk->name, "versionInfo", pk->version, "downloadLocation", "NOASSERTION",
                          "licenseConcluded", "NOASSERTION", "licenseDeclared", license ? license : "NOASSERTION",
                          "copyrightText", "NOASSERTION", "packageVerificationCode",
                          "packageVerificationCodeValue", code, "externalRefs", "referenceCategory",
                          "PACKAGE-MANAGER", "referenceType", "purl", "referenceLocator",
                          json_sprintf("pkg:deb/%s/%s@%s?arch=%s", distro, pk->name, version, parch));
    if (pk->maintainer)
      json_object_set_new(j, "supplier", supplier(pk->maintainer));
    json_object_set_new(j, "comment", json_sprintf("architecture %s; %s in the image", pk->arch, pk->status_path));
    json_array_append_new(packages, j);
    json_array_append_new(rels, relationship("SPDXRef-Image", "CONTAINS", id));
  }
  /* who contains each file */
  n_files = 0;
  for (size_t i = 0; i < fs->n; i++) {
    if (sums[i].sha1[0] == '\0')
      continue;
    char id[48], pid[300];
    snprintf(id, sizeof id, "SPDXRef-File-%zu", ++n_files);
    if (owner[i] >= 0) {
      cleanup_free char *name_id = idstring(pkgs->items[owner[i]].name);
      snprintf(pid, sizeof pid, "SPDXRef-Package-%zd-%s", owner[i] + 1, name_id);
    } else {
      snprintf(pid, sizeof pid, "SPDXRef-Image");
    }
    json_array_append_new(rels, relationship(pid, "CONTAINS", id));
  }
  for (size_t i = 0; i < refs.ids.n; i++)
    json_array_append_new(refs_json,
                          json_pack("{s:s, s:s, s:o}", "licenseId", refs.ids.items[i], "name", refs.names.items[i],
                                    "extractedText",
                                    json_sprintf("The license named \"%s\" in /usr/share/doc/%s/copyright",
                                                 refs.names.items[i], refs.owners.items[i])));

  char created[32];
  time_rfc3339(epoch, created);
  cleanup_free char *ns_name = idstring(r->name);
  doc = json_pack("{s:s, s:s, s:s, s:o, s:o, s:{s:s, s:[o]}}", "spdxVersion", "SPDX-2.3", "dataLicense", "CC0-1.0",
                  "SPDXID", "SPDXRef-DOCUMENT", "name", json_sprintf("%s:%s", r->name, r->tag), "documentNamespace",
                  json_sprintf("https://distill.invalid/spdx/%s/%s", ns_name, manifest_digest + 7), "creationInfo",
                  "created", created, "creators", json_sprintf("Tool: distill-%s", DISTILL_VERSION));
  if (refs.ids.n)
    json_object_set(doc, "hasExtractedLicensingInfos", refs_json);
  json_object_set(doc, "packages", packages);
  json_object_set(doc, "files", files);
  json_object_set(doc, "relationships", rels);
  json_decref(packages);
  json_decref(files);
  json_decref(rels);
  json_decref(refs_json);
  for (size_t k = 0; k <= pkgs->n; k++)
    strv_free(&pkg_sha1s[k]);
  free(pkg_sha1s);
  sbom_refs_free(&refs);
  return doc;
}

static json_t *
document(const struct recipe *r, const struct plan *p, const char *manifest_digest, int64_t epoch,
         struct derror *err)
{
  size_t n = p->fs.n ? p->fs.n : 1;
  struct file_sums *sums = xcalloc(n, sizeof *sums);
  ssize_t *owner = xcalloc(n, sizeof *owner);
  json_t *doc = NULL;

  if (sum_files(p, sums, owner, err) == 0)
    doc = compose(r, p, manifest_digest, epoch, sums, owner);
  free(sums);
  free(owner);
  return doc;
}

int
sbom_write(const char *path, const struct recipe *r, const struct plan *p, const char *manifest_digest,
           int64_t epoch, struct derror *err)
{
  json_t *doc = document(r, p, manifest_digest, epoch, err);
  struct atomic_file out;
  char *text;
  int ret = -1;

  if (doc == NULL)
    return derror_wrap(err, "SBOM `%s`", path);
  text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
  json_decref(doc);
  if (text == NULL)
    oom();
  if (atomic_open(&out, path, err) < 0)
    goto done;
  if (write_all(out.fd, text, strlen(text)) < 0 || write_all(out.fd, "\n", 1) < 0) {
    derror_errno(err, errno, "write `%s`", path);
    atomic_abort(&out);
    goto done;
  }
  if (atomic_commit(&out, err) < 0)
    goto done;
  ret = 0;
done:
  free(text);
  return ret;
}
