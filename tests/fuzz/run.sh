#!/bin/bash
# Run libFuzzer targets for SECONDS each (default 60) under the sanitizers
# they were built with. Seeds: the recipes here, ELF files of this machine
# and small image archives made on the spot (no binary is checked in), all
# in a scratch directory, so that the inputs the fuzzer adds never reach the
# source tree; inputs that once crashed are kept in tests/fuzz/<target>/ and
# are seeds too. meson runs each target for 20 seconds as a test (suite
# fuzz, a -Dfuzzing=true clang build); this script by hand is for longer runs.
# A crash is kept in BUILD_DIR/fuzz-crashes/, for a person to add as a seed.
# usage: tests/fuzz/run.sh BUILD_DIR [SECONDS [TARGET...]]   TARGET: recipe elf image publish
# DISTILL_FUZZ_SECONDS, when set, overrides SECONDS.
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR [SECONDS [TARGET...]]}
seconds=${DISTILL_FUZZ_SECONDS:-${2:-60}} # the environment wins: CI asks the meson tests for longer
shift $(($# < 2 ? $# : 2))
targets=${*:-recipe elf image publish}
src=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/distill-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# the recipes kept in tests/fuzz/recipe/ are the parser's seeds, and the
# references, challenges, auth files, payloads and envelopes in
# tests/fuzz/publish/ the registry client's (a first byte picks the parser)
seed_recipe() { :; }
seed_publish() { :; }

seed_elf() {
	cp /usr/bin/true "$work/elf/true"
	cp -L /lib/x86_64-linux-gnu/libz.so.1 "$work/elf/libz.so.1"
	printf 'int main(void) { return 0; }\n' | gcc -x c - -static-pie -o "$work/elf/static-pie"
	printf 'int f(void) { return 1; }\n' | gcc -x c - -shared -fPIC -Wl,-soname,libf.so.1 \
		-Wl,-rpath,'$ORIGIN/../lib:$LIB' -Wl,--enable-new-dtags -o "$work/elf/libf.so"
	# programs as cargo auditable and Go leave them: a zlib-compressed
	# .dep-v0, a .go.buildinfo of Go 1.18's format
	python3 - "$work" <<'PY'
import json, sys, zlib
work = sys.argv[1]
deps = {"packages": [{"name": "app", "version": "0.1.0", "source": "local", "root": True, "dependencies": [1]},
                     {"name": "serde", "version": "1.0.0", "source": "crates.io", "kind": "runtime"}]}
open(work + "/dep-v0", "wb").write(zlib.compress(json.dumps(deps).encode()))
def varint(n):
    out = b""
    while True:
        out += bytes([(n & 0x7f) | (0x80 if n > 0x7f else 0)])
        n >>= 7
        if not n:
            return out
mod = (b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6" + b"path\tex.com/a\nmod\tex.com/a\t(devel)\t\n"
       b"dep\tex.com/b\tv1.0.0\n=>\tex.com/c\tv1.1.0\th1:x=\n" + b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2")
head = b"\xff Go buildinf:\x08\x02" + bytes(16)
open(work + "/go-buildinfo", "wb").write(head + varint(8) + b"go1.21.5" + varint(len(mod)) + mod)
PY
	objcopy --add-section .dep-v0="$work/dep-v0" "$work/elf/true" "$work/elf/cargo-auditable"
	objcopy --add-section .go.buildinfo="$work/go-buildinfo" "$work/elf/true" "$work/elf/go"
	cp "$work/go-buildinfo" "$work/elf/go-buildinfo"
	printf '{"name": "@a/b", "version": "1.0.0", "license": "(MIT OR Apache-2.0) AND ISC"}' >"$work/elf/package.json"
	printf 'Name: a_b\nVersion: 1\nLicense-Expression: GPL-2.0-or-later WITH Classpath-exception-2.0\n\n' \
		>"$work/elf/METADATA"
	printf 'a/b.py,sha256=x,1\n"c,""d"".py",,\n../../bin/x,,\n' >"$work/elf/RECORD"
}

seed_image() {
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
# the packages diff and inspect --packages read: a status.d stanza and its
# md5sums, an npm package, a Python distribution and its RECORD
packages = [("var/", "d", None, 0o755), ("var/lib/", "d", None, 0o755), ("var/lib/dpkg/", "d", None, 0o755),
            ("var/lib/dpkg/status.d/", "d", None, 0o755),
            ("var/lib/dpkg/status.d/zlib1g", "f", b"Package: zlib1g\nVersion: 1:1.2.13\nArchitecture: amd64\n", 0o644),
            ("var/lib/dpkg/status.d/zlib1g.md5sums", "f", b"0" * 32 + b"  usr/lib/libz.so.1\n", 0o644),
            ("app/", "d", None, 0o755), ("app/node_modules/", "d", None, 0o755),
            ("app/node_modules/a/", "d", None, 0o755),
            ("app/node_modules/a/package.json", "f", b'{"name": "a", "version": "1.0.0-rc.1"}', 0o644),
            ("site/", "d", None, 0o755), ("site/b-2.0.dist-info/", "d", None, 0o755),
            ("site/b-2.0.dist-info/METADATA", "f", b"Name: b\nVersion: 2.0.post1\n\n", 0o644),
            ("site/b-2.0.dist-info/RECORD", "f", b"b/__init__.py,,\n../x,,\n", 0o644)]
hostile.archive(f"{out}/packages.tar", [hostile.GOOD_LAYER + packages], compress=False)
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
}

for t in $targets; do
	[ -x "$build/fuzz_$t" ] || { echo "no $build/fuzz_$t: build with -Dfuzzing=true (clang)" >&2; exit 1; }
	mkdir -p "$work/$t"
	if [ -d "$src/$t" ]; then cp "$src/$t"/* "$work/$t/"; fi
	"seed_$t"
	echo "== fuzz_$t for ${seconds}s, $(ls "$work/$t" | wc -l) seeds"
	# the exit code is libFuzzer's 77 for a crash, which meson would read as
	# a skip: a crash is turned into a failure here
	rc=0
	"$build/fuzz_$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix="$work/crash-$t-" "$work/$t" >"$work/$t.log" 2>&1 || rc=$?
	grep -E '^(stat::number_of_executed_units|stat::new_units_added|INFO: Seed|Done)' "$work/$t.log" || true
	if [ "$rc" != 0 ] || ls "$work"/crash-$t-* >/dev/null 2>&1; then
		tail -n 60 "$work/$t.log"
		mkdir -p "$build/fuzz-crashes"
		cp "$work"/crash-$t-* "$build/fuzz-crashes/" 2>/dev/null || true
		echo "FAIL: fuzz_$t exited $rc; its input is kept in $build/fuzz-crashes/" \
			"(copy it to tests/fuzz/$t/ once fixed: it is a seed from then on)" >&2
		exit 1
	fi
done
echo "PASS: no crash"
