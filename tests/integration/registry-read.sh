#!/bin/bash
# distill inspect, check and diff of docker:// references: images pushed
# with distill push to Debian's distribution registry on 127.0.0.1, read
# back and compared with the archives they came from. Each block is one
# scenario:
#   a. plain HTTP (--tls-verify=false): inspect equals inspect of the
#      archive but for the name line (--json too), check gives the same
#      report and exit status, diff says identical
#   b. an app-only change: diff of the registry's image against the new
#      archive names the application's file and exits 1
#   c. a two-platform image: the host's by default, --platform for the
#      other, an absent platform named with those the index has
#   d. a missing tag: exit 1, the reference and MANIFEST_UNKNOWN named
#   e. a blob corrupted in the registry's storage: exit 1, a digest mismatch
#   f. TLS + htpasswd: --cert-dir and --authfile read; a wrong password
#      exits 1 naming UNAUTHORIZED; no CA: the certificate named
#   g. a token registry: the tokens asked are for pull alone
# and after every run, no temporary archive is left in TMPDIR.
. "$(dirname "$0")/lib.sh"
need docker-registry curl jq openssl htpasswd gcc aarch64-linux-gnu-gcc
[ -f /usr/aarch64-linux-gnu/lib/libc.so.6 ] || skip "libc6-dev-arm64-cross is not installed (.ci/run installs it)"
[ "$(uname -m)" = x86_64 ] || skip "the two-platform image's host sysroot is amd64"

# distill sees only the credentials the test names, and its temporary
# archives go to a directory of the test's, which must be empty at the end
mkdir -p "$WORK/home" "$WORK/tmp"
# run CMD ARGS...: distill CMD, its output in $WORK/out and $WORK/err, $rc
run() {
	rc=0
	env -u REGISTRY_AUTH_FILE -u DOCKER_CONFIG -u XDG_RUNTIME_DIR HOME="$WORK/home" \
		XDG_CONFIG_HOME="$WORK/home/.config" TMPDIR="$WORK/tmp" "$DISTILL" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
	[ -z "$(ls -A "$WORK/tmp")" ] || fail "distill $1 left $(ls "$WORK/tmp") in TMPDIR"
}
# failed SCENARIO ERE WHAT: exit 1, stderr matching ERE (case-insensitive)
failed() {
	[ "$rc" = 1 ] || fail "$1: exited $rc, not 1 (stderr: $(cat "$WORK/err"))"
	grep -Eqi -- "$2" "$WORK/err" || fail "$1: stderr does not name $3: $(cat "$WORK/err")"
	echo "  $1: $(cat "$WORK/err")"
}

echo "== a. plain HTTP: inspect, check and diff as of the archive"
start_registry
ref="docker://127.0.0.1:$port/distill/curl:7.88"
"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o "$WORK/curl.tar" -q
"$DISTILL" push "$WORK/curl.tar" "$ref" --tls-verify=false -q
run inspect "$ref" --tls-verify=false
ok "a (inspect)"
grep -qx "name:        127.0.0.1:$port/distill/curl:7.88" "$WORK/out" || fail "a: inspect does not name the reference: $(head -1 "$WORK/out")"
"$DISTILL" inspect "$WORK/curl.tar" | grep -v '^name:' >"$WORK/local"
grep -v '^name:' "$WORK/out" | diff - "$WORK/local" >&2 || fail "a: inspect of $ref differs from inspect of the archive"
run inspect "$ref" --tls-verify=false --json
ok "a (inspect --json)"
diff <(jq 'del(.name)' "$WORK/out") <("$DISTILL" inspect "$WORK/curl.tar" --json | jq 'del(.name)') >&2 \
	|| fail "a: inspect --json of $ref differs from the archive's"
"$DISTILL" check "$WORK/curl.tar" >"$WORK/check.local" && local_rc=0 || local_rc=$?
run check "$ref" --tls-verify=false
[ "$rc" = "$local_rc" ] || fail "a: check of $ref exits $rc, of the archive $local_rc"
diff <(sed '$d' "$WORK/out") <(sed '$d' "$WORK/check.local") >&2 || fail "a: check of $ref reports otherwise than of the archive"
tail -1 "$WORK/out" | grep -q "^$ref: 12 checks" || fail "a: check's summary does not name $ref: $(tail -1 "$WORK/out")"
run diff "$ref" "$WORK/curl.tar" --tls-verify=false
ok "a (diff)"
[ "$(cat "$WORK/out")" = "identical: $(manifest_digest "$WORK/curl.tar")" ] || fail "a: diff says $(cat "$WORK/out")"
run inspect "$WORK/curl.tar" --tls-verify=false
[ "$rc" = 2 ] || fail "a: a registry option without a docker:// reference exits $rc, not 2"

echo "== b. an app-only change: diff names the application's file"
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
"$DISTILL" push "$WORK/app1.tar" "docker://127.0.0.1:$port/distill/app:1" --tls-verify=false -q
sed -i 's/version one/version two/' "$WORK/app.c"
gcc -O2 -o "$WORK/app" "$WORK/app.c"
"$DISTILL" build "$WORK/app.yaml" -o "$WORK/app2.tar" -q
run diff "docker://127.0.0.1:$port/distill/app:1" "$WORK/app2.tar" --tls-verify=false
[ "$rc" = 1 ] || fail "b: diff of an app-only change exits $rc, not 1: $(cat "$WORK/err")"
grep -q '^file /usr/local/bin/app: content' "$WORK/out" || fail "b: diff does not name /usr/local/bin/app: $(cat "$WORK/out")"
grep -q '^archive name' "$WORK/out" && fail "b: diff names the archive's name against a registry's image"
run diff "$WORK/app1.tar" "docker://127.0.0.1:$port/distill/app:1" --tls-verify=false --json
ok b
[ "$(jq .identical "$WORK/out")" = true ] || fail "b: diff --json of app1.tar against its push: $(cat "$WORK/out")"

echo "== c. two platforms: the host's by default, --platform for another"
two_platform_recipe
"$DISTILL" build "$WORK/multi.yaml" -o "$WORK/multi.tar" -q
"$DISTILL" push "$WORK/multi.tar" "docker://127.0.0.1:$port/distill/multi:1" --tls-verify=false -q
index=$(tar -xOf "$WORK/multi.tar" "blobs/sha256/$(manifest_digest "$WORK/multi.tar" | cut -d: -f2)")
for arch in amd64 arm64; do
	want=$(echo "$index" | jq -r --arg a "$arch" '.manifests[] | select(.platform.architecture == $a) | .digest')
	args=(--platform "linux/$arch")
	[ "$arch" = amd64 ] && args=() # the host's
	run inspect "docker://127.0.0.1:$port/distill/multi:1" --tls-verify=false ${args[@]+"${args[@]}"}
	ok "c ($arch)"
	grep -qx "platform:    linux/$arch" "$WORK/out" || fail "c: inspect ${args[*]} shows $(grep '^platform' "$WORK/out")"
	grep -qx "manifest:    $want" "$WORK/out" || fail "c: inspect ${args[*]} shows $(grep '^manifest' "$WORK/out"), not $want"
	grep -q " /usr/bin/hello$" "$WORK/out" || fail "c: no /usr/bin/hello in the $arch image"
done
run check "docker://127.0.0.1:$port/distill/multi:1" --tls-verify=false --platform linux/s390x
failed c 'no image for linux/s390x.*linux/amd64, linux/arm64' "linux/s390x and the platforms the index has"

echo "== d. a missing tag: the reference and MANIFEST_UNKNOWN named"
run inspect "docker://127.0.0.1:$port/distill/curl:missing" --tls-verify=false
failed d "docker://127\.0\.0\.1:$port/distill/curl:missing.*MANIFEST_UNKNOWN" "the reference and MANIFEST_UNKNOWN"
run diff "docker://127.0.0.1:$port/distill/curl:missing" "$WORK/curl.tar" --tls-verify=false
[ "$rc" = 2 ] || fail "d: diff with an image it cannot read exits $rc, not 2 (as cmp)"

echo "== e. a blob corrupted in the registry: a digest mismatch"
layer=$(tar -xOf "$WORK/app1.tar" "blobs/sha256/$(manifest_digest "$WORK/app1.tar" | cut -d: -f2)" | jq -r '.layers[-1].digest')
data="$WORK/registry/docker/registry/v2/blobs/sha256/${layer:7:2}/${layer#sha256:}/data"
[ -f "$data" ] || fail "e: the registry keeps no $data (the test's premise)"
# the same size, other bytes: only the digest can tell
printf 'XXXXXXXX' | dd of="$data" bs=1 seek=100 conv=notrunc status=none
run inspect "docker://127.0.0.1:$port/distill/app:1" --tls-verify=false
failed e "layer [0-9]+: registry [^ ]+: blob $layer: the bytes served hash to sha256:[0-9a-f]{64} \(digest mismatch\)" "the layer's digest mismatch"

echo "== f. TLS + htpasswd: --cert-dir and --authfile; a wrong password"
start_secure_registry
sref="docker://127.0.0.1:$port/distill/curl:7.88"
"$DISTILL" push "$WORK/curl.tar" "$sref" --cert-dir "$REG_CERTDIR" --authfile "$REG_AUTHFILE" -q
run inspect "$sref" --cert-dir "$REG_CERTDIR" --authfile "$REG_AUTHFILE"
ok f
grep -v '^name:' "$WORK/out" | diff - "$WORK/local" >&2 || fail "f: inspect of $sref differs from inspect of the archive"
jq '.auths |= map_values({auth: ("distill:wrong-password" | @base64)})' "$REG_AUTHFILE" >"$WORK/bad-auth.json"
run check "$sref" --cert-dir "$REG_CERTDIR" --authfile "$WORK/bad-auth.json"
failed f "127\.0\.0\.1:$port.*(UNAUTHORIZED|401)" "the registry and UNAUTHORIZED"
run inspect "$sref" --authfile "$REG_AUTHFILE"
failed "f (no CA)" "certificate" "the certificate"

echo "== g. the token registry: a token for pull alone"
need python3
python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography is not installed (.ci/run installs it)"
start_token_registry
tref="docker://127.0.0.1:$port/distill/curl:7.88"
"$DISTILL" push "$WORK/curl.tar" "$tref" --cert-dir "$REG_CERTDIR" --authfile "$REG_AUTHFILE" -q
: >"$TOKEN_LOG"
run check "$tref" --cert-dir "$REG_CERTDIR" --authfile "$REG_AUTHFILE"
[ "$rc" = "$local_rc" ] || fail "g: check at the token registry exits $rc, of the archive $local_rc: $(cat "$WORK/err")"
jq -se 'length > 0 and all(.[]; .scopes == ["repository:distill/curl:pull"])' "$TOKEN_LOG" >/dev/null \
	|| fail "g: distill asked tokens for more than pull: $(cat "$TOKEN_LOG")"
echo "PASS"
