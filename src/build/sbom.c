#include "config.h"
#include "build/sbom.h"
#include "plan/ecosystem.h"
#include "plan/license.h"
#include "lib/alloc.h"
#include "lib/digest.h"
#include "lib/error.h"
#include "lib/file.h"
#include "lib/path.h"
#include "lib/time.h"
#include "plan/dpkg.h"
#include "plan/plan.h"
#include "plan/rootfs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

struct file_sums {
  char sha1[41], sha256[65];
};

/* SHA-1 and SHA-256 of an entry's content, read again from its source. */
static int sum_entry(const struct rootfs_entry *e, struct file_sums *out, struct derror *err);

int
sbom_entry_sha256(const struct rootfs_entry *e, char hex[65], struct derror *err)
{
  struct file_sums sums;

  if (sum_entry(e, &sums, err) < 0)
    return -1;
  memcpy(hex, sums.sha256, sizeof sums.sha256);
  return 0;
}

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
char *
sbom_distro_id(const struct rootfs *fs)
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

/* The SPDX id of the k-th Debian package (counted from 0). */
#define PACKAGE_ID_MAX 300
static void
package_id(const struct dpkg_packages *pkgs, size_t k, char id[PACKAGE_ID_MAX])
{
  cleanup_free char *name_id = license_idstring(pkgs->items[k].name);

  snprintf(id, PACKAGE_ID_MAX, "SPDXRef-Package-%zu-%s", k + 1, name_id);
}

/* Every file with sums, in the order of the tree; each one's SHA-1 is
 * noted for its package's verification code (`sha1s[owner]`) and the
 * image's (`sha1s[image]`). */
static json_t *
list_files(const struct rootfs *fs, const struct file_sums *sums, const ssize_t *owner, struct strv *sha1s,
           size_t image)
{
  json_t *files = json_array();
  size_t n_files = 0;

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
      strv_push(&sha1s[owner[i]], sums[i].sha1);
    strv_push(&sha1s[image], sums[i].sha1);
  }
  return files;
}

/* The image itself, the document's root package; `sha1s` are all its
 * files'. */
static json_t *
image_package(const struct sbom_image *r, const struct plan *p, const char *manifest_digest, struct strv *sha1s)
{
  cleanup_free char *base = xstrdup(path_basename(r->name));
  cleanup_free char *tag = eco_purl_escape(r->tag);
  cleanup_free char *arch = eco_purl_escape(p->arch);
  cleanup_free char *code = verification_code(sha1s);

  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:[{s:s, s:s, s:o}]}", "SPDXID", "SPDXRef-Image",
                   "name", r->name, "versionInfo", r->tag, "primaryPackagePurpose", "CONTAINER",
                   "downloadLocation", "NOASSERTION", "supplier", "NOASSERTION", "packageVerificationCode",
                   "packageVerificationCodeValue", code, "externalRefs", "referenceCategory", "PACKAGE-MANAGER",
                   "referenceType", "purl", "referenceLocator",
                   json_sprintf("pkg:oci/%s@sha256%%3A%s?arch=%s&tag=%s", base, manifest_digest + 7, arch, tag));
}

/* What the package's copyright file declares, or NULL; the LicenseRef-s it
 * adds to `refs` are noted as the package's.  An unreadable file declares
 * nothing: the license is then NOASSERTION, as for any other package. */
static char *
package_license(const struct dpkg_package *pk, struct license_refs *refs)
{
  struct buf text = { 0 };
  struct derror ignored = DERROR_INIT;
  size_t before = refs->ids.n;
  char *license = NULL;

  if (pk->copyright == NULL)
    return NULL;
  if (read_file(pk->copyright, 16u << 20, &text, &ignored) == 0)
    license = license_declared(text.data, text.len, refs);
  for (size_t i = before; i < refs->ids.n; i++)
    strv_push(&refs->owners, pk->name);
  derror_clear(&ignored);
  buf_free(&text);
  return license;
}

/* A package's purl namespace: the distribution's (its os-release ID) when
 * its origin is unknown or the distribution's own (the origin's first word
 * is the ID, as in "Debian" and "Debian Backports"), else its origin in
 * lowercase letters, digits, '.' and '-' ("Node Source": "nodesource"). */
static char *
deb_namespace(const struct dpkg_package *pk, const char *distro)
{
  struct buf b = { 0 };
  size_t first = pk->origin ? strcspn(pk->origin, " \t") : 0;

  if (pk->origin == NULL || (strlen(distro) == first && strncasecmp(pk->origin, distro, first) == 0))
    return xstrdup(distro);
  for (const char *c = pk->origin; *c; c++)
    if (isalnum((unsigned char) *c) || *c == '.' || *c == '-')
      buf_printf(&b, "%c", tolower((unsigned char) *c));
  if (b.data == NULL)
    return xstrdup(distro);
  return b.data;
}

char *
sbom_purl(const struct dpkg_package *pk, const char *distro)
{
  cleanup_free char *version = eco_purl_escape(pk->version);
  cleanup_free char *parch = eco_purl_escape(pk->arch);
  cleanup_free char *ns = deb_namespace(pk, distro);

  return xasprintf("pkg:deb/%s/%s@%s?arch=%s", ns, pk->name, version, parch);
}

/* A Debian package of the image; `sha1s` are its files'. */
static json_t *
deb_package(const struct dpkg_package *pk, const char *id, const char *distro, struct strv *sha1s,
            struct license_refs *refs)
{
  cleanup_free char *code = verification_code(sha1s);
  cleanup_free char *license = package_license(pk, refs);
  cleanup_free char *purl = sbom_purl(pk, distro);

  json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:[{s:s, s:s, s:o}]}", "SPDXID", id, "name",
                        pk->name, "versionInfo", pk->version, "downloadLocation", "NOASSERTION", "licenseConcluded",
                        "NOASSERTION", "licenseDeclared", license ? license : "NOASSERTION", "copyrightText",
                        "NOASSERTION", "packageVerificationCode", "packageVerificationCodeValue", code,
                        "externalRefs", "referenceCategory", "PACKAGE-MANAGER", "referenceType", "purl",
                        "referenceLocator", json_string(purl));
  if (pk->maintainer)
    json_object_set_new(j, "supplier", supplier(pk->maintainer));
  json_object_set_new(j, "comment", json_sprintf("architecture %s; %s in the image", pk->arch, pk->status_path));
  return j;
}

/* Who contains each file: its package, or the image (unless a package
 * of another ecosystem, `held`, does). */
static void
contain_files(json_t *rels, const struct rootfs *fs, const struct file_sums *sums, const ssize_t *owner,
              const struct dpkg_packages *pkgs, const bool *held)
{
  size_t n_files = 0;

  for (size_t i = 0; i < fs->n; i++) {
    if (sums[i].sha1[0] == '\0')
      continue;
    char id[48], pid[PACKAGE_ID_MAX];
    snprintf(id, sizeof id, "SPDXRef-File-%zu", ++n_files);
    if (owner[i] >= 0)
      package_id(pkgs, (size_t) owner[i], pid);
    else if (held[i])
      continue;
    else
      snprintf(pid, sizeof pid, "SPDXRef-Image");
    json_array_append_new(rels, relationship(pid, "CONTAINS", id));
  }
}

/* A package of another ecosystem, its files' relationships (noted in
 * `held`) and its own: contained by the Debian package that has its
 * metadata file or by the image; a program's crate or module related to
 * the program's file instead (STATIC_LINK, GENERATED_FROM). */
static json_t *
eco_package(const struct plan *p, const struct eco_package *pk, const char *id, const struct file_sums *sums,
            const size_t *number, const ssize_t *owner, json_t *rels, bool *held)
{
  const struct rootfs *fs = &p->fs;
  size_t at = (size_t) (rootfs_find(fs, pk->at) - fs->items);
  struct strv sha1s = { 0 };
  char fid[48], pid[PACKAGE_ID_MAX];
  json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s}]}", "SPDXID", id, "name", pk->name,
                        "downloadLocation", "NOASSERTION", "licenseConcluded", "NOASSERTION", "licenseDeclared",
                        pk->license ? pk->license : "NOASSERTION", "copyrightText", "NOASSERTION", "externalRefs",
                        "referenceCategory", "PACKAGE-MANAGER", "referenceType", "purl", "referenceLocator", pk->purl);

  if (pk->version)
    json_object_set_new(j, "versionInfo", json_string(pk->version));
  json_object_set_new(j, "comment", json_sprintf("%s %s%s%s", pk->relation ? "in the program" : "described by",
                                                 pk->at, pk->comment ? "; " : "", pk->comment ? pk->comment : ""));
  for (size_t f = 0; f < pk->files.n; f++) {
    size_t i = (size_t) (rootfs_find(fs, pk->files.items[f]) - fs->items);
    if (sums[i].sha1[0] == '\0')
      continue;
    snprintf(fid, sizeof fid, "SPDXRef-File-%zu", number[i]);
    json_array_append_new(rels, relationship(id, "CONTAINS", fid));
    strv_push(&sha1s, sums[i].sha1);
    held[i] = true;
  }
  if (sha1s.n) {
    cleanup_free char *code = verification_code(&sha1s);
    json_object_set_new(j, "packageVerificationCode", json_pack("{s:s}", "packageVerificationCodeValue", code));
  } else {
    json_object_set_new(j, "filesAnalyzed", json_false());
  }
  strv_free(&sha1s);
  if (pk->relation && sums[at].sha1[0]) {
    snprintf(fid, sizeof fid, "SPDXRef-File-%zu", number[at]);
    json_array_append_new(rels, relationship(fid, pk->relation, id));
  } else {
    if (owner[at] >= 0)
      package_id(&p->packages, (size_t) owner[at], pid);
    else
      snprintf(pid, sizeof pid, "SPDXRef-Image");
    json_array_append_new(rels, relationship(pid, "CONTAINS", id));
  }
  return j;
}

/* The licenses of `refs`, which no SPDX identifier names. */
static json_t *
extracted_licenses(const struct license_refs *refs)
{
  json_t *a = json_array();

  for (size_t i = 0; i < refs->ids.n; i++)
    json_array_append_new(a, json_pack("{s:s, s:s, s:o}", "licenseId", refs->ids.items[i], "name",
                                       refs->names.items[i], "extractedText",
                                       json_sprintf("The license named \"%s\" in /usr/share/doc/%s/copyright",
                                                    refs->names.items[i], refs->owners.items[i])));
  return a;
}

/* The document's own fields: `created` is the source-date-epoch (by
 * time_rfc3339(), which no time zone file has a say in), the namespace
 * named after the manifest digest. */
static json_t *
document_head(const struct sbom_image *r, const char *manifest_digest, int64_t epoch)
{
  cleanup_free char *ns_name = license_idstring(r->name);
  char created[32];

  time_rfc3339(epoch, created);
  return json_pack("{s:s, s:s, s:s, s:o, s:o, s:{s:s, s:[o]}}", "spdxVersion", "SPDX-2.3", "dataLicense", "CC0-1.0",
                   "SPDXID", "SPDXRef-DOCUMENT", "name", json_sprintf("%s:%s", r->name, r->tag), "documentNamespace",
                   json_sprintf("https://distill.invalid/spdx/%s/%s", ns_name, manifest_digest + 7), "creationInfo",
                   "created", created, "creators", json_sprintf("Tool: distill-%s", DISTILL_VERSION));
}

/* The document, once every file's sums are known. */
static json_t *
compose(const struct sbom_image *r, const struct plan *p, const char *manifest_digest, int64_t epoch,
        const struct file_sums *sums, const ssize_t *owner)
{
  const struct dpkg_packages *pkgs = &p->packages;
  struct strv *sha1s = xcalloc(pkgs->n + 1, sizeof *sha1s); /* the last: the image's */
  cleanup_free char *distro = sbom_distro_id(&p->fs);
  struct license_refs refs = { 0 };
  json_t *files = list_files(&p->fs, sums, owner, sha1s, pkgs->n);
  json_t *packages = json_array(), *rels = json_array();

  json_array_append_new(rels, relationship("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"));
  json_array_append_new(packages, image_package(r, p, manifest_digest, &sha1s[pkgs->n]));
  for (size_t k = 0; k < pkgs->n; k++) {
    char id[PACKAGE_ID_MAX];
    package_id(pkgs, k, id);
    json_array_append_new(packages, deb_package(&pkgs->items[k], id, distro, &sha1s[k], &refs));
    json_array_append_new(rels, relationship("SPDXRef-Image", "CONTAINS", id));
  }
  struct eco_packages eco = { 0 };
  bool *held = xcalloc(p->fs.n + 1, sizeof *held);
  size_t *number = xcalloc(p->fs.n + 1, sizeof *number), n_files = 0;
  for (size_t i = 0; i < p->fs.n; i++)
    number[i] = sums[i].sha1[0] ? ++n_files : 0;
  eco_scan(&p->fs, &eco);
  for (size_t k = 0; k < eco.n; k++) {
    cleanup_free char *name_id = license_idstring(eco.items[k].name);
    cleanup_free char *id = xasprintf("SPDXRef-%s-%zu-%s", eco.items[k].kind, k + 1, name_id);
    json_array_append_new(packages, eco_package(p, &eco.items[k], id, sums, number, owner, rels, held));
  }
  contain_files(rels, &p->fs, sums, owner, pkgs, held);
  eco_packages_free(&eco);
  free(held);
  free(number);

  json_t *doc = document_head(r, manifest_digest, epoch);
  if (refs.ids.n)
    json_object_set_new(doc, "hasExtractedLicensingInfos", extracted_licenses(&refs));
  json_object_set_new(doc, "packages", packages);
  json_object_set_new(doc, "files", files);
  json_object_set_new(doc, "relationships", rels);
  for (size_t k = 0; k <= pkgs->n; k++)
    strv_free(&sha1s[k]);
  free(sha1s);
  license_refs_free(&refs);
  return doc;
}

json_t *
sbom_document(const struct sbom_image *r, const struct plan *p, const char *manifest_digest, int64_t epoch,
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
sbom_write(const char *path, const struct sbom_image *r, const struct plan *p, const char *manifest_digest,
           int64_t epoch, bool durable, struct derror *err)
{
  json_t *doc = sbom_document(r, p, manifest_digest, epoch, err);
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
  out.durable = durable;
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
