#!/bin/bash
# The layer cache kept in a registry (build --cache-from, --cache-to),
# against Debian's distribution registry on 127.0.0.1 (plain HTTP,
# --tls-verify=false).  Clones of a small project build with an empty
# local cache, as a CI job on a new machine does:
#   a. --cache-to: the tag holds an OCI manifest whose config is a distill
#      cache naming exactly the image's layers, each blob in the repository
#      (mounted from the pushed one, not sent again), written after the push
#   b. another clone, only the application changed, --cache-from: every
#      other layer from the registry's cache, the bytes of a build without
#      a cache, the pushed digest the archive's, no unchanged blob sent
#   c. a tag that is not there is an empty cache, and a registry that
#      cannot be reached is left out with a warning, beside the good one; a
#      push to a new repository mounts the fetched blobs from the cache's
#   d. a poisoned cache (an entry claiming the libraries layer, its blob
#      another layer's): said, the layer built here, the image unchanged,
#      checked, and pushed as it is
#   e. a tag holding an image is refused (--cache-from and --cache-to);
#      --cache-from and --cache-to with --no-cache: a usage error
#   f. a second writer: both applications' entries, one entry per layer
#      content, every blob there
#   g. back to the first version: its own layer is fetched, not only the
#      newest of its shape
# Requests are read from the registry's access log (lib.sh: reg_requests).
. "$(dirname "$0")/lib.sh"
need docker-registry curl jq gcc tar cmp sha256sum
"$DISTILL" --version | grep -q libcurl || skip "this distill has no registry client (a static build)"

OCI=application/vnd.oci.image.manifest.v1+json
CACHE_CONFIG=application/vnd.distill.cache.config.v1+json
EPOCH=1700000000

start_registry
H=127.0.0.1:$port
REG_LOG=$WORK/registry.log
TLS=--tls-verify=false

# clone SRC DST [GREETING]: a copy of SRC made now, elsewhere (other inodes
# and mtimes); with GREETING its program rebuilt to print that
clone() {
	rm -rf "$2"
	mkdir -p "$2"
	cp -r "$1/." "$2/"
	find "$2" -type f -exec touch -d '2002-03-04 05:06:07' {} +
	if [ -n "${3:-}" ]; then
		sed -i "s/puts(\"[^\"]*\")/puts(\"$3\")/" "$2/app.c"
		gcc -O2 -o "$2/app" "$2/app.c"
	fi
}
# build NAME DIR [OPTION]...: DIR's recipe into $WORK/NAME.tar (-v -v:
# NAME.log, stderr: NAME.err); fails the test when distill fails
build() {
	local name=$1 dir=$2
	shift 2
	"$DISTILL" build "$dir/app.yaml" -o "$WORK/$name.tar" -v -v --source-date-epoch "$EPOCH" "$@" \
		>"$WORK/$name.log" 2>"$WORK/$name.err" || fail "build $name exited $?: $(cat "$WORK/$name.err")"
}
# attempt NAME DIR [OPTION]...: the same, its exit status in rc
attempt() {
	local name=$1 dir=$2
	shift 2
	rc=0
	"$DISTILL" build "$dir/app.yaml" -o "$WORK/$name.tar" --source-date-epoch "$EPOCH" "$@" \
		>"$WORK/$name.log" 2>"$WORK/$name.err" || rc=$?
}
hits() { grep -c '(from the cache)$' "$WORK/$1.log" || true; }
layers() { grep -c '^layer ' "$WORK/$1.log"; }
# cached NAME DIGEST: the build NAME took the layer DIGEST from a cache
cached() { grep -Eq "^layer [0-9]+: .* $2 \(from the cache\)$" "$WORK/$1.log"; }
# written NAME DIGEST: the build NAME has the layer DIGEST, compressed here
written() { grep -Eq "^layer [0-9]+: .* $2$" "$WORK/$1.log"; }
# image_layers ARCHIVE: the digests of the image's layers, in order
image_layers() {
	local m
	m=$(manifest_digest "$1")
	tar -xOf "$1" "blobs/sha256/${m#sha256:}" | jq -r '.layers[].digest'
}
# pairs ARCHIVE: "DIGEST DIFF_ID" of each layer, sorted
pairs() {
	paste -d' ' <(image_layers "$1") <(image_config "$1" | jq -r '.rootfs.diff_ids[]') | sort
}
# manifest REPO REF: the manifest the registry serves (OCI), or fails
manifest() {
	curl -fsS -H "Accept: $OCI" "http://$H/v2/$1/manifests/$2"
}
# served REPO REF: the digest of the bytes the registry serves
served() {
	manifest "$1" "$2" | sha256sum | sed 's/^/sha256:/; s/ .*//'
}
# blob_status REPO DIGEST: the HTTP status of HEAD on the blob
blob_status() {
	curl -s -o /dev/null -I -w '%{http_code}' "http://$H/v2/$1/blobs/$2" || true
}
# cache_config TAG: the config of distill/cache:TAG, after checking that
# the tag is a distill cache whose layers are its entries' blobs, all there
cache_config() {
	local m d
	m=$(manifest distill/cache "$1") || fail "distill/cache:$1 has no OCI manifest"
	[ "$(echo "$m" | jq -r .mediaType)" = "$OCI" ] || fail "distill/cache:$1 is not an OCI image manifest: $m"
	[ "$(echo "$m" | jq -r .config.mediaType)" = "$CACHE_CONFIG" ] ||
		fail "distill/cache:$1's config is $(echo "$m" | jq -r .config.mediaType), not $CACHE_CONFIG"
	curl -fsS "http://$H/v2/distill/cache/blobs/$(echo "$m" | jq -r .config.digest)" >"$WORK/config.$1.json" ||
		fail "distill/cache:$1's config blob cannot be read"
	jq -e '."distill-cache" == 1 and (.entries | type == "array")' "$WORK/config.$1.json" >/dev/null ||
		fail "distill/cache:$1's config is not a distill cache: $(cat "$WORK/config.$1.json")"
	for d in $(jq -r '.entries[].digest' "$WORK/config.$1.json"); do
		[ "$(blob_status distill/cache "$d")" = 200 ] || fail "distill/cache:$1 names the blob $d, which distill/cache lacks"
	done
	[ "$(echo "$m" | jq -r '.layers[].digest' | sort)" = "$(jq -r '.entries[].digest' "$WORK/config.$1.json" | sort -u)" ] ||
		fail "distill/cache:$1's layers are not its entries' blobs: $m"
	cat "$WORK/config.$1.json"
}
# sent OFFSET REPO DIGEST: the upload requests (PUT with ?digest=) of the
# blob DIGEST to REPO since OFFSET
sent() {
	reg_requests "$1" | grep -E "^(PUT|PATCH) /v2/$2/blobs/uploads/[^ ]*digest=$3" || true
}
# put_blob REPO FILE: FILE uploaded as a blob of REPO (POST, then one PUT)
put_blob() {
	local d loc
	d=sha256:$(sha256sum <"$2" | cut -d' ' -f1)
	loc=$(curl -fsS -X POST -D - -o /dev/null "http://$H/v2/$1/blobs/uploads/" | tr -d '\r' |
		sed -n 's/^[Ll]ocation: //p')
	[ -n "$loc" ] || fail "the registry started no upload to $1"
	case $loc in /*) loc="http://$H$loc" ;; esac
	case $loc in *\?*) loc="$loc&digest=$d" ;; *) loc="$loc?digest=$d" ;; esac
	curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$2" "$loc" >/dev/null ||
		fail "the upload of $2 to $1 failed"
}

echo "== a. the first clone, an empty local cache, --cache-to and --push"
project "$WORK/a" "version one"
mark=$(reg_mark)
build a "$WORK/a" --cache "$WORK/ca" $TLS --cache-to "docker://$H/distill/cache:main" --push "docker://$H/distill/app:1"
reg_mark >/dev/null # its last requests in the log
[ "$(hits a)" = 0 ] || fail "a. an empty local cache gave $(hits a) layers"
[ "$(layers a)" = 3 ] || fail "a. $(layers a) layers, the test expects three: the base, the libraries, the application"
a_digest=$(manifest_digest "$WORK/a.tar")
[ "$(served distill/app 1)" = "$a_digest" ] || fail "a. distill/app:1 serves $(served distill/app 1), the archive is $a_digest"
mapfile -t A_LAYERS < <(image_layers "$WORK/a.tar")
[ "$(manifest distill/app 1 | jq -r '.layers[].digest')" = "$(printf '%s\n' "${A_LAYERS[@]}")" ] ||
	fail "a. the pushed manifest's layers are not the archive's"
base=${A_LAYERS[0]}
app_a=${A_LAYERS[2]}
libs=$(manifest distill/app 1 | jq -r '.layers | max_by(.size) | .digest')
[ "$libs" = "${A_LAYERS[1]}" ] || fail "a. the largest layer is $libs, not the second one (the libraries) as the test expects"
cache_config main >"$WORK/main.a.json"
[ "$(jq -r '.entries[] | "\(.digest) \(.diff_id)"' "$WORK/main.a.json" | sort)" = "$(pairs "$WORK/a.tar")" ] ||
	fail "a. the cache's entries are not the image's layers: $(jq -c '.entries' "$WORK/main.a.json"); the image: $(pairs "$WORK/a.tar" | tr '\n' ' ')"
[ "$(jq -r '.entries[].content' "$WORK/main.a.json" | sort -u | wc -l)" = 3 ] || fail "a. the entries' content keys are not three distinct ones"
# the cache's blobs mounted from the pushed repository: only its config uploaded
uploaded=$(reg_uploaded "$mark" distill/cache | tr '\n' ' ')
[ "$uploaded" = "$(manifest distill/cache main | jq -r .config.digest) " ] ||
	fail "a. uploaded to distill/cache: $uploaded(only the cache's config expected: the layers mounted from distill/app)"
order=$(reg_requests "$mark" | grep -E '^PUT /v2/distill/(app|cache)/manifests/' | cut -d' ' -f2)
[ "$order" = "$(printf '/v2/distill/app/manifests/1\n/v2/distill/cache/manifests/main')" ] ||
	fail "a. the manifests were put in this order: $order (the cache's after the image's expected)"

echo "== b. another clone, only the application changed, an empty local cache, --cache-from"
clone "$WORK/a" "$WORK/b" "version two"
mark=$(reg_mark)
build b "$WORK/b" --cache "$WORK/cb" $TLS --cache-from "docker://$H/distill/cache:main" --push "docker://$H/distill/app:2"
reg_mark >/dev/null
build b-none "$WORK/b" --no-cache
cmp -s "$WORK/b.tar" "$WORK/b-none.tar" || fail "b. the build from the registry's cache differs from one without a cache"
mapfile -t B_LAYERS < <(image_layers "$WORK/b.tar")
app_b=${B_LAYERS[2]}
[ "${B_LAYERS[0]} ${B_LAYERS[1]}" = "$base $libs" ] && [ "$app_b" != "$app_a" ] ||
	fail "b. the premise: only the application's layer changed (a: ${A_LAYERS[*]}; b: ${B_LAYERS[*]})"
[ "$(hits b)" = 2 ] && cached b "$base" && cached b "$libs" && written b "$app_b" ||
	fail "b. not every layer but the application's came from the registry's cache: $(grep '^layer ' "$WORK/b.log")"
! grep -q 'warning' "$WORK/b.err" || fail "b. the build warned: $(grep warning "$WORK/b.err")"
for d in "$base" "$libs"; do
	reg_requests "$mark" | grep -q "^GET /v2/distill/cache/blobs/$d 200$" || fail "b. the blob $d was not fetched from distill/cache"
done
b_digest=$(manifest_digest "$WORK/b.tar")
[ "$(served distill/app 2)" = "$b_digest" ] || fail "b. distill/app:2 serves $(served distill/app 2), the archive is $b_digest"
for d in "$base" "$libs"; do
	[ -z "$(sent "$mark" distill/app "$d")" ] || fail "b. the unchanged blob $d was sent to distill/app again: $(sent "$mark" distill/app "$d")"
done

echo "== c. a tag that is not there beside the good one; a push to a new repository"
clone "$WORK/b" "$WORK/c"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $OCI" "http://$H/v2/distill/cache/manifests/nothing")" = 404 ] ||
	fail "c. the premise: distill/cache:nothing exists"
mark=$(reg_mark)
down=$(free_port)
build c "$WORK/c" --cache "$WORK/cc" $TLS --cache-from "docker://$H/distill/cache:nothing" \
	--cache-from "docker://127.0.0.1:$down/distill/cache:main" \
	--cache-from "docker://$H/distill/cache:main" --push "docker://$H/distill/fresh:1"
reg_mark >/dev/null
grep -q "warning: --cache-from docker://127.0.0.1:$down/distill/cache:main: .*building without it" "$WORK/c.err" ||
	fail "c. a registry that cannot be reached was not warned about: $(cat "$WORK/c.err")"
cmp -s "$WORK/c.tar" "$WORK/b-none.tar" || fail "c. the build differs from one without a cache"
[ "$(hits c)" = 2 ] && cached c "$base" && cached c "$libs" ||
	fail "c. with a missing tag first, not every layer but the application's came from the cache: $(grep '^layer ' "$WORK/c.log")"
[ "$(served distill/fresh 1)" = "$b_digest" ] || fail "c. distill/fresh:1 serves $(served distill/fresh 1), not $b_digest"
for d in "$base" "$libs"; do
	[ -z "$(sent "$mark" distill/fresh "$d")" ] || fail "c. the fetched blob $d was sent to distill/fresh, not mounted from distill/cache"
	reg_requests "$mark" | grep -q "^POST /v2/distill/fresh/blobs/uploads/?mount=$d&from=distill%2Fcache 201$" ||
		fail "c. the fetched blob $d was not mounted from distill/cache: $(reg_requests "$mark" | grep "/v2/distill/fresh/" | tr '\n' ';')"
done

echo "== d. a poisoned cache: the libraries' entry points at the base layer's blob"
jq -c --arg libs "$libs" --arg base "$base" --argjson size "$(manifest distill/app 1 | jq --arg d "$base" '.layers[] | select(.digest == $d) | .size')" \
	'.entries |= map(if .digest == $libs then .digest = $base | .size = $size else . end)' "$WORK/main.a.json" |
	tr -d '\n' >"$WORK/poisoned.json"
[ "$(jq -r --arg d "$base" '[.entries[] | select(.digest == $d)] | length' "$WORK/poisoned.json")" = 2 ] ||
	fail "d. the poisoned config has no entry that points the libraries at the base's blob"
libs_diff=$(jq -r --arg d "$libs" '.entries[] | select(.digest == $d) | .diff_id' "$WORK/main.a.json")
put_blob distill/cache "$WORK/poisoned.json"
jq -cn --arg mt "$OCI" --arg cmt "$CACHE_CONFIG" --arg cd "sha256:$(sha256sum <"$WORK/poisoned.json" | cut -d' ' -f1)" \
	--argjson cs "$(stat -c %s "$WORK/poisoned.json")" --slurpfile c "$WORK/poisoned.json" \
	'{schemaVersion: 2, mediaType: $mt, config: {mediaType: $cmt, digest: $cd, size: $cs},
	  layers: ($c[0].entries | map({mediaType, digest, size}) | unique_by(.digest))}' >"$WORK/poisoned.manifest"
curl -fsS -X PUT -H "Content-Type: $OCI" --data-binary @"$WORK/poisoned.manifest" \
	"http://$H/v2/distill/cache/manifests/poisoned" >/dev/null || fail "d. the registry refused the poisoned manifest"
cache_config poisoned >/dev/null
clone "$WORK/a" "$WORK/d"
build d "$WORK/d" --cache "$WORK/cd" $TLS --cache-from "docker://$H/distill/cache:poisoned" --push "docker://$H/distill/app:3"
grep -q "decompresses to the layer" "$WORK/d.err" || fail "d. the poisoned entry was not said: $(cat "$WORK/d.err")"
grep -qF "blob $base decompresses to the layer" "$WORK/d.err" && grep -qF "not to $libs_diff" "$WORK/d.err" ||
	fail "d. the warning does not name the blob $base and the claimed $libs_diff: $(cat "$WORK/d.err")"
! cached d "$libs" && written d "$libs" ||
	fail "d. the libraries layer came from the poisoned cache: $(grep '^layer ' "$WORK/d.log")"
[ "$(hits d)" = 2 ] || fail "d. $(hits d) layers from the cache, the base's and the application's expected: $(grep '^layer ' "$WORK/d.log")"
build d-none "$WORK/d" --no-cache
cmp -s "$WORK/d.tar" "$WORK/d-none.tar" || fail "d. the poisoned cache changed the image"
cmp -s "$WORK/d.tar" "$WORK/a.tar" || fail "d. the clone's image differs from the first clone's"
"$DISTILL" check "$WORK/d.tar" >"$WORK/check.out" 2>&1 || fail "d. distill check fails on the image: $(cat "$WORK/check.out")"
[ "$(served distill/app 3)" = "$a_digest" ] || fail "d. distill/app:3 serves $(served distill/app 3), the archive is $a_digest"

echo "== e. a tag that is not a distill cache; with --no-cache"
clone "$WORK/a" "$WORK/e"
attempt e-from "$WORK/e" --cache "$WORK/ce" $TLS --cache-from "docker://$H/distill/app:1"
[ "$rc" = 1 ] || fail "e. --cache-from an image's tag exited $rc, not 1: $(cat "$WORK/e-from.err")"
grep -q "is not a distill cache" "$WORK/e-from.err" || fail "e. --cache-from an image's tag said: $(cat "$WORK/e-from.err")"
attempt e-to "$WORK/e" --cache "$WORK/ce" $TLS --cache-to "docker://$H/distill/app:1"
[ "$rc" = 1 ] || fail "e. --cache-to an image's tag exited $rc, not 1: $(cat "$WORK/e-to.err")"
grep -q "is not a distill cache" "$WORK/e-to.err" || fail "e. --cache-to an image's tag said: $(cat "$WORK/e-to.err")"
[ "$(served distill/app 1)" = "$a_digest" ] || fail "e. --cache-to distill/app:1 replaced the image there"
attempt e-none "$WORK/e" --no-cache $TLS --cache-from "docker://$H/distill/cache:main"
[ "$rc" = 2 ] || fail "e. --cache-from with --no-cache exited $rc, not 2: $(cat "$WORK/e-none.err")"
attempt e-none-to "$WORK/e" --no-cache $TLS --cache-to "docker://$H/distill/cache:main"
[ "$rc" = 2 ] || fail "e. --cache-to with --no-cache exited $rc, not 2: $(cat "$WORK/e-none-to.err")"

echo "== f. a second writer: the changed clone's layers added to the same tag"
build f "$WORK/b" --cache "$WORK/cb" $TLS --cache-to "docker://$H/distill/cache:main"
cmp -s "$WORK/f.tar" "$WORK/b-none.tar" || fail "f. the second writer's image differs"
cache_config main >"$WORK/main.f.json"
app_a_diff=$(image_config "$WORK/a.tar" | jq -r '.rootfs.diff_ids[2]')
app_b_diff=$(image_config "$WORK/b.tar" | jq -r '.rootfs.diff_ids[2]')
for pair in "$app_a $app_a_diff" "$app_b $app_b_diff"; do
	jq -r '.entries[] | "\(.digest) \(.diff_id)"' "$WORK/main.f.json" | grep -qxF "$pair" ||
		fail "f. no entry for the application layer $pair: $(jq -c .entries "$WORK/main.f.json")"
done
for d in "$base" "$libs"; do
	[ "$(jq --arg d "$d" '[.entries[] | select(.digest == $d)] | length' "$WORK/main.f.json")" = 1 ] ||
		fail "f. the shared layer $d does not have exactly one entry: $(jq -c .entries "$WORK/main.f.json")"
done
[ "$(jq '.entries | length' "$WORK/main.f.json")" = 4 ] || fail "f. $(jq '.entries | length' "$WORK/main.f.json") entries, not 4"
[ "$(jq -r '.entries[].content' "$WORK/main.f.json" | sort | uniq -d)" = "" ] ||
	fail "f. content keys listed twice: $(jq -r '.entries[].content' "$WORK/main.f.json" | sort | uniq -d)"
[ "$(jq -r '.entries | map(.digest) | last' "$WORK/main.f.json")" = "$app_a" ] ||
	fail "f. the old application's entry is not kept after the new ones: $(jq -c '.entries | map(.digest)' "$WORK/main.f.json")"

echo "== g. back to the first version: its layer, not the newest of its shape, is fetched"
clone "$WORK/a" "$WORK/g"
build g "$WORK/g" --cache "$WORK/cg" $TLS --cache-from "docker://$H/distill/cache:main"
cmp -s "$WORK/g.tar" "$WORK/a.tar" || fail "g. the first version built again differs from its first build"
[ "$(hits g)" = 3 ] && cached g "$app_a" ||
	fail "g. the first version's application layer was not taken from the registry's cache: $(grep '^layer ' "$WORK/g.log")"
[ ! -s "$WORK/g.err" ] || fail "g. the build said: $(cat "$WORK/g.err")"

echo "cache-registry: all checks passed"
