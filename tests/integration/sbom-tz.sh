#!/bin/bash
# The time zone has no say in what a build writes: one recipe built at a
# fixed epoch under TZ=UTC, under right/UTC (whose leap seconds put glibc's
# gmtime_r 27 seconds behind POSIX time at 1700000000) and under zones whose
# offset is not a whole hour gives the same SBOM and the same archive, byte
# for byte. The SBOM's `created` is the one field that depends on the time.
. "$(dirname "$0")/lib.sh"
need cmp jq

ZONES="UTC right/UTC Asia/Kathmandu America/St_Johns"
for zone in $ZONES; do
	[ -f "/usr/share/zoneinfo/$zone" ] || skip "/usr/share/zoneinfo/$zone is missing: install tzdata" \
		"(.ci/run does; from Debian 13 on, right/ is in tzdata-legacy)"
done

# a program of a Debian package, so that the SBOM lists a package and its
# files as well as the document's own fields
cat >"$WORK/app.yaml" <<'Y'
name: distill-test/sbom-tz
contents:
  binaries:
    - /usr/bin/env
Y

for zone in $ZONES; do
	out="$WORK/${zone//\//-}"
	TZ="$zone" "$DISTILL" build "$WORK/app.yaml" -o "$out.tar" --sbom "$out.spdx.json" \
		--source-date-epoch 1700000000 --no-cache -q || fail "distill build under TZ=$zone"
	[ -s "$out.spdx.json" ] || fail "distill build under TZ=$zone wrote no SBOM"
done

want=$(jq -r .creationInfo.created "$WORK/UTC.spdx.json")
[ "$want" = 2023-11-14T22:13:20Z ] || fail "under TZ=UTC the SBOM was created $want, not 2023-11-14T22:13:20Z"
for zone in $ZONES; do
	out="$WORK/${zone//\//-}"
	[ "$zone" = UTC ] && continue
	cmp -s "$WORK/UTC.spdx.json" "$out.spdx.json" ||
		fail "under TZ=$zone the SBOM differs from TZ=UTC's: created $(jq -r .creationInfo.created "$out.spdx.json"), not $want"
	cmp -s "$WORK/UTC.tar" "$out.tar" || fail "under TZ=$zone the archive differs from TZ=UTC's"
done
echo "PASS: the same SBOM and archive under TZ=${ZONES// /, TZ=}"
