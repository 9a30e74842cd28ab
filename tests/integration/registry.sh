#!/bin/bash
# A distribution registry on 127.0.0.1 takes the image from skopeo copy; the
# digest it serves is the manifest digest of index.json.
. "$(dirname "$0")/lib.sh"
need docker-registry skopeo curl jq

start_registry

"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o "$WORK/curl.tar"
want=$(manifest_digest "$WORK/curl.tar")
skopeo copy --quiet --preserve-digests --dest-tls-verify=false "oci-archive:$WORK/curl.tar" "docker://127.0.0.1:$port/distill/curl:7.88"
got=$(skopeo inspect --tls-verify=false "docker://127.0.0.1:$port/distill/curl:7.88" | jq -r .Digest)
echo "index.json: $want"
echo "registry:   $got"
[ "$got" = "$want" ] || fail "the registry serves another digest"
# and the registry hands the manifest back byte for byte
curl -fs -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"http://127.0.0.1:$port/v2/distill/curl/manifests/7.88" | sha256sum | grep -q "${want#sha256:}" || fail "manifest bytes differ"
echo "PASS: pushed to a registry on 127.0.0.1 with the same digest"
