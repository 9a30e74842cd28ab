#!/usr/bin/env python3
"""distill diff names the cause: images built here differing in one thing
each (a file's content, a mode, the epoch, an environment entry, an owner,
a link target, a file added), the same layers compressed at another level
by skopeo, and archives rewritten here so that only the tar order or the tar
headers differ; hostile names. Identical archives exit 0, different ones 1,
trouble (a file that is not an image, even compared with itself) 2."""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

DISTILL = os.environ["DISTILL"]
failures = 0
work = tempfile.mkdtemp(prefix="distill-diff.")

RECIPE = """name: distill-test/diff
ca-certificates: false
contents:
  directories:
    - {{source: tree, path: /srv}}
  symlinks:
    - {{path: /srv/link, target: {target}}}
paths:
  - {{path: /var/lib/app, type: directory, uid: {uid}, gid: {uid}, mode: 0700}}
environment: {{GREETING: {greeting}}}
"""


def make_tree(root):
    os.makedirs(f"{root}/sub")
    with open(f"{root}/a", "w") as f:
        f.write("hello\n")
    with open(f"{root}/b", "w") as f:
        f.write("b\n")
    os.chmod(f"{root}/b", 0o644)
    # enough text that compression levels give different bytes
    with open(f"{root}/sub/words", "w") as f:
        for i in range(40000):
            f.write(f"{i * 7919 % 10007} {'abcdefghij'[i % 10] * (i % 13)}\n")


def build(name, change=None, epoch=1700000000, target="a", uid=65532, greeting="hello"):
    """Build the base recipe with one change; return the archive's path."""
    d = os.path.join(work, name)
    make_tree(f"{d}/tree")
    if change:
        change(f"{d}/tree")
    with open(f"{d}/recipe.yaml", "w") as f:
        f.write(RECIPE.format(target=target, uid=uid, greeting=greeting))
    out = f"{d}/image.tar"
    subprocess.run([DISTILL, "build", f"{d}/recipe.yaml", "-o", out, "--source-date-epoch", str(epoch)], check=True)
    return out


def diff(a, b, *extra):
    r = subprocess.run([DISTILL, "diff", a, b, *extra], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def expect(what, a, b, status, present=(), absent=()):
    """distill diff A B exits with `status`, its output holds every line
    starting with one of `present` and none starting with one of `absent`."""
    global failures
    code, out, err = diff(a, b)
    lines = out.splitlines()
    problems = []
    if code != status:
        problems.append(f"exit {code}, not {status}")
    for p in present:
        if not any(line.startswith(p) for line in lines):
            problems.append(f"no line starting `{p}`")
    for p in absent:
        hit = [line for line in lines if line.startswith(p)]
        if hit:
            problems.append(f"unexpected `{hit[0]}`")
    failures += bool(problems)
    print(f"{'ok' if not problems else 'FAIL'}: {what}" + ("" if not problems else ": " + "; ".join(problems)))
    if problems:
        print("  " + (out + err).replace("\n", "\n  "))
    return out


# ---- archives rewritten by hand ------------------------------------------

def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def read_archive(path):
    with tarfile.open(path) as t:
        return [(m.name, t.extractfile(m).read() if m.isfile() else None, m) for m in t.getmembers()]


def write_archive(path, members):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data, info in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)


def rewrite_last_layer(src, dst, rewrite):
    """Copy the image at `src` to `dst` with its last layer's tar rewritten by
    rewrite(list of (TarInfo, bytes)) -> tar bytes; digests and sizes follow."""
    members = read_archive(src)
    blobs = {name: data for name, data, _ in members}
    index = json.loads(blobs["index.json"])
    mdesc = index["manifests"][0]
    manifest = json.loads(blobs["blobs/sha256/" + mdesc["digest"][7:]])
    config = json.loads(blobs["blobs/sha256/" + manifest["config"]["digest"][7:]])
    layer = manifest["layers"][-1]
    old = {"blobs/sha256/" + d[7:] for d in (mdesc["digest"], layer["digest"], manifest["config"]["digest"])}
    raw = gzip.decompress(blobs["blobs/sha256/" + layer["digest"][7:]])
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        entries = [(m, t.extractfile(m).read() if m.isfile() else None) for m in t.getmembers()]
    new_raw = rewrite(entries)
    new_blob = gzip.compress(new_raw, mtime=0)
    layer.update(digest=sha(new_blob), size=len(new_blob))
    config["rootfs"]["diff_ids"][-1] = sha(new_raw)
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    manifest["config"].update(digest=sha(config_bytes), size=len(config_bytes))
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    mdesc.update(digest=sha(manifest_bytes), size=len(manifest_bytes))
    new = {
        "blobs/sha256/" + sha(new_blob)[7:]: new_blob,
        "blobs/sha256/" + sha(config_bytes)[7:]: config_bytes,
        "blobs/sha256/" + sha(manifest_bytes)[7:]: manifest_bytes,
        "index.json": json.dumps(index).encode(),
    }
    # manifest.json (the Docker view) goes: index.json alone describes the result
    out = [m for m in members if m[0] not in old and m[0] not in new and m[0] != "manifest.json"]
    for name, data in new.items():
        info = tarfile.TarInfo(name)
        info.size = len(data)
        out.append((name, data, info))
    write_archive(dst, out)


def tar_of(entries, fmt, order=lambda e: e):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for info, data in order(entries):
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


NAME = "docker.io/distill-test/diff:latest"


def skopeo_level(src, dst, level):
    """skopeo keeps compressed blobs as they are, even with --dest-decompress
    into an OCI archive: decompress into a dir: copy, then compress from it."""
    plain = dst + ".dir"
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-decompress", f"oci-archive:{src}", f"dir:{plain}"],
                   check=True)
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-compress", "--dest-compress-format", "gzip",
                    "--dest-compress-level", str(level), f"dir:{plain}", f"oci-archive:{dst}:{NAME}"],
                   check=True)
    shutil.rmtree(plain)


def hostile_names():
    """Names that are not UTF-8 are compared and shown like any other, and
    a name cannot forge a line or send a terminal escape; two equal files
    that are not images are not "identical"."""
    global failures
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import hostile
    base = [("etc/", "d", None, 0o755), ("etc/passwd", "f", b"root:x:0:0::/root:/sbin/nologin\n", 0o644),
            ("usr/", "d", None, 0o755), ("usr/bin/", "d", None, 0o755)]
    odd = "usr/bin/caf\udce9"  # the byte 0xe9 alone: not UTF-8
    forged = "usr/bin/x\nfile /usr/bin/ok: identical"
    escape = "usr/bin/\x1b]0;pwned\x07\x1b[2J"
    a, b = os.path.join(work, "names-a.tar"), os.path.join(work, "names-b.tar")
    hostile.archive(a, [base + [(odd, "f", b"v1", 0o755), (forged, "f", b"1", 0o644), (escape, "f", b"1", 0o644)]])
    hostile.archive(b, [base + [(odd, "f", b"v2", 0o755), (forged, "f", b"2", 0o644), (escape, "f", b"2", 0o644)]])
    r = subprocess.run([DISTILL, "diff", a, b], capture_output=True)
    out = r.stdout.decode("utf-8", "replace")
    lines = out.splitlines()
    problems = []
    if r.returncode != 1:
        problems.append(f"exit {r.returncode}")
    if not any(line.startswith("file /usr/bin/caf\\xe9: content: 2 bytes") for line in lines):
        problems.append("no line for /usr/bin/caf\\xe9")
    if any("other tar headers" in line for line in lines):
        problems.append("blames the tar headers")
    if b"\x1b" in r.stdout + r.stderr:
        problems.append("an escape sequence from a name is printed")
    if any(line.startswith("file /usr/bin/ok") for line in lines):
        problems.append("a name forged a line")
    if not any(line.startswith("file /usr/bin/x\\nfile /usr/bin/ok: identical: content") for line in lines):
        problems.append("the name with a newline is not escaped")
    if not any(line.startswith("file /usr/bin/\\x1b]0;pwned\\x07\\x1b[2J: content") for line in lines):
        problems.append("the name with escapes is not escaped")
    r = subprocess.run([DISTILL, "diff", "--json", a, b], capture_output=True, text=True)
    try:
        where = {d["where"] for d in json.loads(r.stdout)["differences"] if d["kind"] == "file"}
    except ValueError:
        where = set()
    want = {"/usr/bin/caf\\xe9", "/" + forged, "/" + escape}
    if where != want:
        problems.append(f"--json names {sorted(where)}, not {sorted(want)}")
    failures += bool(problems)
    print(f"{'ok' if not problems else 'FAIL'}: names not UTF-8, with newlines or escapes" +
          ("" if not problems else ": " + "; ".join(problems) + "\n  " + out.replace("\n", "\n  ")))

    # two equal files, neither an image: trouble, not "identical"
    for x, y in (("/dev/null", "/dev/null"), (a, "/dev/null")):
        r = subprocess.run([DISTILL, "diff", x, y], capture_output=True, text=True)
        ok = r.returncode == 2 and "/dev/null" in r.stderr and "identical" not in r.stdout
        failures += not ok
        print(f"{'ok' if ok else 'FAIL'}: diff {os.path.basename(x)} {y} exits 2 (exit {r.returncode}: "
              f"{(r.stdout + r.stderr).strip()})")
    empty = os.path.join(work, "empty.tar")
    open(empty, "w").close()
    r = subprocess.run([DISTILL, "diff", "--json", empty, empty], capture_output=True, text=True)
    ok = r.returncode == 2 and r.stdout == ""
    failures += not ok
    print(f"{'ok' if ok else 'FAIL'}: diff --json of an empty file with itself exits 2 (exit {r.returncode})")


def main():
    global failures
    hostile_names()
    if shutil.which("skopeo") is None:
        print("SKIP: skopeo is not installed (.ci/run installs it)")
        return 77
    base = build("base")
    again = build("again")

    code, out, _ = diff(base, again)
    ok = code == 0 and out.startswith("identical: sha256:")
    failures += not ok
    print(f"{'ok' if ok else 'FAIL'}: the same recipe built twice is identical (exit {code})")
    code, out, _ = diff(base, again, "--json")
    doc = json.loads(out)
    ok = code == 0 and doc["identical"] is True and doc["differences"] == [] and doc["a"] == doc["b"]
    failures += not ok
    print(f"{'ok' if ok else 'FAIL'}: --json says identical")

    def new_content(t):
        with open(f"{t}/a", "w") as f:
            f.write("hello, world\n")
    changed = build("content", change=new_content)
    out = expect("a changed file", base, changed, 1, present=["file /srv/a: content: 6 bytes sha256:",
                                                              "layer 2: content sha256:"],
           absent=["file /srv/a: mode", "file /srv/b", "config", "archive"])
    # a file of no package comes under its directory
    lines = out.splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith("file /srv/a: content")), 0)
    ok = at > 0 and lines[at - 1] == "files in /srv (1):"
    failures += not ok
    print(f"{'ok' if ok else 'FAIL'}: a changed file comes under its directory's heading"
          + ("" if ok else ": " + repr(lines[max(at - 1, 0):at + 1])))
    code, out, _ = diff(base, changed, "--json")
    doc = json.loads(out)
    ok = code == 1 and doc["identical"] is False and any(
        d["kind"] == "file" and d["where"] == "/srv/a" and d["what"].startswith("content: 6 bytes sha256:")
        for d in doc["differences"])
    failures += not ok
    print(f"{'ok' if ok else 'FAIL'}: --json names /srv/a's content")

    expect("a changed mode", base, build("mode", change=lambda t: os.chmod(f"{t}/b", 0o755)), 1,
           present=["file /srv/b: mode 0644 -> 0755"], absent=["file /srv/b: content", "file /srv/a", "config"])
    epoch = build("epoch", epoch=1700000001)
    out = expect("a changed epoch", base, epoch, 1, present=["file /etc and ", "config created: "],
                 absent=["file /srv/a: content", "file /srv/a: mode", "file /srv/a: mtime"])
    # every file's mtime moved: one line in the text, every file in --json
    grouped = [line for line in out.splitlines() if line.endswith(": mtime 1700000000 -> 1700000001")]
    code, out, _ = diff(base, epoch, "--json")
    moved = [d["where"] for d in json.loads(out)["differences"] if d["what"] == "mtime 1700000000 -> 1700000001"]
    ok = (len(grouped) == 1 and grouped[0].startswith(f"file /etc and {len(moved) - 1} more:")
          and "/srv/a" in moved and "/srv/sub/words" in moved and len(moved) > 10)
    failures += not ok
    print(f"{'ok' if ok else 'FAIL'}: the epoch's {len(moved)} mtimes are one line of text and each in --json")
    expect("a changed environment entry", base, build("env", greeting="bye"), 1,
           present=['config config.Env: removed "GREETING=hello"', 'config config.Env: added "GREETING=bye"'],
           absent=["file", "layer"])
    expect("a changed owner", base, build("owner", uid=10001), 1,
           present=["file /var/lib/app: owner 65532:65532 -> 10001:10001"], absent=["file /srv"])
    expect("a changed link target", base, build("target", target="b"), 1,
           present=["file /srv/link: link target a -> b"], absent=["file /srv/a", "file /srv/b"])

    def add_file(t):
        with open(f"{t}/c", "w") as f:
            f.write("c\n")
    added = build("added", change=add_file)
    expect("an added file", base, added, 1, present=["file /srv/c: added"], absent=["file /srv/a", "file /srv/b"])
    expect("a removed file", added, base, 1, present=["file /srv/c: removed"])

    # The same layers, compressed by skopeo (Go's compress/gzip) at two levels.
    fast, best = os.path.join(work, "level1.tar"), os.path.join(work, "level9.tar")
    skopeo_level(base, fast, 1)
    skopeo_level(base, best, 9)
    expect("a changed compression level", fast, best, 1,
           present=["layer 1: the same content compressed differently",
                    "layer 2: the same content compressed differently"],
           absent=["file", "config", "layer 1: content", "layer 2: content"])
    expect("another compressor", base, best, 1, present=["layer 2: the same content compressed differently"],
           absent=["file", "config", "layer 2: content"])

    # The same files in another order inside the layer tar, or with other headers.
    reordered = os.path.join(work, "reordered.tar")
    rewrite_last_layer(base, reordered, lambda e: tar_of(e, tarfile.PAX_FORMAT, order=lambda x: list(reversed(x))))
    expect("the same files in another tar order", base, reordered, 1,
           present=["layer 2: the entries are in another order (from entry 1: "], absent=["file"])
    gnu = os.path.join(work, "gnu.tar")
    rewrite_last_layer(base, gnu, lambda e: tar_of(e, tarfile.GNU_FORMAT))
    expect("the same files with other tar headers", base, gnu, 1,
           present=["layer 2: the same entries in the same order, with other tar headers"], absent=["file"])

    # The same blobs, the outer archive's members in another order.
    members = read_archive(base)
    shuffled = os.path.join(work, "shuffled.tar")
    write_archive(shuffled, list(reversed(members)))
    expect("the same image in another archive order", base, shuffled, 1,
           present=["archive "], absent=["file", "config", "layer"])

    # Trouble is not an answer: exit 2, naming the file.
    code, _, err = diff(base, os.path.join(work, "absent.tar"))
    ok = code == 2 and "absent.tar" in err
    failures += not ok
    print(f"{'ok' if ok else 'FAIL'}: a missing archive exits 2 and is named (exit {code}: {err.strip()})")
    with open(os.path.join(work, "junk.tar"), "wb") as f:
        f.write(b"not an archive\n" * 100)
    code, _, err = diff(base, os.path.join(work, "junk.tar"))
    ok = code == 2 and "junk.tar" in err
    failures += not ok
    print(f"{'ok' if ok else 'FAIL'}: an unreadable archive exits 2 and is named (exit {code}: {err.strip()})")

    shutil.rmtree(work)
    print("PASS" if failures == 0 else f"FAIL: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
