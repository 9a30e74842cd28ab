#!/bin/bash
# The examples work as their files say. http-service: the Dockerfile's build
# stage is build.sh, run here as a script (no container engine is needed);
# its image serves on a read-only root as 65532, which pod.yaml asks for.
# rust-hello: cargo builds it, its panic unwinds in the image. ci/: the
# release script both CI files run builds, checks, diffs against the
# previous release and pushes to a registry on 127.0.0.1, three releases.
. "$(dirname "$0")/lib.sh"
need gcc umoci runc jq curl skopeo docker-registry cargo
python3 -c 'import yaml' 2>/dev/null || skip "the python3 yaml module is not installed (.ci/run installs python3-yaml)"
need_root

ex="$SOURCE_DIR/examples"
cp -r "$ex/http-service" "$ex/rust-hello" "$WORK/"

# http-service: the Dockerfile runs build.sh in its build stage
grep -q '^RUN .*/src/build.sh /out$' "$ex/http-service/Dockerfile" || fail "the Dockerfile does not run build.sh"
grep -q '^COPY --from=build /out/server.tar' "$ex/http-service/Dockerfile" || fail "the Dockerfile does not export the image"
mkdir "$WORK/out"
DISTILL="$DISTILL" SOURCE_DATE_EPOCH=1700000000 "$WORK/http-service/build.sh" "$WORK/out" >"$WORK/build.log" \
	|| fail "build.sh: $(cat "$WORK/build.log")"
[ -s "$WORK/out/server.spdx.json" ] || fail "build.sh wrote no SBOM"
unpack "$WORK/out/server.tar" 1.0 "$WORK/server"
check_rootfs "$WORK/server/rootfs" "$WORK/out/server.tar"

# pod.yaml: runAsNonRoot (the image's User is numeric and not 0) and a
# read-only root filesystem (the service runs on one)
for want in 'runAsNonRoot: true' 'readOnlyRootFilesystem: true' 'allowPrivilegeEscalation: false' \
	'containerPort: 8080'; do
	grep -q "$want" "$ex/http-service/pod.yaml" || fail "pod.yaml lacks $want"
done
user=$(image_config "$WORK/out/server.tar" | jq -r .config.User)
case "$user" in 0:* | *[!0-9:]* | "") fail "the image's User $user does not satisfy runAsNonRoot" ;; esac
port=$((30000 + RANDOM % 20000))
jq --arg p "PORT=$port" '.root.readonly = true | .process.env += [$p]
    | .linux.namespaces |= map(select(.type != "network"))' "$WORK/server/config.json" >"$WORK/server/c.json"
mv "$WORK/server/c.json" "$WORK/server/config.json"
id="distill-example-$$"
(cd "$WORK/server" && runc run -d "$id" >"$WORK/server.log" 2>&1 </dev/null) || fail "the service does not start: $(cat "$WORK/server.log")"
on_exit "runc kill $id KILL >/dev/null 2>&1 || true; sleep 0.2; runc delete -f $id >/dev/null 2>&1 || true"
answer=""
for _ in $(seq 50); do
	answer=$(curl -s "http://127.0.0.1:$port/") && [ -n "$answer" ] && break
	sleep 0.1
done
[ "$answer" = "hello from distill, uid 65532" ] || fail "the service answered: $answer $(cat "$WORK/server.log")"
runc kill "$id" TERM >/dev/null 2>&1 || true
echo "http-service: built by build.sh, served on a read-only root as 65532"

# rust-hello
(cd "$WORK/rust-hello" && cargo build --release --offline -q) || fail "cargo build"
"$DISTILL" build "$WORK/rust-hello/rust-hello.yaml" -o "$WORK/rust.tar" -q
unpack "$WORK/rust.tar" 1.0 "$WORK/rust"
check_rootfs "$WORK/rust/rootfs" "$WORK/rust.tar"
out=$(runc_run "$WORK/rust" 2>/dev/null)
[ "$out" = "hello, distill, from Rust as uid 65532
panic caught: true" ] || fail "rust-hello in the image: $out"
echo "rust-hello: built by cargo, runs and unwinds in the image"

# ci/release.sh against a registry here: a first release, a second with
# another epoch (the diff names the change), a third the same as the second
start_registry
# with the registry's layer cache, and a cache directory of each release's
# own (a fresh runner's)
release() {
	(cd "$SOURCE_DIR" && DISTILL="$DISTILL" IMAGE="127.0.0.1:$port/examples/http-service" TAG="$1" \
		PREVIOUS="$2" SOURCE_DATE_EPOCH="$3" TLS_VERIFY=false OUT="$WORK/dist-$1" \
		CACHE="127.0.0.1:$port/examples/http-service:distill-cache" XDG_CACHE_HOME="$WORK/xdg-$1" \
		RECIPE="$WORK/http-service/server.yaml" examples/ci/release.sh) >"$WORK/release-$1.log" 2>&1
}
release v1 "" 1700000000 || fail "release v1: $(cat "$WORK/release-v1.log")"
curl -fs -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"http://127.0.0.1:$port/v2/examples/http-service/manifests/distill-cache" |
	jq -e '.config.mediaType == "application/vnd.distill.cache.config.v1+json" and (.layers | length) > 0' >/dev/null ||
	fail "release.sh with CACHE left no layer cache in the registry"
release v2 v1 1700000100 || fail "release v2: $(cat "$WORK/release-v2.log")"
grep -q "mtime" "$WORK/dist-v2/diff.txt" || fail "the diff against v1 does not name the new epoch: $(cat "$WORK/dist-v2/diff.txt")"
release v3 v2 1700000100 || fail "release v3: $(cat "$WORK/release-v3.log")"
v2=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://127.0.0.1:$port/examples/http-service:v2")
v3=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://127.0.0.1:$port/examples/http-service:v3")
[ "$v2" = "$v3" ] || fail "the same inputs gave releases $v2 and $v3"
[ "$(manifest_digest "$WORK/dist-v3/image.tar")" = "$v3" ] || fail "the registry's digest is not the archive's"
# the CI files install what the README's first command installs to build distill
readme_packages=$(grep -m1 '^apt-get update && apt-get install -y' "$SOURCE_DIR/README.md" | sed 's/ && meson setup.*//; s/.*install -y //')
for f in github-actions.yml gitlab-ci.yml; do
	for pkg in $readme_packages; do
		grep 'apt-get install -y' "$ex/ci/$f" | grep -qw -- "$pkg" || fail "$f does not install $pkg, which building distill needs"
	done
	grep -q 'CACHE: ' "$ex/ci/$f" || fail "$f does not give release.sh a registry layer cache"
	grep -q 'distill/content' "$ex/ci/$f" || fail "$f does not keep the cache directory's content/"
	grep -q 'examples/ci/release.sh' "$ex/ci/$f" || fail "$f does not run release.sh"
	grep -q 'examples/http-service/build.sh' "$ex/ci/$f" || fail "$f does not run build.sh"
	python3 -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' "$ex/ci/$f" || fail "$f is not YAML"
done
echo "ci/release.sh: three releases pushed to 127.0.0.1:$port, the diff said what changed, v2 = v3 ($v3)"
echo "PASS"
