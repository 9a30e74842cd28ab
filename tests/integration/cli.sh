#!/bin/bash
# The command line: exit statuses, error messages, and output that is
# never left half-written.
. "$(dirname "$0")/lib.sh"
need gcc jq

# expect STATUS MESSAGE CMD...: CMD exits with STATUS and stderr has MESSAGE.
expect() {
	local want="$1" msg="$2"
	shift 2
	local got=0
	"$@" >"$WORK/out" 2>"$WORK/err" || got=$?
	[ "$got" = "$want" ] || fail "$* exited $got, not $want: $(cat "$WORK/err")"
	grep -qF -- "$msg" "$WORK/err" || fail "$*: stderr lacks \"$msg\": $(cat "$WORK/err")"
}

"$DISTILL" --version | grep -qE '^distill [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version"
"$DISTILL" --help | grep -q 'build RECIPE' || fail "--help"
"$DISTILL" build --help | grep -q -- '--source-date-epoch' || fail "build --help"
expect 2 'unknown command "bulid"' "$DISTILL" bulid
expect 2 'usage: distill' "$DISTILL"
expect 2 'a recipe is required' "$DISTILL" build
expect 2 'only one recipe at a time' "$DISTILL" build a.yaml b.yaml
expect 2 '--compression: "lzma" is not gzip, zstd or none' "$DISTILL" build --compression lzma x.yaml
expect 2 '--source-date-epoch: "yesterday" is not a number' "$DISTILL" build --source-date-epoch yesterday x.yaml
SOURCE_DATE_EPOCH=-5 expect 2 'SOURCE_DATE_EPOCH: "-5" is not a number' "$DISTILL" build x.yaml
expect 1 "distill: open \`$WORK/none.yaml\`: No such file or directory" "$DISTILL" build "$WORK/none.yaml"

# A bad recipe: file, line, column, key, reason, and a suggestion.
printf 'name: app\ncontents:\n  binaires: [/usr/bin/curl]\n' >"$WORK/typo.yaml"
expect 1 "distill: $WORK/typo.yaml:3:3: contents.binaires: unknown key; did you mean \"binaries\"?" "$DISTILL" build "$WORK/typo.yaml"

# A good image first, to see that failures leave it alone.
printf 'int main(void) { return 0; }\n' >"$WORK/ok.c"
gcc -static -o "$WORK/ok" "$WORK/ok.c"
printf 'name: app\ncontents:\n  binaries: [{source: ok, path: /app}]\n' >"$WORK/app.yaml"
"$DISTILL" build "$WORK/app.yaml" -o "$WORK/app.tar" --source-date-epoch 1700000000
before=$(sha256sum <"$WORK/app.tar")
[ "$(image_config "$WORK/app.tar" | jq -r .created)" = "2023-11-14T22:13:20Z" ] || fail "created from --source-date-epoch"
[ "$(tar -tvf "$WORK/app.tar" index.json | awk '{print $4}')" = "2023-11-14" ] || fail "archive mtimes from the epoch"
SOURCE_DATE_EPOCH=1700000000 "$DISTILL" build "$WORK/app.yaml" -o "$WORK/env.tar"
cmp -s "$WORK/app.tar" "$WORK/env.tar" || fail "SOURCE_DATE_EPOCH and --source-date-epoch differ"

no_leftovers() {
	local left
	left=$(find "$WORK" -name '.*.tar.*' -o -name '.distill-scratch.*')
	[ -z "$left" ] || fail "temporary files left behind: $left"
	[ "$(sha256sum <"$WORK/app.tar")" = "$before" ] || fail "a failed build changed the previous output"
}

# a script is not a program
printf '#!/bin/sh\necho hi\n' >"$WORK/run"
printf 'name: app\ncontents:\n  binaries: [{source: run, path: /app}]\n' >"$WORK/script.yaml"
expect 1 "contents.binaries[0]: \`run\`: a script (#!), not an ELF program" "$DISTILL" build "$WORK/script.yaml" -o "$WORK/app.tar"
no_leftovers
# a shell is refused, under its own name or the image's
printf 'name: app\ncontents:\n  binaries: [/usr/bin/dash]\n' >"$WORK/shell.yaml"
expect 1 'is a shell or package manager ("dash")' "$DISTILL" build "$WORK/shell.yaml" -o "$WORK/app.tar"
printf 'name: app\ncontents:\n  binaries: [{source: ok, path: /bin/sh}]\n' >"$WORK/shell2.yaml"
expect 1 'is a shell or package manager ("sh")' "$DISTILL" build "$WORK/shell2.yaml" -o "$WORK/app.tar"
no_leftovers
# a device is not a file
printf 'name: app\ncontents:\n  files: [{source: /dev/null, path: /etc/x}]\n' >"$WORK/dev.yaml"
expect 1 'contents.files[0]: `/dev/null` is a device, FIFO or socket, not a file' "$DISTILL" build "$WORK/dev.yaml" -o "$WORK/app.tar"
no_leftovers
# two contents on one path
printf 'name: app\ncontents:\n  binaries: [{source: ok, path: /app}]\n  symlinks: [{path: /app, target: x}]\n' >"$WORK/twice.yaml"
expect 1 '`/app` is claimed twice' "$DISTILL" build "$WORK/twice.yaml" -o "$WORK/app.tar"
no_leftovers
# a missing library names who needs it
gcc -shared -fPIC -Wl,-soname,libgone.so.1 -o "$WORK/libgone.so.1" -x c - <<<'int gone(void) { return 1; }'
gcc -o "$WORK/needs" -x c - -x none "$WORK/libgone.so.1" <<<'int gone(void); int main(void) { return gone(); }'
printf 'name: app\ncontents:\n  binaries: [{source: needs, path: /needs}]\n' >"$WORK/needs.yaml"
expect 1 'library `libgone.so.1` needed by `/needs`: not found (searched /etc/ld.so.cache, ' "$DISTILL" build "$WORK/needs.yaml" -o "$WORK/app.tar"
no_leftovers
# the output cannot be written
expect 1 "create a temporary file in \`$WORK/no/such\`: No such file or directory" "$DISTILL" build "$WORK/app.yaml" -o "$WORK/no/such/app.tar"
mkdir "$WORK/dir.tar"
expect 1 "output \`$WORK/dir.tar\` is a directory" "$DISTILL" build "$WORK/app.yaml" -o "$WORK/dir.tar"
no_leftovers

# a setuid program: accepted, the bit dropped, with a warning naming $ORIGIN
gcc -o "$WORK/suid" -x c - -Wl,-rpath,'$ORIGIN/lib' <<<'int main(void) { return 0; }'
chmod 4755 "$WORK/suid"
printf 'name: app\nca-certificates: false\ncontents:\n  binaries: [{source: suid, path: /suid}]\n' >"$WORK/suid.yaml"
"$DISTILL" build -v "$WORK/suid.yaml" -o "$WORK/suid.tar" 2>"$WORK/err" >"$WORK/out" || fail "setuid: $(cat "$WORK/err")"
grep -qF 'is setuid: the bit is dropped in the image; its $ORIGIN search path, which the loader ignores for setuid programs, is followed there' "$WORK/err" || fail "no setuid warning: $(cat "$WORK/err")"
grep -qE '^2 0755 0:0 +[0-9]+ /suid$' "$WORK/out" || fail "the setuid bit is kept: $(grep suid "$WORK/out")"

# dlopen hints with -v, and the library they name brings its closure
printf '#include <pthread.h>\nstatic void *f(void *a) { return a; }\nint main(void) { pthread_t t; pthread_create(&t, 0, f, 0); pthread_cancel(t); return 0; }\n' | gcc -x c - -o "$WORK/cancel" -pthread
printf 'name: app\nca-certificates: false\ncontents:\n  binaries: [{source: cancel, path: /cancel}]\n' >"$WORK/cancel.yaml"
"$DISTILL" build -v "$WORK/cancel.yaml" -o "$WORK/cancel.tar" >"$WORK/out"
grep -qF 'hint: /cancel: `/cancel` calls pthread_cancel or pthread_exit, for which glibc loads libgcc_s.so.1 with dlopen' "$WORK/out" || fail "no libgcc_s hint"
printf '  libraries: [libgcc_s.so.1]\n' >>"$WORK/cancel.yaml"
"$DISTILL" build -v "$WORK/cancel.yaml" -o "$WORK/cancel.tar" >"$WORK/out"
grep -q 'libgcc_s' "$WORK/out" || fail "libgcc_s.so.1 not in the image"
! grep -q 'hint: /cancel: .*pthread_cancel' "$WORK/out" || fail "the hint stays once libgcc_s.so.1 is there"

# ELF objects inside contents.directories bring their closure
mkdir -p "$WORK/plugins"
gcc -shared -fPIC -o "$WORK/plugins/zplugin.so" -x c - -lz <<<'#include <zlib.h>
const char *v(void) { return zlibVersion(); }'
printf 'name: app\nca-certificates: false\ncontents:\n  directories: [{source: plugins, path: /opt/plugins}]\n' >"$WORK/plugins.yaml"
"$DISTILL" build -v "$WORK/plugins.yaml" -o "$WORK/plugins.tar" >"$WORK/out"
grep -qE ' /usr/lib/x86_64-linux-gnu/libz\.so\.1\.' "$WORK/out" || fail "the plugin's libz is not in the image"
grep -qE ' /usr/lib/x86_64-linux-gnu/libc\.so\.6$' "$WORK/out" || fail "the plugin's libc is not in the image"

# The output replaces the previous one as a rename would: a symbolic link
# at its name is replaced, not followed; another hard link to the old file
# keeps the old bytes; nothing is left beside it. --sync makes it durable
# (the file and its directory synced), and nothing is synced without it.
printf 'old\n' >"$WORK/old-target"
ln -sf old-target "$WORK/link.tar"
"$DISTILL" build "$WORK/app.yaml" -o "$WORK/link.tar" --source-date-epoch 1700000000
[ -f "$WORK/link.tar" ] && [ ! -L "$WORK/link.tar" ] || fail "the symbolic link at the output's name was not replaced"
[ "$(cat "$WORK/old-target")" = old ] || fail "the output was written through a symbolic link"
cmp -s "$WORK/app.tar" "$WORK/link.tar" || fail "the replacing output differs"
printf 'old bytes\n' >"$WORK/linked.tar"
ln "$WORK/linked.tar" "$WORK/other-name"
"$DISTILL" build "$WORK/app.yaml" -o "$WORK/linked.tar" --source-date-epoch 1700000000
[ "$(cat "$WORK/other-name")" = "old bytes" ] || fail "the old output's other name changed"
cmp -s "$WORK/app.tar" "$WORK/linked.tar" || fail "the output over a hard link differs"
no_leftovers
if command -v strace >/dev/null; then
	# LeakSanitizer cannot run under ptrace: an ASan build is traced without it
	traced="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	ASAN_OPTIONS="$traced" strace -f -e trace=fsync,fdatasync -o "$WORK/sync.trace" \
		"$DISTILL" build "$WORK/app.yaml" -o "$WORK/sync.tar" --source-date-epoch 1700000000 --sync
	[ "$(grep -c '^[0-9]* *fsync(' "$WORK/sync.trace")" -ge 2 ] || fail "--sync: not the file and its directory: $(cat "$WORK/sync.trace")"
	cmp -s "$WORK/app.tar" "$WORK/sync.tar" || fail "--sync changed the bytes"
	ASAN_OPTIONS="$traced" strace -f -e trace=fsync,fdatasync -o "$WORK/nosync.trace" \
		"$DISTILL" build "$WORK/app.yaml" -o "$WORK/sync.tar" --source-date-epoch 1700000000
	! grep -q 'sync(' "$WORK/nosync.trace" || fail "synced without --sync: $(cat "$WORK/nosync.trace")"
else
	fail "strace is missing: .ci/run installs it"
fi
# --timings: one line per part on stderr, the bytes read, the wall and CPU time
"$DISTILL" build "$WORK/app.yaml" -o "$WORK/timed.tar" --no-cache --timings 2>"$WORK/timings" >/dev/null
for part in plan read tar scan sha256-tar sha256-blob write rename total; do
	grep -qE "^timing $part +[0-9]+\.[0-9]{3} s" "$WORK/timings" || fail "--timings lacks $part: $(cat "$WORK/timings")"
done
size=$(stat -c %s "$WORK/ok")
read_mb=$(awk '$2 == "read" {print $5}' "$WORK/timings")
awk -v mb="$read_mb" -v b="$size" 'BEGIN { exit !(mb * 1e6 >= b * 0.9 && mb * 1e6 <= b * 1.1 + 1e5) }' ||
	fail "--timings read $read_mb MB, the program is $size bytes"
grep -qE '^timing total .* cpu +[0-9.]+ s \(user' "$WORK/timings" || fail "--timings has no CPU time"
"$DISTILL" build "$WORK/app.yaml" -o "$WORK/timed.tar" --no-cache 2>"$WORK/untimed" >/dev/null
[ ! -s "$WORK/untimed" ] || fail "timings without --timings: $(cat "$WORK/untimed")"

# -t names the image; stdout is quiet when it is not a terminal
"$DISTILL" build "$WORK/app.yaml" -o "$WORK/named.tar" -t registry.example:5000/team/app:1.2 >"$WORK/stdout"
[ ! -s "$WORK/stdout" ] || fail "output on a non-terminal stdout: $(cat "$WORK/stdout")"
tar -xOf "$WORK/named.tar" index.json | jq -e '.manifests[0].annotations["io.containerd.image.name"] == "registry.example:5000/team/app:1.2"' >/dev/null || fail "-t name"
tar -xOf "$WORK/named.tar" manifest.json | jq -e '.[0].RepoTags == ["registry.example:5000/team/app:1.2"]' >/dev/null || fail "-t RepoTags"
# The progress line: on a terminal, for a build longer than half a second
# (clang's closure, one thread, no cache); not with -q, not without a terminal.
if command -v script >/dev/null && [ -x /usr/lib/llvm-14/bin/clang ]; then
	printf 'name: big\nca-certificates: false\ncontents:\n  binaries: [/usr/lib/llvm-14/bin/clang]\n' >"$WORK/big.yaml"
	big="$DISTILL build $WORK/big.yaml -o $WORK/big.tar --jobs 1 --no-cache"
	script -qec "$big" /dev/null >"$WORK/tty.txt"
	grep -qE 'layer [0-9]/[0-9]  [0-9]+/[0-9]+ files  [0-9.]+/[0-9.]+ MB  [0-9]+ MB/s' "$WORK/tty.txt" ||
		fail "no progress line on a terminal: $(tr '\r' '\n' <"$WORK/tty.txt" | head -3)"
	script -qec "$big -q" /dev/null >"$WORK/tty-q.txt"
	[ ! -s "$WORK/tty-q.txt" ] || fail "-q printed on a terminal: $(head -c 200 "$WORK/tty-q.txt")"
	$big >"$WORK/notty.txt"
	[ ! -s "$WORK/notty.txt" ] || fail "progress without a terminal: $(head -c 200 "$WORK/notty.txt")"
else
	fail "script (bsdutils) or clang (/usr/lib/llvm-14/bin/clang) is missing: .ci/run installs them"
fi
echo "PASS: command line"
