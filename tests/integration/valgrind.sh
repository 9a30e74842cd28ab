#!/bin/bash
# valgrind memcheck on build, check, inspect and diff of the curl image: no
# error, no definite or indirect leak.
. "$(dirname "$0")/lib.sh"
need valgrind
if ldd "$DISTILL" | grep -q libasan; then
	skip "valgrind cannot run a sanitizer build (the plain build runs this test)"
fi

vg() {
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect --log-file="$WORK/vg.%p.log" "$@"
}
vg "$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o "$WORK/curl.tar" || { cat "$WORK"/vg.*.log; fail "valgrind: build"; }
vg "$DISTILL" check "$WORK/curl.tar" >/dev/null || { cat "$WORK"/vg.*.log; fail "valgrind: check"; }
vg "$DISTILL" inspect --json "$WORK/curl.tar" >/dev/null || { cat "$WORK"/vg.*.log; fail "valgrind: inspect"; }
"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" --source-date-epoch 86400 -o "$WORK/curl-later.tar"
for json in "" --json; do
	rc=0
	vg "$DISTILL" diff $json "$WORK/curl.tar" "$WORK/curl-later.tar" >/dev/null || rc=$?
	[ "$rc" = 1 ] || { cat "$WORK"/vg.*.log; fail "valgrind: diff $json exited $rc, not 1 (different)"; }
done
vg "$DISTILL" closure /usr/bin/curl >/dev/null || { cat "$WORK"/vg.*.log; fail "valgrind: closure"; }
if [ -n "$(cat "$WORK"/vg.*.log)" ]; then
	cat "$WORK"/vg.*.log
	fail "valgrind reported something"
fi
echo "PASS: valgrind clean on build, check, inspect, diff and closure"
