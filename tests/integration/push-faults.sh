#!/bin/bash
# distill push (and downloads) through fault_proxy.py, a proxy in front of a plain-HTTP
# distribution registry on 127.0.0.1 that breaks the requests its rules
# name (registry.h: 5xx, 429 and a connection reset are tried again, 5
# attempts in all; an upload that still fails starts once more; the tag
# is put last). Each block is one scenario:
#   a. 502, 503, 504 once each on a HEAD, a POST, a blob's PUT and the
#      manifest's PUT: pushed, the archive's digest printed and served,
#      each broken request sent again to the same URL
#   b. 429 with Retry-After: 1 on a HEAD and a POST: pushed; both sent
#      again, after the 1 s the registry asked for (-v says so)
#   c. the biggest layer's PUT cut by a TCP RST 1 MiB into its body (the
#      registry sees none of it): pushed, the blob served has the bytes of
#      its digest, and the same PUT was sent again
#   d. the manifest's PUT cut by an RST: pushed (no upload to restart
#      here: only the request's own retry mends it)
#   e. a 65 MiB layer, so it goes in 32 MiB PATCH chunks: the first PATCH
#      cut 5 MB into its body after those 5 MB reached the registry (whose
#      session is then 5 MB ahead of what distill knows), and a later one
#      answered 503 (sent again to the same URL): pushed, the blob served
#      has the bytes of its digest
#   f. the answer to the manifest's PUT trickled over 3 s: pushed, the PUT
#      sent once (no retry of a slow answer)
#   g. GET /v2/ answered 503 once: pushed
#   h. every manifest PUT answered 503: exit 1, the registry and 503
#      named, 5 attempts, and no tag on the registry
#   i. every PUT of a blob upload answered 500: exit 1, the registry and
#      500 named, 5 attempts in each of 2 upload sessions of the first
#      blob, no other blob tried, no manifest PUT, no tag
#   j. build --cache-from through the proxy, the download of the cache's
#      biggest layer cut by an RST 1 MB into its body: sent again, the
#      layer used (nothing said), the archive the same bytes as the build
#      that filled the cache, the local cache's copy of the layer exactly
#      its bytes (the broken try's bytes gone)
#   k. inspect docker:// through the proxy, a layer's download cut 300 KB
#      in (written into an archive at an offset, not a file of its own):
#      sent again, and the files and layers those of the archive pushed
# The proxy logs every request (method, URL, what it did, the status);
# the registry itself is read directly, not through the proxy. The
# scenarios run at once, each with a proxy and a repository of its own
# (most of their time is distill's waits between attempts: h and i take
# 7.5 and 15 s); a failed one is reported with its evidence and does not
# stop the others, and the test fails at the end naming them. No
# assertion is on time.
. "$(dirname "$0")/lib.sh"
need docker-registry skopeo curl jq python3 sha256sum

start_registry # $port: the registry; the proxies forward to it

"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o "$WORK/curl.tar" >"$WORK/build.log" 2>&1 ||
	{ cat "$WORK/build.log"; fail "distill build curl.yaml"; }
CURL_DIGEST=$(manifest_digest "$WORK/curl.tar")

# The OCI media types a manifest GET must accept (lib.sh's REG_ACCEPT).
ACCEPT="$REG_ACCEPT"

# big_archive FILE BYTES: an image of one layer of BYTES random bytes (a
# registry does not look inside a layer), as an OCI layout in a tar.
big_archive() {
	python3 - "$1" "$2" <<-'PY'
	import hashlib, io, json, os, sys, tarfile
	out, size = sys.argv[1], int(sys.argv[2])
	def digest(b):
	    return "sha256:" + hashlib.sha256(b).hexdigest()
	layer = os.urandom(size)
	config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
	                     "rootfs": {"type": "layers", "diff_ids": [digest(layer)]}}).encode()
	manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
	    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": len(config)},
	    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(layer), "size": len(layer)}]}).encode()
	index = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
	    "digest": digest(manifest), "size": len(manifest)}]}).encode()
	with tarfile.open(out, "w") as t:
	    for name, data in [("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'), ("index.json", index)] + \
	            [("blobs/sha256/" + digest(b)[7:], b) for b in (config, manifest, layer)]:
	        info = tarfile.TarInfo(name)
	        info.size = len(data)
	        t.addfile(info, io.BytesIO(data))
	PY
}

# biggest_layer ARCHIVE: the digest of the archive's largest layer
biggest_layer() {
	local m
	m=$(manifest_digest "$1")
	tar -xOf "$1" "blobs/sha256/${m#sha256:}" | jq -r '.layers | max_by(.size) | .digest'
}

# Every proxy started is stopped at the end (a scenario runs in a
# subshell, whose on_exit would not reach the test's trap).
: >"$WORK/proxy.pids"
# shellcheck disable=SC2016 # expanded when the test ends
on_exit 'for p in $(cat "$WORK/proxy.pids"); do kill $p 2>/dev/null || true; wait $p 2>/dev/null || true; done'

# start_proxy NAME RULES-JSON: a fault_proxy.py in front of the registry
# with those rules; sets PROXY_PORT, PROXY_LOG (its request log) and
# PROXY_DIR (where push and the proxy leave their output).
start_proxy() {
	local dir="$WORK/proxy-$1" pid i
	mkdir -p "$dir"
	printf '%s\n' "$2" >"$dir/rules.json"
	PROXY_LOG="$dir/requests.log"
	python3 "$SOURCE_DIR/tests/integration/fault_proxy.py" --port-file "$dir/port" --upstream "127.0.0.1:$port" \
		--rules "$dir/rules.json" --log "$PROXY_LOG" 2>"$dir/stderr" &
	pid=$!
	echo "$pid" >>"$WORK/proxy.pids"
	for i in $(seq 100); do
		[ -f "$dir/port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	[ -f "$dir/port" ] || { cat "$dir/stderr" >&2; fail "$1: the fault proxy did not start"; }
	PROXY_PORT=$(cat "$dir/port")
	PROXY_DIR=$dir
}

# run_distill ARGS...: distill ARGS; sets rc, and $PROXY_DIR/out and err.
# Only the test's settings: no auth.json of the user running the tests is
# read, and the default cache is the scenario's own. A distill that hangs
# is ended after 120 s (rc 124): no scenario needs half that.
run_distill() {
	mkdir -p "$WORK/home"
	rc=0
	env -u REGISTRY_AUTH_FILE -u DOCKER_CONFIG -u XDG_RUNTIME_DIR HOME="$WORK/home" \
		XDG_CONFIG_HOME="$WORK/home/.config" XDG_CACHE_HOME="$PROXY_DIR/xdg" \
		timeout 120 "$DISTILL" "$@" >"$PROXY_DIR/out" 2>"$PROXY_DIR/err" || rc=$?
}

# push ARCHIVE REPO:TAG [ARGS...]: distill push through the proxy
push() {
	local archive="$1" ref="$2"
	shift 2
	run_distill push "$archive" "docker://127.0.0.1:$PROXY_PORT/$ref" --tls-verify=false "$@"
}

# show: what the proxy saw (a failed scenario's evidence)
show() {
	echo "--- distill's stderr:" >&2
	cat "$PROXY_DIR/err" >&2
	echo "--- the proxy's requests (SEQ CONN METHOD URL ACTION STATUS), upload state elided:" >&2
	sed -E 's/_state=[^& ]*/_state=…/' "$PROXY_LOG" >&2
	[ ! -s "$PROXY_DIR/stderr" ] || { echo "--- the proxy's stderr:" >&2; cat "$PROXY_DIR/stderr" >&2; }
}

# bad SCENARIO MESSAGE: fail, with the evidence
bad() {
	show
	fail "$1: $2"
}

# pushed SCENARIO ARCHIVE REPO TAG: exit 0, the one line HOST/REPO@DIGEST
# printed with the archive's manifest digest, which skopeo sees for the
# tag on the registry itself (not through the proxy)
pushed() {
	local want got
	want=$(manifest_digest "$2")
	[ "$rc" != 124 ] || bad "$1" "distill push hung: ended after 120 s"
	[ "$rc" = 0 ] || bad "$1" "distill push exited $rc, not 0"
	[ "$(cat "$PROXY_DIR/out")" = "127.0.0.1:$PROXY_PORT/$3@$want" ] ||
		bad "$1" "distill push printed '$(cat "$PROXY_DIR/out")', not '127.0.0.1:$PROXY_PORT/$3@$want'"
	got=$(skopeo inspect --tls-verify=false "docker://127.0.0.1:$port/$3:$4" 2>"$PROXY_DIR/skopeo.err" | jq -r .Digest) ||
		bad "$1" "skopeo inspect $3:$4: $(cat "$PROXY_DIR/skopeo.err")"
	[ "$got" = "$want" ] || bad "$1" "the registry serves $3:$4 as $got, not $want"
}

# refused SCENARIO STATUS: exit 1, nothing on stdout, a message naming the
# registry (the address distill was given) and STATUS
refused() {
	[ "$rc" != 124 ] || bad "$1" "distill push hung: ended after 120 s"
	[ "$rc" = 1 ] || bad "$1" "distill push exited $rc, not 1"
	[ ! -s "$PROXY_DIR/out" ] || bad "$1" "a failed push printed '$(cat "$PROXY_DIR/out")'"
	grep -q "127.0.0.1:$PROXY_PORT" "$PROXY_DIR/err" || bad "$1" "the message does not name the registry 127.0.0.1:$PROXY_PORT"
	grep -qw "$2" "$PROXY_DIR/err" || bad "$1" "the message does not name the status $2"
	echo "  $1: $(head -c 400 "$PROXY_DIR/err")"
}

# untagged SCENARIO REPO TAG: the registry has no manifest under the tag
untagged() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "$ACCEPT" "http://127.0.0.1:$port/v2/$2/manifests/$3" || true)
	[ "$code" = 404 ] || bad "$1" "GET /v2/$2/manifests/$3 answered $code, not 404: the tag exists after a failed push"
}

# blob_served SCENARIO REPO DIGEST: the registry serves the blob, and its
# bytes hash to the digest
blob_served() {
	local sum
	sum=$(curl -fsS "http://127.0.0.1:$port/v2/$2/blobs/$3" | sha256sum | cut -d' ' -f1)
	[ "sha256:$sum" = "$3" ] || bad "$1" "the registry serves $2's blob $3 with bytes of sha256:$sum"
}

# requests METHOD ERE: the proxy's log lines of METHOD whose URL matches ERE
requests() {
	awk -v m="$1" -v re="$2" '$3 == m && $4 ~ re' "$PROXY_LOG"
}

# broke SCENARIO N METHOD ERE ACTION: the proxy did ACTION (status, reset,
# reset-upstream, slow) to N requests METHOD ~ ERE: the fault happened
broke() {
	local n
	n=$(requests "$3" "$4" | awk -v a="$5" 'index($5, a "#") == 1' | wc -l)
	[ "$n" = "$2" ] || bad "$1" "the proxy did '$5' to $n $3 requests matching $4, not $2"
}

# sent_again SCENARIO METHOD ERE ACTION: each METHOD ~ ERE request the
# proxy broke with ACTION was sent again to the very same URL, and the
# registry answered that (neither 5xx nor 429): the request was retried,
# not the work redone another way
sent_again() {
	local left
	left=$(requests "$2" "$3" | awk -v a="$4" '
		index($5, a "#") == 1 { pending[$4] = 1; next }
		($4 in pending) && $5 == "forward" && $6 !~ /^(5|429)/ { delete pending[$4] }
		END { for (u in pending) print u }')
	[ -z "$left" ] || bad "$1" "$2 $(echo "$left" | sed -E 's/_state=[^& ]*/_state=…/') was not sent again after '$4' (or never answered)"
}

names=()
pids=()
# scenario NAME FUNCTION: run it in the background in a subshell (set -e
# there: a failure ends only it), its output in $WORK/scenario.N
scenario() {
	local n=${#names[@]}
	names+=("$1")
	(
		set -e
		start=$SECONDS
		"$2"
		echo "  ok ($((SECONDS - start)) s)"
	) >"$WORK/scenario.$n" 2>&1 &
	pids+=($!)
}

LAYER=$(biggest_layer "$WORK/curl.tar")
LAYER_HEX=${LAYER#sha256:}

a_errors_once() {
	start_proxy a '[
	  {"method": "HEAD", "path": "/blobs/sha256:", "times": [1], "fault": {"status": 502}},
	  {"method": "POST", "path": "/blobs/uploads/$", "times": [2], "fault": {"status": 504}},
	  {"method": "PUT", "path": "/blobs/uploads/", "times": [1], "fault": {"status": 503}},
	  {"method": "PUT", "path": "/manifests/", "times": [1], "fault": {"status": 503}}]'
	push "$WORK/curl.tar" faults/a:1
	broke a 1 HEAD /blobs/ status
	broke a 1 POST /blobs/uploads/ status
	broke a 1 PUT /blobs/uploads/ status
	broke a 1 PUT /manifests/ status
	pushed a "$WORK/curl.tar" faults/a 1
	sent_again a HEAD /blobs/ status
	sent_again a POST /blobs/uploads/ status
	sent_again a PUT /blobs/uploads/ status
	sent_again a PUT /manifests/ status
}

b_too_many() {
	start_proxy b '[
	  {"method": "HEAD", "path": "/blobs/sha256:", "times": [2], "fault": {"status": 429, "retry_after": "1"}},
	  {"method": "POST", "path": "/blobs/uploads/$", "times": [1], "fault": {"status": 429, "retry_after": "1"}}]'
	push "$WORK/curl.tar" faults/b:1 -v
	broke b 1 HEAD /blobs/ status
	broke b 1 POST /blobs/uploads/ status
	pushed b "$WORK/curl.tar" faults/b 1
	sent_again b HEAD /blobs/ status
	sent_again b POST /blobs/uploads/ status
	# the wait was the registry's 1 s, not the first backoff's 0.5 s
	[ "$(grep -Ec '429[^;]*; again in 1(\.0)? s' "$PROXY_DIR/err")" = 2 ] ||
		bad b "-v does not say twice that a 429 is tried again in the 1 s of its Retry-After"
}

c_reset_layer() {
	start_proxy c '[
	  {"method": "PUT", "path": "/blobs/uploads/.*digest=sha256(:|%3[aA])'"$LAYER_HEX"'", "times": [1],
	   "fault": {"reset": 1048576}}]'
	push "$WORK/curl.tar" faults/c:1 -v
	broke c 1 PUT "digest=sha256(:|%3[aA])$LAYER_HEX" reset
	pushed c "$WORK/curl.tar" faults/c 1
	blob_served c faults/c "$LAYER"
	sent_again c PUT "digest=sha256(:|%3[aA])$LAYER_HEX" reset
}

d_reset_manifest() {
	start_proxy d '[{"method": "PUT", "path": "/manifests/", "times": [1], "fault": {"reset": 100}}]'
	push "$WORK/curl.tar" faults/d:1 -v
	broke d 1 PUT /manifests/ reset
	pushed d "$WORK/curl.tar" faults/d 1
}

e_chunks() {
	local big
	big_archive "$WORK/big.tar" $((65 * 1024 * 1024 + 4321))
	big=$(biggest_layer "$WORK/big.tar")
	start_proxy e '[
	  {"method": "PATCH", "path": "/blobs/uploads/", "times": [1], "fault": {"reset": 5000000, "upstream": true}},
	  {"method": "PATCH", "path": "/blobs/uploads/", "times": [3], "fault": {"status": 503}}]'
	push "$WORK/big.tar" faults/e:1 -v
	broke e 1 PATCH /blobs/uploads/ reset-upstream
	broke e 1 PATCH /blobs/uploads/ status
	pushed e "$WORK/big.tar" faults/e 1
	blob_served e faults/e "$big"
	sent_again e PATCH /blobs/uploads/ status
	rm -f "$WORK/big.tar"
}

f_slow() {
	start_proxy f '[{"method": "PUT", "path": "/manifests/", "times": [1], "fault": {"slow": 3}}]'
	push "$WORK/curl.tar" faults/f:1 -v
	broke f 1 PUT /manifests/ slow
	pushed f "$WORK/curl.tar" faults/f 1
	[ "$(requests PUT /manifests/ | wc -l)" = 1 ] || bad f "the manifest was PUT more than once: a slow answer was given up on"
}

g_ping() {
	start_proxy g '[{"method": "GET", "path": "^/v2/$", "times": [1], "fault": {"status": 503}}]'
	push "$WORK/curl.tar" faults/g:1 -v
	broke g 1 GET '^/v2/$' status
	pushed g "$WORK/curl.tar" faults/g 1
}

h_manifest_down() {
	start_proxy h '[{"method": "PUT", "path": "/manifests/", "fault": {"status": 503}}]'
	push "$WORK/curl.tar" faults/h:1
	refused h 503
	broke h 5 PUT /manifests/ status
	[ "$(requests PUT /manifests/ | wc -l)" = 5 ] || bad h "not 5 attempts at the manifest PUT"
	untagged h faults/h 1
	# the blobs went before: all there
	for d in $(tar -xOf "$WORK/curl.tar" "blobs/sha256/${CURL_DIGEST#sha256:}" | jq -r '.config.digest, .layers[].digest'); do
		blob_served h faults/h "$d"
	done
}

i_uploads_down() {
	start_proxy i '[{"method": "PUT", "path": "/blobs/uploads/", "fault": {"status": 500}}]'
	push "$WORK/curl.tar" faults/i:1
	refused i 500
	# blobs go on several connections at once: each blob tried (one HEAD)
	# gets 2 upload sessions of 5 attempts, and no blob is tried twice
	local heads posts puts
	heads=$(requests HEAD /blobs/ | wc -l)
	posts=$(requests POST /blobs/uploads/ | wc -l)
	puts=$(requests PUT /blobs/uploads/ | wc -l)
	[ "$heads" -ge 1 ] || bad i "no blob was tried"
	broke i "$puts" PUT /blobs/uploads/ status
	[ "$posts" = $((2 * heads)) ] || bad i "$posts upload sessions (POST) for $heads blobs tried, not 2 each"
	[ "$puts" = $((5 * posts)) ] || bad i "$puts PUTs in $posts upload sessions, not 5 attempts each"
	[ "$(requests HEAD /blobs/ | awk '{print $4}' | sort | uniq -d)" = "" ] || bad i "a blob was tried twice"
	[ -z "$(requests PUT /manifests/)" ] || bad i "a manifest was PUT after a blob failed"
	untagged i faults/i 1
}

j_cut_cache_layer() {
	local layer f found=""
	# the registry's layer cache, filled by a build that does not go
	# through the proxy
	mkdir -p "$WORK/j"
	"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o "$WORK/j/seed.tar" --cache "$WORK/j/seed-cache" -q \
		--cache-to "docker://127.0.0.1:$port/faults/jcache:main" --tls-verify=false >"$WORK/j/seed.log" 2>&1 ||
		{ cat "$WORK/j/seed.log"; fail "j: the build that fills the registry's cache"; }
	layer=$(biggest_layer "$WORK/j/seed.tar")
	start_proxy j '[{"method": "GET", "path": "/blobs/'"$layer"'$", "times": [1], "fault": {"cut": 1000000}}]'
	run_distill build "$SOURCE_DIR/recipes/curl.yaml" -o "$PROXY_DIR/j.tar" --cache "$PROXY_DIR/cache" -q \
		--cache-from "docker://127.0.0.1:$PROXY_PORT/faults/jcache:main" --tls-verify=false
	[ "$rc" = 0 ] || bad j "distill build exited $rc, not 0"
	broke j 1 GET "/blobs/$layer\$" cut
	sent_again j GET "/blobs/$layer\$" cut
	cmp -s "$PROXY_DIR/j.tar" "$WORK/j/seed.tar" || bad j "the archive is not the one the build that filled the cache made"
	[ ! -s "$PROXY_DIR/err" ] || bad j "the build said something: the registry's layer was not used as it is"
	# the download again from its first byte: the local cache's copy of
	# the layer is its bytes, none of the broken try's before them
	for f in "$PROXY_DIR/cache"/layers/*; do
		[ "sha256:$(sha256sum <"$f" | cut -d' ' -f1)" != "$layer" ] || found=$f
	done
	[ -n "$found" ] || bad j "no file of the local cache holds exactly the layer $layer"
}

k_cut_fetch() {
	start_proxy k '[{"method": "GET", "path": "/blobs/'"$LAYER"'$", "times": [1], "fault": {"cut": 300000}}]'
	run_distill push "$WORK/curl.tar" "docker://127.0.0.1:$port/faults/k:1" --tls-verify=false
	[ "$rc" = 0 ] || bad k "distill push to the registry itself exited $rc"
	run_distill inspect "docker://127.0.0.1:$PROXY_PORT/faults/k:1" --tls-verify=false --json
	[ "$rc" = 0 ] || bad k "distill inspect exited $rc, not 0"
	broke k 1 GET "/blobs/$LAYER\$" cut
	sent_again k GET "/blobs/$LAYER\$" cut
	jq -S '{manifest_digest, layers, files}' "$PROXY_DIR/out" >"$PROXY_DIR/got.json"
	"$DISTILL" inspect "$WORK/curl.tar" --json | jq -S '{manifest_digest, layers, files}' >"$PROXY_DIR/want.json"
	cmp -s "$PROXY_DIR/got.json" "$PROXY_DIR/want.json" ||
		bad k "inspect of the registry's image is not that of the archive: $(diff "$PROXY_DIR/want.json" "$PROXY_DIR/got.json" | head -5)"
}

start=$SECONDS
scenario "a. 502/503/504 once" a_errors_once
scenario "b. 429 Retry-After: 1" b_too_many
scenario "c. RST in a layer's PUT body" c_reset_layer
scenario "d. RST in the manifest's PUT" d_reset_manifest
scenario "e. 32 MiB chunks: an RST, a 503" e_chunks
scenario "f. a slow answer" f_slow
scenario "g. GET /v2/ 503 once" g_ping
scenario "h. manifest PUT 503 always" h_manifest_down
scenario "i. blob PUT 500 always" i_uploads_down
scenario "j. a cache layer's download cut" j_cut_cache_layer
scenario "k. an image layer's download cut" k_cut_fetch
failed=()
for n in "${!names[@]}"; do
	rc=0
	wait "${pids[$n]}" || rc=$?
	echo "== ${names[$n]}"
	cat "$WORK/scenario.$n"
	[ "$rc" = 0 ] || failed+=("${names[$n]}")
done
echo "(all in $((SECONDS - start)) s)"
[ "${#failed[@]}" = 0 ] || fail "${#failed[@]} scenarios failed: $(printf '%s; ' "${failed[@]}")"
echo "PASS: distill push rides out 5xx, 429, resets and a slow answer, and fails cleanly when they last; a download cut midway is fetched again from its first byte"
