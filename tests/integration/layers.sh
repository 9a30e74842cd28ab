#!/bin/bash
# Layers the recipe decides: a base recipe whose layers an app recipe on it
# (from-recipe) reuses byte for byte, the app's only new layer its own; a
# `runtime` layer between the libraries and the app, whose program runs;
# a changed app file changes the app layer only; the cache reuses a
# recipe's own layer; inspect names each file's layer; and the errors.
. "$(dirname "$0")/lib.sh"
need gcc jq podman runc
need_root

P=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --storage-driver vfs
	--runtime runc --cgroup-manager cgroupfs --events-backend file)
on_exit '"${P[@]}" rmi -af >/dev/null 2>&1 || true'

cd "$WORK"
cat >rt.c <<'C'
#include <stdio.h>
int main(void)
{
	char line[128] = "";
	FILE *f = fopen("/usr/share/rt/data.txt", "r");
	if (f == NULL || fgets(line, sizeof line, f) == NULL)
		return 2;
	printf("runtime says %s", line);
	return 0;
}
C
gcc -O2 -o rt rt.c
echo "the runtime's data" >data.txt
echo "app version 1" >app.txt
cat >base.yaml <<'Y'
name: distill-test/layers-base
contents:
  binaries:
    - {source: rt, path: /usr/bin/rt}
  files:
    - {source: data.txt, path: /usr/share/rt/data.txt}
Y
cat >app.yaml <<'Y'
name: distill-test/layers-app
from-recipe: base.yaml
contents:
  files:
    - {source: app.txt, path: /srv/app.txt}
entrypoint: [/usr/bin/rt]
Y
cat >runtime.yaml <<'Y'
name: distill-test/layers-runtime
layers: [base, libraries, runtime, app]
contents:
  binaries:
    - {source: rt, path: /usr/bin/rt, layer: runtime}
  files:
    - {source: data.txt, path: /usr/share/rt/data.txt, layer: runtime}
    - {source: app.txt, path: /srv/app.txt}
entrypoint: [/usr/bin/rt]
Y

# manifest ARCHIVE: its layers' digests, one a line; diff_ids ARCHIVE: its config's
manifest() { tar -xOf "$1" "blobs/sha256/$(manifest_digest "$1" | cut -d: -f2)" | jq -r '.layers[].digest'; }
diff_ids() { image_config "$1" | jq -r '.rootfs.diff_ids[]'; }
build() { "$DISTILL" build "$1" -o "$2" -q --no-cache || fail "build $1: exited $?"; }

# ---- an app recipe on a base recipe -----------------------------------
build base.yaml base.tar
build app.yaml app1.tar
nb=$(manifest base.tar | wc -l)
na=$(manifest app1.tar | wc -l)
[ "$na" = $((nb + 1)) ] || fail "the app image has $na layers, not the base's $nb and one of its own"
[ "$(manifest app1.tar | head -n "$nb")" = "$(manifest base.tar)" ] ||
	fail "the app image's first layers are not the base image's blobs: $(diff <(manifest base.tar) <(manifest app1.tar))"
[ "$(diff_ids app1.tar | head -n "$nb")" = "$(diff_ids base.tar)" ] || fail "the app image's first diff_ids are not the base's"
"$DISTILL" inspect --json app1.tar | jq -e '[.files[] | select(.path == "/srv/app.txt" and .layer == '"$na"')] | length == 1' \
	>/dev/null || fail "/srv/app.txt is not in the app's own layer"
[ "$(image_config app1.tar | jq -r '.config.Entrypoint[0]')" = /usr/bin/rt ] || fail "the app's entrypoint is not its own"
"$DISTILL" build app.yaml -o prov.tar -q --no-cache --provenance prov.json || fail "build app.yaml --provenance"
[ "$(jq -r .buildDefinition.externalParameters.fromRecipe.digest.sha256 prov.json)" = "$(sha256sum base.yaml | cut -d' ' -f1)" ] ||
	fail "the provenance does not record the base recipe: $(jq -c .buildDefinition.externalParameters prov.json)"
echo "app version 2" >app.txt
build app.yaml app2.tar
[ "$(manifest app2.tar | head -n "$nb")" = "$(manifest base.tar)" ] || fail "a changed app file changed a base layer"
[ "$(manifest app2.tar | tail -1)" != "$(manifest app1.tar | tail -1)" ] || fail "a changed app file left the app layer as it was"
echo "ok: the app image is the base's layers, byte for byte, and its own one"

# a program of the app that needs a library the base lacks: that library
# goes in the app's own libraries layer, the base's are not added again
cat >calc.c <<'C'
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) { printf("%.1f\n", sqrt(atof(argc > 1 ? argv[1] : "2"))); return 0; }
C
gcc -O2 -o calc calc.c -lm
ldd calc | grep -q 'libm\.so\.6' || fail "the fixture calc does not need libm: $(ldd calc)"
cat >calc.yaml <<'Y'
name: distill-test/layers-calc
from-recipe: base.yaml
contents:
  binaries:
    - {source: calc, path: /usr/local/bin/calc}
entrypoint: [/usr/local/bin/calc]
Y
build calc.yaml calc.tar
[ "$(manifest calc.tar | head -n "$nb")" = "$(manifest base.tar)" ] || fail "calc: the base's layers are not the base image's"
[ "$(manifest calc.tar | wc -l)" = $((nb + 2)) ] || fail "calc: not the base's layers, a libraries layer and an app layer"
"$DISTILL" inspect --json calc.tar >calc.json
libm=$(jq -r '.files[] | select(.path | test("/libm\\.so\\.6$")) | .layer_name + " " + (.layer | tostring)' calc.json)
[ "$libm" = "libraries $((nb + 1))" ] || fail "calc: libm is not in the app's libraries layer: $libm"
[ "$(jq -r '.files[] | select(.path | test("/libc\\.so\\.6$")) | .layer' calc.json)" = 2 ] ||
	fail "calc: libc.so.6 is not the base's"
# libc6's md5sums, written again above the base's, lists the files of both
blob=$(manifest calc.tar | sed -n "$((nb + 1))p")
tar -xOf calc.tar "blobs/sha256/${blob#sha256:}" | tar -xzOf - var/lib/dpkg/status.d/libc6.md5sums >md5sums ||
	fail "calc: no libc6.md5sums in the app's libraries layer"
grep -q ' usr/lib/.*/libm\.so\.6$' md5sums && grep -q ' usr/lib/.*/libc\.so\.6$' md5sums ||
	fail "calc: libc6.md5sums does not list libc and libm: $(cat md5sums)"
echo "ok: a library the base lacks goes in the app's libraries layer"

# ---- a runtime layer ---------------------------------------------------
echo "app version 1" >app.txt
build runtime.yaml rt1.tar
echo "app version 3" >app.txt
build runtime.yaml rt2.tar
[ "$(manifest rt1.tar | wc -l)" = 4 ] || fail "the runtime recipe has not four layers: $(manifest rt1.tar)"
[ "$(manifest rt1.tar | head -3)" = "$(manifest rt2.tar | head -3)" ] || fail "a changed app file changed another layer than app"
[ "$(manifest rt1.tar | tail -1)" != "$(manifest rt2.tar | tail -1)" ] || fail "a changed app file left the app layer as it was"
image_config rt1.tar | jq -r '.history[].created_by' >history.txt
grep -qx 'distill: runtime (a layer of the recipe)' history.txt || fail "the history does not name the runtime layer: $(cat history.txt)"
"${P[@]}" load -i rt2.tar >load.log 2>&1 || fail "podman load: $(cat load.log)"
out=$("${P[@]}" run --rm --pull=never --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
	distill-test/layers-runtime:latest) || fail "podman run: $out"
[ "$out" = "runtime says the runtime's data" ] || fail "the program of the runtime layer: $out"
echo "ok: a program in a runtime layer runs; a changed app file changes the app layer only"

# a Debian package taken whole into the runtime layer (zlib1g: in every
# Debian system that has gcc)
sed 's/^  files:/  packages:\n    - {name: zlib1g, layer: runtime}\n  files:/' runtime.yaml >pkg.yaml
build pkg.yaml pkg.tar
"$DISTILL" inspect --json pkg.tar >pkg.json
[ "$(jq -r '[.files[] | select(.path | test("/libz\\.so\\.1")) | .layer_name] | unique | join(" ")' pkg.json)" = runtime ] ||
	fail "zlib1g's files are not in the runtime layer: $(jq -c '.files[] | select(.path | test("libz"))' pkg.json)"

# ---- the cache keeps and reuses the recipe's own layer -------------------
"$DISTILL" build runtime.yaml -o c1.tar -v --cache "$WORK/cache" >c1.log
"$DISTILL" build runtime.yaml -o c2.tar -v --cache "$WORK/cache" >c2.log
[ "$(grep -c '(from the cache)$' c2.log)" = 4 ] || fail "the cache did not give every layer: $(cat c2.log)"
cmp c2.tar rt2.tar || fail "the cached layers give other bytes than --no-cache"

# ---- inspect: each file's layer ------------------------------------------
"$DISTILL" inspect rt2.tar >inspect.txt
awk '/^files of layer/ {l = $0} $NF == "/usr/bin/rt" {print l}' inspect.txt | grep -qx 'files of layer 3 (runtime):' ||
	fail "inspect does not list /usr/bin/rt in the runtime layer: $(cat inspect.txt)"
grep -q '^layer 3: .* runtime$' inspect.txt || fail "inspect does not name layer 3"
[ "$("$DISTILL" inspect --json rt2.tar | jq -r '.files[] | select(.path == "/srv/app.txt") | "\(.layer) \(.layer_name)"')" = "4 app" ] ||
	fail "inspect --json: the layer of /srv/app.txt"
echo "ok: inspect shows each file's layer"

# a layer nothing goes in is left out, and said
sed 's/^layers: .*/layers: [base, libraries, runtime, extra, app]/' runtime.yaml >empty.yaml
run build empty.yaml -o empty.tar --no-cache
ok "a recipe with an empty layer"
grep -q 'empty.yaml: layer "extra" has nothing in it: it is left out of the image' "$WORK/err" ||
	fail "the empty layer is not said: $(cat "$WORK/err")"
[ "$(manifest empty.tar)" = "$(manifest rt2.tar)" ] || fail "an empty layer changed the image"

# ---- errors --------------------------------------------------------------
sed 's/layer: runtime}/layer: runtim}/' runtime.yaml >unknown.yaml
run build unknown.yaml -o x.tar
refused "an unknown layer" 'unknown.yaml:[0-9]+:[0-9]+: contents.binaries\[0\].layer: "runtim" is not a layer of the recipe'
sed 's/^layers: .*/layers: [base, libraries, runtime, app, runtime]/' runtime.yaml >dup.yaml
run build dup.yaml -o x.tar
refused "a duplicate layer" 'dup.yaml:2:[0-9]+: layers\[4\]: "runtime": duplicate layer'
printf 'name: a\nfrom-recipe: b.yaml\n' >a.yaml
printf 'name: b\nfrom-recipe: a.yaml\n' >b.yaml
run build a.yaml -o x.tar
refused "a cycle of from-recipe" 'b.yaml:2:14: from-recipe: `.*a.yaml` makes a cycle of base recipes: .*/a.yaml -> .*/b.yaml -> .*/a.yaml$'
printf 'name: c\nfrom-recipe: c.yaml\n' >c.yaml
run build c.yaml -o x.tar
refused "a recipe on itself" 'c.yaml:2:14: from-recipe: `.*c.yaml` makes a cycle of base recipes: .*/c.yaml -> .*/c.yaml$'
sed 's/app.txt, path: \/srv\/app.txt/data.txt, path: \/usr\/bin\/rt/' app.yaml >change.yaml
run build change.yaml -o x.tar
refused "an app that changes a base file" 'change.yaml: `/usr/bin/rt` .* would change what its base recipe .*base.yaml puts there'
echo "PASS: layers the recipe decides, and base recipes"
