#!/bin/bash
# build --push --sign-key, distill attest and verify --attestations against
# Debian's distribution registry on 127.0.0.1 (plain HTTP,
# --tls-verify=false); the envelopes checked by dsse_verify.py, which
# shares no code with distill (securesystemslib, the DSSE, in-toto v1 and
# SLSA v1 specs).
#   a. the DSSE envelopes of build --push --sign-key verify with
#      securesystemslib over the PAE
#   b. the statements hold to in-toto v1 and SLSA provenance v1, their
#      subject is the manifest digest, the SPDX predicate is --sbom's file
#   c. building twice gives the same statements, byte for byte, and adds none
#   d. verify --attestations passes; refuses (exit 1, the reason said) a
#      tampered envelope, another key's attestations, and an attestation
#      whose subject is another digest
#   e. distill attest adds an envelope to an image pushed before
. "$(dirname "$0")/lib.sh"
need docker-registry curl jq
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
$PY -c 'import securesystemslib' 2>/dev/null || skip "python3-securesystemslib is not installed (.ci/run installs it)"
"$DISTILL" --version | grep -q libcurl || skip "this distill has no registry client (a static build)"

HERE="$SOURCE_DIR/tests/integration"
MT='application/vnd.oci.image.manifest.v1+json'
# envelopes REPO DIGEST: the number of attestations in REPO's manifest for DIGEST
envelopes() {
	curl -fs -H "Accept: $MT" "http://$H/v2/$1/manifests/sha256-${2#sha256:}.att" | jq '.layers | length'
}

start_registry
H="127.0.0.1:$port"
cd "$WORK"
printf 'correct horse\n' >pass
"$DISTILL" key generate "$WORK/k" --passphrase-file pass >/dev/null || fail "key generate k"
"$DISTILL" key generate "$WORK/other" --no-passphrase >/dev/null || fail "key generate other"
build() { # OUTPUT REF [OPTION]...
	local out=$1 ref=$2
	shift 2
	run build "$SOURCE_DIR/recipes/curl.yaml" -o "$out" --source-date-epoch 1700000000 --push "$ref" \
		--tls-verify=false "$@"
}

echo "== a, b. build --push --sign-key: the envelopes and statements"
build curl.tar "docker://$H/distill/curl:1" --sbom sbom.json --provenance prov.json --sign-key k.key --passphrase-file pass
ok "a. build --push --sign-key"
digest=$(manifest_digest curl.tar)
grep -qx "$H/distill/curl@$digest" out || fail "a. build said: $(cat out)"
[ "$(envelopes distill/curl "$digest")" = 2 ] || fail "a. $(envelopes distill/curl "$digest") envelopes, not 2"
$PY "$HERE/dsse_verify.py" "$H" distill/curl "$digest" k.pub --sbom sbom.json --payloads payloads1 >dv.out ||
	fail "a. dsse_verify.py: $(cat dv.out)"
[ "$(cut -d' ' -f1 payloads1 | tr '\n' ' ')" = "https://slsa.dev/provenance/v1 https://spdx.dev/Document " ] ||
	fail "b. the statements are $(cat payloads1)"
$PY "$HERE/dsse_verify.py" "$H" distill/curl "$digest" other.pub >dv.out 2>&1 && fail "a. dsse_verify.py with another key"

echo "== c. the same statements from a second build"
build curl2.tar "docker://$H/distill/curl:1" --provenance prov2.json --sign-key k.key --passphrase-file pass
ok "c. build again"
[ "$(manifest_digest curl2.tar)" = "$digest" ] || fail "c. another manifest digest"
cmp -s prov.json prov2.json || fail "c. the provenance differs: $(diff prov.json prov2.json | head -5)"
[ "$(envelopes distill/curl "$digest")" = 2 ] || fail "c. $(envelopes distill/curl "$digest") envelopes, not 2: the same statements added again"
$PY "$HERE/dsse_verify.py" "$H" distill/curl "$digest" k.pub --payloads payloads2 >dv.out || fail "c. $(cat dv.out)"
cmp -s payloads1 payloads2 || fail "c. the statements differ: $(diff payloads1 payloads2)"

echo "== d. verify --attestations"
run verify --key k.pub --attestations --tls-verify=false "docker://$H/distill/curl:1"
ok "d. verify --attestations"
grep -q '1 SBOM and 1 provenance attestations verified' out || fail "d. verify said: $(cat out)"
run verify --key k.pub --attestations --json --tls-verify=false "docker://$H/distill/curl:1"
ok "d. verify --attestations --json"
jq -e '.verified and .attestations.verified and (.attestations.envelopes | length) == 2
	and all(.attestations.envelopes[]; .status == "verified")' out >/dev/null || fail "d. --json: $(cat out)"
# another key's attestations on an image signed by k
run push curl.tar "docker://$H/distill/wrong:1" --tls-verify=false --image-only
ok "d. push distill/wrong"
run sign --key k.key --passphrase-file pass --tls-verify=false "docker://$H/distill/wrong:1"
ok "d. sign distill/wrong"
run attest --key other.key --sbom sbom.json --provenance prov.json --tls-verify=false "docker://$H/distill/wrong:1"
ok "d. attest with other.key"
run verify --key k.pub --tls-verify=false "docker://$H/distill/wrong:1"
ok "d. distill/wrong's signature"
run verify --key k.pub --attestations --tls-verify=false "docker://$H/distill/wrong:1"
refused "d. attestations by another key" "no SBOM \(SPDX\) attestation verifies"
# a tampered envelope: the statement changed, its signature kept
run push curl.tar "docker://$H/distill/tamper:1" --tls-verify=false --image-only
run sign --key k.key --passphrase-file pass --tls-verify=false "docker://$H/distill/tamper:1"
run attest --key k.key --passphrase-file pass --sbom sbom.json --provenance prov.json --tls-verify=false \
	"docker://$H/distill/tamper:1"
ok "d. attest distill/tamper"
$PY "$HERE/att_tamper.py" "$H" distill/tamper "$digest" || fail "d. att_tamper.py"
run verify --key k.pub --attestations --tls-verify=false "docker://$H/distill/tamper:1"
refused "d. a tampered envelope" "does not verify with the key|no signature of the envelope verifies"
$PY "$HERE/dsse_verify.py" "$H" distill/tamper "$digest" k.pub >dv.out 2>&1 && fail "d. dsse_verify.py took it"
# an attestation about another digest: curl:1's moved to curl:2's tag
build curl3.tar "docker://$H/distill/curl:2" --source-date-epoch 1700000001 --sign-key k.key --passphrase-file pass
ok "d. build curl:2"
digest2=$(manifest_digest curl3.tar)
[ "$digest2" != "$digest" ] || fail "d. the same digest for another epoch"
curl -fs -H "Accept: $MT" "http://$H/v2/distill/curl/manifests/sha256-${digest#sha256:}.att" >att.json
curl -fs -X PUT -H "Content-Type: $MT" --data-binary @att.json \
	"http://$H/v2/distill/curl/manifests/sha256-${digest2#sha256:}.att" >/dev/null || fail "d. moving the .att"
run verify --key k.pub --attestations --tls-verify=false "docker://$H/distill/curl:2"
refused "d. an attestation of another digest" "about another image"

echo "== e. distill attest on an image pushed before"
run push curl.tar "docker://$H/distill/later:1" --tls-verify=false --image-only
run sign --key k.key --passphrase-file pass --tls-verify=false "docker://$H/distill/later:1"
ok "e. sign distill/later"
run attest --key k.key --passphrase-file pass --sbom sbom.json --tls-verify=false "docker://$H/distill/later:1"
ok "e. attest --sbom"
grep -qx "$H/distill/later:sha256-${digest#sha256:}.att (1 added, 1 in all)" out || fail "e. attest said: $(cat out)"
run verify --key k.pub --attestations --tls-verify=false "docker://$H/distill/later:1"
refused "e. no provenance yet" "no SLSA provenance attestation verifies"
run attest --key k.key --passphrase-file pass --provenance prov.json --tls-verify=false "docker://$H/distill/later:1"
ok "e. attest --provenance"
run attest --key k.key --passphrase-file pass --sbom sbom.json --tls-verify=false "docker://$H/distill/later:1"
grep -q "(0 added, 2 in all)" out || fail "e. the same statement again: $(cat out)"
[ "$(envelopes distill/later "$digest")" = 2 ] || fail "e. $(envelopes distill/later "$digest") envelopes, not 2"
run verify --key k.pub --attestations --tls-verify=false "docker://$H/distill/later:1"
ok "e. verify --attestations"
$PY "$HERE/dsse_verify.py" "$H" distill/later "$digest" k.pub --sbom sbom.json >dv.out || fail "e. $(cat dv.out)"
run attest --key k.key --passphrase-file pass --provenance sbom.json --tls-verify=false "docker://$H/distill/later:1"
refused "e. an SBOM given as provenance" "not a provenance distill wrote"
echo "PASS"
