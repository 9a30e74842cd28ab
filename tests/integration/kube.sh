#!/bin/bash
# distill kube: the Deployment and Pod it prints validate against the
# Kubernetes API's schema (tests/data/kube.schema.json) and carry the
# settings the image's facts imply; podman kube play honours them (read
# only, as 65532, no new privileges, no capabilities) and the service
# answers; the --docker flags run the service under podman run, and
# NET_BIND_SERVICE is there exactly when a port below 1024 needs it; a
# root image, a user the image does not have and a bad --name are refused;
# a registry's image (docker://) gives the same document, its reference as
# the container's image.
. "$(dirname "$0")/lib.sh"
need gcc podman runc jq curl umoci
need_root
# python3 on PATH may be another one (pyenv): Debian's has the modules
PY=/usr/bin/python3
$PY -c 'import yaml, jsonschema' 2>/dev/null || skip "python3-yaml or python3-jsonschema is not installed (.ci/run installs them)"

P=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --storage-driver vfs
	--runtime runc --cgroup-manager cgroupfs --events-backend file)
# kube play has no --ulimit: the same limits as the other tests' runs
printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n' >"$WORK/containers.conf"
export CONTAINERS_CONF="$WORK/containers.conf"
RUN=(run --pull=never --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
on_exit '"${P[@]}" pod rm -af -t 0 >/dev/null 2>&1; "${P[@]}" rm -af -t 0 >/dev/null 2>&1; "${P[@]}" volume rm -af >/dev/null 2>&1; "${P[@]}" rmi -af >/dev/null 2>&1 || true'

# The service: `srv PORT` answers each connection with its uid and gid and
# whether it could write /var/lib/app/state; `srv health PORT` exits 0
# when PORT on loopback accepts a connection.
cat >"$WORK/srv.c" <<'C'
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
	struct sockaddr_in a = { .sin_family = AF_INET };
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	if (argc == 3 && strcmp(argv[1], "health") == 0) {
		a.sin_port = htons(atoi(argv[2]));
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return connect(s, (struct sockaddr *) &a, sizeof a) == 0 ? 0 : 1;
	}
	if (argc != 2) return 2;
	a.sin_port = htons(atoi(argv[1]));
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(s, (struct sockaddr *) &a, sizeof a) != 0 || listen(s, 16) != 0) { perror("bind"); return 1; }
	for (;;) {
		int c = accept(s, NULL, NULL);
		char req[1024], body[128], resp[256];
		if (c < 0) continue;
		(void) read(c, req, sizeof req);
		FILE *t = fopen("/var/lib/app/state", "w");
		snprintf(body, sizeof body, "ok uid=%u gid=%u state=%s\n", getuid(), getgid(), t ? "written" : "unwritable");
		if (t) fclose(t);
		snprintf(resp, sizeof resp, "HTTP/1.0 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
		(void) write(c, resp, strlen(resp));
		close(c);
	}
}
C
gcc -O2 -o "$WORK/srv" "$WORK/srv.c" || fail "compiling the service"
echo seed >"$WORK/seed"

PORT=$(free_port)
cat >"$WORK/high.yaml" <<Y
name: distill-test/kube-high
tag: "1"
contents:
  binaries:
    - {source: srv, path: /usr/local/bin/srv}
  files:
    - {source: seed, path: /var/lib/app/seed}
paths:
  - {path: /var/lib/app, type: directory, mode: 0700}
  - {path: /etc/app.conf, type: file, mode: 0600}
entrypoint: [/usr/local/bin/srv]
cmd: ["$PORT"]
environment: {GREETING: "say \"hi\" \\\\ café"}
ports: [$PORT/tcp]
healthcheck: {test: [/usr/local/bin/srv, health, "$PORT"], interval: 5s, timeout: 2s, start-period: 1500ms, retries: 4}
Y
cat >"$WORK/low.yaml" <<'Y'
name: distill-test/kube__low
tag: "1"
contents:
  binaries:
    - {source: srv, path: /usr/local/bin/srv}
entrypoint: [/usr/local/bin/srv]
cmd: ["80"]
ports: [80/tcp, 9090/udp]
volumes: [/data]
Y
"$DISTILL" build "$WORK/high.yaml" -o "$WORK/high.tar" -q || fail "build the high-port image"
"$DISTILL" build "$WORK/low.yaml" -o "$WORK/low.tar" -q || fail "build the low-port image"

# validate FILE KIND: the YAML loads, and is a valid KIND of the schema
validate() {
	$PY - "$1" "$2" "$SOURCE_DIR/tests/data/kube.schema.json" <<-'PY' || fail "$1 is not a valid $2"
	import json, sys, yaml, jsonschema
	doc = yaml.safe_load(open(sys.argv[1]))
	schema = json.load(open(sys.argv[3]))
	jsonschema.Draft202012Validator.check_schema(schema)
	jsonschema.Draft202012Validator(dict(schema, oneOf=[{"$ref": "#/$defs/" + sys.argv[2]}])).validate(doc)
	json.dump(doc, open(sys.argv[1] + ".json", "w"))
	PY
}

run kube "$WORK/high.tar"
ok "kube of the high-port image"
cp "$WORK/out" "$WORK/high.yaml.out"
cp "$WORK/err" "$WORK/high.err"
validate "$WORK/high.yaml.out" Deployment
run kube "$WORK/high.tar"
cmp -s "$WORK/out" "$WORK/high.yaml.out" || fail "two runs of kube printed different bytes"
run kube "$WORK/low.tar" --pod
ok "kube --pod of the low-port image"
cp "$WORK/out" "$WORK/low.yaml.out"
validate "$WORK/low.yaml.out" Pod
# the schema is strict: a misspelt field fails it
sed 's/runAsNonRoot:/runAsNonroot:/' "$WORK/high.yaml.out" >"$WORK/typo.yaml"
if (validate "$WORK/typo.yaml" Deployment) >/dev/null 2>&1; then fail "the schema took a misspelt field"; fi
echo "the Deployment and the Pod validate; a misspelt field does not"

# expect FILE JQ-FILTER WHAT: the JSON of FILE passes the filter
expect() {
	jq -e "$2" "$1.json" >/dev/null || fail "$3: $(jq -c "$4" "$1.json")"
}
H="$WORK/high.yaml.out" L="$WORK/low.yaml.out"
C='.spec.template.spec.containers[0]'
expect "$H" '.metadata.name == "kube-high" and .metadata.labels == {app: "kube-high"} and .spec.replicas == 1
	and .spec.selector.matchLabels == {app: "kube-high"} and .spec.template.metadata.labels == {app: "kube-high"}' \
	"name, labels, selector" '.metadata'
expect "$H" "$C"'.image == "docker.io/distill-test/kube-high:1" and '"$C"'.command == ["/usr/local/bin/srv"]
	and '"$C"'.args == ["'"$PORT"'"] and '"$C"'.workingDir == "/home/nonroot"' "image, command, args, workingDir" "$C"
expect "$H" "$C"'.env | any(. == {name: "GREETING", value: "say \"hi\" \\ café"})' "env (quotes, backslash, UTF-8)" "$C.env"
expect "$H" "$C"'.ports == [{containerPort: '"$PORT"', protocol: "TCP"}]' "ports" "$C.ports"
expect "$H" "$C"'.securityContext == {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532,
	readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: ["ALL"]},
	seccompProfile: {type: "RuntimeDefault"}}' "securityContext (no NET_BIND_SERVICE above 1023)" "$C.securityContext"
expect "$H" "$C"'.volumeMounts == [{name: "home-nonroot", mountPath: "/home/nonroot"}, {name: "tmp", mountPath: "/tmp"},
	{name: "var-lib-app", mountPath: "/var/lib/app"}] and .spec.template.spec.volumes == [{name: "home-nonroot",
	emptyDir: {}}, {name: "tmp", emptyDir: {}}, {name: "var-lib-app", emptyDir: {}}]' "emptyDirs" ".spec.template.spec"
expect "$H" "$C"'.livenessProbe == {exec: {command: ["/usr/local/bin/srv", "health", "'"$PORT"'"]},
	initialDelaySeconds: 2, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 4}
	and '"$C"'.readinessProbe == '"$C"'.livenessProbe' "probes" "$C"
# what the settings cannot carry is said
for w in 'StartPeriod is not whole seconds.*rounded up' '/etc/app.conf is a file the user can write' \
	'/var/lib/app holds 1 entry in the image, which the empty volume mounted there hides'; do
	grep -q "warning: .*$w" "$WORK/high.err" || fail "no warning /$w/: $(cat "$WORK/high.err")"
done
expect "$L" '.kind == "Pod" and .metadata.name == "kube-low" and .spec.containers[0].name == "kube-low"' "Pod, name from kube__low" '.metadata'
expect "$L" '.spec.containers[0].securityContext.capabilities == {drop: ["ALL"], add: ["NET_BIND_SERVICE"]}' \
	"NET_BIND_SERVICE for port 80" '.spec.containers[0].securityContext'
expect "$L" '.spec.containers[0].ports == [{containerPort: 80, protocol: "TCP"}, {containerPort: 9090, protocol: "UDP"}]' \
	"ports by number" '.spec.containers[0].ports'
expect "$L" '.spec.containers[0].volumeMounts == [{name: "data", mountPath: "/data"}, {name: "home-nonroot",
	mountPath: "/home/nonroot"}, {name: "tmp", mountPath: "/tmp"}] and .spec.volumes == [{name: "data", emptyDir: {}},
	{name: "home-nonroot", emptyDir: {}}, {name: "tmp", emptyDir: {}}]' "a config volume's emptyDir" '.spec'
expect "$L" '(.spec.containers[0] | has("livenessProbe") or has("readinessProbe")) | not' "no probe without a health check" \
	'.spec.containers[0]'
echo "the settings: user, read-only root, capabilities, emptyDirs, ports, env, probes"

# --name, and what is refused
run kube "$WORK/high.tar" --name web-1
ok "--name web-1"
grep -qx '  name: "web-1"' "$WORK/out" || fail "--name web-1 is not metadata.name"
for bad in Web -web "a_b" "$(printf 'a%.0s' $(seq 64))"; do
	run kube "$WORK/high.tar" --name "$bad"
	[ "$rc" = 2 ] && grep -q 'not a DNS-1123 label' "$WORK/err" || fail "--name \"$bad\" was not refused: $rc $(cat "$WORK/err")"
done
echo "  a bad --name: $(head -1 "$WORK/err")"
# config_edit NAME UMOCI-CONFIG-ARGS...: $WORK/NAME.tar, the high-port image
# with its config changed by umoci
config_edit() {
	local name=$1
	shift
	rm -rf "$WORK/lay" && mkdir "$WORK/lay" && tar -xf "$WORK/high.tar" -C "$WORK/lay"
	umoci config --image "$WORK/lay:1" "$@" || fail "umoci config $*"
	tar -C "$WORK/lay" -cf "$WORK/$name.tar" .
}
config_user() {
	config_edit "$2" --config.user "$1"
}
# "8443" and "8443/tcp" are one port; a user by number without a group
# takes its group from /etc/passwd
config_edit ports --config.exposedports 8443 --config.exposedports 8443/tcp --config.user 65532
run kube "$WORK/ports.tar"
ok "ports given twice"
grep -c 'containerPort: ' "$WORK/out" | grep -qx 2 || fail "a port given twice is listed twice: $(grep containerPort "$WORK/out")"
grep -q 'runAsGroup: 65532$' "$WORK/out" || fail "User 65532 did not take group 65532 from /etc/passwd"
# images whose config says another user: root, a name, a name not there
config_user 0 root
run kube "$WORK/root.tar"
refused "a root user" 'config User "0" is root'
config_user nonroot named
run kube "$WORK/named.tar"
ok "a user by name"
grep -q 'runAsUser: 65532$' "$WORK/out" && grep -q 'runAsGroup: 65532$' "$WORK/out" || fail "nonroot not resolved to 65532:65532"
config_user ghost ghost
run kube "$WORK/ghost.tar"
refused "a user the image does not have" '"ghost" is not in the image.s /etc/passwd'
# an archive that names no image needs --image
rm -rf "$WORK/lay" && mkdir "$WORK/lay" && tar -xf "$WORK/high.tar" -C "$WORK/lay"
jq 'del(.manifests[0].annotations)' "$WORK/lay/index.json" >"$WORK/index.json" && mv "$WORK/index.json" "$WORK/lay/index.json"
tar -C "$WORK/lay" -cf "$WORK/noname.tar" .
run kube "$WORK/noname.tar"
refused "an archive that names no image" 'names no image.*--image REF'
run kube "$WORK/noname.tar" --image registry.example/app:2
ok "--image"
grep -q 'image: "registry.example/app:2"' "$WORK/out" || fail "--image is not the container's image"
# a registry's image: the same document, its image the reference
if command -v docker-registry >/dev/null; then
	start_registry
	"$DISTILL" push "$WORK/noname.tar" "docker://127.0.0.1:$port/distill/kube:1" --tls-verify=false -q ||
		fail "push to the registry on 127.0.0.1:$port"
	run kube "docker://127.0.0.1:$port/distill/kube:1" --tls-verify=false
	ok "kube of a registry's image"
	grep -qx '          image: "127.0.0.1:'"$port"'/distill/kube:1"' "$WORK/out" ||
		fail "kube of a registry's image: the image is not the reference: $(grep 'image:' "$WORK/out")"
	run kube "$WORK/noname.tar" --image "127.0.0.1:$port/distill/kube:1"
	cmp -s "$WORK/out" <("$DISTILL" kube "docker://127.0.0.1:$port/distill/kube:1" --tls-verify=false 2>/dev/null) ||
		fail "kube of the registry's image differs from kube of its archive"
	run kube "$WORK/high.tar" --tls-verify=false
	[ "$rc" = 2 ] || fail "a registry option without a docker:// reference exited $rc, not 2"
else
	echo "SKIP (one case): docker-registry is not installed (.ci/run installs it)"
fi

# --docker: the flags, run by podman
run kube "$WORK/high.tar" --docker
ok "kube --docker"
want="docker run --rm --read-only --user 65532:65532 --cap-drop ALL --security-opt no-new-privileges --volume /home/nonroot --tmpfs /tmp:mode=1777 --volume /var/lib/app -p $PORT:$PORT/tcp docker.io/distill-test/kube-high:1"
[ "$(cat "$WORK/out")" = "$want" ] || fail "kube --docker: $(cat "$WORK/out")"
"${P[@]}" load -q -i "$WORK/high.tar" >/dev/null || fail "podman load of the high-port image"
"${P[@]}" load -q -i "$WORK/low.tar" >/dev/null || fail "podman load of the low-port image"
# the printed words, "docker run" replaced by podman's with the test's options
eval "set -- $(cat "$WORK/out")"
shift 2
id=$("${P[@]}" "${RUN[@]}" -d "$@") || fail "podman run of the --docker flags"
# wait until it answers on loopback (or exits)
answer() {
	local i
	for i in $(seq 100); do
		curl -fs "http://127.0.0.1:$1/" && return 0
		[ "$("${P[@]}" inspect --format '{{.State.Running}}' "$2")" = true ] || break
		sleep 0.1
	done
	"${P[@]}" logs "$2" >&2
	return 1
}
got=$(answer "$PORT" "$id") || fail "the service of the --docker flags does not answer on 127.0.0.1:$PORT"
[ "$got" = "ok uid=65532 gid=65532 state=written" ] || fail "podman run of the --docker flags: $got"
[ "$("${P[@]}" inspect --format '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}} {{.EffectiveCaps}}' "$id")" = "true 65532:65532 []" ] ||
	fail "podman run of the --docker flags: $("${P[@]}" inspect --format '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}} {{.EffectiveCaps}}' "$id")"
"${P[@]}" rm -f -t 0 "$id" >/dev/null
echo "--docker: podman runs the service read-only as 65532:65532 with no capability: $got"

# port 80 as 65532: with the flags' NET_BIND_SERVICE it binds, without it not
run kube "$WORK/low.tar" --docker
ok "kube --docker of the low-port image"
grep -q -- '--cap-drop ALL --cap-add NET_BIND_SERVICE ' "$WORK/out" || fail "no --cap-add NET_BIND_SERVICE: $(cat "$WORK/out")"
eval "set -- $(cat "$WORK/out")"
shift 2
args=() # no port published: 80 of the host may be anyone's, the check asks from inside
while [ $# -gt 0 ]; do
	if [ "$1" = -p ]; then shift 2; else args+=("$1"); shift; fi
done
id=$("${P[@]}" "${RUN[@]}" -d "${args[@]}") || fail "podman run of the low-port flags"
up=""
for _ in $(seq 100); do
	"${P[@]}" exec "$id" /usr/local/bin/srv health 80 && { up=1; break; }
	[ "$("${P[@]}" inspect --format '{{.State.Running}}' "$id")" = true ] || break
	sleep 0.1
done
[ -n "$up" ] || { "${P[@]}" logs "$id"; fail "the low-port service does not listen on 80 with the --docker flags"; }
[ "$("${P[@]}" inspect --format '{{.EffectiveCaps}}' "$id")" = "[CAP_NET_BIND_SERVICE]" ] || fail "caps: $("${P[@]}" inspect --format '{{.EffectiveCaps}}' "$id")"
"${P[@]}" rm -f -t 0 "$id" >/dev/null
bare=()
for a in "${args[@]}"; do [ "$a" = --cap-add ] || [ "$a" = NET_BIND_SERVICE ] || bare+=("$a"); done
if out=$("${P[@]}" "${RUN[@]}" --rm "${bare[@]}" 2>&1); then fail "port 80 was bound without NET_BIND_SERVICE"; fi
echo "$out" | grep -q 'bind: Permission denied' || fail "without NET_BIND_SERVICE: $out"
echo "--docker: port 80 is bound as 65532 with NET_BIND_SERVICE, and refused without it"

# podman kube play of the Deployment
"${P[@]}" kube play "$H" >"$WORK/play.log" 2>&1 || { cat "$WORK/play.log"; fail "podman kube play"; }
id=$("${P[@]}" ps -a --filter ancestor=docker.io/distill-test/kube-high:1 --format '{{.ID}}')
[ -n "$id" ] || fail "podman kube play made no container of the image"
got=$(answer "$PORT" "$id") || fail "the service podman kube play started does not answer on 127.0.0.1:$PORT"
[ "$got" = "ok uid=65532 gid=65532 state=written" ] || fail "podman kube play: $got"
inspect=$("${P[@]}" inspect --format '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}} {{.HostConfig.SecurityOpt}} {{.EffectiveCaps}}' "$id")
[ "$inspect" = "true 65532:65532 [no-new-privileges] []" ] || fail "podman kube play: ReadonlyRootfs, User, SecurityOpt, caps: $inspect"
# and as the kernel sees the process: no capability, no new privileges,
# a seccomp filter (RuntimeDefault), uid and gid 65532
pid=$("${P[@]}" inspect --format '{{.State.Pid}}' "$id")
status=$(grep -E '^(Uid|Gid|CapEff|CapPrm|NoNewPrivs|Seccomp):' "/proc/$pid/status" | tr -s ' \t' ' ' | tr '\n' ';')
[ "$status" = "Uid: 65532 65532 65532 65532;Gid: 65532 65532 65532 65532;CapPrm: 0000000000000000;CapEff: 0000000000000000;NoNewPrivs: 1;Seccomp: 2;" ] ||
	fail "podman kube play's process: $status"
"${P[@]}" inspect "$id" | jq -e '[.[0].Mounts[] | select(.RW) | .Destination] | sort == ["/home/nonroot", "/tmp", "/var/lib/app"]' >/dev/null ||
	fail "podman kube play's writable mounts: $("${P[@]}" inspect "$id" | jq -c '[.[0].Mounts[] | .Destination]')"
# podman turns an exec probe into a health check it runs with a shell
# (CMD-SHELL, the command then "|| exit 1": podman's pull request 10956),
# which no distill image has; its command and times are the probe's
hc=$("${P[@]}" inspect "$id" | jq -c '.[0].Config.Healthcheck')
echo "$hc" | jq -e '(.Test | join(" ") | contains("/usr/local/bin/srv health '"$PORT"'")) and .Interval == 5000000000
	and .Timeout == 2000000000 and .StartPeriod == 2000000000 and .Retries == 4' >/dev/null ||
	fail "podman kube play's health check is not the probe's: $hc"
"${P[@]}" kube down "$H" >/dev/null 2>&1 || true
echo "podman kube play: the service answers ($got), read-only, as 65532:65532, no-new-privileges, no capability"
echo "PASS: kube"
