#!/bin/bash
# distill export round-trips: the tree it writes equals umoci's rootfs of
# the same image (names, types, owners, modes, link targets, hardlinks,
# contents, modification times), for an image distill built and for one
# umoci made with what a recipe cannot make (hardlinks, setuid, sticky, a
# FIFO, a device, a whiteout). A non-empty directory is refused; a symlink
# of a hostile image is never written through; --dockerfile prints the
# config as instructions no value can add to; as nobody, what cannot be
# kept is said, one line per kind, and the rest is written.
. "$(dirname "$0")/lib.sh"
need gcc jq skopeo umoci python3
need_root

# compare A B [owners]: the two trees are the same; owners compared when
# the third argument is "owners".
compare() {
	python3 - "$@" <<-'PY' || fail "export of $3 differs from umoci's rootfs"
	import hashlib, os, stat, sys
	a, b, what = sys.argv[1], sys.argv[2], sys.argv[3]
	owners = len(sys.argv) > 4 and sys.argv[4] == "owners"

	def tree(root):
	    out, inodes = {}, {}
	    for d, dirs, files in os.walk(root):
	        for n in dirs + files:
	            p = os.path.join(d, n)
	            st = os.lstat(p)
	            rel = os.path.relpath(p, root)
	            rec = [stat.S_IFMT(st.st_mode), oct(stat.S_IMODE(st.st_mode)), int(st.st_mtime)]
	            if owners:
	                rec += [st.st_uid, st.st_gid]
	            if stat.S_ISLNK(st.st_mode):
	                rec.append(os.readlink(p))
	            elif stat.S_ISREG(st.st_mode):
	                with open(p, "rb") as f:
	                    rec.append(hashlib.sha256(f.read()).hexdigest())
	                inodes.setdefault(st.st_ino, []).append(rel)
	            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
	                rec.append(st.st_rdev)
	            out[rel] = rec
	    links = sorted(sorted(v) for v in inodes.values() if len(v) > 1)
	    return out, links

	(ta, la), (tb, lb) = tree(a), tree(b)
	bad = 0
	for rel in sorted(set(ta) | set(tb)):
	    if ta.get(rel) != tb.get(rel):
	        print(f"{what}: {rel}: export {ta.get(rel)}, other {tb.get(rel)}", file=sys.stderr)
	        bad += 1
	if la != lb:
	    print(f"{what}: hardlinks: export {la}, other {lb}", file=sys.stderr)
	    bad += 1
	if not ta:
	    print(f"{what}: nothing exported", file=sys.stderr)
	    bad += 1
	sys.exit(1 if bad else 0)
	PY
}

# umoci_rootfs ARCHIVE DIR: the archive copied to a layout by skopeo and
# unpacked by umoci; DIR/rootfs is the tree.
umoci_rootfs() {
	skopeo copy -q "oci-archive:$1" "oci:$WORK/layout:x" >/dev/null
	umoci unpack --image "$WORK/layout:x" "$2" >/dev/null
	rm -rf "$WORK/layout"
}

# ---- an image distill built ----
printf 'int main(void) { return 0; }\n' >"$WORK/app.c"
gcc -static -o "$WORK/app" "$WORK/app.c"
printf 'setting = 1\n' >"$WORK/app.conf"
cat >"$WORK/app.yaml" <<'Y'
name: app
tag: "1"
contents:
  binaries: [{source: app, path: /usr/local/bin/app}]
  files:
    - {source: app.conf, path: /etc/app/app.conf, mode: 0400}
    - {source: app, path: /usr/local/bin/tool, mode: 0700}
  symlinks:
    - {path: /usr/bin/app, target: ../local/bin/app}
paths:
  - {path: /var/lib/app, type: directory, uid: 65532, gid: 65532, mode: 0750}
  - {path: /var/lib/app/state, type: file, uid: 65532, gid: 65532, mode: 0600}
entrypoint: [/usr/local/bin/app]
cmd: [--serve, "a b"]
environment: {TZ: UTC, GREETING: "hello world $HOME"}
work-dir: /var/lib/app
ports: [8080/tcp, 9090/udp]
labels: {org.example.note: "two\nlines\nFROM evil", simple: x}
stop-signal: SIGINT
Y
"$DISTILL" build "$WORK/app.yaml" -o "$WORK/app.tar" -q
"$DISTILL" export "$WORK/app.tar" "$WORK/app-out" --dockerfile "$WORK/Dockerfile" 2>"$WORK/err" \
	|| fail "export: $(cat "$WORK/err")"
[ ! -s "$WORK/err" ] || fail "export as root said something: $(cat "$WORK/err")"
umoci_rootfs "$WORK/app.tar" "$WORK/app-umoci"
compare "$WORK/app-out" "$WORK/app-umoci/rootfs" "distill's image" owners
[ "$(stat -c '%u:%g %a' "$WORK/app-out/var/lib/app")" = "65532:65532 750" ] || fail "/var/lib/app is not 65532:65532 0750"
[ "$(readlink "$WORK/app-out/usr/bin/app")" = "../local/bin/app" ] || fail "/usr/bin/app is not the symlink"
[ -z "$(find "$WORK/app-out" -name '.distill-export-*')" ] || fail "the staging directory is left in the output"

# the Dockerfile, line by line; the label's newlines stay on its line
cat >"$WORK/Dockerfile.expected" <<D
FROM scratch
# the tree distill export wrote, copied from the build context (COPY makes every file
# root's, whatever its owner in the image: see distill-export(1)):
# COPY ["$WORK/app-out", "/"]
USER 65532:65532
ENV PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ENV SSL_CERT_FILE="/etc/ssl/certs/ca-certificates.crt"
ENV TZ="UTC"
ENV GREETING="hello world \\\$HOME"
WORKDIR /var/lib/app
EXPOSE 8080/tcp
EXPOSE 9090/udp
ENTRYPOINT ["/usr/local/bin/app"]
CMD ["--serve", "a b"]
# LABEL org.example.note: a control character, which a Dockerfile cannot hold, is written as an escape
LABEL org.example.note="two\\nlines\\nFROM evil"
LABEL simple="x"
STOPSIGNAL SIGINT
D
diff -u "$WORK/Dockerfile.expected" "$WORK/Dockerfile" >&2 || fail "--dockerfile FILE: not the expected instructions"
"$DISTILL" export "$WORK/app.tar" "$WORK/app-out2" --dockerfile - >"$WORK/Dockerfile.stdout"
sed "s|$WORK/app-out|$WORK/app-out2|" "$WORK/Dockerfile.expected" | cmp -s - "$WORK/Dockerfile.stdout" \
	|| fail "--dockerfile -: not the expected instructions"
if grep -q '^FROM evil' "$WORK/Dockerfile"; then fail "a label's newline started an instruction"; fi

# ---- an image umoci made: hardlinks, setuid, sticky, a FIFO, a device, a whiteout ----
L="$WORK/made"
umoci init --layout "$L"
umoci new --image "$L:x"
umoci unpack --image "$L:x" "$WORK/m1" >/dev/null
R="$WORK/m1/rootfs"
mkdir -p "$R/bin" "$R/srv/drop" "$R/dev" "$R/gone"
cp "$WORK/app" "$R/bin/helper"
chmod 4755 "$R/bin/helper"
ln "$R/bin/helper" "$R/bin/helper-again"
printf 'shared\n' >"$R/srv/shared"
chown 1234:5678 "$R/srv/shared"
chmod 2640 "$R/srv/shared"
chmod 1777 "$R/srv/drop"
mkfifo "$R/srv/queue"
mknod "$R/dev/null-copy" c 1 3
printf 'deleted later\n' >"$R/gone/file"
ln -s ../srv/shared "$R/bin/shared"
touch -h -d @1600000000 "$R/bin/shared" "$R/srv/shared"
umoci repack --image "$L:x" "$WORK/m1" >/dev/null
umoci unpack --image "$L:x" "$WORK/m2" >/dev/null
rm -rf "$WORK/m2/rootfs/gone"
umoci repack --image "$L:x" "$WORK/m2" >/dev/null
(cd "$L" && tar -cf "$WORK/made.tar" .)
"$DISTILL" export "$WORK/made.tar" "$WORK/made-out" 2>"$WORK/err" || fail "export: $(cat "$WORK/err")"
umoci unpack --image "$L:x" "$WORK/made-umoci" >/dev/null
compare "$WORK/made-out" "$WORK/made-umoci/rootfs" "umoci's image" owners
[ ! -e "$WORK/made-out/gone" ] || fail "a directory a later layer deleted was exported"
[ "$(stat -c %i "$WORK/made-out/bin/helper")" = "$(stat -c %i "$WORK/made-out/bin/helper-again")" ] \
	|| fail "a hardlink was not exported as one"

# ---- refused: a directory that is not empty ----
mkdir "$WORK/full"
touch "$WORK/full/something"
status=0
"$DISTILL" export "$WORK/app.tar" "$WORK/full" 2>"$WORK/err" || status=$?
[ "$status" = 1 ] || fail "export into a non-empty directory exited $status"
grep -qF "distill: export: \`$WORK/full\`: not empty" "$WORK/err" || fail "non-empty DIR: $(cat "$WORK/err")"
[ "$(ls "$WORK/full")" = something ] || fail "a refused export changed the directory"

# ---- a hostile image: a symlink out, then a file below it ----
mkdir "$WORK/OUTSIDE"
python3 - "$WORK" <<-'PY'
import os, sys
sys.path.insert(0, os.path.join(os.environ["SOURCE_DIR"], "tests", "integration"))
import hostile
work = sys.argv[1]
hostile.archive(os.path.join(work, "evil.tar"), [[("evil", "l", work + "/OUTSIDE", 0o777),
                                                 ("evil/x", "f", b"written outside\n", 0o644)]])
hostile.archive(os.path.join(work, "evil2.tar"), [[("etc/", "d", None, 0o755),
                                                  ("etc/up", "l", "../../../../../../../.." + work + "/OUTSIDE", 0o777)],
                                                 [("etc/up/y", "f", b"written outside\n", 0o644)]])
hostile.archive(os.path.join(work, "parents.tar"), [[("a/b/c", "f", b"no parents listed\n", 0o640)]])
PY
# parents a layer does not list are made as a runtime makes them
"$DISTILL" export "$WORK/parents.tar" "$WORK/parents-out" || fail "export of a layer without its parents"
[ "$(stat -c %a "$WORK/parents-out/a" "$WORK/parents-out/a/b" | paste -sd' ')" = "755 755" ] || fail "parents not made 0755"
[ "$(cat "$WORK/parents-out/a/b/c")" = "no parents listed" ] || fail "a file below parents not listed"
for evil in evil evil2; do
	status=0
	"$DISTILL" export "$WORK/$evil.tar" "$WORK/$evil-out" 2>"$WORK/err" || status=$?
	[ "$status" = 1 ] || fail "$evil: export exited $status: $(cat "$WORK/err")"
	grep -q "not a directory in the image" "$WORK/err" || fail "$evil: $(cat "$WORK/err")"
	grep -qF "\`$WORK/$evil-out\` is left as it is, written in part" "$WORK/err" || fail "$evil: $(cat "$WORK/err")"
	[ -z "$(ls -A "$WORK/OUTSIDE")" ] || fail "$evil: export wrote outside its directory: $(ls -A "$WORK/OUTSIDE")"
done

# ---- as nobody: what cannot be kept said, one line per kind, exit 0 ----
if ! command -v setpriv >/dev/null; then
	echo "SKIP (part): setpriv is not installed: export as non-root not run"
	exit 0
fi
chmod 0755 "$WORK"
chmod 0644 "$WORK/app.tar" "$WORK/made.tar"
mkdir "$WORK/nobody"
chown 65534:65534 "$WORK/nobody"
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}
as_nobody "$DISTILL" export "$WORK/app.tar" "$WORK/nobody/app" 2>"$WORK/err" \
	|| fail "export as nobody: $(cat "$WORK/err")"
n=$(find "$WORK/app-out" -mindepth 1 | wc -l)
grep -qx "distill: export: owners of $n entries not kept (not root): they belong to uids 0, 65532 in the image" "$WORK/err" \
	|| fail "export as nobody: no summary of the owners: $(cat "$WORK/err")"
[ "$(wc -l <"$WORK/err")" = 1 ] || fail "export as nobody: more than one line: $(cat "$WORK/err")"
compare "$WORK/nobody/app" "$WORK/app-out" "distill's image as nobody"
as_nobody "$DISTILL" export "$WORK/made.tar" "$WORK/nobody/made" 2>"$WORK/err" \
	|| fail "export as nobody: $(cat "$WORK/err")"
grep -q "^distill: export: owners of [0-9]* entries not kept (not root): they belong to uids 0, 1234 in the image" \
	"$WORK/err" || fail "export as nobody: no summary of the owners: $(cat "$WORK/err")"
grep -qx "distill: export: 1 device nodes not made (not root), the first \`/dev/null-copy\`" "$WORK/err" \
	|| fail "export as nobody: no summary of the device: $(cat "$WORK/err")"
[ -p "$WORK/nobody/made/srv/queue" ] || fail "export as nobody: no FIFO"
[ "$(stat -c %a "$WORK/nobody/made/bin/helper")" = 4755 ] || fail "export as nobody: the setuid bit was not kept"
