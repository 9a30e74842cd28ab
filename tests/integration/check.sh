#!/bin/bash
# distill check on an image another tool made (umoci, from a rootfs holding
# busybox, a renamed dash, a setuid file, a world-writable directory, a
# private key deleted by a later layer, and user 0): every finding expected
# and nothing else. distill's own images: no failure. And build refuses to
# write an image that would fail.
. "$(dirname "$0")/lib.sh"
need umoci skopeo jq gcc
[ -x /bin/busybox ] || skip "busybox-static is not installed (.ci/run installs it)"
need_root

L="$WORK/layout"
umoci init --layout "$L"
umoci new --image "$L:bad"
umoci unpack --image "$L:bad" "$WORK/b1" >/dev/null
R="$WORK/b1/rootfs"
mkdir -p "$R/bin" "$R/usr/bin" "$R/usr/sbin" "$R/srv/drop" "$R/root/.ssh"
cp /bin/busybox "$R/bin/busybox"
cp /usr/bin/dash "$R/usr/bin/innocent-tool"
printf 'int main(void) { return 0; }\n' | gcc -x c - -o "$R/usr/sbin/helper"
chmod 4755 "$R/usr/sbin/helper"
chmod 0777 "$R/srv/drop"
openssl genpkey -algorithm ed25519 -out "$R/root/.ssh/deploy" 2>/dev/null
umoci repack --image "$L:bad" "$WORK/b1" >/dev/null
umoci unpack --image "$L:bad" "$WORK/b2" >/dev/null
rm "$WORK/b2/rootfs/root/.ssh/deploy"
umoci repack --image "$L:bad" "$WORK/b2" >/dev/null
umoci config --image "$L:bad" --config.user 0 >/dev/null
(cd "$L" && tar -cf "$WORK/bad.tar" .)

status=0
"$DISTILL" check --json "$WORK/bad.tar" >"$WORK/report.json" || status=$?
[ "$status" = 1 ] || fail "check exited $status on a bad image"
expect_status() {
	local got
	got=$(jq -r --arg id "$1" '.checks[] | select(.id == $id) | .status' "$WORK/report.json")
	[ "$got" = "$2" ] || fail "$1: $got, expected $2: $(jq -c --arg id "$1" '.checks[] | select(.id == $id) | .findings' "$WORK/report.json")"
}
expect_findings() {
	local got
	got=$(jq -r --arg id "$1" '.checks[] | select(.id == $id) | .findings | join("\n")' "$WORK/report.json")
	[ "$got" = "$2" ] || fail "$1 findings:
$got
expected:
$2"
}
expect_status user-nonroot fail
expect_findings user-nonroot 'User "0" is root'
expect_status no-shell fail
expect_findings no-shell '/bin/busybox (named like busybox)
/usr/bin/innocent-tool (the program is dash)'
expect_status no-package-manager pass
expect_status no-setuid fail
expect_findings no-setuid '/usr/sbin/helper is setuid (4755)'
expect_status no-world-writable fail
expect_findings no-world-writable '/srv/drop is world-writable (0777)'
expect_status immutable-programs pass
expect_status no-devices pass
expect_status no-secrets fail
expect_findings no-secrets '/root/.ssh/deploy in layer 1: a private key (deleted by a later layer, still in the image)'
expect_status ca-bundle warn
expect_status unprivileged-ports pass
[ "$(jq .failed "$WORK/report.json")" = 5 ] || fail "failed count"

# The same image as a Docker archive (skopeo writes the legacy layout).
skopeo copy -q "oci:$L:bad" "docker-archive:$WORK/bad-docker.tar:bad:1"
"$DISTILL" check --json "$WORK/bad-docker.tar" >"$WORK/report2.json" || true
[ "$(jq -c '[.checks[] | .status]' "$WORK/report.json")" = "$(jq -c '[.checks[] | .status]' "$WORK/report2.json")" ] ||
	fail "docker-archive and oci layout disagree"

# And with zstd layers (skopeo recompresses).
skopeo copy -q --dest-compress --dest-compress-format zstd "oci:$L:bad" "oci-archive:$WORK/bad-zstd.tar:bad"
"$DISTILL" inspect "$WORK/bad-zstd.tar" | grep -q '^-rwsr-xr-x 0:0 .* /usr/sbin/helper$' || fail "zstd layers not read"
"$DISTILL" check --json "$WORK/bad-zstd.tar" >"$WORK/report3.json" || true
[ "$(jq -c '[.checks[] | .status]' "$WORK/report.json")" = "$(jq -c '[.checks[] | .status]' "$WORK/report3.json")" ] ||
	fail "zstd layers and gzip layers disagree"

# distill's own images have no failure.
for recipe in static curl jq; do
	"$DISTILL" build "$SOURCE_DIR/recipes/$recipe.yaml" -o "$WORK/$recipe.tar"
	"$DISTILL" check "$WORK/$recipe.tar" >"$WORK/own.txt" || fail "check fails on recipes/$recipe.yaml: $(cat "$WORK/own.txt")"
done

# build refuses an image that would fail: a renamed dash, a writable path.
before=$(sha256sum <"$WORK/static.tar")
cp /usr/bin/dash "$WORK/tool"
printf 'name: x\nca-certificates: false\ncontents:\n  binaries: [{source: tool, path: /usr/bin/tool}]\n' >"$WORK/dash.yaml"
out=$("$DISTILL" build "$WORK/dash.yaml" -o "$WORK/static.tar" 2>&1) && fail "a renamed dash was built"
echo "$out" | grep -qF 'the image fails distill check:' || fail "$out"
echo "$out" | grep -qF 'no-shell: /usr/bin/tool (the program is dash)' || fail "$out"
[ "$(sha256sum <"$WORK/static.tar")" = "$before" ] || fail "a refused build changed the previous output"
printf 'name: x\nca-certificates: false\npaths: [{path: /srv/drop, mode: 0777}]\n' >"$WORK/ww.yaml"
out=$("$DISTILL" build "$WORK/ww.yaml" -o "$WORK/ww.tar" 2>&1) && fail "a world-writable path was built"
echo "$out" | grep -qF 'no-world-writable: /srv/drop is world-writable (0777)' || fail "$out"
[ ! -e "$WORK/ww.tar" ] || fail "a refused image was written"
echo "PASS: check on an umoci image, on distill's own, and build's self-check"
