#!/usr/bin/env python3
"""distill push against skopeo copy, to the same local registry, in the same run.

An image built by distill (clang's closure by default: the recipe of
bench/run.py) is pushed to Debian's docker-registry on 127.0.0.1 (plain
HTTP, storage in a temporary directory):

  cold      to a registry started empty for each run
  re-push   after only the application changed: the first image is in the
            repository, the second is pushed over it (one layer and the
            config are new)

by `distill push ARCHIVE docker://...` and by `skopeo copy
oci-archive:ARCHIVE docker://...`, round by round, each tool once a round.
Prints and writes to bench/results/<name>.md the median wall times, the
ratios (targets: cold <= 0.7, re-push <= 0.1 of skopeo's) and the bytes
distill sent.

Each round also measures the registry's own floor for the re-push: the
requests any client must make, sent from this (already running) process
on kept-alive connections, each blob on its own (GET /v2/, a HEAD of every
blob, POST and PUT of each one missing, the manifest PUT), with no
process to start and no archive to read.  No client can re-push faster
than that.

  bench/push.py [--runs N] [--workload clang|curl|python3|static] [--name NAME] [--distill PATH]
"""
import argparse
import concurrent.futures
import datetime
import hashlib
import http.client
import json
import tarfile
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (the recipes, the CPU model)

TARGETS = {"cold": 0.7, "re-push": 0.1}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """docker-registry on 127.0.0.1 with its storage in `root`."""

    def __init__(self, root):
        self.root, self.proc, self.port = root, None, None

    def start(self):
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.root)
        self.port = free_port()
        config = os.path.join(self.root, "config.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {self.root}/data\n"
                    f"http:\n  addr: 127.0.0.1:{self.port}\n")
        self.proc = subprocess.Popen(["docker-registry", "serve", config], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v2/", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("bench: docker-registry did not start")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None


def push_cmd(tool, distill, archive, ref):
    if tool == "distill":
        return [distill, "push", archive, "docker://" + ref, "--tls-verify=false", "-v"]
    return ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "oci-archive:" + archive, "docker://" + ref]


def archive_blobs(path):
    """The image an archive's index.json names: its manifest's bytes and
    media type, and every blob it names (config, layers), digest to bytes."""
    with tarfile.open(path) as t:
        def member(digest):
            return t.extractfile("blobs/sha256/" + digest[7:]).read()
        top = json.load(t.extractfile("index.json"))["manifests"][0]
        manifest = member(top["digest"])
        m = json.loads(manifest)
        blobs = {d["digest"]: member(d["digest"]) for d in [m["config"]] + m["layers"]}
    return manifest, top["mediaType"], blobs


def floor_push(port, repo, archive):
    """The re-push as the registry's minimum: see the module's docstring."""
    manifest, media_type, blobs = archive_blobs(archive)

    def request(conn, method, path, body=None, headers=None):
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        r.read()
        return r

    def one(digest):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        if request(conn, "HEAD", f"/v2/{repo}/blobs/{digest}").status == 200:
            return
        r = request(conn, "POST", f"/v2/{repo}/blobs/uploads/")
        location = r.getheader("Location")
        sep = "&" if "?" in location else "?"
        r = request(conn, "PUT", f"{location}{sep}digest={digest}", blobs[digest],
                    {"Content-Type": "application/octet-stream"})
        if r.status != 201:
            raise SystemExit(f"bench: floor: PUT {digest}: {r.status}")

    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    request(conn, "GET", "/v2/")
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(one, blobs))
    r = request(conn, "PUT", f"/v2/{repo}/manifests/1", manifest, {"Content-Type": media_type})
    if r.status != 201:
        raise SystemExit(f"bench: floor: PUT the manifest: {r.status}")
    return time.monotonic() - start


def timed(cmd):
    start = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - start
    if r.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)}: {r.stderr.strip()}")
    sent = re.search(r"; (\d+) bytes sent", r.stderr)
    return wall, int(sent.group(1)) if sent else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workload", default="clang")
    ap.add_argument("--name", default="push")
    ap.add_argument("--distill", default=os.path.join(bench.ROOT, "build", "distill"))
    args = ap.parse_args()
    missing = [t for t in ("docker-registry", "skopeo", "gcc") if not shutil.which(t)]
    if missing:
        raise SystemExit("bench: missing " + ", ".join(missing) + " (apt-get install -y docker-registry skopeo gcc)")
    work = tempfile.mkdtemp(prefix="distill-push-bench.")
    try:
        recipe = bench.recipe_for(args.workload, work)
        env = dict(os.environ, XDG_CACHE_HOME=os.path.join(work, "xdg"))
        a, b = os.path.join(work, "a.tar"), os.path.join(work, "b.tar")
        subprocess.run([args.distill, "build", recipe, "-o", a, "-q"], env=env, check=True)
        bench.touch_app(os.path.join(work, "app"))()
        subprocess.run([args.distill, "build", recipe, "-o", b, "-q"], env=env, check=True)
        reg = Registry(os.path.join(work, "registry"))
        times = {(tool, kind): [] for tool in ("distill", "skopeo") for kind in TARGETS}
        sent = {kind: [] for kind in TARGETS}
        floor = []
        try:
            for i in range(args.runs):
                for tool in ("distill", "skopeo", "floor"):
                    reg.start()
                    repo = f"bench/{args.workload}"
                    ref = f"127.0.0.1:{reg.port}/{repo}:1"
                    wall, n = timed(push_cmd("distill" if tool == "floor" else tool, args.distill, a, ref))
                    if tool == "floor":
                        floor.append(floor_push(reg.port, repo, b))
                        reg.stop()
                        continue
                    times[(tool, "cold")].append(wall)
                    if n is not None:
                        sent["cold"].append(n)
                    wall, n = timed(push_cmd(tool, args.distill, b, ref))
                    times[(tool, "re-push")].append(wall)
                    if n is not None:
                        sent["re-push"].append(n)
                    reg.stop()
        finally:
            reg.stop()
        write(args, times, sent, floor, os.path.getsize(a))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write(args, times, sent, floor, archive_bytes):
    cpu = bench.cpu_model()
    med = {k: statistics.median(v) for k, v in times.items()}
    lines = [f"# distill push bench: {args.name}", "",
             f"{datetime.date.today().isoformat()}; {os.cpu_count()} CPUs ({cpu}); {args.workload}'s image, "
             f"{archive_bytes / 1e6:.1f} MB archive; docker-registry on 127.0.0.1 (plain HTTP); "
             f"median of {args.runs} run(s).", "",
             "| push | distill s | skopeo copy s | ratio | at most | met | distill sent, MB |",
             "|---|---:|---:|---:|---:|---|---:|"]
    for kind, most in TARGETS.items():
        ratio = med[("distill", kind)] / med[("skopeo", kind)]
        mb = statistics.median(sent[kind]) / 1e6 if sent[kind] else float("nan")
        lines.append(f"| {kind} | {med[('distill', kind)]:.3f} | {med[('skopeo', kind)]:.3f} | {ratio:.3f} | "
                     f"{most:.2f} | {'yes' if ratio <= most else 'NO'} | {mb:.2f} |")
    low = statistics.median(floor)
    lines += ["", f"The registry's floor for the re-push (the module's docstring): {low:.3f} s, "
              f"{low / med[('skopeo', 're-push')]:.3f} of skopeo's; distill's re-push is "
              f"{med[('distill', 're-push')] - low:.3f} s above it."]
    text = "\n".join(lines) + "\n"
    print(text)
    out = os.path.join(bench.ROOT, "bench", "results", f"{args.name}.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
