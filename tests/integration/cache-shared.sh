#!/bin/bash
# The layer cache where another local user can reach it.  A layer key is
# made of what every user can see, so another user can plant a layer under
# it: a cache directory that is another user's, writable by group or
# others, or a symbolic link is refused (--cache) or left out with a
# warning (the default one); a record, blob or note that is not the
# builder's own is not used; eviction removes only the cache's own names,
# never through a planted `layers` symlink; and a build killed by SIGTERM
# or SIGINT leaves no temporary file in the cache or beside its output,
# with O_TMPFILE and without (an LD_PRELOAD shim refuses it).
. "$(dirname "$0")/lib.sh"
need gcc useradd userdel find
[ "$(id -u)" = 0 ] || skip "needs root: a second local user (useradd) owns the planted files"
env --default-signal=INT true 2>/dev/null || skip "env --default-signal (coreutils 8.31) is missing"

OTHER=distill-other-$$
useradd --system --no-create-home --shell /usr/sbin/nologin "$OTHER" >/dev/null 2>&1 || skip "useradd $OTHER failed"
on_exit "userdel $OTHER >/dev/null 2>&1 || true; groupdel $OTHER >/dev/null 2>&1 || true"

cat >"$WORK/app.c" <<'C'
#include <stdio.h>
int main(void) { puts("the victim's program"); return 0; }
C
cat >"$WORK/evil.c" <<'C'
#include <stdio.h>
int main(void) { puts("the other user's program"); return 0; }
C
gcc -O2 -o "$WORK/app" "$WORK/app.c"
gcc -O2 -o "$WORK/evil" "$WORK/evil.c"
recipe() {
	printf 'name: distill-test/cache-shared\ncontents:\n  binaries:\n    - {source: %s, path: /usr/local/bin/app}\n' "$1"
}
recipe app >"$WORK/app.yaml"
recipe evil >"$WORK/evil.yaml"
# build NAME ARGS...: app.yaml into NAME.tar, its output in NAME.log and NAME.err
build() { "$DISTILL" build "$WORK/app.yaml" -o "$WORK/$1.tar" -v "${@:2}" >"$WORK/$1.log" 2>"$WORK/$1.err"; }
hits() { grep -c '(from the cache)$' "$WORK/$1.log" || true; }
layers() { grep -c '^layer ' "$WORK/$1.log"; }
# records DIR: the names of the layer records in a cache
records() { grep -l '^distill-cache ' "$1"/keys/* | xargs -n1 basename | sort; }
build none --no-cache

# 1. A cache directory another user could write in is refused as --cache,
# with its name and the reason; as the default one it is left out, said.
mkdir -m 0700 "$WORK/theirs" "$WORK/open" "$WORK/group"
chown "$OTHER" "$WORK/theirs"
chmod 0777 "$WORK/open"
chmod 0775 "$WORK/group"
for c in theirs open group; do
	if build "refused-$c" --cache "$WORK/$c"; then
		fail "--cache $c (another user could write in it: $(stat -c '%U %a' "$WORK/$c")) was used"
	fi
	grep -q "cache \`$WORK/$c\` is .*refused" "$WORK/refused-$c.err" ||
		fail "the refusal of --cache $c does not say why: $(cat "$WORK/refused-$c.err")"
	[ ! -e "$WORK/refused-$c.tar" ] || fail "a refused cache still gave an image"
	[ -z "$(ls -A "$WORK/$c")" ] || fail "a refused cache was written in: $(ls -A "$WORK/$c")"
done
mkdir -p "$WORK/xdg-theirs/distill"
chown "$OTHER" "$WORK/xdg-theirs/distill"
chmod 0777 "$WORK/xdg-theirs/distill"
XDG_CACHE_HOME="$WORK/xdg-theirs" "$DISTILL" build "$WORK/app.yaml" -o "$WORK/xdg-theirs.tar" -q 2>"$WORK/xdg-theirs.err" ||
	fail "an unsafe default cache failed the build: $(cat "$WORK/xdg-theirs.err")"
grep -q "warning: cache \`$WORK/xdg-theirs/distill\` is owned by uid .*without the cache" "$WORK/xdg-theirs.err" ||
	fail "an unsafe default cache was used without a warning: $(cat "$WORK/xdg-theirs.err")"
cmp "$WORK/none.tar" "$WORK/xdg-theirs.tar" || fail "an unsafe default cache changed the image"
[ -z "$(ls -A "$WORK/xdg-theirs/distill")" ] || fail "an unsafe default cache was written in"
# a new cache is made 0700
build fresh --cache "$WORK/fresh/cache"
[ "$(stat -c %a "$WORK/fresh/cache" "$WORK/fresh/cache/layers" "$WORK/fresh/cache/keys" | sort -u)" = 700 ] ||
	fail "a new cache is not 0700: $(stat -c '%n %a' "$WORK/fresh/cache"{,/layers,/keys})"

# 2. The planted record: the other user computes the victim's layer key
# (from the file metadata anyone can read), and plants under it a record and
# a blob of their own program.  The keys are found by building both
# recipes: the application layer's key is the one that differs.
build keys-app --cache "$WORK/pa"
"$DISTILL" build "$WORK/evil.yaml" -o "$WORK/keys-evil.tar" -q --cache "$WORK/pb"
kv=$(comm -23 <(records "$WORK/pa") <(records "$WORK/pb"))
ke=$(comm -13 <(records "$WORK/pa") <(records "$WORK/pb"))
[ "$(echo "$kv" | wc -w)" = 1 ] && [ "$(echo "$ke" | wc -w)" = 1 ] ||
	fail "cannot tell the application layer's key: victim $kv, other $ke"
# blobs are named DIFF_ID.gzip-LEVEL, at distill's level
gzip_level=$(ls "$WORK/pb/layers" | sed -n 's/^[0-9a-f]\{64\}\.gzip-\([0-9]*\)$/\1/p' | head -1)
evil_blob=$(sed -n "s/^diff_id sha256:\(.*\)/\1.gzip-$gzip_level/p" "$WORK/pb/keys/$ke")
[ -f "$WORK/pb/layers/$evil_blob" ] || fail "no blob $evil_blob for the other user's record"
# plant DIR: the other user's record under the victim's key, and its blob
plant() {
	mkdir -p "$1/layers" "$1/keys"
	cp "$WORK/pb/layers/$evil_blob" "$1/layers/"
	sed "s/${ke#sha256:}/${kv#sha256:}/" "$WORK/pb/keys/$ke" >"$1/keys/$kv"
	chown "$OTHER" "$1/layers/$evil_blob" "$1/keys/$kv"
}
# a shared cache: the other user's, open to all
mkdir -p "$WORK/shared/distill"
plant "$WORK/shared/distill"
chown -R "$OTHER" "$WORK/shared/distill"
chmod 0777 "$WORK/shared/distill" "$WORK/shared/distill/layers" "$WORK/shared/distill/keys"
XDG_CACHE_HOME="$WORK/shared" "$DISTILL" build "$WORK/app.yaml" -o "$WORK/planted-shared.tar" -v \
	>"$WORK/planted-shared.log" 2>"$WORK/planted-shared.err" || fail "the planted default cache failed the build"
cmp "$WORK/none.tar" "$WORK/planted-shared.tar" || fail "the other user's planted layer was shipped (default cache)"
grep -q "warning: cache .*refused" "$WORK/planted-shared.err" || fail "the planted shared cache was not warned about"
if build planted-explicit --cache "$WORK/shared/distill"; then
	fail "the other user's cache was used as --cache"
fi
# the victim's own cache, safe now, still holding what the other user put
# there while they could (their files: another owner)
build own --cache "$WORK/own"
plant "$WORK/own"
build planted-own --cache "$WORK/own"
cmp "$WORK/none.tar" "$WORK/planted-own.tar" || fail "the other user's planted record and blob were used"
# the application layer: rebuilt, or found by its content in the victim's
# own content/ (build own kept it there), never the planted blob
layer3() { grep '^layer 3: ' "$WORK/$1.log" | grep -o 'sha256:[0-9a-f]*'; }
[ "$(layer3 planted-own)" = "$(layer3 own)" ] ||
	fail "the application layer is not the victim's: $(grep '^layer 3: ' "$WORK/planted-own.log")"
build planted-own-again --cache "$WORK/own"
[ "$(hits planted-own-again)" = "$(layers planted-own-again)" ] || fail "the rebuilt layer did not replace the planted one"
cmp "$WORK/none.tar" "$WORK/planted-own-again.tar" || fail "the rebuilt cache gives other bytes"
# a record of the builder's own copied under another key names its key: a miss
build moved --cache "$WORK/moved"
cp "$WORK/pb/keys/$ke" "$WORK/moved/keys/$kv"
cp "$WORK/pb/layers/$evil_blob" "$WORK/moved/layers/"
build moved-used --cache "$WORK/moved"
cmp "$WORK/none.tar" "$WORK/moved-used.tar" || fail "a record under another key than its own was used"

# 3. Eviction: a `layers` planted as a symlink is refused, and nothing in
# its target goes; in the cache itself only the cache's own names go.
mkdir "$WORK/precious"
head -c 100000 /dev/urandom >"$WORK/precious/data.bin"
echo keep >"$WORK/precious/notes.txt"
echo keep >"$WORK/precious/$(printf '%064d' 0).gzip-5"
(cd "$WORK/precious" && sha256sum -- * .[!.]* 2>/dev/null || true) >"$WORK/precious.sum"
mkdir -m 0700 "$WORK/linked" "$WORK/linked/keys"
ln -s "$WORK/precious" "$WORK/linked/layers"
chown -h "$OTHER" "$WORK/linked/layers"
if DISTILL_CACHE_MAX=1 build linked --cache "$WORK/linked"; then
	fail "a cache whose layers is a symlink was used"
fi
grep -q "layers\` is a symbolic link" "$WORK/linked.err" || fail "the symlink is not named: $(cat "$WORK/linked.err")"
mkdir -p "$WORK/xdg-linked/distill/keys"
ln -s "$WORK/precious" "$WORK/xdg-linked/distill/layers"
DISTILL_CACHE_MAX=1 XDG_CACHE_HOME="$WORK/xdg-linked" "$DISTILL" build "$WORK/app.yaml" -o "$WORK/xdg-linked.tar" -q \
	2>"$WORK/xdg-linked.err" || fail "a default cache with a symlinked layers failed the build"
grep -q "warning: .*layers\` is a symbolic link" "$WORK/xdg-linked.err" || fail "the symlinked default cache was not said"
(cd "$WORK/precious" && sha256sum -- * .[!.]* 2>/dev/null || true) | cmp -s - "$WORK/precious.sum" ||
	fail "eviction through a symlinked layers changed its target: $(ls -A "$WORK/precious")"
# strays in the cache's own layers: other names, another user's file under
# a blob's name, temporary names not the cache's; all stay
mkdir -m 0700 "$WORK/strays" "$WORK/strays/layers" "$WORK/strays/keys"
L="$WORK/strays/layers"
echo keep >"$L/notes.txt"
echo keep >"$L/README"
echo keep >"$L/$(printf '%064d' 0).gzip-5.orig"
echo keep >"$L/$(printf '%063d' 0).gzip-5"
echo keep >"$L/$(printf '%064d' 1).gzip-5"
chown "$OTHER" "$L/$(printf '%064d' 1).gzip-5"
echo keep >"$L/.tmp.abc"
echo keep >"$L/.tmp.Fresh1"
echo gone >"$L/.tmp.Stale1"
touch -d '2 days ago' "$L/.tmp.abc" "$L/.tmp.Stale1"
strays="notes.txt README $(printf '%064d' 0).gzip-5.orig $(printf '%063d' 0).gzip-5 $(printf '%064d' 1).gzip-5 .tmp.abc .tmp.Fresh1"
DISTILL_CACHE_MAX=1 build strays-evicted --cache "$WORK/strays"
cmp "$WORK/none.tar" "$WORK/strays-evicted.tar" || fail "eviction changed the image"
for f in $strays; do
	[ -e "$L/$f" ] || fail "eviction removed $f, not a name of the cache's"
done
[ ! -e "$L/.tmp.Stale1" ] || fail "a temporary file of a build killed two days ago was kept"
left=$(find "$L" -regex '.*/[0-9a-f]\{64\}\.gzip-[0-9]+' -user 0)
[ -z "$left" ] || fail "a 1-byte cache kept its blobs: $left"

# 4. A build killed while it writes a big layer leaves no temporary file,
# in the cache or beside -o; with O_TMPFILE and (the shim) without.
head -c 200M /dev/urandom >"$WORK/big.bin"
cat >"$WORK/big.yaml" <<'Y'
name: distill-test/cache-killed
contents:
  binaries:
    - {source: app, path: /usr/local/bin/app}
  files:
    - {source: big.bin, path: /data/big.bin}
Y
cat >"$WORK/no-tmpfile.c" <<'C'
/* A file system without O_TMPFILE, as vfat or an older NFS. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
static mode_t
mode_of(int flags, va_list ap)
{
  return (flags & (O_CREAT | __O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
}
#define REFUSE(flags)                                                          \
  if (((flags) & __O_TMPFILE) == __O_TMPFILE) {                                \
    errno = EOPNOTSUPP;                                                        \
    return -1;                                                                 \
  }
#define OPEN(name)                                                             \
  int name(const char *path, int flags, ...)                                   \
  {                                                                            \
    va_list ap;                                                                \
    va_start(ap, flags);                                                       \
    mode_t mode = mode_of(flags, ap);                                          \
    va_end(ap);                                                                \
    REFUSE(flags)                                                              \
    int (*real)(const char *, int, ...) = dlsym(RTLD_NEXT, #name);             \
    return real(path, flags, mode);                                            \
  }
#define OPENAT(name)                                                           \
  int name(int dir, const char *path, int flags, ...)                          \
  {                                                                            \
    va_list ap;                                                                \
    va_start(ap, flags);                                                       \
    mode_t mode = mode_of(flags, ap);                                          \
    va_end(ap);                                                                \
    REFUSE(flags)                                                              \
    int (*real)(int, const char *, int, ...) = dlsym(RTLD_NEXT, #name);        \
    return real(dir, path, flags, mode);                                       \
  }
OPEN(open)
OPEN(open64)
OPENAT(openat)
OPENAT(openat64)
C
gcc -shared -fPIC -o "$WORK/no-tmpfile.so" "$WORK/no-tmpfile.c" -ldl
# a big temporary cache file open: the build is in the big layer
in_big_layer() {
	local fd target
	for fd in /proc/"$1"/fd/*; do
		target=$(readlink "$fd" 2>/dev/null) || continue
		case $target in
		"$2"/layers/*) [ "$(stat -L -c %s "$fd" 2>/dev/null || echo 0)" -ge $((8 << 20)) ] && return 0 ;;
		esac
	done
	return 1
}
# killed SIG NAME [ENV...]
killed() {
	local sig=$1 name=$2 c="$WORK/$2" out="$WORK/$2-out" pid i status
	shift 2
	mkdir -p "$out"
	# a background job of a script ignores SIGINT: the build must not
	env --default-signal=INT,TERM "$@" "$DISTILL" build "$WORK/big.yaml" -o "$out/big.tar" -q --jobs 1 \
		--cache "$c" 2>"$WORK/$name.err" &
	pid=$!
	for ((i = 0; ; i++)); do
		in_big_layer "$pid" "$c" && break
		kill -0 "$pid" 2>/dev/null || fail "$name: the build ended before it was killed: $(cat "$WORK/$name.err")"
		[ "$i" -lt 6000 ] || { kill -KILL "$pid"; fail "$name: the big layer was never begun"; }
		sleep 0.01
	done
	kill -s "$sig" "$pid"
	wait "$pid" && status=0 || status=$?
	[ "$status" = $((128 + $(kill -l "$sig"))) ] || fail "$name: the build did not die of SIG$sig (status $status)"
	left=$(find "$c" "$out" -mindepth 1 -name '.*')
	[ -z "$left" ] || fail "$name: a build killed by SIG$sig left temporary files: $left"
	[ -z "$(ls -A "$out")" ] || fail "$name: a build killed by SIG$sig left $(ls -A "$out") beside its output"
}
killed TERM killed-term
killed INT killed-int
# the shim goes before an AddressSanitizer runtime, which then must not
# insist on coming first
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
killed TERM killed-term-named LD_PRELOAD="$WORK/no-tmpfile.so"
killed INT killed-int-named LD_PRELOAD="$WORK/no-tmpfile.so"
# and unkilled, without O_TMPFILE, the cache still works
LD_PRELOAD="$WORK/no-tmpfile.so" build named-cold --cache "$WORK/named"
LD_PRELOAD="$WORK/no-tmpfile.so" build named-warm --cache "$WORK/named"
[ "$(hits named-warm)" = "$(layers named-warm)" ] || fail "without O_TMPFILE nothing was kept in the cache"
cmp "$WORK/none.tar" "$WORK/named-warm.tar" || fail "without O_TMPFILE the cache gives other bytes"
[ -z "$(find "$WORK/named" -name '.tmp.*')" ] || fail "without O_TMPFILE temporary files were left"
rm -f "$WORK/big.bin"

# 5. The Debian packages of a file set, noted in the cache: a note that is
# not the builder's own is not used (it would strip packages from the SBOM).
if [ -e /var/lib/dpkg/status ] && [ -x /usr/bin/true ]; then
	printf 'name: distill-test/cache-notes\ncontents:\n  binaries:\n    - /usr/bin/true\n' >"$WORK/notes.yaml"
	notes() { "$DISTILL" build "$WORK/notes.yaml" -o "$WORK/$1.tar" -v "${@:2}" | grep -c '^package ' || true; }
	want=$(notes notes-none --no-cache)
	if [ "$want" -gt 0 ]; then
		[ "$(notes notes-cold --cache "$WORK/notes")" = "$want" ] || fail "the cold cache changed the packages"
		note=$(grep -l '^distill dpkg owners 1$' "$WORK/notes/keys/"*)
		[ "$(echo "$note" | wc -w)" = 1 ] || fail "no single dpkg note in the cache: $note"
		# the same note, every file of no package, the other user's
		sed -i '/^distill dpkg owners 1$/,$ { /^distill dpkg owners 1$/! s/.*/-/ }' "$note"
		chown "$OTHER" "$note"
		got=$(notes notes-planted --cache "$WORK/notes")
		[ "$got" = "$want" ] || fail "another user's dpkg note was used: $got packages, not $want"
		cmp "$WORK/notes-none.tar" "$WORK/notes-planted.tar" || fail "another user's dpkg note changed the image"
	else
		echo "note: /usr/bin/true belongs to no package here; the dpkg note case is not run"
	fi
else
	echo "note: no dpkg database; the dpkg note case is not run"
fi
echo "PASS: caches other users could write are refused, their files unused, eviction confined, killed builds clean"
