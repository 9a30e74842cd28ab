#!/bin/bash
# distill key generate, sign and verify against Debian's distribution
# registry on 127.0.0.1 (plain HTTP, --tls-verify=false), checked by
# implementations that share no code with distill: cosign_verify.py
# verifies what distill signs, cosign_sign.py signs what distill verifies,
# both written from cosign's signature spec with python3-cryptography.
#   a. key generate: the files, their modes, the passphrase, no overwrite
#   b. sign: the tag printed; cosign_verify.py and distill verify pass
#   c. a signature made by cosign_sign.py: distill verify accepts it
#   d. refused (exit 1, the reason said): a tampered payload (signed bytes
#      other than those stored; stored bytes changed under their digest),
#      the wrong public key, a signature for another digest, an unsigned tag
#   e. two signatures side by side, both there; the same one never twice
. "$(dirname "$0")/lib.sh"
need docker-registry curl jq python3
python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography is not installed (.ci/run installs it)"
"$DISTILL" --version | grep -q libcurl || skip "this distill has no registry client (a static build)"

HERE="$SOURCE_DIR/tests/integration"
# layers REPO DIGEST: the number of signatures in REPO's manifest for DIGEST
layers() {
	curl -fs -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://127.0.0.1:$port/v2/$1/manifests/sha256-${2#sha256:}.sig" | jq '.layers | length'
}

start_registry
H="127.0.0.1:$port"
"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o "$WORK/curl.tar" -q
for repo in distill/curl distill/other distill/claim distill/tamper distill/bytes; do
	run push "$WORK/curl.tar" "docker://$H/$repo:1" --tls-verify=false
	ok "push to $repo"
done
digest=$(manifest_digest "$WORK/curl.tar")
cd "$WORK"

echo "== a. key generate"
printf 'correct horse\n' >pass
run key generate --output-key-prefix "$WORK/k" --passphrase-file pass
ok "a. key generate"
[ "$(stat -c %a k.key)" = 600 ] || fail "a. k.key has mode $(stat -c %a k.key), not 600"
head -1 k.key | grep -qx -- '-----BEGIN ENCRYPTED PRIVATE KEY-----' || fail "a. k.key is not encrypted PKCS#8"
head -1 k.pub | grep -qx -- '-----BEGIN PUBLIC KEY-----' || fail "a. k.pub is not a SubjectPublicKeyInfo PEM"
python3 -c 'import sys
from cryptography.hazmat.primitives import serialization as s
k = s.load_pem_private_key(open("k.key", "rb").read(), password=b"correct horse")
assert k.curve.name == "secp256r1" and k.public_key().public_numbers() == s.load_pem_public_key(open("k.pub", "rb").read()).public_numbers()' ||
	fail "a. python3-cryptography does not read k.key with its passphrase as the key of k.pub"
cp k.key k.key.before
run key generate --output-key-prefix "$WORK/k" --no-passphrase
[ "$rc" = 1 ] && cmp -s k.key k.key.before || fail "a. key generate wrote over k.key (exit $rc)"
env -u DISTILL_PASSPHRASE "$DISTILL" key generate --output-key-prefix "$WORK/n" >/dev/null 2>&1 && fail "a. a key without a passphrase nor --no-passphrase"
[ ! -e n.key ] || fail "a. n.key written though refused"
run key generate "$WORK/other" --no-passphrase
ok "a. key generate --no-passphrase"
head -1 other.key | grep -qx -- '-----BEGIN PRIVATE KEY-----' || fail "a. other.key is not an unencrypted PKCS#8 key"
DISTILL_PASSPHRASE=wrong run sign --key k.key --tls-verify=false "docker://$H/distill/curl:1"
refused "a. a wrong passphrase" "wrong passphrase"

echo "== b. distill sign, verified by cosign_verify.py and distill verify"
run sign --key k.key --passphrase-file pass -a origin=sign.sh -a 'html=<&>' --tls-verify=false "docker://$H/distill/curl:1"
ok "b. sign"
[ "$(cat out)" = "$H/distill/curl:sha256-${digest#sha256:}.sig" ] || fail "b. sign printed $(cat out)"
python3 "$HERE/cosign_verify.py" "$H" distill/curl 1 k.pub >verify.out || fail "b. cosign_verify.py: $(cat verify.out)"
payload=$(curl -fs "http://$H/v2/distill/curl/blobs/$(curl -fs -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"http://$H/v2/distill/curl/manifests/sha256-${digest#sha256:}.sig" | jq -r '.layers[0].digest')")
want='{"critical":{"identity":{"docker-reference":"'"$H"'/distill/curl"},"image":{"docker-manifest-digest":"'"$digest"'"},"type":"cosign container image signature"},"optional":{"html":"\u003c\u0026\u003e","origin":"sign.sh"}}'
[ "$payload" = "$want" ] || fail "b. the payload is $payload, not cosign's $want"
run verify --key k.pub --tls-verify=false "docker://$H/distill/curl:1"
ok "b. verify"
run verify --key k.pub --json --tls-verify=false "docker://$H/distill/curl:1"
ok "b. verify --json"
jq -e --arg d "$digest" '.verified and .digest == $d and .signatures[0].status == "verified"' out >/dev/null ||
	fail "b. verify --json: $(cat out)"

echo "== c. a signature of cosign_sign.py, verified by distill"
python3 -c 'from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric import ec
k = ec.generate_private_key(ec.SECP256R1())
open("py.key", "wb").write(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
open("py.pub", "wb").write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))'
python3 "$HERE/cosign_sign.py" "$H" distill/curl 1 py.key >/dev/null || fail "c. cosign_sign.py failed"
run verify --key py.pub --tls-verify=false "docker://$H/distill/curl:1"
ok "c. distill verify of cosign_sign.py's signature"
grep -q '1 of 2 signatures verified' out || fail "c. verify said: $(cat out)"
python3 "$HERE/cosign_verify.py" "$H" distill/curl 1 py.pub >/dev/null || fail "c. cosign_verify.py of its signer's"

echo "== e. two signatures side by side; the same one not twice"
[ "$(layers distill/curl "$digest")" = 2 ] || fail "e. $(layers distill/curl "$digest") signatures, not 2"
run verify --key k.pub --tls-verify=false "docker://$H/distill/curl:1"
ok "e. distill's signature beside cosign_sign.py's"
run sign --key k.key --passphrase-file pass -a origin=sign.sh -a 'html=<&>' --tls-verify=false "docker://$H/distill/curl:1"
ok "e. the same signature again"
[ "$(layers distill/curl "$digest")" = 2 ] || fail "e. signing the same payload again added a layer"
run sign --key other.key --tls-verify=false "docker://$H/distill/curl:1"
ok "e. a third signature"
[ "$(layers distill/curl "$digest")" = 3 ] || fail "e. $(layers distill/curl "$digest") signatures, not 3"
python3 "$HERE/cosign_verify.py" "$H" distill/curl 1 k.pub >/dev/null || fail "e. cosign_verify.py, three signatures"

echo "== d. refused"
python3 "$HERE/cosign_sign.py" "$H" distill/tamper 1 py.key --tamper >/dev/null || fail "d. cosign_sign.py --tamper"
run verify --key py.pub --tls-verify=false "docker://$H/distill/tamper:1"
refused "d. a payload other than the one signed" "does not verify with the key"
python3 "$HERE/cosign_verify.py" "$H" distill/tamper 1 py.pub >/dev/null && fail "d. cosign_verify.py took a tampered payload"
run sign --key k.key --passphrase-file pass --tls-verify=false "docker://$H/distill/bytes:1"
ok "d. sign distill/bytes"
layer=$(curl -fs -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"http://$H/v2/distill/bytes/manifests/sha256-${digest#sha256:}.sig" | jq -r '.layers[0].digest')
data="$WORK/registry/docker/registry/v2/blobs/sha256/${layer:7:2}/${layer#sha256:}/data"
[ -f "$data" ] || fail "d. no blob file $data in the registry's storage"
sed -i 's/"optional":null/"optional":nul0/' "$data"
run verify --key k.pub --tls-verify=false "docker://$H/distill/bytes:1"
refused "d. stored bytes changed under their digest" "bytes it sent are"
run verify --key other.pub --tls-verify=false "docker://$H/distill/curl:1"
ok "d. other.pub (its signature is there)"
run verify --key pass --tls-verify=false "docker://$H/distill/curl:1"
refused "d. not a key" "no PEM public key"
run key generate "$WORK/stranger" --no-passphrase
run verify --key stranger.pub --tls-verify=false "docker://$H/distill/curl:1"
refused "d. the wrong public key" "no signature verifies"
python3 "$HERE/cosign_sign.py" "$H" distill/claim 1 py.key --claim "sha256:$(printf '%064d' 0)" >/dev/null ||
	fail "d. cosign_sign.py --claim"
run verify --key py.pub --tls-verify=false "docker://$H/distill/claim:1"
refused "d. a signature for another digest" "names another image"
python3 "$HERE/cosign_verify.py" "$H" distill/claim 1 py.pub >/dev/null && fail "d. cosign_verify.py took another digest's"
run verify --key k.pub --tls-verify=false "docker://$H/distill/other:1"
refused "d. an unsigned tag" "not signed"
run verify --key k.pub --json --tls-verify=false "docker://$H/distill/other:1"
[ "$rc" = 1 ] && jq -e '.verified == false and .found == false' out >/dev/null || fail "d. verify --json unsigned: $(cat out)"
run verify --key k.pub --tls-verify=false "docker://$H/distill/none:1"
refused "d. no such image" "distill/none:1: no such image"
echo "PASS"
