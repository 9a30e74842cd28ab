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
