#!/bin/bash
# Credentials in an image's config ("Secrets never ship"): a recipe with a
# token in its environment, labels, annotations, cmd or entrypoint is
# refused before anything is written, naming the rule and the place; check
# finds them in the Env, labels, command and history of images umoci made;
# a near miss of each rule passes both.  Every token is made here from a
# fixed alphabet, never a real one, and never written whole in this file.
. "$(dirname "$0")/lib.sh"
need umoci jq gcc
umask 022

ALNUM=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789
GH=$(made "gh""p_" 36 "$ALNUM")
GH_SHORT=$(made "gh""p_" 35 "$ALNUM")
AKIA=$(made "AK""IA" 16 ABCDEFGHIJKLMNOPQRSTUVWXYZ234567)
AWS_SECRET=$(made "" 40 "$ALNUM+/")
GL=$(made "gl""pat-" 20 "$ALNUM")
SLACK=$(made "xo""xb-123456789012-" 24 "$ALNUM")

cd "$WORK"
printf '#include <stdio.h>\nint main(void) { puts("app"); return 0; }\n' >app.c
gcc -static -o app app.c || fail "gcc -static failed (libc6-dev has libc.a)"

# ---- the build refuses them, before anything is written -------------------

# refused NAME YAML WANT: the recipe app.yaml (a static program, then YAML)
# is refused with exit 1 and the message WANT, and no archive is written.
refused() {
	printf 'name: app\nca-certificates: false\ncontents:\n  files: [{source: app, path: /usr/bin/app, mode: 0755}]\n%s' "$2" >app.yaml
	local st=0
	"$DISTILL" build app.yaml -o "$1.tar" >"$1.out" 2>&1 || st=$?
	[ "$st" = 1 ] || fail "$1: build exited $st: $(cat "$1.out")"
	grep -qxF "distill: $3" "$1.out" || fail "$1: not \"$3\": $(cat "$1.out")"
	[ ! -e "$1.tar" ] || fail "$1: an archive was written"
}
REFUSED=": credentials never go in an image's config; pass them at run time"
refused env "entrypoint: [/usr/bin/app]
environment:
  GITHUB_TOKEN: $GH
" "app.yaml:7:3: environment.GITHUB_TOKEN: a GitHub token (github-token)$REFUSED"
refused env-secret "environment: {TZ: UTC, AWS_SECRET_ACCESS_KEY: \"$AWS_SECRET\"}
" "app.yaml:5:24: environment.AWS_SECRET_ACCESS_KEY: an AWS secret access key (aws-secret-access-key)$REFUSED"
refused label "labels:
  maintainer: me
  com.example.deploy: $AKIA
" "app.yaml:7:3: labels.com.example.deploy: an AWS access key id (aws-access-key-id)$REFUSED"
refused annotation "annotations: {org.example.ci: $GL}
" "app.yaml:5:15: annotations.org.example.ci: a GitLab personal access token (gitlab-token)$REFUSED"
refused cmd "entrypoint: [/usr/bin/app]
cmd: [--verbose, \"--webhook=$SLACK\"]
" "app.yaml:6:18: cmd[1]: a Slack token (slack-token)$REFUSED"
refused cmd-password "cmd:
  - /usr/bin/app
  - --db-password=Xy7pQ2wLk9
" "app.yaml:7:5: cmd[1]: a password, secret or token (env-secret)$REFUSED"
refused entrypoint "entrypoint: [/usr/bin/app, --token, $GH]
" "app.yaml:5:37: entrypoint[2]: a GitHub token (github-token)$REFUSED"

# near misses: built, and check finds nothing in the config
printf 'name: app
ca-certificates: false
contents:
  files: [{source: app, path: /usr/bin/app, mode: 0755}]
entrypoint: [/usr/bin/app, --password-file=/run/secrets/db, "--token=${TOKEN}"]
cmd: [--listen=0.0.0.0:8080]
environment: {DB_PASSWORD_FILE: /run/secrets/db, TZ: UTC, API_TOKEN: "${API_TOKEN}"}
labels: {maintainer: me, org.opencontainers.image.revision: 0123456789abcdef0123456789abcdef01234567, com.example.ref: %s}
annotations: {org.opencontainers.image.source: "https://example.org/app"}
' "$GH_SHORT" >near.yaml
"$DISTILL" build near.yaml -o near.tar >near.out 2>&1 || fail "near misses refused: $(cat near.out)"
st=0
"$DISTILL" check --json near.tar >near.json 2>near.err || st=$?
[ "$st" = 0 ] || [ "$st" = 1 ] || fail "check of near.tar exited $st: $(cat near.err)"
jq -e '.checks[] | select(.id == "no-secrets") | .status == "pass"' near.json >/dev/null ||
	fail "check of distill's near misses: $(jq -c '.checks[] | select(.id == "no-secrets")' near.json)"

# ---- check finds them in anyone's config ------------------------------------

# image NAME UMOCI-CONFIG-ARGS...: an image with no layer, made by umoci, its
# config set by the arguments (without a history entry), as NAME.tar; then
# each HISTORY_LINES line a history entry's created_by.
image() {
	local name="$1" line
	shift
	umoci init --layout "$name.layout"
	umoci new --image "$name.layout:img"
	umoci config --image "$name.layout:img" --no-history "$@"
	while IFS= read -r line; do
		umoci config --image "$name.layout:img" --history.created_by "$line"
	done <<<"$HISTORY_LINES"
	(cd "$name.layout" && tar -cf "../$name.tar" .)
}
HISTORY_LINES="/bin/sh -c #(nop) ADD file:0123456789abcdef in /
RUN |1 DB_PASSWORD=Xy7pQ2wLk9 /bin/sh -c make install
/bin/sh -c git clone https://x-access-token:$GH@github.com/o/r /src
ENV API_TOKEN_FILE=/run/secrets/api
RUN /bin/sh -c curl -u \"user:\$PASSWORD\" https://example.org/"
image tokens --config.env "GITHUB_TOKEN=$GH" --config.env TZ=UTC --config.env DB_PASSWORD_FILE=/run/secrets/db \
	--config.env "AWS_SECRET_ACCESS_KEY=$AWS_SECRET" --config.env "PATH=/usr/bin:/bin" \
	--config.label maintainer=me --config.label "com.example.deploy=$AKIA" \
	--config.label org.opencontainers.image.revision=0123456789abcdef0123456789abcdef01234567 \
	--config.entrypoint /usr/bin/app --config.cmd --password-file=/run/x --config.cmd "--webhook=$SLACK"
st=0
"$DISTILL" check tokens.tar >tokens.out 2>&1 || st=$?
[ "$st" = 1 ] || fail "check of tokens.tar exited $st: $(cat tokens.out)"
grep -qE '^fail +no-secrets ' tokens.out || fail "no-secrets does not fail: $(cat tokens.out)"
grep -qxF '       config Env GITHUB_TOKEN: github-token' tokens.out || fail "the text output: $(cat tokens.out)"
"$DISTILL" check --json tokens.tar >tokens.json || true
want='["config Env GITHUB_TOKEN: github-token","config Env AWS_SECRET_ACCESS_KEY: aws-secret-access-key","config label com.example.deploy: aws-access-key-id","config Cmd[1]: slack-token","config history[1] created_by: env-secret","config history[2] created_by: github-token"]'
got=$(jq -c '.checks[] | select(.id == "no-secrets") | .findings' tokens.json)
[ "$got" = "$want" ] || fail "check's findings in the config: $got"
! grep -qF -- "${GH:4}" tokens.out tokens.json || fail "check shows a token"

# a waiver names a place in the config: that finding is waived, the others
# still fail
"$DISTILL" check --json --allow no-secrets:config:Env:GITHUB_TOKEN tokens.tar >waived.json || true
jq -e '.checks[] | select(.id == "no-secrets") | (.status == "fail") and (.waived | length == 1)
	and (.findings | length == 5)' waived.json >/dev/null ||
	fail "--allow no-secrets:config:Env:GITHUB_TOKEN: $(jq -c '.checks[] | select(.id == "no-secrets")' waived.json)"

# the same near misses, without the tokens: no-secrets passes
HISTORY_LINES="/bin/sh -c #(nop) ADD file:0123456789abcdef in /
ENV API_TOKEN_FILE=/run/secrets/api
RUN /bin/sh -c curl -u \"user:\$PASSWORD\" https://example.org/"
image near-umoci --config.env TZ=UTC --config.env DB_PASSWORD_FILE=/run/secrets/db --config.label maintainer=me \
	--config.label "com.example.ref=$GH_SHORT" --config.entrypoint /usr/bin/app --config.cmd --password-file=/run/x
"$DISTILL" check --json near-umoci.tar >near-umoci.json || true
jq -e '.checks[] | select(.id == "no-secrets") | .status == "pass"' near-umoci.json >/dev/null ||
	fail "near misses in an umoci image: $(jq -c '.checks[] | select(.id == "no-secrets")' near-umoci.json)"
echo "PASS: credentials in a recipe's values refused, in anyone's config found; near misses pass"
