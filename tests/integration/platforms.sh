#!/bin/bash
# One archive, two platforms: a recipe whose platforms map linux/amd64 and
# linux/arm64 to a sysroot each (made here: the host's and the arm64 cross
# libc, a hello compiled for each). The archive's index.json points at an
# image index listing both manifests with their platforms; skopeo lists
# them, picks each by --override-arch and copies the whole (--all); podman
# loads the host's and runs it. --platform picks one; the bytes repeat;
# the SBOMs are one per platform; bad requests are clear errors.
. "$(dirname "$0")/lib.sh"
need aarch64-linux-gnu-gcc gcc skopeo jq podman runc
[ -f /usr/aarch64-linux-gnu/lib/libc.so.6 ] || skip "libc6-dev-arm64-cross is not installed (.ci/run installs it)"
[ "$(uname -m)" = x86_64 ] || skip "the test's host sysroot is amd64"
need_root

two_platform_recipe

"$DISTILL" build "$WORK/multi.yaml" -o "$WORK/multi.tar" --source-date-epoch 1700000000 --sbom "$WORK/multi.spdx.json" -q
skopeo inspect --raw "oci-archive:$WORK/multi.tar" >"$WORK/raw.json"
[ "$(jq -r .mediaType "$WORK/raw.json")" = application/vnd.oci.image.index.v1+json ] || fail "not an image index: $(cat "$WORK/raw.json")"
[ "$(jq -r '[.manifests[].platform | .os + "/" + .architecture] | join(",")' "$WORK/raw.json")" = linux/amd64,linux/arm64 ] \
	|| fail "the index lists $(jq -c '[.manifests[].platform]' "$WORK/raw.json")"
for arch in amd64 arm64; do
	[ "$(skopeo inspect --override-arch "$arch" --format '{{.Architecture}}' "oci-archive:$WORK/multi.tar")" = "$arch" ] \
		|| fail "skopeo --override-arch $arch does not find the $arch image"
	[ -s "$WORK/multi.linux-$arch.spdx.json" ] || fail "no SBOM for $arch"
done
mkdir "$WORK/copy"
skopeo copy --quiet --all "oci-archive:$WORK/multi.tar" "dir:$WORK/copy" || fail "skopeo copy --all"
[ "$(ls "$WORK/copy" | wc -l)" -ge 7 ] || fail "skopeo copied $(ls "$WORK/copy")"
"$DISTILL" check "$WORK/multi.tar" >/dev/null || fail "distill check reads the multi-platform archive"

# podman loads the host's and runs it
P=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --storage-driver vfs
	--runtime runc --cgroup-manager cgroupfs --events-backend file)
on_exit '"${P[@]}" rmi -af >/dev/null 2>&1 || true'
"${P[@]}" load -i "$WORK/multi.tar" >"$WORK/load.txt" 2>&1 || fail "podman load: $(cat "$WORK/load.txt")"
[ "$("${P[@]}" image inspect --format '{{.Architecture}}' distill-test/multi:1)" = amd64 ] || fail "podman loaded another platform"
out=$("${P[@]}" run --rm --pull=never --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 distill-test/multi:1)
[ "$out" = "hello amd64" ] || fail "podman run: $out"

# the same bytes again, from elsewhere; --platform picks one
(cd / && "$DISTILL" build "$WORK/multi.yaml" -o "$WORK/again.tar" --source-date-epoch 1700000000 -q --no-cache)
cmp "$WORK/multi.tar" "$WORK/again.tar" || fail "a second build gave other bytes"
"$DISTILL" build "$WORK/multi.yaml" -o "$WORK/arm.tar" --platform linux/arm64 -q
[ "$(skopeo inspect --raw "oci-archive:$WORK/arm.tar" | jq -r .mediaType)" = application/vnd.oci.image.manifest.v1+json ] \
	|| fail "--platform linux/arm64 did not make one image"
[ "$(skopeo inspect --format '{{.Architecture}}' "oci-archive:$WORK/arm.tar")" = arm64 ] || fail "--platform linux/arm64"

# bad requests
expect_error() {
	local want=$1
	shift
	if "$DISTILL" build "$WORK/multi.yaml" -o "$WORK/bad.tar" "$@" 2>"$WORK/err.txt"; then
		fail "distill build $* succeeded"
	fi
	grep -q "$want" "$WORK/err.txt" || fail "distill build $*: $(cat "$WORK/err.txt")"
	[ ! -e "$WORK/bad.tar" ] || fail "distill build $* left an archive"
}
expect_error "give no sysroot for it" --platform linux/amd64,linux/s390x
expect_error "names one sysroot" --platform linux/amd64,linux/arm64 --sysroot /
printf 'name: x\nplatform: linux/amd64\nplatforms: {linux/arm64: /}\n' >"$WORK/both.yaml"
"$DISTILL" build "$WORK/both.yaml" -o "$WORK/bad.tar" 2>"$WORK/err.txt" && fail "platform and platforms together"
grep -q "neither" "$WORK/err.txt" || fail "platform and platforms: $(cat "$WORK/err.txt")"
echo "PASS: one archive, linux/amd64 and linux/arm64; skopeo lists, picks and copies them, podman runs the host's"
