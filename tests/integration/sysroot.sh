#!/bin/bash
# A sysroot made here for another machine: an arm64 program built with
# Debian's cross compiler, libc and the loader copied in a Debian layout,
# and absolute symlinks pointing at /etc. The image says arm64, holds the
# sysroot's files (never the host's), and distill reads nothing of the
# host after the recipe: checked with strace.
. "$(dirname "$0")/lib.sh"
need aarch64-linux-gnu-gcc strace skopeo jq gcc
[ -f /usr/aarch64-linux-gnu/lib/libc.so.6 ] || skip "libc6-dev-arm64-cross is not installed (.ci/run installs it)"

S="$WORK/arm64root"
mkdir -p "$S/usr/lib/aarch64-linux-gnu" "$S/usr/bin" "$S/etc" "$S/usr/share"
ln -s usr/lib "$S/lib"
cp -L /usr/aarch64-linux-gnu/lib/libc.so.6 /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 "$S/usr/lib/aarch64-linux-gnu/"
# PT_INTERP is /lib/ld-linux-aarch64.so.1
ln -s aarch64-linux-gnu/ld-linux-aarch64.so.1 "$S/usr/lib/ld-linux-aarch64.so.1"
printf '#include <stdio.h>\nint main(void) { puts("hello arm64"); return 0; }\n' >"$WORK/h.c"
aarch64-linux-gnu-gcc -O2 -o "$S/usr/bin/hello" "$WORK/h.c"
# Absolute symlinks: read inside the sysroot, as in a chroot.
printf 'PRETTY_NAME="Sysroot OS"\nID=sysroot\n' >"$S/etc/os-release.real"
ln -s /etc/os-release.real "$S/etc/os-release"
ln -s /etc "$S/usr/share/etc"
echo "the sysroot's" >"$S/etc/app.conf"
ln -s ../../../../../../etc/passwd "$S/etc/escape"

cat >"$WORK/hello.yaml" <<'Y'
name: distill-test/hello-arm64
tag: "1"
sysroot: arm64root
platform: linux/arm64
ca-certificates: false
contents:
  binaries: [/usr/bin/hello]
  files:
    - {source: /usr/share/etc/app.conf, path: /etc/app.conf}
    - {source: /etc/escape, path: /etc/escape}
Y
echo "root:x:0:0:the sysroot's passwd:/root:/sbin/nologin" >"$S/etc/passwd"

# (LeakSanitizer cannot run under ptrace; the sanitizer run checks leaks elsewhere)
(cd "$WORK" && ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	strace -f -qq -e trace=%file -o "$WORK/trace" "$DISTILL" build hello.yaml -o hello.tar --cache "$WORK/cache")

# The image is arm64, with the sysroot's loader, libc and files.
skopeo inspect "oci-archive:$WORK/hello.tar" >"$WORK/inspect.json"
[ "$(jq -r .Architecture "$WORK/inspect.json")" = arm64 ] || fail "the image is not arm64"
[ "$(jq -r .Os "$WORK/inspect.json")" = linux ] || fail "the image is not linux"
mkdir "$WORK/fs"
for l in $(jq -r '.Layers[]' "$WORK/inspect.json"); do
	tar -xOf "$WORK/hello.tar" "blobs/sha256/${l#sha256:}" | tar -xz -C "$WORK/fs"
done
file_is() { cmp -s "$1" "$2" || fail "$1 differs from $2"; }
file_is "$WORK/fs/usr/lib/aarch64-linux-gnu/libc.so.6" "$S/usr/lib/aarch64-linux-gnu/libc.so.6"
[ "$(readlink "$WORK/fs/lib")" = usr/lib ] || fail "/lib is not a symlink to usr/lib"
[ "$(readlink "$WORK/fs/usr/lib/ld-linux-aarch64.so.1")" = aarch64-linux-gnu/ld-linux-aarch64.so.1 ] || fail "the loader's symlink"
file_is "$WORK/fs/usr/bin/hello" "$S/usr/bin/hello"
grep -qx 'PRETTY_NAME="Distroless (Sysroot OS)"' "$WORK/fs/etc/os-release" || fail "os-release is not the sysroot's"
file_is "$WORK/fs/etc/app.conf" "$S/etc/app.conf"
file_is "$WORK/fs/etc/escape" "$S/etc/passwd"

# Nothing outside the sysroot and the work directory is read once the
# recipe is open (before it: distill's own libraries and locale).
outside=$(awk '/openat\(AT_FDCWD, "hello\.yaml"/ {on = 1} on' "$WORK/trace" |
	grep -oE '^[0-9]+ +[a-z0-9_]+\((AT_FDCWD, )?"[^"]*"' | sed -E 's/^[0-9]+ +[a-z0-9_]+\((AT_FDCWD, )?"//; s/"$//' |
	grep -vE "^($WORK|/dev/urandom$|/proc/self/fd/|\.|hello\.(yaml|tar)$|\./\.hello\.tar\.)" |
	grep -vxF -e "$(dirname "$WORK")" -e / || true)
[ -z "$outside" ] || fail "distill read host paths: $outside"
[ -n "$(grep -c "$S" "$WORK/trace")" ] || fail "strace saw nothing"

# --platform must agree with the programs and the recipe.
out=$( (cd "$WORK" && "$DISTILL" build hello.yaml -o other.tar --platform linux/amd64) 2>&1) && fail "--platform amd64 accepted"
echo "$out" | grep -qF -- "--platform linux/amd64 disagrees with the recipe's platform linux/arm64" || fail "$out"
sed -i '/^platform:/d' "$WORK/hello.yaml"
out=$( (cd "$WORK" && "$DISTILL" build hello.yaml -o other.tar --platform linux/amd64) 2>&1) && fail "--platform amd64 accepted"
echo "$out" | grep -qF "the platform is linux/amd64, but the programs are for arm64" || fail "$out"
(cd "$WORK" && "$DISTILL" build hello.yaml -o arm.tar --platform linux/arm64)

# One recipe, two architectures: refused.
printf 'int main(void) { return 0; }\n' | gcc -x c - -o "$WORK/amd64prog"
cp "$S/usr/bin/hello" "$WORK/arm64prog"
printf 'name: mixed\nca-certificates: false\ncontents:\n  binaries:\n    - {source: amd64prog, path: /a}\n    - {source: arm64prog, path: /b}\n' >"$WORK/mixed.yaml"
out=$("$DISTILL" build "$WORK/mixed.yaml" -o "$WORK/mixed.tar" 2>&1) && fail "mixed architectures accepted"
echo "$out" | grep -qF '`arm64prog` is for arm64, but the image is for amd64' || fail "$out"
echo "PASS: arm64 sysroot, confined reads, platform checks"
