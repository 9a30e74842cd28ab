#!/bin/bash
# docker load and docker run, and containerd's ctr import and run, against a
# scratch dockerd (and the containerd it manages) living in the test's own
# directory: no system daemon is touched.
. "$(dirname "$0")/lib.sh"
need dockerd containerd ctr runc jq
need_root
# Debian's client, matching its daemon (another client may shadow it on PATH).
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || skip "$DOCKER (Debian's docker.io) is not installed"

# Socket paths must stay short (108 bytes): keep the daemon under /tmp.
D=$(mktemp -d /tmp/distill-dockerd.XXXXXX)
dockerd --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/pid" -H "unix://$D/sock" \
	--iptables=false --ip6tables=false --bridge=none --storage-driver=vfs >"$WORK/dockerd.log" 2>&1 &
pid=$!
on_exit "kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf '$D' 2>/dev/null || true"
for i in $(seq 120); do
	[ -S "$D/sock" ] && "$DOCKER" -H "unix://$D/sock" info >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { cat "$WORK/dockerd.log"; fail "dockerd exited"; }
	sleep 0.5
done
dk() { "$DOCKER" -H "unix://$D/sock" "$@"; }
dk info >/dev/null 2>&1 || { tail -20 "$WORK/dockerd.log"; fail "dockerd did not start"; }

"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o "$WORK/curl.tar" -t distill-test/curl:docker
dk load -i "$WORK/curl.tar" | tee "$WORK/load.txt"
grep -qx 'Loaded image: distill-test/curl:docker' "$WORK/load.txt" || fail "docker load did not name the image"
[ "$(dk image inspect --format '{{.Config.User}}' distill-test/curl:docker)" = "65532:65532" ] || fail "docker: User"
out=$(dk run --rm --network none distill-test/curl:docker | head -1)
echo "$out"
[ "$out" = "$(curl --version | head -1)" ] || fail "docker run: $out"
ids=$(dk run --rm --network none distill-test/curl:docker -s file:///proc/self/status | awk '/^(Uid|Gid):/ {print $2}' | tr '\n' ' ')
[ "$ids" = "65532 65532 " ] || fail "docker: the container does not run as 65532:65532 ($ids)"

# containerd reads the OCI index: the name from io.containerd.image.name and
# the manifest digest from index.json.
C=(ctr -a "$D/exec/containerd/containerd.sock" -n distill-test)
"${C[@]}" images import "$WORK/curl.tar"
name=$("${C[@]}" images ls -q)
[ "$name" = "docker.io/distill-test/curl:docker" ] || fail "ctr import named the image \"$name\""
digest=$("${C[@]}" images ls | awk 'NR == 2 {print $3}')
[ "$digest" = "$(manifest_digest "$WORK/curl.tar")" ] || fail "ctr import digest $digest"
out=$("${C[@]}" run --rm "$name" "ctr-$$" | head -1)
[ "$out" = "$(curl --version | head -1)" ] || fail "ctr run: $out"

# zstd and plain layers too: the README's table of which engine reads what
# (Debian's docker 20.10.24 and containerd 1.6 read all three).
for comp in zstd none; do
	"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" --compression "$comp" -o "$WORK/$comp.tar" -t "distill-test/curl:$comp" -q
	dk load -q -i "$WORK/$comp.tar" >/dev/null || fail "docker load of $comp layers"
	out=$(dk run --rm --network none "distill-test/curl:$comp" | head -1)
	[ "$out" = "$(curl --version | head -1)" ] || fail "docker run of $comp layers: $out"
	"${C[@]}" images import "$WORK/$comp.tar" >/dev/null || fail "ctr import of $comp layers"
	out=$("${C[@]}" run --rm "docker.io/distill-test/curl:$comp" "ctr-$comp-$$" | head -1)
	[ "$out" = "$(curl --version | head -1)" ] || fail "ctr run of $comp layers: $out"
done
# A health check (recipe healthcheck, exec form) as Docker runs it: the
# program says healthy while /tmp/healthy exists; `sick` removes it.
cat >"$WORK/health.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "health") == 0) return access("/tmp/healthy", F_OK) == 0 ? 0 : 1;
	if (argc > 1 && strcmp(argv[1], "sick") == 0) return unlink("/tmp/healthy") == 0 ? 0 : 1;
	FILE *f = fopen("/tmp/healthy", "w");
	if (f == NULL) return 1;
	fclose(f);
	for (;;) pause();
}
C
gcc -O2 -o "$WORK/health" "$WORK/health.c" || fail "compiling the health program"
cat >"$WORK/health.yaml" <<'Y'
name: distill-test/health
tag: "1"
contents:
  binaries:
    - {source: health, path: /usr/local/bin/health}
entrypoint: [/usr/local/bin/health]
healthcheck: {test: [/usr/local/bin/health, health], interval: 1s, timeout: 2s, retries: 1}
Y
"$DISTILL" build "$WORK/health.yaml" -o "$WORK/health.tar" -q || fail "build the health image"
# a check whose program the image lacks would never pass: the build refuses it
sed 's#test: \[/usr/local/bin/health, health\]#test: [/usr/local/bin/absent]#' "$WORK/health.yaml" >"$WORK/absent.yaml"
if "$DISTILL" build "$WORK/absent.yaml" -o "$WORK/absent.tar" -q 2>"$WORK/absent.err"; then
	fail "a health check whose program is not in the image was built"
fi
grep -q "healthcheck: .*/usr/local/bin/absent" "$WORK/absent.err" || fail "the refusal does not say why: $(cat "$WORK/absent.err")"
image_config "$WORK/health.tar" | jq -e '.config.Healthcheck == {"Test": ["CMD", "/usr/local/bin/health", "health"],
	"Interval": 1000000000, "Timeout": 2000000000, "Retries": 1}' >/dev/null ||
	fail "the image config's Healthcheck: $(image_config "$WORK/health.tar" | jq -c .config.Healthcheck)"
dk load -q -i "$WORK/health.tar" >/dev/null || fail "docker load of the health image"
hc=$(dk run -d --network none distill-test/health:1) || fail "docker run of the health image"
on_exit "$DOCKER -H unix://$D/sock rm -f $hc >/dev/null 2>&1 || true"
health() { dk inspect --format '{{.State.Health.Status}}' "$hc"; }
for _ in $(seq 100); do [ "$(health)" = healthy ] && break; sleep 0.2; done
[ "$(health)" = healthy ] || fail "docker never found the container healthy: $(health)"
dk exec "$hc" /usr/local/bin/health sick || fail "docker exec of the program"
for _ in $(seq 100); do [ "$(health)" = unhealthy ] && break; sleep 0.2; done
[ "$(health)" = unhealthy ] || fail "docker did not find the container unhealthy once its check failed: $(health)"
dk rm -f "$hc" >/dev/null
echo "healthcheck: docker ran the image's check, healthy, then unhealthy"

# A signed archive (build --sign-key) also names its signature and
# attestation manifests in index.json: docker reads manifest.json, and
# containerd imports the image under its name.
if "$DISTILL" --version | grep -q libcurl; then
	"$DISTILL" key generate "$WORK/k" --no-passphrase >/dev/null || fail "key generate"
	"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o "$WORK/signed.tar" -t distill-test/curl:signed \
		--sign-key "$WORK/k.key" -q || fail "build --sign-key"
	dk load -q -i "$WORK/signed.tar" >/dev/null || fail "docker load of a signed archive"
	out=$(dk run --rm --network none distill-test/curl:signed | head -1)
	[ "$out" = "$(curl --version | head -1)" ] || fail "docker run of a signed archive: $out"
	"${C[@]}" images import "$WORK/signed.tar" >"$WORK/import.txt" || fail "ctr import of a signed archive"
	out=$("${C[@]}" run --rm docker.io/distill-test/curl:signed "ctr-signed-$$" | head -1)
	[ "$out" = "$(curl --version | head -1)" ] || fail "ctr run of a signed archive: $out"
	echo "ctr import of a signed archive: $(tr '\n' ' ' <"$WORK/import.txt")"
else
	echo "SKIP (one case): this distill has no registry client, so no signed archive"
fi
echo "PASS: docker load/run and ctr import/run, gzip, zstd and plain layers, a signed archive"
