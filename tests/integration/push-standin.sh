#!/bin/bash
# A stand-in for `distill push` made of skopeo copy (and curl for --from),
# to show that push.sh passes for a client that does what it asks, and
# fails for one that does not. Every other command goes to the real distill:
#   REAL_DISTILL=build/distill DISTILL=tests/integration/push-standin.sh \
#     SOURCE_DIR=. tests/integration/push.sh
# STANDIN_FAULT makes it wrong in one way, which push.sh must catch:
#   reupload=REPO  every blob uploaded to REPO, present or not (b or c fails)
#   vague          errors without the registry's name (e fails)
#   exit0          errors with exit status 0 (e fails)
set -u
[ "${1:-}" = push ] || exec "${REAL_DISTILL:?REAL_DISTILL must name the distill binary}" "$@"
shift
archive=$1 ref=$2
shift 2
args=() from="" authfile="" certdir=""
while [ $# -gt 0 ]; do
	case $1 in
	--authfile) authfile=$2 && args+=(--dest-authfile "$2") && shift 2 ;;
	--cert-dir) certdir=$2 && args+=(--dest-cert-dir "$2") && shift 2 ;;
	--tls-verify=false) args+=(--dest-tls-verify=false) && shift ;;
	--from) from=$2 && shift 2 ;;
	-q | -v) shift ;;
	*) echo "distill: push: unknown option $1" >&2 && exit 2 ;;
	esac
done
name=${ref#docker://} host=${name%%/*} repo=${name#*/}
repo=${repo%:*}
fault=${STANDIN_FAULT:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# registry API requests of its own: Basic auth from the authfile, TLS with
# the cert dir's CA
api() {
	curl -fsS -u "$(jq -r --arg h "$host" '.auths[$h].auth' "$authfile" | base64 -d)" --cacert "$certdir/ca.crt" "$@"
}
# --from: every blob mounted from that repository; skopeo then finds them
if [ -n "$from" ]; then
	for b in $(tar -tf "$archive" | sed -n 's#^blobs/sha256/\(..*\)#sha256:\1#p'); do
		api -o /dev/null -X POST "https://$host/v2/$repo/blobs/uploads/?mount=$b&from=$from" || exit 1
	done
fi
if [ "$fault" = "reupload=$repo" ]; then
	mkdir "$tmp/x" && tar -xf "$archive" -C "$tmp/x"
	for f in "$tmp"/x/blobs/sha256/*; do
		loc=$(api -D - -o /dev/null -X POST "https://$host/v2/$repo/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
		case $loc in http*) ;; *) loc="https://$host$loc" ;; esac
		api -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$f" \
			"$loc&digest=sha256:${f##*/}" || exit 1
	done
fi
if ! skopeo copy --quiet --all --preserve-digests --digestfile "$tmp/digest" ${args[@]+"${args[@]}"} \
	"oci-archive:$archive" "$ref" 2>"$tmp/err"; then
	[ "$fault" = exit0 ] && exit 0
	[ "$fault" = vague ] && echo "distill: push failed" >&2 && exit 1
	echo "distill: push: $name: $(sed 's/^time=.*msg="//; s/"$//' "$tmp/err")" >&2
	exit 1
fi
echo "$host/$repo@$(cat "$tmp/digest")"
