#!/bin/bash
# distill diff and inspect --packages see npm packages and Python
# distributions, each version ordered by its own ecosystem's rule: two
# images of a tree the test writes (no network), where left-pad goes from
# 1.0.0-rc.1 to 1.0.0 (an upgrade by SemVer, a downgrade by Debian's
# order), a nested copy of it is added, and demo_pkg goes from 2.0rc1 to
# 2.0 (an upgrade by PEP 440) with its module changed: that file comes
# under demo_pkg's heading, not its directory's.
. "$(dirname "$0")/lib.sh"
need gcc jq

tree() { # DIR LEFTPAD DEMO
	mkdir -p "$1/app/node_modules/left-pad" "$1/site/demo_pkg-$3.dist-info" "$1/site/demo_pkg"
	printf '{"name": "left-pad", "version": "%s", "license": "WTFPL"}\n' "$2" >"$1/app/node_modules/left-pad/package.json"
	echo "module.exports = '$2'" >"$1/app/node_modules/left-pad/index.js"
	printf 'Metadata-Version: 2.1\nName: Demo_Pkg\nVersion: %s\n\n' "$3" >"$1/site/demo_pkg-$3.dist-info/METADATA"
	echo "version = '$3'" >"$1/site/demo_pkg/core.py"
	printf 'demo_pkg/core.py,,\ndemo_pkg-%s.dist-info/METADATA,,\n' "$3" >"$1/site/demo_pkg-$3.dist-info/RECORD"
	echo 'int main(void) { return 0; }' >"$1/main.c"
	gcc -O0 -o "$1/main" "$1/main.c" || fail "gcc"
	cat >"$1/app.yaml" <<'Y'
name: distill-test/diff-ecosystems
ca-certificates: false
contents:
  binaries: [{source: main, path: /usr/bin/main}]
  directories:
    - {source: app, path: /srv/app}
    - {source: site, path: /usr/lib/python3/dist-packages}
entrypoint: [/usr/bin/main]
Y
	"$DISTILL" build "$1/app.yaml" -o "$1.tar" -q --source-date-epoch 1700000000 || fail "build $1"
}
cd "$WORK"
tree a 1.0.0-rc.1 2.0rc1
tree b 1.0.0 2.0
mkdir -p b/app/node_modules/tool/node_modules/left-pad
printf '{"name": "tool", "version": "3.1.4"}\n' >b/app/node_modules/tool/package.json
printf '{"name": "left-pad", "version": "0.9.0"}\n' >b/app/node_modules/tool/node_modules/left-pad/package.json
"$DISTILL" build b/app.yaml -o b.tar -q --source-date-epoch 1700000000 || fail "build b again"

st=0
"$DISTILL" diff a.tar b.tar >diff.txt || st=$?
[ "$st" = 1 ] || fail "diff exited $st: $(cat diff.txt)"
for want in "package left-pad (npm, /srv/app/node_modules/left-pad): 1.0.0-rc.1 -> 1.0.0 (upgrade)" \
	"package left-pad (npm, /srv/app/node_modules/tool/node_modules/left-pad): added 0.9.0" \
	"package tool (npm, /srv/app/node_modules/tool): added 3.1.4"; do
	grep -qxF "$want" diff.txt || fail "no line '$want': $(grep '^package' diff.txt)"
done
# a distribution is known by its site, though its dist-info's name changes
grep -qxF "package Demo_Pkg (pypi, /usr/lib/python3/dist-packages): 2.0rc1 -> 2.0 (upgrade)" diff.txt ||
	fail "demo_pkg is no upgrade: $(grep '^package' diff.txt)"
# a module listed by the RECORD comes under its distribution
awk '/^files / { h = $0 } index($0, "file /usr/lib/python3/dist-packages/demo_pkg/core.py: content") == 1 { print h; n++ }
	END { exit n != 1 }' diff.txt >heading.txt || fail "core.py's difference is not there: $(cat diff.txt)"
grep -qF "files of package Demo_Pkg (pypi, /usr/lib/python3/dist-packages) (" heading.txt ||
	fail "core.py is under '$(cat heading.txt)'"
"$DISTILL" diff --json a.tar b.tar >diff.json || true
jq -e '[.differences[] | select(.kind == "package" and .ecosystem == "npm" and .change == "upgrade"
	and .old == "1.0.0-rc.1" and .new == "1.0.0" and .path == "/srv/app/node_modules/left-pad")] | length == 1' \
	diff.json >/dev/null || fail "--json: $(jq -c '[.differences[] | select(.kind == "package")]' diff.json)"
"$DISTILL" inspect --packages b.tar >pk.txt || fail "inspect --packages"
grep -qE '^layer [0-9]+: tool \(npm, /srv/app/node_modules/tool\) 3\.1\.4$' pk.txt || fail "inspect --packages: $(cat pk.txt)"
"$DISTILL" inspect --packages --json b.tar | jq -e '[.packages[] | select(.ecosystem == "pypi" and .name == "Demo_Pkg"
	and .version == "2.0")] | length == 1' >/dev/null || fail "inspect --packages --json has no Demo_Pkg 2.0"
echo "PASS: npm and Python packages in diff and inspect, by their own orders of versions"
