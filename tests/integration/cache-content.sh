#!/bin/bash
# The layer cache by content, as CI uses it: fresh clones of a project (in
# another directory, with other mtimes; and a copy through tar, with other
# inodes, on another file system when there is one) build with the first
# clone's cache directory copied in.  Every layer whose content the cache
# has comes from it, only a changed application is compressed, and the
# bytes are those of a build without a cache.  A cache entry whose blob
# holds another layer than its record claims is found, said once, removed
# and rebuilt, and never goes into an image.
. "$(dirname "$0")/lib.sh"
need gcc tar

# build NAME DIR [OPTION]...: DIR's recipe into $WORK/NAME.tar, -v -v in NAME.log
build() {
	local name=$1 dir=$2
	shift 2
	"$DISTILL" build "$dir/app.yaml" -o "$WORK/$name.tar" -v -v --source-date-epoch 1700000000 "$@" \
		>"$WORK/$name.log" 2>"$WORK/$name.err" || fail "build $name: $(cat "$WORK/$name.err")"
}
hits() { grep -c '(from the cache)$' "$WORK/$1.log" || true; }
layers() { grep -c '^layer ' "$WORK/$1.log"; }
# fresh SRC DST: a clone of SRC made now (new inodes, new mtimes)
fresh() {
	rm -rf "$2"
	mkdir -p "$2"
	cp -r "$1/." "$2/"
	touch -d '2001-02-03 04:05:06' "$2/data.txt"
}

project "$WORK/a" "version one"
build cold "$WORK/a" --cache "$WORK/ca"
[ "$(hits cold)" = 0 ] || fail "a cold cache gave layers"

echo "== a second clone, elsewhere, with the cache copied in"
fresh "$WORK/a" "$WORK/b"
cp -r "$WORK/ca" "$WORK/cb"
build b "$WORK/b" --cache "$WORK/cb"
build b-none "$WORK/b" --no-cache
cmp -s "$WORK/b.tar" "$WORK/b-none.tar" || fail "the clone's build from the copied cache differs from one without"
cmp -s "$WORK/b.tar" "$WORK/cold.tar" || fail "the clone's image differs from the first clone's"
[ "$(hits b)" = "$(layers b)" ] || fail "the clone took $(hits b) of $(layers b) layers from the copied cache"
# now known by its files here too: the next build does not hash the layers
build b-again "$WORK/b" --cache "$WORK/cb"
[ "$(hits b-again)" = "$(layers b-again)" ] || fail "a second build of the clone missed"

echo "== another machine: its files known to none of the records by files (keys/)"
fresh "$WORK/a" "$WORK/m"
mkdir "$WORK/cm"
cp -r "$WORK/ca/layers" "$WORK/ca/content" "$WORK/cm/"
build m "$WORK/m" --cache "$WORK/cm"
cmp -s "$WORK/m.tar" "$WORK/cold.tar" || fail "another machine's image differs"
[ "$(hits m)" = "$(layers m)" ] || fail "with layers/ and content/ alone, $(hits m) of $(layers m) layers came from the cache"
[ ! -s "$WORK/m.err" ] || fail "another machine's build said: $(cat "$WORK/m.err")"

echo "== an app-only change in the clone"
gcc -O2 -o "$WORK/b/app" -x c - <<<'#include <stdio.h>
int main(void) { puts("version two"); return 0; }'
build b2 "$WORK/b" --cache "$WORK/cb"
build b2-none "$WORK/b" --no-cache
cmp -s "$WORK/b2.tar" "$WORK/b2-none.tar" || fail "after an app-only change, the cache gives other bytes"
[ "$(hits b2)" = $(($(layers b2) - 1)) ] || fail "an app-only change took $(hits b2) of $(layers b2) layers from the cache"

echo "== a copy through tar, on another file system when there is one"
where=$WORK
if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(stat -f -c %T /dev/shm)" != "$(stat -f -c %T "$WORK")" ]; then
	where=$(mktemp -d /dev/shm/distill-content.XXXXXX)
	on_exit "rm -rf '$where'"
else
	echo "  (no other file system writable: the copy stays on this one, with other inodes)"
fi
(cd "$WORK" && tar -cf - a ca) | (cd "$where" && mkdir -p t && tar -xf - -C t)
touch "$where/t/a/app" "$where/t/a/data.txt"
build c "$where/t/a" --cache "$where/t/ca"
cmp -s "$WORK/c.tar" "$WORK/cold.tar" || fail "the tar copy's image differs"
[ "$(hits c)" = "$(layers c)" ] || fail "the tar copy took $(hits c) of $(layers c) layers from its cache"

echo "== a planted entry: a blob that is not the layer its records claim"
cp -r "$WORK/ca" "$WORK/cp"
# the largest blob (the libraries) replaced by the smallest (another
# layer), and every record that names it made to agree with its bytes
big=$(ls -S "$WORK/cp/layers/"*.gzip-* | head -1)
small=$(ls -S "$WORK/cp/layers/"*.gzip-* | tail -1)
[ "$big" != "$small" ] || fail "one blob only in the cache"
hex=$(basename "$big")
hex=${hex%%.*}
cp "$small" "$big"
digest=sha256:$(sha256sum "$big" | cut -d' ' -f1)
size=$(stat -c %s "$big")
n=0
for r in $(grep -l "^diff_id sha256:$hex$" "$WORK/cp/keys/"* "$WORK/cp/content/"*); do
	sed -i -e "s/^digest .*/digest $digest/" -e "s/^size .*/size $size/" -e 's/^seen .*/seen -/' "$r"
	n=$((n + 1))
done
[ "$n" = 2 ] || fail "the libraries layer has $n records, expected one by files (keys/) and one by content (content/)"
fresh "$WORK/a" "$WORK/d"
build planted "$WORK/d" --cache "$WORK/cp"
cmp -s "$WORK/planted.tar" "$WORK/cold.tar" || fail "a planted blob changed the image"
grep -q "decompresses to the layer .*, not to sha256:$hex" "$WORK/planted.err" ||
	fail "the planted blob was not said: $(cat "$WORK/planted.err")"
[ "$(hits planted)" = $(($(layers planted) - 1)) ] || fail "$(hits planted) layers from the planted cache"
"$DISTILL" check "$WORK/planted.tar" >/dev/null || fail "the image built past a planted blob fails check"
# said once: it was removed, and the layer rebuilt into the cache
fresh "$WORK/a" "$WORK/e"
build replanted "$WORK/e" --cache "$WORK/cp"
[ ! -s "$WORK/replanted.err" ] || fail "the planted blob was said again: $(cat "$WORK/replanted.err")"
[ "$(hits replanted)" = "$(layers replanted)" ] || fail "the rebuilt layer is not in the cache"
cmp -s "$WORK/replanted.tar" "$WORK/cold.tar" || fail "the repaired cache gives other bytes"

echo "== a blob whose bytes changed under its record: corrupt, said, rebuilt"
cp -r "$WORK/ca" "$WORK/cq"
big=$(ls -S "$WORK/cq/layers/"*.gzip-* | head -1)
printf 'X' | dd of="$big" bs=1 seek=100 conv=notrunc status=none
fresh "$WORK/a" "$WORK/f"
build corrupt "$WORK/f" --cache "$WORK/cq"
grep -q "is corrupt" "$WORK/corrupt.err" || fail "the corrupt blob was not said: $(cat "$WORK/corrupt.err")"
cmp -s "$WORK/corrupt.tar" "$WORK/cold.tar" || fail "a corrupt blob changed the image"
echo "cache-content: all checks passed"
