#!/bin/bash
# The layer cache: a hit gives the bytes of a miss and of --no-cache; a
# changed application rebuilds only its layer; a corrupt blob or record is
# found, said, never used, and rebuilt; the size bound evicts; builds
# running at once share one cache.
. "$(dirname "$0")/lib.sh"
need gcc

cat >"$WORK/app.c" <<'C'
#include <stdio.h>
int main(void) { puts("version one"); return 0; }
C
gcc -O2 -o "$WORK/app" "$WORK/app.c"
cat >"$WORK/app.yaml" <<'Y'
name: distill-test/cache
contents:
  binaries:
    - {source: app, path: /usr/local/bin/app}
Y
C="$WORK/cache"
build() { "$DISTILL" build "$WORK/app.yaml" -o "$WORK/$1.tar" -v "${@:2}" >"$WORK/$1.log"; }
hits() { grep -c '(from the cache)$' "$WORK/$1.log" || true; }
layers() { grep -c '^layer ' "$WORK/$1.log"; }

build none --no-cache
build cold --cache "$C" --jobs 1
build warm --cache "$C" --jobs 2
cmp "$WORK/none.tar" "$WORK/cold.tar" || fail "a cold cache gives other bytes than --no-cache"
cmp "$WORK/none.tar" "$WORK/warm.tar" || fail "a warm cache gives other bytes than --no-cache"
[ "$(hits cold)" = 0 ] || fail "the cold build used the cache"
[ "$(hits warm)" = "$(layers warm)" ] || fail "the warm build did not take every layer from the cache"
"$DISTILL" check "$WORK/warm.tar" >/dev/null || fail "the image made from the cache fails distill check"

# the default place: $XDG_CACHE_HOME/distill
XDG_CACHE_HOME="$WORK/xdg" "$DISTILL" build "$WORK/app.yaml" -o "$WORK/xdg.tar" -q
ls "$WORK/xdg/distill/layers/"*.gzip-[0-9]* >/dev/null 2>&1 || fail "nothing kept under \$XDG_CACHE_HOME/distill"
cmp "$WORK/none.tar" "$WORK/xdg.tar" || fail "the default cache gives other bytes"

# a new application: its layer is built, the others come from the cache
sed -i 's/version one/version two/' "$WORK/app.c"
gcc -O2 -o "$WORK/app" "$WORK/app.c"
build changed --cache "$C"
build changed-none --no-cache
cmp "$WORK/changed.tar" "$WORK/changed-none.tar" || fail "after a change, the cache gives other bytes"
[ "$(hits changed)" = $(($(layers changed) - 1)) ] || fail "a changed application did not reuse the other layers"

# a corrupt blob: found by its digest, said, removed, rebuilt
blob=$(ls -S "$C/layers/"*.gzip-[0-9]* | head -1)
printf 'X' | dd of="$blob" bs=1 seek=100 conv=notrunc status=none
"$DISTILL" build "$WORK/app.yaml" -o "$WORK/repaired.tar" --cache "$C" -q 2>"$WORK/repaired.err"
grep -q "is corrupt" "$WORK/repaired.err" || fail "a corrupt blob was not reported: $(cat "$WORK/repaired.err")"
cmp "$WORK/changed-none.tar" "$WORK/repaired.tar" || fail "a corrupt blob changed the image"
build again --cache "$C"
[ "$(hits again)" = "$(layers again)" ] || fail "the corrupt blob was not rebuilt into the cache"
cmp "$WORK/changed-none.tar" "$WORK/again.tar" || fail "the rebuilt cache gives other bytes"

# a damaged record: a miss, never an error
for k in "$C/keys/"* "$C/content/"*; do printf 'garbage\n' >"$k"; done
build records --cache "$C"
[ "$(hits records)" = 0 ] || fail "damaged records were used"
cmp "$WORK/changed-none.tar" "$WORK/records.tar" || fail "damaged records changed the image"

# the bound: above it the least recently used blobs go
DISTILL_CACHE_MAX=1 "$DISTILL" build "$WORK/app.yaml" -o "$WORK/bounded.tar" --cache "$WORK/small" -q
[ -z "$(ls "$WORK/small/layers")" ] || fail "a 1-byte cache kept blobs: $(ls "$WORK/small/layers")"
cmp "$WORK/changed-none.tar" "$WORK/bounded.tar" || fail "the bound changed the image"

# four builds at once into one cold cache, then a warm one
for i in 1 2 3 4; do
	"$DISTILL" build "$WORK/app.yaml" -o "$WORK/par$i.tar" --cache "$WORK/shared" -q --jobs 2 &
done
wait
for i in 1 2 3 4; do
	cmp "$WORK/changed-none.tar" "$WORK/par$i.tar" || fail "concurrent build $i gave other bytes"
done
build shared --cache "$WORK/shared"
[ "$(hits shared)" = "$(layers shared)" ] || fail "the shared cache is not complete after concurrent builds"
cmp "$WORK/changed-none.tar" "$WORK/shared.tar" || fail "the shared cache gives other bytes"
[ -z "$(find "$WORK/shared" -name '.tmp.*')" ] || fail "temporary files left in the cache"

# an explicit cache that cannot be made is an error; the default one is not
echo file >"$WORK/not-a-dir"
if "$DISTILL" build "$WORK/app.yaml" -o "$WORK/x.tar" --cache "$WORK/not-a-dir/c" -q 2>"$WORK/err"; then
	fail "an impossible --cache was accepted"
fi
grep -q "not-a-dir" "$WORK/err" || fail "the error does not name the cache: $(cat "$WORK/err")"
XDG_CACHE_HOME="$WORK/not-a-dir" "$DISTILL" build "$WORK/app.yaml" -o "$WORK/y.tar" -q ||
	fail "an unusable default cache failed the build"
echo "PASS: cache hits, misses, changes, corruption, bounds and concurrency give the same bytes"
