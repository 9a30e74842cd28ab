/* SLSA provenance v1 of a build: see provenance.h. */
#include "config.h"
#include "build/provenance.h"
#include "build/sbom.h"
#include "lib/alloc.h"
#include "lib/cleanup.h"
#include "lib/compress.h"
#include "lib/digest.h"
#include "lib/file.h"

#include <errno.h>
#include <string.h>

#define RECIPE_MAX (16u << 20)
#define PROVENANCE_MAX (256u << 20)

/* Every regular file read from the host, once however many images or
 * names have it, with the image path it went to. */
static int
input_files(const struct plan *p, json_t *deps, struct strv *seen, struct derror *err)
{
  char hex[65];

  for (size_t i = 0; i < p->fs.n; i++) {
    const struct rootfs_entry *e = &p->fs.items[i];
    if (e->type != ROOTFS_FILE || e->source == NULL || strv_contains(seen, e->source))
      continue;
    strv_push(seen, e->source);
    if (sbom_entry_sha256(e, hex, err) < 0)
      return -1;
    json_array_append_new(deps, json_pack("{s:s, s:{s:s}, s:{s:s}}", "name", e->source, "digest", "sha256", hex,
                                          "annotations", "path", e->path));
  }
  return 0;
}

/* The sysroot's Debian packages the image takes files from. */
static void
input_packages(const struct plan *p, json_t *deps, struct strv *seen)
{
  cleanup_free char *distro = sbom_distro_id(&p->fs);

  for (size_t i = 0; i < p->packages.n; i++) {
    const struct dpkg_package *pk = &p->packages.items[i];
    char *purl = sbom_purl(pk, distro);
    if (strv_contains(seen, purl)) {
      free(purl);
      continue;
    }
    json_array_append_new(deps, json_pack("{s:s, s:s, s:{s:s, s:s}}", "uri", purl, "name", pk->name, "annotations",
                                          "version", pk->version, "arch", pk->arch));
    strv_push_take(seen, purl);
  }
}

static json_t *
platforms(const struct build_result *res)
{
  json_t *list = json_array();

  for (size_t i = 0; i < res->n_images; i++) {
    const struct plan *p = &res->images[i].plan;
    json_array_append_new(list, p->variant ? json_sprintf("linux/%s/%s", p->arch, p->variant)
                                           : json_sprintf("linux/%s", p->arch));
  }
  return list;
}

/* A recipe file as a resource: {path, digest}. */
static json_t *
recipe_resource(const char *file, struct derror *err)
{
  struct buf recipe = { 0 };
  char digest[DIGEST_STR_LEN];

  if (read_file(file, RECIPE_MAX, &recipe, err) < 0)
    return NULL;
  digest_buffer(recipe.data, recipe.len, digest);
  buf_free(&recipe);
  return json_pack("{s:s, s:{s:s}}", "path", file, "digest", "sha256", digest + 7);
}

static json_t *
external_parameters(const struct build_request *req, const struct build_result *res, struct derror *err)
{
  json_t *recipe = recipe_resource(req->recipe->file, err), *base = NULL;

  if (recipe == NULL)
    return NULL;
  /* the base recipe (from-recipe), whose files are in the image too */
  if (req->recipe->from_recipe && (base = recipe_resource(req->recipe->from_recipe, err)) == NULL) {
    json_decref(recipe);
    return NULL;
  }
  json_t *j = json_pack("{s:o, s:o, s:s, s:I, s:s, s:s}", "recipe", recipe, "platforms", platforms(res),
                        "compression", compression_name(req->comp), "sourceDateEpoch", (json_int_t) req->epoch,
                        "name", res->name, "tag", res->tag);
  if (base)
    json_object_set_new(j, "fromRecipe", base);
  return j;
}

static json_t *
build_definition(const struct build_request *req, const struct build_result *res, struct derror *err)
{
  cleanup_json json_t *ext = external_parameters(req, res, err);
  cleanup_json json_t *deps = json_array();
  struct strv files = { 0 }, packages = { 0 };
  int ret = ext ? 0 : -1;

  for (size_t i = 0; ret == 0 && i < res->n_images; i++)
    ret = input_files(&res->images[i].plan, deps, &files, err);
  for (size_t i = 0; ret == 0 && i < res->n_images; i++)
    input_packages(&res->images[i].plan, deps, &packages);
  strv_free(&files);
  strv_free(&packages);
  if (ret < 0)
    return NULL;
  const char *sysroot = req->sysroot ? req->sysroot : req->recipe->sysroot ? req->recipe->sysroot : "/";
  return json_pack("{s:s, s:O, s:{s:s}, s:O}", "buildType", PROVENANCE_BUILD_TYPE, "externalParameters", ext,
                   "internalParameters", "sysroot", sysroot, "resolvedDependencies", deps);
}

json_t *
provenance_predicate(const struct build_request *req, const struct build_result *res, struct derror *err)
{
  json_t *def = build_definition(req, res, err);

  if (def == NULL)
    return NULL;
  /* No invocationId, startedOn or finishedOn: they would differ between
   * two builds of the same inputs. */
  return json_pack("{s:o, s:{s:{s:s, s:{s:s}}, s:{}}}", "buildDefinition", def, "runDetails", "builder", "id",
                   PROVENANCE_BUILDER_ID, "version", "distill", DISTILL_VERSION, "metadata");
}

int
provenance_write(const char *path, json_t *predicate, struct derror *err)
{
  cleanup_free char *text = json_dumps(predicate, JSON_SORT_KEYS | JSON_COMPACT);
  struct atomic_file out;

  if (text == NULL)
    oom();
  if (atomic_open(&out, path, err) < 0)
    return -1;
  if (write_all(out.fd, text, strlen(text)) < 0 || write_all(out.fd, "\n", 1) < 0) {
    derror_errno(err, errno, "write `%s`", path);
    atomic_abort(&out);
    return -1;
  }
  return atomic_commit(&out, err);
}

json_t *
provenance_read(const char *path, struct derror *err)
{
  struct buf text = { 0 };
  json_error_t jerr;

  if (read_file(path, PROVENANCE_MAX, &text, err) < 0)
    return NULL;
  json_t *j = json_loadb(text.data, text.len, JSON_REJECT_DUPLICATES, &jerr);
  buf_free(&text);
  const char *type = json_string_value(json_object_get(json_object_get(j, "buildDefinition"), "buildType"));
  if (type == NULL || strcmp(type, PROVENANCE_BUILD_TYPE) != 0) {
    json_decref(j);
    derror_set(err, "`%s`: not a provenance distill wrote (no buildDefinition.buildType %s)", path,
               PROVENANCE_BUILD_TYPE);
    return NULL;
  }
  return j;
}
