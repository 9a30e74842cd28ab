#!/bin/bash
# A distribution registry on 127.0.0.1 takes the image from skopeo copy; the
# digest it serves is the manifest digest of index.json.
. "$(dirname "$0")/lib.sh"
need docker-registry skopeo curl jq

port=""
for try in 1 2 3 4 5; do
	candidate=$((20000 + RANDOM % 20000))
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
		port=$candidate
		break
	fi
done
[ -n "$port" ] || fail "no free port on 127.0.0.1"
cat >"$WORK/registry.yml" <<Y
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: 127.0.0.1:$port
Y
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
pid=$!
on_exit "kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true"
for i in $(seq 50); do
	curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break
	sleep 0.2
done
curl -fs "http://127.0.0.1:$port/v2/" >/dev/null || { cat "$WORK/registry.log"; fail "the registry did not start"; }

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
