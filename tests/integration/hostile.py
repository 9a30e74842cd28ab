#!/usr/bin/env python3
"""Hostile input: archives written here by hand to be wrong in one way each,
and outputs that cannot be written. Every case must end with exit 1, a
message naming the place and the reason, and, for build, the previous
output byte for byte intact with no temporary file left."""
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

DISTILL = os.environ["DISTILL"]
SOURCE_DIR = os.environ["SOURCE_DIR"]
failures = 0


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    """entries: (name, kind, payload, mode); kind f(ile) d(ir) l(ink) h(ardlink)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
        for name, kind, payload, mode in entries:
            info = tarfile.TarInfo(name)
            info.mode = mode
            if kind == "f":
                info.size = len(payload)
                t.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE}[kind]
            if kind in "lh":
                info.linkname = payload
            t.addfile(info)
    return out.getvalue()


GOOD_LAYER = [("etc/", "d", None, 0o755), ("etc/passwd", "f", b"root:x:0:0::/root:/sbin/nologin\n", 0o644)]


def archive(path, layers=(GOOD_LAYER,), mutate=lambda files, docs: None, compress=True):
    """An OCI archive of gzip (or plain) layers; mutate(files, docs) may spoil it."""
    files, docs = {}, {}
    diff_ids, descs = [], []
    for entries in layers:
        raw = tar_bytes(entries)
        blob = gzip.compress(raw, mtime=0) if compress else raw
        diff_ids.append(sha(raw))
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else ""),
                      "digest": sha(blob), "size": len(blob)})
        files["blobs/sha256/" + sha(blob)[7:]] = blob
    docs["config"] = {"architecture": "amd64", "os": "linux", "config": {"User": "65532:65532"},
                      "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    docs["manifest"] = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "layers": descs}
    mutate(files, docs)
    config = json.dumps(docs["config"]).encode()
    files["blobs/sha256/" + sha(config)[7:]] = config
    docs["manifest"]["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config),
                                  "size": len(config)}
    manifest = json.dumps(docs["manifest"]).encode()
    files["blobs/sha256/" + sha(manifest)[7:]] = manifest
    files.setdefault("index.json", json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
         "size": len(manifest)}]}).encode())
    files["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
    for name, data in list(files.items()):
        if callable(data):
            files[name] = data(files)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            t.addfile(info, io.BytesIO(files[name]))


def expect(what, cmd, message, status=1):
    global failures
    r = subprocess.run(cmd, capture_output=True, text=True)
    ok = r.returncode == status and message in r.stderr + r.stdout
    failures += not ok
    print(f"{'ok' if ok else 'FAIL'}: {what}" + ("" if ok else f": exit {r.returncode}, {r.stderr.strip()[:300]}"))


def spoil_blob(files, docs):
    name = next(n for n in files if n.startswith("blobs/"))
    files[name] = files[name] + b"tampered"


def drop_layer(files, docs):
    del files[next(n for n in files if n.startswith("blobs/"))]


def wrong_diff_id(files, docs):
    docs["config"]["rootfs"]["diff_ids"][0] = sha(b"something else")


def truncate_layer(files, docs):
    name = next(n for n in files if n.startswith("blobs/"))
    raw = tar_bytes([("big", "f", b"x" * 100000, 0o644)])
    cut = gzip.compress(raw[:20000], mtime=0)
    del files[name]
    files["blobs/sha256/" + sha(cut)[7:]] = cut
    docs["manifest"]["layers"][0].update(digest=sha(cut), size=len(cut))
    docs["config"]["rootfs"]["diff_ids"][0] = sha(raw)


def huge_index(files, docs):
    files["index.json"] = b'{"schemaVersion": 2, "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'


def bad_json(files, docs):
    files["index.json"] = b'{"schemaVersion": 2,\n "manifests": [}'


def main():
    work = tempfile.mkdtemp(prefix="distill-hostile.")
    a = lambda name: os.path.join(work, name)  # noqa: E731

    # ---- archives given to inspect and check ----
    archive(a("traversal.tar"), [[("etc/", "d", None, 0o755), ("../../etc/evil", "f", b"x", 0o644)]])
    for cmd in ("inspect", "check"):
        expect(f"{cmd}: an entry climbing out with ..", [DISTILL, cmd, a("traversal.tar")],
               "layer 1: entry `../../etc/evil` climbs out of the image root with \"..\"")
    archive(a("hardlink.tar"), [[("etc/", "d", None, 0o755), ("etc/x", "h", "../../../etc/shadow", 0o644)]])
    expect("a hardlink pointing out", [DISTILL, "inspect", a("hardlink.tar")],
           "layer 1: hardlink `/etc/x` points out of the image root")
    archive(a("spoiled.tar"), mutate=spoil_blob)
    expect("a blob whose content is not its digest", [DISTILL, "check", a("spoiled.tar")], "does not match its content")
    archive(a("missing.tar"), mutate=drop_layer)
    expect("a missing blob", [DISTILL, "inspect", a("missing.tar")], ", which the archive does not hold")
    archive(a("diffid.tar"), mutate=wrong_diff_id)
    expect("a diff_id that is not the layer's", [DISTILL, "inspect", a("diffid.tar")],
           "layer 1: its content is sha256:")
    archive(a("truncated.tar"), mutate=truncate_layer)
    expect("a layer whose file is cut short (absurd size)", [DISTILL, "inspect", a("truncated.tar")], "layer 1")
    archive(a("huge.tar"), mutate=huge_index)
    expect("an index.json of 5 MiB", [DISTILL, "inspect", a("huge.tar")], "`index.json` is larger than 4194304 bytes")
    archive(a("badjson.tar"), mutate=bad_json)
    expect("an index.json that is not JSON", [DISTILL, "inspect", a("badjson.tar")], "`index.json`:2:")
    with open(a("random.tar"), "wb") as f:
        f.write(os.urandom(4096))
    expect("not an archive", [DISTILL, "inspect", a("random.tar")], "random.tar")
    expect("no such file", [DISTILL, "check", a("none.tar")], "none.tar")
    loop = [("etc/", "d", None, 0o755), ("etc/ssl/", "d", None, 0o755), ("etc/ssl/certs/", "d", None, 0o755),
            ("etc/ssl/certs/ca-certificates.crt", "l", "loop", 0o777), ("etc/ssl/certs/loop", "l", "ca-certificates.crt", 0o777)]
    archive(a("loop.tar"), [loop])
    expect("a symlink cycle where the CA bundle should be", [DISTILL, "check", a("loop.tar")],
           "more than 40 symlinks (a loop at")

    # ---- outputs that cannot be written ----
    recipe = os.path.join(SOURCE_DIR, "recipes", "curl.yaml")
    if os.getuid() == 0:
        small = a("small")
        os.mkdir(small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", small], check=True)
        try:
            subprocess.run([DISTILL, "build", os.path.join(SOURCE_DIR, "recipes", "static.yaml"), "-o",
                            f"{small}/image.tar"], check=True)
            before = open(f"{small}/image.tar", "rb").read()
            expect("a full disk (4 MiB tmpfs, an 8 MiB image)", [DISTILL, "build", recipe, "-o", f"{small}/image.tar"],
                   "No space left on device")
            intact = open(f"{small}/image.tar", "rb").read() == before and os.listdir(small) == ["image.tar"]
            print(f"{'ok' if intact else 'FAIL'}: the previous output is intact and nothing else is left")
            global failures
            failures += not intact
            subprocess.run(["mount", "-o", "remount,ro", small], check=True)
            expect("a read-only directory", [DISTILL, "build", recipe, "-o", f"{small}/other.tar"],
                   "Read-only file system")
        finally:
            subprocess.run(["umount", small])
    else:
        print("SKIP: the full disk and read-only cases need root to mount a tmpfs")
    expect("a directory where the output should go", [DISTILL, "build", recipe, "-o", work], "is a directory")
    subprocess.run(["rm", "-rf", work])
    print("PASS" if failures == 0 else f"FAIL: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
