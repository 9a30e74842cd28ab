#include "testlib.h"

#include "image/dockerfile.h"
#include "lib/cleanup.h"

#include <jansson.h>

/* A double-quoted word read back as Docker's and BuildKit's lexer reads
 * one: a backslash escapes `"`, `$` and itself; before anything else it
 * stays as written. */
static char *
unquote(const char *q)
{
  size_t n = strlen(q);
  char *out = xcalloc(n + 1, 1), *o = out;

  assert_true(n >= 2 && q[0] == '"' && q[n - 1] == '"');
  for (size_t i = 1; i < n - 1; i++) {
    if (q[i] == '\\' && i + 1 < n - 1 && strchr("\"$\\", q[i + 1]) != NULL)
      i++;
    else
      assert_true(q[i] != '"' && q[i] != '$'); /* nothing unescaped would end or substitute */
    *o++ = q[i];
  }
  return out;
}

static void
test_quote_round_trip(void **state)
{
  static const char *const values[] = {
    "", "plain", "with space", "a \"quoted\" word", "back\\slash", "$HOME and ${PATH}", "trailing\\",
    "\\\"", "#not a comment", "ünïcödé ✓", "a=b=c", "'single'", "`tick`",
  };
  bool lossy;

  for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
    cleanup_free char *q = dockerfile_quote(values[i], &lossy);
    cleanup_free char *back = unquote(q);
    assert_false(lossy);
    assert_string_equal(back, values[i]);
  }
}

static void
test_quote_controls(void **state)
{
  bool lossy;
  cleanup_free char *q = dockerfile_quote("a\nb\tc\rd\x01" "e\x7f", &lossy);

  assert_true(lossy);
  assert_string_equal(q, "\"a\\nb\\tc\\rd\\x01e\\x7f\"");
  assert_null(strchr(q, '\n'));
}

/* Every line of the text is an instruction this writer makes, or a
 * comment; none came from a value. */
static void
assert_lines(const char *text, size_t expect_lines)
{
  static const char *const starts[] = { "FROM scratch", "# ", "USER ", "ENV ", "WORKDIR ", "EXPOSE ",
                                        "VOLUME [", "ENTRYPOINT [", "CMD [", "LABEL ", "STOPSIGNAL " };
  size_t lines = 0;

  for (const char *p = text; *p; lines++) {
    const char *nl = strchr(p, '\n');
    assert_non_null(nl);
    bool known = false;
    for (size_t i = 0; i < sizeof starts / sizeof *starts; i++)
      known |= strncmp(p, starts[i], strlen(starts[i])) == 0;
    if (!known)
      fail_msg("a line no instruction of the writer starts: %.*s", (int) (nl - p), p);
    assert_null(memchr(p, '\r', (size_t) (nl - p)));
    p = nl + 1;
  }
  assert_int_equal(lines, expect_lines);
}

static void
test_hostile_config(void **state)
{
  json_error_t jerr;
  cleanup_json json_t *cfg = json_loads(
    "{\"config\": {"
    "\"User\": \"0\\nRUN rm -rf /\","
    "\"Env\": [\"A=1\\nRUN x\", \"NOVALUE\", \"B=$(id) \\\"q\\\"\", 7],"
    "\"WorkingDir\": \"/srv/my app\","
    "\"ExposedPorts\": {\"8080/tcp\": {}, \"80\\nRUN y\": {}},"
    "\"Volumes\": {\"/data\\nRUN z\": {}},"
    "\"Entrypoint\": [\"/app\", \"line\\nRUN w\"],"
    "\"Cmd\": [\"ok\", 5],"
    "\"Labels\": {\"k\": \"v\\nFROM evil\", \"a=b\": \"c\", \"e\\u0001\": \"x\"},"
    "\"StopSignal\": \"SIGTERM\\r\\nRUN v\","
    "\"Healthcheck\": {\"Test\": [\"NONE\"]}"
    "}}",
    0, &jerr);
  struct buf out = { 0 };

  assert_non_null(cfg);
  dockerfile_write(cfg, "out\ndir", &out);
  buf_append(&out, "", 1);
  assert_lines(out.data, 26);
  assert_non_null(strstr(out.data, "\nUSER \"0\\nRUN rm -rf /\"\n"));
  assert_non_null(strstr(out.data, "\nENV A=\"1\\nRUN x\"\n"));
  assert_non_null(strstr(out.data, "\n# ENV: entry 2 not written: not NAME=VALUE\n"));
  assert_non_null(strstr(out.data, "\nENV B=\"\\$(id) \\\"q\\\"\"\n"));
  assert_non_null(strstr(out.data, "\nWORKDIR \"/srv/my app\"\n"));
  assert_non_null(strstr(out.data, "\nENTRYPOINT [\"/app\", \"line\\nRUN w\"]\n"));
  assert_non_null(strstr(out.data, "\n# CMD not written: not an array of strings in the config\n"));
  assert_non_null(strstr(out.data, "\nLABEL k=\"v\\nFROM evil\"\n"));
  assert_non_null(strstr(out.data, "\n# LABEL \"a=b\" not written: a key cannot be empty or hold \"=\"\n"));
  assert_non_null(strstr(out.data, "\nLABEL \"e\\x01\"=\"x\"\n"));
  assert_non_null(strstr(out.data, "\n# COPY [\"out\\ndir\", \"/\"]\n"));
  assert_non_null(strstr(out.data, "\nSTOPSIGNAL \"SIGTERM\\r\\nRUN v\"\n"));
  buf_free(&out);
}

static void
test_plain_config(void **state)
{
  cleanup_json json_t *cfg = json_loads("{\"config\": {\"User\": \"65532:65532\", \"Cmd\": []}}", 0, NULL);
  struct buf out = { 0 };

  dockerfile_write(cfg, NULL, &out);
  buf_append(&out, "", 1);
  assert_string_equal(out.data, "FROM scratch\nUSER 65532:65532\nCMD []\n");
  buf_free(&out);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_quote_round_trip),
    cmocka_unit_test(test_quote_controls),
    cmocka_unit_test(test_hostile_config),
    cmocka_unit_test(test_plain_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
