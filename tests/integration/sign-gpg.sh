#!/bin/bash
# distill sign --gpg-key against Debian's distribution registry on
# 127.0.0.1 (plain HTTP), checked by the real consumers: skopeo copy and
# podman pull with a policy.json whose signedBy (GPGKeys) names the
# exported public key, and a registries.d whose lookaside is the directory
# distill wrote into.
#   a. sign --lookaside DIR: the file printed, signature-1, an OpenPGP
#      signed message (gpg verifies it) of the payload containers-signature(5)
#      defines, for the digest the registry serves and the reference in full
#   b. skopeo copy and podman pull with the policy succeed
#   c. refused by both: another key in the policy; an unsigned image; the
#      signed digest pulled by another tag (the payload names :1)
#   d. sign with registries.d (--registries-d, lookaside-staging):
#      signature-2 beside the first, and podman and skopeo verify with it
#      alone (signature-1 another key's) and with both; HOME's registries.d
#      (the default) gives signature-3
#   e. usage errors: --key with --gpg-key, a staging URL that is not file://
. "$(dirname "$0")/lib.sh"
need docker-registry curl jq gpg skopeo podman runc
"$DISTILL" --version | grep -q libcurl || skip "this distill has no registry client (a static build)"
need_root


export GNUPGHOME="$WORK/gnupg"
mkdir -m 700 "$GNUPGHOME" "$WORK/other-gnupg"
on_exit 'gpgconf --kill all >/dev/null 2>&1 || true; GNUPGHOME="$WORK/other-gnupg" gpgconf --kill all >/dev/null 2>&1 || true'
# newkey HOME NAME: a signing key without a passphrase; prints its fingerprint
newkey() {
	GNUPGHOME="$1" gpg --batch --quiet --passphrase '' --quick-gen-key "$2 <$2@distill.test>" ed25519 sign never 2>/dev/null
	GNUPGHOME="$1" gpg --list-secret-keys --with-colons | awk -F: '$1 == "fpr" { print $10; exit }'
}
fpr=$(newkey "$GNUPGHOME" signer)
other=$(newkey "$WORK/other-gnupg" other)
[ -n "$fpr" ] && [ -n "$other" ] || fail "gpg made no keys"
gpg --export "$fpr" >"$WORK/signer.gpg"
GNUPGHOME="$WORK/other-gnupg" gpg --export "$other" >"$WORK/other.gpg"

start_registry
H="127.0.0.1:$port"
"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o "$WORK/curl.tar" -q
# :same is the digest of :1 under another tag; :unsigned another image
"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" --compression zstd -o "$WORK/curl-zstd.tar" -q
for push in curl.tar:1 curl.tar:same curl-zstd.tar:unsigned; do
	run push "$WORK/${push%%:*}" "docker://$H/distill/curl:${push#*:}" --tls-verify=false
	ok "push $push"
done
digest=$(manifest_digest "$WORK/curl.tar")
cd "$WORK"

# The consumers read signatures from $HOME's registries.d (podman has no
# option for it): a scratch HOME, and the same directory for skopeo.
export HOME="$WORK/home"
REGD="$HOME/.config/containers/registries.d"
mkdir -p "$REGD"
cat >"$REGD/distill.yaml" <<-Y
docker:
  $H/distill:
    lookaside: file://$WORK/lookaside
Y
# policy KEYFILE: signatures of KEYFILE's key required for the registry
policy() {
	jq -n --arg h "$H" --arg k "$1" '{default: [{type: "reject"}], transports: {
		docker: {($h): [{type: "signedBy", keyType: "GPGKeys", keyPath: $k}]},
		"oci-archive": {"": [{type: "insecureAcceptAnything"}]}}}'
}
policy "$WORK/signer.gpg" >signer-policy.json
policy "$WORK/other.gpg" >other-policy.json

P=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --storage-driver vfs
	--runtime runc --cgroup-manager cgroupfs --events-backend file)
on_exit '"${P[@]}" rmi -af >/dev/null 2>&1 || true'
# consumers POLICY TAG: skopeo copy, then podman pull, each 0 or not
consumers() {
	rm -f copied.tar
	skopeo_rc=0 podman_rc=0
	skopeo copy -q --remove-signatures --policy "$1" --registries.d "$REGD" --src-tls-verify=false \
		"docker://$H/distill/curl:$2" "oci-archive:$WORK/copied.tar" >skopeo.log 2>&1 || skopeo_rc=$?
	"${P[@]}" rmi -af >/dev/null 2>&1 || true
	"${P[@]}" pull -q --tls-verify=false --signature-policy "$1" "docker://$H/distill/curl:$2" >podman.log 2>&1 ||
		podman_rc=$?
}
accepted() {
	consumers "$1" "$2"
	[ "$skopeo_rc" = 0 ] || fail "$3: skopeo copy refused: $(cat skopeo.log)"
	[ "$podman_rc" = 0 ] || fail "$3: podman pull refused: $(cat podman.log)"
	echo "  $3: skopeo copy and podman pull verify"
}
refused() {
	consumers "$1" "$2"
	[ "$skopeo_rc" != 0 ] || fail "$3: skopeo copy accepted it"
	[ "$podman_rc" != 0 ] || fail "$3: podman pull accepted it"
	grep -Eq -- "$4" skopeo.log || fail "$3: skopeo does not say /$4/: $(cat skopeo.log)"
	grep -Eq -- "$4" podman.log || fail "$3: podman does not say /$4/: $(cat podman.log)"
	echo "  $3: $(tail -1 podman.log | cut -c1-110)"
}

echo "== a. sign --lookaside"
sigdir="$WORK/lookaside/distill/curl@sha256=${digest#sha256:}"
run sign --gpg-key "$fpr" --lookaside "$WORK/lookaside" --tls-verify=false "docker://$H/distill/curl:1"
ok "a. sign"
[ "$(cat out)" = "$sigdir/signature-1" ] || fail "a. printed $(cat out), not $sigdir/signature-1"
gpg --batch --status-fd 3 --decrypt "$sigdir/signature-1" 3>status >payload.json 2>/dev/null ||
	fail "a. gpg does not verify signature-1"
grep -q "VALIDSIG $fpr" status || fail "a. signature-1 is not a good signature of $fpr: $(cat status)"
jq -e --arg d "$digest" --arg r "$H/distill/curl:1" '.critical == {type: "atomic container signature",
	image: {"docker-manifest-digest": $d}, identity: {"docker-reference": $r}}
	and (.optional.creator | startswith("distill ")) and (.optional.timestamp | type == "number")' payload.json \
	>/dev/null || fail "a. the payload is not the format's for $digest: $(cat payload.json)"

echo "== b. the consumers verify"
accepted signer-policy.json 1 "b. signature-1"

echo "== c. refused"
refused other-policy.json 1 "c. another key in the policy" "[Ss]ignature|rejected"
refused signer-policy.json unsigned "c. an unsigned image" "[Ss]ignature|rejected"
refused signer-policy.json same "c. the signed digest under another tag" "identity .*:1 is not accepted"

echo "== d. a second signature, by registries.d's lookaside-staging"
cat >"$WORK/regd-staging.yaml" <<-Y
default-docker:
  lookaside: file://$WORK/elsewhere
docker:
  $H:
    lookaside-staging: file:///nonexistent
  $H/distill/curl:
    lookaside: https://lookaside.invalid/sigs
    lookaside-staging: file://$WORK/lookaside
Y
mkdir regd-staging && mv regd-staging.yaml regd-staging/
run sign --gpg-key "$fpr" --registries-d "$WORK/regd-staging" --tls-verify=false "docker://$H/distill/curl:1"
ok "d. sign --registries-d"
[ "$(cat out)" = "$sigdir/signature-2" ] || fail "d. printed $(cat out), not $sigdir/signature-2"
[ -s "$sigdir/signature-1" ] || fail "d. signature-1 is gone"
# signature-1 replaced by the other key's signature of the same payload:
# the consumers must take signature-2, which they read after it (one
# signature of the policy's key is enough for signedBy)
mv "$sigdir/signature-1" "$WORK/signature-1.good"
GNUPGHOME="$WORK/other-gnupg" gpg --batch --quiet --sign -o "$sigdir/signature-1" payload.json
accepted signer-policy.json 1 "d. signature-2 beside another key's signature-1"
mv "$WORK/signature-1.good" "$sigdir/signature-1"
accepted signer-policy.json 1 "d. both signatures"
# with HOME's registries.d (the default), the scope's lookaside is written
run sign --gpg-key "$fpr" --tls-verify=false "docker://$H/distill/curl:1"
ok "d. sign with the default registries.d"
[ "$(cat out)" = "$sigdir/signature-3" ] || fail "d. printed $(cat out), not $sigdir/signature-3"

echo "== e. usage"
run sign --gpg-key "$fpr" --key x.key "docker://$H/distill/curl:1"
[ "$rc" = 2 ] || fail "e. --key with --gpg-key: exited $rc, not 2"
printf 'docker:\n  %s:\n    lookaside-staging: https://example.invalid/sigs\n' "$H" >regd-staging/regd-staging.yaml
run sign --gpg-key "$fpr" --registries-d "$WORK/regd-staging" --tls-verify=false "docker://$H/distill/curl:1"
[ "$rc" = 1 ] && grep -q 'not a file:// URL' err || fail "e. an https staging URL: exited $rc: $(cat err)"
run sign --gpg-key 0000000000000000000000000000000000000000 --lookaside "$WORK/lookaside" --tls-verify=false \
	"docker://$H/distill/curl:1"
[ "$rc" = 1 ] && grep -q 'no such secret key' err || fail "e. an unknown key: exited $rc: $(cat err)"
[ ! -e "$sigdir/signature-4" ] || fail "e. a failed sign wrote signature-4"
echo "  e. $(cat err)"
echo "PASS"
