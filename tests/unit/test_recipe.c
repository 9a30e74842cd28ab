#include "testlib.h"

#include "recipe/keys.h"
#include "recipe/recipe.h"

static const char full[] =
  "name: jq\n"
  "tag: \"1.6\"\n"
  "sysroot: /\n"
  "contents:\n"
  "  binaries:\n"
  "    - /usr/bin/jq\n"
  "    - source: build/server\n"
  "      path: /usr/local/bin/server\n"
  "  libraries:\n"
  "    - libgcc_s.so.1\n"
  "    - /usr/lib/x86_64-linux-gnu/libz.so.1\n"
  "  files:\n"
  "    - source: conf/app.toml\n"
  "      path: /etc/app/app.toml\n"
  "      mode: 0444\n"
  "  directories:\n"
  "    - source: /usr/lib/python3.11\n"
  "      path: /usr/lib/python3.11\n"
  "      exclude: [\"__pycache__\", \"test\"]\n"
  "  symlinks:\n"
  "    - path: /usr/bin/python3\n"
  "      target: python3.11\n"
  "  packages:\n"
  "    - tzdata\n"
  "    - {name: \"libfoo1:arm64\", exclude: [\"*.a\", /usr/share/foo]}\n"
  "ca-certificates: true\n"
  "tzdata: false\n"
  "accounts:\n"
  "  run-as: app\n"
  "  users:  [{name: app, uid: 10001, gid: 10001, home: /home/app}]\n"
  "  groups: [{name: app, gid: 10001}]\n"
  "paths:\n"
  "  - {path: /var/lib/app, type: directory, uid: 65532, gid: 65532, mode: 0700}\n"
  "  - {path: /var/log/app.log, type: file}\n"
  "entrypoint: [/usr/bin/jq]\n"
  "cmd: [--version]\n"
  "environment: {TZ: UTC, LANG: C.UTF-8}\n"
  "work-dir: /home/nonroot\n"
  "ports: [8080/tcp, 53/udp, 9090]\n"
  "volumes: [/var/lib/app]\n"
  "labels: {maintainer: me}\n"
  "annotations: {org.opencontainers.image.source: \"https://example.org/app\"}\n"
  "stop-signal: SIGTERM\n"
  "sbom: out/app.spdx.json\n";

static void
test_full_recipe(void **state)
{
  struct recipe r;
  struct derror err = DERROR_INIT;

  assert_int_equal(recipe_parse("/srv/app/app.yaml", full, strlen(full), &r, &err), 0);
  assert_null(err.msg);
  assert_string_equal(r.name, "jq");
  assert_string_equal(r.tag, "1.6");
  assert_string_equal(r.sysroot, "/");
  assert_string_equal(r.dir, "/srv/app");
  assert_int_equal(r.n_binaries, 2);
  assert_string_equal(r.binaries[0].src.source, "/usr/bin/jq");
  assert_true(r.binaries[0].src.in_sysroot);
  assert_string_equal(r.binaries[0].path, "/usr/bin/jq");
  assert_int_equal(r.binaries[0].pos.line, 6);
  assert_int_equal(r.binaries[0].pos.column, 7);
  assert_string_equal(r.binaries[1].src.source, "build/server");
  assert_false(r.binaries[1].src.in_sysroot);
  assert_string_equal(r.binaries[1].path, "/usr/local/bin/server");
  assert_int_equal(r.n_libraries, 2);
  assert_string_equal(r.libraries[0].name, "libgcc_s.so.1");
  assert_int_equal(r.n_files, 1);
  assert_int_equal(r.files[0].mode, 0444);
  assert_string_equal(r.files[0].path, "/etc/app/app.toml");
  assert_int_equal(r.n_directories, 1);
  assert_int_equal(r.directories[0].exclude.n, 2);
  assert_string_equal(r.directories[0].exclude.items[1], "test");
  assert_int_equal(r.n_symlinks, 1);
  assert_string_equal(r.symlinks[0].target, "python3.11");
  assert_int_equal(r.n_packages, 2);
  assert_string_equal(r.packages[0].name, "tzdata");
  assert_null(r.packages[0].arch);
  assert_int_equal(r.packages[0].pos.line, 24);
  assert_string_equal(r.packages[1].name, "libfoo1");
  assert_string_equal(r.packages[1].arch, "arm64");
  assert_int_equal(r.packages[1].exclude.n, 2);
  assert_string_equal(r.packages[1].exclude.items[1], "/usr/share/foo");
  assert_int_equal(r.ca, RECIPE_CA_SYSROOT);
  assert_false(r.tzdata);
  assert_string_equal(r.run_as, "app");
  assert_int_equal(r.n_users, 1);
  assert_int_equal(r.users[0].uid, 10001);
  assert_string_equal(r.users[0].home, "/home/app");
  assert_int_equal(r.n_groups, 1);
  assert_int_equal(r.n_paths, 2);
  assert_int_equal(r.paths[0].mode, 0700);
  assert_int_equal(r.paths[0].uid, 65532);
  /* A path without owner belongs to the user the image runs as. */
  assert_int_equal(r.paths[1].type, RECIPE_PATH_FILE);
  assert_int_equal(r.paths[1].uid, 10001);
  assert_int_equal(r.paths[1].mode, 0644);
  assert_int_equal(r.entrypoint.n, 1);
  assert_int_equal(r.cmd.n, 1);
  assert_int_equal(r.environment.n, 2);
  assert_string_equal(r.environment.items[0].key, "TZ");
  assert_string_equal(r.environment.items[1].value, "C.UTF-8");
  /* a value's position is its key's, for errors raised after parsing */
  assert_int_equal(r.environment.items[1].pos.line, 37);
  assert_int_equal(r.environment.items[1].pos.column, 24);
  assert_string_equal(r.work_dir, "/home/nonroot");
  assert_int_equal(r.ports.n, 3);
  assert_string_equal(r.ports.items[2], "9090/tcp");
  assert_string_equal(r.volumes.items[0], "/var/lib/app");
  assert_string_equal(r.labels.items[0].key, "maintainer");
  assert_string_equal(r.annotations.items[0].value, "https://example.org/app");
  assert_string_equal(r.stop_signal, "SIGTERM");
  assert_string_equal(r.sbom, "/srv/app/out/app.spdx.json"); /* relative to the recipe */
  recipe_free(&r);
}

static void
test_defaults(void **state)
{
  struct recipe r;
  struct derror err = DERROR_INIT;
  const char *text = "name: static\n";

  assert_int_equal(recipe_parse("static.yaml", text, strlen(text), &r, &err), 0);
  assert_string_equal(r.tag, "latest");
  assert_string_equal(r.sysroot, "/");
  assert_string_equal(r.run_as, "nonroot");
  assert_string_equal(r.work_dir, "/home/nonroot");
  assert_int_equal(r.ca, RECIPE_CA_SYSROOT);
  assert_false(r.has_entrypoint);
  assert_true(r.dir[0] == '/');
  recipe_free(&r);
}

static void
test_normalised_values(void **state)
{
  struct recipe r;
  struct derror err = DERROR_INIT;
  const char *text = "name: a/b\n"
                     "sysroot: roots/arm64\n"
                     "ca-certificates: certs/bundle.pem\n"
                     "contents: {binaries: [/usr//bin/./x], files: [{source: a, path: /a, mode: 0o640}]}\n"
                     "stop-signal: HUP\n"
                     "healthcheck: {test: [/usr/bin/x, --health], interval: 1m30s, timeout: 500ms, "
                     "start-period: 2s, retries: 3}\n";

  assert_int_equal(recipe_parse("/r/x.yaml", text, strlen(text), &r, &err), 0);
  assert_string_equal(r.binaries[0].path, "/usr/bin/x");
  assert_string_equal(r.sysroot, "/r/roots/arm64");
  assert_int_equal(r.ca, RECIPE_CA_PATH);
  assert_string_equal(r.ca_source.source, "certs/bundle.pem");
  assert_int_equal(r.files[0].mode, 0640);
  assert_string_equal(r.stop_signal, "SIGHUP");
  assert_true(r.healthcheck.set);
  assert_int_equal(r.healthcheck.test.n, 2);
  assert_string_equal(r.healthcheck.test.items[1], "--health");
  assert_true(r.healthcheck.interval_ns == 90000000000LL);
  assert_true(r.healthcheck.timeout_ns == 500000000LL);
  assert_true(r.healthcheck.start_period_ns == 2000000000LL);
  assert_int_equal(r.healthcheck.retries, 3);
  assert_null(r.platform);
  recipe_free(&r);

  const char *arm = "name: a\nplatform: linux/arm\n";
  assert_int_equal(recipe_parse("/r/x.yaml", arm, strlen(arm), &r, &err), 0);
  assert_string_equal(r.platform_arch, "arm");
  assert_string_equal(r.platform_variant, "v7");
  recipe_free(&r);
  const char *arm64 = "name: a\nplatform: arm64\n";
  assert_int_equal(recipe_parse("/r/x.yaml", arm64, strlen(arm64), &r, &err), 0);
  assert_string_equal(r.platform_arch, "arm64");
  assert_null(r.platform_variant);
  recipe_free(&r);

  /* platforms: each sysroot relative to the recipe */
  const char *multi = "name: a\nplatforms: {linux/amd64: /, linux/arm64: roots/arm64}\n";
  assert_int_equal(recipe_parse("/r/x.yaml", multi, strlen(multi), &r, &err), 0);
  assert_int_equal(r.platforms.n, 2);
  assert_string_equal(r.platforms.items[0].key, "linux/amd64");
  assert_string_equal(r.platforms.items[0].value, "/");
  assert_string_equal(r.platforms.items[1].value, "/r/roots/arm64");
  recipe_free(&r);
}

struct bad {
  const char *yaml;
  const char *error;
};

/* Each error class with the exact message a user reads. */
static const struct bad bad_recipes[] = {
  { "", "t.yaml: empty recipe" },
  { "- a\n", "t.yaml:1:1: a recipe must be a mapping of keys" },
  { "tag: x\n", "t.yaml:1:1: missing required key \"name\"" },
  { "name: x\ncontens: {}\n", "t.yaml:2:1: contens: unknown key; did you mean \"contents\"?" },
  { "name: x\nzzzzzzzz: 1\n", "t.yaml:2:1: zzzzzzzz: unknown key" },
  { "name: x\nname: y\n", "t.yaml:2:1: name: duplicate key" },
  { "name: x\nplatforms: {linux/vax: /}\n",
    "t.yaml:2:12: platforms.linux/vax: \"linux/vax\" is not a platform such as linux/amd64, linux/arm64 or linux/arm/v7" },
  { "name: x\nplatforms: {linux/arm64: ''}\n", "t.yaml:2:12: platforms.linux/arm64: must name the sysroot of that platform" },
  { "name: x\nsysroot: /\nplatforms: {linux/arm64: /}\n",
    "t.yaml:1:1: platforms: names each platform's sysroot: neither \"platform\" nor \"sysroot\" goes with it" },
  { "name: X\n", "t.yaml:1:7: name: \"X\" is not a valid image name (lower case letters, digits, '.', '_', '-', '/')" },
  { "name: x\ntag: \"-a\"\n", "t.yaml:2:6: tag: \"-a\" is not a valid tag (letters, digits, '_', '.', '-'; at most 128)" },
  { "name: x\ncontents:\n  binaries:\n    - bin/x\n",
    "t.yaml:4:7: contents.binaries[0]: must be an absolute path" },
  { "name: x\ncontents:\n  binaries:\n    - {source: a, path: /usr/../etc/x}\n",
    "t.yaml:4:25: contents.binaries[0].path: must not contain '..'" },
  { "name: x\ncontents:\n  binaries:\n    - {source: a}\n",
    "t.yaml:4:7: contents.binaries[0]: missing required key \"path\" (the source is relative)" },
  { "name: x\ncontents:\n  binaries:\n    - {sorce: /a}\n",
    "t.yaml:4:8: contents.binaries[0].sorce: unknown key; did you mean \"source\"?" },
  { "name: x\ncontents:\n  files:\n    - {source: a, path: /a, mode: 644}\n",
    "t.yaml:4:35: contents.files[0].mode: must be octal with a leading 0, such as 0644 (got \"644\")" },
  { "name: x\ncontents:\n  files:\n    - {source: a, path: /a, mode: 0987}\n",
    "t.yaml:4:35: contents.files[0].mode: must be an octal mode such as 0644 (got \"0987\")" },
  { "name: x\ncontents:\n  files:\n    - {source: a, path: /a, mode: 017777}\n",
    "t.yaml:4:35: contents.files[0].mode: must be at most 07777" },
  { "name: x\ncontents:\n  libraries: [lib/x.so]\n",
    "t.yaml:3:15: contents.libraries[0]: must be a soname (libfoo.so.1), an absolute path or {source, path}" },
  { "name: x\ncontents:\n  binaries: /usr/bin/x\n", "t.yaml:3:13: contents.binaries: must be a list" },
  { "name: x\naccounts: {users: [{name: app, uid: 4294967295}]}\n",
    "t.yaml:2:37: accounts.users[0].uid: must be an integer from 0 to 4294967294" },
  { "name: x\naccounts: {users: [{name: app, uid: -1}]}\n",
    "t.yaml:2:37: accounts.users[0].uid: must be an integer from 0 to 4294967294" },
  { "name: x\naccounts: {users: [{name: app, uid: 65532}]}\n",
    "t.yaml:2:37: accounts.users[0].uid: uid 65532 belongs to the built-in user nonroot" },
  { "name: x\naccounts: {users: [{name: root, uid: 7}]}\n",
    "t.yaml:2:27: accounts.users[0].name: \"root\" is built in and cannot be redefined" },
  { "name: x\naccounts: {users: [{name: App, uid: 7}]}\n",
    "t.yaml:2:27: accounts.users[0].name: \"App\" is not a valid name (lower case letters, digits, '_' and '-')" },
  { "name: x\naccounts: {run-as: root}\n", "t.yaml:2:20: accounts.run-as: must not be root: images run as a non-root user" },
  { "name: x\naccounts: {run-as: app}\n",
    "t.yaml:2:20: accounts.run-as: no user named \"app\" (built in: nonroot, nobody)" },
  { "name: x\naccounts: {users: [{name: a, uid: 7}, {name: b, uid: 7}]}\n",
    "t.yaml:2:39: accounts.users[1]: name or uid already used by accounts.users[0]" },
  { "name: x\naccounts: {groups: [{name: a, gid: 7}, {name: a, gid: 8}]}\n",
    "t.yaml:2:40: accounts.groups[1]: name or gid already used by accounts.groups[0]" },
  /* passwd and group are ':'-separated lines: a ':' or a newline would add
   * fields or accounts (a passwordless uid 0) */
  { "name: x\naccounts: {users: [{name: app, uid: 7, home: \"/h:0:0\"}]}\n",
    "t.yaml:2:46: accounts.users[0].home: must not contain ':', a newline or another control character (a field of "
    "/etc/passwd and /etc/group)" },
  { "name: x\naccounts: {users: [{name: app, uid: 7, home: \"/home/app\\nevil::0:0:x:/:/bin/sh\"}]}\n",
    "t.yaml:2:46: accounts.users[0].home: must not contain ':', a newline or another control character (a field of "
    "/etc/passwd and /etc/group)" },
  { "name: x\naccounts: {users: [{name: app, uid: 7, home: \"/home/app\\nevil\"}]}\n",
    "t.yaml:2:46: accounts.users[0].home: must not contain ':', a newline or another control character (a field of "
    "/etc/passwd and /etc/group)" },
  { "name: x\naccounts:\n  users:\n    - name: app\n      uid: 7\n      home: \"/home/a\\tb\"\n",
    "t.yaml:6:13: accounts.users[0].home: must not contain ':', a newline or another control character (a field of "
    "/etc/passwd and /etc/group)" },
  { "name: x\naccounts: {users: [{name: app, uid: 7, home: \"/home/a\\x7f\"}]}\n",
    "t.yaml:2:46: accounts.users[0].home: must not contain ':', a newline or another control character (a field of "
    "/etc/passwd and /etc/group)" },
  { "name: x\naccounts: {users: [{name: \"a\\nb\", uid: 7}]}\n",
    "t.yaml:2:27: accounts.users[0].name: must not contain ':', a newline or another control character (a field of "
    "/etc/passwd and /etc/group)" },
  { "name: x\naccounts: {groups: [{name: \"a:b\", gid: 7}]}\n",
    "t.yaml:2:28: accounts.groups[0].name: must not contain ':', a newline or another control character (a field of "
    "/etc/passwd and /etc/group)" },
  { "name: x\npaths: [{path: /a, type: fifo}]\n",
    "t.yaml:2:26: paths[0].type: must be \"directory\" or \"file\" (got \"fifo\")" },
  { "name: x\nports: [70000]\n", "t.yaml:2:9: ports[0]: \"70000\": port must be a number from 1 to 65535" },
  { "name: x\nports: [80/icmp]\n", "t.yaml:2:9: ports[0]: \"80/icmp\": protocol must be tcp, udp or sctp" },
  { "name: x\nports: [80, 80/tcp]\n", "t.yaml:2:13: ports[1]: duplicate port" },
  { "name: x\nstop-signal: SIGFOO\n", "t.yaml:2:14: stop-signal: \"SIGFOO\" is not a signal name such as SIGTERM" },
  { "name: x\nenvironment: {1X: a}\n", "t.yaml:2:15: environment.1X: not a valid environment variable name" },
  { "name: x\nenvironment: {A: [1]}\n", "t.yaml:2:18: environment.A: must be a string" },
  { "name: x\nwork-dir: home\n", "t.yaml:2:11: work-dir: must be an absolute path" },
  { "name: x\ntzdata: yes please\n", "t.yaml:2:9: tzdata: must be true or false" },
  { "name: x\nca-certificates: [a]\n", "t.yaml:2:18: ca-certificates: must be true, false or the path of a PEM bundle" },
  { "name: x\nentrypoint: /bin/x\n", "t.yaml:2:13: entrypoint: must be a list of strings" },
  { "name: &a x\ntag: *a\n", "t.yaml:2:6: YAML aliases are not allowed in a recipe" },
  { "name: x\n---\nname: y\n", "t.yaml:2:1: only one YAML document is allowed" },
  { "name: [x\n", "t.yaml:2:1: while parsing a flow sequence did not find expected ',' or ']'" },
  { "name: \"\xff\"\n", "t.yaml:1:8: invalid leading UTF-8 octet" },
  { "name: x\nlabels: {a: [b]}\n", "t.yaml:2:13: labels.a: must be a string" },
  { "name: x\nplatform: windows/amd64\n",
    "t.yaml:2:11: platform: \"windows/amd64\" is not a platform such as linux/amd64, linux/arm64 or linux/arm/v7" },
  { "name: x\nplatform: linux/mips\n",
    "t.yaml:2:11: platform: \"linux/mips\" is not a platform such as linux/amd64, linux/arm64 or linux/arm/v7" },
  { "name: x\nplatfrom: linux/arm64\n", "t.yaml:2:1: platfrom: unknown key; did you mean \"platform\"?" },
  /* required keys, reported in the order of their table after the mapping's
   * own keys are read */
  { "name: x\ncontents:\n  files: [{path: /a}]\n", "t.yaml:3:11: contents.files[0]: missing required key \"source\"" },
  { "name: x\ncontents:\n  directories: [{source: a}]\n",
    "t.yaml:3:17: contents.directories[0]: missing required key \"path\"" },
  { "name: x\ncontents:\n  symlinks: [{path: /a}]\n", "t.yaml:3:14: contents.symlinks[0]: missing required key \"target\"" },
  { "name: x\ncontents:\n  libraries: [{path: /a}]\n",
    "t.yaml:3:15: contents.libraries[0]: missing required key \"source\"" },
  { "name: x\ncontents:\n  packages: [{exclude: [a]}]\n",
    "t.yaml:3:14: contents.packages[0]: missing required key \"name\"" },
  { "name: x\ncontents:\n  packages: [Foo]\n",
    "t.yaml:3:14: contents.packages[0]: \"Foo\" is not a Debian package name (lower-case letters, digits, '+', "
    "'-' and '.', two or more, the first a letter or digit)" },
  { "name: x\ncontents:\n  packages: [x]\n",
    "t.yaml:3:14: contents.packages[0]: \"x\" is not a Debian package name (lower-case letters, digits, '+', "
    "'-' and '.', two or more, the first a letter or digit)" },
  { "name: x\ncontents:\n  packages: [\"libc6:\"]\n",
    "t.yaml:3:14: contents.packages[0]: \"\" is not an architecture (amd64, arm64, all, ...)" },
  { "name: x\ncontents:\n  packages: [{name: \"a+b:AMD64\"}]\n",
    "t.yaml:3:21: contents.packages[0].name: \"AMD64\" is not an architecture (amd64, arm64, all, ...)" },
  { "name: x\ncontents:\n  packages: [{name: tzdata, exclude: [\"\"]}]\n",
    "t.yaml:3:38: contents.packages[0].exclude: patterns must not be empty" },
  { "name: x\naccounts: {users: [{home: /h}]}\n", "t.yaml:2:20: accounts.users[0]: missing required key \"name\"" },
  { "name: x\naccounts: {users: [{name: app}]}\n", "t.yaml:2:20: accounts.users[0]: missing required key \"uid\"" },
  { "name: x\naccounts: {groups: [{name: app}]}\n", "t.yaml:2:21: accounts.groups[0]: missing required key \"gid\"" },
  { "name: x\npaths: [{type: file}]\n", "t.yaml:2:9: paths[0]: missing required key \"path\"" },
  { "name: x\nchecks: {allow: [{path: /a, reason: r}]}\n", "t.yaml:2:18: checks.allow[0]: missing required key \"id\"" },
  { "tag: x\nsysroot: [a]\n", "t.yaml:2:10: sysroot: must be a string" },
  { "name: x\naccounts: {useres: []}\n", "t.yaml:2:12: accounts.useres: unknown key; did you mean \"users\"?" },
  { "name: x\nhealthcheck: {test: \"curl -f localhost\"}\n",
    "t.yaml:2:21: healthcheck.test: a string is the shell form, which needs a shell the image does not have: give "
    "the program and its arguments as a list, [/path/to/program, arg, ...]" },
  { "name: x\nhealthcheck: {test: [app, -h]}\n",
    "t.yaml:2:21: healthcheck.test: the first item must be the program's absolute path in the image" },
  { "name: x\nhealthcheck: {interval: 5s}\n",
    "t.yaml:2:14: healthcheck: no check: give test (a program of the image and its arguments), http "
    "(http://127.0.0.1:PORT/PATH) or tcp (a port)" },
  { "name: x\nhealthcheck: {test: [/a], interval: 5}\n",
    "t.yaml:2:37: healthcheck.interval: \"5\" is not a duration such as 30s, 1m30s or 500ms (more than 0, at most a "
    "day)" },
  { "name: x\nhealthcheck: {test: [/a], timeout: 2d}\n",
    "t.yaml:2:36: healthcheck.timeout: \"2d\" is not a duration such as 30s, 1m30s or 500ms (more than 0, at most a "
    "day)" },
  { "name: x\nhealthcheck: {test: [/a], retries: 0}\n",
    "t.yaml:2:36: healthcheck.retries: \"0\" is not a number of retries from 1 to 1000" },
  /* layers */
  { "name: x\nlayers: [base, libraries, app, base]\n", "t.yaml:2:32: layers[3]: \"base\": duplicate layer" },
  { "name: x\nlayers: [base, libraries, Run_time, app]\n",
    "t.yaml:2:27: layers[2]: \"Run_time\" is not a layer name (lower case letters, digits and '-', at most 64)" },
  { "name: x\nlayers: [base, app]\n",
    "t.yaml:2:9: layers: must name the built-in layer \"libraries\" (base, libraries and app hold what distill adds "
    "itself: accounts and certificates, the libraries, what has no layer: key)" },
  { "name: x\nlayers: base\n",
    "t.yaml:2:9: layers: must be a list of layer names, such as [base, libraries, runtime, app]" },
  { "name: x\ncontents:\n  files: [{source: a, path: /a, layer: runtime}]\n",
    "t.yaml:3:40: contents.files[0].layer: \"runtime\" is not a layer of the recipe (layers: base, libraries, app)" },
  { "name: x\nlayers: [base, libraries, runtime, app]\ncontents:\n  binaries: [{source: a, path: /a, layer: rt}]\n",
    "t.yaml:4:43: contents.binaries[0].layer: \"rt\" is not a layer of the recipe (layers: base, libraries, runtime, "
    "app)" },
  { "name: x\ncontents:\n  symlinks: [{path: /a, target: b, layer: \"\"}]\n",
    "t.yaml:3:43: contents.symlinks[0].layer: must not be empty" },
  { "name: x\nfrom-recipe: \"\"\n", "t.yaml:2:14: from-recipe: must not be empty" },
  { "name: x\ncontents:\n  packages: [{name: tzdata, layer: rt}]\n",
    "t.yaml:3:36: contents.packages[0].layer: \"rt\" is not a layer of the recipe (layers: base, libraries, app)" },
  { "name: x\nhealthcheck: /a\n",
    "t.yaml:2:14: healthcheck: a mapping with test (the exec form: a list), http or tcp (distill's probe) and, if "
    "you like, interval, timeout, start-period and retries" },
};

/* layers: the order given, each item in the one it names, else its
 * kind's built-in one; from-recipe relative to the recipe. */
static void
test_layers(void **state)
{
  static const char y[] = "name: x\nfrom-recipe: ../base.yaml\nlayers: [runtime, base, libraries, app]\n"
                          "contents:\n  binaries: [{source: a, path: /a, layer: runtime}, /usr/bin/b]\n"
                          "  libraries: [{source: l.so, path: /l.so}]\n"
                          "  files: [{source: f, path: /f, layer: base}]\n"
                          "  directories: [{source: d, path: /d, layer: libraries}]\n"
                          "  packages: [{name: nodejs, layer: runtime}, tzdata]\n";
  struct recipe r;
  struct derror err = DERROR_INIT;

  assert_int_equal(recipe_parse("/srv/app/app.yaml", y, strlen(y), &r, &err), 0);
  assert_int_equal(r.layers.n, 4);
  assert_string_equal(r.layers.items[0], "runtime");
  assert_int_equal(r.layer_base, 1);
  assert_int_equal(r.layer_libraries, 2);
  assert_int_equal(r.layer_app, 3);
  assert_int_equal(r.binaries[0].layer.index, 0);
  assert_int_equal(r.binaries[1].layer.index, 3);
  assert_int_equal(r.libraries[0].layer.index, 2);
  assert_int_equal(r.files[0].layer.index, 1);
  assert_int_equal(r.directories[0].layer.index, 2);
  assert_int_equal(r.packages[0].layer.index, 0);
  assert_int_equal(r.packages[1].layer.index, 2);
  assert_string_equal(r.from_recipe, "/srv/app/../base.yaml");
  recipe_free(&r);

  static const char d[] = "name: x\n";
  assert_int_equal(recipe_parse("/srv/app/app.yaml", d, strlen(d), &r, &err), 0);
  assert_int_equal(r.layers.n, 3);
  assert_string_equal(r.layers.items[2], "app");
  assert_null(r.from_recipe);
  recipe_free(&r);
}

static void
test_errors(void **state)
{
  int failures = 0;

  for (size_t i = 0; i < sizeof bad_recipes / sizeof *bad_recipes; i++) {
    struct recipe r;
    struct derror err = DERROR_INIT;
    int ret = recipe_parse("t.yaml", bad_recipes[i].yaml, strlen(bad_recipes[i].yaml), &r, &err);
    if (ret == 0 || err.msg == NULL || strcmp(err.msg, bad_recipes[i].error) != 0) {
      print_error("case %zu:\n  yaml:     %s\n  expected: %s\n  got:      %s\n", i, bad_recipes[i].yaml,
                  bad_recipes[i].error, err.msg ? err.msg : "(success)");
      failures++;
    }
    derror_clear(&err);
    recipe_free(&r);
  }
  assert_int_equal(failures, 0);
}

/* Tokens made here from a fixed alphabet, never real ones (and never
 * written out whole in this file, where a scanner would take them for
 * leaked ones). */
static char *
made(const char *prefix, size_t n, const char *alphabet)
{
  size_t k = strlen(alphabet), len = strlen(prefix);
  char *s = xmalloc(len + n + 1);

  memcpy(s, prefix, len);
  for (size_t i = 0; i < n; i++)
    s[len + i] = alphabet[(i * 7 + 3) % k];
  s[len + n] = '\0';
  return s;
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define UPPER32 "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#define REFUSED ": credentials never go in an image's config; pass them at run time"

/* A credential in any value of the config or manifest is refused before
 * anything is built, with the rule and where it is; a near miss of each
 * is not. */
static void
test_secrets_in_values(void **state)
{
  cleanup_free char *gh = made("gh" "p_", 36, ALNUM), *gh_short = made("gh" "p_", 35, ALNUM);
  cleanup_free char *akia = made("AK" "IA", 16, UPPER32), *example = made("AK" "IA", 9, UPPER32);
  cleanup_free char *aws_secret = made("", 40, ALNUM "+/"), *gl = made("gl" "pat-", 20, ALNUM);
  cleanup_free char *slack = made("xo" "xb-123456789012-", 24, ALNUM), *stripe = made("sk" "_live_", 24, ALNUM);
  cleanup_free char *npm = made("np" "m_", 36, ALNUM), *google = made("AI" "za", 35, ALNUM);
  cleanup_free char *jwt = made("ey" "JhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.", 43, ALNUM);
  struct {
    char *yaml, *error; /* NULL: parsed */
  } cases[] = {
    { xasprintf("name: x\nenvironment:\n  TZ: UTC\n  GITHUB_TOKEN: %s\n", gh),
      xstrdup("t.yaml:4:3: environment.GITHUB_TOKEN: a GitHub token (github-token)" REFUSED) },
    { xasprintf("name: x\nenvironment: {AWS_ACCESS_KEY_ID: %s}\n", akia),
      xstrdup("t.yaml:2:15: environment.AWS_ACCESS_KEY_ID: an AWS access key id (aws-access-key-id)" REFUSED) },
    { xasprintf("name: x\nenvironment: {AWS_SECRET_ACCESS_KEY: \"%s\"}\n", aws_secret),
      xstrdup("t.yaml:2:15: environment.AWS_SECRET_ACCESS_KEY: an AWS secret access key (aws-secret-access-key)"
              REFUSED) },
    { xstrdup("name: x\nenvironment: {DB_PASSWORD: Xy7pQ2wLk9}\n"),
      xstrdup("t.yaml:2:15: environment.DB_PASSWORD: a password, secret or token (env-secret)" REFUSED) },
    { xasprintf("name: x\nlabels:\n  maintainer: me\n  com.example.hook: %s\n", slack),
      xstrdup("t.yaml:4:3: labels.com.example.hook: a Slack token (slack-token)" REFUSED) },
    { xasprintf("name: x\nlabels: {com.example.session: %s}\n", jwt),
      xstrdup("t.yaml:2:10: labels.com.example.session: a JSON Web Token (jwt)" REFUSED) },
    { xasprintf("name: x\nannotations: {org.example.ci: %s}\n", gl),
      xstrdup("t.yaml:2:15: annotations.org.example.ci: a GitLab personal access token (gitlab-token)" REFUSED) },
    { xasprintf("name: x\ncmd: [/app, \"--token=%s\"]\n", gh),
      xstrdup("t.yaml:2:13: cmd[1]: a GitHub token (github-token)" REFUSED) },
    { xstrdup("name: x\ncmd:\n  - /app\n  - --db-password=Xy7pQ2wLk9\n"),
      xstrdup("t.yaml:4:5: cmd[1]: a password, secret or token (env-secret)" REFUSED) },
    { xasprintf("name: x\nentrypoint: [/app, --key, %s]\n", stripe),
      xstrdup("t.yaml:2:27: entrypoint[2]: a Stripe live secret or restricted key (stripe-live-key)" REFUSED) },
    { xasprintf("name: x\nentrypoint: [/bin/sh, -c, \"npm publish --token %s\"]\n", npm),
      xstrdup("t.yaml:2:27: entrypoint[2]: an npm token (npm-token)" REFUSED) },
    { xasprintf("name: x\ncmd: [/app, \"API_KEY=%s\"]\n", google),
      xstrdup("t.yaml:2:13: cmd[1]: a Google API key (google-api-key)" REFUSED) },
    /* near misses */
    { xstrdup("name: x\nenvironment: {DB_PASSWORD_FILE: /run/secrets/db, TZ: UTC, API_TOKEN: \"${API_TOKEN}\"}\n"),
      NULL },
    { xasprintf("name: x\nlabels: {maintainer: me, org.opencontainers.image.revision: "
                "0123456789abcdef0123456789abcdef01234567, password-policy: strict, com.example.ref: %s,"
                " com.example.docs: %sEXAMPLE}\n",
                gh_short, example),
      NULL },
    { xstrdup("name: x\nannotations: {org.opencontainers.image.source: \"https://example.org/app\"}\n"), NULL },
    { xstrdup("name: x\ncmd: [/app, --password-file=/run/x, \"--password=$DB_PASSWORD\", --token-file, /run/t]\n"),
      NULL },
    { xstrdup("name: x\nentrypoint: [/app, \"--secret=${SECRET}\", --listen=0.0.0.0:8080]\n"), NULL },
  };
  int failures = 0;

  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct recipe r;
    struct derror err = DERROR_INIT;
    int ret = recipe_parse("t.yaml", cases[i].yaml, strlen(cases[i].yaml), &r, &err);
    bool ok = cases[i].error ? ret < 0 && err.msg && strcmp(err.msg, cases[i].error) == 0 : ret == 0;
    if (!ok) {
      print_error("case %zu:\n  yaml:     %s\n  expected: %s\n  got:      %s\n", i, cases[i].yaml,
                  cases[i].error ? cases[i].error : "(success)", err.msg ? err.msg : "(success)");
      failures++;
    }
    derror_clear(&err);
    recipe_free(&r);
    free(cases[i].yaml);
    free(cases[i].error);
  }
  assert_int_equal(failures, 0);
}

static void
test_depth_bounded(void **state)
{
  struct buf b = { 0 };
  struct recipe r;
  struct derror err = DERROR_INIT;

  buf_printf(&b, "name: x\nlabels: ");
  for (int i = 0; i < 100; i++)
    buf_printf(&b, "[");
  assert_int_equal(recipe_parse("t.yaml", b.data, b.len, &r, &err), -1);
  assert_non_null(strstr(err.msg, "nested deeper than 32 levels"));
  derror_clear(&err);
  recipe_free(&r);
  buf_free(&b);
}

static void
test_size_bounded(void **state)
{
  struct buf b = { 0 };
  struct recipe r;
  struct derror err = DERROR_INIT;

  buf_printf(&b, "name: x\nlabels:\n");
  for (int i = 0; b.len <= 1024 * 1024; i++)
    buf_printf(&b, "  k%d: \"%0100d\"\n", i, i);
  assert_int_equal(recipe_parse("big.yaml", b.data, b.len, &r, &err), -1);
  assert_string_equal(err.msg, "big.yaml: larger than 1048576 bytes");
  derror_clear(&err);
  recipe_free(&r);
  buf_free(&b);
}

static void
test_load_from_file(void **state)
{
  char *dir = tl_tmpdir();
  cleanup_free char *path = tl_write(dir, "sub/app.yaml", "name: app\ncontents: {files: [{source: a.txt, path: /a}]}\n");
  struct recipe r;
  struct derror err = DERROR_INIT;

  assert_int_equal(recipe_load(path, &r, &err), 0);
  cleanup_free char *expect_dir = xasprintf("%s/sub", dir);
  assert_string_equal(r.dir, expect_dir);
  recipe_free(&r);

  cleanup_free char *missing = xasprintf("%s/none.yaml", dir);
  assert_int_equal(recipe_load(missing, &r, &err), -1);
  cleanup_free char *expect = xasprintf("open `%s`: No such file or directory", missing);
  assert_string_equal(err.msg, expect);
  derror_clear(&err);
  recipe_free(&r);
  tl_rmtree(dir);
}

/* An enumerator left out of its table is a key the parser cannot read:
 * the compiler does not see the hole a designated initialiser leaves, so
 * this test does.  Names are unique within a table. */
static void
test_key_tables(void **state)
{
  static const struct {
    const char *table;
    const struct recipe_key *keys;
    size_t n;
  } tables[] = {
#define TABLE(t) { #t, KEYS(t) }
    TABLE(top_keys),       TABLE(contents_keys), TABLE(binary_keys), TABLE(library_keys), TABLE(file_keys),
    TABLE(directory_keys), TABLE(symlink_keys),  TABLE(accounts_keys), TABLE(user_keys),  TABLE(group_keys),
    TABLE(path_keys),      TABLE(checks_keys),   TABLE(allow_keys),
#undef TABLE
  };
  int failures = 0;

  for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
    for (size_t i = 0; i < tables[t].n; i++) {
      const char *name = tables[t].keys[i].name;
      if (name == NULL || *name == '\0') {
        print_error("%s[%zu] has no name\n", tables[t].table, i);
        failures++;
        continue;
      }
      for (size_t j = 0; j < i; j++)
        if (tables[t].keys[j].name && strcmp(tables[t].keys[j].name, name) == 0) {
          print_error("%s: \"%s\" twice\n", tables[t].table, name);
          failures++;
        }
    }
  assert_int_equal(failures, 0);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_full_recipe),    cmocka_unit_test(test_defaults),
    cmocka_unit_test(test_normalised_values), cmocka_unit_test(test_errors),
    cmocka_unit_test(test_depth_bounded),  cmocka_unit_test(test_load_from_file),
    cmocka_unit_test(test_size_bounded),     cmocka_unit_test(test_secrets_in_values),
    cmocka_unit_test(test_key_tables),     cmocka_unit_test(test_layers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
