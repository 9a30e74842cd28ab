#!/bin/bash
# contents.packages: Debian packages of the machine taken whole.  xmllint
# from libxml2-utils runs under runc on a document of the image (its
# closure came with it); the packages' files are there, their docs and man
# pages are not (but the copyright), tzdata's symlinks stay symlinks and
# its excludes work; status.d has each package with its md5sums; the
# package files are in the libraries layer, the application's in its own.
# Refused with the item's place: a package not installed, a name that is
# not one, a shell, a package manager, and a file another item places.
. "$(dirname "$0")/lib.sh"
need runc umoci jq dpkg md5sum
need_root
for p in libxml2-utils tzdata bash apt; do
	dpkg -s "$p" 2>/dev/null | grep -qx 'Status: install ok installed' ||
		skip "$p is not installed (.ci/run installs it)"
done

cd "$WORK"
printf '<a><b>distilled</b></a>\n' >doc.xml
cat >xml.yaml <<'EOF'
name: distill-test/packages
contents:
  packages:
    - libxml2-utils
    - name: tzdata
      exclude: [/usr/share/zoneinfo/right, "*.tab"]
  files:
    - {source: doc.xml, path: /data/doc.xml}
entrypoint: [/usr/bin/xmllint]
cmd: [--xpath, "string(/a/b)", /data/doc.xml]
EOF
"$DISTILL" build xml.yaml -o xml.tar
"$DISTILL" check xml.tar >check.txt || { cat check.txt; fail "distill check refuses the image"; }

unpack xml.tar latest bundle
root=bundle/rootfs
check_rootfs "$root" xml.tar
out=$(runc_run bundle)
[ "$out" = distilled ] || fail "xmllint in the image printed '$out', not 'distilled'"

# the package's files, not its docs; the copyright only
for f in /usr/bin/xmllint /usr/bin/xmlcatalog; do
	[ -f "$root$f" ] || fail "$f of libxml2-utils is not in the image"
done
[ ! -e "$root/usr/share/man" ] || fail "man pages in the image: $(find "$root/usr/share/man" | head -3)"
docs=$(cd "$root/usr/share/doc" && find . ! -type d ! -name copyright)
[ -z "$docs" ] || fail "documentation besides the copyright files: $docs"
[ -f "$root/usr/share/doc/libxml2-utils/copyright" ] || fail "no copyright of libxml2-utils"

# status.d: the stanza, and md5sums that are the package's files here
for p in libxml2-utils tzdata; do
	[ -f "$root/var/lib/dpkg/status.d/$p" ] || fail "no status.d/$p"
	grep -qx "Package: $p" "$root/var/lib/dpkg/status.d/$p" || fail "status.d/$p is not its stanza"
	sums="$root/var/lib/dpkg/status.d/$p.md5sums"
	[ -s "$sums" ] || fail "no status.d/$p.md5sums"
	(cd "$root" && md5sum --quiet -c "$OLDPWD/$sums") || fail "status.d/$p.md5sums does not match the files"
done
grep -q '  usr/bin/xmllint$' "$root/var/lib/dpkg/status.d/libxml2-utils.md5sums" ||
	fail "status.d/libxml2-utils.md5sums does not list usr/bin/xmllint"

# tzdata: data, symlinks kept as the sysroot has them, excludes
[ -f "$root/usr/share/zoneinfo/Europe/Paris" ] || fail "no /usr/share/zoneinfo/Europe/Paris"
links=0
while read -r link; do
	[ -L "$root$link" ] || fail "$link is a symlink on this machine, not in the image"
	[ "$(readlink "$root$link")" = "$(readlink "$link")" ] || fail "$link points elsewhere in the image"
	links=$((links + 1))
done < <(dpkg -L tzdata | while read -r f; do [ -L "$f" ] && ! [ -L "$(dirname "$f")" ] && echo "$f"; done | grep '^/usr/share/zoneinfo/[A-Z]' | head -20)
[ "$links" -gt 0 ] || fail "tzdata has no symlink to check on this machine"
if [ -d /usr/share/zoneinfo/right ]; then
	[ ! -e "$root/usr/share/zoneinfo/right" ] || fail "exclude /usr/share/zoneinfo/right did not leave it out"
fi
[ -f /usr/share/zoneinfo/zone1970.tab ] || fail "this machine's tzdata has no zone1970.tab to exclude"
found=$(find "$root/usr/share/zoneinfo" -name '*.tab')
[ -z "$found" ] || fail "exclude *.tab did not leave out $found"

# the packages in the libraries layer, the application's file above
"$DISTILL" inspect --json xml.tar >inspect.json
layer() { jq -r --arg p "$1" '.files[] | select(.path == $p) | .layer' inspect.json; }
[ "$(layer /usr/bin/xmllint)" = 2 ] || fail "xmllint is in layer $(layer /usr/bin/xmllint), not the libraries' (2)"
[ "$(layer /usr/share/zoneinfo/Europe/Paris)" = 2 ] || fail "tzdata is not in the libraries layer"
[ "$(layer /data/doc.xml)" = 3 ] || fail "the application's file is in layer $(layer /data/doc.xml), not 3"

# a setuid program of a package: the bit dropped, as for any source, said
if dpkg -s mount 2>/dev/null | grep -qx 'Status: install ok installed' && [ -u /usr/bin/mount ]; then
	printf 'name: t\ncontents:\n  packages: [libxml2-utils, mount]\nentrypoint: [/usr/bin/xmllint]\n' >suid.yaml
	"$DISTILL" build suid.yaml -o suid.tar 2>suid.err || fail "setuid: $(cat suid.err)"
	grep -q 'contents.packages\[1\]: `/usr/bin/mount` of package `mount` is setuid: the bit is dropped' suid.err ||
		fail "setuid: no warning: $(cat suid.err)"
	"$DISTILL" inspect suid.tar | grep -q '^-rwxr-xr-x 0:0 .* /usr/bin/mount$' || fail "setuid: /usr/bin/mount is not 0755"
fi

# refused, each with the recipe's place and the reason
refused() {
	local name="$1" items="$2" want="$3"
	printf 'name: t\ncontents:\n  packages: %s\nentrypoint: [/usr/bin/xmllint]\n' "$items" >"$name.yaml"
	if "$DISTILL" build "$name.yaml" -o "$name.tar" 2>"$name.err"; then
		fail "$name: the build succeeded"
	fi
	grep -Eq "$want" "$name.err" || fail "$name: the error does not say /$want/: $(cat "$name.err")"
}
refused absent '[distill-no-such-package]' \
	'absent\.yaml:3:[0-9]+: contents\.packages\[0\]: `distill-no-such-package` is not installed in the sysroot'
refused arch '[libxml2-utils:s390x]' 'arch\.yaml:3:[0-9]+: contents\.packages\[0\]: `libxml2-utils:s390x` is not installed'
refused name '[Not_A_Name]' 'name\.yaml:3:[0-9]+: contents\.packages\[0\]: "Not_A_Name" is not a Debian package name'
refused shell '[libxml2-utils, bash]' \
	'shell\.yaml:3:[0-9]+: contents\.packages\[1\]: package `bash` brings `/usr/bin/bash`, a shell'
refused pm '[apt]' 'pm\.yaml:3:[0-9]+: contents\.packages\[0\]: package `apt` brings `/usr/bin/apt[^`]*`, a package manager'

# a file another item places at a package's path: the rule of two claims
printf 'other\n' >other
cat >clash.yaml <<'EOF'
name: t
contents:
  files: [{source: other, path: /usr/bin/xmlcatalog}]
  packages: [libxml2-utils]
entrypoint: [/usr/bin/xmllint]
EOF
"$DISTILL" build clash.yaml -o clash.tar 2>clash.err && fail "clash: the build succeeded"
grep -q '`/usr/bin/xmlcatalog` is claimed twice: .*contents.packages\[0\].*contents.files\[0\]' clash.err ||
	fail "clash: $(cat clash.err)"
# ... which an exclude settles
sed -i 's|packages: \[libxml2-utils\]|packages: [{name: libxml2-utils, exclude: [/usr/bin/xmlcatalog]}]|' clash.yaml
"$DISTILL" build clash.yaml -o clash.tar || fail "clash with the exclude: the build failed"
"$DISTILL" inspect clash.tar | grep -q ' 6 /usr/bin/xmlcatalog$' || fail "clash: /usr/bin/xmlcatalog is not the file's"
# an output over a package's file is refused before anything is read (a
# sysroot of the test's own: a mistake must not write over this machine's)
fake="$WORK/fake"
mkdir -p "$fake/var/lib/dpkg/info" "$fake/usr/share/distill-fake"
printf 'kept\n' >"$fake/usr/share/distill-fake/data.txt"
printf 'Package: distill-fake\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n' \
	>"$fake/var/lib/dpkg/status"
printf '/.\n/usr\n/usr/share\n/usr/share/distill-fake\n/usr/share/distill-fake/data.txt\n' \
	>"$fake/var/lib/dpkg/info/distill-fake.list"
cat >fake.yaml <<EOF
name: t
sysroot: $fake
ca-certificates: false
contents:
  packages: [distill-fake]
entrypoint: [/usr/share/distill-fake/data.txt]
EOF
"$DISTILL" build fake.yaml -o "$fake/usr/share/distill-fake/data.txt" 2>fake.err &&
	fail "an output over a package's file: the build succeeded"
grep -qF "would overwrite contents.packages[0] \`distill-fake\`'s \`/usr/share/distill-fake/data.txt\`" fake.err ||
	fail "an output over a package's file: $(cat fake.err)"
[ "$(cat "$fake/usr/share/distill-fake/data.txt")" = kept ] || fail "the package's file was written over"
echo "PASS: packages taken whole run, without docs, with status.d; refusals name the item"
