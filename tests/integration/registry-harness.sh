#!/bin/bash
# The registries push.sh judges distill push against, proven with skopeo:
# a distribution registry over TLS from the test's CA with an htpasswd
# account (start_secure_registry), and one whose clients fetch bearer
# tokens from token_server.py (start_token_registry: the key named by an
# x5c chain over HTTPS, then by its libtrust key id over plain HTTP). Each
# takes a copy with the cert dir and the authfile and serves the same
# digest and bytes, and refuses what push.sh's failures expect it to
# refuse: no credentials, a wrong password, no CA. The access-log counting
# is proven too: skopeo's first copy uploads every blob, its second none.
. "$(dirname "$0")/lib.sh"
need docker-registry skopeo curl jq openssl htpasswd python3 gcc

# a small image: a C program, its libc and loader
printf '#include <stdio.h>\nint main(void) { puts("harness"); return 0; }\n' >"$WORK/app.c"
gcc -O2 -o "$WORK/app" "$WORK/app.c"
cat >"$WORK/app.yaml" <<'Y'
name: distill-test/harness
tag: "1"
ca-certificates: false
contents:
  binaries:
    - source: app
      path: /usr/local/bin/app
entrypoint: [/usr/local/bin/app]
Y
"$DISTILL" build "$WORK/app.yaml" -o "$WORK/app.tar" -q
want=$(manifest_digest "$WORK/app.tar")
blobs=$(tar -tf "$WORK/app.tar" | grep -c '^blobs/sha256/.')

# prove MODE: the registry of $port takes a copy and refuses the rest
prove() {
	local mode="$1" ref="docker://127.0.0.1:$port/t/harness:1" mark got
	local creds=(--dest-cert-dir "$REG_CERTDIR" --dest-authfile "$REG_AUTHFILE")
	mark=$(reg_mark)
	skopeo copy --quiet "${creds[@]}" "oci-archive:$WORK/app.tar" "$ref" 2>"$WORK/err" \
		|| fail "$mode: skopeo copy: $(cat "$WORK/err")"
	got=$(skopeo inspect --cert-dir "$REG_CERTDIR" --authfile "$REG_AUTHFILE" "$ref" | jq -r .Digest)
	[ "$got" = "$want" ] || fail "$mode: the registry serves $got, the archive has $want"
	reg_curl /v2/t/harness/manifests/1 -H "$REG_ACCEPT" >"$WORK/served" || fail "$mode: GET the manifest"
	tar -xOf "$WORK/app.tar" "blobs/sha256/${want#sha256:}" | cmp -s - "$WORK/served" \
		|| fail "$mode: the manifest served is not the archive's bytes"
	# the counting push.sh does: every blob but the manifest uploaded once
	[ "$(reg_uploaded "$mark" t/harness | sort -u | wc -l)" = $((blobs - 1)) ] \
		|| fail "$mode: the log shows uploads of $(reg_uploaded "$mark" t/harness), not the $((blobs - 1)) blobs of the image"
	[ "$(reg_uploads "$mark" t/harness | grep -c '^POST')" = $((blobs - 1)) ] || fail "$mode: the log shows other upload sessions"
	mark=$(reg_mark)
	skopeo copy --quiet "${creds[@]}" "oci-archive:$WORK/app.tar" "$ref" 2>"$WORK/err" \
		|| fail "$mode: skopeo copy again: $(cat "$WORK/err")"
	[ -z "$(reg_uploads "$mark" t/harness)" ] || fail "$mode: a second copy uploaded: $(reg_uploads "$mark" t/harness)"
	reg_requests "$mark" | grep -q '^PUT /v2/t/harness/manifests/1 201$' || fail "$mode: the log lacks the second copy's manifest"

	# refusals: no credentials, a wrong password, no CA; no tag is made
	ref="docker://127.0.0.1:$port/t/refused:1"
	jq '.auths |= map_values({auth: ("distill:wrong" | @base64)})' "$REG_AUTHFILE" >"$WORK/bad.json"
	echo '{"auths": {}}' >"$WORK/none.json"
	if skopeo copy --quiet --dest-cert-dir "$REG_CERTDIR" --dest-authfile "$WORK/none.json" \
		"oci-archive:$WORK/app.tar" "$ref" 2>"$WORK/err"; then
		fail "$mode: the registry took a copy without credentials"
	fi
	grep -qi 'unauthorized' "$WORK/err" || fail "$mode: without credentials skopeo says $(cat "$WORK/err")"
	if skopeo copy --quiet --dest-cert-dir "$REG_CERTDIR" --dest-authfile "$WORK/bad.json" \
		"oci-archive:$WORK/app.tar" "$ref" 2>"$WORK/err"; then
		fail "$mode: the registry took a copy with a wrong password"
	fi
	grep -qi 'unauthorized' "$WORK/err" || fail "$mode: with a wrong password skopeo says $(cat "$WORK/err")"
	if skopeo copy --quiet --dest-authfile "$REG_AUTHFILE" "oci-archive:$WORK/app.tar" "$ref" 2>"$WORK/err"; then
		fail "$mode: skopeo trusted the registry without the test's CA"
	fi
	grep -q 'certificate signed by unknown authority' "$WORK/err" || fail "$mode: without the CA skopeo says $(cat "$WORK/err")"
	[ "$(reg_manifest_status t/refused 1)" = 404 ] || fail "$mode: a refused copy left a tag"
	echo "ok: $mode"
}

start_secure_registry
prove "TLS + htpasswd"

start_token_registry
prove "TLS + bearer tokens (x5c, HTTPS realm)"
jq -se 'any(.[]; .status == 200 and .account == "distill" and any(.granted[]; .name == "t/harness" and (.actions | index("push"))))' \
	"$TOKEN_LOG" >/dev/null || fail "the token server did not grant push on t/harness: $(cat "$TOKEN_LOG")"
# the registry checks the signature: a token with the same claims signed by
# a key outside its rootcertbundle is refused
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=forger \
	-keyout "$WORK/forged.key" -out "$WORK/forged.crt" 2>/dev/null
forged=$(cd "$SOURCE_DIR/tests/integration" && python3 -B -c '
import sys, time, token_server as t
now = int(time.time())
print(t.Signer(sys.argv[1], sys.argv[2], "x5c").token({"iss": "distill-test-issuer", "sub": "distill",
    "aud": sys.argv[3], "exp": now + 300, "nbf": now - 10, "iat": now, "jti": "forged",
    "access": [{"type": "repository", "name": "t/harness", "actions": ["pull"]}]}))' \
	"$WORK/forged.key" "$WORK/forged.crt" "$TOKEN_SERVICE")
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$REG_CACERT" -H "Authorization: Bearer $forged" \
	"https://127.0.0.1:$port/v2/t/harness/manifests/1")
[ "$code" = 401 ] || fail "a token signed by an unknown key got $code, not 401"

TOKEN_HEADER=kid TOKEN_TLS=0 start_token_registry
prove "TLS + bearer tokens (kid, HTTP realm)"
echo "PASS: the TLS + htpasswd and the token registries take skopeo's copies, serve them, and refuse the rest"
