#!/bin/bash
# distill check's can-start on images umoci made from programs this test
# compiles (a dynamic hello needing libm and the test's own libgreet, a
# static one): each way an image cannot start is a failure that names the
# reason, and an image that starts passes. And distill build refuses to
# write an image that could not start.
. "$(dirname "$0")/lib.sh"
need umoci jq gcc
[ "$(uname -m)" = x86_64 ] || skip "the images hold this host's x86-64 glibc (this is $(uname -m))"
[ -e /lib64/ld-linux-x86-64.so.2 ] || skip "no /lib64/ld-linux-x86-64.so.2 on this host"
need_root
umask 022

# ---- the programs -----------------------------------------------------------

S="$WORK/src"
mkdir -p "$S"
printf 'int greet(void) { return 42; }\n' >"$S/greet.c"
gcc -shared -fPIC -Wl,-soname,libgreet.so -o "$S/libgreet.so" "$S/greet.c"
cat >"$S/hello.c" <<'C'
#include <math.h>
#include <stdio.h>
int greet(void);
int main(int argc, char **argv) {
	(void) argv;
	printf("hello %d %.0f\n", greet(), floor(argc + 0.5));
	return 0;
}
C
gcc -o "$S/hello" "$S/hello.c" -L"$S" -lgreet -lm
printf '#include <stdio.h>\nint main(void) { puts("static hello"); return 0; }\n' >"$S/static.c"
gcc -static -o "$S/hello-static" "$S/static.c" || fail "gcc -static failed (libc6-dev has libc.a)"
file_type() { od -An -c -N4 "$1" | tr -d ' '; }
[ "$(file_type "$S/hello-static")" = '177ELF' ] || fail "no static program"
# the libraries hello needs besides libgreet (libm, libc), as this host has them
LIBS=$(LD_LIBRARY_PATH="$S" ldd "$S/hello" | awk '$2 == "=>" && $3 ~ /^\// && $1 != "libgreet.so" { print $3 }')
echo "$LIBS" | grep -q '/libm\.so\.6$' || fail "hello does not need libm: $LIBS"
echo "$LIBS" | grep -q '/libc\.so\.6$' || fail "hello does not need libc: $LIBS"

# ---- the images ---------------------------------------------------------------

# populate_dynamic ROOTFS: hello at /usr/bin/hello, its interpreter, libc
# and libm in Debian's multiarch directory, libgreet in /usr/lib.
populate_dynamic() {
	local r="$1" lib
	mkdir -p "$r/usr/bin" "$r/lib64" "$r/lib/x86_64-linux-gnu" "$r/usr/lib"
	cp "$S/hello" "$r/usr/bin/hello"
	cp -L /lib64/ld-linux-x86-64.so.2 "$r/lib64/ld-linux-x86-64.so.2"
	for lib in $LIBS; do
		cp -L "$lib" "$r/lib/x86_64-linux-gnu/$(basename "$lib")"
	done
	cp "$S/libgreet.so" "$r/usr/lib/libgreet.so"
}

# image NAME POPULATE [UMOCI-CONFIG-ARGS...]: an image made by umoci whose
# rootfs POPULATE (a function given the rootfs directory) fills, with that
# config, as the archive $WORK/NAME.tar.
image() {
	local name="$1" populate="$2" layout="$WORK/$1.layout" bundle="$WORK/$1.bundle"
	shift 2
	umoci init --layout "$layout"
	umoci new --image "$layout:img"
	umoci unpack --image "$layout:img" "$bundle" >/dev/null
	"$populate" "$bundle/rootfs"
	umoci repack --image "$layout:img" "$bundle" >/dev/null
	[ $# = 0 ] || umoci config --image "$layout:img" "$@" >/dev/null
	(cd "$layout" && tar -cf "$WORK/$name.tar" .)
	rm -rf "$bundle" "$layout"
}

# check NAME: distill check --json on $WORK/NAME.tar into $WORK/NAME.json;
# it exits 1 when a check fails, 0 otherwise, never anything else.
check() {
	local rc=0
	"$DISTILL" check --json "$WORK/$1.tar" >"$WORK/$1.json" 2>"$WORK/$1.err" || rc=$?
	[ "$rc" = 0 ] || [ "$rc" = 1 ] || fail "$1: distill check exited $rc: $(cat "$WORK/$1.err")"
	jq -e '.checks | length == 12' "$WORK/$1.json" >/dev/null || fail "$1: not 12 checks: $(cat "$WORK/$1.json")"
	CHECK_RC=$rc
}

findings() {
	jq -r '.checks[] | select(.id == "can-start") | .findings | join("\n")' "$WORK/$1.json"
}

# expect NAME STATUS [WORD...]: can-start of NAME has that status, and its
# findings contain each WORD.
expect() {
	local name="$1" want="$2" got word
	shift 2
	check "$name"
	got=$(jq -r '.checks[] | select(.id == "can-start") | .status' "$WORK/$name.json")
	[ "$got" = "$want" ] || fail "$name: can-start is \"$got\", expected \"$want\": $(findings "$name")"
	for word in "$@"; do
		findings "$name" | grep -qF -- "$word" || fail "$name: can-start's findings do not say \"$word\":
$(findings "$name")"
	done
	if [ "$want" = fail ]; then
		[ "$CHECK_RC" = 1 ] || fail "$name: distill check exited $CHECK_RC with can-start failing"
	elif [ "$want" = pass ]; then
		[ -z "$(findings "$name")" ] || fail "$name: can-start passes with findings: $(findings "$name")"
	fi
	echo "ok: $name: can-start $want${*:+ ($*)}"
	findings "$name" | sed '/^$/d; s/^/    /'
}

U=(--config.user 65532)
HELLO=(--config.entrypoint /usr/bin/hello)

# 1. everything hello needs, at the paths the loader looks in
image good populate_dynamic "${U[@]}" "${HELLO[@]}"
expect good pass

# 2. libgreet missing
no_lib() { populate_dynamic "$1"; rm "$1/usr/lib/libgreet.so"; }
image no-lib no_lib "${U[@]}" "${HELLO[@]}"
expect no-lib fail 'library `libgreet.so' /usr/bin/hello

# 3. the interpreter missing
no_interp() { populate_dynamic "$1"; rm "$1/lib64/ld-linux-x86-64.so.2"; }
image no-interp no_interp "${U[@]}" "${HELLO[@]}"
expect no-interp fail 'interpreter `/lib64/ld-linux-x86-64.so.2`' 'not found'

# 4. the entrypoint is not there; it is a directory
image missing populate_dynamic "${U[@]}" --config.entrypoint /usr/bin/nope
expect missing fail /usr/bin/nope 'not in the image'
image directory populate_dynamic "${U[@]}" --config.entrypoint /usr/bin
expect directory fail /usr/bin 'not a regular file'

# 5. hello 0700 root's: user 65532 cannot execute it, root can
private_prog() { populate_dynamic "$1"; chmod 0700 "$1/usr/bin/hello"; }
image private-prog private_prog "${U[@]}" "${HELLO[@]}"
expect private-prog fail /usr/bin/hello 'cannot execute'
image private-prog-root private_prog --config.user 0 "${HELLO[@]}"
expect private-prog-root pass

# 6. hello behind a directory 0700 root's
private_dir() {
	populate_dynamic "$1"
	mkdir -p "$1/opt/app"
	mv "$1/usr/bin/hello" "$1/opt/app/hello"
	chmod 0700 "$1/opt/app"
}
image private-dir private_dir "${U[@]}" --config.entrypoint /opt/app/hello
expect private-dir fail /opt/app/hello 'cannot search the directory `/opt/app`'

# 7. a #!/bin/sh script in an image without /bin/sh
script() {
	mkdir -p "$1/usr/local/bin"
	printf '#!/bin/sh\necho hello\n' >"$1/usr/local/bin/run"
	chmod 0755 "$1/usr/local/bin/run"
}
image script script "${U[@]}" --config.entrypoint /usr/local/bin/run
expect script fail interpreter /bin/sh 'not in the image'

# 8. cmd alone, a bare name looked up on the config's PATH
image on-path populate_dynamic "${U[@]}" --config.env PATH=/usr/bin --config.cmd hello
expect on-path pass
image off-path populate_dynamic "${U[@]}" --config.env PATH=/usr/local/bin:/bin --config.cmd hello
expect off-path fail '"hello"' PATH

# 9. a static program needs nothing else
static() { mkdir -p "$1/usr/bin"; cp "$S/hello-static" "$1/usr/bin/hello"; }
image static static "${U[@]}" "${HELLO[@]}"
expect static pass

# 10. no entrypoint, no cmd: a base for other images, a warning
image base populate_dynamic "${U[@]}"
expect base warn 'nothing to start'

# 11. libgreet there but 0600 root's: user 65532 cannot read it
private_lib() { populate_dynamic "$1"; chmod 0600 "$1/usr/lib/libgreet.so"; }
image private-lib private_lib "${U[@]}" "${HELLO[@]}"
expect private-lib fail 'library `libgreet.so' /usr/lib/libgreet.so 'cannot read'

# Once under valgrind: the library missing (case 2), no error, no leak.
if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind is not installed: not run under valgrind"
elif ldd "$DISTILL" | grep -q libasan; then
	echo "a sanitizer build: not run under valgrind"
else
	rc=0
	valgrind -q --error-exitcode=99 --leak-check=full --log-file="$WORK/vg.%p.log" \
		"$DISTILL" check --json "$WORK/no-lib.tar" >"$WORK/vg.json" || rc=$?
	[ "$rc" = 1 ] || { cat "$WORK"/vg.*.log; fail "valgrind: distill check exited $rc, not 1 (a check fails)"; }
	[ -z "$(cat "$WORK"/vg.*.log)" ] || { cat "$WORK"/vg.*.log; fail "valgrind reported something"; }
	cmp -s "$WORK/vg.json" "$WORK/no-lib.json" || fail "valgrind: another report"
	echo "ok: no-lib under valgrind"
fi

# ---- build refuses an image that could not start ------------------------------

B="$WORK/build"
mkdir -p "$B"
cp "$S/hello-static" "$B/prog"
build_refused() {
	local recipe="$1" out rc=0
	shift
	out=$("$DISTILL" build "$B/$recipe.yaml" -o "$B/$recipe.tar" 2>&1) || rc=$?
	[ "$rc" = 1 ] || fail "build of $recipe exited $rc, not 1: $out"
	echo "$out" | grep -qF 'the image could not start:' || fail "build of $recipe: $out"
	for word in "$@"; do
		echo "$out" | grep -qF -- "$word" || fail "build of $recipe does not say \"$word\": $out"
	done
	[ ! -e "$B/$recipe.tar" ] || fail "build of $recipe wrote $B/$recipe.tar"
	echo "ok: build of $recipe refused"
}
printf 'name: x\nca-certificates: false\ncontents:\n  binaries: [{source: prog, path: /usr/bin/prog}]\nentrypoint: [/nope]\n' >"$B/nope.yaml"
build_refused nope /nope 'not in the image'
printf 'name: x\nca-certificates: false\ncontents:\n  files: [{source: prog, path: /app/prog, mode: 0700}]\nentrypoint: [/app/prog]\n' >"$B/private.yaml"
build_refused private /app/prog 'cannot execute'
# the same program with 0755 builds, and the image passes can-start
printf 'name: x\nca-certificates: false\ncontents:\n  files: [{source: prog, path: /app/prog, mode: 0755}]\nentrypoint: [/app/prog]\n' >"$B/ok.yaml"
out=$("$DISTILL" build "$B/ok.yaml" -o "$WORK/built.tar" 2>&1) || fail "build of ok: $out"
expect built pass

echo "PASS: can-start on umoci images (each way not to start named) and build's refusal"
