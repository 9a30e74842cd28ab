#!/usr/bin/env python3
"""The source tree shows the pipeline: each folder of src/ includes headers
of its own folder and of the folders before it only, no file is over its
bound of lines and no function over 80, and README's map of the source names
every folder and file that exists (and nothing that does not)."""
import os
import re
import sys

SRC = os.path.join(os.environ.get("SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")), "src")
# The order of the stages: a folder may use those on its left.
STAGES = ["lib", "recipe", "plan", "image", "build", "cli"]
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
            if name.endswith((".c", ".h")):
                yield stage, name, os.path.join(folder, name)


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


seen = set()
for stage, name, path in sources():
    seen.add(f"src/{stage}/{name}")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    for m in re.finditer(r'^#include "([^"]+)"', text, re.M):
        inc = m.group(1)
        if inc == "config.h":
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
m = re.search(r"^## The source\n(.*?)(?=^## )", readme, re.M | re.S)
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
