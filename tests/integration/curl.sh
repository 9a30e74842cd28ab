#!/bin/bash
# /usr/bin/curl (dynamic, ~30 libraries) from recipes/curl.yaml: built twice
# to the same bytes, unpacked by umoci and run by runc as 65532.
. "$(dirname "$0")/lib.sh"
need skopeo umoci runc jq curl
need_root

"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o "$WORK/a.tar"
(cd "$WORK" && "$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o b.tar)
a=$(sha256sum <"$WORK/a.tar")
b=$(sha256sum <"$WORK/b.tar")
[ "$a" = "$b" ] || fail "two builds of recipes/curl.yaml differ"

skopeo inspect "oci-archive:$WORK/a.tar" >/dev/null
skopeo inspect "docker-archive:$WORK/a.tar" >/dev/null
unpack "$WORK/a.tar" 7.88 "$WORK/bundle"
out=$(runc_run "$WORK/bundle")
echo "$out" | head -1
expected=$(curl --version | head -1)
[ "$(echo "$out" | head -1)" = "$expected" ] || fail "curl --version in the image: $out"
check_rootfs "$WORK/bundle/rootfs" "$WORK/a.tar"
# https works: the CA bundle is where SSL_CERT_FILE says
[ -s "$WORK/bundle/rootfs/etc/ssl/certs/ca-certificates.crt" ] || fail "no CA bundle"
image_config "$WORK/a.tar" | jq -e '.config.Env | index("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")' >/dev/null || fail "no SSL_CERT_FILE"
echo "PASS: curl image reproducible and runs under runc"
