#!/bin/bash
# podman load, then podman run: the program runs as 65532:65532.
. "$(dirname "$0")/lib.sh"
need podman runc jq
need_root

P=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --storage-driver vfs
	--runtime runc --cgroup-manager cgroupfs --events-backend file)
on_exit '"${P[@]}" rmi -af >/dev/null 2>&1 || true'

"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o "$WORK/curl.tar" -t distill-test/curl:podman
"${P[@]}" load -i "$WORK/curl.tar" | tee "$WORK/load.txt"
grep -q 'Loaded image.*distill-test/curl:podman' "$WORK/load.txt" || fail "podman load did not name the image"
[ "$("${P[@]}" image inspect --format '{{.Config.User}}' distill-test/curl:podman)" = "65532:65532" ] || fail "User"
out=$("${P[@]}" run --rm --pull=never --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
	--entrypoint /usr/bin/curl distill-test/curl:podman --version | head -1)
echo "$out"
[ "$out" = "$(curl --version | head -1)" ] || fail "podman run: $out"
ids=$("${P[@]}" run --rm --pull=never --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
	--entrypoint /usr/bin/curl distill-test/curl:podman -s file:///proc/self/status | awk '/^(Uid|Gid):/ {print $2}' | tr '\n' ' ')
[ "$ids" = "65532 65532 " ] || fail "the container does not run as 65532:65532 ($ids)"
echo "PASS: podman loads and runs the image as 65532:65532"
