#!/bin/bash
# Reproducible builds, the way reproducible-builds.org checks them: build one
# recipe (a dynamic program, a tree of many files with hardlinks, symlinks,
# non-ASCII and 200-character names) once as a reference, then again with
# each thing that must not matter changed, alone and all together, and
# compare the archives' sha256. A difference prints `distill diff`.
#
#   reproducible.sh             every variation but disorderfs
#   reproducible.sh disorderfs  the input read through disorderfs (FUSE)
. "$(dirname "$0")/lib.sh"
need gcc faketime localedef
need_root # the inputs are chowned to another uid

MODE=${1:-all}
if [ "$MODE" = disorderfs ]; then
	need disorderfs fusermount
	[ -c /dev/fuse ] || skip "/dev/fuse is missing: FUSE does not work here"
fi

# ---- the input --------------------------------------------------------------

cat >"$WORK/hello.c" <<'C'
#include <stdio.h>
#include <math.h>
int main(int argc, char **argv) { printf("%g\n", sqrt((double) argc)); (void) argv; return 0; }
C
gcc -O2 -o "$WORK/hello" "$WORK/hello.c" -lm

LONG=$(printf 'n%.0s' $(seq 200))

# make_input DIR forward|reverse: the same tree, its entries created in
# either order (readdir order follows creation order on tmpfs and ext4).
make_input() {
	local dir="$1" order="$2" d f names
	mkdir -p "$dir/tree" "$dir/conf"
	cp "$WORK/hello" "$dir/hello"
	printf 'greeting = "hello"\n' >"$dir/conf/app.conf"
	names=$(seq 0 19)
	[ "$order" = reverse ] && names=$(seq 19 -1 0)
	for d in $names; do
		mkdir -p "$dir/tree/d$d"
		for f in $(if [ "$order" = reverse ]; then seq 24 -1 0; else seq 0 24; fi); do
			seq "$d" "$((d + f * 37))" >"$dir/tree/d$d/f$f"
		done
		chmod 0755 "$dir/tree/d$d/f3"
		chmod 0600 "$dir/tree/d$d/f4"
	done
	mkdir -p "$dir/tree/names/naïve dir" "$dir/tree/links"
	local special=("café.txt" "日本語.txt" "naïve dir/über" "$LONG" "Zeta" "alpha" "_under" "-dash")
	if [ "$order" = reverse ]; then
		special=("-dash" "_under" "alpha" "Zeta" "$LONG" "naïve dir/über" "日本語.txt" "café.txt")
	fi
	for f in "${special[@]}"; do
		printf '%s\n' "$f" >"$dir/tree/names/$f"
	done
	# hardlinks: three names, one inode, created first-to-last or last-to-first
	if [ "$order" = reverse ]; then
		printf 'shared\n' >"$dir/tree/links/z-last"
		ln "$dir/tree/links/z-last" "$dir/tree/links/m-middle"
		ln "$dir/tree/links/z-last" "$dir/tree/links/a-first"
		ln -s ../d1/f1 "$dir/tree/links/relative"
		ln -s /srv/tree/d2/f2 "$dir/tree/links/absolute"
	else
		ln -s /srv/tree/d2/f2 "$dir/tree/links/absolute"
		ln -s ../d1/f1 "$dir/tree/links/relative"
		printf 'shared\n' >"$dir/tree/links/a-first"
		ln "$dir/tree/links/a-first" "$dir/tree/links/m-middle"
		ln "$dir/tree/links/a-first" "$dir/tree/links/z-last"
	fi
	cat >"$dir/recipe.yaml" <<'Y'
name: distill-test/reproducible
contents:
  binaries:
    - {source: hello, path: /usr/local/bin/hello}
  files:
    - {source: conf/app.conf, path: /etc/app.conf}
  directories:
    - {source: tree, path: /srv/tree}
  symlinks:
    - {path: /usr/local/bin/greet, target: hello}
entrypoint: [/usr/local/bin/hello]
environment: {TZ: UTC}
Y
}

# A Latin-1 locale, compiled here: Debian ships only C and C.UTF-8 built.
mkdir -p "$WORK/locale"
localedef -i en_US -f ISO-8859-1 "$WORK/locale/en_US.ISO-8859-1" 2>/dev/null ||
	[ -d "$WORK/locale/en_US.ISO-8859-1" ] || fail "localedef could not compile en_US.ISO-8859-1 (package locales)"
[ "$(LOCPATH="$WORK/locale" LC_ALL=en_US.ISO-8859-1 locale charmap 2>/dev/null)" = ISO-8859-1 ] ||
	fail "the Latin-1 locale compiled in $WORK/locale is not usable"
LATIN1=(LOCPATH="$WORK/locale" LC_ALL=en_US.ISO-8859-1 LANG=en_US.ISO-8859-1)

# faketime preloads a library; ASan wants to come first, which is harmless here.
FAKETIME_ASAN="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

# ---- building ---------------------------------------------------------------

# The reference environment; each variation changes one thing of it.
BASE_ENV=(-i PATH="$PATH" HOME="$WORK/home" XDG_CACHE_HOME="$WORK/xdg-cache" TZ=UTC LC_ALL=C.UTF-8
	${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} ${UBSAN_OPTIONS:+UBSAN_OPTIONS="$UBSAN_OPTIONS"}
	${LSAN_OPTIONS:+LSAN_OPTIONS="$LSAN_OPTIONS"})
mkdir -p "$WORK/home" "$WORK/xdg-cache" "$WORK/out"

# build NAME CWD UMASK RECIPE [VAR=VALUE | unset:VAR ...] -- [ARGS...]: one
# build, in a subshell with that working directory and umask, in the
# reference environment changed by the VARs.
build() {
	local name="$1" cwd="$2" mask="$3" recipe="$4"
	shift 4
	local envs=() unset=() args=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		case "$1" in
		unset:*) unset+=(-u "${1#unset:}") ;;
		*) envs+=("$1") ;;
		esac
		shift
	done
	[ $# -gt 0 ] && shift
	args=("$@")
	(cd "$cwd" && umask "$mask" &&
		env "${BASE_ENV[@]}" env "${unset[@]}" "${envs[@]}" "$DISTILL" build "$recipe" -o "$WORK/out/$name.tar" -q "${args[@]}") ||
		fail "the build \"$name\" failed"
}

RESULTS=()
FAILED=0
# same NAME REF: compare $NAME.tar with $REF.tar.
same() {
	local a b
	a=$(sha256sum <"$WORK/out/$2.tar" | cut -d' ' -f1)
	b=$(sha256sum <"$WORK/out/$1.tar" | cut -d' ' -f1)
	if [ "$a" = "$b" ]; then
		RESULTS+=("same      $1")
	else
		RESULTS+=("DIFFERENT $1")
		FAILED=$((FAILED + 1))
		echo "--- $1 differs from $2:"
		"$DISTILL" diff "$WORK/out/$2.tar" "$WORK/out/$1.tar" || true
	fi
}

IN="$WORK/in"
make_input "$IN" forward
build reference "$IN" 022 recipe.yaml -- --jobs 1 --cache "$WORK/cache-ref"

# The reference holds what the test claims to vary.
"$DISTILL" inspect "$WORK/out/reference.tar" >"$WORK/reference.txt"
for want in "/srv/tree/names/café.txt" "/srv/tree/names/日本語.txt" "/srv/tree/names/naïve dir/über" \
	"/srv/tree/names/$LONG" "/srv/tree/links/relative -> ../d1/f1" "/srv/tree/d19/f24" "/usr/local/bin/hello"; do
	grep -qF -- "$want" "$WORK/reference.txt" || fail "the reference image lacks $want"
done
grep -q 'libm\.so\.6' "$WORK/reference.txt" || fail "the dynamic program's closure (libm) is not in the image"
layer=$(tar -xOf "$WORK/out/reference.tar" "blobs/sha256/$(manifest_digest "$WORK/out/reference.tar" | cut -d: -f2)" |
	jq -r '.layers[-1].digest')
tar -xOf "$WORK/out/reference.tar" "blobs/sha256/${layer#sha256:}" | tar -tvzf - >"$WORK/layer.txt"
grep -q 'srv/tree/links/m-middle link to srv/tree/links/a-first' "$WORK/layer.txt" ||
	fail "m-middle is not a hardlink to a-first (the first name) in the application layer"
grep -q 'srv/tree/links/z-last link to srv/tree/links/a-first' "$WORK/layer.txt" ||
	fail "z-last is not a hardlink to a-first (the first name) in the application layer"

if [ "$MODE" = disorderfs ]; then
	mkdir -p "$WORK/mnt"
	disorderfs --shuffle-dirents=yes --multi-user=yes "$IN" "$WORK/mnt" >/dev/null 2>&1 ||
		skip "disorderfs cannot mount here (FUSE not permitted)"
	on_exit "fusermount -u '$WORK/mnt' 2>/dev/null || umount -l '$WORK/mnt'"
	build disorderfs "$WORK/mnt" 022 recipe.yaml -- --jobs 1 --cache "$WORK/cache-ref"
	same disorderfs reference
	build disorderfs-again "$WORK/mnt" 022 recipe.yaml -- --jobs 1 --no-cache
	same disorderfs-again reference
else
	# time and time zone
	(cd "$IN" && env "${BASE_ENV[@]}" "$FAKETIME_ASAN" faketime '2031-07-04 12:00:00' "$DISTILL" build recipe.yaml \
		-o "$WORK/out/faketime-2031.tar" -q --no-cache) || fail "the build under faketime failed"
	same faketime-2031 reference
	build tz-kiritimati "$IN" 022 recipe.yaml TZ=Pacific/Kiritimati -- --no-cache
	same tz-kiritimati reference
	build tz-st-johns "$IN" 022 recipe.yaml TZ=America/St_Johns -- --no-cache
	same tz-st-johns reference

	# locale
	build lc-c "$IN" 022 recipe.yaml LC_ALL=C -- --no-cache
	same lc-c reference
	build lang-c-utf8 "$IN" 022 recipe.yaml unset:LC_ALL LANG=C.UTF-8 -- --no-cache
	same lang-c-utf8 reference
	build lc-latin1 "$IN" 022 recipe.yaml "${LATIN1[@]}" -- --no-cache
	same lc-latin1 reference

	# umask
	for m in 002 077; do
		build "umask-$m" "$IN" "$m" recipe.yaml -- --no-cache
		same "umask-$m" reference
	done

	# the working directory and the recipe's location
	build cwd-root / 022 "$IN/recipe.yaml" -- --no-cache
	same cwd-root reference
	mkdir -p "$WORK/elsewhere/x"
	build cwd-relative "$WORK/elsewhere/x" 022 ../../in/recipe.yaml -- --no-cache
	same cwd-relative reference
	mkdir -p "$WORK/copied/deeper/path"
	cp -a "$IN" "$WORK/copied/deeper/path/input"
	build copied-tree "$WORK/copied" 022 deeper/path/input/recipe.yaml -- --no-cache
	same copied-tree reference

	# the inputs' times and owners
	cp -a "$IN" "$WORK/touched"
	find "$WORK/touched" -exec touch -h -m -d '1999-12-31 23:59:59' {} +
	find "$WORK/touched" -exec touch -h -a -d '2040-01-01 00:00:00' {} +
	build touched "$WORK/touched" 022 recipe.yaml -- --no-cache
	same touched reference
	cp -a "$IN" "$WORK/chowned"
	chown -hR 4242:4343 "$WORK/chowned"
	build chowned "$WORK/chowned" 022 recipe.yaml -- --no-cache
	same chowned reference

	# the order in which entries were created
	make_input "$WORK/reverse" reverse
	build creation-order "$WORK/reverse" 022 recipe.yaml -- --no-cache
	same creation-order reference

	# threads
	for j in 2 8; do
		build "jobs-$j" "$IN" 022 recipe.yaml -- --jobs "$j" --no-cache
		same "jobs-$j" reference
	done

	# the layer cache: cold, warm, none, the default one
	build cache-cold "$IN" 022 recipe.yaml -- --cache "$WORK/cache-shared"
	same cache-cold reference
	build cache-warm "$IN" 022 recipe.yaml -- --cache "$WORK/cache-shared"
	same cache-warm reference
	build no-cache "$IN" 022 recipe.yaml -- --no-cache
	same no-cache reference
	build default-cache "$IN" 022 recipe.yaml --
	same default-cache reference

	# the epoch: the option and the variable are one thing
	build epoch-option "$IN" 022 recipe.yaml -- --source-date-epoch 1234567890 --no-cache
	build epoch-variable "$IN" 022 recipe.yaml SOURCE_DATE_EPOCH=1234567890 -- --no-cache
	same epoch-variable epoch-option
	build epoch-variable-tz "$IN" 022 recipe.yaml SOURCE_DATE_EPOCH=1234567890 TZ=Asia/Kathmandu "${LATIN1[@]}" -- \
		--jobs 2
	same epoch-variable-tz epoch-option

	# everything at once
	make_input "$WORK/all/some where/else" reverse
	find "$WORK/all" -exec touch -h -d '2001-02-03 04:05:06' {} +
	chown -hR 4242:4343 "$WORK/all"
	mkdir -p "$WORK/all-cwd"
	(cd "$WORK/all-cwd" && umask 077 &&
		env "${BASE_ENV[@]}" "${LATIN1[@]}" TZ=Asia/Kathmandu HOME="$WORK/all-cwd" "$FAKETIME_ASAN" \
			faketime '2029-09-09 09:09:09' "$DISTILL" build "../all/some where/else/recipe.yaml" \
			-o "$WORK/out/everything.tar" -q --jobs 2 --no-cache) || fail "the build with every variation failed"
	same everything reference
fi

printf '%s\n' "${RESULTS[@]}"
[ "$FAILED" = 0 ] || fail "$FAILED variation(s) changed the archive"
echo "PASS: ${#RESULTS[@]} variations, every archive byte-for-byte the reference"
