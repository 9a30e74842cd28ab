#!/usr/bin/env python3
"""An independent verifier of cosign signatures, written from cosign's
specs/SIGNATURE_SPEC.md with python3-cryptography, sharing no code with
distill: the tag is resolved to the sha256 of the manifest's bytes, the
signature manifest sha256-<hex>.sig is fetched over plain HTTP, and each
simplesigning layer's payload is checked against its digest, its claims
against the image, and its dev.cosignproject.cosign/signature (base64 DER,
ECDSA P-256, SHA-256) against the public key.

usage: cosign_verify.py HOST:PORT REPO TAG PUBKEY.pem
Prints one line per layer; exit 0 when at least one verifies, else 1."""
import base64
import hashlib
import json
import sys
import urllib.error
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

ACCEPT = ", ".join(["application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json"])
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
ANNOTATION = "dev.cosignproject.cosign/signature"


def get(host, path, accept=None):
    req = urllib.request.Request(f"http://{host}{path}", headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def check(host, repo, layer, digest, key):
    payload = get(host, f"/v2/{repo}/blobs/{layer['digest']}")
    if "sha256:" + hashlib.sha256(payload).hexdigest() != layer["digest"]:
        return "the payload's bytes are not its digest"
    if layer.get("mediaType") != SIMPLESIGNING:
        return f"media type {layer.get('mediaType')}"
    try:
        key.verify(base64.b64decode(layer["annotations"][ANNOTATION], validate=True), payload,
                   ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, KeyError, ValueError):
        return "the signature does not verify"
    critical = json.loads(payload)["critical"]
    if critical["type"] != "cosign container image signature":
        return f"type {critical['type']}"
    if critical["image"]["docker-manifest-digest"] != digest:
        return f"signs {critical['image']['docker-manifest-digest']}, not {digest}"
    if critical["identity"]["docker-reference"] != f"{host}/{repo}":
        return f"names {critical['identity']['docker-reference']}"
    return None


def main():
    host, repo, tag, keyfile = sys.argv[1:5]
    with open(keyfile, "rb") as f:
        key = serialization.load_pem_public_key(f.read())
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        sys.exit(f"{keyfile}: not a P-256 key")
    digest = "sha256:" + hashlib.sha256(get(host, f"/v2/{repo}/manifests/{tag}", ACCEPT)).hexdigest()
    sig_tag = digest.replace(":", "-") + ".sig"
    try:
        manifest = json.loads(get(host, f"/v2/{repo}/manifests/{sig_tag}", ACCEPT))
    except urllib.error.HTTPError as e:
        print(f"{repo}:{sig_tag}: {e.code}")
        return 1
    good = 0
    for layer in manifest["layers"]:
        why = check(host, repo, layer, digest, key)
        print(f"{layer['digest']}: {why or 'verified'}")
        good += why is None
    print(f"{host}/{repo}@{digest}: {good} of {len(manifest['layers'])} verified")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
