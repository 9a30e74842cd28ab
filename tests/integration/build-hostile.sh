#!/bin/bash
# Inputs that would hang or fool a build, and outputs that would destroy
# inputs: FIFOs where files are read (each build ends at once, naming the
# FIFO), outputs that are inputs or each other (refused, usage error, the
# file left byte for byte), account fields that would add lines to
# /etc/passwd, and ld.so.conf files including each other's globs.
. "$(dirname "$0")/lib.sh"
need gcc timeout cmp

# expect STATUS MESSAGE CMD...: CMD ends within 20 seconds, exits with STATUS
# and stderr has MESSAGE.
expect() {
	local want="$1" msg="$2"
	shift 2
	local got=0
	timeout 20 "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || got=$?
	[ "$got" != 124 ] || fail "$* did not finish in 20 seconds"
	[ "$got" = "$want" ] || fail "$* exited $got, not $want: $(cat "$WORK/err")"
	[ -z "$msg" ] || grep -qF -- "$msg" "$WORK/err" || fail "$*: stderr lacks \"$msg\": $(cat "$WORK/err")"
}

printf 'int main(void) { return 0; }\n' >"$WORK/ok.c"
gcc -static -o "$WORK/ok" "$WORK/ok.c"
cd "$WORK"

# ---- FIFOs where files are read ----------------------------------------

# A sysroot of its own per case, with a static program beside the recipe.
sysroot() {
	rm -rf "$WORK/root"
	mkdir -p "$WORK/root/etc/ssl/certs" "$WORK/root/var/lib/dpkg/info"
	echo "the sysroot's" >"$WORK/root/etc/hello.txt"
}

# The sysroot's CA bundle (ca-certificates: true, the default).
sysroot
mkfifo root/etc/ssl/certs/ca-certificates.crt
printf 'name: app\ncontents:\n  binaries: [{source: ok, path: /app}]\n' >ca.yaml
expect 1 "root/etc/ssl/certs/ca-certificates.crt\`: a FIFO, not a regular file" \
	"$DISTILL" build ca.yaml --sysroot root -o app.tar --no-cache

# A bundle named by the recipe: in the sysroot, and beside the recipe.
sysroot
mkfifo root/etc/bundle.pem fifo.pem
printf 'name: app\nca-certificates: /etc/bundle.pem\ncontents:\n  binaries: [{source: ok, path: /app}]\n' >ca-path.yaml
expect 1 "root/etc/bundle.pem\`: a FIFO, not a regular file" \
	"$DISTILL" build ca-path.yaml --sysroot root -o app.tar --no-cache
printf 'name: app\nca-certificates: fifo.pem\ncontents:\n  binaries: [{source: ok, path: /app}]\n' >ca-rel.yaml
expect 1 "fifo.pem\`: a FIFO, not a regular file" \
	"$DISTILL" build ca-rel.yaml --sysroot root -o app.tar --no-cache

# dpkg's status file, and a list file of an installed package.
printf 'name: app\nca-certificates: false\ncontents:\n  binaries: [{source: ok, path: /app}]\n' >app.yaml
printf 'name: app\nca-certificates: false\ncontents:\n  binaries: [{source: ok, path: /app}]\n  files: [{source: /etc/hello.txt, path: /etc/hello.txt}]\n' >dpkg.yaml
sysroot
mkfifo root/var/lib/dpkg/status
expect 1 "root/var/lib/dpkg/status\`: a FIFO, not a regular file" \
	"$DISTILL" build app.yaml --sysroot root -o app.tar --no-cache
sysroot
printf 'Package: x\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\n' >root/var/lib/dpkg/status
mkfifo root/var/lib/dpkg/info/x.list
expect 1 "root/var/lib/dpkg/info/x.list\`: a FIFO, not a regular file" \
	"$DISTILL" build dpkg.yaml --sysroot root -o app.tar --no-cache

# The recipe itself.
mkfifo fifo.yaml
expect 1 "fifo.yaml\`: a FIFO, not a regular file" "$DISTILL" build fifo.yaml -o app.tar --no-cache

# A `files` source, beside the recipe and in the sysroot.
sysroot
mkfifo fifo.txt root/etc/fifo.txt
printf 'name: app\nca-certificates: false\ncontents:\n  files: [{source: fifo.txt, path: /etc/x}]\n' >src.yaml
expect 1 '`fifo.txt` is a device, FIFO or socket, not a file' "$DISTILL" build src.yaml -o app.tar --no-cache
printf 'name: app\nca-certificates: false\ncontents:\n  files: [{source: /etc/fifo.txt, path: /etc/x}]\n' >src-root.yaml
expect 1 '`/etc/fifo.txt` is a device, FIFO or socket, not a file' \
	"$DISTILL" build src-root.yaml --sysroot root -o app.tar --no-cache
[ ! -e app.tar ] || fail "a failed build left an archive"

# ---- outputs that are inputs, or each other ----------------------------

sysroot
"$DISTILL" build app.yaml --sysroot root -o app.tar --no-cache >/dev/null
printf 'a file of the image\n' >data.txt
cat >clash.yaml <<-Y
	name: app
	ca-certificates: false
	contents:
	  binaries: [{source: ok, path: /app}]
	  files:
	    - {source: data.txt, path: /etc/data.txt}
	    - {source: /etc/hello.txt, path: /etc/hello.txt}
Y
ln -s clash.yaml link.yaml
mkdir sub

# clash STATUS-MESSAGE FILE CMD...: refused (exit 2) naming the clash, and
# FILE byte for byte what it was.
clash() {
	local msg="$1" file="$2"
	shift 2
	cp -p "$file" "$WORK/before"
	expect 2 "$msg" "$@"
	grep -qF "Try 'distill build --help'." "$WORK/err" || fail "$*: not a usage error: $(cat "$WORK/err")"
	cmp -s "$WORK/before" "$file" || fail "$*: \`$file\` changed"
	rm -f "$WORK/before"
}

build=("$DISTILL" build clash.yaml --sysroot root --no-cache)
clash '-o `clash.yaml` would overwrite the recipe `clash.yaml`' clash.yaml "${build[@]}" -o clash.yaml
clash 'would overwrite the recipe `clash.yaml`' clash.yaml "${build[@]}" -o sub/../clash.yaml
clash 'would overwrite the recipe `clash.yaml`' clash.yaml "${build[@]}" -o "$WORK/link.yaml"
clash "-o \`ok\` would overwrite contents.binaries[0]'s source \`ok\`" ok "${build[@]}" -o ok
clash "-o \`data.txt\` would overwrite contents.files[0]'s source \`data.txt\`" data.txt "${build[@]}" -o data.txt
clash "would overwrite contents.files[1]'s source \`/etc/hello.txt\`" root/etc/hello.txt \
	"${build[@]}" -o root/etc/hello.txt
# the sysroot's CA bundle (ca-certificates: true), and one the recipe names
echo 'not read: refused before' >root/etc/ssl/certs/ca-certificates.crt
clash "-o \`root/etc/ssl/certs/ca-certificates.crt\` would overwrite the ca-certificates bundle \`/etc/ssl/certs/ca-certificates.crt\`" \
	root/etc/ssl/certs/ca-certificates.crt "$DISTILL" build ca.yaml --sysroot root -o root/etc/ssl/certs/ca-certificates.crt
echo 'not read: refused before' >bundle.pem
sed 's/^ca-certificates: .*/ca-certificates: bundle.pem/' ca-rel.yaml >ca-own.yaml
clash "--sbom \`bundle.pem\` would overwrite the ca-certificates bundle \`bundle.pem\`" bundle.pem \
	"$DISTILL" build ca-own.yaml --sysroot root -o new.tar --sbom bundle.pem
clash '-o `app.tar` and --sbom `app.tar` are the same file' app.tar "${build[@]}" -o app.tar --sbom app.tar
clash '--sbom `clash.yaml` would overwrite the recipe `clash.yaml`' clash.yaml "${build[@]}" -o new.tar --sbom clash.yaml
clash '--provenance `clash.yaml` would overwrite the recipe `clash.yaml`' clash.yaml "${build[@]}" -o new.tar \
	--provenance clash.yaml
clash '-o `app.tar` and --provenance `app.tar` are the same file' app.tar "${build[@]}" -o app.tar --provenance app.tar
clash "--sbom \`./data.txt\` would overwrite contents.files[0]'s source" data.txt "${build[@]}" -o new.tar --sbom ./data.txt
# neither exists yet: the paths are compared
expect 2 'are the same file' "${build[@]}" -o new.tar --sbom "$WORK/sub/../new.tar"
[ ! -e new.tar ] || fail "a refused build wrote new.tar"
# the recipe's own sbom
sed 's/^name: app$/name: app\nsbom: app.tar/' clash.yaml >sbom.yaml
clash "-o \`app.tar\` and the recipe's sbom \`" app.tar \
	"$DISTILL" build sbom.yaml --sysroot root --no-cache -o app.tar
# with several platforms each SBOM is named after its platform
cat >multi.yaml <<-Y
	name: app
	ca-certificates: false
	platforms: {linux/amd64: root, linux/arm64: root, linux/arm: root}
	contents:
	  binaries: [{source: ok, path: /app}]
Y
cp app.tar app.linux-arm64.spdx.json
clash '-o `app.linux-arm64.spdx.json` and --sbom `app.linux-arm64.spdx.json` are the same file' \
	app.linux-arm64.spdx.json "$DISTILL" build multi.yaml --no-cache -o app.linux-arm64.spdx.json --sbom app.spdx.json
expect 2 '-o `app.linux-arm-v7.spdx.json` and --sbom `app.linux-arm-v7.spdx.json` are the same file' \
	"$DISTILL" build multi.yaml --no-cache -o app.linux-arm-v7.spdx.json --sbom app.spdx.json
# (a link named as the amd64 SBOM would be, to the recipe)
ln -s multi.yaml multi.linux-amd64.yaml
clash '--sbom `multi.linux-amd64.yaml` would overwrite the recipe `multi.yaml`' multi.yaml \
	"$DISTILL" build multi.yaml --no-cache -o x.tar --sbom multi.yaml
# and a build that clashes with nothing still builds
timeout 20 "$DISTILL" build clash.yaml --sysroot root --no-cache -o new.tar --sbom new.spdx.json >/dev/null ||
	fail "a build without a clash failed"
[ -s new.tar ] && [ -s new.spdx.json ] || fail "no archive or no SBOM"

# ---- /etc/passwd and /etc/group fields -----------------------------------

# A newline in a home would add a passwordless uid 0 account.
cat >passwd.yaml <<-'Y'
	name: app
	ca-certificates: false
	accounts:
	  users:
	    - {name: app, uid: 1000, home: "/home/app:x\nevil::0:0:x:/:/bin/sh"}
	contents:
	  binaries: [{source: ok, path: /app}]
Y
expect 1 "passwd.yaml:5:36: accounts.users[0].home: must not contain ':', a newline or another control character" \
	"$DISTILL" build passwd.yaml --sysroot root -o evil.tar --no-cache
sed -i 's|home: .*}|home: "/home/app\\nevil"}|' passwd.yaml
expect 1 "accounts.users[0].home: must not contain ':', a newline or another control character" \
	"$DISTILL" build passwd.yaml --sysroot root -o evil.tar --no-cache
sed -i 's|home: .*}|home: /home/a:b}|' passwd.yaml
expect 1 "accounts.users[0].home: must not contain ':'" "$DISTILL" build passwd.yaml --sysroot root -o evil.tar --no-cache
[ ! -e evil.tar ] || fail "an image was built with an injected passwd line"

# ---- ld.so.conf includes ---------------------------------------------------

# A program needing a library found only through ld.so.conf, in a sysroot
# without a cache (no loader: only the search is tested).
conf_root() {
	rm -rf "$WORK/conf"
	mkdir -p "$WORK/conf/etc/ld.so.conf.d" "$WORK/conf/opt/lib" "$WORK/conf/app"
	gcc -shared -fPIC -nostdlib -Wl,-soname,libfoo.so.1 -o "$WORK/conf/opt/lib/libfoo.so.1" -x c - <<<'int foo(void) { return 0; }'
	gcc -nostdlib -e main -Wl,--no-dynamic-linker -o "$WORK/conf/app/prog" -x c - -x none "$WORK/conf/opt/lib/libfoo.so.1" \
		<<<'int foo(void); int main(void) { return foo(); }'
}

# 80 files each including the whole directory: a loop, ended at once by the
# depth bound, never expanded 80^8 times.
conf_root
echo 'include /etc/ld.so.conf.d/*.conf' >conf/etc/ld.so.conf
for i in $(seq -w 80); do
	printf 'include /etc/ld.so.conf.d/*.conf\n/opt/lib\n' >"conf/etc/ld.so.conf.d/$i.conf"
done
expect 1 'includes nested deeper than 8' "$DISTILL" closure --sysroot conf /app/prog

# 80 files in eight layers, each including the whole next layer: 10^8
# readings when each include is followed again, 80 when each file is read
# once.
conf_root
echo 'include /etc/ld.so.conf.d/L0-*.conf' >conf/etc/ld.so.conf
for k in $(seq 0 7); do
	for j in $(seq 0 9); do
		{
			echo "/opt/l$k$j"
			[ "$k" = 7 ] || echo "include /etc/ld.so.conf.d/L$((k + 1))-*.conf"
			[ "$k$j" != 79 ] || echo /opt/lib
		} >"conf/etc/ld.so.conf.d/L$k-$j.conf"
	done
done
expect 0 '' "$DISTILL" closure --sysroot conf /app/prog
grep -q 'libfoo.so.1 => /opt/lib/libfoo.so.1 \[ld.so.conf\]' out || fail "libfoo not found through ld.so.conf: $(cat out)"

echo "build-hostile: ok"
