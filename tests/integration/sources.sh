#!/bin/bash
# Sources are confined like a build context: relative ones stay in the
# recipe's directory (or --context) whatever `..` and symlinks say, and no
# source, in any sysroot or context, is a credential store or a kernel
# interface; the message names the rule.
. "$(dirname "$0")/lib.sh"
need jq

# expect STATUS MESSAGE CMD...: CMD exits with STATUS, stderr has MESSAGE
# (if any), and a refused build wrote no archive.
expect() {
	local want="$1" msg="$2"
	shift 2
	local got=0
	rm -f "$WORK/out.tar"
	"$@" >"$WORK/out" 2>"$WORK/err" || got=$?
	[ "$got" = "$want" ] || fail "$* exited $got, not $want: $(cat "$WORK/err")"
	[ -z "$msg" ] || grep -qF -- "$msg" "$WORK/err" || fail "$*: stderr lacks \"$msg\": $(cat "$WORK/err")"
	[ "$want" = 0 ] || [ ! -e "$WORK/out.tar" ] || fail "$*: a refused build wrote an archive"
}

# recipe NAME CONTENTS: r/NAME.yaml, no CA bundle, CONTENTS under contents.
recipe() {
	printf 'name: app\nca-certificates: false\ncontents:\n  %s\n' "$2" >"$WORK/r/$1.yaml"
}

# build NAME ARGS...: distill build r/NAME.yaml ARGS... -o out.tar
build() {
	local name="$1"
	shift
	"$DISTILL" build "$WORK/r/$name.yaml" -o "$WORK/out.tar" --no-cache "$@"
}

mkdir -p "$WORK/r/sub" "$WORK/outside"
R=$(realpath "$WORK/r")
O=$(realpath "$WORK/outside")
echo "the recipe's" >"$WORK/r/data"
echo "beside the recipe's" >"$WORK/r/sub/data"
echo "not the recipe's" >"$WORK/outside/x"

# ---- a sysroot full of (fake) credential stores ---------------------------

S="$WORK/root"
fake() {
	mkdir -p "$(dirname "$S/$1")"
	echo "fake $1" >"$S/$1"
}
STORES="etc/shadow etc/gshadow etc/shadow- etc/gshadow- etc/sudoers etc/sudoers.d/x root/.ssh/id_x root/notes
home/u/.ssh/id_ed25519 home/u/.aws/credentials home/u/.docker/config.json home/u/.kube/config
home/u/.config/gcloud/x home/u/.gnupg/x home/u/.netrc home/u/.npmrc home/u/.pypirc home/u/.git-credentials
home/u/.config/containers/auth.json run/secrets/x var/run/secrets/kubernetes.io/serviceaccount/token"
KERNEL="proc/x sys/x dev/shm/x"
for f in $STORES $KERNEL etc/hostname home/u/app/bin/x srv/tree/a; do
	fake "$f"
done
store_rule() {
	case "$1" in
	etc/*shadow*) echo "password hashes" ;;
	etc/sudoers*) echo "sudo rules" ;;
	root/*) echo "root's home" ;;
	home/*) echo "a home directory's dot-files" ;;
	*run/secrets/*) echo "runtime secrets" ;;
	esac
}

# Every family, as a file, in the sysroot.
for f in $STORES; do
	recipe store "files: [{source: /$f, path: /etc/app/x}]"
	expect 1 "contents.files[0]: \`/$f\`: a credential store ($(store_rule "$f")); distill does not read it whatever the sysroot" \
		build store --sysroot "$S"
done
for f in $KERNEL; do
	recipe kernel "files: [{source: /$f, path: /etc/app/x}]"
	expect 1 "contents.files[0]: \`/$f\`: a kernel interface (kernel interfaces); distill does not read it whatever the sysroot" \
		build kernel --sysroot "$S"
done
# ... whatever reads it: a binary, a placed library, the CA bundle
recipe bin "binaries: [/root/notes]"
expect 1 "contents.binaries[0]: \`/root/notes\`: a credential store (root's home)" build bin --sysroot "$S"
recipe lib "libraries: [{source: /home/u/.netrc, path: /usr/lib/libx.so.1}]"
expect 1 "contents.libraries[0]: \`/home/u/.netrc\`: a credential store (a home directory's dot-files)" build lib --sysroot "$S"
printf 'name: app\nca-certificates: /etc/shadow\ncontents:\n  files: [{source: /etc/hostname, path: /etc/x}]\n' >"$WORK/r/ca.yaml"
expect 1 "ca-certificates: \`/etc/shadow\`: a credential store (password hashes)" build ca --sysroot "$S"
# ... and by its name even where the sysroot has none
recipe absent "files: [{source: /root/.ssh/absent, path: /etc/x}]"
expect 1 "\`/root/.ssh/absent\`: a credential store (root's home)" build absent --sysroot "$S"

# The build machine as the sysroot (the default).
recipe host-shadow "files: [{source: /etc/shadow, path: /etc/app/shadow}]"
expect 1 "\`/etc/shadow\`: a credential store (password hashes); distill does not read it whatever the sysroot" build host-shadow
recipe host-proc "files: [{source: /proc/self/root/etc/hostname, path: /etc/x}]"
expect 1 "\`/proc/self/root/etc/hostname\`: a kernel interface (kernel interfaces)" build host-proc
recipe host-environ "files: [{source: /proc/self/environ, path: /etc/x}]"
expect 1 "\`/proc/self/environ\`: a kernel interface (kernel interfaces)" build host-environ

# ---- symlinks in the sysroot ----------------------------------------------

mkdir -p "$S/proc/1"
ln -s /etc/shadow "$S/srv/shadow"
ln -s ../etc/sudoers.d/x "$S/srv/sudo"
ln -s /etc "$S/srv/etc"
ln -s /home/u/.aws "$S/srv/aws"
ln -s / "$S/proc/1/root"
ln -s /proc/1 "$S/srv/p"
recipe link "files: [{source: /srv/shadow, path: /etc/x}]"
expect 1 "\`/srv/shadow\` (\`/etc/shadow\`): a credential store (password hashes)" build link --sysroot "$S"
recipe rellink "files: [{source: /srv/sudo, path: /etc/x}]"
expect 1 "\`/srv/sudo\` (\`/etc/sudoers.d/x\`): a credential store (sudo rules)" build rellink --sysroot "$S"
recipe dirlink "files: [{source: /srv/etc/gshadow, path: /etc/x}]"
expect 1 "\`/srv/etc/gshadow\` (\`/etc/gshadow\`): a credential store (password hashes)" build dirlink --sysroot "$S"
recipe treelink "directories: [{source: /srv/aws, path: /opt/aws}]"
expect 1 "\`/srv/aws\` (\`/home/u/.aws\`): a credential store (a home directory's dot-files)" build treelink --sysroot "$S"
# a symlink crossed on the way, though the object reached is harmless
recipe crossed "files: [{source: /srv/p/root/etc/hostname, path: /etc/x}]"
expect 1 "\`/srv/p/root/etc/hostname\` (\`/proc/1/root\`): a kernel interface (kernel interfaces)" build crossed --sysroot "$S"
# the path as written, though /etc is elsewhere in this sysroot
S2="$WORK/root2"
mkdir -p "$S2/srv/etc"
echo "fake shadow" >"$S2/srv/etc/shadow"
ln -s srv/etc "$S2/etc"
recipe written "files: [{source: /etc/shadow, path: /etc/x}]"
expect 1 "\`/etc/shadow\`: a credential store (password hashes)" build written --sysroot "$S2"

# ---- directories that hold a credential store ------------------------------

recipe etc "directories: [{source: /etc, path: /etc/app}]"
expect 1 "contents.directories[0]: \`/etc\`: holds \`/etc/shadow\`, a credential store (password hashes); distill does not read it whatever the sysroot (exclude it, or name the files wanted)" \
	build etc --sysroot "$S"
recipe home "directories: [{source: /home/u, path: /opt/u}]"
expect 1 "\`/home/u\`: holds \`/home/u/.aws\`, a credential store (a home directory's dot-files)" build home --sysroot "$S"
recipe var "directories: [{source: /var, path: /opt/var}]"
expect 1 "\`/var\`: holds \`/var/run/secrets\`, a credential store (runtime secrets)" build var --sysroot "$S"
recipe whole "directories: [{source: /, path: /opt/root}]"
expect 1 "\`/\`: holds \`/etc/shadow\`, a credential store (password hashes)" build whole --sysroot "$S"
recipe roothome "directories: [{source: /root, path: /opt/root}]"
expect 1 "\`/root\`: a credential store (root's home)" build roothome --sysroot "$S"
# left out by its excludes, the rest of the tree is copied
recipe etc-excluded "directories: [{source: /etc, path: /etc/app, exclude: ['shadow*', 'gshadow*', 'sudoers*']}]"
build etc-excluded --sysroot "$S" -v >"$WORK/plan" || fail "/etc without its credential stores: $(cat "$WORK/plan")"
grep -q ' /etc/app/hostname$' "$WORK/plan" || fail "/etc/app/hostname is not in the image"
! grep -q 'shadow\|sudoers' "$WORK/plan" || fail "a credential store went into the image: $(grep 'shadow\|sudoers' "$WORK/plan")"
recipe home-excluded "directories: [{source: /home/u, path: /opt/u, exclude: ['.*']}]"
build home-excluded --sysroot "$S" -v >"$WORK/plan" || fail "/home/u without its dot-files: $(cat "$WORK/plan")"
grep -q ' /opt/u/app/bin/x$' "$WORK/plan" || fail "/opt/u/app/bin/x is not in the image"

# ---- the build context -----------------------------------------------------

ln -s ../outside/x "$WORK/r/link"
ln -s "$WORK/outside/x" "$WORK/r/abslink"
ln -s ../outside "$WORK/r/dirlink"
ln -s data "$WORK/r/inside"
why="sources relative to the recipe stay in its directory; --context widens it"
recipe up "files: [{source: ../outside/x, path: /etc/x}]"
expect 1 "contents.files[0]: \`../outside/x\`: outside the build context \`$R\` ($why)" build up
recipe deep "files: [{source: sub/../../outside/x, path: /etc/x}]"
expect 1 "\`sub/../../outside/x\`: outside the build context \`$R\`" build deep
recipe symlink "files: [{source: link, path: /etc/x}]"
expect 1 "\`link\` (\`$O/x\`): outside the build context \`$R\` ($why)" build symlink
recipe abssymlink "files: [{source: abslink, path: /etc/x}]"
expect 1 "\`abslink\` (\`$O/x\`): outside the build context \`$R\`" build abssymlink
recipe dirsymlink "directories: [{source: dirlink, path: /opt/x}]"
expect 1 "contents.directories[0]: \`dirlink\` (\`$O\`): outside the build context \`$R\`" build dirsymlink
recipe binup "binaries: [{source: ../outside/x, path: /app}]"
expect 1 "contents.binaries[0]: \`../outside/x\`: outside the build context \`$R\`" build binup
printf 'name: app\nca-certificates: ../outside/x\n' >"$WORK/r/caup.yaml"
expect 1 "ca-certificates: \`../outside/x\`: outside the build context \`$R\`" build caup
# --context widens it ...
expect 0 "" build up --context "$WORK"
expect 0 "" build symlink --context "$WORK"
expect 0 "" build dirsymlink --context "$O/.."
# ... or narrows it
recipe narrow "files: [{source: data, path: /etc/x}]"
expect 1 "\`data\`: outside the build context \`$R/sub\` (--context)" build narrow --context "$WORK/r/sub"
recipe narrow-ok "files: [{source: sub/data, path: /etc/x}]"
expect 0 "" build narrow-ok --context "$WORK/r/sub"
expect 1 "--context \`$WORK/nowhere\`: No such file or directory" build narrow-ok --context "$WORK/nowhere"
expect 1 "--context \`$WORK/r/data\`: not a directory" build narrow-ok --context "$WORK/r/data"
# ... but no context opens the build machine's credential stores
ln -s /etc/shadow "$WORK/r/shadow"
recipe host-link "files: [{source: shadow, path: /etc/x}]"
expect 1 "\`shadow\` (\`/etc/shadow\`): a credential store (password hashes); distill does not read it whatever the context" \
	build host-link --context /
up=$(printf '../%.0s' $(seq 40))
recipe host-up "files: [{source: ${up}proc/self/root/etc/hostname, path: /etc/x}]"
expect 1 "(\`/proc/self/root/etc/hostname\`): a kernel interface (kernel interfaces); distill does not read it whatever the context" \
	build host-up --context /

# ---- what was always fine still builds -------------------------------------

recipe plain "files: [{source: data, path: /etc/x}, {source: inside, path: /etc/y}, {source: sub/data, path: /etc/z}]"
expect 0 "" build plain
recipe tree "directories: [{source: sub, path: /opt/sub}]"
expect 0 "" build tree
recipe jq "binaries: [/usr/bin/jq]"
expect 0 "" build jq
recipe app "files: [{source: /home/u/app/bin/x, path: /opt/app/x}, {source: /etc/hostname, path: /etc/hostname}]
  directories: [{source: /home/u/app, path: /opt/app2}, {source: /srv/tree, path: /srv/tree}]"
expect 0 "" build app --sysroot "$S"

echo "PASS: sources stay in the build context and never read a credential store"
