#!/bin/bash
# The shipped recipes and the hello example build, and their programs run
# under runc as 65532.
. "$(dirname "$0")/lib.sh"
need gcc make umoci runc jq
need_root

"$DISTILL" build "$SOURCE_DIR/recipes/static.yaml" -o "$WORK/static.tar"
unpack "$WORK/static.tar" latest "$WORK/static"
check_rootfs "$WORK/static/rootfs" "$WORK/static.tar"
[ -f "$WORK/static/rootfs/usr/share/zoneinfo/UTC" ] || fail "static: no tzdata"
[ -z "$(find "$WORK/static/rootfs" -name '*.so*')" ] || fail "static: has shared libraries"

"$DISTILL" build "$SOURCE_DIR/recipes/jq.yaml" -o "$WORK/jq.tar"
unpack "$WORK/jq.tar" 1.6 "$WORK/jq"
check_rootfs "$WORK/jq/rootfs" "$WORK/jq.tar"
out=$(runc_run "$WORK/jq")
[ "$out" = "$(jq --version)" ] || fail "jq in the image: $out"

cp -r "$SOURCE_DIR/examples/hello" "$WORK/hello"
make -C "$WORK/hello" DISTILL="$DISTILL" hello.tar >/dev/null
unpack "$WORK/hello/hello.tar" 1.0 "$WORK/hb"
check_rootfs "$WORK/hb/rootfs" "$WORK/hello/hello.tar"
out=$(runc_run "$WORK/hb")
echo "$out"
[ "$out" = "hello, distill: uid 65532, gid 65532
writing my own binary: Permission denied" ] || fail "hello in the image: $out"
echo "PASS: recipes/static.yaml, recipes/jq.yaml and examples/hello"
