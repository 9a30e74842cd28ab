#include "testlib.h"

#include "image/kube.h"
#include "lib/cleanup.h"

#include <jansson.h>
#include <yaml.h>

/* A node of a YAML document as JSON: a double-quoted scalar a string, a
 * plain one an integer, true or false; a flow {} or [] empty. */
static json_t *
node_json(yaml_document_t *doc, yaml_node_t *n)
{
  json_t *out;

  if (n->type == YAML_SCALAR_NODE) {
    const char *v = (const char *) n->data.scalar.value;
    char *end;
    if (n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE)
      return json_stringn(v, n->data.scalar.length);
    assert_int_equal(n->data.scalar.style, YAML_PLAIN_SCALAR_STYLE);
    if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
      return json_boolean(strcmp(v, "true") == 0);
    long long i = strtoll(v, &end, 10);
    assert_true(*v != '\0' && *end == '\0');
    return json_integer(i);
  }
  if (n->type == YAML_SEQUENCE_NODE) {
    out = json_array();
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++)
      json_array_append_new(out, node_json(doc, yaml_document_get_node(doc, *i)));
    return out;
  }
  assert_int_equal(n->type, YAML_MAPPING_NODE);
  out = json_object();
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(doc, p->key);
    assert_int_equal(k->type, YAML_SCALAR_NODE);
    assert_null(json_object_get(out, (const char *) k->data.scalar.value));
    json_object_set_new(out, (const char *) k->data.scalar.value, node_json(doc, yaml_document_get_node(doc, p->value)));
  }
  return out;
}

/* `yaml` parsed by libyaml, as JSON. */
static json_t *
load_yaml(const struct buf *yaml)
{
  yaml_parser_t parser;
  yaml_document_t doc;

  assert_true(yaml_parser_initialize(&parser));
  yaml_parser_set_input_string(&parser, (const unsigned char *) yaml->data, yaml->len);
  assert_true(yaml_parser_load(&parser, &doc));
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  assert_non_null(root);
  json_t *j = node_json(&doc, root);
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  return j;
}

static void
test_label(void **state)
{
  static const char *const good[] = { "a", "web", "web-1", "0", "a0-b1",
                                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
  static const char *const bad[] = { "", "-a", "a-", "A", "a_b", "a.b", "a b", "é",
                                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };

  (void) state;
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    assert_true(kube_label_valid(good[i]));
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_false(kube_label_valid(bad[i]));
}

/* Whatever the strings, the YAML loads to the same document: quotes,
 * backslashes, controls, YAML's own indicators, every UTF-8 length. */
static void
test_yaml_round_trip(void **state)
{
  static const char *const hostile[] = {
    "", "\"", "\\", "a\nb: c", "- x", "# not a comment", "'", "\t\r\x01\x1f\x7f", "\xc2\x85 \xc2\xa0 é",
    "\xe2\x80\xa8 \xef\xbb\xbf \xef\xbf\xbe", "\xf0\x9f\x90\xb3", "true", "012", "null", "~", "{}", "[a]", "*x", "&y",
    "key: value", "  lead", "trail  ", "%TAG", "---", "...",
  };
  json_t *strings = json_array(), *odd = json_object();
  struct buf out = { 0 };

  (void) state;
  for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
    json_array_append_new(strings, json_string(hostile[i]));
    json_object_set_new(odd, hostile[i], json_integer((json_int_t) i));
  }
  cleanup_json json_t *doc = json_pack("{s:o, s:o, s:[[i, [s]], {}, [], {s:[{s:b, s:[]}]}], s:{}, s:i}", "strings",
                                       strings, "keys", odd, "nested", 1, "x", "a", "b", 0, "c", "empty", "n", -5);
  kube_yaml(doc, &out);
  for (size_t i = 0; i < out.len; i++)
    assert_true(out.data[i] == '\n' || (out.data[i] >= 0x20 && out.data[i] < 0x7f));
  cleanup_json json_t *back = load_yaml(&out);
  if (!json_equal(doc, back)) {
    buf_append(&out, "", 1);
    fail_msg("%s", out.data);
  }
  buf_free(&out);
}

static void
facts(struct kube_facts *f)
{
  memset(f, 0, sizeof *f);
  f->name = xstrdup("web");
  f->image = xstrdup("registry.example/it's\nweb:1");
  f->uid = f->gid = 65532;
  f->ports = xcalloc(2, sizeof *f->ports);
  f->ports[0] = (struct kube_port) { 80, "TCP" };
  f->ports[1] = (struct kube_port) { 8443, "UDP" };
  f->n_ports = 2;
  f->low_port = true;
  f->mounts = xcalloc(2, sizeof *f->mounts);
  f->mounts[0] = (struct kube_mount) { xstrdup("/tmp"), xstrdup("tmp"), 01777 };
  f->mounts[1] = (struct kube_mount) { xstrdup("/var/lib/it's"), xstrdup("var-lib-it-s"), 0700 };
  f->n_mounts = 2;
  f->probe = json_pack("{s:{s:[s]}, s:i}", "exec", "command", "/hc", "periodSeconds", 5);
}

static void
test_document(void **state)
{
  struct kube_facts f;

  (void) state;
  facts(&f);
  cleanup_json json_t *pod = kube_document(&f, true);
  cleanup_json json_t *dep = kube_document(&f, false);
  json_t *c = json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
  json_t *sc = json_object_get(c, "securityContext");
  assert_string_equal(json_string_value(json_object_get(pod, "kind")), "Pod");
  assert_string_equal(json_string_value(json_object_get(dep, "apiVersion")), "apps/v1");
  cleanup_json json_t *bind = json_pack("[s]", "NET_BIND_SERVICE");
  assert_true(json_equal(json_object_get(json_object_get(sc, "capabilities"), "add"), bind));
  assert_int_equal(json_integer_value(json_object_get(sc, "runAsUser")), 65532);
  assert_true(json_is_false(json_object_get(sc, "allowPrivilegeEscalation")));
  assert_true(json_equal(json_object_get(c, "livenessProbe"), f.probe));
  assert_true(json_equal(json_object_get(json_object_get(json_object_get(dep, "spec"), "template"), "spec"),
                         json_object_get(pod, "spec")));
  f.low_port = false;
  cleanup_json json_t *high = kube_document(&f, true);
  c = json_array_get(json_object_get(json_object_get(high, "spec"), "containers"), 0);
  assert_null(json_object_get(json_object_get(json_object_get(c, "securityContext"), "capabilities"), "add"));
  kube_facts_free(&f);
}

static void
test_docker(void **state)
{
  struct kube_facts f;
  struct buf out = { 0 };

  (void) state;
  facts(&f);
  kube_docker(&f, &out);
  buf_append(&out, "", 1);
  assert_string_equal(out.data, "docker run --rm --read-only --user 65532:65532 --cap-drop ALL --cap-add "
                                "NET_BIND_SERVICE --security-opt no-new-privileges --tmpfs /tmp:mode=1777 --volume "
                                "'/var/lib/it'\\''s' -p 80:80/tcp -p 8443:8443/udp $'registry.example/it\\'s\\x0aweb:1'\n");
  buf_free(&out);
  kube_facts_free(&f);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_label),
    cmocka_unit_test(test_yaml_round_trip),
    cmocka_unit_test(test_document),
    cmocka_unit_test(test_docker),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
