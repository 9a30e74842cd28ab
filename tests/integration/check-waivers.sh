#!/bin/bash
# distill check on hostile and on harmless images, and its waivers:
# names that are not UTF-8 or that hold control characters (a forged `ok`
# line, terminal escapes) are shown escaped by check and inspect, none left
# out; data files named like a shell or package manager are neither, in
# check and in build, while a program so named still fails; a recipe's
# checks.allow lets the build write an image with a waived finding and
# records it in the manifest, where inspect shows it and check mentions it
# without honouring it until --allow repeats it; hints of what programs
# dlopen are shown without -v, once each.
. "$(dirname "$0")/lib.sh"
need python3 jq gcc script

# Archives written here, with the generator of hostile.py.
gen() {
	PYTHONPATH="$SOURCE_DIR/tests/integration" python3 -c "import hostile, sys
$1" "${@:2}"
}
ESC=$(printf '\033')

# ---- names that are not UTF-8, or that forge lines ----------------------
gen "
L = [('etc/', 'd', None, 0o755), ('etc/passwd', 'f', b'root:x:0:0::/root:/sbin/nologin\n', 0o644),
     ('usr/', 'd', None, 0o755), ('usr/bin/', 'd', None, 0o755),
     ('usr/bin/caf\udce9', 'f', b'v1', 0o644),
     ('usr/bin/x\n ok     no-shell forged', 'f', b'x', 0o777),
     ('usr/bin/\x1b]0;pwned\x07\x1b[2J', 'f', b'z', 0o4755),
     ('usr/bin/back\\\\slash', 'l', 'caf\udce9', 0o777)]
hostile.archive(sys.argv[1], [L])" "$WORK/names.tar"
st=0
"$DISTILL" check "$WORK/names.tar" >"$WORK/out" 2>&1 || st=$?
[ "$st" = 1 ] || fail "check of names.tar exited $st: $(cat "$WORK/out")"
! grep -q "$ESC" "$WORK/out" || fail "check prints an escape sequence from a name: $(cat -A "$WORK/out")"
! grep -qE '^ +ok +no-shell forged' "$WORK/out" || fail "a name forged a line of check: $(cat "$WORK/out")"
grep -qxF '       /usr/bin/x\n ok     no-shell forged is world-writable (0777)' "$WORK/out" ||
	fail "the name with a newline is not escaped: $(cat "$WORK/out")"
grep -qxF '       /usr/bin/\x1b]0;pwned\x07\x1b[2J is setuid (4755)' "$WORK/out" ||
	fail "the name with escapes is not escaped: $(cat "$WORK/out")"
[ "$(grep -vc '^       ' "$WORK/out")" = 13 ] || fail "check prints other than 12 checks and a summary: $(cat "$WORK/out")"
"$DISTILL" check --json "$WORK/names.tar" >"$WORK/out.json" || true
jq -e '.checks[] | select(.id == "no-world-writable") | .findings == ["/usr/bin/x\\n ok     no-shell forged is world-writable (0777)"]' \
	"$WORK/out.json" >/dev/null || fail "check --json: $(cat "$WORK/out.json")"

"$DISTILL" inspect "$WORK/names.tar" >"$WORK/out" 2>&1 || fail "inspect names.tar: $(cat "$WORK/out")"
! grep -q "$ESC" "$WORK/out" || fail "inspect prints an escape sequence from a name"
grep -qE '^-rw-r--r-- 0:0 +2 /usr/bin/caf\\xe9$' "$WORK/out" || fail "inspect: the name that is not UTF-8: $(cat "$WORK/out")"
grep -qE '^l[rwx-]{9} 0:0 +0 /usr/bin/back\\\\slash -> caf\\xe9$' "$WORK/out" || fail "inspect: the backslash: $(cat "$WORK/out")"
grep -qE '/usr/bin/x\\n ok     no-shell forged$' "$WORK/out" || fail "inspect: the newline: $(cat "$WORK/out")"
"$DISTILL" inspect --json "$WORK/names.tar" >"$WORK/out.json" || fail "inspect --json names.tar"
[ "$(jq '.files | length' "$WORK/out.json")" = 8 ] || fail "inspect --json leaves files out: $(jq -c '[.files[].path]' "$WORK/out.json")"
jq -e '[.files[] | select(.path == "/usr/bin/caf\\xe9")] | length == 1' "$WORK/out.json" >/dev/null ||
	fail "inspect --json: no /usr/bin/caf\\xe9: $(jq -c '[.files[].path]' "$WORK/out.json")"
jq -e '[.files[] | select(.path == "/usr/bin/back\\\\slash" and .target == "caf\\xe9")] | length == 1' "$WORK/out.json" >/dev/null ||
	fail "inspect --json: the symlink: $(jq -c '[.files[] | [.path, .target]]' "$WORK/out.json")"

# ---- data files named like a shell or package manager -------------------
gen "
L = [('etc/', 'd', None, 0o755), ('etc/passwd', 'f', b'root:x:0:0::/root:/sbin/nologin\n', 0o644),
     ('usr/share/bash-completion/completions/apt', 'f', b'_apt() { :; }\n', 0o644),
     ('usr/share/bash-completion/completions/apt-get', 'l', 'apt', 0o777),
     ('usr/share/menu/dash', 'f', b'?package(dash)\n', 0o644),
     ('usr/share/man/man1/pip3.1.gz', 'f', b'\x1f\x8b', 0o644)]
hostile.archive(sys.argv[1], [L])
hostile.archive(sys.argv[2], [L + [('usr/bin/dash', 'f', b'#!/bin/false\n', 0o755)]])" "$WORK/data.tar" "$WORK/dash.tar"
"$DISTILL" check --json "$WORK/data.tar" >"$WORK/out.json" || true
for id in no-shell no-package-manager; do
	[ "$(jq -r --arg id $id '.checks[] | select(.id == $id) | .status' "$WORK/out.json")" = pass ] ||
		fail "$id on data files: $(jq -c --arg id $id '.checks[] | select(.id == $id) | .findings' "$WORK/out.json")"
done
"$DISTILL" check --json "$WORK/dash.tar" >"$WORK/out.json" || true
jq -e '.checks[] | select(.id == "no-shell") | .status == "fail" and .findings == ["/usr/bin/dash (named like dash)"]' \
	"$WORK/out.json" >/dev/null || fail "an executable named dash: $(jq -c '.checks[1]' "$WORK/out.json")"

# and the build: data files named so go in, by a directory or as files
mkdir -p "$WORK/tree/completions" "$WORK/menu"
printf '_apt() { :; }\n' >"$WORK/tree/completions/apt"
printf 'x' >"$WORK/tree/completions/pip3.1.gz"
printf '?package(dash)\n' >"$WORK/menu/dash"
printf 'name: data\nca-certificates: false\ncontents:\n  directories: [{source: tree, path: /usr/share/bash-completion}]\n  files: [{source: menu/dash, path: /usr/share/menu/dash}]\n' >"$WORK/data.yaml"
"$DISTILL" build "$WORK/data.yaml" -o "$WORK/data-built.tar" >"$WORK/out" 2>&1 || fail "data files named like a shell: $(cat "$WORK/out")"
"$DISTILL" check "$WORK/data-built.tar" >"$WORK/out" || fail "check of data files named like a shell: $(cat "$WORK/out")"
# a program named so is refused
cp "$WORK/tree/completions/apt" "$WORK/tree/completions/dash"
chmod 0755 "$WORK/tree/completions/dash"
out=$("$DISTILL" build "$WORK/data.yaml" -o "$WORK/data-dash.tar" 2>&1) && fail "an executable named dash was built"
echo "$out" | grep -qF '`/usr/share/bash-completion/completions/dash` is a shell or package manager ("dash")' || fail "$out"

# ---- waivers ------------------------------------------------------------
key() {
	printf -- '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHRlc3QgZml4dHVyZSBrZXkgb2YgdGhlIHRlc3Rz\n-----END PRIVATE KEY-----\n'
}
key >"$WORK/test.key"
recipe() {
	printf 'name: waivers\nca-certificates: false\ncontents:\n  files: [{source: test.key, path: /etc/app/test.key}]\n%s' "$1" >"$WORK/w.yaml"
}
recipe ""
out=$("$DISTILL" build "$WORK/w.yaml" -o "$WORK/w.tar" 2>&1) && fail "a private key was built without a waiver"
echo "$out" | grep -qF 'no-secrets: /etc/app/test.key in layer 2: a private key' || fail "$out"
recipe 'checks:
  allow:
    - {id: no-secrets, path: /etc/app/test.key, reason: "a fixture key of the tests"}
'
"$DISTILL" build "$WORK/w.yaml" -o "$WORK/w.tar" >"$WORK/out" 2>&1 || fail "a waived finding: $(cat "$WORK/out")"
want='[{"id":"no-secrets","path":"/etc/app/test.key","reason":"a fixture key of the tests"}]'
m=$(manifest_digest "$WORK/w.tar")
got=$(tar -xOf "$WORK/w.tar" "blobs/sha256/${m#sha256:}" | jq -r '.annotations["org.distill.checks.waived"]')
[ "$got" = "$want" ] || fail "the manifest's waiver annotation: $got"
if command -v skopeo >/dev/null; then
	got=$(skopeo inspect --raw "oci-archive:$WORK/w.tar" | jq -r '.annotations["org.distill.checks.waived"]')
	[ "$got" = "$want" ] || fail "skopeo sees the annotation as: $got"
fi
"$DISTILL" inspect "$WORK/w.tar" | grep -qxF 'waiver:      no-secrets /etc/app/test.key: a fixture key of the tests' ||
	fail "inspect does not show the waiver: $("$DISTILL" inspect "$WORK/w.tar" | head -12)"
[ "$("$DISTILL" inspect --json "$WORK/w.tar" | jq -c .waivers)" = "$want" ] || fail "inspect --json: no waivers"

# check: the waiver the image records is mentioned, not honoured
st=0
"$DISTILL" check "$WORK/w.tar" >"$WORK/out" 2>&1 || st=$?
[ "$st" = 1 ] || fail "check honours the image's own waiver (exit $st)"
grep -qF '       /etc/app/test.key in layer 2: a private key (the image records a waiver: "a fixture key of the tests"; --allow no-secrets:/etc/app/test.key accepts it)' "$WORK/out" ||
	fail "check does not mention the recorded waiver: $(cat "$WORK/out")"
# --allow repeats it: waived, with the image's reason
"$DISTILL" check "$WORK/w.tar" --allow no-secrets:/etc/app/test.key >"$WORK/out" 2>&1 || fail "--allow: $(cat "$WORK/out")"
grep -qE '^waived +no-secrets ' "$WORK/out" || fail "no waived check: $(cat "$WORK/out")"
grep -qxF '       waived: /etc/app/test.key in layer 2: a private key; reason: a fixture key of the tests (recorded in the image, accepted by --allow)' "$WORK/out" ||
	fail "the waived finding: $(cat "$WORK/out")"
"$DISTILL" check --json "$WORK/w.tar" --allow no-secrets:/etc/app/test.key >"$WORK/out.json" || fail "--allow --json"
jq -e '(.checks[] | select(.id == "no-secrets") | .status == "waived" and .findings == [] and (.waived | length) == 1)
	and .failed == 0 and .waived == 1 and (.recorded_waivers | length) == 1' "$WORK/out.json" >/dev/null ||
	fail "check --json --allow: $(cat "$WORK/out.json")"

# --allow on anyone's image: a fail becomes waived, exit 0
gen "
L = [('etc/', 'd', None, 0o755), ('etc/passwd', 'f', b'root:x:0:0::/root:/sbin/nologin\n', 0o644),
     ('srv/', 'd', None, 0o755), ('srv/drop/', 'd', None, 0o777)]
hostile.archive(sys.argv[1], [L])" "$WORK/ww.tar"
st=0
"$DISTILL" check "$WORK/ww.tar" >/dev/null || st=$?
[ "$st" = 1 ] || fail "a world-writable directory passes (exit $st)"
"$DISTILL" check "$WORK/ww.tar" --allow no-world-writable:/srv/drop >"$WORK/out" 2>&1 || fail "--allow: $(cat "$WORK/out")"
grep -qxF '       waived: /srv/drop is world-writable (0777); reason: waived on the command line (--allow)' "$WORK/out" ||
	fail "$(cat "$WORK/out")"
# a waiver that accepts nothing is said; it changes nothing
"$DISTILL" check "$WORK/ww.tar" --allow no-world-writable:/srv/drop --allow no-secrets:/nothing >"$WORK/out" 2>"$WORK/err" ||
	fail "an unused --allow: $(cat "$WORK/err")"
grep -qF -- '--allow no-secrets:/nothing accepts no finding' "$WORK/err" || fail "an unused --allow is not said: $(cat "$WORK/err")"
# usage errors: exit 2
for bad in no-such-check:/srv/drop can-start:/srv/drop no-world-writable:srv/drop no-world-writable /srv/drop; do
	st=0
	"$DISTILL" check "$WORK/ww.tar" --allow "$bad" >/dev/null 2>"$WORK/err" || st=$?
	[ "$st" = 2 ] || fail "--allow $bad exited $st: $(cat "$WORK/err")"
done

# the recipe's waivers are checked as they are parsed
bad_recipe() {
	recipe "$1"
	out=$("$DISTILL" build "$WORK/w.yaml" -o "$WORK/bad.tar" 2>&1) && fail "built with $1"
	echo "$out" | grep -qF "$2" || fail "$1: $out"
}
bad_recipe 'checks: {allow: [{id: no-secret, path: /etc/app/test.key, reason: r}]}' 'checks.allow[0].id: "no-secret": not a check id'
bad_recipe 'checks: {allow: [{id: no-secrets, path: /etc/app/test.key}]}' 'checks.allow[0]: missing required key "reason"'
bad_recipe 'checks: {allow: [{id: no-secrets, path: /etc/app/test.key, reason: ""}]}' 'checks.allow[0].reason: must not be empty'
bad_recipe 'checks: {allow: [{id: no-secrets, path: etc/app/test.key, reason: r}]}' 'checks.allow[0].path: must be an absolute path'
bad_recipe 'checks: {allow: [{id: can-start, path: /x, reason: r}]}' 'its findings name no file'
bad_recipe 'checks: {allow: [{id: no-shell, path: /bin/sh, reason: r}]}' 'cannot be waived in a recipe'
bad_recipe 'checks: {allow: [{id: no-secrets, path: /a, reason: r}, {id: no-secrets, path: /a, reason: s}]}' 'is already waived by checks.allow[0]'
bad_recipe 'annotations: {org.distill.checks.waived: "[]"}' 'annotations.org.distill.checks.waived: reserved'

# ---- hints: without -v, once each, silenced by -q -----------------------
printf '#include <pthread.h>\nstatic void *f(void *a) { return a; }\nint main(void) { pthread_t t; pthread_create(&t, 0, f, 0); pthread_cancel(t); return 0; }\n' |
	gcc -x c - -o "$WORK/cancel" -pthread
cp "$WORK/cancel" "$WORK/cancel2"
printf 'name: app\nca-certificates: false\ncontents:\n  binaries: [{source: cancel, path: /cancel}, {source: cancel2, path: /usr/bin/cancel2}]\n' >"$WORK/cancel.yaml"
# a terminal: the default verbosity
script -qec "'$DISTILL' build '$WORK/cancel.yaml' -o '$WORK/cancel.tar'" /dev/null | tr -d '\r' >"$WORK/out"
[ "$(grep -c 'pthread_cancel' "$WORK/out")" = 1 ] || fail "the libgcc_s hint, not once without -v: $(cat "$WORK/out")"
grep -qxF 'hint: /cancel, /usr/bin/cancel2: `/cancel`, `/usr/bin/cancel2` call pthread_cancel or pthread_exit, for which glibc loads libgcc_s.so.1 with dlopen: add it to contents.libraries' "$WORK/out" ||
	fail "the libgcc_s hint: $(cat "$WORK/out")"
"$DISTILL" build -v "$WORK/cancel.yaml" -o "$WORK/cancel.tar" >"$WORK/out"
[ "$(grep -c 'pthread_cancel' "$WORK/out")" = 1 ] || fail "the libgcc_s hint, not once with -v: $(cat "$WORK/out")"
[ "$(tail -n "$(grep -c '^hint: ' "$WORK/out")" "$WORK/out" | grep -vc '^hint: ')" = 0 ] ||
	fail "the hints are not the last lines with -v: $(cat "$WORK/out")"
script -qec "'$DISTILL' build -q '$WORK/cancel.yaml' -o '$WORK/cancel.tar'" /dev/null >"$WORK/out"
[ ! -s "$WORK/out" ] || fail "-q prints: $(cat "$WORK/out")"
echo "PASS: names escaped, data files named like programs, waivers, hints"
