#!/usr/bin/env python3
"""A signer in cosign's format, independent of distill (python3-cryptography
and plain HTTP requests, from cosign's specs/SIGNATURE_SPEC.md): the
simple signing payload as cosign's Go code marshals it, an ECDSA P-256
SHA-256 signature, the payload uploaded as a blob and appended as a layer
to the signature manifest sha256-<hex>.sig (made when missing), its config
as cosign writes it.

usage: cosign_sign.py HOST:PORT REPO TAG KEY.pem [--claim DIGEST] [--tamper]
--claim signs a payload that names DIGEST instead of the image's;
--tamper uploads a payload other than the one signed."""
import argparse
import base64
import hashlib
import json
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ACCEPT = ", ".join([OCI_MANIFEST, "application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json"])


def request(host, method, path, data=None, headers=None):
    url = path if path.startswith("http") else f"http://{host}{path}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.headers, r.read()


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload(host, repo, data):
    _, headers, _ = request(host, "POST", f"/v2/{repo}/blobs/uploads/", b"")
    loc = headers["Location"]
    loc = loc if loc.startswith("http") else f"http://{host}{loc}"
    sep = "&" if "?" in loc else "?"
    request(host, "PUT", f"{loc}{sep}digest={sha(data)}", data, {"Content-Type": "application/octet-stream"})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host"), p.add_argument("repo"), p.add_argument("tag"), p.add_argument("key")
    p.add_argument("--claim"), p.add_argument("--tamper", action="store_true")
    a = p.parse_args()
    with open(a.key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    digest = sha(request(a.host, "GET", f"/v2/{a.repo}/manifests/{a.tag}", headers={"Accept": ACCEPT})[2])
    # Go's encoding/json: struct fields in their order, no spaces
    payload = json.dumps({"critical": {"identity": {"docker-reference": f"{a.host}/{a.repo}"},
                                       "image": {"docker-manifest-digest": a.claim or digest},
                                       "type": "cosign container image signature"},
                          "optional": {"signer": "cosign_sign.py"}}, separators=(",", ":")).encode()
    signature = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    if a.tamper:
        payload = payload.replace(b"cosign_sign.py", b"someone else!!")
    sig_tag = digest.replace(":", "-") + ".sig"
    try:
        manifest = json.loads(request(a.host, "GET", f"/v2/{a.repo}/manifests/{sig_tag}",
                                      headers={"Accept": OCI_MANIFEST})[2])
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": None, "layers": []}
    manifest["layers"].append({"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                               "size": len(payload), "digest": sha(payload),
                               "annotations": {"dev.cosignproject.cosign/signature": signature}})
    n = len(manifest["layers"])
    config = json.dumps({"architecture": "", "created": "0001-01-01T00:00:00Z",
                         "history": [{"created": "0001-01-01T00:00:00Z"}] * n, "os": "",
                         "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in manifest["layers"]]},
                         "config": {}}, separators=(",", ":")).encode()
    upload(a.host, a.repo, payload)
    upload(a.host, a.repo, config)
    manifest["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                          "digest": sha(config)}
    request(a.host, "PUT", f"/v2/{a.repo}/manifests/{sig_tag}", json.dumps(manifest).encode(),
            {"Content-Type": OCI_MANIFEST})
    print(f"{a.host}/{a.repo}:{sig_tag}")


if __name__ == "__main__":
    main()
