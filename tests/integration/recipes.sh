#!/bin/bash
# The shipped recipes and the hello example build, and their programs run
# under runc as 65532: each program's --version, a program of the kind
# each base is for, python3's standard library and extension modules, and
# nginx serving on 8080.
. "$(dirname "$0")/lib.sh"
need gcc g++ make umoci runc jq curl nginx redis-server
[ -x /usr/bin/python3.11 ] || skip "no /usr/bin/python3.11"
need_root

# Build recipes/NAME.yaml and unpack it to $WORK/NAME.
build_recipe() {
	"$DISTILL" build "$SOURCE_DIR/recipes/$1.yaml" -o "$WORK/$1.tar" -q || fail "recipes/$1.yaml does not build"
	unpack "$WORK/$1.tar" "$2" "$WORK/$1"
	check_rootfs "$WORK/$1/rootfs" "$WORK/$1.tar" "${3:-}"
}

# Run the bundle $1 with other arguments.
run_args() {
	local dir=$1
	shift
	local args
	args=$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@")
	jq --argjson a "$args" '.process.args = $a' "$dir/config.json" >"$dir/config.json.new"
	mv "$dir/config.json.new" "$dir/config.json"
	runc_run "$dir" 2>&1
}

"$DISTILL" build "$SOURCE_DIR/recipes/static.yaml" -o "$WORK/static.tar"
unpack "$WORK/static.tar" latest "$WORK/static"
check_rootfs "$WORK/static/rootfs" "$WORK/static.tar"
[ -f "$WORK/static/rootfs/usr/share/zoneinfo/UTC" ] || fail "static: no tzdata"
[ -z "$(find "$WORK/static/rootfs" -name '*.so*')" ] || fail "static: has shared libraries"

"$DISTILL" build "$SOURCE_DIR/recipes/jq.yaml" -o "$WORK/jq.tar"
unpack "$WORK/jq.tar" 1.6 "$WORK/jq"
check_rootfs "$WORK/jq/rootfs" "$WORK/jq.tar"
out=$(runc_run "$WORK/jq")
[ "$out" = "$(jq --version)" ] || fail "jq in the image: $out"

# static: a statically linked program on top runs as nonroot
printf '#include <stdio.h>\n#include <unistd.h>\nint main(void) { printf("static %%d\\n", (int) getuid()); return 0; }\n' >"$WORK/st.c"
mkdir -p "$WORK/static/rootfs/usr/local"
gcc -static -O2 -o "$WORK/static/rootfs/usr/local/st" "$WORK/st.c"
out=$(run_args "$WORK/static" /usr/local/st)
[ "$out" = "static 65532" ] || fail "static: a static program added on top says: $out"

# base: the loader, and a libcrypto program on top
build_recipe base latest
[ -f "$WORK/base/rootfs/var/lib/dpkg/status.d/libc6" ] || fail "base: no status.d/libc6"
[ -f "$WORK/base/rootfs/usr/lib/x86_64-linux-gnu/libssl.so.3" ] || fail "base: no libssl.so.3"
out=$(run_args "$WORK/base" /lib64/ld-linux-x86-64.so.2 --version | head -1)
case "$out" in "ld.so (Debian GLIBC"*) ;; *) fail "base: the loader says: $out" ;; esac
printf '#include <stdio.h>\n#include <openssl/opensslv.h>\n#include <openssl/crypto.h>\nint main(void) { puts(OpenSSL_version(OPENSSL_VERSION)); return 0; }\n' >"$WORK/ssl.c"
gcc -O2 -o "$WORK/base/rootfs/usr/local/ssl-version" "$WORK/ssl.c" -lcrypto 2>/dev/null \
	|| { mkdir -p "$WORK/base/rootfs/usr/local" && gcc -O2 -o "$WORK/base/rootfs/usr/local/ssl-version" "$WORK/ssl.c" -lcrypto; }
out=$(run_args "$WORK/base" /usr/local/ssl-version)
case "$out" in "OpenSSL 3"*) ;; *) fail "base: a libcrypto program added on top says: $out" ;; esac

# cc: a C++ program on top, exceptions and all
build_recipe cc latest
printf '#include <iostream>\n#include <stdexcept>\nint main() { try { throw std::runtime_error("c++ runs"); } catch (const std::exception &e) { std::cout << e.what() << std::endl; } }\n' >"$WORK/cxx.cc"
mkdir -p "$WORK/cc/rootfs/usr/local"
g++ -O2 -o "$WORK/cc/rootfs/usr/local/cxx" "$WORK/cxx.cc"
out=$(run_args "$WORK/cc" /usr/local/cxx)
[ "$out" = "c++ runs" ] || fail "cc: a C++ program added on top says: $out"

build_recipe curl 7.88
out=$(runc_run "$WORK/curl" | head -1)
[ "$out" = "$(curl --version | head -1)" ] || fail "curl in the image: $out"

build_recipe python3 3.11
out=$(runc_run "$WORK/python3")
[ "$out" = "$(/usr/bin/python3.11 --version)" ] || fail "python3 in the image: $out"
out=$(run_args "$WORK/python3" /usr/bin/python3 -c 'import ssl, json, sqlite3, hashlib, zlib, ctypes; print(ssl.OPENSSL_VERSION.split()[0], sqlite3.sqlite_version_info[0], json.dumps([1]))')
[ "$out" = "OpenSSL 3 [1]" ] || fail "python3's standard library and extension modules: $out"

build_recipe redis-server 7.0 /data
[ "$(stat -c '%u:%g %a' "$WORK/redis-server/rootfs/data")" = "65532:65532 700" ] || fail "redis: /data is not the user's"
out=$(run_args "$WORK/redis-server" /usr/bin/redis-server --version)
[ "$out" = "$(redis-server --version)" ] || fail "redis-server in the image: $out"

build_recipe nginx 1.22 /var/lib/nginx
out=$(run_args "$WORK/nginx" /usr/sbin/nginx -v)
[ "$out" = "$(nginx -v 2>&1)" ] || fail "nginx in the image: $out"
# and serving on 8080 as nonroot, in the host's network
jq '.process.args = ["/usr/sbin/nginx", "-e", "stderr", "-g", "daemon off;"]
    | .linux.namespaces |= map(select(.type != "network"))' "$WORK/nginx/config.json" >"$WORK/nginx/config.json.new"
mv "$WORK/nginx/config.json.new" "$WORK/nginx/config.json"
id="distill-nginx-$$"
(cd "$WORK/nginx" && runc run -d --pid-file "$WORK/nginx.pid" "$id" >"$WORK/nginx.log" 2>&1 </dev/null) \
	|| fail "nginx does not start: $(cat "$WORK/nginx.log")"
page=""
for _ in $(seq 50); do
	page=$(curl -s http://127.0.0.1:8080/) && break
	sleep 0.1
done
user=$(ps -o user= -p "$(cat "$WORK/nginx.pid")" | tr -d ' ')
# the image's own health check, run in the container as an engine runs it
mapfile -t health < <("$DISTILL" inspect --json "$WORK/nginx.tar" | jq -r '.config.config.Healthcheck.Test[1:][]')
[ "${health[0]:-}" = /usr/libexec/distill/probe ] || fail "nginx's health check is not distill's probe: ${health[*]}"
health_rc=0
runc exec "$id" "${health[@]}" || health_rc=$?
runc kill "$id" KILL >/dev/null 2>&1 || true
sleep 0.2
runc delete -f "$id" >/dev/null 2>&1 || true
case "$page" in *"Welcome to nginx"*) ;; *) fail "nginx did not serve its page on 8080: $page $(cat "$WORK/nginx.log")" ;; esac
[ "$user" = 65532 ] || fail "nginx ran as $user"
[ "$health_rc" = 0 ] || fail "nginx's health check failed in the container (exit $health_rc): ${health[*]}"

cp -r "$SOURCE_DIR/examples/hello" "$WORK/hello"
make -C "$WORK/hello" DISTILL="$DISTILL" hello.tar >/dev/null
unpack "$WORK/hello/hello.tar" 1.0 "$WORK/hb"
check_rootfs "$WORK/hb/rootfs" "$WORK/hello/hello.tar"
out=$(runc_run "$WORK/hb")
echo "$out"
[ "$out" = "hello, distill: uid 65532, gid 65532
writing my own binary: Permission denied" ] || fail "hello in the image: $out"
echo "PASS: recipes/ (static, base, cc, curl, jq, python3, redis-server, nginx) and examples/hello"
