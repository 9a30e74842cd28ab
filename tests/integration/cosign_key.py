#!/usr/bin/env python3
"""A key pair as `cosign generate-key-pair` writes it, independent of
distill (python3-cryptography, python3-nacl and hashlib.scrypt), from
cosign's pkg/cosign/keys.go and go-securesystemslib's encrypted package:
the P-256 key's PKCS#8 DER sealed in a NaCl secretbox under
scrypt(password, salt, N, r=8, p=1), the JSON envelope marshalled as Go
marshals it (fields in struct order, no spaces, []byte as standard base64),
in a PEM block of 64-character lines; and PREFIX.pub, its
SubjectPublicKeyInfo PEM.

usage: cosign_key.py PREFIX PASSWORD [--n N] [--type SIGSTORE|COSIGN]
N: 65536 (go-securesystemslib's standard, cosign's default), 32768 (its
legacy one, cosign before 2.2) or 131072; COSIGN: the PEM type of cosign
before 2.0."""
import argparse
import base64
import hashlib
import json
import os

import nacl.secret
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64(data):
    return base64.b64encode(data).decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("prefix")
    ap.add_argument("password")
    ap.add_argument("--n", type=int, default=65536)
    ap.add_argument("--type", default="SIGSTORE", choices=["SIGSTORE", "COSIGN"])
    a = ap.parse_args()

    k = ec.generate_private_key(ec.SECP256R1())
    der = k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    salt, nonce = os.urandom(32), os.urandom(24)
    key = hashlib.scrypt(a.password.encode(), salt=salt, n=a.n, r=8, p=1, maxmem=256 << 20, dklen=32)
    # SecretBox.encrypt returns nonce + ciphertext; Go's secretbox.Seal the
    # ciphertext (authenticator first) alone.
    sealed = nacl.secret.SecretBox(key).encrypt(der, nonce).ciphertext
    doc = {"kdf": {"name": "scrypt", "params": {"N": a.n, "r": 8, "p": 1}, "salt": b64(salt)},
           "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce)}, "ciphertext": b64(sealed)}
    body = b64(json.dumps(doc, separators=(",", ":")).encode())
    kind = f"ENCRYPTED {a.type} PRIVATE KEY"
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    with open(a.prefix + ".key", "w") as f:
        f.write(f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----\n")
    os.chmod(a.prefix + ".key", 0o600)
    with open(a.prefix + ".pub", "wb") as f:
        f.write(k.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo))


if __name__ == "__main__":
    main()
