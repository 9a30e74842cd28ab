# Shared by the integration tests: skips that say why, a scratch directory,
# unpacking with umoci, running with runc, and the checks every image passes.
set -eu

: "${DISTILL:?DISTILL must name the distill binary}"
: "${SOURCE_DIR:?SOURCE_DIR must name the source tree}"

skip() {
	echo "SKIP: $*"
	exit 77
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

need() {
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (.ci/run installs it)"
	done
}

need_root() {
	[ "$(id -u)" = 0 ] || skip "needs root (umoci keeps owners and runc runs containers as root)"
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/distill-it.XXXXXX")
CLEANUP=""
cleanup() {
	eval "$CLEANUP"
	rm -rf "$WORK" 2>/dev/null || true
}
trap cleanup EXIT

# on_exit CMD: run CMD when the test ends, before the scratch dir goes.
on_exit() {
	CLEANUP="$1; $CLEANUP"
}

# The digest of the image manifest recorded in an archive's index.json.
manifest_digest() {
	tar -xOf "$1" index.json | jq -r '.manifests[0].digest'
}

# The image config of an archive, as JSON.
image_config() {
	local m
	m=$(manifest_digest "$1")
	local c
	c=$(tar -xOf "$1" "blobs/sha256/${m#sha256:}" | jq -r '.config.digest')
	tar -xOf "$1" "blobs/sha256/${c#sha256:}"
}

# unpack ARCHIVE TAG BUNDLE: the archive's layout extracted, then unpacked
# by umoci into a runtime bundle (umoci reads layouts, not tars).
unpack() {
	local layout="$WORK/layout.$$.$RANDOM"
	mkdir -p "$layout"
	tar -xf "$1" -C "$layout"
	umoci unpack --image "$layout:$2" "$3" >/dev/null
	rm -rf "$layout"
	# no terminal: the test reads the output
	jq '.process.terminal = false' "$3/config.json" >"$3/config.json.new"
	mv "$3/config.json.new" "$3/config.json"
}

# runc_run BUNDLE: run the container, print its output.
runc_run() {
	local id="distill-test-$$-$RANDOM"
	(cd "$1" && runc run "$id")
	runc delete -f "$id" >/dev/null 2>&1 || true
}

# check_rootfs ROOTFS ARCHIVE: the properties every distill image has.
check_rootfs() {
	local root="$1" archive="$2" found
	# $3: a path the recipe gives to the user (its `paths`), if any
	local own="${3:-/home/nonroot}"
	[ -n "$own" ] || own=/home/nonroot
	for name in sh bash dash ash zsh ksh busybox toybox apt apt-get dpkg apk rpm yum dnf pip pip3; do
		found=$(find "$root" -name "$name" ! -type d)
		[ -z "$found" ] || fail "a shell or package manager is in the image: $found"
	done
	found=$(find "$root" -mindepth 1 \( ! -uid 0 -o ! -gid 0 \) ! -path "$root/home/nonroot" ! -path "$root$own")
	[ -z "$found" ] || fail "entries not owned by 0:0: $found"
	[ "$(stat -c '%u:%g %a' "$root/home/nonroot")" = "65532:65532 700" ] || fail "/home/nonroot is not 65532:65532 0700"
	[ "$(stat -c '%u:%g %a' "$root/tmp")" = "0:0 1777" ] || fail "/tmp is not 0:0 1777"
	[ "$(stat -c '%u:%g %a' "$root/root")" = "0:0 700" ] || fail "/root is not 0:0 0700"
	found=$(find "$root" -mindepth 1 ! -type l -perm /022 ! -path "$root/tmp")
	[ -z "$found" ] || fail "group/other writable: $found"
	found=$(find "$root" -perm /6000)
	[ -z "$found" ] || fail "setuid/setgid: $found"
	grep -qx 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' "$root/etc/passwd" || fail "no nonroot in /etc/passwd"
	grep -qx 'nonroot:x:65532:' "$root/etc/group" || fail "no nonroot in /etc/group"
	grep -q '^PRETTY_NAME="Distroless' "$root/etc/os-release" || fail "os-release is not marked distroless"
	[ "$(image_config "$archive" | jq -r .config.User)" = "65532:65532" ] || fail "config User is not 65532:65532"
}

# A distribution registry on a free port of 127.0.0.1, stopped on exit;
# sets $port.
start_registry() {
	port=""
	for try in 1 2 3 4 5; do
		candidate=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
			port=$candidate
			break
		fi
	done
	[ -n "$port" ] || fail "no free port on 127.0.0.1"
	cat >"$WORK/registry.yml" <<-Y
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
}

# made PREFIX N ALPHABET: PREFIX then N characters cycling through ALPHABET,
# for synthetic credentials that are never real ones
made() {
	local s="$1" i
	for ((i = 0; i < $2; i++)); do
		s+=${3:$(((i * 7 + 3) % ${#3})):1}
	done
	printf '%s' "$s"
}

# The static distill (-Dstatic=true), configured once in
# $DISTILL_STATIC_BUILD (default $BUILD_DIR/static), where ninja then
# rebuilds only what changed; skips when a static library is missing (only
# that: .ci/run installs them all). Sets STATIC_DISTILL; the link's output
# is in $WORK/ninja.log.
build_static_distill() {
	local dir="${DISTILL_STATIC_BUILD:-$BUILD_DIR/static}" missing
	if [ ! -f "$dir/build.ninja" ]; then
		rm -rf "$dir"
		if ! meson setup "$dir" "$SOURCE_DIR" -Dstatic=true >"$WORK/setup.log" 2>&1; then
			missing=$(grep -o -- '-Dstatic=true: lib[^ ]*\.a is missing.*' "$WORK/setup.log" || true)
			rm -rf "$dir"
			[ -z "$missing" ] || skip "$missing"
			cat "$WORK/setup.log"
			fail "meson setup -Dstatic=true"
		fi
	fi
	ninja -C "$dir" distill >"$WORK/ninja.log" 2>&1 || { cat "$WORK/ninja.log"; fail "the static distill does not build"; }
	STATIC_DISTILL="$dir/distill"
}
