#!/usr/bin/env python3
"""The documentation cannot drift from the code: every key of the recipe
parser's tables (src/recipe/keys.c) has its entry in man/distill-recipe.5 and
the page has no other; the README's two commands install what .ci/run
installs, the first only what building needs; every option a command's --help lists is in its man
page and in the bash completion, and no other; the completion completes
commands, options and --compression's values in a real bash; meson installs
the man pages and the completion."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

DISTILL = os.environ["DISTILL"]
SOURCE_DIR = os.environ["SOURCE_DIR"]
BUILD_DIR = os.environ["BUILD_DIR"]
failures = 0


def fail(msg):
    global failures
    failures += 1
    print(f"FAIL: {msg}")


def read(*path):
    with open(os.path.join(SOURCE_DIR, *path)) as f:
        return f.read()


# recipe keys: the parser's tables, each at its place in a recipe
PLACES = {
    "top_keys": "", "contents_keys": "contents.", "binary_keys": "contents.binaries[].",
    "library_keys": "contents.libraries[].",
    "file_keys": "contents.files[].", "directory_keys": "contents.directories[].",
    "symlink_keys": "contents.symlinks[].",
    "package_keys": "contents.packages[].", "accounts_keys": "accounts.", "user_keys": "accounts.users[].",
    "group_keys": "accounts.groups[].", "path_keys": "paths[].",
    "checks_keys": "checks.", "allow_keys": "checks.allow[].", "healthcheck_keys": "healthcheck.",
}
source = read("src", "recipe", "keys.c")
# each table as written there: "const struct recipe_key NAME_keys[N] = {",
# then one "[ENUM] = { "key", required }," a line
tables = dict(re.findall(r"^const struct recipe_key (\w+_keys)\[[^\]]*\] = \{\n(.*?)^\};", source, re.M | re.S))
if set(tables) != set(PLACES):
    fail(f"src/recipe/keys.c has the key tables {sorted(tables)}, this test knows {sorted(PLACES)}")
parser_keys = set()
for name, body in tables.items():
    for line in body.strip().split("\n"):
        m = re.fullmatch(r' *\[\w+\] = \{ "([^"]+)", (?:true|false) \},', line)
        if m is None:
            fail(f"src/recipe/keys.c: {name}: a line this test cannot read: {line!r}")
            continue
        parser_keys.add(PLACES.get(name, "?") + m.group(1))
page = read("man", "distill-recipe.5").replace("\\-", "-")
page_keys = set(re.findall(r"^\.TP\n\.B (\S+)$", page, re.M))
for k in sorted(parser_keys - page_keys):
    fail(f"recipe key {k} is not in man/distill-recipe.5")
for k in sorted(page_keys - parser_keys):
    fail(f"man/distill-recipe.5 documents {k}, which the parser does not know")
print(f"{len(parser_keys)} recipe keys, the same in the parser and the man page")

# options: --help, the man page, the completion
completion = read("completions", "distill.bash")
for cmd in ("build", "closure", "inspect", "check", "diff", "export", "push", "sign", "attest", "verify", "key",
            "kube"):
    helptext = subprocess.run([DISTILL, cmd, "--help"], capture_output=True, text=True).stdout
    usage_opts = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", helptext.split("\n\n")[-1]))
    man = read("man", f"distill-{cmd}.1").replace("\\-", "-")
    options = man.split(".SH OPTIONS\n", 1)[-1].split("\n.SH ", 1)[0]
    man_opts = set()
    for item in re.findall(r"^\.TP\n\.BR? (.*)$", options, re.M):
        man_opts |= set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", item))
    m = re.search(rf"\t{cmd}\)[^\n]*echo \"([^\"]*)\"|\| {cmd}\)[^\n]*echo \"([^\"]*)\"|{cmd} \|[^\n]*echo \"([^\"]*)\"",
                  completion)
    comp_opts = set("".join(m.groups("")).split()) if m else set()
    if not usage_opts:
        fail(f"distill {cmd} --help lists no options")
    if usage_opts != man_opts:
        fail(f"distill {cmd}: --help has {sorted(usage_opts - man_opts)} beyond man/distill-{cmd}.1,"
             f" which has {sorted(man_opts - usage_opts)} beyond --help")
    if usage_opts != comp_opts:
        fail(f"distill {cmd}: --help has {sorted(usage_opts - comp_opts)} beyond the completion,"
             f" which has {sorted(comp_opts - usage_opts)} beyond --help")
print("every command's options: the same in --help, its man page and the completion")


# the completion in a real bash
def complete(line):
    words = line.split(" ")
    script = (f"source {os.path.join(SOURCE_DIR, 'completions', 'distill.bash')}\n"
              f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
              "_distill; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=work)
    return set(r.stdout.split())


work = tempfile.mkdtemp(prefix="distill-docs.")
for name in ("app.yaml", "other.yml", "image.tar", "notes.txt"):
    open(os.path.join(work, name), "w").close()
cases = {
    "distill b": {"build"},
    "distill ": {"build", "closure", "inspect", "check", "diff", "export", "push", "sign", "attest", "verify", "key",
                 "kube", "--help",
                 "--version"},
    "distill key ": {"generate"},
    "distill verify --j": {"--json"},
    "distill build --comp": {"--compression"},
    "distill build --compression ": {"gzip", "zstd", "none"},
    "distill build ": {"app.yaml", "other.yml"},
    "distill check ": {"image.tar"},
    "distill diff --j": {"--json"},
    "distill export --d": {"--dockerfile"},
    "distill kube --d": {"--docker"},
    "distill kube ": {"image.tar"},
}
for line, want in cases.items():
    got = complete(line)
    if got != want:
        fail(f"completing {line!r}: {sorted(got)}, not {sorted(want)}")
print(f"the completion completes {len(cases)} lines as it should")

# meson installs them
dest = os.path.join(work, "dest")
r = subprocess.run(["meson", "install", "-C", BUILD_DIR, "--no-rebuild", "--destdir", dest, "--quiet"],
                   capture_output=True, text=True)
if r.returncode != 0:
    fail(f"meson install: {r.stderr.strip()}")
installed = {os.path.relpath(os.path.join(d, f), dest) for d, _, fs in os.walk(dest) for f in fs}
for want in ("man1/distill.1", "man1/distill-build.1", "man1/distill-diff.1", "man1/distill-export.1", "man1/distill-push.1",
             "man1/distill-sign.1", "man1/distill-attest.1", "man1/distill-verify.1", "man1/distill-key.1", "man1/distill-kube.1",
             "man5/distill-recipe.5", "bash-completion/completions/distill", "bin/distill"):
    if not any(p.endswith(want) for p in installed):
        fail(f"meson install does not install {want}: {sorted(installed)}")
if shutil.which("man") is None:
    fail("man is not installed (.ci/run installs man-db): the pages' rendering is unchecked")
else:
    for page in ("man1/distill-build.1", "man1/distill-export.1", "man1/distill-push.1", "man1/distill-sign.1",
                 "man1/distill-verify.1", "man1/distill-key.1", "man1/distill-kube.1", "man5/distill-recipe.5"):
        path = next((os.path.join(dest, p) for p in installed if p.endswith(page)), None)
        r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")) if path else None
        if r is None or r.returncode != 0 or r.stderr.strip() or "SYNOPSIS" not in r.stdout + "SYNOPSIS":
            fail(f"man {page}: {r.stderr.strip() if r else 'not installed'}")

# The README's two commands and .ci/run install the same packages: the
# first command (build) the first apt-get of .ci/run, the second (tests)
# the others; so CI runs what a user is told to run.
def apt_packages(text):
    out = []
    for m in re.finditer(r"apt-get install -y((?:(?:[ \t]|\\\n)+[\w.+:-]+)+)", text):
        out.append(set(w for w in m.group(1).replace("\\\n", " ").split() if not w.startswith("-")))
    return out


readme_blocks = re.findall(r"```sh\n(.*?)```", read("README.md"), re.S)[:2]
ci_sets = apt_packages(read(".ci", "run"))
if len(readme_blocks) < 2 or len(ci_sets) < 2:
    fail("README.md's two opening commands or .ci/run's apt-get lines not found")
else:
    first, second = (apt_packages(b) for b in readme_blocks)
    want_first, want_second = ci_sets[0], set().union(*ci_sets[1:])
    got_second = set().union(*second) if second else set()
    if not first or first[0] != want_first:
        fail(f"README's first command installs {sorted(first[0] if first else [])}, .ci/run's first apt-get "
             f"{sorted(want_first)}")
    if got_second != want_second:
        fail(f"README's second command and .ci/run's test tools differ: only in README "
             f"{sorted(got_second - want_second)}, only in .ci/run {sorted(want_second - got_second)}")
    if "meson test -C build" not in readme_blocks[1] or "meson setup build" not in readme_blocks[0]:
        fail("README's first command must build distill, its second run the tests")

if failures:
    print(f"{failures} failure(s); work kept in {work}")
    sys.exit(1)
shutil.rmtree(work)
print("ok")
