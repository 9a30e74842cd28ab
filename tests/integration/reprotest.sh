#!/bin/bash
# Debian's reprotest builds a dynamic program's image twice, the second time
# with its variations: environment, build path, kernel personality, ASLR,
# CPUs, time (faketime), file ordering (disorderfs), host and domain names,
# home, locale, PATH, time zone and umask. Only user_group is left out: it
# needs accounts set up for it. The two archives must be the same bytes.
. "$(dirname "$0")/lib.sh"
need reprotest gcc faketime disorderfs
need_root # disorderfs mounts and the domain_host variation need it

mkdir -p "$WORK/src"
cat >"$WORK/hello.c" <<'C'
#include <stdio.h>
int main(void) { puts("hello"); return 0; }
C
gcc -O2 -o "$WORK/src/hello" "$WORK/hello.c"
cat >"$WORK/src/hello.yaml" <<'Y'
name: distill-test/reprotest
contents:
  binaries:
    - {source: hello, path: /usr/local/bin/hello}
entrypoint: [/usr/local/bin/hello]
Y

# faketime preloads a library; ASan wants to come first, which is harmless here.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
cd "$WORK"
if ! reprotest --variations=+all,-user_group --store-dir "$WORK/artifacts" -s "$WORK/src" \
	"$DISTILL build hello.yaml -o hello.tar" hello.tar >"$WORK/log" 2>&1; then
	cat "$WORK/log"
	fail "reprotest did not reproduce the image"
fi
cat "$WORK/log"
grep -q '^Reproduction successful' "$WORK/log" || fail "reprotest did not say the reproduction succeeded"
# reprotest keeps the control's archive and, when every build agreed, one sum
kept="$WORK/artifacts/control/source-root/hello.tar"
[ -s "$kept" ] || fail "reprotest kept no archive: the build made nothing"
"$DISTILL" check "$kept" >/dev/null || fail "the archive reprotest built does not pass distill check"
[ "$(cut -d' ' -f1 "$WORK/artifacts/SHA256SUMS")" = "$(sha256sum <"$kept" | cut -d' ' -f1)" ] ||
	fail "reprotest's SHA256SUMS is not the control archive's sum"
echo "PASS: reprotest reproduced the image under its variations"
