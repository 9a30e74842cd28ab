#include "testlib.h"

#include "build/oci.h"
#include "image/check.h"
#include "lib/time.h"
#include "plan/config.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <jansson.h>
#include <unistd.h>

/* The config as a plan would give it, by hand: the writer takes nothing
 * else. */
static void
make_config(struct image_config *c)
{
  memset(c, 0, sizeof *c);
  c->uid = c->gid = 65532;
  strv_push(&c->env, "PATH=/usr/bin");
  c->has_entrypoint = true;
  strv_push(&c->entrypoint, "/usr/bin/jq");
  c->has_cmd = true;
  strv_push(&c->cmd, "--version");
  c->work_dir = xstrdup("/home/nonroot");
  strv_push(&c->ports, "8080/tcp");
  strv_push(&c->volumes, "/data");
  strv_push(&c->labels.keys, "b");
  strv_push(&c->labels.values, "2");
  strv_push(&c->labels.keys, "a");
  strv_push(&c->labels.values, "1");
  c->stop_signal = xstrdup("SIGTERM");
  strv_push(&c->annotations.keys, "org.opencontainers.image.source");
  strv_push(&c->annotations.values, "x");
}

static void
make_image(struct oci_image *img, struct image_config *cfg, struct layer_blob *layers)
{
  static const char *comments[] = { "base", "app" };

  make_config(cfg);
  memset(img, 0, sizeof *img);
  memset(layers, 0, 2 * sizeof *layers);
  img->name = "jq";
  img->tag = "1.6";
  img->arch = "amd64";
  img->config = cfg;
  img->epoch = 1700000000;
  for (int i = 0; i < 2; i++) {
    digest_buffer(i ? "b" : "a", 1, layers[i].digest);
    digest_buffer(i ? "B" : "A", 1, layers[i].diff_id);
    layers[i].size = 100 + (uint64_t) i;
    layers[i].media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
  }
  img->layers = layers;
  img->layer_comments = comments;
  img->n_layers = 2;
}

static void
test_config(void **state)
{
  struct oci_image img;
  struct image_config cfg;
  struct layer_blob layers[2];
  json_error_t jerr;

  make_image(&img, &cfg, layers);
  cleanup_free char *config = oci_config_json(&img);
  /* Sorted keys, compact: the first keys of the document in order. */
  assert_int_equal(strncmp(config, "{\"architecture\":\"amd64\",\"config\":{\"Cmd\":[\"--version\"],", 52), 0);
  json_t *j = json_loads(config, 0, &jerr);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "created")), "2023-11-14T22:13:20Z");
  assert_string_equal(json_string_value(json_object_get(j, "os")), "linux");
  json_t *c = json_object_get(j, "config");
  assert_string_equal(json_string_value(json_object_get(c, "User")), "65532:65532");
  assert_string_equal(json_string_value(json_object_get(c, "WorkingDir")), "/home/nonroot");
  assert_string_equal(json_string_value(json_object_get(c, "StopSignal")), "SIGTERM");
  assert_non_null(json_object_get(json_object_get(c, "ExposedPorts"), "8080/tcp"));
  assert_non_null(json_object_get(json_object_get(c, "Volumes"), "/data"));
  assert_string_equal(json_string_value(json_array_get(json_object_get(c, "Entrypoint"), 0)), "/usr/bin/jq");
  assert_string_equal(json_string_value(json_array_get(json_object_get(c, "Env"), 0)), "PATH=/usr/bin");
  assert_string_equal(json_string_value(json_object_get(json_object_get(c, "Labels"), "a")), "1");
  assert_string_equal(json_string_value(json_object_get(json_object_get(c, "Labels"), "b")), "2");
  json_t *diff_ids = json_object_get(json_object_get(j, "rootfs"), "diff_ids");
  assert_int_equal(json_array_size(diff_ids), 2);
  assert_string_equal(json_string_value(json_array_get(diff_ids, 1)), layers[1].diff_id);
  assert_int_equal(json_array_size(json_object_get(j, "history")), 2);
  json_decref(j);
  image_config_free(&cfg);
}

static void
test_manifest_index_docker(void **state)
{
  struct oci_image img;
  struct image_config config;
  struct layer_blob layers[2];
  json_error_t jerr;
  char cd[DIGEST_STR_LEN];

  make_image(&img, &config, layers);
  digest_buffer("config", 6, cd);
  cleanup_free char *manifest = oci_manifest_json(&img, cd, 6);
  json_t *m = json_loads(manifest, 0, &jerr);
  assert_int_equal(json_integer_value(json_object_get(m, "schemaVersion")), 2);
  assert_string_equal(json_string_value(json_object_get(m, "mediaType")), "application/vnd.oci.image.manifest.v1+json");
  json_t *cfg = json_object_get(m, "config");
  assert_string_equal(json_string_value(json_object_get(cfg, "digest")), cd);
  assert_int_equal(json_integer_value(json_object_get(cfg, "size")), 6);
  json_t *l0 = json_array_get(json_object_get(m, "layers"), 0);
  assert_string_equal(json_string_value(json_object_get(l0, "digest")), layers[0].digest);
  assert_int_equal(json_integer_value(json_object_get(l0, "size")), 100);
  assert_string_equal(json_string_value(json_object_get(json_object_get(m, "annotations"),
                                                        "org.opencontainers.image.source")), "x");
  json_decref(m);

  cleanup_free char *index = oci_index_json(&img, "application/vnd.oci.image.manifest.v1+json", cd, 6);
  json_t *ix = json_loads(index, 0, &jerr);
  json_t *ann = json_object_get(json_array_get(json_object_get(ix, "manifests"), 0), "annotations");
  assert_string_equal(json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name")), "1.6");
  assert_string_equal(json_string_value(json_object_get(ann, "io.containerd.image.name")), "docker.io/library/jq:1.6");
  json_decref(ix);

  cleanup_free char *docker = oci_docker_manifest_json(&img, cd);
  cleanup_free char *expect = xasprintf("[{\"Config\":\"blobs/sha256/%s\",\"Layers\":[\"blobs/sha256/%s\","
                                        "\"blobs/sha256/%s\"],\"RepoTags\":[\"jq:1.6\"]}]",
                                        cd + 7, layers[0].digest + 7, layers[1].digest + 7);
  assert_string_equal(docker, expect);

  img.name = "localhost:5000/team/jq";
  cleanup_free char *index2 = oci_index_json(&img, "application/vnd.oci.image.manifest.v1+json", cd, 6);
  assert_non_null(strstr(index2, "\"io.containerd.image.name\":\"localhost:5000/team/jq:1.6\""));
  image_config_free(&config);
}

/* The waivers of the config go into the manifest, beside its own
 * annotations, as the list `distill check` reads back. */
static void
test_manifest_waivers(void **state)
{
  struct oci_image img;
  struct image_config cfg;
  struct layer_blob layers[2];
  char cd[DIGEST_STR_LEN];

  make_image(&img, &cfg, layers);
  digest_buffer("config", 6, cd);
  cleanup_free char *plain = oci_manifest_json(&img, cd, 6);
  assert_null(strstr(plain, CHECK_WAIVED_ANNOTATION));
  cfg.waivers = xcalloc(1, sizeof *cfg.waivers);
  cfg.waivers[0] = (struct check_waiver) { xstrdup("no-secrets"), xstrdup("/etc/k"), xstrdup("a fixture") };
  cfg.n_waivers = 1;
  cleanup_free char *manifest = oci_manifest_json(&img, cd, 6);
  json_t *m = json_loads(manifest, 0, NULL);
  json_t *ann = json_object_get(m, "annotations");
  assert_string_equal(json_string_value(json_object_get(ann, "org.opencontainers.image.source")), "x");
  cleanup_free char *want = check_waivers_json(cfg.waivers, 1);
  assert_string_equal(json_string_value(json_object_get(ann, CHECK_WAIVED_ANNOTATION)), want);
  json_decref(m);
  image_config_free(&cfg);
}

static void
test_time(void **state)
{
  char t[32];
  time_rfc3339(0, t);
  assert_string_equal(t, "1970-01-01T00:00:00Z");
  time_rfc3339(253402300799LL, t);
  assert_string_equal(t, "9999-12-31T23:59:59Z");
  /* leap days, century rules, against GNU date */
  time_rfc3339(951782400, t);
  assert_string_equal(t, "2000-02-29T00:00:00Z");
  time_rfc3339(4107542399LL, t);
  assert_string_equal(t, "2100-02-28T23:59:59Z");
  time_rfc3339(4107542400LL, t);
  assert_string_equal(t, "2100-03-01T00:00:00Z");
  time_rfc3339(1700000000, t);
  assert_string_equal(t, "2023-11-14T22:13:20Z");
}

/* The archive in one pass: blobs streamed behind headers filled in later,
 * a repeated blob dropped, and times past 2242 in base-256; libarchive
 * reads every member back with its name, size, time and content. */
static void
test_archive_members(void **state)
{
  char *dir = tl_tmpdir();
  cleanup_free char *path = xasprintf("%s/image.tar", dir);
  struct oci_image img;
  struct layer_blob layers[2];
  struct image_config cfg;
  struct oci_archive a;
  struct derror err = DERROR_INIT;
  char manifest[DIGEST_STR_LEN];
  const char *blob = "layer bytes, not a multiple of 512";
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

  make_image(&img, &cfg, layers);
  img.epoch = 253402300799; /* 9999-12-31T23:59:59Z */
  digest_buffer(blob, strlen(blob), layers[0].digest);
  digest_buffer(blob, strlen(blob), layers[1].digest);
  layers[0].size = layers[1].size = strlen(blob);
  assert_int_equal(oci_archive_open(&a, fd, img.epoch, &err), 0);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(oci_archive_blob_begin(&a, &err), 0);
    assert_int_equal(write_all(fd, blob, strlen(blob)), 0);
    assert_int_equal(oci_archive_blob_end(&a, layers[i].digest, strlen(blob), &err), 0);
  }
  /* a blob whose size is not what was written is an error */
  assert_int_equal(oci_archive_blob_begin(&a, &err), 0);
  assert_int_equal(oci_archive_blob_end(&a, layers[0].digest + 1, 7, &err), -1);
  derror_clear(&err);
  assert_int_equal(ftruncate(fd, a.blob_at), 0);
  assert_int_equal(lseek(fd, a.blob_at, SEEK_SET), a.blob_at);
  a.off = a.blob_at;
  char top[DIGEST_STR_LEN];
  assert_int_equal(oci_archive_manifests(&a, &img, 1, &manifest, top, &err), 0);
  assert_int_equal(oci_archive_close(&a, &img, NULL, 0, &err), 0);
  assert_string_equal(top, manifest);
  close(fd);

  cleanup_free char *blob_name = xasprintf("blobs/sha256/%s", layers[0].digest + 7);
  const char *want[] = { "blobs/", "blobs/sha256/", blob_name, NULL, NULL, "index.json", "manifest.json",
                         "oci-layout", "repositories" };
  struct archive *ar = archive_read_new();
  struct archive_entry *ae;
  size_t n = 0;
  archive_read_support_format_tar(ar);
  assert_int_equal(archive_read_open_filename(ar, path, 10240), ARCHIVE_OK);
  while (archive_read_next_header(ar, &ae) == ARCHIVE_OK) {
    assert_true(n < sizeof want / sizeof *want);
    if (want[n])
      assert_string_equal(archive_entry_pathname(ae), want[n]);
    else
      assert_true(strncmp(archive_entry_pathname(ae), "blobs/sha256/", 13) == 0);
    assert_int_equal(archive_entry_mtime(ae), 253402300799);
    assert_int_equal(archive_entry_uid(ae), 0);
    if (n == 2) {
      char got[64] = { 0 };
      assert_int_equal(archive_entry_size(ae), strlen(blob));
      assert_int_equal(archive_read_data(ar, got, sizeof got), strlen(blob));
      assert_string_equal(got, blob);
    }
    n++;
  }
  assert_int_equal(n, sizeof want / sizeof *want);
  archive_read_free(ar);
  image_config_free(&cfg);
  tl_rmtree(dir);
}

/* The member `name` of the archive at `path`, parsed (NULL: none). */
static json_t *
member_json(const char *path, const char *name)
{
  struct archive *ar = archive_read_new();
  struct archive_entry *ae;
  json_t *j = NULL;

  archive_read_support_format_tar(ar);
  assert_int_equal(archive_read_open_filename(ar, path, 10240), ARCHIVE_OK);
  while (j == NULL && archive_read_next_header(ar, &ae) == ARCHIVE_OK)
    if (strcmp(archive_entry_pathname(ae), name) == 0) {
      char *text = xcalloc(1, (size_t) archive_entry_size(ae) + 1);
      assert_int_equal(archive_read_data(ar, text, (size_t) archive_entry_size(ae)), archive_entry_size(ae));
      j = json_loads(text, 0, NULL);
      free(text);
    }
  archive_read_free(ar);
  return j;
}

/* A signature manifest beside the image: its blobs and manifest in the
 * archive, listed in an index of their own that index.json's only entry
 * names, with cosign's annotations; index.json names the image alone. */
static void
test_archive_extras(void **state)
{
  char *dir = tl_tmpdir();
  cleanup_free char *path = xasprintf("%s/image.tar", dir);
  struct oci_image img;
  struct layer_blob layers[2];
  struct image_config cfg;
  struct oci_archive a;
  struct derror err = DERROR_INIT;
  char manifest[DIGEST_STR_LEN], top[DIGEST_STR_LEN], payload_digest[DIGEST_STR_LEN];
  struct buf blobs[1] = { { 0 } };
  struct oci_extra x = { .name = xstrdup("sha256-0123.sig"), .kind = OCI_KIND_SIGNATURES, .signer = xstrdup("KEY"),
                         .blobs = blobs, .n_blobs = 1 };
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

  (void) state;
  make_image(&img, &cfg, layers);
  img.n_layers = 0;
  buf_printf(&blobs[0], "a payload");
  digest_buffer(blobs[0].data, blobs[0].len, payload_digest);
  buf_printf(&x.manifest, "{\"layers\":[{\"digest\":\"%s\"}]}", payload_digest);
  assert_int_equal(oci_archive_open(&a, fd, 0, &err), 0);
  assert_int_equal(oci_archive_manifests(&a, &img, 1, &manifest, top, &err), 0);
  assert_int_equal(oci_archive_close(&a, &img, &x, 1, &err), 0);
  close(fd);

  json_t *index = member_json(path, "index.json");
  json_t *list = json_object_get(index, "manifests");
  assert_int_equal(json_array_size(list), 1);
  json_t *image = json_array_get(list, 0);
  assert_string_equal(json_string_value(json_object_get(image, "digest")), manifest);
  const char *attached = json_string_value(json_object_get(json_object_get(image, "annotations"),
                                                           OCI_EXTRAS_ANNOTATION));
  assert_true(attached && digest_valid(attached));
  cleanup_free char *name = xasprintf("blobs/sha256/%s", attached + 7);
  json_t *extras = member_json(path, name);
  json_t *d = json_array_get(json_object_get(extras, "manifests"), 0);
  assert_int_equal(json_array_size(json_object_get(extras, "manifests")), 1);
  json_t *ann = json_object_get(d, "annotations");
  assert_string_equal(json_string_value(json_object_get(ann, "kind")), OCI_KIND_SIGNATURES);
  assert_string_equal(json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name")), "sha256-0123.sig");
  assert_string_equal(json_string_value(json_object_get(ann, OCI_SIGNER_ANNOTATION)), "KEY");
  char digest[DIGEST_STR_LEN];
  digest_buffer(x.manifest.data, x.manifest.len, digest);
  assert_string_equal(json_string_value(json_object_get(d, "digest")), digest);
  free(name);
  name = xasprintf("blobs/sha256/%s", digest + 7);
  json_t *m = member_json(path, name);
  assert_non_null(m);
  assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(m, "layers"), 0), "digest")),
                      payload_digest);
  json_decref(m);
  json_decref(extras);
  json_decref(index);
  x.blobs = xcalloc(1, sizeof *x.blobs);
  x.blobs[0] = blobs[0];
  oci_extra_free(&x);
  image_config_free(&cfg);
  tl_rmtree(dir);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_config),
    cmocka_unit_test(test_manifest_index_docker),
    cmocka_unit_test(test_manifest_waivers),
    cmocka_unit_test(test_time),
    cmocka_unit_test(test_archive_members),
    cmocka_unit_test(test_archive_extras),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
