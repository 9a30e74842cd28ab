#!/usr/bin/python3
"""Checks an SBOM built by sbom-ecosystem.sh or sbom-go.sh: the packages
of other ecosystems it must list (purl, name, version, license), the files
each contains (exactly those, and no file contained twice outside Debian
packages) or the program that links it, and the SPDX 2.3 schema.
Usage: sbom_ecosystem.py SBOM SOURCE_DIR rust|go"""
import json
import os
import sys

import jsonschema

sbom, source_dir, mode = sys.argv[1:4]
APP, NM, SITE = "/srv/app", "/srv/app/node_modules", "/usr/lib/python3/dist-packages"
DI = SITE + "/demo_pkg-1.2.0.dist-info"
# purl: (name, version, license, files or the program linking it, relationship)
RUST = {
    "pkg:npm/demo-app@1.0.0": ("demo-app", "1.0.0", "MIT", {APP + "/package.json", APP + "/server.js"}, None),
    "pkg:npm/left-pad@1.3.0": ("left-pad", "1.3.0", "WTFPL",
                               {NM + "/left-pad/package.json", NM + "/left-pad/index.js"}, None),
    "pkg:npm/%40acme/tool@2.0.0-beta.1%2Bbuild.5": (
        "@acme/tool", "2.0.0-beta.1+build.5", "(MIT OR Apache-2.0)",
        {NM + "/@acme/tool/package.json", NM + "/@acme/tool/main.js"}, None),
    "pkg:npm/left-pad@0.0.9": ("left-pad", "0.0.9", "NOASSERTION",
                               {NM + "/@acme/tool/node_modules/left-pad/package.json",
                                NM + "/@acme/tool/node_modules/left-pad/lib/pad.js"}, None),
    "pkg:pypi/demo-pkg@1.2.0": ("Demo_Pkg", "1.2.0", "BSD-3-Clause",
                                {SITE + "/demo_pkg/__init__.py", SITE + "/demo_pkg/core.py", DI + "/METADATA",
                                 DI + "/WHEEL", DI + "/RECORD", "/usr/bin/demo-cli"}, None),
    "pkg:pypi/old-thing@0.3": ("old_thing", "0.3", "NOASSERTION",
                               {SITE + "/old_thing.py", SITE + "/old_thing.egg-info/PKG-INFO",
                                SITE + "/old_thing.egg-info/installed-files.txt"}, None),
    "pkg:cargo/serde@1.0.195": ("serde", "1.0.195", "NOASSERTION", "/usr/bin/rusty", "STATIC_LINK"),
    "pkg:cargo/itoa@1.0.10": ("itoa", "1.0.10", "NOASSERTION", "/usr/bin/rusty", "STATIC_LINK"),
}
GO = {
    "pkg:golang/example.com/hello": ("example.com/hello", None, "NOASSERTION", "/usr/bin/hello", "GENERATED_FROM"),
    "pkg:golang/example.com/greet@v1.4.2": ("example.com/greet", "v1.4.2", "NOASSERTION", "/usr/bin/hello",
                                           "STATIC_LINK"),
}
want = RUST if mode == "rust" else GO
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


with open(sbom) as f:
    doc = json.load(f)
with open(os.path.join(source_dir, "tests", "data", "spdx-schema-2.3.1.json")) as f:
    validator = jsonschema.Draft201909Validator(json.load(f))
for e in validator.iter_errors(doc):
    fail(f"against the SPDX 2.3.1 schema: {e.message[:300]} at {list(e.absolute_path)}")
broken = dict(doc)
del broken["packages"][0]["SPDXID"]
if validator.is_valid(broken):
    fail("the schema accepts a package without SPDXID: the validation checks nothing")
with open(sbom) as f:
    doc = json.load(f)

files = {f["SPDXID"]: f["fileName"][1:] for f in doc["files"]}
by_path = {p: i for i, p in files.items()}
containers = {}
for r in doc["relationships"]:
    if r["relationshipType"] == "CONTAINS" and r["relatedSpdxElement"] in files:
        containers.setdefault(files[r["relatedSpdxElement"]], set()).add(r["spdxElementId"])
purls = {}
for p in doc["packages"]:
    for ref in p.get("externalRefs", []):
        if ref["referenceType"] == "purl":
            if ref["referenceLocator"] in purls:
                fail(f"two packages have the purl {ref['referenceLocator']}")
            purls[ref["referenceLocator"]] = p
other = [u for u in purls if u.split("/")[0] in ("pkg:npm", "pkg:pypi", "pkg:cargo", "pkg:golang")
         and u not in want]
if other:
    fail(f"packages that should not be there: {other}")

owned = {}
for purl, (name, version, lic, what, relation) in want.items():
    p = purls.get(purl)
    if p is None:
        fail(f"no package {purl} (there are {sorted(purls)})")
        continue
    if p["name"] != name or p.get("versionInfo") != version or p["licenseDeclared"] != lic:
        fail(f"{purl}: name {p['name']!r}, version {p.get('versionInfo')!r}, license {p['licenseDeclared']!r};"
             f" wanted {name!r}, {version!r}, {lic!r}")
    if relation:
        rels = {(r["spdxElementId"], r["relationshipType"]) for r in doc["relationships"]
                if r["relatedSpdxElement"] == p["SPDXID"]}
        if rels != {(by_path.get(what), relation)}:
            fail(f"{purl}: related by {rels}, not only {what} {relation}")
        continue
    for path in what:
        owned[path] = p["SPDXID"]
    mine = {path for path, c in containers.items() if p["SPDXID"] in c}
    if mine != what:
        fail(f"{purl} contains {sorted(mine ^ what)} beyond its files, or lacks them")
for path, c in sorted(containers.items()):
    if path in owned:
        if c != {owned[path]}:
            fail(f"{path} is contained by {sorted(c)}, not only by {owned[path]}")
    elif len(c) != 1 or not (c <= {"SPDXRef-Image"} or next(iter(c)).startswith("SPDXRef-Package-")):
        fail(f"{path} (in no package of another ecosystem) is contained by {sorted(c)}")
if set(files.values()) - set(containers):
    fail(f"files contained by nothing: {sorted(set(files.values()) - set(containers))}")
if failures:
    sys.exit(1)
print(f"{len(want)} packages of other ecosystems, {len(files)} files, each in the right package")
