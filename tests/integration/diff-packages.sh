#!/bin/bash
# distill diff leads with the Debian packages: two images of curl, one
# from this machine, one from a sysroot whose dpkg database gives
# libcurl4 an older version: the diff names the package, both versions and
# "downgrade" before any file, and its --json has them as fields; the files
# that differ come under their package (libcurl4's library, one byte
# longer in the sysroot, and its stanza) or their directory; inspect
# --packages lists the packages by layer; second comes what a pull of the
# new image downloads where the old one is.
. "$(dirname "$0")/lib.sh"
need jq python3 dpkg

cd "$WORK"
"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o a.tar -q --source-date-epoch 1700000000 || fail "build a"
# the sysroot: the image's own tree, with a dpkg database made from its
# status.d (libcurl4's version lowered) and its md5sums (the lists)
"$DISTILL" export a.tar root >/dev/null || fail "export"
old=$(sed -n 's/^Version: //p' root/var/lib/dpkg/status.d/libcurl4)
[ -n "$old" ] || fail "the image has no libcurl4 stanza"
lower=0.1-1
python3 - root "$lower" <<'PY' || fail "making the sysroot's dpkg database"
import os, re, sys
root, lower = sys.argv[1:]
sd = os.path.join(root, "var/lib/dpkg/status.d")
info = os.path.join(root, "var/lib/dpkg/info")
os.makedirs(info, exist_ok=True)
stanzas = []
for name in sorted(os.listdir(sd)):
    text = open(os.path.join(sd, name)).read()
    if name.endswith(".md5sums"):
        lines = ["/" + line.split("  ", 1)[1] + "\n" for line in text.splitlines()]
        open(os.path.join(info, name[:-len(".md5sums")] + ".list"), "w").write("".join(lines))
        continue
    if re.search(r"(?m)^Package: libcurl4$", text):
        text = re.sub(r"(?m)^Version: .*$", "Version: " + lower, text)
    stanzas.append(text.rstrip("\n") + "\n")
open(os.path.join(root, "var/lib/dpkg/status"), "w").write("\n".join(stanzas))
PY
dpkg --compare-versions "$lower" lt "$old" || fail "the premise: $lower is older than $old"
lib=$(grep -m1 '/libcurl\.so\.4\.[0-9.]*$' root/var/lib/dpkg/status.d/libcurl4.md5sums | sed 's/^[0-9a-f]*  /\//')
[ -n "$lib" ] && [ -f "root$lib" ] || fail "libcurl4's md5sums names no libcurl.so.4.*"
printf '\0' >>"root$lib"
"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o b.tar -q --source-date-epoch 1700000000 --sysroot "$WORK/root" ||
	fail "build b from the sysroot"

st=0
"$DISTILL" diff a.tar b.tar >diff.txt || st=$?
[ "$st" = 1 ] || fail "diff exited $st: $(cat diff.txt)"
head -1 diff.txt | grep -qx "package libcurl4:amd64: $old -> $lower (downgrade)" ||
	fail "the diff does not lead with the downgrade: $(head -3 diff.txt)"
# then what a pull of b downloads where a is: the layers a lacks, their bytes
sed -n 2p diff.txt | grep -qE '^pull layers: [0-9]+ of [0-9]+, [0-9.]+ of [0-9.]+ MB$' ||
	fail "the diff's second line is not the pull: $(sed -n 2p diff.txt)"
st=0
"$DISTILL" diff b.tar a.tar >back.txt || st=$?
grep -qx "package libcurl4:amd64: $lower -> $old (upgrade)" back.txt || fail "the other way is no upgrade: $(head -3 back.txt)"
"$DISTILL" diff a.tar b.tar --json >diff.json || true
jq -e --arg old "$old" --arg new "$lower" '.differences[0] | .kind == "package" and .where == "libcurl4:amd64"
	and .old == $old and .new == $new and .change == "downgrade"' diff.json >/dev/null ||
	fail "--json: $(jq -c '.differences[0]' diff.json)"
want=$(python3 - a.tar b.tar <<'PY'
import json, sys, tarfile
def layers(path):
    with tarfile.open(path) as t:
        index = json.load(t.extractfile("index.json"))
        m = json.load(t.extractfile("blobs/sha256/" + index["manifests"][0]["digest"][7:]))
        return {l["digest"]: l["size"] for l in m["layers"]}
a, b = layers(sys.argv[1]), layers(sys.argv[2])
print(sum(size for d, size in b.items() if d not in a))
PY
)
jq -e --argjson want "$want" '.differences[1] | .kind == "pull" and .bytes == $want' diff.json >/dev/null ||
	fail "--json: the pull is not the $want bytes of b's layers a lacks: $(jq -c '.differences[1]' diff.json)"
# a file's change as fields too: the stanza of libcurl4, its old and new content
jq -e '.differences[] | select(.kind == "file" and .where == "/var/lib/dpkg/status.d/libcurl4")
	| .field == "content" and (.old.digest | startswith("sha256:")) and .new.digest != .old.digest' diff.json >/dev/null ||
	fail "--json: the stanza's change has no old and new content: $(jq -c '.differences[] | select(.kind == "file")' diff.json | head -3)"
[ "$(jq '[.differences[] | select(.kind == "package")] | length' diff.json)" = 1 ] ||
	fail "--json names other packages: $(jq -c '[.differences[] | select(.kind == "package")]' diff.json)"
# grouped by package: the heading, then the library and the stanza
awk -v lib="$lib" '
	/^files / { heading = $0 }
	index($0, "file " lib ": content") == 1 || index($0, "file /var/lib/dpkg/status.d/libcurl4: content") == 1 {
		if (heading !~ /^files of package libcurl4:amd64 \([0-9]+\):$/) bad = bad " " $2 " under [" heading "]"; n++
	}
	END { if (bad != "" || n != 2) { print n " lines," bad; exit 1 } }' diff.txt >grouped.txt ||
	fail "the files of libcurl4 are not under its heading: $(cat grouped.txt); $(grep -n '^files\|libcurl' diff.txt)"
jq -e --arg lib "$lib" '[.differences[] | select(.kind == "file" and (.where == $lib
	or .where == "/var/lib/dpkg/status.d/libcurl4")) | .package] == ["libcurl4:amd64", "libcurl4:amd64"]' diff.json >/dev/null ||
	fail "--json: the files of libcurl4 have no package: $(jq -c '[.differences[] | select(.kind == "file")]' diff.json)"
jq -e '[.differences[] | select(.kind == "file" and .package == null)] | all(has("directory"))' diff.json >/dev/null ||
	fail "--json: a file in no package has no directory"
"$DISTILL" diff a.tar a.tar >same.txt || fail "an image against itself: $(cat same.txt)"
# inspect --packages: the same packages, with their layers
"$DISTILL" inspect b.tar --packages >pk.txt || fail "inspect --packages"
grep -qx "layer [0-9]*: libcurl4:amd64 $lower" pk.txt || fail "inspect --packages: $(cat pk.txt)"
[ "$(wc -l <pk.txt)" = "$(ls root/var/lib/dpkg/status.d | grep -vc '\.md5sums$')" ] ||
	fail "inspect --packages lists $(wc -l <pk.txt) packages, status.d has $(ls root/var/lib/dpkg/status.d | grep -vc '\.md5sums$')"
"$DISTILL" inspect b.tar --packages --json | jq -e --arg v "$lower" \
	'.packages | any(.name == "libcurl4" and .version == $v and .layer >= 1)' >/dev/null ||
	fail "inspect --packages --json: $("$DISTILL" inspect b.tar --packages --json)"
echo "diff-packages: the downgrade named first, with both versions"
