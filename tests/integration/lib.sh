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

# A port of 127.0.0.1 that nothing listens on now (another process may
# take it before it is used: serve_registry tries another then).
free_port() {
	local candidate
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		candidate=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
			echo "$candidate"
			return 0
		fi
	done
	fail "no free port on 127.0.0.1"
}

# The test's CA and a server certificate for 127.0.0.1 signed by it, in
# $WORK/certs, made once per test. The address is an IP SAN: Go and
# OpenSSL match an address against IP SANs only, never the CN. The server
# certificate has what strict verifiers (OpenSSL's X509_STRICT, Python
# 3.13's default) require: key identifiers, critical key usage, serverAuth.
# $WORK/certdir holds only ca.crt: a client's containers-certs.d directory.
# EC P-256 keys: made in milliseconds. Sets REG_CACERT and REG_CERTDIR.
test_ca() {
	local c="$WORK/certs"
	REG_CACERT="$c/ca.crt"
	REG_CERTDIR="$WORK/certdir"
	[ -f "$c/server.crt" ] && return 0
	need openssl
	mkdir -p "$c" "$REG_CERTDIR"
	{
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
			-subj "/CN=distill test CA" -addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign -keyout "$c/ca.key" -out "$c/ca.crt" &&
			openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
				-subj "/CN=127.0.0.1" -keyout "$c/server.key" -out "$c/server.csr" &&
			printf '%s\n' subjectAltName=IP:127.0.0.1 basicConstraints=critical,CA:FALSE \
				keyUsage=critical,digitalSignature extendedKeyUsage=serverAuth \
				subjectKeyIdentifier=hash authorityKeyIdentifier=keyid,issuer >"$c/server.ext" &&
			openssl x509 -req -in "$c/server.csr" -CA "$c/ca.crt" -CAkey "$c/ca.key" \
				-set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$c/server.ext" -out "$c/server.crt" &&
			openssl verify -CAfile "$c/ca.crt" "$c/server.crt"
	} >"$c/openssl.log" 2>&1 || { cat "$c/openssl.log"; fail "openssl could not make the test CA"; }
	cp "$c/ca.crt" "$REG_CERTDIR/ca.crt"
}

# The one account of the test's registries: user "distill", a random
# password, as a bcrypt htpasswd file (the registry takes bcrypt only) and
# in $WORK/password. Sets REG_USER, REG_PASSWORD.
reg_account() {
	REG_USER=distill
	if [ ! -f "$WORK/password" ]; then
		need htpasswd
		openssl rand -hex 16 >"$WORK/password"
		htpasswd -Bbn "$REG_USER" "$(cat "$WORK/password")" | sed '/^$/d' >"$WORK/htpasswd"
	fi
	REG_PASSWORD=$(cat "$WORK/password")
}

# auth_add FILE HOST USER PASSWORD: an entry for HOST in a
# containers-auth.json / docker config.json, the file made when missing.
auth_add() {
	[ -f "$1" ] || echo '{"auths": {}}' >"$1"
	jq --arg h "$2" --arg a "$(printf '%s:%s' "$3" "$4" | base64 -w0)" '.auths[$h] = {auth: $a}' "$1" >"$1.new"
	mv "$1.new" "$1"
}

# run_registry DIR: docker-registry serve DIR/config.yml (whose addr is
# 127.0.0.1:$port), stopped on exit; waits until GET /v2/ over TLS with
# the test CA answers 401. Its stdout and stderr go to DIR/log: the
# access log (one Combined Log Format line per request, whatever its
# status) and logrus's lines.
run_registry() {
	local dir="$1" i code=000 pid
	docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
	pid=$!
	on_exit "kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true"
	for i in $(seq 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$REG_CACERT" "https://127.0.0.1:$port/v2/" || true)
		[ "$code" = 401 ] && break
		kill -0 "$pid" 2>/dev/null || break # it exited: waiting longer is no use
		sleep 0.1
	done
	[ "$code" = 401 ] && return 0
	# another process took the port since free_port: the caller tries another
	! kill -0 "$pid" 2>/dev/null && grep -q 'address already in use' "$dir/log" && return 1
	cat "$dir/log" >&2
	fail "the registry on 127.0.0.1:$port did not start (GET /v2/ answered $code, not 401)"
}

# registry_config DIR AUTH-YAML: the config of a registry on 127.0.0.1:$port
# with TLS from the test CA and storage in DIR; log level info, where the
# access log has every request (method, URI, status: what reg_requests
# reads).
registry_config() {
	cat >"$1/config.yml" <<-Y
	version: 0.1
	log:
	  level: info
	  formatter: text
	storage:
	  filesystem:
	    rootdirectory: $1/storage
	http:
	  addr: 127.0.0.1:$port
	  tls:
	    certificate: $WORK/certs/server.crt
	    key: $WORK/certs/server.key
	$2
	Y
}

# start_secure_registry: a distribution registry on a free port of
# 127.0.0.1 serving HTTPS with a certificate of the test's CA and asking
# for the htpasswd account (Basic auth). Sets port, REG_CERTDIR (the
# client's cert dir: ca.crt), REG_CACERT, REG_AUTHFILE (an auth.json with
# the account for 127.0.0.1:$port, shared by every registry of the test),
# REG_LOG (the registry's output), REG_USER, REG_PASSWORD and REG_AUTH=basic.
start_secure_registry() {
	need docker-registry openssl curl jq
	test_ca
	reg_account
	serve_registry basic "$(printf '%s\n' 'auth:' '  htpasswd:' '    realm: distill-test' "    path: $WORK/htpasswd")"
}

# serve_registry KIND AUTH-YAML: a registry with that auth section on a
# free port (another when the port is taken before the registry binds
# it), the account for it in $REG_AUTHFILE, and reg_use.
serve_registry() {
	local dir
	for _ in 1 2 3; do
		port=$(free_port)
		dir="$WORK/registry-$port"
		mkdir -p "$dir"
		registry_config "$dir" "$2"
		echo "$1" >"$dir/auth"
		run_registry "$dir" && break
		port=""
	done
	[ -n "$port" ] || fail "no registry could listen on 127.0.0.1"
	REG_AUTHFILE="$WORK/auth.json"
	auth_add "$REG_AUTHFILE" "127.0.0.1:$port" "$REG_USER" "$REG_PASSWORD"
	reg_use "$port"
}

# start_token_registry: the same registry, but its `auth: token:` sends
# clients to a token server (token_server.py, started here on a port of
# its own) that takes the account as Basic credentials and issues JWTs
# signed by a key whose certificate is the registry's rootcertbundle.
# The realm is HTTPS with a certificate of the test's CA (TOKEN_TLS=0:
# plain HTTP): skopeo and docker ask the realm with the registry's TLS
# settings, so the cert dir covers it. TOKEN_HEADER=kid names the key by
# its libtrust key id instead of an x5c chain. Sets what
# start_secure_registry sets (REG_AUTH=token), and TOKEN_REALM, TOKEN_LOG
# (one JSON line per token request) and TOKEN_SERVICE.
start_token_registry() {
	need docker-registry openssl curl jq python3
	python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography is not installed (.ci/run installs it)"
	test_ca
	reg_account
	local c="$WORK/certs" tdir="$WORK/token.$RANDOM" tls=() scheme=https i pid code=000
	if [ ! -f "$c/token.crt" ]; then
		# self-signed, so the bundle holds the very certificate of the key:
		# an x5c chain verifies against it, and its key id is trusted
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
			-subj "/CN=distill test token signer" -keyout "$c/token.key" -out "$c/token.crt" \
			>"$c/openssl.log" 2>&1 || { cat "$c/openssl.log"; fail "openssl could not make the token key"; }
	fi
	mkdir -p "$tdir"
	if [ "${TOKEN_TLS:-1}" = 1 ]; then
		tls=(--tls-cert "$c/server.crt" --tls-key "$c/server.key")
	else
		scheme=http
	fi
	TOKEN_SERVICE=distill-test-registry
	TOKEN_LOG="$tdir/requests.log"
	python3 "$SOURCE_DIR/tests/integration/token_server.py" --port-file "$tdir/port" --log "$TOKEN_LOG" \
		--issuer distill-test-issuer --service "$TOKEN_SERVICE" --user "$REG_USER" --password-file "$WORK/password" \
		--sign-key "$c/token.key" --sign-cert "$c/token.crt" --header "${TOKEN_HEADER:-x5c}" ${tls[@]+"${tls[@]}"} \
		>"$tdir/server.log" 2>&1 &
	pid=$!
	on_exit "kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true"
	for i in $(seq 100); do
		[ -f "$tdir/port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -f "$tdir/port" ] || { cat "$tdir/server.log" >&2; fail "the token server did not start"; }
	TOKEN_REALM="$scheme://127.0.0.1:$(cat "$tdir/port")/token"
	code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$REG_CACERT" "$TOKEN_REALM?service=$TOKEN_SERVICE" || true)
	[ "$code" = 401 ] || { cat "$tdir/server.log" >&2; fail "the token server answers $code without credentials, not 401"; }
	serve_registry token "$(printf '%s\n' 'auth:' '  token:' "    realm: $TOKEN_REALM" \
		"    service: $TOKEN_SERVICE" '    issuer: distill-test-issuer' "    rootcertbundle: $c/token.crt")"
}

# reg_use PORT: make the registry of PORT (one of the test's) the one the
# reg_* functions and $port talk to.
reg_use() {
	port=$1
	REG_LOG="$WORK/registry-$port/log"
	REG_AUTH=$(cat "$WORK/registry-$port/auth")
}

# reg_curl PATH [CURL-ARGS...]: a request to the registry of $port with the
# account (a token from the realm for pull on PATH's repository when
# REG_AUTH=token); prints the body, and fails as curl -f does.
reg_curl() {
	local path="$1" repo token
	shift
	if [ "$REG_AUTH" = token ]; then
		repo=$(echo "$path" | sed -E 's#^/v2/(.*)/(manifests|blobs|tags)/.*#\1#')
		token=$(curl -fsS --cacert "$REG_CACERT" -u "$REG_USER:$REG_PASSWORD" \
			"$TOKEN_REALM?service=$TOKEN_SERVICE&scope=repository:$repo:pull" | jq -r .token)
		curl -fsS --cacert "$REG_CACERT" -H "Authorization: Bearer $token" "$@" "https://127.0.0.1:$port$path"
	else
		curl -fsS --cacert "$REG_CACERT" -u "$REG_USER:$REG_PASSWORD" "$@" "https://127.0.0.1:$port$path"
	fi
}

# The media types a manifest GET accepts, so the registry serves the
# manifest as it was pushed (without them 2.8 answers an OCI manifest
# with 404 MANIFEST_UNKNOWN and converts a Docker one to schema 1).
REG_ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json'

# reg_manifest_status REPO REF: the HTTP status of GET manifests/REF (200,
# 404 when the tag or repository does not exist).
reg_manifest_status() {
	reg_curl "/v2/$1/manifests/$2" -o /dev/null -w '%{http_code}' -H "$REG_ACCEPT" 2>/dev/null || true
}

# reg_mark: the size of $REG_LOG once every request answered so far is in
# it. The registry writes a request's access line after answering it, so
# a client may be done before its last line is written; a request of our
# own, answered after the client's, is waited for in the log first.
reg_mark() {
	local id="fence-$$-$RANDOM$RANDOM" i
	if [ -n "${REG_CACERT:-}" ]; then
		curl -s -o /dev/null --cacert "$REG_CACERT" "https://127.0.0.1:$port/v2/?$id" || true
	else # start_registry's, plain HTTP
		curl -s -o /dev/null "http://127.0.0.1:$port/v2/?$id" || true
	fi
	for i in $(seq 100); do
		grep -aq "$id" "$REG_LOG" && break
		sleep 0.05
	done
	grep -aq "$id" "$REG_LOG" || fail "the registry did not log the request $id"
	stat -c %s "$REG_LOG"
}

# reg_requests OFFSET: the requests $REG_LOG has after byte OFFSET (from
# reg_mark), one "METHOD URI STATUS" a line, read from the access log's
# lines: 127.0.0.1 - - [01/Dec/2026:14:03:18 +0000] "POST /v2/t/x/blobs/uploads/ HTTP/1.1" 202 0 "" "skopeo/1.9.3"
reg_requests() {
	tail -c +"$(($1 + 1))" "$REG_LOG" | tr -d '\0' |
		sed -nE 's#^[^ ]+ [^ ]+ [^ ]+ \[[^]]*\] "([A-Z]+) ([^ ]+) HTTP/[0-9.]+" ([0-9]{3}) .*#\1 \2 \3#p'
}

# reg_uploads OFFSET REPO: the requests on blob upload sessions of REPO
# after OFFSET (POST starts one, PATCH sends a chunk, PUT ends it).
reg_uploads() {
	reg_requests "$1" | grep -E "^(POST|PATCH|PUT) /v2/$2/blobs/uploads/" || true
}

# reg_uploaded OFFSET REPO: the digests of the blobs whose upload to REPO
# was completed after OFFSET (PUT ...?digest=D answered 201), one a line.
reg_uploaded() {
	reg_uploads "$1" "$2" | grep -E '^PUT [^ ]*[?&]digest=[^ ]* 201$' |
		sed -E 's/^PUT [^ ]*[?&]digest=([^& ]*).*/\1/; s/%3[aA]/:/' || true
}

# two_platform_recipe: $WORK/multi.yaml, an image of a hello program for
# linux/amd64 and linux/arm64, from sysroots $WORK/amd64 and $WORK/arm64
# made of the host's libc and the arm64 cross libc (needs gcc,
# aarch64-linux-gnu-gcc and libc6-dev-arm64-cross, an x86_64 host)
two_platform_recipe() {
	printf '#include <stdio.h>\nint main(void) { puts("hello " ARCH); return 0; }\n' >"$WORK/h.c"
	mk_root "$WORK/amd64" lib/x86_64-linux-gnu /lib64/ld-linux-x86-64.so.2 \
		../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 gcc /lib/x86_64-linux-gnu/libc.so.6 /lib64/ld-linux-x86-64.so.2
	mk_root "$WORK/arm64" lib/aarch64-linux-gnu /usr/lib/ld-linux-aarch64.so.1 aarch64-linux-gnu/ld-linux-aarch64.so.1 \
		aarch64-linux-gnu-gcc /usr/aarch64-linux-gnu/lib/libc.so.6 /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1
	cat >"$WORK/multi.yaml" <<-'Y'
	name: distill-test/multi
	tag: "1"
	platforms:
	  linux/amd64: amd64
	  linux/arm64: arm64
	ca-certificates: false
	contents:
	  binaries: [/usr/bin/hello]
	Y
}

# mk_root DIR LIBDIR LOADER-PATH LOADER-LINK CC LIBS...: a sysroot of the
# libraries given, the loader's link, an os-release and hello built by CC
mk_root() {
	local root=$1 lib=$2 loader=$3 link=$4 cc=$5
	shift 5
	mkdir -p "$root/usr/$lib" "$root/usr/bin" "$root/etc"
	ln -s usr/lib "$root/lib"
	cp -L "$@" "$root/usr/$lib/"
	mkdir -p "$(dirname "$root$loader")"
	ln -sf "$link" "$root$loader"
	printf 'PRETTY_NAME="Test OS"\nID=test\n' >"$root/etc/os-release"
	$cc -O2 -DARCH="\"$(basename "$root")\"" -o "$root/usr/bin/hello" "$WORK/h.c"
}

# project DIR GREETING: a small project of the cache tests: a program
# printing GREETING (compiled here), a data file, and the recipe of both
project() {
	mkdir -p "$1"
	printf '#include <stdio.h>\nint main(void) { puts("%s"); return 0; }\n' "$2" >"$1/app.c"
	gcc -O2 -o "$1/app" "$1/app.c"
	printf 'the data of the application\n' >"$1/data.txt"
	cat >"$1/app.yaml" <<-'Y'
	name: distill-test/project
	tag: "1"
	contents:
	  binaries:
	    - {source: app, path: /usr/local/bin/app}
	  files:
	    - {source: data.txt, path: /usr/share/app/data.txt}
	Y
}

# run ARGS...: distill with ARGS, its exit status in rc, its output in
# $WORK/out and $WORK/err; ok SCENARIO: that run succeeded; refused
# SCENARIO ERE: it exited 1 saying ERE on stderr. A test that runs distill
# otherwise (another environment, other checks) defines its own.
run() {
	rc=0
	"$DISTILL" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
}
ok() {
	[ "$rc" = 0 ] || fail "$1: exited $rc: $(cat "$WORK/err")"
}
refused() {
	[ "$rc" = 1 ] || fail "$1: exited $rc, not 1 (stdout: $(cat "$WORK/out"); stderr: $(cat "$WORK/err"))"
	grep -Eq -- "$2" "$WORK/err" || fail "$1: stderr does not say /$2/: $(cat "$WORK/err")"
	echo "  $1: $(tail -1 "$WORK/err")"
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
