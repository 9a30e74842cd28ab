#!/bin/sh
# A release of an image built by distill, as a CI job runs it (see
# github-actions.yml and gitlab-ci.yml beside this script): build it with
# the commit's time as its epoch, check it, say how it differs from the
# release before it, and push it with its SBOM beside it.
#
#   RECIPE      the recipe (default: examples/http-service/server.yaml)
#   IMAGE       where it goes, e.g. registry.example/app (no tag)
#   TAG         the release's tag (default: the commit's short hash)
#   PREVIOUS    the tag of the release before it, if any
#   DISTILL     distill to run (default: distill)
#   SKOPEO_ARGS more for skopeo, e.g. --dest-creds=user:token or --tls-verify=false
#   CACHE       a registry's layer cache, e.g. registry.example/app:distill-cache
#               (no docker://): read before the build, updated after it, so
#               that every runner finds the layers any runner built.
#               Credentials as skopeo and podman keep them (REGISTRY_AUTH_FILE,
#               or skopeo login's auth.json).
#   TLS_VERIFY  false for a registry on loopback that speaks plain HTTP
set -eu
: "${RECIPE:=examples/http-service/server.yaml}"
: "${IMAGE:?IMAGE must name the repository, e.g. registry.example/app}"
: "${TAG:=$(git rev-parse --short HEAD)}"
: "${DISTILL:=distill}"
: "${SKOPEO_ARGS:=}"
: "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct)}"
export SOURCE_DATE_EPOCH
out=${OUT:-dist}
mkdir -p "$out"

set -- --tls-verify="${TLS_VERIFY:-true}"
if [ -n "${CACHE:-}" ]; then
	set -- "$@" --cache-from "docker://$CACHE" --cache-to "docker://$CACHE"
else
	set --
fi
"$DISTILL" build "$RECIPE" -t "$(basename "$IMAGE"):$TAG" -o "$out/image.tar" --sbom "$out/image.spdx.json" "$@"
"$DISTILL" check "$out/image.tar"

if [ -n "${PREVIOUS:-}" ]; then
	# shellcheck disable=SC2086
	skopeo copy $SKOPEO_ARGS --src-tls-verify=${TLS_VERIFY:-true} "docker://$IMAGE:$PREVIOUS" "oci-archive:$out/previous.tar"
	# 0: identical, 1: different (said), 2: trouble
	status=0
	"$DISTILL" diff "$out/previous.tar" "$out/image.tar" >"$out/diff.txt" || status=$?
	[ "$status" -le 1 ] || exit "$status"
	echo "changes since $PREVIOUS:"
	cat "$out/diff.txt"
fi

# shellcheck disable=SC2086
skopeo copy $SKOPEO_ARGS --dest-tls-verify=${TLS_VERIFY:-true} "oci-archive:$out/image.tar" "docker://$IMAGE:$TAG"
echo "pushed $IMAGE:$TAG ($(skopeo inspect --tls-verify=${TLS_VERIFY:-true} --format '{{.Digest}}' "docker://$IMAGE:$TAG"))"
