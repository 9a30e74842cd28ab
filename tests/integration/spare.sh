#!/bin/bash
# Spares: the output a build replaces is kept in the cache and the next
# build into that directory writes over it.  The bytes are always those of
# --no-cache, longer or shorter than before; the new file has a new file's
# mode; and a replaced output that anyone else could still see (another
# link, an open reader, extended attributes, a symbolic link at the name)
# is never written over.
. "$(dirname "$0")/lib.sh"
need gcc python3

cat >"$WORK/app.c" <<'C'
#include <stdio.h>
int main(void) { puts("spare"); return 0; }
C
gcc -O2 -o "$WORK/app" "$WORK/app.c"
# incompressible data: the image is well above the 1 MiB a spare needs
data() { head -c "$1" /dev/urandom >"$WORK/data.bin"; }
data 2500000
cat >"$WORK/app.yaml" <<'Y'
name: distill-test/spare
contents:
  binaries:
    - {source: app, path: /usr/local/bin/app}
  files:
    - {source: data.bin, path: /usr/share/spare/data.bin}
Y
C="$WORK/cache"
O="$WORK/out"
mkdir "$O"
build() { "$DISTILL" build "$WORK/app.yaml" -o "${1:-$O/img.tar}" --cache "$C" -q; }
same_as_no_cache() {
	"$DISTILL" build "$WORK/app.yaml" -o "$WORK/ref.tar" --no-cache -q
	cmp "$WORK/ref.tar" "${2:-$O/img.tar}" || fail "$1: other bytes than --no-cache"
}
spares() { find "$C/layers" -name 'spare-*' | wc -l; }
spare_ino() { find "$C/layers" -name 'spare-*' -printf '%i\n'; }
ino() { stat -c %i "$1"; }

# the first output replaces nothing; the second keeps the first as a spare;
# the third is written over it
build
[ "$(spares)" = 0 ] || fail "a spare made when nothing was replaced"
first=$(ino "$O/img.tar")
build
[ "$(spares)" = 1 ] || fail "the replaced output was not kept as a spare"
[ "$(spare_ino)" = "$first" ] || fail "the spare is not the replaced output"
second=$(ino "$O/img.tar")
build
[ "$(ino "$O/img.tar")" = "$first" ] || fail "the third build did not write over the spare"
[ "$(spare_ino)" = "$second" ] || fail "the second output did not become the spare"
same_as_no_cache "written over a spare"
"$DISTILL" check "$O/img.tar" >/dev/null || fail "an image written over a spare fails distill check"

# longer, then shorter than the spare: the old tail is gone
data 4000000
build
same_as_no_cache "longer than its spare"
data 1500000
build
build
same_as_no_cache "shorter than its spare"

# a new file's mode and group, whatever the replaced output had
chmod 0600 "$O/img.tar"
build
build
want=$(printf '%o' $((0666 & ~$(umask))))
[ "$(stat -c %a "$O/img.tar")" = "$want" ] || fail "written over a 0600 spare: mode $(stat -c %a "$O/img.tar"), not $want"
[ "$(stat -c %g "$O/img.tar")" = "$(id -g)" ] || fail "written over a spare: group $(stat -c %g "$O/img.tar")"

# another link to the output: that name keeps the old image, never a spare
ln "$O/img.tar" "$WORK/kept.tar"
sum=$(sha256sum <"$WORK/kept.tar")
build
build
build
[ "$(sha256sum <"$WORK/kept.tar")" = "$sum" ] || fail "a hard link to an old output was written over"
[ "$(spare_ino)" != "$(ino "$WORK/kept.tar")" ] || fail "a file with another link became a spare"

# an open reader of the old output reads the old output to the end
exec 3<"$O/img.tar"
held=$(ino "$O/img.tar")
sum=$(sha256sum </proc/self/fd/3)
build
[ "$(spare_ino)" != "$held" ] || fail "an output held open became a spare"
build
build
[ "$(sha256sum </proc/self/fd/3)" = "$sum" ] || fail "an output held open was written over"
exec 3<&-

# extended attributes (an ACL, a label) are not a new file's: no spare
if python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.distill-test", b"1")' "$O/img.tar" 2>/dev/null; then
	marked=$(ino "$O/img.tar")
	build
	[ "$(spare_ino)" != "$marked" ] || fail "an output with extended attributes became a spare"
else
	echo "note: $O does not take user extended attributes; that case is not tested here"
fi

# a symbolic link at the output's name is replaced, its target untouched
build "$WORK/target.tar"
sum=$(sha256sum <"$WORK/target.tar")
ln -s "$WORK/target.tar" "$O/link.tar"
build "$O/link.tar"
build "$O/link.tar"
[ ! -L "$O/link.tar" ] || fail "the output is still a symbolic link"
[ "$(sha256sum <"$WORK/target.tar")" = "$sum" ] || fail "the target of a symbolic link output was written over"
same_as_no_cache "replacing a symbolic link" "$O/link.tar"

# builds at once into one output: each whole, one spare at most, no
# temporary file left
for round in 1 2; do
	for i in 1 2 3 4; do
		build &
	done
	wait
done
same_as_no_cache "builds at once"
[ "$(spares)" -le 1 ] || fail "$(spares) spares for one directory"
[ -z "$(find "$C" "$O" -name '.tmp.*' -o -name '.img.tar.*')" ] || fail "temporary files left behind"

# another file system than the cache's: no spare, the same bytes
if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(stat -c %d /dev/shm)" != "$(stat -c %d "$WORK")" ]; then
	shm=$(mktemp -d /dev/shm/distill-spare.XXXXXX)
	on_exit "rm -rf '$shm'"
	before=$(spares)
	build "$shm/img.tar"
	build "$shm/img.tar"
	same_as_no_cache "on another file system" "$shm/img.tar"
	[ "$(spares)" = "$before" ] || fail "a spare kept across file systems"
else
	echo "note: no writable /dev/shm on another file system; that case is not tested here"
fi

# spares count in the cache's bound
data 2000000
DISTILL_CACHE_MAX=1 build
[ "$(spares)" = 0 ] || fail "a 1-byte cache kept a spare"
same_as_no_cache "under a 1-byte bound"
echo "PASS: outputs are written over spares only when nobody else can see them, with the bytes of --no-cache"
