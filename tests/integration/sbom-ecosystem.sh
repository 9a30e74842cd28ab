#!/bin/bash
# Packages of other ecosystems in the SBOM, from trees the test writes (no
# network): an npm tree (a plain and a scoped package, a nested
# node_modules, the application's own package.json), a Python
# site-packages with a dist-info (METADATA, RECORD) and an egg-info, and a
# gcc-compiled program given a `cargo auditable` .dep-v0 section by
# objcopy.  The SBOM names each package with its version, license and
# purl, each file is contained by exactly the right package, and the
# document still validates against the SPDX 2.3 schema.
. "$(dirname "$0")/lib.sh"
need gcc objcopy
PY=/usr/bin/python3
"$PY" -c 'import jsonschema' 2>/dev/null || skip "python3-jsonschema is not installed (.ci/run installs it)"

C="$WORK/ctx"
mkdir -p "$C/app/node_modules/left-pad" "$C/app/node_modules/@acme/tool/node_modules/left-pad/lib" \
	"$C/site/demo_pkg-1.2.0.dist-info" "$C/site/demo_pkg" "$C/site/old_thing.egg-info" "$C/bin"
cd "$C"
printf '{"name": "demo-app", "version": "1.0.0", "license": "MIT", "private": true}\n' >app/package.json
echo 'require("left-pad")' >app/server.js
printf '{"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}\n' >app/node_modules/left-pad/package.json
echo 'module.exports = 1' >app/node_modules/left-pad/index.js
printf '{"name": "@acme/tool", "version": "2.0.0-beta.1+build.5", "license": "(MIT OR Apache-2.0)"}\n' \
	>app/node_modules/@acme/tool/package.json
echo 'module.exports = 2' >app/node_modules/@acme/tool/main.js
printf '{"name": "left-pad", "version": "0.0.9", "license": "SEE LICENSE IN LICENSE.txt"}\n' \
	>app/node_modules/@acme/tool/node_modules/left-pad/package.json
echo 'module.exports = 3' >app/node_modules/@acme/tool/node_modules/left-pad/lib/pad.js

printf 'Metadata-Version: 2.4\nName: Demo_Pkg\nVersion: 1.2.0\nLicense-Expression: BSD-3-Clause\n\nA description.\nLicense: GPL-3\n' \
	>site/demo_pkg-1.2.0.dist-info/METADATA
echo 'Wheel-Version: 1.0' >site/demo_pkg-1.2.0.dist-info/WHEEL
echo 'x = 1' >site/demo_pkg/__init__.py
echo 'y = 2' >site/demo_pkg/core.py
echo 'stray = 1' >site/stray.py
cat >site/demo_pkg-1.2.0.dist-info/RECORD <<'R'
demo_pkg/__init__.py,sha256=AAAA,6
"demo_pkg/core.py",sha256=BBBB,6
demo_pkg-1.2.0.dist-info/METADATA,,
demo_pkg-1.2.0.dist-info/WHEEL,,
demo_pkg-1.2.0.dist-info/RECORD,,
../../../bin/demo-cli,sha256=CCCC,10
demo_pkg/not_installed.py,,
R
printf 'Metadata-Version: 1.1\nName: old_thing\nVersion: 0.3\nLicense: MIT License\n' >site/old_thing.egg-info/PKG-INFO
printf '../old_thing.py\nPKG-INFO\ninstalled-files.txt\n' >site/old_thing.egg-info/installed-files.txt
echo 'z = 3' >site/old_thing.py
echo '#!/usr/bin/python3' >bin/demo-cli

# a Rust program as cargo auditable leaves it: zlib-compressed JSON in .dep-v0
echo 'int main(void) { return 0; }' >rust.c
gcc -O0 -o rusty rust.c || fail "gcc"
"$PY" - <<'P'
import json, zlib
deps = {"packages": [
    {"name": "rusty", "version": "0.1.0", "source": "local", "dependencies": [1, 2, 3], "root": True},
    {"name": "serde", "version": "1.0.195", "source": "crates.io"},
    {"name": "itoa", "version": "1.0.10", "source": "crates.io", "kind": "runtime"},
    {"name": "cc", "version": "1.0.83", "source": "crates.io", "kind": "build"},
]}
open("deps.z", "wb").write(zlib.compress(json.dumps(deps).encode()))
P
objcopy --add-section .dep-v0=deps.z rusty || fail "objcopy --add-section .dep-v0"

cat >app.yaml <<'Y'
name: distill-test/sbom-ecosystem
ca-certificates: false
contents:
  binaries:
    - {source: rusty, path: /usr/bin/rusty}
  directories:
    - {source: app, path: /srv/app}
    - {source: site, path: /usr/lib/python3/dist-packages}
  files:
    - {source: bin/demo-cli, path: /usr/bin/demo-cli}
Y
"$DISTILL" build app.yaml -o "$WORK/img.tar" --sbom "$WORK/first.spdx.json" --source-date-epoch 1700000000 \
	--no-cache -q || fail "distill build"
"$DISTILL" build app.yaml -o "$WORK/img2.tar" --sbom "$WORK/second.spdx.json" --source-date-epoch 1700000000 \
	--no-cache -q || fail "distill build (again)"
cmp -s "$WORK/first.spdx.json" "$WORK/second.spdx.json" || fail "two builds wrote different SBOMs"

"$PY" "$SOURCE_DIR/tests/integration/sbom_ecosystem.py" "$WORK/first.spdx.json" "$SOURCE_DIR" rust
echo "PASS: npm, Python and cargo packages in the SBOM, each with exactly its files"
