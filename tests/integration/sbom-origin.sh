#!/bin/bash
# A Debian package's purl namespace is its origin's: a curl image built from
# a sysroot (the image's own tree with a dpkg database) whose APT lists put
# libcurl4's exact version in a NodeSource repository (a gzip list), libc6's
# in Debian's and in a vendor's (Debian wins), libssl3 in NodeSource's at
# another version (that says nothing), and whose status gives zlib1g an
# Origin field: pkg:deb/nodesource/libcurl4, pkg:deb/examplevendor/zlib1g,
# and pkg:deb/debian/ for the others.
. "$(dirname "$0")/lib.sh"
need jq python3 gzip

cd "$WORK"
"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o a.tar -q --source-date-epoch 1700000000 || fail "build a"
"$DISTILL" export a.tar root >/dev/null || fail "export"
python3 - root <<'PY' || fail "making the sysroot's dpkg database and APT lists"
import gzip, os, re, sys
root = sys.argv[1]
sd = os.path.join(root, "var/lib/dpkg/status.d")
info = os.path.join(root, "var/lib/dpkg/info")
lists = os.path.join(root, "var/lib/apt/lists")
os.makedirs(info, exist_ok=True)
os.makedirs(lists, exist_ok=True)
stanzas, version, arch = [], {}, {}
for name in sorted(os.listdir(sd)):
    text = open(os.path.join(sd, name)).read()
    if name.endswith(".md5sums"):
        lines = ["/" + line.split("  ", 1)[1] + "\n" for line in text.splitlines()]
        open(os.path.join(info, name[:-len(".md5sums")] + ".list"), "w").write("".join(lines))
        continue
    pkg = re.search(r"(?m)^Package: (.*)$", text).group(1)
    version[pkg] = re.search(r"(?m)^Version: (.*)$", text).group(1)
    arch[pkg] = re.search(r"(?m)^Architecture: (.*)$", text).group(1)
    if pkg == "zlib1g":
        text = text.rstrip("\n") + "\nOrigin: Example Vendor\n"
    stanzas.append(text.rstrip("\n") + "\n")
open(os.path.join(root, "var/lib/dpkg/status"), "w").write("\n".join(stanzas))
for p in ("libcurl4", "libc6", "libssl3", "zlib1g"):
    if p not in version:
        sys.exit(f"the curl image has no {p}")
def para(p, v=None):
    return f"Package: {p}\nVersion: {v or version[p]}\nArchitecture: {arch[p]}\nMaintainer: x <x@example.org>\n\n"
def release(name, origin, signed):
    head = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" if signed else ""
    tail = "-----BEGIN PGP SIGNATURE-----\n\nOrigin: Forged\n-----END PGP SIGNATURE-----\n" if signed else ""
    open(os.path.join(lists, name), "w").write(f"{head}Origin: {origin}\nLabel: x\nSuite: s\n{tail}")
release("deb.debian.org_debian_dists_bookworm_InRelease", "Debian", True)
open(os.path.join(lists, "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"), "w").write(
    para("libc6"))
release("deb.nodesource.com_node%5f20.x_dists_nodistro_InRelease", "Node Source", True)
with gzip.open(os.path.join(lists, "deb.nodesource.com_node%5f20.x_dists_nodistro_main_binary-amd64_Packages.gz"),
               "wt") as f:
    f.write("Package: " + "x" * 10000 + "\n\n" + para("libcurl4") + para("libssl3", "9.9.9-1nodesource1")
            + "Package: libc6\nDescription: Package: libc6\nVersion: " + version["libc6"] + "\n")
# a flat repository (no dists/) of a vendor that has libc6 too: Debian wins
release("vendor.example_apt_Release", "Vendor Co", False)
open(os.path.join(lists, "vendor.example_apt_Packages"), "w").write(para("libc6"))
PY
"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o b.tar -q --source-date-epoch 1700000000 --sysroot "$WORK/root" \
	--sbom b.spdx.json || fail "build b from the sysroot"
purls=$(jq -r '.packages[].externalRefs[]? | select(.referenceType == "purl") | .referenceLocator' b.spdx.json)
purl() {
	grep "^pkg:deb/[^/]*/$1@" <<<"$purls" | cut -d/ -f2
}
[ "$(purl libcurl4)" = nodesource ] || fail "libcurl4 (NodeSource's version): namespace $(purl libcurl4)"
[ "$(purl zlib1g)" = examplevendor ] || fail "zlib1g (Origin in status): namespace $(purl zlib1g)"
[ "$(purl libc6)" = debian ] || fail "libc6 (Debian's and a vendor's): namespace $(purl libc6)"
[ "$(purl libssl3)" = debian ] || fail "libssl3 (another version at NodeSource): namespace $(purl libssl3)"
others=$(grep '^pkg:deb/' <<<"$purls" | grep -v '^pkg:deb/debian/' | cut -d@ -f1 | sort | tr '\n' ' ')
[ "$others" = "pkg:deb/examplevendor/zlib1g pkg:deb/nodesource/libcurl4 " ] || fail "namespaces not Debian's: $others"
echo "PASS: purl namespaces from the packages' origins"
