#!/bin/bash
# build --sign-key without --push: the signature and attestation manifests
# in the archive's OCI layout, verified offline, read by the consumers,
# published by distill push beside the image (Debian's distribution
# registry on 127.0.0.1, plain HTTP) and checked there by verifiers that
# share no code with distill (cosign_verify.py, dsse_verify.py).
#   a. the layout: index.json names the image alone, and an index of
#      sha256-<hex>.sig and .att with cosign's "kind"; the image's bytes are
#      an unsigned build's
#   b. verify on the archive, offline: passes with the key, refuses
#      another key, a changed payload, a payload for another image
#   c. the consumers: skopeo, podman load, umoci, distill check, inspect
#      and diff (docker.sh: docker load and ctr import)
#   d. push: the image, then its signatures and attestations, which
#      cosign_verify.py, dsse_verify.py and distill verify accept
#   e. push again and after another signer signed on the registry: the
#      registry's signatures kept, the same signer's never twice
#   f. an archive signed for another repository: push refused before
#      anything is sent
#   g. build --push REF --sign-key: the archive signed for REF's repository
. "$(dirname "$0")/lib.sh"
need docker-registry curl jq python3 skopeo umoci podman tar
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
$PY -c 'import cryptography, securesystemslib' 2>/dev/null ||
	skip "python3-cryptography or python3-securesystemslib is not installed (.ci/run installs them)"
"$DISTILL" --version | grep -q libcurl || skip "this distill has no registry client (a static build)"

HERE="$SOURCE_DIR/tests/integration"
MT='application/vnd.oci.image.manifest.v1+json'
# attached REPO DIGEST sig|att: the number of layers of that manifest on the registry
attached() {
	curl -fs -H "Accept: $MT" "http://$H/v2/$1/manifests/sha256-${2#sha256:}.$3" | jq '.layers | length'
}
# index ARCHIVE: its index.json
index() {
	tar -xOf "$1" index.json
}

start_registry
H="127.0.0.1:$port"
cd "$WORK"
"$DISTILL" key generate "$WORK/k" --no-passphrase >/dev/null || fail "key generate k"
"$DISTILL" key generate "$WORK/other" --no-passphrase >/dev/null || fail "key generate other"
build() { # OUTPUT [OPTION]...
	local out=$1
	shift
	run build "$SOURCE_DIR/recipes/curl.yaml" -o "$out" --source-date-epoch 1700000000 "$@"
}

echo "== a. the archive's layout"
build plain.tar -t "$H/distill/curl:1"
ok "a. an unsigned build"
build signed.tar -t "$H/distill/curl:1" --sign-key k.key --sbom sbom.json
ok "a. build --sign-key"
digest=$(manifest_digest plain.tar)
hex=${digest#sha256:}
index signed.tar >index.json
jq -e --arg d "$digest" '.manifests | length == 1 and .[0].digest == $d
	and .[0].annotations["org.opencontainers.image.ref.name"] == "1"
	and (.[0].annotations["org.distill.attached"] | test("^sha256:[0-9a-f]{64}$"))' index.json >/dev/null ||
	fail "a. index.json: $(cat index.json)"
attached_index=$(jq -r '.manifests[0].annotations["org.distill.attached"]' index.json)
tar -xOf signed.tar "blobs/sha256/${attached_index#sha256:}" >attached.json || fail "a. no blob $attached_index"
jq -e --arg h "$hex" '.manifests | length == 2
	and .[0].annotations["org.opencontainers.image.ref.name"] == "sha256-\($h).sig"
	and .[0].annotations.kind == "dev.cosignproject.cosign/sigs"
	and .[1].annotations["org.opencontainers.image.ref.name"] == "sha256-\($h).att"
	and .[1].annotations.kind == "dev.cosignproject.cosign/atts"' attached.json >/dev/null ||
	fail "a. the index of the signatures: $(cat attached.json)"
index plain.tar | jq -e '.manifests | length == 1 and (.[0].annotations | has("org.distill.attached") | not)' >/dev/null ||
	fail "a. an unsigned build's index.json changed: $(index plain.tar)"
mkdir -p plain signed
tar -C plain -xf plain.tar
tar -C signed -xf signed.tar
for f in plain/blobs/sha256/*; do
	cmp -s "$f" "signed/${f#plain/}" || fail "a. the signed archive's ${f#plain/} differs from an unsigned build's"
done

echo "== b. verify on the archive, offline"
run verify --key k.pub --attestations signed.tar
ok "b. verify --attestations signed.tar"
grep -q "1 of 1 signatures verified" out && grep -q "1 SBOM and 1 provenance attestations verified" out ||
	fail "b. verify said: $(cat out)"
run verify --key k.pub --json signed.tar
ok "b. verify --json"
jq -e --arg d "$digest" '.verified and .digest == $d' out >/dev/null || fail "b. --json: $(cat out)"
run verify --key other.pub signed.tar
refused "b. another key" "no signature verifies"
run verify --key k.pub plain.tar
refused "b. an unsigned archive" "not signed"
# a payload changed: for another repository, put under its own digest
$PY "$HERE/attached_edit.py" signed.tar changed.tar change-payload || fail "b. changing the payload"
run verify --key k.pub changed.tar
refused "b. a changed payload" "does not verify with the key"
# another image's signature and attestations, carried by this image's archive
build epoch.tar -t "$H/distill/curl:1" --sign-key k.key --source-date-epoch 1700000001
ok "b. build another image"
other=$(manifest_digest epoch.tar)
[ "$other" != "$digest" ] || fail "b. the same digest for another epoch"
$PY "$HERE/attached_edit.py" signed.tar moved.tar graft epoch.tar || fail "b. moving the signatures"
run verify --key k.pub --attestations moved.tar
refused "b. another image's signature" "names another image"

echo "== c. the consumers read the signed archive"
[ "$(skopeo inspect "oci-archive:$WORK/signed.tar" | jq -r .Digest)" = "$digest" ] ||
	fail "c. skopeo inspect oci-archive:signed.tar"
P=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --storage-driver vfs
	--runtime runc --cgroup-manager cgroupfs --events-backend file)
on_exit '"${P[@]}" rmi -af >/dev/null 2>&1 || true'
"${P[@]}" load -q -i "$WORK/signed.tar" >podman.out 2>&1 || fail "c. podman load: $(cat podman.out)"
config=$(image_config plain.tar | sha256sum | cut -d' ' -f1)
"${P[@]}" images --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}}' | grep -qx "$H/distill/curl:1 sha256:$config" ||
	fail "c. podman has no image $H/distill/curl:1 $config: $("${P[@]}" images --no-trunc)"
umoci unpack --rootless --image "$WORK/signed:1" bundle >/dev/null 2>umoci.err || fail "c. umoci: $(cat umoci.err)"
[ -x bundle/rootfs/usr/bin/curl ] || fail "c. umoci unpacked no curl"
for cmd in check inspect; do
	run "$cmd" signed.tar
	ok "c. distill $cmd signed.tar"
done
run diff plain.tar signed.tar --json
[ "$rc" = 1 ] || fail "c. distill diff plain.tar signed.tar exited $rc: $(cat err)"
jq -e --arg d "$digest" '.differences | length == 1 and .[0].kind == "archive"
	and (.[0].what | contains("the same image (manifest \($d))"))' out >/dev/null ||
	fail "c. diff of the same image, signed: $(cat out)"

echo "== d. push publishes the signatures and attestations"
run push signed.tar "docker://$H/distill/curl:1" --tls-verify=false
ok "d. push signed.tar"
grep -qx "$H/distill/curl@$digest" out || fail "d. push said: $(cat out)"
[ "$(attached distill/curl "$digest" sig)" = 1 ] && [ "$(attached distill/curl "$digest" att)" = 2 ] ||
	fail "d. the registry has $(attached distill/curl "$digest" sig) signatures, $(attached distill/curl "$digest" att) attestations"
$PY "$HERE/cosign_verify.py" "$H" distill/curl 1 k.pub >cv.out || fail "d. cosign_verify.py: $(cat cv.out)"
$PY "$HERE/dsse_verify.py" "$H" distill/curl "$digest" k.pub --sbom sbom.json >dv.out || fail "d. dsse_verify.py: $(cat dv.out)"
run verify --key k.pub --attestations --tls-verify=false "docker://$H/distill/curl:1"
ok "d. distill verify on the registry"

echo "== e. push again; another signer's signature kept"
run sign --key other.key --tls-verify=false "docker://$H/distill/curl:1"
ok "e. sign with other.key on the registry"
build again.tar -t "$H/distill/curl:1" --sign-key k.key
ok "e. build --sign-key again"
cmp -s signed.tar again.tar && fail "e. ECDSA signatures are expected to differ from one signing to the next"
for a in signed.tar again.tar; do
	run push "$a" "docker://$H/distill/curl:1" --tls-verify=false
	ok "e. push $a"
	[ "$(attached distill/curl "$digest" sig)" = 2 ] && [ "$(attached distill/curl "$digest" att)" = 2 ] ||
		fail "e. after $a: $(attached distill/curl "$digest" sig) signatures, $(attached distill/curl "$digest" att) attestations, not 2 and 2"
done
$PY "$HERE/cosign_verify.py" "$H" distill/curl 1 other.pub >cv.out || fail "e. other.key's signature: $(cat cv.out)"
$PY "$HERE/cosign_verify.py" "$H" distill/curl 1 k.pub >cv.out || fail "e. k.key's signature: $(cat cv.out)"

echo "== f. signed for another repository: refused"
build hub.tar --sign-key k.key
ok "f. build --sign-key with the recipe's name"
run push hub.tar "docker://$H/distill/elsewhere:1" --tls-verify=false
refused "f. push to another repository" "is signed for the repository .*, not $H/distill/elsewhere"
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $MT" "http://$H/v2/distill/elsewhere/manifests/1")
[ "$status" = 404 ] || fail "f. the refused push left a tag (HTTP $status)"

echo "== g. build --push --sign-key signs for the pushed repository"
run build "$SOURCE_DIR/recipes/curl.yaml" -o pushed.tar --source-date-epoch 1700000000 --sign-key k.key \
	--push "docker://$H/distill/pushed:1" --tls-verify=false
ok "g. build --push --sign-key"
run verify --key k.pub --attestations pushed.tar
ok "g. verify pushed.tar"
$PY - pushed.tar "$H/distill/pushed" <<'EOF' || fail "g. the archive's signature does not name the pushed repository"
import json, sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    image = json.load(t.extractfile("index.json"))["manifests"][0]
    index = json.load(t.extractfile("blobs/sha256/" + image["annotations"]["org.distill.attached"][7:]))
    sig = next(d for d in index["manifests"] if d["annotations"]["org.opencontainers.image.ref.name"].endswith(".sig"))
    m = json.load(t.extractfile("blobs/sha256/" + sig["digest"][7:]))
    payload = json.load(t.extractfile("blobs/sha256/" + m["layers"][0]["digest"][7:]))
    assert payload["critical"]["identity"]["docker-reference"] == sys.argv[2], payload
EOF
run verify --key k.pub --attestations --tls-verify=false "docker://$H/distill/pushed:1"
ok "g. verify the pushed image"
$PY "$HERE/cosign_verify.py" "$H" distill/pushed 1 k.pub >cv.out || fail "g. cosign_verify.py: $(cat cv.out)"
echo "sign-archive: all checks passed"
