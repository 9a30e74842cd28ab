#!/bin/bash
# The golden image: a sysroot and a tree generated here from nothing but this
# script, built at a fixed epoch, must give the digests recorded in
# golden.json. The config and the diff_ids (the layers' tar bytes) depend on
# distill alone and are checked on every machine; the layer blobs and the
# manifest also depend on the compressor, so golden.json names the gzip
# library they belong to (libdeflate), and another one, or another version,
# is a loud failure, not a skip.
#
#   golden.sh           check
#   golden.sh --update  record this machine's digests in golden.json
. "$(dirname "$0")/lib.sh"
need jq

GOLDEN="$SOURCE_DIR/tests/integration/golden.json"
ROOT="$WORK/root"
umask 022 # the modes of the generated files are part of the image

# ---- the sysroot ------------------------------------------------------------
mkdir -p "$ROOT/etc" "$ROOT/srv/app/data" "$ROOT/srv/app/bin" "$ROOT/srv/app/names"
cat >"$ROOT/etc/os-release" <<'R'
PRETTY_NAME="Golden Linux 1"
NAME="Golden Linux"
VERSION_ID="1"
ID=golden
R
for i in $(seq 0 99); do
	seq "$i" "$((i * 53))" >"$ROOT/srv/app/data/part-$(printf %03d "$i")"
done
# a script, so that the image can start by the can-start rule (its
# interpreter is there and executable); the golden image is never run
printf '#!/opt/app/bin/tool\nnot a program, but marked as one\n' >"$ROOT/srv/app/bin/tool"
chmod 0755 "$ROOT/srv/app/bin/tool"
printf 'secret-ish\n' >"$ROOT/srv/app/private"
chmod 0600 "$ROOT/srv/app/private"
printf 'one inode\n' >"$ROOT/srv/app/first"
ln "$ROOT/srv/app/first" "$ROOT/srv/app/second"
ln -s data/part-007 "$ROOT/srv/app/latest"
printf 'x\n' >"$ROOT/srv/app/names/café"
printf 'y\n' >"$ROOT/srv/app/names/$(printf 'l%.0s' $(seq 200))"
printf 'key = "value"\n' >"$ROOT/srv/app.toml"
chmod -R go-w "$ROOT"

cat >"$WORK/golden.yaml" <<'Y'
name: distill-test/golden
tag: "1"
contents:
  files:
    - {source: /srv/app.toml, path: /etc/app/app.toml, mode: 0444}
  directories:
    - {source: /srv/app, path: /opt/app, exclude: [private]}
  symlinks:
    - {path: /usr/local/bin/tool, target: /opt/app/bin/tool}
ca-certificates: false
accounts:
  run-as: app
  users: [{name: app, uid: 10001, gid: 10001, home: /home/app}]
  groups: [{name: app, gid: 10001}]
paths:
  - {path: /var/lib/app, type: directory, uid: 10001, gid: 10001, mode: 0700}
entrypoint: [/usr/local/bin/tool]
cmd: [--serve]
environment: {TZ: UTC, LANG: C.UTF-8}
work-dir: /var/lib/app
ports: [8080/tcp]
volumes: [/var/lib/app]
labels: {org.opencontainers.image.title: golden}
annotations: {org.opencontainers.image.source: "https://example.org/golden"}
stop-signal: SIGINT
Y

"$DISTILL" build "$WORK/golden.yaml" --sysroot "$ROOT" --source-date-epoch 1700000000 -o "$WORK/golden.tar" -q
compressor=$("$DISTILL" --version | grep '^libdeflate ' || true)
[ -n "$compressor" ] || fail "distill --version does not name its gzip library (libdeflate)"

blob() { tar -xOf "$WORK/golden.tar" "blobs/sha256/${1#sha256:}"; }
manifest=$(manifest_digest "$WORK/golden.tar")
blob "$manifest" >"$WORK/manifest.json"
config=$(jq -r .config.digest "$WORK/manifest.json")
jq -n --arg compressor "$compressor" --arg manifest "$manifest" --arg config "$config" \
	--argjson diff_ids "$(blob "$config" | jq -c .rootfs.diff_ids)" \
	--argjson layers "$(jq -c '[.layers[].digest]' "$WORK/manifest.json")" \
	'{compressor: $compressor, config: $config, diff_ids: $diff_ids, layers: $layers, manifest: $manifest}' >"$WORK/actual.json"

if [ "${1:-}" = --update ]; then
	cp "$WORK/actual.json" "$GOLDEN"
	echo "recorded in $GOLDEN:"
	cat "$GOLDEN"
	exit 0
fi

[ -f "$GOLDEN" ] || fail "$GOLDEN is missing; record it with $0 --update"
want() { jq -c "$1" "$GOLDEN"; }
got() { jq -c "$1" "$WORK/actual.json"; }

# Independent of the compressor: a difference is a change in distill's output.
if [ "$(got .diff_ids)" != "$(want .diff_ids)" ] || [ "$(got .config)" != "$(want .config)" ]; then
	echo "expected:"; cat "$GOLDEN"
	echo "built:"; cat "$WORK/actual.json"
	fail "the layers' tar bytes or the config changed: distill writes other bytes for the same input. If that is \
intended, it changes every user's digests: say so in the release notes and record with $0 --update"
fi
echo "ok: the config and the diff_ids are the golden ones"

# The compressed bytes: only comparable with the same compressor.
if [ "$compressor" != "$(jq -r .compressor "$GOLDEN")" ]; then
	fail "the golden layer and manifest digests belong to $(jq -r .compressor "$GOLDEN"), and distill uses $compressor \
here: the uncompressed layers matched, the compressed ones cannot be checked. Record this compressor's digests with \
$0 --update if it is the one releases are built with"
fi
if [ "$(got .layers)" != "$(want .layers)" ] || [ "$(got .manifest)" != "$(want .manifest)" ]; then
	echo "expected:"; cat "$GOLDEN"
	echo "built:"; cat "$WORK/actual.json"
	fail "same compressor ($compressor), same layer content, other compressed bytes: the gzip settings changed"
fi
echo "PASS: the golden image: manifest $manifest ($compressor)"
