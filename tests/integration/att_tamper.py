#!/usr/bin/env python3
"""Change the statement of every SPDX envelope in the attestation manifest
of DIGEST, keeping its signature, and put the changed envelopes and the
manifest back (plain HTTP): what verify must refuse.

usage: att_tamper.py HOST REPO DIGEST"""
import base64
import hashlib
import json
import sys
import urllib.request

host, repo, digest = sys.argv[1:]
base = f"http://{host}/v2/{repo}"
MT = "application/vnd.oci.image.manifest.v1+json"
tag = f"sha256-{digest.removeprefix('sha256:')}.att"


def call(method, url, data=None, ctype=None):
    headers = {"Accept": MT}
    if ctype:
        headers["Content-Type"] = ctype
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req) as r:
        return r.read(), r.headers


m = json.loads(call("GET", f"{base}/manifests/{tag}")[0])
for layer in m["layers"]:
    if layer["annotations"]["predicateType"] != "https://spdx.dev/Document":
        continue
    env = json.loads(call("GET", f"{base}/blobs/{layer['digest']}")[0])
    st = json.loads(base64.b64decode(env["payload"]))
    st["predicate"]["name"] = "tampered"
    env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    body = json.dumps(env).encode()
    d = "sha256:" + hashlib.sha256(body).hexdigest()
    _, h = call("POST", f"{base}/blobs/uploads/", b"")
    loc = h["Location"]
    loc = loc if loc.startswith("http") else f"http://{host}{loc}"
    call("PUT", f"{loc}{'&' if '?' in loc else '?'}digest={d}", body, "application/octet-stream")
    layer["digest"], layer["size"] = d, len(body)
call("PUT", f"{base}/manifests/{tag}", json.dumps(m).encode(), MT)
