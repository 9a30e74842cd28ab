#!/usr/bin/env python3
"""Verify the attestations of an image as cosign stores them, sharing no
code with distill: the manifest tagged sha256-<hex>.att fetched over plain
HTTP, each layer's bytes against its digest, each DSSE envelope's signature
over the pre-authentication encoding (DSSE protocol.md) with Debian's
securesystemslib (0.26: SSlibKey of keys.import_ecdsakey_from_public_pem, ECDSA P-256 with
SHA-256), and each in-toto statement against the in-toto v1 Statement and
SLSA provenance v1 specs.

usage: dsse_verify.py HOST REPO DIGEST PUB [--sbom FILE] [--payloads FILE]
  --sbom FILE      the SPDX predicates must equal this document
  --payloads FILE  write "PREDICATE_TYPE SHA256" of each statement, sorted
Exit 0 when every envelope verifies and its statement is well formed."""
import base64
import hashlib
import json
import re
import sys
import urllib.request

from securesystemslib import keys
from securesystemslib.signer import Signature, SSlibKey

SPDX = "https://spdx.dev/Document"
SLSA = "https://slsa.dev/provenance/v1"
HEX64 = re.compile(r"[0-9a-f]{64}")


def get(url, accept=None):
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req) as r:
        return r.read()


def pae(payload_type, body):
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def check(cond, msg):
    if not cond:
        raise SystemExit(f"dsse_verify.py: {msg}")


def check_descriptor(d, where):
    check(isinstance(d, dict) and any(k in d for k in ("uri", "digest", "content")),
          f"{where}: a ResourceDescriptor needs uri, digest or content: {d}")
    for alg, value in d.get("digest", {}).items():
        check(isinstance(value, str) and re.fullmatch(r"[0-9a-f]+", value), f"{where}: digest {alg} is not hex")
    for key in ("uri", "name"):
        check(key not in d or isinstance(d[key], str), f"{where}: {key} is not a string")


def check_slsa(p):
    """SLSA provenance v1: the required fields and their types."""
    bd, rd = p.get("buildDefinition"), p.get("runDetails")
    check(isinstance(bd, dict) and isinstance(rd, dict), "provenance: no buildDefinition or runDetails")
    check(isinstance(bd.get("buildType"), str) and ":" in bd["buildType"], "provenance: buildType is not a URI")
    check(isinstance(bd.get("externalParameters"), dict), "provenance: externalParameters is not an object")
    check(isinstance(bd.get("internalParameters", {}), dict), "provenance: internalParameters is not an object")
    deps = bd.get("resolvedDependencies", [])
    check(isinstance(deps, list) and deps, "provenance: no resolvedDependencies")
    for i, d in enumerate(deps):
        check_descriptor(d, f"resolvedDependencies[{i}]")
    builder = rd.get("builder")
    check(isinstance(builder, dict) and isinstance(builder.get("id"), str), "provenance: no builder.id")
    check(isinstance(builder.get("version", {}), dict), "provenance: builder.version is not a map")
    meta = rd.get("metadata", {})
    check(isinstance(meta, dict), "provenance: metadata is not an object")
    check(not {"invocationId", "startedOn", "finishedOn"} & set(meta), "provenance: a time or invocation id")
    ext = bd["externalParameters"]
    check(HEX64.fullmatch(ext.get("recipe", {}).get("digest", {}).get("sha256", "")), "provenance: no recipe sha256")
    check(any(d.get("uri", "").startswith("pkg:deb/") for d in deps), "provenance: no Debian package")
    check(any("sha256" in d.get("digest", {}) for d in deps), "provenance: no input file with its sha256")


def check_statement(st, digest, annotated, sbom):
    check(st.get("_type") == "https://in-toto.io/Statement/v1", f"_type is {st.get('_type')}")
    subjects = st.get("subject")
    check(isinstance(subjects, list) and subjects, "no subject")
    for s in subjects:
        check(isinstance(s.get("name"), str) and isinstance(s.get("digest"), dict), f"subject {s}")
        check(all(isinstance(v, str) for v in s["digest"].values()), f"subject digest {s}")
    check(any(s["digest"].get("sha256") == digest.removeprefix("sha256:") for s in subjects),
          f"no subject is {digest}: {subjects}")
    t = st.get("predicateType")
    check(isinstance(t, str) and t == annotated, f"predicateType {t}, annotation {annotated}")
    check(isinstance(st.get("predicate"), dict), "the predicate is not an object")
    if t == SPDX:
        check(st["predicate"].get("spdxVersion") == "SPDX-2.3", "not an SPDX 2.3 document")
        if sbom is not None:
            check(st["predicate"] == sbom, "the SPDX predicate is not the --sbom document")
    elif t == SLSA:
        check_slsa(st["predicate"])
    else:
        check(False, f"unknown predicateType {t}")


def main():
    args = sys.argv[1:]
    opts = {}
    for flag in ("--sbom", "--payloads"):
        if flag in args:
            i = args.index(flag)
            opts[flag] = args[i + 1]
            del args[i:i + 2]
    host, repo, digest, pub = args
    sbom = json.load(open(opts["--sbom"])) if "--sbom" in opts else None
    key = SSlibKey.from_securesystemslib_key(keys.import_ecdsakey_from_public_pem(open(pub).read()))
    base = f"http://{host}/v2/{repo}"
    m = json.loads(get(f"{base}/manifests/sha256-{digest.removeprefix('sha256:')}.att",
                       "application/vnd.oci.image.manifest.v1+json"))
    lines = []
    for layer in m["layers"]:
        check(layer["mediaType"] == "application/vnd.dsse.envelope.v1+json", f"layer type {layer['mediaType']}")
        body = get(f"{base}/blobs/{layer['digest']}")
        check("sha256:" + hashlib.sha256(body).hexdigest() == layer["digest"], "a layer's bytes are not its digest")
        env = json.loads(body)
        check(env["payloadType"] == "application/vnd.in-toto+json", f"payloadType {env['payloadType']}")
        payload = base64.b64decode(env["payload"], validate=True)
        data = pae(env["payloadType"], payload)
        for s in env["signatures"]:
            # keyid is an optional hint (cosign leaves it empty); the key is ours
            sig = Signature(s.get("keyid") or key.keyid, base64.b64decode(s["sig"], validate=True).hex())
            key.verify_signature(sig, data)  # raises when it does not verify
        check_statement(json.loads(payload), digest, layer["annotations"]["predicateType"], sbom)
        lines.append(f"{layer['annotations']['predicateType']} {hashlib.sha256(payload).hexdigest()}")
    if "--payloads" in opts:
        with open(opts["--payloads"], "w") as f:
            f.write("".join(sorted(l + "\n" for l in lines)))
    print(f"{len(m['layers'])} envelopes verified")


main()
