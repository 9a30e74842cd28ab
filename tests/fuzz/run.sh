#!/bin/bash
# Run each libFuzzer target for SECONDS (default 60) under the sanitizers
# it was built with. Seeds: the recipes here, ELF files of this machine and
# small image archives made on the spot (no binary is checked in); inputs
# that once crashed are kept in tests/fuzz/<target>/ as regression seeds.
# usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR [SECONDS]}
seconds=${2:-60}
src=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/distill-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

for t in recipe elf image; do
	mkdir -p "$work/$t"
	[ -d "$src/$t" ] && cp "$src/$t"/* "$work/$t/"
done
cp /usr/bin/true "$work/elf/true"
cp -L /lib/x86_64-linux-gnu/libz.so.1 "$work/elf/libz.so.1"
printf 'int main(void) { return 0; }\n' | gcc -x c - -static-pie -o "$work/elf/static-pie"
printf 'int f(void) { return 1; }\n' | gcc -x c - -shared -fPIC -Wl,-soname,libf.so.1 \
	-Wl,-rpath,'$ORIGIN/../lib:$LIB' -Wl,--enable-new-dtags -o "$work/elf/libf.so"
python3 - "$work/image" "$src/../integration" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
import os
os.environ.setdefault("DISTILL", "distill")
os.environ.setdefault("SOURCE_DIR", ".")
import hostile
out = sys.argv[1]
hostile.archive(f"{out}/plain.tar")
second = [("etc/.wh.passwd", "f", b"", 0o644), ("srv/.wh..wh..opq", "f", b"", 0o644),
          ("usr/", "d", None, 0o755), ("usr/bin/", "d", None, 0o755), ("usr/bin/x", "l", "../../etc", 0o777),
          ("usr/bin/y", "h", "usr/bin/x", 0o755),
          ("root/.ssh/id_rsa", "f", b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n", 0o600)]
hostile.archive(f"{out}/two-layers.tar", [hostile.GOOD_LAYER, second])
# plain layers let mutations reach the tar headers and the whiteouts
hostile.archive(f"{out}/plain-layers.tar", [hostile.GOOD_LAYER, second], compress=False)
# what hostile.py refuses or applies with care: hardlinks whose target is
# whited out or written again, whiteouts of their own layer, nested filters,
# sparse entries of each kind, names at PATH_MAX; whole archives, and layers
# the fuzzer wraps itself (fuzz_image.c) so that mutations pass the digests
gz = hostile.CODECS["gzip"][1]
links = hostile.GOOD_LAYER + hostile.BIN + [
    ("bin/dash", "f", hostile.DASH, 0o4755), ("bin/x", "h", "bin/dash", 0o644),
    ("sbin/y", "h", "bin/x", 0o600), ("bin/dash", "f", b"#!/bin/sh\n", 0o755),
    ("etc/ssl/", "d", None, 0o755), ("etc/ssl/certs/", "d", None, 0o755), ("etc/ssl/certs/a.pem", "f", b"-----\n", 0o644),
    ("etc/ssl/certs/ca-certificates.crt", "h", "etc/ssl/certs/a.pem", 0o644)]
upper = [("bin/.wh.dash", "f", b"", 0o644), ("bin/w", "f", b"w", 0o644), ("bin/.wh.w", "f", b"", 0o644),
         ("sbin/.wh..wh..opq", "f", b"", 0o644), ("sbin/v", "h", "bin/x", 0o755), ("etc/.wh.passwd", "f", b"", 0o644)]
sparse = [("raw", "raw", hostile.sparse_entry("etc/s", b"s" * 100, 1 << 40, kind), 0)
          for kind in ("gnu", "pax-0.0", "pax-0.1", "pax-1.0")]
long_name = [("etc/" + "n" * 4090, "f", b"", 0o644), ("etc/l", "l", "t" * 4094, 0o777)]
seeds = {
    "links": [links, upper], "sparse": [hostile.GOOD_LAYER + sparse[:2], sparse[2:]],
    "names": [hostile.GOOD_LAYER + long_name],
}
for name, layers in seeds.items():
    hostile.archive(f"{out}/{name}.tar", layers, compress=False)
    hostile.docker_archive(f"{out}/{name}-docker.tar", layers)
    for mode in (0, 1):  # OCI, docker
        with open(f"{out}/{name}-wrapped-{mode}", "wb") as f:
            f.write(b"LAYERS\n" + bytes([mode]) + b"\n--LAYER--\n".join(hostile.tar_bytes(l) for l in layers))
nested = {"gzip-gzip": ("gzip", hostile.nested(gz, gz)), "gzip-xz": ("gzip", hostile.nested(gz, hostile.lzma.compress)),
          "none-bzip2": ("none", hostile.bz2.compress)}
if hostile.shutil.which("zstd"):
    nested["zstd-zstd"] = ("zstd", hostile.nested(hostile.zstd, hostile.zstd))
for name, (media, encode) in nested.items():
    hostile.archive(f"{out}/filter-{name}.tar", [links], compress=media, encode=encode)
    with open(f"{out}/filter-{name}-wrapped", "wb") as f:
        f.write(b"LAYERS\n" + bytes([{"none": 0, "gzip": 2, "zstd": 4}[media]]) + encode(hostile.tar_bytes(links)))
PY

for t in recipe elf image; do
	echo "== fuzz_$t for ${seconds}s"
	"$build/fuzz_$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix="$work/crash-$t-" "$work/$t" 2>&1 |
		grep -E '^(stat::number_of_executed_units|stat::new_units_added|==[0-9]+==ERROR|SUMMARY|INFO: Seed|Done)' || true
	if ls "$work"/crash-$t-* >/dev/null 2>&1; then
		mkdir -p "$src/$t"
		cp "$work"/crash-$t-* "$src/$t/" 2>/dev/null || true
		echo "fuzz_$t found a crash; kept in tests/fuzz/$t/" >&2
		exit 1
	fi
done
echo "PASS: no crash"
