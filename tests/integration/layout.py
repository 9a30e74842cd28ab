#!/usr/bin/env python3
"""The source tree shows the pipeline: every source file sits in a stage
folder of src/, each folder includes headers of its own folder and of the
folders before it only, each .c is compiled by its folder's meson.build, no
file is over its bound of lines and no function over 80, an include/ at the
top holds only headers meson installs, and README's map of the source names
every .c that exists (and nothing that does not)."""
import os
import re
import sys

TOP = os.environ.get("SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SRC = os.path.join(TOP, "src")
# The order of the stages: a folder may use those on its left.
STAGES = ["lib", "recipe", "plan", "image", "build", "publish", "cli"]
MAX_FILE_LINES = 560
MAX_FUNCTION_LINES = 80

failures = []


def fail(msg):
    failures.append(msg)


def sources():
    for stage in sorted(os.listdir(SRC)):
        folder = os.path.join(SRC, stage)
        if not os.path.isdir(folder):
            fail(f"src/{stage}: a file at the top of src/, outside every stage")
            continue
        if stage not in STAGES:
            fail(f"src/{stage}/: a folder that is no stage of {STAGES} (add it to this test, in its place)")
            continue
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if os.path.isdir(path):
                fail(f"src/{stage}/{name}/: a folder inside a stage (stages are one level deep)")
            elif name.endswith((".c", ".h")):
                yield stage, name, path


def meson_strings(path):
    """The quoted strings of a meson.build, comments left out."""
    if not os.path.exists(path):
        return set()
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"#.*", "", f.read())
    return set(re.findall(r"'([^']*)'", text))


def installed_headers():
    """The files named by install_headers() in any meson.build, as paths
    from the top of the tree."""
    out = set()
    for folder, dirs, files in os.walk(TOP):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not d.startswith("build")]
        if "meson.build" not in files:
            continue
        with open(os.path.join(folder, "meson.build"), encoding="utf-8") as f:
            text = re.sub(r"#.*", "", f.read())
        for call in re.findall(r"install_headers\s*\(([^)]*)\)", text):
            for name in re.findall(r"'([^']*)'", call):
                out.add(os.path.normpath(os.path.relpath(os.path.join(folder, name), TOP)))
    return out


def check_include_folder(installed):
    """include/ is for what is installed: a header there that meson does
    not install is a private header in the wrong place."""
    top = os.path.join(TOP, "include")
    if not os.path.isdir(top):
        return
    for folder, _, files in os.walk(top):
        for name in sorted(files):
            rel = os.path.normpath(os.path.relpath(os.path.join(folder, name), TOP))
            if not name.endswith(".h"):
                fail(f"{rel}: include/ holds headers meson installs, and this is no header")
            elif rel not in installed:
                fail(f"{rel}: in include/, but no install_headers() installs it"
                     " (a private header sits beside its source in src/STAGE/)")


def function_lengths(lines):
    """(name, first line, length) of each function: a body opens with "{"
    alone at the start of a line and closes with "}" alone."""
    start = None
    for i, line in enumerate(lines):
        if line == "{" and i > 0:
            j = i - 1
            while j > 0 and "(" not in lines[j]:
                j -= 1
            m = re.search(r"(\w+)\s*\(", lines[j])
            start = (m.group(1) if m else "?", j + 1, i)
        elif line == "}" and start is not None:
            yield start[0], start[1], i - start[2] + 1
            start = None


installed = installed_headers()
check_include_folder(installed)
# an installed header is included by its path under include/, as its users would
public = {os.path.relpath(h, "include") for h in installed if h.startswith("include" + os.sep)}
compiled = {f"src/{s}/{n}" for s in STAGES for n in meson_strings(os.path.join(SRC, s, "meson.build"))}
seen = set()
for stage, name, path in sources():
    seen.add(f"src/{stage}/{name}")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.splitlines()
    if name.endswith(".c") and f"src/{stage}/{name}" not in compiled:
        fail(f"src/{stage}/{name}: no meson.build lists it, so it is never compiled"
             f" (add it to src/{stage}/meson.build, in alphabetical order)")
    for m in re.finditer(r'^#include "([^"]+)"', text, re.M):
        inc = m.group(1)
        if inc == "config.h" or inc in public:
            continue
        parts = inc.split("/")
        if len(parts) != 2 or parts[0] not in STAGES:
            fail(f"src/{stage}/{name}: #include \"{inc}\" names no stage folder (write \"STAGE/NAME.h\")")
            continue
        if not os.path.exists(os.path.join(SRC, inc)):
            fail(f"src/{stage}/{name}: #include \"{inc}\": no such header")
        if STAGES.index(parts[0]) > STAGES.index(stage):
            fail(f"src/{stage}/{name}: includes {inc}, of the later stage {parts[0]}/ (order: {' < '.join(STAGES)})")
    if name.endswith(".c") and len(lines) > MAX_FILE_LINES and not text.startswith("/* Generated"):
        fail(f"src/{stage}/{name}: {len(lines)} lines (at most {MAX_FILE_LINES}): split it along its sections")
    for fn, line, n in function_lengths(lines):
        if n > MAX_FUNCTION_LINES:
            fail(f"src/{stage}/{name}:{line}: {fn}() has {n} lines (at most {MAX_FUNCTION_LINES})")

# README's "The source" map: one line per file, "src/STAGE/FILE".
readme = open(os.path.join(SRC, "..", "README.md"), encoding="utf-8").read()
m = re.search(r"^## The source\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
if not m:
    fail("README.md has no section \"## The source\"")
else:
    named = set(re.findall(r"src/[a-z]+/[a-z_0-9]+\.[ch]", m.group(1)))
    for f in sorted(seen - named):
        if f.endswith(".c"):
            fail(f"README.md's map of the source does not name {f}")
    for f in sorted(named - seen):
        fail(f"README.md's map of the source names {f}, which does not exist")

for msg in failures:
    print(msg)
print(f"{len(seen)} files in {len(STAGES)} stages; {len(failures)} problems")
sys.exit(1 if failures else 0)
