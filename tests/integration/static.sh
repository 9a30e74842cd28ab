#!/bin/bash
# A static C program compiled here: built, inspected by skopeo in both of
# the archive's formats, unpacked by umoci and run by runc as 65532.
. "$(dirname "$0")/lib.sh"
need gcc skopeo umoci runc jq
need_root

cat >"$WORK/hello.c" <<'C'
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
int main(void) {
	/* the image's root is not the user's to write */
	int fd = open("/usr/local/bin/owned", O_WRONLY | O_CREAT, 0644);
	printf("hello uid=%d gid=%d root-writable=%s\n", (int)getuid(), (int)getgid(), fd >= 0 ? "yes" : "no");
	return 0;
}
C
gcc -static -O2 -o "$WORK/hello" "$WORK/hello.c"
cat >"$WORK/hello.yaml" <<'Y'
name: distill-test/hello
tag: static
contents:
  binaries:
    - source: hello
      path: /usr/local/bin/hello
Y
"$DISTILL" build "$WORK/hello.yaml" -o "$WORK/hello.tar"

# skopeo reads the same file as an OCI archive and as a Docker archive.
skopeo inspect "oci-archive:$WORK/hello.tar" >"$WORK/oci.json"
[ "$(jq -r .Architecture "$WORK/oci.json")" = amd64 ] || fail "skopeo oci-archive: wrong architecture"
[ "$(jq -r .Digest "$WORK/oci.json")" = "$(manifest_digest "$WORK/hello.tar")" ] || fail "skopeo oci-archive: digest differs from index.json"
[ "$(jq -r '.Layers | length' "$WORK/oci.json")" = 2 ] || fail "expected base and application layers only (static needs no libraries)"
skopeo inspect --config "docker-archive:$WORK/hello.tar" >"$WORK/docker.json"
[ "$(jq -r .config.User "$WORK/docker.json")" = "65532:65532" ] || fail "skopeo docker-archive: User"
[ "$(jq -r '.config.Entrypoint[0]' "$WORK/docker.json")" = /usr/local/bin/hello ] || fail "skopeo docker-archive: Entrypoint"
[ "$(jq -c .rootfs.diff_ids "$WORK/docker.json")" = "$(image_config "$WORK/hello.tar" | jq -c .rootfs.diff_ids)" ] || fail "docker-archive diff_ids differ"

unpack "$WORK/hello.tar" static "$WORK/bundle"
out=$(runc_run "$WORK/bundle")
echo "$out"
[ "$out" = "hello uid=65532 gid=65532 root-writable=no" ] || fail "unexpected output: $out"
check_rootfs "$WORK/bundle/rootfs" "$WORK/hello.tar"
echo "PASS: static image inspected by skopeo, unpacked by umoci, run by runc"
