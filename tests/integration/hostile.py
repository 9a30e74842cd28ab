#!/usr/bin/env python3
"""Hostile input: archives written here by hand to be wrong in one way each,
and outputs that cannot be written. Every case must end with exit 1, a
message naming the place and the reason, and, for build, the previous
output byte for byte intact with no temporary file left; or, for archives
that are valid but built to mislead (hardlinks, whiteouts), with what a
runtime would unpack. HOSTILE_KEEP=DIR writes the archives there and keeps
them (to run them under valgrind, say)."""
import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

DISTILL = os.environ["DISTILL"]
SOURCE_DIR = os.environ["SOURCE_DIR"]
failures = 0


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    """entries: (name, kind, payload, mode); kind f(ile) d(ir) l(ink) h(ardlink),
    or raw: payload is header and data blocks written as they are."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
        for name, kind, payload, mode in entries:
            if kind == "raw":
                t.fileobj.write(payload)
                t.offset += len(payload)
                continue
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


def pad(data):
    return data + b"\0" * (-len(data) % 512)


def num(n, width=12):
    """A tar number field: octal, or base-256 (GNU) when it does not fit."""
    if n < 8 ** (width - 1):
        return b"%0*o\0" % (width - 1, n)
    return bytes([0x80]) + n.to_bytes(width - 1, "big")


def ustar_header(name, size, typeflag=b"0", mode=0o644, gnu=None):
    """A 512-byte header; gnu: the bytes from offset 345 on of a GNU header
    (atime, ctime, offset, longnames, sparse map, isextended, realsize)."""
    h = bytearray(512)
    h[0:len(name)] = name.encode()
    h[100:108] = b"%07o\0" % mode
    h[108:116] = b"%07o\0" % 0
    h[116:124] = b"%07o\0" % 0
    h[124:136] = num(size)
    h[136:148] = b"%011o\0" % 0
    h[156:157] = typeflag
    h[257:265] = b"ustar  \0" if gnu is not None else b"ustar\x0000"
    if gnu is not None:
        h[345:345 + len(gnu)] = gnu
    h[148:156] = b"        "
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def pax_header(records, name="PaxHeader"):
    """A pax extended header ('x') of (key, value) records, repeats allowed."""
    body = b""
    for k, v in records:
        rec = b" %s=%s\n" % (k.encode(), str(v).encode())
        n = len(rec)
        while len(b"%d" % n) + len(rec) != n:
            n = len(b"%d" % n) + len(rec)
        body += b"%d" % n + rec
    return ustar_header(name, len(body), b"x") + pad(body)


def sparse_entry(name, data, realsize, kind):
    """A sparse file: `data` at offset 0, holes up to `realsize` (a hole at
    the end); with no data at all, nothing but holes. kind: gnu (the old
    'S' type), pax-0.0, pax-0.1, pax-1.0 (GNU tar's three pax forms)."""
    regions = [(0, len(data))] if data else []
    if kind == "gnu":
        sp = b"".join(num(off) + num(n) for off, n in regions).ljust(4 * 24, b"\0")
        gnu = b"\0" * 12 * 3 + b"\0" * 4 + b"\0" + sp + b"\0" + num(realsize)
        return ustar_header(name, len(data), b"S", gnu=gnu) + pad(data)
    if kind == "pax-0.0":
        recs = [("GNU.sparse.size", realsize), ("GNU.sparse.numblocks", len(regions))]
        for off, n in regions:
            recs += [("GNU.sparse.offset", off), ("GNU.sparse.numbytes", n)]
        return pax_header(recs) + ustar_header(name, len(data)) + pad(data)
    if kind == "pax-0.1":
        recs = [("GNU.sparse.size", realsize), ("GNU.sparse.numblocks", len(regions)),
                ("GNU.sparse.map", ",".join("%d,%d" % r for r in regions))]
        return pax_header(recs) + ustar_header(name, len(data)) + pad(data)
    assert kind == "pax-1.0"
    recs = [("GNU.sparse.major", 1), ("GNU.sparse.minor", 0), ("GNU.sparse.name", name),
            ("GNU.sparse.realsize", realsize)]
    sparse_map = pad(b"%d\n" % len(regions) + b"".join(b"%d\n%d\n" % r for r in regions))
    body = sparse_map + pad(data)
    return pax_header(recs) + ustar_header("GNUSparseFile.0/" + name.rsplit("/", 1)[-1], len(sparse_map) + len(data)) \
        + body


def fast_tar(entries):
    """tar_bytes for many files and directories, quicker than tarfile: names
    longer than a ustar header holds in a pax header."""
    out = []
    for name, kind, payload, mode in entries:
        data = payload if kind == "f" else b""
        if len(name.encode()) > 99:
            out.append(pax_header([("path", name)]))
        out.append(ustar_header(name[:99], len(data), b"0" if kind == "f" else b"5", mode) + pad(data))
    return b"".join(out) + b"\0" * 1024


def fast_gzip(raw):
    return gzip.compress(raw, compresslevel=1, mtime=0)


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c", "-19"], input=data, capture_output=True, check=True).stdout


# compression of a layer: media type suffix, encoder
CODECS = {
    "gzip": ("+gzip", lambda raw: gzip.compress(raw, mtime=0)),
    "none": ("", lambda raw: raw),
    "zstd": ("+zstd", zstd),
}


GOOD_LAYER = [("etc/", "d", None, 0o755), ("etc/passwd", "f", b"root:x:0:0::/root:/sbin/nologin\n", 0o644)]


def archive(path, layers=(GOOD_LAYER,), mutate=lambda files, docs: None, compress=True, encode=None, raw_members=b""):
    """An OCI archive of gzip (or plain) layers; mutate(files, docs) may spoil it.
    compress: True (gzip), False (none) or a name of CODECS; encode(raw) -> blob
    makes each blob another way, under compress's media type. raw_members:
    tar blocks written into the archive as they are."""
    files, docs = {}, {}
    diff_ids, descs = [], []
    suffix, codec = CODECS[{True: "gzip", False: "none"}.get(compress, compress)]
    for entries in layers:
        raw = entries if isinstance(entries, bytes) else tar_bytes(entries)
        blob = (encode or codec)(raw)
        diff_ids.append(sha(raw))
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar" + suffix,
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
                                  "size": docs.get("config_size", len(config))}
    manifest = json.dumps(docs["manifest"]).encode()
    files["blobs/sha256/" + sha(manifest)[7:]] = manifest
    files.setdefault("index.json", json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
         "size": len(manifest)}]}).encode())
    files["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
    for name, data in list(files.items()):
        if callable(data):
            files[name] = data(files)
    write_outer(path, files, raw_members)


def write_outer(path, files, raw_members=b""):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            t.addfile(info, io.BytesIO(files[name]))
        t.fileobj.write(raw_members)
        t.offset += len(raw_members)


def docker_archive(path, layers=(GOOD_LAYER,), encode=lambda raw: raw, mutate=lambda files, docs: None):
    """Docker's format (docker save before 25, podman save): manifest.json
    naming a config and layer members ID/layer.tar, plain tar unless encode
    says otherwise."""
    files, docs = {}, {}
    diff_ids, names = [], []
    for entries in layers:
        raw = entries if isinstance(entries, bytes) else tar_bytes(entries)
        blob = encode(raw)
        diff_ids.append(sha(raw))
        names.append(sha(blob)[7:] + "/layer.tar")
        files[names[-1]] = blob
        files[names[-1][:-9] + "VERSION"] = b"1.0"
    docs["config"] = {"architecture": "amd64", "os": "linux", "config": {"User": "65532:65532"},
                      "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    mutate(files, docs)
    config = json.dumps(docs["config"]).encode()
    files[sha(config)[7:] + ".json"] = config
    files["manifest.json"] = json.dumps([{"Config": sha(config)[7:] + ".json", "RepoTags": ["hostile:latest"],
                                          "Layers": names}]).encode()
    write_outer(path, files)


def run(cmd, env=None, timeout=120):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout,
                           env=dict(os.environ, **(env or {})))
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired:
        return None, "", f"killed after {timeout} s"


def expect(what, cmd, message, status=1, env=None, timeout=120):
    global failures
    code, out, errs = run(cmd, env, timeout)
    ok = code == status and message in errs + out
    failures += not ok
    print(f"{'ok' if ok else 'FAIL'}: {what}" + ("" if ok else f": exit {code}, {errs.strip()[:300]}"))


def expect_lines(what, cmd, present=(), absent=(), status=0, env=None, seconds=None):
    """The command ends with `status` (within `seconds`), its output holding
    each line that matches a `present` (prefix, suffix) and none matching an
    `absent` one."""
    global failures
    start = time.monotonic()
    code, out, errs = run(cmd, env, timeout=max(60, 3 * (seconds or 0)))
    took = time.monotonic() - start
    lines = (out + errs).splitlines()
    match = lambda p: any(line.strip().startswith(p[0]) and line.strip().endswith(p[1]) for line in lines)  # noqa: E731
    bad = [f"exit {code}"] if code != status else []
    bad += [f"no line {p[0]!r}...{p[1]!r}" for p in present if not match(p)]
    bad += [f"a line {p[0]!r}...{p[1]!r}" for p in absent if match(p)]
    if seconds and took > seconds:
        bad.append(f"{took:.1f} s, more than {seconds}")
    failures += bool(bad)
    print(f"{'ok' if not bad else 'FAIL'}: {what}" + ("" if not bad else f": {'; '.join(bad)}: {errs.strip()[:300]}"))


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

# An ELF file with the text of dash: `check` says it is a shell.
DASH = b"\x7fELF" + b"\0" * 60 + b"Usage: getopts optstring var [arg...]\n"
BIN = [("bin/", "d", None, 0o755), ("sbin/", "d", None, 0o755)]


def both_formats(a, name, layers):
    """The same layers as an OCI archive and in docker's format: paths."""
    archive(a(name + ".tar"), layers)
    docker_archive(a(name + "-docker.tar"), layers)
    return [(a(name + ".tar"), "oci"), (a(name + "-docker.tar"), "docker")]


def test_hardlinks(a):
    """A hardlink is the inode it named when it was applied: its own header
    mode means nothing, and what later becomes of the name it named (a
    whiteout in a later layer, another entry of the name later in its own
    layer) does not change it. umoci unpacks both as a setuid dash."""
    setuid_dash = [("bin/dash", "f", DASH, 0o4755), ("sbin/tool", "h", "bin/dash", 0o644)]
    cases = {
        "its target whited out by a later layer": [GOOD_LAYER + BIN + setuid_dash, [("bin/.wh.dash", "f", b"", 0o644)]],
        "its target written again later in its layer": [GOOD_LAYER + BIN + setuid_dash + [
            ("bin/dash", "f", b"#!/bin/true\n", 0o755)]],
        "its target's directory made opaque by a later layer": [GOOD_LAYER + BIN + setuid_dash, [
            ("bin/.wh..wh..opq", "f", b"", 0o644), ("bin/true", "f", b"x", 0o755)]],
        "a hardlink to a hardlink": [GOOD_LAYER + BIN + setuid_dash + [("sbin/tool2", "h", "sbin/tool", 0o600)], [
            ("bin/.wh.dash", "f", b"", 0o644), ("sbin/.wh.tool", "f", b"", 0o644)]],
    }
    for i, (what, layers) in enumerate(cases.items()):
        tool = "/sbin/tool2" if "to a hardlink" in what else "/sbin/tool"
        for path, fmt in both_formats(a, f"hardlink-{i}", layers):
            expect_lines(f"check ({fmt}): a setuid shell reached by a hardlink, {what}", [DISTILL, "check", path],
                         present=[(f"{tool} (the program is dash)", ""), (f"{tool} is setuid (4755)", "")],
                         absent=[("/bin/dash ", "")] if "later layer" in what else [], status=1)
            expect_lines(f"inspect ({fmt}): what a runtime unpacks, {what}", [DISTILL, "inspect", path],
                         present=[("-rwsr-xr-x 0:0", f" {len(DASH)} {tool}")])
    # the name it links to must be there, in its layer or below, before it
    missing = {
        "no such name": [GOOD_LAYER + BIN + [("bin/tool", "h", "bin/nothing", 0o755)]],
        "a name written after the link": [GOOD_LAYER + BIN + [("bin/tool", "h", "bin/dash", 0o755),
                                                               ("bin/dash", "f", DASH, 0o4755)]],
        "a name a lower layer whited out": [GOOD_LAYER + BIN + [("bin/dash", "f", DASH, 0o4755)],
                                             [("bin/.wh.dash", "f", b"", 0o644)],
                                             [("bin/tool", "h", "bin/dash", 0o755)]],
    }
    for i, (what, layers) in enumerate(missing.items()):
        for path, fmt in both_formats(a, f"hardlink-missing-{i}", layers):
            expect(f"inspect ({fmt}): a hardlink to {what}", [DISTILL, "inspect", path],
                   "hardlink `/bin/tool` names `/bin/dash`, which is not in the image".replace(
                       "/bin/dash", "/bin/nothing" if what == "no such name" else "/bin/dash"))
    archive(a("hardlink-dir.tar"), [GOOD_LAYER + BIN + [("bin/tool", "h", "bin", 0o755)]])
    expect("a hardlink to a directory", [DISTILL, "inspect", a("hardlink-dir.tar")],
           "layer 1: hardlink `/bin/tool` names the directory `/bin`")
    # its bytes are read where they are, under the name it linked to, by
    # can-start (the entrypoint's interpreter line) and ca-bundle
    script = GOOD_LAYER + BIN + [("bin/run", "f", b"#!/bin/nosuchshell\n", 0o755), ("sbin/tool", "h", "bin/run", 0o644),
                                 ("etc/ssl/", "d", None, 0o755), ("etc/ssl/certs/", "d", None, 0o755),
                                 ("etc/ssl/certs/b.pem", "f", b"not a certificate\n", 0o644),
                                 ("etc/ssl/certs/ca-certificates.crt", "h", "etc/ssl/certs/b.pem", 0o644)]
    gone = [("bin/.wh.run", "f", b"", 0o644), ("etc/ssl/certs/.wh.b.pem", "f", b"", 0o644)]

    def entrypoint(files, docs):
        docs["config"]["config"]["Entrypoint"] = ["/sbin/tool"]

    archive(a("hardlink-bytes.tar"), [script, gone], mutate=entrypoint)
    docker_archive(a("hardlink-bytes-docker.tar"), [script, gone], mutate=entrypoint)
    for fmt, path in (("oci", a("hardlink-bytes.tar")), ("docker", a("hardlink-bytes-docker.tar"))):
        expect_lines(f"check ({fmt}): a hardlink's bytes, its target whited out", [DISTILL, "check", path],
                     present=[("the interpreter `/bin/nosuchshell` of the script `/sbin/tool`", ""),
                              ("`/etc/ssl/certs/ca-certificates.crt`:1: text outside a PEM block", "")], status=1)


def test_whiteouts(a):
    """A whiteout hides what lower layers wrote, never an entry of its own
    layer, before or after it in the tar (OCI image spec; umoci keeps it)."""
    lower = GOOD_LAYER + [("srv/", "d", None, 0o755), ("srv/old", "f", b"old", 0o644), ("opt/", "d", None, 0o755),
                          ("opt/keep", "f", b"k", 0o644)]
    upper = [("etc/x", "f", b"x", 0o644), ("etc/.wh.x", "f", b"", 0o644),
             ("srv/new", "f", b"n", 0o644), ("srv/.wh..wh..opq", "f", b"", 0o644), ("srv/later", "f", b"l", 0o644),
             ("opt/.wh.keep", "f", b"", 0o644), ("opt/keep", "f", b"again", 0o644),
             ("etc/.wh.passwd", "f", b"", 0o644)]
    for path, fmt in both_formats(a, "whiteout-own-layer", [lower, upper]):
        expect_lines(f"inspect ({fmt}): whiteouts and opaque directories spare their own layer",
                     [DISTILL, "inspect", path],
                     present=[("-rw-r--r-- 0:0", " 1 /etc/x"), ("-rw-r--r-- 0:0", " 1 /srv/new"),
                              ("-rw-r--r-- 0:0", " 1 /srv/later"), ("-rw-r--r-- 0:0", " 5 /opt/keep")],
                     absent=[("", " /srv/old"), ("", " /etc/passwd")])


OCI_TAR = "application/vnd.oci.image.layer.v1.tar"


def nested(outer, inner):
    return lambda raw: outer(inner(raw))


def test_filters(a):
    """A layer is one tar under the one compression its media type names:
    no other filter is guessed, none stacks on another (a 70 KB archive of
    nested filters decoded to 20 TB), and the archive itself is a plain tar."""
    gz = CODECS["gzip"][1]
    xz = lambda raw: lzma.compress(raw, format=lzma.FORMAT_XZ)  # noqa: E731
    cases = [
        ("gzip", nested(gz, gz), "layer 1 is compressed twice (gzip inside gzip)"),
        ("gzip", nested(gz, xz), "layer 1 is compressed twice (xz inside gzip)"),
        ("gzip", nested(gz, bz2.compress), "layer 1 is compressed twice (bzip2 inside gzip)"),
        ("none", xz, f"layer 1 is compressed with xz, but its media type {OCI_TAR} says a plain tar"),
        ("none", gz, f"layer 1 is compressed with gzip, but its media type {OCI_TAR} says"),
        ("gzip", lambda raw: raw, f"layer 1 is not compressed, but its media type {OCI_TAR}+gzip says gzip"),
        ("gzip", xz, f"layer 1 is compressed with xz, but its media type {OCI_TAR}+gzip says gzip"),
    ]
    if shutil.which("zstd"):
        cases += [("zstd", nested(zstd, zstd), "layer 1 is compressed twice (zstd inside zstd)"),
                  ("zstd", nested(zstd, gz), "layer 1 is compressed twice (gzip inside zstd)"),
                  ("zstd", gz, f"layer 1 is compressed with gzip, but its media type {OCI_TAR}+zstd says zstd")]
    for i, (media, encode, message) in enumerate(cases):
        archive(a(f"filter-{i}.tar"), compress=media, encode=encode)
        expect(f"a {media} layer: {message[8:]}", [DISTILL, "inspect", a(f"filter-{i}.tar")], message)
    docker_archive(a("filter-docker-xz.tar"), encode=xz)
    expect("docker's format: an xz layer", [DISTILL, "inspect", a("filter-docker-xz.tar")],
           "is compressed with xz: a layer of docker's format is a plain or a gzip tar")
    docker_archive(a("filter-docker-gzgz.tar"), encode=nested(gz, gz))
    expect("docker's format: a gzip layer in gzip", [DISTILL, "inspect", a("filter-docker-gzgz.tar")],
           "layer 1 is compressed twice (gzip inside gzip)")
    docker_archive(a("filter-docker-gzip.tar"), encode=gz)
    expect_lines("docker's format: a gzip layer, as docker load takes it",
                 [DISTILL, "inspect", a("filter-docker-gzip.tar")],
                 present=[("-rw-r--r-- 0:0", " /etc/passwd")])
    archive(a("outer.tar"))
    with open(a("outer.tar"), "rb") as f, open(a("outer.tar.gz"), "wb") as g:
        g.write(gzip.compress(f.read()))
    expect("an image archive compressed as a whole", [DISTILL, "inspect", a("outer.tar.gz")],
           "the archive is compressed with gzip: distill reads an image archive as the plain tar")


def test_bounds(a):
    """Bytes a layer and an image uncompress to are bounded (16 GiB, 64 GiB;
    set lower here), and the manifest's sizes are the blobs'."""
    big = [("big", "f", b"\0" * (2 << 20), 0o644)]
    archive(a("bound-layer.tar"), [GOOD_LAYER, big])
    expect("a layer over DISTILL_MAX_LAYER_BYTES", [DISTILL, "inspect", a("bound-layer.tar")],
           "layer 2 uncompresses to more than 1 MiB, the bound per layer (DISTILL_MAX_LAYER_BYTES)",
           env={"DISTILL_MAX_LAYER_BYTES": "1M"})
    half = [("half", "f", b"\0" * (700 << 10), 0o644)]
    archive(a("bound-image.tar"), [half, half])
    expect("layers over DISTILL_MAX_IMAGE_BYTES", [DISTILL, "inspect", a("bound-image.tar")],
           "the layers uncompress to more than 1 MiB (at layer 2), the bound per image (DISTILL_MAX_IMAGE_BYTES)",
           env={"DISTILL_MAX_IMAGE_BYTES": "1048576"})
    expect_lines("both bounds above what the layers hold", [DISTILL, "inspect", a("bound-image.tar")],
                 present=[("-rw-r--r-- 0:0", " /half")],
                 env={"DISTILL_MAX_IMAGE_BYTES": "2M", "DISTILL_MAX_LAYER_BYTES": "1M"})
    expect("a bound that is no size", [DISTILL, "inspect", a("bound-image.tar")],
           'DISTILL_MAX_LAYER_BYTES="-5" is not a size', env={"DISTILL_MAX_LAYER_BYTES": "-5"})

    def layer_size(files, docs):
        docs["manifest"]["layers"][0]["size"] += 1

    archive(a("size-layer.tar"), mutate=layer_size)
    expect("a layer descriptor's size that is not the blob's", [DISTILL, "inspect", a("size-layer.tar")],
           "but its descriptor gives the size")

    def no_size(files, docs):
        del docs["manifest"]["layers"][0]["size"]

    archive(a("size-none.tar"), mutate=no_size)
    expect("a layer descriptor without a size", [DISTILL, "inspect", a("size-none.tar")],
           "but its descriptor gives the size null")

    def config_size(files, docs):
        docs["config_size"] = 1

    archive(a("size-config.tar"), mutate=config_size)
    expect("a config descriptor's size that is not the blob's", [DISTILL, "inspect", a("size-config.tar")],
           "the config sha256:")

    def media_type(files, docs):
        docs["manifest"]["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+bzip2"

    archive(a("media-type.tar"), mutate=media_type)
    expect("a layer media type of no tar layer", [DISTILL, "inspect", a("media-type.tar")],
           'layer 1 has the media type "application/vnd.oci.image.layer.v1.tar+bzip2", not one of a tar layer')

    def diff_id_number(files, docs):
        docs["config"]["rootfs"]["diff_ids"][0] = 12345

    archive(a("diffid-number.tar"), mutate=diff_id_number)
    expect("a diff_id that is no string", [DISTILL, "inspect", a("diffid-number.tar")],
           "the config's diff_id 1 is not a string: layer 1 cannot be verified")


class Zeros(io.RawIOBase):
    """`n` zero bytes, read in pieces, never held whole."""

    def __init__(self, n):
        self.left = n

    def readable(self):
        return True

    def readinto(self, b):
        k = min(len(b), self.left)
        b[:k] = bytes(k)
        self.left -= k
        return k


def zstd_bomb(size):
    """A zstd layer whose tar holds one file of `size` zeros: a few KB that
    uncompress to gigabytes."""
    p = subprocess.Popen(["zstd", "-q", "-c", "-1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out = []
    reader = threading.Thread(target=lambda: out.append(p.stdout.read()))
    reader.start()
    with tarfile.open(fileobj=p.stdin, mode="w|", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo("zeros")
        info.size = size
        t.addfile(info, Zeros(size))
    p.stdin.close()
    reader.join()
    p.wait()
    return out[0]


def test_ratio(a):
    """Past its first GiB a layer may uncompress to at most 4096 times the
    bytes read for it: a zstd layer of zeros far below the size bounds is
    refused as soon as it passes that, not after hashing gigabytes."""
    if not shutil.which("zstd"):
        print("SKIP ratio: zstd is not installed (.ci/run installs it)")
        return
    blob = zstd_bomb(3 << 30)
    archive(a("ratio.tar"), compress="zstd", encode=lambda raw: blob)
    start = time.monotonic()
    expect(f"a zstd layer of 3 GiB of zeros in {len(blob)} bytes", [DISTILL, "inspect", a("ratio.tar")],
           "layer 1 uncompresses to more than 4096 times its size past the first GiB")
    print(f"    refused after {time.monotonic() - start:.1f} s")


def test_sparse(a):
    """Sparse entries are refused: a few bytes of map stand for terabytes of
    zeros (a 10 KB archive had 15 TB hashed), and a hole at the end was no
    bytes at all (the empty digest)."""
    for kind in ("gnu", "pax-0.0", "pax-0.1", "pax-1.0"):
        for data, realsize, what in ((b"x" * 512, 1 << 40, "a 1 TiB hole"), (b"y" * 100, 4096, "a hole at the end"),
                                     (b"", 1 << 20, "nothing but a hole")):
            name = f"sparse-{kind}-{len(data)}.tar"
            archive(a(name), [GOOD_LAYER + [("raw", "raw", sparse_entry("etc/sparse", data, realsize, kind), 0)]],
                    compress=False)
            expect(f"a sparse file ({kind}, {what})", [DISTILL, "inspect", a(name)],
                   "layer 1: `/etc/sparse` is a sparse file", timeout=30)
    archive(a("sparse-member.tar"),
            raw_members=sparse_entry("blobs/sha256/" + "0" * 64, b"z" * 512, 1 << 40, "pax-1.0"))
    expect("a sparse member of the archive", [DISTILL, "inspect", a("sparse-member.tar")],
           "member `blobs/sha256/" + "0" * 64 + "` is a sparse file", timeout=30)


def many_files(n, prefix="d"):
    dirs = [(f"{prefix}{i}/", "d", None, 0o755) for i in range(n // 100)]
    return dirs + [(f"{prefix}{i // 100}/f{i}", "f", b"", 0o644) for i in range(n)]


def test_merge_cost(a):
    """A layer that writes again or whites out each of 40,000 files is applied
    in about linear time (it took 18 s): removing a name or a subtree costs
    O(log n) and what it removes."""
    n = 40000
    lower = many_files(n)
    cases = {
        "writes each again": lower[n // 100:],
        "whites out each": [(f"d{i // 100}/.wh.f{i}", "f", b"", 0o644) for i in range(n)],
        "whites out each directory": [(f"d{i}/.wh..wh..opq", "f", b"", 0o644) for i in range(n // 100)]
                                     + [(f".wh.d{i}", "f", b"", 0o644) for i in range(n // 100)],
        "writes and then whites out each, in its own layer": lower[n // 100:]
                                     + [(f"d{i // 100}/.wh.f{i}", "f", b"", 0o644) for i in range(n)],
    }
    for i, (what, upper) in enumerate(cases.items()):
        archive(a(f"merge-{i}.tar"), [fast_tar(lower), fast_tar(upper)], encode=fast_gzip)
        keep = "own layer" in what or "writes each again" == what
        expect_lines(f"a layer that {what} (40,000 files)", [DISTILL, "inspect", a(f"merge-{i}.tar")],
                     present=[("-rw-r--r-- 0:0", " 0 /d399/f39999")] if keep else [],
                     absent=[] if keep else [("", " /d399/f39999")], seconds=5)


def long_names(n, length):
    return [(("n%06d" % i).ljust(length, "x"), "f", b"", 0o644) for i in range(n)]


def test_names(a):
    """Names are at most PATH_MAX, and all of them at most 64 MiB (50,000
    names of 8 KB took 818 MB of memory)."""
    archive(a("name-long.tar"), [GOOD_LAYER + long_names(1, 8192)])
    expect("a name of 8 KiB", [DISTILL, "inspect", a("name-long.tar")],
           "layer 1: an entry's name is 8192 bytes long (`n000000xxx")
    archive(a("name-4096.tar"), [GOOD_LAYER + [("etc/" + "y" * 4091, "f", b"", 0o644)]])
    expect("a name of 4096 bytes, its '/' counted", [DISTILL, "inspect", a("name-4096.tar")],
           "is 4096 bytes long")
    archive(a("name-4095.tar"), [GOOD_LAYER + [("etc/" + "y" * 4090, "f", b"", 0o644)]])
    expect_lines("a name of 4095 bytes", [DISTILL, "inspect", a("name-4095.tar")],
                 present=[("-rw-r--r-- 0:0", "y" * 100)])
    archive(a("target-long.tar"), [GOOD_LAYER + [("etc/l", "l", "z" * 5000, 0o777)]])
    expect("a symlink target of 5000 bytes", [DISTILL, "inspect", a("target-long.tar")],
           "layer 1: a symlink's target is 5000 bytes long")
    archive(a("hardlink-long.tar"), [GOOD_LAYER + [("etc/l", "h", "z" * 5000, 0o644)]])
    expect("a hardlink target of 5000 bytes", [DISTILL, "inspect", a("hardlink-long.tar")],
           "layer 1: a hardlink's target is 5000 bytes long")
    # 17,000 names of 4 KB: 68 MB of names, each within PATH_MAX
    archive(a("names-total.tar"), [fast_tar(long_names(17000, 4000))], encode=fast_gzip)
    expect("names adding up to more than 64 MiB", [DISTILL, "inspect", a("names-total.tar")],
           "the names and link targets of the entries add up to more than 64 MiB", timeout=60)


def main():
    keep = os.environ.get("HOSTILE_KEEP")
    if keep:
        os.makedirs(keep, exist_ok=True)
    work = keep or tempfile.mkdtemp(prefix="distill-hostile.")
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
    test_hardlinks(a)
    test_whiteouts(a)
    test_filters(a)
    test_bounds(a)
    test_ratio(a)
    test_sparse(a)
    test_merge_cost(a)
    test_names(a)

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
    if not keep:
        subprocess.run(["rm", "-rf", work])
    print("PASS" if failures == 0 else f"FAIL: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
