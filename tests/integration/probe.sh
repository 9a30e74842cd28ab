#!/bin/bash
# distill's health probe (healthcheck: {http: URL} or {tcp: PORT}): a
# static program of a few KB, no loader, added at /usr/libexec/distill/probe
# and run by the image config's Healthcheck. Under runc, a loopback server
# compiled here runs the probe exactly as the config's Test says, in the
# same container: exit 0 on a 200, 1 on a 500, 1 when nothing listens, 1
# when the server accepts but never answers (the probe's own timeout ends
# it). podman's `healthcheck run` finds the container healthy, then
# unhealthy once the server stops listening. The i386 probe runs here; the
# arm64 and arm/v7 ones when their cross compilers are here, under
# qemu-user-static; the recipe errors; check's healthcheck warning.
. "$(dirname "$0")/lib.sh"
need gcc umoci runc jq readelf file
need_root

# server MODE ADDR PORT [PROBE ARGS...]: listens on ADDR:PORT unless MODE is
# none. serve: answers 200 until SIGUSR1, then closes its socket and stays
# up. ok, err, hang: runs the probe and answers it 200, 500 or never, then
# prints the probe's exit status.
cat >"$WORK/server.c" <<'C'
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_usr1(int sig) { (void)sig; stop = 1; }

static void answer(int ls, const char *mode) {
	char req[4096];
	int c = accept(ls, NULL, NULL);
	ssize_t n = c >= 0 ? read(c, req, sizeof req - 1) : -1;
	if (n > 0 && strcmp(mode, "hang") != 0) {
		const char *r = strcmp(mode, "err") == 0 ? "HTTP/1.0 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
		                                         : "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
		req[n] = '\0';
		fprintf(stderr, "request: %.*s\n", (int)strcspn(req, "\r"), req);
		if (write(c, r, strlen(r)) < 0) perror("write");
	}
	if (c >= 0 && strcmp(mode, "hang") != 0) close(c);
}

int main(int argc, char **argv) {
	int ls = -1, one = 1, status;
	if (argc < 4 || (argc < 5 && strcmp(argv[1], "serve") != 0)) return 2;
	const char *mode = argv[1];
	if (strcmp(mode, "none") != 0) {
		struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(atoi(argv[3])) };
		struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
		int v6 = strchr(argv[2], ':') != NULL;
		ls = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
		setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (v6 ? inet_pton(AF_INET6, argv[2], &a6.sin6_addr) != 1 : inet_pton(AF_INET, argv[2], &a4.sin_addr) != 1)
			return 2;
		if (v6 ? bind(ls, (struct sockaddr *)&a6, sizeof a6) : bind(ls, (struct sockaddr *)&a4, sizeof a4)) {
			perror("bind");
			return 2;
		}
		if (listen(ls, 8)) { perror("listen"); return 2; }
	}
	if (strcmp(mode, "serve") == 0) {
		signal(SIGUSR1, on_usr1);
		while (!stop) {
			struct pollfd p = { ls, POLLIN, 0 };
			if (poll(&p, 1, 100) == 1) answer(ls, mode);
		}
		close(ls);
		for (;;) pause();
	}
	pid_t pid = fork();
	if (pid == 0) {
		if (ls >= 0) close(ls);
		execv(argv[4], argv + 4);
		perror("exec");
		_exit(127);
	}
	for (;;) {
		struct pollfd p = { ls, POLLIN, 0 };
		if (waitpid(pid, &status, WNOHANG) == pid) break;
		if (ls >= 0 && poll(&p, 1, 100) == 1) answer(ls, mode);
		else if (ls < 0) usleep(100000);
	}
	printf("probe=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}
C
gcc -static -O2 -Wall -Werror -o "$WORK/server" "$WORK/server.c" || fail "compile the server fixture"

# image NAME HEALTHCHECK: a recipe serving on 8080 with that healthcheck
image() {
	cat >"$WORK/$1.yaml" <<-Y
	name: distill-test/probe-$1
	tag: "1"
	contents:
	  binaries:
	    - {source: server, path: /usr/local/bin/server}
	entrypoint: [/usr/local/bin/server]
	cmd: [serve, 127.0.0.1, "8080"]
	ports: [8080]
	healthcheck: $2
	Y
	"$DISTILL" build "$WORK/$1.yaml" -o "$WORK/$1.tar" -q || fail "build the $1 image"
}
image http '{http: "http://127.0.0.1:8080/healthz", timeout: 2s, interval: 1s, retries: 1}'
image tcp '{tcp: 8080}'
image tcp6 '{tcp: "[::1]:8080", timeout: 1500ms}'

image_config "$WORK/http.tar" | jq -e '.config.Healthcheck == {"Test": ["CMD", "/usr/libexec/distill/probe", "-t",
	"2000", "http://127.0.0.1:8080/healthz"], "Interval": 1000000000, "Timeout": 2000000000, "Retries": 1}' \
	>/dev/null || fail "the http image's Healthcheck: $(image_config "$WORK/http.tar" | jq -c .config.Healthcheck)"
image_config "$WORK/tcp.tar" | jq -e '.config.Healthcheck.Test == ["CMD", "/usr/libexec/distill/probe",
	"tcp://127.0.0.1:8080"]' >/dev/null || fail "the tcp image's Test: $(image_config "$WORK/tcp.tar" | jq -c .config.Healthcheck)"

# The probe as it is in the image: root's, 0755, a static ELF of the host's
# machine with no interpreter, under 64 KB.
unpack "$WORK/http.tar" 1 "$WORK/bundle"
PROBE="$WORK/bundle/rootfs/usr/libexec/distill/probe"
[ "$(stat -c '%u:%g %a' "$PROBE")" = "0:0 755" ] || fail "the probe is $(stat -c '%u:%g %a' "$PROBE")"
size=$(stat -c %s "$PROBE")
[ "$size" -lt 65536 ] || fail "the probe is $size bytes"
readelf -lW "$PROBE" >"$WORK/probe.phdrs" || fail "readelf cannot read the probe"
! grep -q INTERP "$WORK/probe.phdrs" || fail "the probe has a PT_INTERP: $(cat "$WORK/probe.phdrs")"
! grep -q DYNAMIC "$WORK/probe.phdrs" || fail "the probe has a PT_DYNAMIC"
file "$PROBE" | grep -q "statically linked" || fail "file: $(file "$PROBE")"
check_rootfs "$WORK/bundle/rootfs" "$WORK/http.tar"
echo "the probe: $size bytes, static, no interpreter"

# probe_run TAR MODE ADDR EXPECTED: the server in MODE runs the image's
# Healthcheck.Test (without "CMD") in the container; the probe's exit status
# must be EXPECTED.
probe_run() {
	local b="$WORK/run-$1-$2" test out
	[ -d "$WORK/unpacked-$1" ] || unpack "$WORK/$1.tar" 1 "$WORK/unpacked-$1"
	test=$(image_config "$WORK/$1.tar" | jq -c '.config.Healthcheck.Test[1:]')
	cp -a "$WORK/unpacked-$1" "$b"
	jq --arg mode "$2" --arg addr "$3" --argjson test "$test" \
		'.process.args = ["/usr/local/bin/server", $mode, $addr, "8080"] + $test' "$b/config.json" >"$b/c.json"
	mv "$b/c.json" "$b/config.json"
	out=$(runc_run "$b" 2>"$b.err") || fail "runc run ($1, $2): $(cat "$b.err")"
	[ "$out" = "probe=$4" ] || fail "$1 probe against a server in mode $2: $out, expected probe=$4 ($(cat "$b.err"))"
	echo "$1 $2: probe=$4 ($(grep -v '^request' "$b.err" | head -1))"
}
probe_run http ok 127.0.0.1 0
grep -q "^request: GET /healthz HTTP/1.0" "$WORK/run-http-ok.err" || fail "the request: $(cat "$WORK/run-http-ok.err")"
probe_run http err 127.0.0.1 1
probe_run http none 127.0.0.1 1
# accepts and never answers: the probe gives up after its -t 2000
probe_run http hang 127.0.0.1 1
grep -q "no answer within the timeout" "$WORK/run-http-hang.err" || fail "hang: $(cat "$WORK/run-http-hang.err")"
probe_run tcp ok 127.0.0.1 0
probe_run tcp none 127.0.0.1 1
probe_run tcp6 ok ::1 0
probe_run tcp6 none ::1 1

# check: a service with a health check is not warned; one without is
"$DISTILL" check --json "$WORK/http.tar" >"$WORK/http.json" || fail "check of the http image"
[ "$(jq -r '.checks[] | select(.id == "healthcheck") | .status' "$WORK/http.json")" = pass ] ||
	fail "the http image's healthcheck check: $(jq -c '.checks[] | select(.id == "healthcheck")' "$WORK/http.json")"
sed '/^healthcheck:/d' "$WORK/tcp.yaml" >"$WORK/bare.yaml"
"$DISTILL" build "$WORK/bare.yaml" -o "$WORK/bare.tar" -q || fail "build the image without a health check"
"$DISTILL" check --json "$WORK/bare.tar" >"$WORK/bare.json" || fail "check fails (not warns) without a health check"
jq -e '.checks[] | select(.id == "healthcheck") | .status == "warn" and (.findings[0] | test("exposes ports .* no Healthcheck"))' \
	"$WORK/bare.json" >/dev/null || fail "no warning without a health check: $(jq -c '.checks[] | select(.id == "healthcheck")' "$WORK/bare.json")"
echo "check: warns of a service without a health check, not of one with"

# recipe errors, with the file, line and column
refused() {
	printf 'name: x\nhealthcheck: %s\n' "$1" >"$WORK/bad.yaml"
	if "$DISTILL" build "$WORK/bad.yaml" -o "$WORK/bad.tar" -q 2>"$WORK/bad.err"; then
		fail "built a recipe with healthcheck $1"
	fi
	grep -qF "$WORK/bad.yaml:2:$2" "$WORK/bad.err" || fail "healthcheck $1: $(cat "$WORK/bad.err"), expected $2"
}
refused '{test: [/usr/local/bin/server], http: "http://127.0.0.1/"}' '52: healthcheck.http: give exactly one of test, http and tcp'
refused '{http: "https://127.0.0.1/"}' '21: healthcheck.http: "https://127.0.0.1/": https: the probe speaks plain HTTP only'
refused '{http: "http://db.internal:8080/"}' '21: healthcheck.http: "http://db.internal:8080/": a host name: the probe looks no name up'
refused '{tcp: 70000}' '20: healthcheck.tcp: "70000": the port is not a number from 1 to 65535'
echo "recipe errors: test and http, https, a host name, a bad port"

# qemu_probe NAME PROBE QEMU MODE ADDR URL WANT: a foreign probe run here by
# qemu's user emulation, so that its own system calls go to this kernel,
# against the server fixture in MODE on ADDR and a free port (PORT in URL)
qemu_probe() {
	local q port out
	q=$(command -v "$3") || fail "$3 is not installed"
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	out=$(timeout 60 "$WORK/server" "$4" "$5" "$port" "$q" "$2" -t 3000 "${6/PORT/$port}" 2>"$WORK/qemu-$1-$4.err") ||
		fail "$1 probe under $3, server in mode $4: $(cat "$WORK/qemu-$1-$4.err")"
	[ "$out" = "probe=$7" ] ||
		fail "$1 probe under $3, server in mode $4, ${6/PORT/$port}: $out, expected probe=$7 ($(cat "$WORK/qemu-$1-$4.err"))"
	echo "$1 $4 ${6/PORT/$port} (under $3): probe=$7"
}

# qemu_probes NAME PROBE QEMU: the same answers as the host's probe gives
qemu_probes() {
	qemu_probe "$1" "$2" "$3" ok 127.0.0.1 http://127.0.0.1:PORT/healthz 0
	grep -q "^request: GET /healthz HTTP/1.0" "$WORK/qemu-$1-ok.err" || fail "$1's request: $(cat "$WORK/qemu-$1-ok.err")"
	qemu_probe "$1" "$2" "$3" err 127.0.0.1 http://127.0.0.1:PORT/healthz 1
	qemu_probe "$1" "$2" "$3" none 127.0.0.1 http://127.0.0.1:PORT/healthz 1
	qemu_probe "$1" "$2" "$3" hang 127.0.0.1 http://127.0.0.1:PORT/healthz 1
	grep -q "no answer within the timeout" "$WORK/qemu-$1-hang.err" || fail "$1 hang: $(cat "$WORK/qemu-$1-hang.err")"
	qemu_probe "$1" "$2" "$3" ok ::1 "tcp://[::1]:PORT" 0
}

# foreign_probe NAME MACHINE QEMU: the image $WORK/NAME.tar has a probe of
# that ELF machine, static and small, and it answers under QEMU as the
# host's does
foreign_probe() {
	local a="$WORK/$1/usr/libexec/distill/probe"
	mkdir "$WORK/$1"
	"$DISTILL" export "$WORK/$1.tar" "$WORK/$1" >/dev/null 2>&1 || fail "export the $1 image"
	readelf -hW "$a" | grep -q "Machine: *$2\$" || fail "the $1 image's probe: $(readelf -hW "$a")"
	! readelf -lW "$a" | grep -q INTERP || fail "the $1 probe has a PT_INTERP"
	[ "$(stat -c %s "$a")" -lt 65536 ] || fail "the $1 probe is $(stat -c %s "$a") bytes"
	echo "$1: the image has a static $2 probe of $(stat -c %s "$a") bytes"
	if command -v "$3" >/dev/null; then
		qemu_probes "$1" "$a" "$3"
	else
		echo "$1: $3 is not installed: its probe not run"
	fi
}

# Other platforms: a probe is embedded for each whose cross compiler was
# found when distill was configured (.ci/run installs them) and runs under
# qemu-user-static; a platform with none is refused naming the compiler to
# install.
if command -v aarch64-linux-gnu-gcc >/dev/null && [ -f /usr/aarch64-linux-gnu/lib/libc.a ]; then
	aarch64-linux-gnu-gcc -static -O2 -o "$WORK/server-arm64" "$WORK/server.c" || fail "cross-compile the server"
	sed -e 's/source: server,/source: server-arm64,/' -e 's/^tag: "1"/tag: "1"\nplatform: linux\/arm64/' \
		"$WORK/http.yaml" >"$WORK/arm64.yaml"
	"$DISTILL" build "$WORK/arm64.yaml" -o "$WORK/arm64.tar" -q 2>"$WORK/arm64.err" ||
		fail "build of a linux/arm64 image with a probe (was aarch64-linux-gnu-gcc installed when distill was configured?): $(cat "$WORK/arm64.err")"
	foreign_probe arm64 AArch64 qemu-aarch64-static
else
	echo "arm64: aarch64-linux-gnu-gcc or its libc.a is not installed: not tested"
fi
# i386: an x86_64 kernel runs its programs, so its probe runs here too
if command -v i686-linux-gnu-gcc >/dev/null && [ -f /usr/i686-linux-gnu/lib/libc.a ] && [ "$(uname -m)" = x86_64 ]; then
	i686-linux-gnu-gcc -static -O2 -o "$WORK/server-386" "$WORK/server.c" || fail "cross-compile the server for i386"
	sed -e 's/source: server,/source: server-386,/' -e 's/^tag: "1"/tag: "1"\nplatform: linux\/386/' \
		"$WORK/http.yaml" >"$WORK/i386.yaml"
	"$DISTILL" build "$WORK/i386.yaml" -o "$WORK/i386.tar" -q 2>"$WORK/i386.err" ||
		fail "build of a linux/386 image with a probe: $(cat "$WORK/i386.err")"
	probe_run i386 ok 127.0.0.1 0
	probe_run i386 err 127.0.0.1 1
	probe_run i386 hang 127.0.0.1 1
else
	echo "386: i686-linux-gnu-gcc or its libc.a is not installed: not tested"
fi
printf 'name: x\nplatform: linux/arm/v7\nhealthcheck: {tcp: 80}\n' >"$WORK/armv7.yaml"
if ! command -v arm-linux-gnueabihf-gcc >/dev/null; then
	if "$DISTILL" build "$WORK/armv7.yaml" -o "$WORK/armv7.tar" -q 2>"$WORK/armv7.err"; then
		fail "built a linux/arm/v7 probe image without a probe for it"
	fi
	grep -q "no probe for linux/arm/v7: build distill where arm-linux-gnueabihf-gcc is installed" "$WORK/armv7.err" ||
		fail "the refusal of linux/arm/v7: $(cat "$WORK/armv7.err")"
	echo "arm: arm-linux-gnueabihf-gcc is not installed: linux/arm/v7 refused, naming it"
else
	"$DISTILL" build "$WORK/armv7.yaml" -o "$WORK/armv7.tar" -q 2>"$WORK/armv7.err" ||
		fail "build of a linux/arm/v7 image with a probe: $(cat "$WORK/armv7.err")"
	foreign_probe armv7 ARM qemu-arm-static
	# the probe is ARMv7 code: an older ARM is refused, and says so
	sed 's|linux/arm/v7|linux/arm/v6|' "$WORK/armv7.yaml" >"$WORK/armv6.yaml"
	if "$DISTILL" build "$WORK/armv6.yaml" -o "$WORK/armv6.tar" -q 2>"$WORK/armv6.err"; then
		fail "built a linux/arm/v6 image with the ARMv7 probe"
	fi
	grep -q "no probe for linux/arm/v6: distill's is built for linux/arm/v7" "$WORK/armv6.err" ||
		fail "the refusal of linux/arm/v6: $(cat "$WORK/armv6.err")"
fi

# podman: it reads Healthcheck only from a Docker-format config (podman 4.3
# keeps none from an OCI image), so the image goes in as docker-archive.
if command -v podman >/dev/null; then
	P=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --storage-driver vfs
		--runtime runc --cgroup-manager cgroupfs --events-backend file)
	on_exit '"${P[@]}" rm -af -t 0 >/dev/null 2>&1 || true; "${P[@]}" rmi -af >/dev/null 2>&1 || true'
	"${P[@]}" pull -q "docker-archive:$WORK/http.tar" >/dev/null 2>"$WORK/pull.err" || fail "podman pull docker-archive: $(cat "$WORK/pull.err")"
	id=$("${P[@]}" run -d --pull=never --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
		localhost/distill-test/probe-http:1 2>"$WORK/run.err") || fail "podman run: $(cat "$WORK/run.err")"
	healthy=""
	for _ in $(seq 50); do
		if "${P[@]}" healthcheck run "$id" >/dev/null 2>&1; then healthy=yes; break; fi
		sleep 0.2
	done
	[ -n "$healthy" ] || fail "podman never found the container healthy: $("${P[@]}" inspect --format '{{json .State.Health}}' "$id")"
	"${P[@]}" kill -s USR1 "$id" >/dev/null || fail "podman kill -s USR1"
	unhealthy=""
	for _ in $(seq 50); do
		if ! "${P[@]}" healthcheck run "$id" >/dev/null 2>&1; then unhealthy=yes; break; fi
		sleep 0.2
	done
	[ -n "$unhealthy" ] || fail "podman still finds the container healthy once its server stopped"
	[ "$("${P[@]}" inspect --format '{{.State.Health.Status}}' "$id" 2>/dev/null)" = unhealthy ] ||
		fail "podman's health status: $("${P[@]}" inspect --format '{{json .State.Health}}' "$id" 2>/dev/null)"
	echo "podman: healthy, then unhealthy once the server stopped"
else
	echo "podman is not installed: its healthcheck run not tested"
fi
echo "PASS: the health probe in the image, under runc and podman"
