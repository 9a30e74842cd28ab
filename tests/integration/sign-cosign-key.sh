#!/bin/bash
# distill sign --key with the private key `cosign generate-key-pair`
# writes, made here by cosign_key.py as cosign and go-securesystemslib
# write it (python3-nacl, hashlib.scrypt, python3-cryptography; no code
# shared with distill), against Debian's distribution registry on
# 127.0.0.1; the signatures checked by cosign_verify.py and distill verify.
#   a. today's key (ENCRYPTED SIGSTORE PRIVATE KEY, N 2^16): the password
#      from --passphrase-file, $DISTILL_PASSPHRASE or $COSIGN_PASSWORD
#   b. the older PEM type (ENCRYPTED COSIGN PRIVATE KEY) with N 2^15, and
#      a key made with an empty password, signed with none given
#   c. refused (exit 1, the reason said): a wrong password, none, a changed
#      ciphertext, a cost go-securesystemslib never writes, JSON that is no
#      such key
. "$(dirname "$0")/lib.sh"
need docker-registry curl jq python3
python3 -c 'import cryptography, nacl' 2>/dev/null ||
	skip "python3-cryptography or python3-nacl is not installed (.ci/run installs them)"
"$DISTILL" --version | grep -q libcurl || skip "this distill has no registry client (a static build)"
unset DISTILL_PASSPHRASE COSIGN_PASSWORD

HERE="$SOURCE_DIR/tests/integration"
# rewrite KEY PYTHON: KEY's JSON as `d`, changed by PYTHON, written back as
# the same PEM block
rewrite() {
	python3 - "$1" "$2" <<'PY'
import base64, json, sys
path, change = sys.argv[1], sys.argv[2]
lines = open(path).read().splitlines()
d = json.loads(base64.b64decode("".join(lines[1:-1])))
exec(change)
body = base64.b64encode(json.dumps(d, separators=(",", ":")).encode()).decode()
open(path, "w").write("\n".join([lines[0]] + [body[i:i + 64] for i in range(0, len(body), 64)] + [lines[-1]]) + "\n")
PY
}

start_registry
H="127.0.0.1:$port"
"$DISTILL" build "$SOURCE_DIR/recipes/curl.yaml" -o "$WORK/curl.tar" -q
for repo in distill/curl distill/old distill/empty; do
	run push "$WORK/curl.tar" "docker://$H/$repo:1" --tls-verify=false
	ok "push to $repo"
done
cd "$WORK"

echo "== a. a key as cosign generate-key-pair writes it"
python3 "$HERE/cosign_key.py" c 'correct horse' || fail "a. cosign_key.py"
head -1 c.key | grep -qx -- '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----' || fail "a. c.key: $(head -1 c.key)"
printf 'correct horse\n' >pass
run sign --key c.key --passphrase-file pass --tls-verify=false "docker://$H/distill/curl:1"
ok "a. sign --passphrase-file"
python3 "$HERE/cosign_verify.py" "$H" distill/curl 1 c.pub >verify.out || fail "a. cosign_verify.py: $(cat verify.out)"
run verify --key c.pub --tls-verify=false "docker://$H/distill/curl:1"
ok "a. distill verify"
DISTILL_PASSPHRASE='correct horse' run sign --key c.key --tls-verify=false "docker://$H/distill/curl:1"
ok "a. sign, \$DISTILL_PASSPHRASE"
COSIGN_PASSWORD='correct horse' run sign --key c.key --tls-verify=false "docker://$H/distill/curl:1"
ok "a. sign, \$COSIGN_PASSWORD"
DISTILL_PASSPHRASE='correct horse' COSIGN_PASSWORD=wrong run sign --key c.key --tls-verify=false "docker://$H/distill/curl:1"
ok "a. \$DISTILL_PASSPHRASE before \$COSIGN_PASSWORD"

echo "== b. the older PEM type and scrypt cost; an empty password"
python3 "$HERE/cosign_key.py" old 'old one' --type COSIGN --n 32768 || fail "b. cosign_key.py --type COSIGN"
head -1 old.key | grep -qx -- '-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----' || fail "b. old.key: $(head -1 old.key)"
COSIGN_PASSWORD='old one' run sign --key old.key --tls-verify=false "docker://$H/distill/old:1"
ok "b. sign with ENCRYPTED COSIGN PRIVATE KEY, N 32768"
python3 "$HERE/cosign_verify.py" "$H" distill/old 1 old.pub >verify.out || fail "b. cosign_verify.py: $(cat verify.out)"
python3 "$HERE/cosign_key.py" empty '' || fail "b. cosign_key.py ''"
run sign --key empty.key --tls-verify=false "docker://$H/distill/empty:1"
ok "b. a key of the empty password, none given"
run verify --key empty.pub --tls-verify=false "docker://$H/distill/empty:1"
ok "b. distill verify (empty password)"
python3 "$HERE/cosign_verify.py" "$H" distill/empty 1 empty.pub >verify.out || fail "b. cosign_verify.py: $(cat verify.out)"

echo "== c. refused"
DISTILL_PASSPHRASE=wrong run sign --key c.key --tls-verify=false "docker://$H/distill/curl:1"
refused "c. a wrong password" "c.key.: the password does not open the cosign key \(a wrong password"
run sign --key c.key --tls-verify=false "docker://$H/distill/curl:1"
refused "c. no password" "encrypted: give its password"
cp c.key damaged.key
rewrite damaged.key 'c = bytearray(base64.b64decode(d["ciphertext"])); c[40] ^= 1; d["ciphertext"] = base64.b64encode(bytes(c)).decode()'
run sign --key damaged.key --passphrase-file pass --tls-verify=false "docker://$H/distill/curl:1"
refused "c. a changed ciphertext" "its ciphertext is damaged"
cp c.key costly.key
rewrite costly.key 'd["kdf"]["params"]["N"] = 1 << 24'
run sign --key costly.key --passphrase-file pass --tls-verify=false "docker://$H/distill/curl:1"
refused "c. N 2^24" "unsupported scrypt parameters N=16777216"
cp c.key aes.key
rewrite aes.key 'd["cipher"]["name"] = "aes-gcm"'
run sign --key aes.key --passphrase-file pass --tls-verify=false "docker://$H/distill/curl:1"
refused "c. another cipher" 'the cipher is "aes-gcm", not nacl/secretbox'
printf -- '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n%s\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n' \
	"$(printf '{"kdf":' | base64)" >json.key
run sign --key json.key --passphrase-file pass --tls-verify=false "docker://$H/distill/curl:1"
refused "c. not JSON" "a cosign private key: not JSON"
echo "PASS"
