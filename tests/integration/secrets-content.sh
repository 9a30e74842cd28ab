#!/bin/bash
# Credentials by content ("Secrets never ship"): a file under an ordinary
# name that holds a token of a known format, alone or inside a larger
# file, makes the build fail (exit 1, the rule's id and the path named) and
# check fail on anyone's image, a layer that a later one deleted included;
# a near miss of each rule builds; a waiver names the rule. Every token is
# made here from a fixed alphabet, never a real one.
. "$(dirname "$0")/lib.sh"
need umoci jq
umask 022
cd "$WORK"

ALNUM=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789
UPPER32=ABCDEFGHIJKLMNOPQRSTUVWXYZ234567
GH=$(made ghp_ 36 "$ALNUM")
AWS_ID=$(made AKIA 16 "$UPPER32")
AWS_SECRET=$(made "" 40 "$ALNUM")
GL=$(made glpat- 20 "$ALNUM")
NPM=$(made npm_ 36 "$ALNUM")
AUTH=$(printf 'builder:%s' "$(made "" 16 "$ALNUM")" | base64 -w0)
PAD=$(seq 1 20000)

# case NAME RULE CONTENT: a file under an ordinary name, then the same
# content inside 100 KB of other text
cases=0
case_of() {
	local name=$1 rule=$2 content=$3
	mkdir -p "$name"
	printf '%s\n' "$content" >"$name/settings"
	printf '%s\n%s\n%s\n' "$PAD" "$content" "$PAD" >"$name/big.txt"
	for f in settings big.txt; do
		cat >"$name/r.yaml" <<Y
name: distill-test/secrets-$name
ca-certificates: false
contents:
  files:
    - {source: $f, path: /etc/app/$f}
Y
		st=0
		"$DISTILL" build "$name/r.yaml" -o "$name/out.tar" 2>"$name/err" || st=$?
		[ "$st" = 1 ] || fail "$name/$f: build exited $st, not 1: $(cat "$name/err")"
		grep -qF "/etc/app/$f" "$name/err" && grep -qF "($rule)" "$name/err" ||
			fail "$name/$f: the error does not name the path and $rule: $(cat "$name/err")"
		[ ! -e "$name/out.tar" ] || fail "$name/$f: an archive was written"
		! grep -qF -- "${GH:8}" "$name/err" || fail "$name/$f: the error shows the token"
	done
	cases=$((cases + 1))
}

case_of docker docker-auth "{\"auths\": {\"registry.example\": {\"auth\": \"$AUTH\"}}}"
case_of netrc github-token "machine api.github.com
  login builder
  password $GH"
case_of netrc2 netrc-password "machine ftp.example.org login builder password hunter2hunter2"
case_of aws aws-access-key-id "[default]
aws_access_key_id = $AWS_ID
aws_secret_access_key = $AWS_SECRET"
case_of npm npm-token "//registry.npmjs.org/:_authToken=$NPM"
case_of gitlab gitlab-token "GITLAB=$GL"
case_of gcp gcp-service-account '{"type": "service_account", "project_id": "p",
 "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----\n"}'

# near misses: each builds
mkdir -p near
printf '%s\n' '{"auths": {"registry.example": {"auth": ""}}}' >near/config.json
printf '%s\n' "//registry.npmjs.org/:_authToken=\${NPM_TOKEN}" >near/npmrc
printf 'key: %s\n' "${GH:0:39}" >near/short
printf 'the default password callback is used\n' >near/prose
printf '%s\n' "aws_access_key_id = AKIAIOSFODNN7EXAMPLE" >near/example
cat >near/r.yaml <<'Y'
name: distill-test/secrets-near
ca-certificates: false
contents:
  directories:
    - {source: ., path: /etc/app, exclude: ["*.yaml", "*.tar"]}
Y
"$DISTILL" build near/r.yaml -o near/out.tar 2>near/err || fail "near misses refused: $(cat near/err)"

# a waiver names the rule and the path
cat >docker/w.yaml <<Y
name: distill-test/secrets-waived
ca-certificates: false
contents:
  files:
    - {source: settings, path: /etc/app/settings}
checks:
  allow:
    - {id: docker-auth, path: /etc/app/settings, reason: "a fixture credential for the test registry"}
Y
"$DISTILL" build docker/w.yaml -o docker/w.tar 2>docker/werr || fail "the waived build failed: $(cat docker/werr)"
"$DISTILL" check --json --allow docker-auth:/etc/app/settings docker/w.tar >docker/w.json || true
jq -e '.checks[] | select(.id == "no-secrets") | .status == "waived"' docker/w.json >/dev/null ||
	fail "check --allow docker-auth:...: $(jq -c '.checks[] | select(.id == "no-secrets")' docker/w.json)"
st=0
"$DISTILL" check docker/w.tar >docker/w.txt || st=$?
[ "$st" = 1 ] && grep -qF 'docker-auth' docker/w.txt ||
	fail "check without --allow passes a recorded waiver: $(cat docker/w.txt)"

# anyone's image: a token in a lower layer, deleted by a later one
L=layout
umoci init --layout $L
umoci new --image $L:t
umoci unpack --image $L:t bundle >/dev/null
mkdir -p bundle/rootfs/srv
printf 'machine github.com login me password %s\n' "$GH" >bundle/rootfs/srv/notes.txt
umoci repack --image $L:t bundle >/dev/null
rm -rf bundle
umoci unpack --image $L:t bundle >/dev/null
rm bundle/rootfs/srv/notes.txt
umoci repack --image $L:t bundle >/dev/null
umoci config --image $L:t --config.user 65532 >/dev/null
(cd $L && tar -cf ../umoci.tar .)
"$DISTILL" check --json umoci.tar >umoci.json || true
jq -e '.checks[] | select(.id == "no-secrets") | .status == "fail"' umoci.json >/dev/null &&
	jq -r '.checks[] | select(.id == "no-secrets") | .findings[]' umoci.json |
	grep -q '/srv/notes.txt in layer 1: .*(github-token) (deleted by a later layer' ||
	fail "check of a deleted token: $(jq -c '.checks[] | select(.id == "no-secrets")' umoci.json)"

echo "PASS: $cases credential formats refused by content, alone and inside larger files; near misses build;" \
	"a waiver names the rule; a token deleted by a later layer is found"
