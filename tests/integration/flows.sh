#!/bin/bash
# The README's two Dockerfile flows, run end to end with real engines on a
# debian:12 base the test makes itself (debootstrap --variant=minbase from
# the machine's APT source, imported; no registry, no `# syntax=` line, no
# network in any build stage):
#  (a) podman build --output of the archive a build stage made with the
#      static distill, then podman load and podman run;
#  (b) Docker 20.10's legacy builder (DOCKER_BUILDKIT=0) against a scratch
#      dockerd: COPY --from distill's own image, distill build and export in
#      the build stage, COPY of the tree into FROM scratch with the config
#      that `distill export --dockerfile -` prints; docker run serves on a
#      read-only root as 65532.
# The base's tarball and the static distill are made once and kept:
# $DISTILL_DEBIAN_BASE (default: flows/debian-12.tar in the build directory)
# and $DISTILL_STATIC_BUILD (default: static/ there).
. "$(dirname "$0")/lib.sh"
: "${BUILD_DIR:?BUILD_DIR must name the build directory}"
need meson ninja gcc podman dockerd containerd runc jq curl tar
need_root
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || skip "$DOCKER (Debian's docker.io) is not installed"

STEP=""
step() {
	STEP="$*"
	echo "== [${SECONDS}s] $STEP"
}
# fail_step MESSAGE [LOG]: fail naming the step, with the log's tail
fail_step() {
	[ -z "${2:-}" ] || tail -30 "$2" >&2
	fail "$STEP: $1"
}
EPOCH=1700000000
PORT_A=$((20000 + RANDOM % 10000))
PORT_B=$((30000 + RANDOM % 10000))

# --- the debian:12 base, made once per build directory
step "base: debian:12 by debootstrap"
BASE="${DISTILL_DEBIAN_BASE:-$BUILD_DIR/flows/debian-12.tar}"
CACHE=$(dirname "$BASE")
if [ ! -s "$BASE" ]; then
	command -v debootstrap >/dev/null 2>&1 || skip "debootstrap is not installed (.ci/run installs it)"
	# the machine's own APT source, else Debian's
	mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null \
		| grep -v security | head -1)
	[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
	[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
	curl -fsI --max-time 20 "${mirror%/}/dists/bookworm/Release" >/dev/null \
		|| skip "the APT source $mirror cannot be reached: debootstrap needs the network"
	root="$WORK/debian"
	debootstrap --variant=minbase bookworm "$root" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
		|| fail_step "debootstrap --variant=minbase bookworm from $mirror" "$WORK/debootstrap.log"
	mkdir -p "$CACHE"
	tar -C "$root" --numeric-owner -cf "$BASE.tmp.$$" . || fail_step "tar of the debootstrap tree"
	mv "$BASE.tmp.$$" "$BASE"
	rm -rf "$root"
fi

# --- the static distill, as static-distill.sh builds it
step "the static distill"
build_static_distill
static="$STATIC_DISTILL"
version=$("$static" --version | sed -n '1s/^distill //p')

# --- the program to package: the example service, compiled here (the
# build stages install nothing)
step "the example service, compiled on the host"
ctx="$WORK/ctx"
mkdir -p "$ctx"
cp "$SOURCE_DIR/examples/http-service/server.yaml" "$ctx/"
gcc -O2 -Wall -o "$ctx/server" "$SOURCE_DIR/examples/http-service/server.c" || fail_step "gcc"

# The same image built on the host by the default distill: its config as
# the Dockerfile instructions a user pastes in flow (b)
step "the image built on the host, its config as Dockerfile instructions"
cp -r "$ctx" "$WORK/host"
(cd "$WORK/host" && SOURCE_DATE_EPOCH=$EPOCH "$DISTILL" build server.yaml -o "$WORK/host.tar" -q) \
	>"$WORK/host.log" 2>&1 || fail_step "distill build on the host" "$WORK/host.log"
"$DISTILL" export "$WORK/host.tar" "$WORK/host-rootfs" --dockerfile - >"$WORK/config.dockerfile" \
	2>"$WORK/host-export.log" || fail_step "distill export --dockerfile -" "$WORK/host-export.log"
grep -v -e '^FROM ' -e '^#' "$WORK/config.dockerfile" >"$WORK/config.paste"
grep -qx 'USER 65532:65532' "$WORK/config.paste" || fail_step "no USER in: $(cat "$WORK/config.paste")"
# the base's libc6 and the host's: the same, and the build stage's image is
# the host's, byte for byte
base_libc=$(tar -xOf "$BASE" ./var/lib/dpkg/status | awk '/^Package: libc6$/ {p = 1} p && /^Version:/ {print $2; exit}')
host_libc=$(dpkg-query -W -f '${Version}' libc6 2>/dev/null || true)

# ======================== (a) podman build --output ========================
P=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --storage-driver vfs
	--runtime runc --cgroup-manager cgroupfs --events-backend file)
UL=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
on_exit '"${P[@]}" rm -af -t 0 >/dev/null 2>&1 || true; "${P[@]}" rmi -af >/dev/null 2>&1 || true'

step "(a) podman import of debian:12"
"${P[@]}" import "$BASE" debian:12 >"$WORK/a-import.log" 2>&1 || fail_step "podman import" "$WORK/a-import.log"

step "(a) podman build --output"
cp "$static" "$ctx/distill"
cat >"$ctx/Dockerfile.a" <<-D
FROM debian:12 AS build
COPY distill /usr/local/bin/distill
COPY server server.yaml /src/
RUN mkdir /out && cd /src && SOURCE_DATE_EPOCH=$EPOCH distill build server.yaml -o /out/server.tar \\
    && distill check /out/server.tar

FROM scratch AS export
COPY --from=build /out/server.tar /
D
# --layers=false: no image per step (vfs copies the whole base for each)
"${P[@]}" build --layers=false --pull=never --network none "${UL[@]}" -f "$ctx/Dockerfile.a" --target export \
	--output "type=local,dest=$WORK/out-a" "$ctx" >"$WORK/a-build.log" 2>&1 \
	|| fail_step "podman build" "$WORK/a-build.log"
[ -s "$WORK/out-a/server.tar" ] || fail_step "no server.tar in --output's directory: $(ls "$WORK/out-a")"
"$DISTILL" export "$WORK/out-a/server.tar" "$WORK/a-rootfs" --dockerfile - 2>/dev/null | grep -v -e '^FROM ' -e '^#' \
	| cmp -s - "$WORK/config.paste" || fail_step "the stage's image has another config than the host's"
if [ -n "$base_libc" ] && [ "$base_libc" = "$host_libc" ]; then
	cmp -s "$WORK/out-a/server.tar" "$WORK/host.tar" \
		|| fail_step "the stage's image differs from the host's, with libc6 $host_libc in both"
	echo "the build stage's server.tar is the host's, byte for byte"
else
	echo "the base has libc6 $base_libc, the host $host_libc: the images' bytes are not compared"
fi

step "(a) podman load"
"${P[@]}" load -i "$WORK/out-a/server.tar" >"$WORK/a-load.log" 2>&1 || fail_step "podman load" "$WORK/a-load.log"
grep -q 'Loaded image.*distill-examples/http-service:1.0' "$WORK/a-load.log" \
	|| fail_step "podman load did not name the image" "$WORK/a-load.log"
[ "$("${P[@]}" image inspect --format '{{.Config.User}}' distill-examples/http-service:1.0)" = 65532:65532 ] \
	|| fail_step "the loaded image's User is not 65532:65532"

step "(a) podman run"
"${P[@]}" run -d --name flows-a --pull=never --network host --read-only "${UL[@]}" -e "PORT=$PORT_A" \
	distill-examples/http-service:1.0 >"$WORK/a-run.log" 2>&1 || fail_step "podman run" "$WORK/a-run.log"
answer=""
for _ in $(seq 50); do
	answer=$(curl -s "http://127.0.0.1:$PORT_A/") && [ -n "$answer" ] && break
	sleep 0.1
done
"${P[@]}" logs flows-a >"$WORK/a-logs.log" 2>&1 || true
[ "$answer" = "hello from distill, uid 65532" ] || fail_step "the service answered \"$answer\"" "$WORK/a-logs.log"
grep -q "listening on $PORT_A as uid 65532" "$WORK/a-logs.log" || fail_step "the service's log" "$WORK/a-logs.log"
"${P[@]}" stop -t 5 flows-a >/dev/null 2>&1 || fail_step "podman stop (SIGTERM)"
echo "PASS (a): podman build --output, podman load, podman run served as 65532 on a read-only root"

# ================== (b) Docker 20.10's legacy builder ==================
step "(b) the scratch dockerd"
# Socket paths must stay short (108 bytes): keep the daemon under /tmp.
D=$(mktemp -d /tmp/distill-dockerd.XXXXXX)
dockerd --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/pid" -H "unix://$D/sock" \
	--iptables=false --ip6tables=false --bridge=none --storage-driver=vfs >"$WORK/dockerd.log" 2>&1 &
dpid=$!
# dockerd mounts its netns (exec/netns/default) for --network host: unmounted
# before the directory goes
on_exit "kill $dpid 2>/dev/null || true; wait $dpid 2>/dev/null || true
	awk -v d='$D/' 'index(\$2, d) == 1 {print \$2}' /proc/mounts | sort -r | xargs -r umount 2>/dev/null || true
	rm -rf '$D' 2>/dev/null || true"
dk() { DOCKER_BUILDKIT=0 "$DOCKER" -H "unix://$D/sock" "$@"; }
for _ in $(seq 120); do
	[ -S "$D/sock" ] && dk info >/dev/null 2>&1 && break
	kill -0 "$dpid" 2>/dev/null || fail_step "dockerd exited" "$WORK/dockerd.log"
	sleep 0.5
done
dk info >/dev/null 2>&1 || fail_step "dockerd did not start" "$WORK/dockerd.log"
on_exit 'dk rm -f flows-b >/dev/null 2>&1 || true'

step "(b) docker import of debian:12"
dk import "$BASE" debian:12 >"$WORK/b-import.log" 2>&1 || fail_step "docker import" "$WORK/b-import.log"

step "(b) distill's image, built by the static distill, docker load"
# recipes/distill.yaml takes the binary from ../build-static/distill
src="$WORK/distill-src"
mkdir -p "$src/recipes" "$src/build-static"
cp "$SOURCE_DIR/recipes/distill.yaml" "$src/recipes/"
cp "$static" "$src/build-static/distill"
"$static" build "$src/recipes/distill.yaml" --context "$src" -o "$WORK/distill.tar" -q \
	>"$WORK/b-distill.log" 2>&1 || fail_step "distill build recipes/distill.yaml" "$WORK/b-distill.log"
dk load -i "$WORK/distill.tar" >"$WORK/b-load.log" 2>&1 || fail_step "docker load" "$WORK/b-load.log"
grep -qx "Loaded image: distill:$version" "$WORK/b-load.log" || fail_step "docker load did not name distill:$version" "$WORK/b-load.log"

step "(b) docker build (DOCKER_BUILDKIT=0)"
rm -f "$ctx/distill"
{
	cat <<-D
	FROM distill:$version AS distill

	FROM debian:12 AS build
	COPY --from=distill /usr/bin/distill /usr/local/bin/distill
	COPY server server.yaml /src/
	RUN mkdir /out && cd /src && SOURCE_DATE_EPOCH=$EPOCH distill build server.yaml -o /out/server.tar \\
	    && distill export /out/server.tar /out/rootfs

	FROM scratch
	COPY --from=build /out/rootfs/ /
	D
	cat "$WORK/config.paste"
} >"$ctx/Dockerfile.b"
cat "$ctx/Dockerfile.b"
dk build --network none -f "$ctx/Dockerfile.b" -t flows/http-service:b "$ctx" >"$WORK/b-build.log" 2>&1 \
	|| fail_step "docker build" "$WORK/b-build.log"
grep -q '^Sending build context to Docker daemon' "$WORK/b-build.log" || fail_step "not the legacy builder" "$WORK/b-build.log"
[ "$(dk image inspect --format '{{.Config.User}}' flows/http-service:b)" = 65532:65532 ] \
	|| fail_step "the built image's User is $(dk image inspect --format '{{.Config.User}}' flows/http-service:b)"

step "(b) docker run --read-only --user 65532"
dk run -d --name flows-b --read-only --user 65532 --network host -e "PORT=$PORT_B" flows/http-service:b \
	>"$WORK/b-run.log" 2>&1 || fail_step "docker run" "$WORK/b-run.log"
answer=""
for _ in $(seq 50); do
	answer=$(curl -s "http://127.0.0.1:$PORT_B/") && [ -n "$answer" ] && break
	sleep 0.1
done
dk logs flows-b >"$WORK/b-logs.log" 2>&1 || true
[ "$answer" = "hello from distill, uid 65532" ] || fail_step "the service answered \"$answer\"" "$WORK/b-logs.log"
[ "$(dk inspect --format '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}' flows-b)" = "true 65532" ] \
	|| fail_step "the container: $(dk inspect --format '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}' flows-b)"
dk stop -t 5 flows-b >/dev/null 2>&1 || fail_step "docker stop (SIGTERM)"
echo "PASS (b): Docker's legacy builder, COPY --from=distill:$version, export into FROM scratch, served as 65532 on a read-only root"
echo "flows: ${SECONDS}s"
