#!/bin/bash
# The static distill (-Dstatic=true): no loader and no DT_NEEDED, says so in
# --version, and in an empty chroot, with no libraries, no nsswitch.conf and
# nothing else of a system, builds an image of a dynamic program from the
# sysroot it is given and distill's own image from recipes/distill.yaml.
# Both images pass distill check outside, and distill's runs under runc.
# The static build is kept in $DISTILL_STATIC_BUILD (default: static/ in the
# build directory): built once, then ninja rebuilds only what changed.
. "$(dirname "$0")/lib.sh"
: "${BUILD_DIR:?BUILD_DIR must name the build directory}"
need meson ninja readelf nm strace chroot unshare umoci runc jq
need_root

build_static_distill
# glibc's link warnings name the NSS lookups a static binary would need the
# shared libraries for; no user or group lookup may be among them (a fresh
# link is the only one that warns)
if grep -E "Using '(getpw|getgr|initgroups|getgrouplist)" "$WORK/ninja.log"; then
	fail "the static link uses a user or group lookup of NSS"
fi
bin="$STATIC_DISTILL"

readelf -lW "$bin" >"$WORK/phdrs" || fail "readelf -l"
grep -q INTERP "$WORK/phdrs" && fail "the static distill has a PT_INTERP"
readelf -dW "$bin" | grep -q NEEDED && fail "the static distill has DT_NEEDED entries"
# No entry point of the user and group lookups is linked (glibc's glob()
# brings getpwnam_r for GLOB_TILDE, which ldconfig.c does not pass)
found=$(nm "$bin" | grep -E ' (getpwnam|getpwuid|getgrnam|getgrgid|getpwent|getgrent|initgroups|getgrouplist)$' || true)
[ -z "$found" ] && echo "no user or group lookup linked" || fail "user or group lookups linked: $found"
"$bin" --version | grep -q '^linked statically' || fail "--version does not say static: $("$bin" --version)"
"$DISTILL" --version | grep -q 'linked statically' && fail "the default build says it is static"
# libcurl does not link statically: push is left out, and says so
if out=$("$bin" push "$WORK/none.tar" docker://127.0.0.1:1/x 2>&1); then
	fail "the static distill's push succeeded: $out"
fi
echo "$out" | grep -q "without the registry client" || fail "the static distill's push says: $out"
# nor does it read docker:// references: inspect says so, exit 1
rc=0
out=$("$bin" inspect docker://127.0.0.1:1/x:1 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "the static distill's inspect of a docker:// reference exits $rc, not 1: $out"
echo "$out" | grep -q "without the registry client" || fail "the static distill's inspect of a reference says: $out"

# The recipe's tag is distill's version.
version=$("$bin" --version | sed -n '1s/^distill //p')
tag=$(sed -n 's/^tag: "\(.*\)"$/\1/p' "$SOURCE_DIR/recipes/distill.yaml")
[ "$tag" = "$version" ] || fail "recipes/distill.yaml's tag is \"$tag\", distill's version $version"

# The chroot: the source tree's layout for the recipe (build-static/distill
# beside recipes/), the CA bundle the recipe takes from its sysroot (/ in the
# chroot), and a sysroot holding /usr/bin/true and what its loader loads, as
# plain files.
root="$WORK/root"
mkdir -p "$root/src/recipes" "$root/src/build-static" "$root/out" "$root/etc/ssl/certs"
cp "$bin" "$root/src/build-static/distill"
cp "$SOURCE_DIR/recipes/distill.yaml" "$root/src/recipes/"
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
sys="$root/sysroot"
for f in /usr/bin/true $(ldd /usr/bin/true | grep -o '/[^ ]*'); do
	mkdir -p "$sys$(dirname "$f")"
	cp -L "$f" "$sys$f"
done
mkdir -p "$sys/etc"
cp -L /etc/ld.so.conf "$sys/etc/"
[ -d /etc/ld.so.conf.d ] && cp -rL /etc/ld.so.conf.d "$sys/etc/"
cat >"$root/true.yaml" <<-Y
name: true
tag: chroot
sysroot: /sysroot
contents:
  binaries:
    - /usr/bin/true
ca-certificates: false
Y
[ -z "$(find "$root" -name 'nsswitch.conf' -o -name 'libnss*' -o -name 'libc.so*' ! -path "$sys/*")" ] \
	|| fail "the chroot is not empty of a system"

# distill names its output through /proc/self/fd and checks it there, and
# check unpacks in /tmp, as in any build stage: the chroot has an empty /tmp
# and its own /proc, mounted in a mount namespace of the command's own.
mkdir -m 1777 "$root/tmp"
mkdir "$root/proc"
# Every file it opens is traced: nothing of NSS.
in_chroot() {
	strace -f -qq -e trace=open,openat -o "$WORK/strace.$1" \
		env -i XDG_CACHE_HOME=/cache unshare --mount --pid --fork --mount-proc="$root/proc" \
		"$(command -v chroot)" "$root" /src/build-static/distill "${@:2}" \
		|| fail "in the chroot: distill ${*:2}"
	if grep -E 'nsswitch|libnss|/etc/(passwd|group)"' "$WORK/strace.$1"; then
		fail "in the chroot, distill ${*:2} looked up a user, a group or a host through NSS"
	fi
}
in_chroot true build /true.yaml -o /out/true.tar -q
in_chroot distill build /src/recipes/distill.yaml --context /src -o /out/distill.tar -q
in_chroot check check /out/distill.tar
echo "the static distill built both images in an empty chroot"

# Outside: both pass the default distill's check, distill's image holds the
# static binary at /usr/bin/distill, root's and executable, which runs there.
"$DISTILL" check "$root/out/true.tar" >"$WORK/check.true" || { cat "$WORK/check.true"; fail "true.tar fails distill check"; }
"$DISTILL" check "$root/out/distill.tar" >"$WORK/check.distill" \
	|| { cat "$WORK/check.distill"; fail "distill.tar fails distill check"; }
unpack "$root/out/true.tar" chroot "$WORK/true"
check_rootfs "$WORK/true/rootfs" "$root/out/true.tar"
[ -f "$WORK/true/rootfs/usr/bin/true" ] || fail "true.tar has no /usr/bin/true"
unpack "$root/out/distill.tar" "$version" "$WORK/distill"
check_rootfs "$WORK/distill/rootfs" "$root/out/distill.tar"
rootfs="$WORK/distill/rootfs"
[ "$(stat -c '%u:%g %a' "$rootfs/usr/bin/distill")" = "0:0 755" ] || fail "/usr/bin/distill is $(stat -c '%u:%g %a' "$rootfs/usr/bin/distill")"
cmp -s "$rootfs/usr/bin/distill" "$bin" || fail "/usr/bin/distill is not the static distill"
[ -s "$rootfs/etc/ssl/certs/ca-certificates.crt" ] || fail "distill's image has no CA bundle"
[ "$(image_config "$root/out/distill.tar" | jq -r '.config.Entrypoint | join(" ")')" = /usr/bin/distill ] \
	|| fail "distill's image does not start distill"
out=$(runc_run "$WORK/distill")
echo "$out" | grep -q '^linked statically' || fail "distill in its image says: $out"
echo "PASS: the static distill, in an empty chroot, and distill:$version built by it"
