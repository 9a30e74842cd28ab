#!/bin/sh
# The build stage of the Dockerfile, also run as it is without a container
# engine (tests/integration/examples.sh): compile the service, then let
# distill make its image (and SBOM) instead of a `FROM scratch` stage.
# $1: where the image goes (default: here); DISTILL: the distill to run.
set -eu
cd "$(dirname "$0")"
out=${1:-.}
: "${DISTILL:=distill}"
: "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
export SOURCE_DATE_EPOCH
${CC:-cc} -O2 -Wall -Wextra -o server server.c
"$DISTILL" build server.yaml -o "$out/server.tar" --sbom "$out/server.spdx.json"
"$DISTILL" check "$out/server.tar"
