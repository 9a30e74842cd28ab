#!/usr/bin/env python3
"""Scanners see the Debian packages an image is made of.

An image of curl and a program compiled here: every file the image takes
from the machine belongs, by `dpkg -S`, to a package whose status stanza is
/var/lib/dpkg/status.d/<package> (with the version dpkg-query gives) and
whose copyright file is /usr/share/doc/<package>/copyright; the program
compiled here belongs to none. The SPDX document written with --sbom
validates against the SPDX 2.3.1 JSON schema (tests/data, from
github.com/spdx/spdx-spec, schemas/spdx-schema.json at commit 03e1101);
its packages are the same as dpkg's, with versions and purls; each file has
the SHA-256 of its bytes in the image and is contained by its package, the
program by the image. A second build elsewhere, in another time zone, gives
the same document."""
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse

DISTILL = os.environ["DISTILL"]
SOURCE_DIR = os.environ.get("SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
failures = 0


def fail(msg):
    global failures
    failures += 1
    print(f"FAIL: {msg}")


for tool in ("gcc", "dpkg", "dpkg-query"):
    if shutil.which(tool) is None:
        print(f"SKIP: {tool} is not installed")
        sys.exit(77)
if not os.path.exists("/usr/bin/curl"):
    print("SKIP: /usr/bin/curl is not installed")
    sys.exit(77)
try:
    import jsonschema
except ImportError:
    print("SKIP: the python3 jsonschema module is not installed (Debian: python3-jsonschema)")
    sys.exit(77)

work = tempfile.mkdtemp(prefix="distill-packages.")
with open(os.path.join(work, "app.c"), "w") as f:
    f.write('#include <stdio.h>\nint main(void) { puts("mine"); return 0; }\n')
subprocess.run(["gcc", "-O2", "-o", os.path.join(work, "app"), os.path.join(work, "app.c")], check=True)
with open(os.path.join(work, "app.yaml"), "w") as f:
    f.write("name: distill-test/packages\nsbom: out/recipe.spdx.json\ncontents:\n  binaries:\n"
            "    - /usr/bin/curl\n    - {source: app, path: /usr/local/bin/app}\n")
os.makedirs(os.path.join(work, "out"))


def build(cwd, sbom, tz):
    env = dict(os.environ, TZ=tz, XDG_CACHE_HOME=os.path.join(work, "cache"))
    subprocess.run([DISTILL, "build", os.path.join(work, "app.yaml"), "-o", os.path.join(work, "img.tar"),
                    "--source-date-epoch", "1700000000", "--sbom", sbom, "-q"], check=True, cwd=cwd, env=env)


build(work, os.path.join(work, "first.spdx.json"), "UTC")


def image_files(path):
    """path -> bytes (regular files) or None (anything else), layers applied."""
    out = {}
    with tarfile.open(path) as t:
        index = json.load(t.extractfile("index.json"))
        manifest = json.load(t.extractfile("blobs/sha256/" + index["manifests"][0]["digest"][7:]))
        for layer in manifest["layers"]:
            blob = t.extractfile("blobs/sha256/" + layer["digest"][7:]).read()
            with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as lt:
                for m in lt.getmembers():
                    p = "/" + m.name.rstrip("/")
                    out[p] = lt.extractfile(m).read() if m.isreg() else None
    return out, manifest


files, manifest = image_files(os.path.join(work, "img.tar"))


def dpkg_owner(path):
    """(package, arch) that dpkg -S names for an image path; the image's /usr
    is merged, so the path is also asked under /lib, /bin, /sbin, /lib64."""
    tries = [path]
    for usr, old in (("/usr/lib64/", "/lib64/"), ("/usr/lib/", "/lib/"), ("/usr/bin/", "/bin/"),
                     ("/usr/sbin/", "/sbin/")):
        if path.startswith(usr):
            tries.append(old + path[len(usr):])
    for p in tries:
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            if line.startswith("diversion "):
                continue
            names = line.split(": ", 1)[0]
            first = names.split(", ")[0]
            name, _, arch = first.partition(":")
            if not arch:
                arch = subprocess.run(["dpkg-query", "-W", "-f", "${Architecture}", name], capture_output=True,
                                      text=True).stdout
            return name, arch
    return None


def stanza_fields(text):
    out = {}
    for line in text.splitlines():
        if line and not line[0].isspace() and ":" in line:
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


# status.d and copyright for every file that came from the machine
expected = {}  # image path -> (package, arch) or None
for path, data in sorted(files.items()):
    if data is None or path.startswith(("/etc/", "/var/lib/dpkg/", "/usr/share/doc/")):
        continue
    expected[path] = dpkg_owner(path)
if expected.get("/usr/local/bin/app") is not None:
    fail("dpkg -S claims the program compiled here")
expected["/usr/local/bin/app"] = None
libraries = [p for p in expected if "/lib/" in p and ".so" in p]
if len(libraries) < 10:
    fail(f"the curl image has only {len(libraries)} libraries: {libraries}")
for path, owner in expected.items():
    if path == "/usr/local/bin/app":
        continue
    if owner is None:
        fail(f"{path}: dpkg -S names no package")
        continue
    name, arch = owner
    status = files.get(f"/var/lib/dpkg/status.d/{name}")
    if status is None:
        fail(f"{path}: no /var/lib/dpkg/status.d/{name}")
        continue
    fields = stanza_fields(status.decode())
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", f"{name}:{arch}"], capture_output=True,
                             text=True).stdout
    if (fields.get("Package"), fields.get("Version"), fields.get("Architecture")) != (name, version, arch):
        fail(f"status.d/{name}: {fields.get('Package')} {fields.get('Version')} {fields.get('Architecture')},"
             f" dpkg says {name} {version} {arch}")
    copyright = files.get(f"/usr/share/doc/{name}/copyright")
    host = f"/usr/share/doc/{name}/copyright"
    if os.path.exists(host) and copyright != open(host, "rb").read():
        fail(f"/usr/share/doc/{name}/copyright is not the machine's")
packages_here = {o[0] for o in expected.values() if o}
status_d = {p[len("/var/lib/dpkg/status.d/"):] for p in files
            if p.startswith("/var/lib/dpkg/status.d/") and not p.endswith(".md5sums")}
if status_d != packages_here:
    fail(f"status.d holds {sorted(status_d ^ packages_here)} beyond what dpkg -S names, or lacks them")
# status.d/<name>.md5sums beside each stanza, in dpkg's info/*.md5sums
# format: exactly the package's files here (as dpkg -S names them), with
# the MD5 of their bytes in the image
for name in sorted(packages_here):
    sums = files.get(f"/var/lib/dpkg/status.d/{name}.md5sums")
    if sums is None:
        fail(f"no /var/lib/dpkg/status.d/{name}.md5sums")
        continue
    listed = {}
    for line in sums.decode().splitlines():
        m = re.fullmatch(r"([0-9a-f]{32})  ([^/].*)", line)
        if m is None:
            fail(f"status.d/{name}.md5sums: a line not in dpkg's format: {line!r}")
            continue
        listed["/" + m.group(2)] = m.group(1)
    own = {path for path, o in expected.items() if o and o[0] == name}
    if set(listed) != own:
        fail(f"status.d/{name}.md5sums lists {sorted(set(listed) ^ own)} beyond the package's files here, or lacks them")
    for path, md5 in listed.items():
        data = files.get(path)
        if data is not None and hashlib.md5(data).hexdigest() != md5:
            fail(f"status.d/{name}.md5sums: {path} is {hashlib.md5(data).hexdigest()} in the image, not {md5}")
print(f"{len(expected)} files, {len(packages_here)} packages: status.d, md5sums and copyright match dpkg")

# the SBOM
with open(os.path.join(SOURCE_DIR, "tests", "data", "spdx-schema-2.3.1.json")) as f:
    schema = json.load(f)
validator = jsonschema.Draft201909Validator(schema)
with open(os.path.join(work, "first.spdx.json")) as f:
    doc = json.load(f)
for e in validator.iter_errors(doc):
    fail(f"SBOM against the SPDX 2.3.1 schema: {e.message[:300]} at {list(e.absolute_path)}")
broken = dict(doc)
del broken["documentNamespace"]
if validator.is_valid(broken):
    fail("the schema accepts a document without a namespace: the validation checks nothing")

if doc["spdxVersion"] != "SPDX-2.3" or doc["creationInfo"]["created"] != "2023-11-14T22:13:20Z":
    fail(f"SBOM version or creation time: {doc['spdxVersion']} {doc['creationInfo']['created']}")
manifest_digest = json.load(tarfile.open(os.path.join(work, "img.tar")).extractfile("index.json"))["manifests"][0][
    "digest"]
if manifest_digest[7:] not in doc["documentNamespace"]:
    fail(f"the namespace {doc['documentNamespace']} does not name the manifest {manifest_digest}")
by_id = {p["SPDXID"]: p for p in doc["packages"]}
file_by_id = {f["SPDXID"]: f for f in doc["files"]}
container = {r["relatedSpdxElement"]: r["spdxElementId"] for r in doc["relationships"]
             if r["relationshipType"] == "CONTAINS"}
described = [r for r in doc["relationships"] if r["relationshipType"] == "DESCRIBES"]
if [r["relatedSpdxElement"] for r in described] != ["SPDXRef-Image"]:
    fail(f"the document describes {described}")
sbom_files = {f["fileName"][1:]: f for f in doc["files"]}
for path, data in files.items():
    if data is None:
        continue
    f = sbom_files.get(path)
    if f is None:
        fail(f"SBOM: no file {path}")
        continue
    sums = {c["algorithm"]: c["checksumValue"] for c in f["checksums"]}
    if sums.get("SHA256") != hashlib.sha256(data).hexdigest() or sums.get("SHA1") != hashlib.sha1(data).hexdigest():
        fail(f"SBOM: {path}: checksums are not those of its bytes in the image")
    holder = by_id.get(container.get(f["SPDXID"]))
    if holder is None:
        fail(f"SBOM: nothing contains {path}")
        continue
    owner = expected.get(path)
    if path in expected and owner is None and holder["SPDXID"] != "SPDXRef-Image":
        fail(f"SBOM: {path} is in no package but {holder['name']} contains it")
    if owner:
        name, arch = owner
        version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", f"{name}:{arch}"], capture_output=True,
                                 text=True).stdout
        purl = f"pkg:deb/debian/{name}@{urllib.parse.quote(version, safe='')}?arch={arch}"
        refs = [r["referenceLocator"] for r in holder.get("externalRefs", []) if r["referenceType"] == "purl"]
        if holder["name"] != name or holder.get("versionInfo") != version or refs != [purl]:
            fail(f"SBOM: {path} is in {holder['name']} {holder.get('versionInfo')} {refs},"
                 f" dpkg says {name} {version} ({purl})")
if {p["name"] for p in doc["packages"] if p["SPDXID"] != "SPDXRef-Image"} != packages_here:
    fail("SBOM packages differ from dpkg's")
if sbom_files.get("/usr/local/bin/app", {}).get("comment") is None:
    fail("SBOM: the program compiled here is not said to be in no package")
licensed = [p["name"] for p in doc["packages"] if p.get("licenseDeclared", "NOASSERTION") != "NOASSERTION"]
if "zlib1g" in packages_here and by_id and not any(p["name"] == "zlib1g" and p["licenseDeclared"] == "Zlib"
                                                   for p in doc["packages"]):
    fail("SBOM: zlib1g's declared license is not Zlib")
refs_defined = {r["licenseId"] for r in doc.get("hasExtractedLicensingInfos", [])}
for p in doc["packages"]:
    for word in p.get("licenseDeclared", "").replace("(", " ").replace(")", " ").split():
        if word.startswith("LicenseRef-") and word not in refs_defined:
            fail(f"SBOM: {p['name']} uses {word}, which the document does not define")
print(f"SBOM: valid, {len(doc['packages'])} packages ({len(licensed)} with a declared license), "
      f"{len(doc['files'])} files")

# the same document from elsewhere, at another time of day and zone; and the recipe's sbom key
other = os.path.join(work, "elsewhere")
os.makedirs(other)
build(other, os.path.join(other, "second.spdx.json"), "Asia/Kathmandu")
if open(os.path.join(work, "first.spdx.json"), "rb").read() != open(os.path.join(other, "second.spdx.json"),
                                                                    "rb").read():
    fail("a second build wrote another SBOM")
env = dict(os.environ, XDG_CACHE_HOME=os.path.join(work, "cache"))
subprocess.run([DISTILL, "build", os.path.join(work, "app.yaml"), "-o", os.path.join(work, "img2.tar"),
                "--source-date-epoch", "1700000000", "-q"], check=True, cwd="/", env=env)
if not os.path.exists(os.path.join(work, "out", "recipe.spdx.json")):
    fail("the recipe's sbom key wrote nothing next to the recipe")
elif open(os.path.join(work, "out", "recipe.spdx.json"), "rb").read() != open(
        os.path.join(work, "first.spdx.json"), "rb").read():
    fail("the recipe's sbom differs from --sbom's")

# without a dpkg database: no status.d, the SBOM has the image alone
root = os.path.join(work, "root")
os.makedirs(os.path.join(root, "bin"))
subprocess.run(["gcc", "-static", "-O2", "-o", os.path.join(root, "bin", "app"), os.path.join(work, "app.c")],
               check=True)
with open(os.path.join(work, "bare.yaml"), "w") as f:
    f.write(f"name: distill-test/bare\nsysroot: {root}\nca-certificates: false\ncontents:\n  binaries:\n"
            "    - /bin/app\n")
subprocess.run([DISTILL, "build", os.path.join(work, "bare.yaml"), "-o", os.path.join(work, "bare.tar"), "--sbom",
                os.path.join(work, "bare.spdx.json"), "-q"], check=True, env=env)
bare, _ = image_files(os.path.join(work, "bare.tar"))
if any(p.startswith("/var/lib/dpkg") for p in bare):
    fail("a sysroot without dpkg got status.d")
bare_doc = json.load(open(os.path.join(work, "bare.spdx.json")))
if [p["SPDXID"] for p in bare_doc["packages"]] != ["SPDXRef-Image"] or not validator.is_valid(bare_doc):
    fail("the SBOM of a sysroot without dpkg is not the image alone, or is invalid")

if failures:
    print(f"{failures} failure(s); work kept in {work}")
    sys.exit(1)
shutil.rmtree(work)
print("ok")
