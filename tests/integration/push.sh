#!/bin/bash
# distill push against Debian's distribution registry on 127.0.0.1, over TLS
# from a CA made here, with an htpasswd account and then with bearer
# tokens (lib.sh's start_secure_registry and start_token_registry, which
# registry-harness.sh proves with skopeo). Each block is one scenario:
#   a. a distill image pushed with --cert-dir and --authfile: the line
#      printed, the digest skopeo sees and the bytes served are the archive's
#   b. pushed again: no blob is uploaded
#   c. only the application changed: its layer and the config are uploaded
#   d. a two-platform archive: its index and both images
#   e. a wrong password: exit 1, UNAUTHORIZED named, no tag
#   f. nobody listening: exit 1, the address named
#   g. no CA for the registry's certificate: exit 1, the certificate named
#   h. the token registry: the bearer flow, and a wrong password there
# and beyond those: i. REGISTRY_AUTH_FILE, j. --from (blobs mounted, not
# uploaded), k. --tls-verify=false to a plain-HTTP registry, l. build --push.
# Uploads are counted in the registry's access log (lib.sh: reg_uploads).
. "$(dirname "$0")/lib.sh"
need docker-registry skopeo curl jq openssl htpasswd python3 gcc aarch64-linux-gnu-gcc
[ -f /usr/aarch64-linux-gnu/lib/libc.so.6 ] || skip "libc6-dev-arm64-cross is not installed (.ci/run installs it)"
[ "$(uname -m)" = x86_64 ] || skip "the two-platform image's host sysroot is amd64"

# distill push sees only the credentials the test names: no auth.json of
# the user running the tests (HOME, XDG_*, DOCKER_CONFIG) is read.
# PUSH_ENV: VAR=VALUE words added to its environment.
mkdir -p "$WORK/home"
PUSH_ENV=()
push() {
	rc=0
	env -u REGISTRY_AUTH_FILE -u DOCKER_CONFIG -u XDG_RUNTIME_DIR HOME="$WORK/home" \
		XDG_CONFIG_HOME="$WORK/home/.config" ${PUSH_ENV[@]+"${PUSH_ENV[@]}"} \
		"$DISTILL" push "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
}
# pushed SCENARIO LINE: the push succeeded and printed LINE, alone
pushed() {
	[ "$rc" = 0 ] || fail "$1: distill push exited $rc: $(cat "$WORK/err")"
	[ "$(cat "$WORK/out")" = "$2" ] && [ "$(wc -l <"$WORK/out")" = 1 ] ||
		fail "$1: distill push printed '$(cat "$WORK/out")', not the one line '$2'"
}
# refused SCENARIO: the push exited 1 with a message and printed nothing
refused() {
	[ "$rc" = 1 ] || fail "$1: distill push exited $rc, not 1 (stderr: $(cat "$WORK/err"))"
	[ ! -s "$WORK/out" ] || fail "$1: a failed push printed '$(cat "$WORK/out")' on stdout"
	[ -s "$WORK/err" ] || fail "$1: a failed push said nothing on stderr"
	echo "  $1: $(cat "$WORK/err")"
}
# says SCENARIO ERE WHAT: stderr matches ERE (case-insensitive)
says() {
	grep -Eqi -- "$2" "$WORK/err" || fail "$1: stderr does not name $3: $(cat "$WORK/err")"
}
# readable REQUESTS: reg_requests lines without the upload sessions' state
readable() {
	echo "$1" | sed -E 's/_state=[^& ]*&?//; s/\?( |$)/\1/'
}
# complete SCENARIO REPO DIGEST: the registry serves DIGEST in REPO with
# those very bytes and has every blob it names (an index: each of its
# images too), so no tag points at a missing blob
complete() {
	local d
	reg_curl "/v2/$2/manifests/$3" -H "$REG_ACCEPT" >"$WORK/complete.json" || fail "$1: $2 has no manifest $3"
	[ "sha256:$(sha256sum <"$WORK/complete.json" | cut -d' ' -f1)" = "$3" ] \
		|| fail "$1: the manifest $2 serves as $3 has other bytes"
	if jq -e 'has("manifests")' "$WORK/complete.json" >/dev/null; then
		for d in $(jq -r '.manifests[].digest' "$WORK/complete.json"); do
			complete "$1" "$2" "$d"
		done
	else
		for d in $(jq -r '.config.digest, .layers[].digest' "$WORK/complete.json"); do
			reg_curl "/v2/$2/blobs/$d" -I -o /dev/null || fail "$1: $2 lacks the blob $d of the manifest $3"
		done
	fi
}
# inspect SCENARIO REF: the digest skopeo sees at docker://127.0.0.1:$port/REF
inspect() {
	skopeo inspect --cert-dir "$REG_CERTDIR" --authfile "$REG_AUTHFILE" "docker://127.0.0.1:$port/$2" \
		>"$WORK/skopeo.json" 2>"$WORK/skopeo.err" || fail "$1: skopeo inspect $2: $(cat "$WORK/skopeo.err")"
	jq -r .Digest "$WORK/skopeo.json"
}
# blobs ARCHIVE: the digests of an archive's blobs, sorted
blobs() {
	tar -tf "$1" | sed -n 's#^blobs/sha256/\(..*\)#sha256:\1#p' | sort
}
# the same authfile with a wrong password for every registry
bad_authfile() {
	jq '.auths |= map_values({auth: ("distill:wrong-password" | @base64)})' "$REG_AUTHFILE" >"$WORK/bad-auth.json"
}

echo "== a. a distill image to the TLS + htpasswd registry"
start_secure_registry
sec_port=$port
"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o "$WORK/curl.tar" -q
curl_digest=$(manifest_digest "$WORK/curl.tar")
push "$WORK/curl.tar" "docker://127.0.0.1:$port/distill/curl:7.88" --cert-dir "$REG_CERTDIR" --authfile "$REG_AUTHFILE"
pushed a "127.0.0.1:$port/distill/curl@$curl_digest"
got=$(inspect a distill/curl:7.88)
[ "$got" = "$curl_digest" ] || fail "a: skopeo sees $got at distill/curl:7.88, the archive's manifest is $curl_digest"
reg_curl /v2/distill/curl/manifests/7.88 -H 'Accept: application/vnd.oci.image.manifest.v1+json' >"$WORK/served" \
	|| fail "a: GET /v2/distill/curl/manifests/7.88"
[ "sha256:$(sha256sum <"$WORK/served" | cut -d' ' -f1)" = "$curl_digest" ] \
	|| fail "a: the manifest bytes served for 7.88 do not hash to $curl_digest"
tar -xOf "$WORK/curl.tar" "blobs/sha256/${curl_digest#sha256:}" | cmp -s - "$WORK/served" \
	|| fail "a: the manifest served is not the archive's manifest byte for byte"
complete a distill/curl "$curl_digest"

echo "== b. the same archive again: nothing uploaded"
mark=$(reg_mark)
push "$WORK/curl.tar" "docker://127.0.0.1:$port/distill/curl:7.88" --cert-dir "$REG_CERTDIR" --authfile "$REG_AUTHFILE"
pushed b "127.0.0.1:$port/distill/curl@$curl_digest"
uploads=$(reg_requests "$mark" | grep '/blobs/uploads/' || true)
[ -z "$uploads" ] || fail "b: a second push of the same archive uploaded blobs again:
$(readable "$uploads")"
got=$(inspect b distill/curl:7.88)
[ "$got" = "$curl_digest" ] || fail "b: after the second push skopeo sees $got, not $curl_digest"

echo "== c. only the application changed: one layer and the config uploaded"
printf '#include <stdio.h>\nint main(void) { puts("version one"); return 0; }\n' >"$WORK/app.c"
gcc -O2 -o "$WORK/app" "$WORK/app.c"
cat >"$WORK/app.yaml" <<'Y'
name: distill-test/app
tag: "1"
ca-certificates: false
contents:
  binaries:
    - source: app
      path: /usr/local/bin/app
entrypoint: [/usr/local/bin/app]
Y
"$DISTILL" build "$WORK/app.yaml" -o "$WORK/app1.tar" -q
push "$WORK/app1.tar" "docker://127.0.0.1:$port/distill/app:1" --cert-dir "$REG_CERTDIR" --authfile "$REG_AUTHFILE"
pushed "c (first version)" "127.0.0.1:$port/distill/app@$(manifest_digest "$WORK/app1.tar")"
sed -i 's/version one/version two/' "$WORK/app.c"
gcc -O2 -o "$WORK/app" "$WORK/app.c"
"$DISTILL" build "$WORK/app.yaml" -o "$WORK/app2.tar" -q
app_digest=$(manifest_digest "$WORK/app2.tar")
# the premise: the rebuild has two new blobs besides its manifest, the
# application's layer and the config (distill keeps the libraries apart)
new=$(comm -13 <(blobs "$WORK/app1.tar") <(blobs "$WORK/app2.tar") | grep -vx "$app_digest" || true)
[ "$(echo "$new" | wc -l)" = 2 ] || fail "c: the rebuild has other new blobs than a layer and the config: $new"
mark=$(reg_mark)
push "$WORK/app2.tar" "docker://127.0.0.1:$port/distill/app:1" --cert-dir "$REG_CERTDIR" --authfile "$REG_AUTHFILE"
pushed c "127.0.0.1:$port/distill/app@$app_digest"
uploaded=$(reg_uploaded "$mark" distill/app | sort)
[ "$uploaded" = "$new" ] || fail "c: the blobs uploaded were [$(echo "$uploaded" | tr '\n' ' ')], the new ones are [$(echo "$new" | tr '\n' ' ')]"
sessions=$(reg_uploads "$mark" distill/app | grep -c '^POST' || true)
[ "$sessions" = 2 ] || fail "c: $sessions upload sessions (POST /v2/distill/app/blobs/uploads/) for 2 new blobs:
$(readable "$(reg_uploads "$mark" distill/app)")"
got=$(inspect c distill/app:1)
[ "$got" = "$app_digest" ] || fail "c: skopeo sees $got at distill/app:1, not the new $app_digest"
complete c distill/app "$app_digest"

echo "== d. two platforms: the index and both images"
two_platform_recipe
"$DISTILL" build "$WORK/multi.yaml" -o "$WORK/multi.tar" -q
index_digest=$(manifest_digest "$WORK/multi.tar")
tar -xOf "$WORK/multi.tar" "blobs/sha256/${index_digest#sha256:}" >"$WORK/index.json"
[ "$(jq -r .mediaType "$WORK/index.json")" = application/vnd.oci.image.index.v1+json ] \
	|| fail "d: the archive's index.json does not point at an image index (the test's premise)"
push "$WORK/multi.tar" "docker://127.0.0.1:$port/distill/multi:1" --cert-dir "$REG_CERTDIR" --authfile "$REG_AUTHFILE"
pushed d "127.0.0.1:$port/distill/multi@$index_digest"
skopeo inspect --raw --cert-dir "$REG_CERTDIR" --authfile "$REG_AUTHFILE" "docker://127.0.0.1:$port/distill/multi:1" \
	>"$WORK/raw.json" 2>"$WORK/skopeo.err" || fail "d: skopeo inspect --raw: $(cat "$WORK/skopeo.err")"
[ "$(jq -r .mediaType "$WORK/raw.json")" = application/vnd.oci.image.index.v1+json ] \
	|| fail "d: distill/multi:1 is not an image index: $(head -c 300 "$WORK/raw.json")"
[ "$(jq -c '[.manifests[] | .digest]' "$WORK/raw.json")" = "$(jq -c '[.manifests[] | .digest]' "$WORK/index.json")" ] \
	|| fail "d: the index lists $(jq -c '[.manifests[].digest]' "$WORK/raw.json"), the archive's $(jq -c '[.manifests[].digest]' "$WORK/index.json")"
cmp -s "$WORK/raw.json" "$WORK/index.json" || fail "d: the index served is not the archive's byte for byte"
complete d distill/multi "$index_digest"
for arch in amd64 arm64; do
	[ "$(skopeo inspect --override-arch "$arch" --format '{{.Architecture}}' --cert-dir "$REG_CERTDIR" \
		--authfile "$REG_AUTHFILE" "docker://127.0.0.1:$port/distill/multi:1")" = "$arch" ] \
		|| fail "d: skopeo --override-arch $arch does not find the $arch image in distill/multi:1"
done

echo "== e. a wrong password: refused, UNAUTHORIZED, no tag"
bad_authfile
push "$WORK/curl.tar" "docker://127.0.0.1:$port/distill/denied:1" --cert-dir "$REG_CERTDIR" --authfile "$WORK/bad-auth.json"
refused e
says e "127\.0\.0\.1:$port" "the registry 127.0.0.1:$port"
says e 'unauthorized|401' "UNAUTHORIZED (or 401)"
[ "$(reg_manifest_status distill/denied 1)" = 404 ] || fail "e: distill/denied:1 exists after a refused push"

echo "== f. nobody listening: refused, the address named"
dead=$(free_port)
push "$WORK/curl.tar" "docker://127.0.0.1:$dead/distill/curl:7.88" --cert-dir "$REG_CERTDIR" --authfile "$REG_AUTHFILE"
refused f
says f "127\.0\.0\.1:$dead" "the registry 127.0.0.1:$dead"

echo "== g. the registry's certificate not trusted: refused, the certificate named"
push "$WORK/curl.tar" "docker://127.0.0.1:$port/distill/untrusted:1" --authfile "$REG_AUTHFILE"
refused g
says g "127\.0\.0\.1:$port" "the registry 127.0.0.1:$port"
says g 'certificate' "certificate"
[ "$(reg_manifest_status distill/untrusted 1)" = 404 ] || fail "g: distill/untrusted:1 exists after a refused push"

echo "== h. the token registry: the bearer flow"
# the realm is HTTPS from the same CA: like skopeo, distill asks it with
# the registry's TLS settings (--cert-dir)
start_token_registry
push "$WORK/curl.tar" "docker://127.0.0.1:$port/distill/curl:7.88" --cert-dir "$REG_CERTDIR" --authfile "$REG_AUTHFILE"
pushed h "127.0.0.1:$port/distill/curl@$curl_digest"
got=$(inspect h distill/curl:7.88)
[ "$got" = "$curl_digest" ] || fail "h: skopeo sees $got at the token registry, the archive has $curl_digest"
complete h distill/curl "$curl_digest"
jq -se 'any(.[]; .status == 200 and .account == "distill"
	and any(.granted[]; .name == "distill/curl" and (.actions | index("push"))))' "$TOKEN_LOG" >/dev/null \
	|| fail "h: no token with push on distill/curl was issued to distill: $(cat "$TOKEN_LOG")"
bad_authfile
push "$WORK/curl.tar" "docker://127.0.0.1:$port/distill/denied:1" --cert-dir "$REG_CERTDIR" --authfile "$WORK/bad-auth.json"
refused "h (wrong password)"
says "h (wrong password)" 'unauthorized|401' "UNAUTHORIZED (or 401)"
[ "$(reg_manifest_status distill/denied 1)" = 404 ] || fail "h: distill/denied:1 exists after a refused push"

echo "== i. the credentials from REGISTRY_AUTH_FILE"
reg_use "$sec_port"
PUSH_ENV=(REGISTRY_AUTH_FILE="$REG_AUTHFILE")
push "$WORK/curl.tar" "docker://127.0.0.1:$port/distill/curl-env:1" --cert-dir "$REG_CERTDIR"
PUSH_ENV=()
pushed i "127.0.0.1:$port/distill/curl-env@$curl_digest"
complete i distill/curl-env "$curl_digest"

echo "== j. --from: the blobs already in another repository mounted, not uploaded"
mark=$(reg_mark)
push "$WORK/app2.tar" "docker://127.0.0.1:$port/distill/app-copy:1" --from distill/app \
	--cert-dir "$REG_CERTDIR" --authfile "$REG_AUTHFILE"
pushed j "127.0.0.1:$port/distill/app-copy@$app_digest"
uploads=$(reg_requests "$mark" | grep -E '^(PATCH|PUT) [^ ]*/blobs/uploads/' || true)
[ -z "$uploads" ] || fail "j: blobs in distill/app were sent again:
$(readable "$uploads")"
complete j distill/app-copy "$app_digest"

echo "== k. --tls-verify=false: a registry on plain HTTP"
start_registry
push "$WORK/curl.tar" "docker://127.0.0.1:$port/distill/curl:7.88" --tls-verify=false
pushed k "127.0.0.1:$port/distill/curl@$curl_digest"
got=$(skopeo inspect --tls-verify=false "docker://127.0.0.1:$port/distill/curl:7.88" | jq -r .Digest)
[ "$got" = "$curl_digest" ] || fail "k: skopeo sees $got at the plain registry, not $curl_digest"

echo "== l. build --push: built, then pushed; a bad reference refused before building"
rc=0
"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o "$WORK/built.tar" --tls-verify=false \
	--push "docker://127.0.0.1:$port/distill/built:1" >"$WORK/out" 2>"$WORK/err" || rc=$?
pushed l "127.0.0.1:$port/distill/built@$(manifest_digest "$WORK/built.tar")"
rc=0
"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o "$WORK/never.tar" --push "docker://127.0.0.1:$port/Distill/x" \
	>"$WORK/out" 2>"$WORK/err" || rc=$?
[ "$rc" = 2 ] || fail "l: a bad --push reference exited $rc, not 2: $(cat "$WORK/err")"
[ ! -e "$WORK/never.tar" ] || fail "l: a bad --push reference was found only after building"
rc=0
"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o "$WORK/never.tar" --tls-verify=false >"$WORK/out" 2>"$WORK/err" ||
	rc=$?
[ "$rc" = 2 ] || fail "l: --tls-verify without --push exited $rc, not 2"

echo "PASS: distill push to TLS, htpasswd and token registries: digests, bytes, uploads only of new blobs, two platforms, clear refusals"
