#!/usr/bin/env python3
"""distill against its peers, measured in the same run on the same files.

Workloads: a static hello; curl's closure; python3 with its standard
library as a `directories` entry; clang's closure. For each, the files of
distill's own image (extracted once) are what every peer packs:

  distill cold      an empty cache each run
  distill warm      a warm cache, the application binary changed before each run
  distill zstd      --compression zstd, an empty cache each run
  tar | gzip -n -6  the tree, one thread
  tar | pigz -6     the tree, every CPU
  buildah           from scratch, copy the tree, commit to oci-archive with compression
  umoci insert      the tree inserted as a new layer of an empty image

The runs go round by round, each peer once a round, so that a slow spell
of a shared machine falls on every peer alike. Prints a table of median
wall time over the runs, the ratio to distill
cold, the output size and the peak RSS (of the whole process tree), and
writes it to bench/results/<name>.md with a PNG bar chart (gnuplot). The
distill runs say where their time went (build --timings): the medians of
each part are in the results, beside the targets of clang's closure and
the CPU model they were measured on (its SHA and AVX extensions: the
hashing costs several times more without SHA-NI).

  bench/run.py [--runs N] [--workloads a,b] [--name NAME] [--distill PATH]
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS = ["static", "curl", "python3", "clang"]
PEERS = ["distill cold", "distill warm", "distill zstd", "tar | gzip -n -6", "tar | pigz -6", "buildah",
         "umoci insert", "credential scan"]


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, **kw)


TARGETS = [  # issue 14, on clang's closure: (what, ratio of, to, at most)
    ("cold / buildah", "distill cold", "buildah", 0.45),
    ("warm / cold", "distill warm", "distill cold", 0.08),
    ("zstd / buildah", "distill zstd", "buildah", 0.25),
]
RSS_TARGET_MIB = 64


def measure(cmd, env=None, before=None, seconds_from=None):
    """Wall time, peak RSS (KiB) and the parts of distill's --timings of one
    run of cmd and everything it waits for. GNU time reports the RSS: a
    child forked from this Python process would count Python's own pages
    until it execs."""
    if before:
        before()
    if isinstance(cmd, str):
        cmd = ["bash", "-c", "set -o pipefail; " + cmd]
    start = time.monotonic()
    r = subprocess.run(["/usr/bin/time", "-f", "maxrss %M"] + cmd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - start
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr[-2000:]}")
    if seconds_from:
        # the command times the part that counts itself (scan-tree: its rules)
        m = re.search(seconds_from, r.stderr)
        wall = float(m.group(1))
    parts = {m.group(1): float(m.group(2)) for m in re.finditer(r"^timing (\S+) +([0-9.]+) s", r.stderr, re.M)}
    cpu = re.search(r"^timing total .* cpu +([0-9.]+) s", r.stderr, re.M)
    if cpu:
        parts["cpu"] = float(cpu.group(1))
    return wall, int(r.stderr.strip().splitlines()[-1].split()[1]), parts


def recipe_for(name, work):
    """The recipe of a workload; its application binary is a copy in work/
    so that the warm runs can change it."""
    app = os.path.join(work, "app")
    if name == "static":
        with open(os.path.join(work, "hello.c"), "w") as f:
            f.write('#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n')
        sh(["gcc", "-static", "-O2", "-o", app, os.path.join(work, "hello.c")])
        body = "  binaries:\n    - {source: app, path: /usr/local/bin/hello}\n"
    elif name == "curl":
        shutil.copy2("/usr/bin/curl", app)
        body = "  binaries:\n    - {source: app, path: /usr/bin/curl}\n"
    elif name == "python3":
        shutil.copy2(os.path.realpath("/usr/bin/python3"), app)
        body = ("  binaries:\n    - {source: app, path: /usr/bin/python3}\n"
                "  directories:\n    - {source: /usr/lib/python3.11, path: /usr/lib/python3.11,"
                " exclude: [__pycache__]}\n")
    elif name == "clang":
        shutil.copy2("/usr/lib/llvm-14/bin/clang", app)
        body = "  binaries:\n    - {source: app, path: /usr/lib/llvm-14/bin/clang}\n"
    else:
        raise SystemExit(f"unknown workload {name}")
    path = os.path.join(work, "recipe.yaml")
    with open(path, "w") as f:
        f.write(f"name: bench/{name}\nca-certificates: false\ncontents:\n{body}")
    return path


def extract_tree(image, dest):
    """The files of an image, its layers applied in order."""
    os.makedirs(dest)
    with tarfile.open(image) as t:
        index = json.load(t.extractfile("index.json"))
        manifest = json.load(t.extractfile("blobs/sha256/" + index["manifests"][0]["digest"][7:]))
        for layer in manifest["layers"]:
            blob = t.extractfile("blobs/sha256/" + layer["digest"][7:])
            with tarfile.open(fileobj=blob, mode="r|*") as lt:
                lt.extractall(dest, numeric_owner=True)


def touch_app(path):
    """Change the application binary: one more byte at its end (still ELF)."""
    def change():
        with open(path, "ab") as f:
            f.write(b"\0")
    return change


def run_workload(name, distill, runs, work):
    wdir = os.path.join(work, name)
    os.makedirs(wdir)
    recipe = recipe_for(name, wdir)
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(wdir, "xdg"))
    out = os.path.join(wdir, "out")
    os.makedirs(out)
    sh([distill, "build", recipe, "-o", os.path.join(wdir, "plain.tar"), "--compression", "none", "--no-cache", "-q"])
    tree = os.path.join(wdir, "tree")
    extract_tree(os.path.join(wdir, "plain.tar"), tree)
    buildah_store = os.path.join(wdir, "buildah")
    buildah = (f"buildah --storage-driver vfs --root {buildah_store}/root --runroot {buildah_store}/run")
    layout = os.path.join(wdir, "umoci")

    def fresh_cache(i):
        return os.path.join(wdir, f"cache-{i}")

    warm_cache = os.path.join(wdir, "warm-cache")
    sh([distill, "build", recipe, "-o", os.path.join(out, "warmup.tar"), "--cache", warm_cache, "-q"])

    def umoci_prepare():
        shutil.rmtree(layout, ignore_errors=True)
        sh(["umoci", "init", "--layout", layout])
        sh(["umoci", "new", "--image", f"{layout}:bench"])

    def buildah_prepare():
        subprocess.run(f"{buildah} rm -a", shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    commands = {
        "distill cold": lambda i: ([distill, "build", recipe, "-o", os.path.join(out, "cold.tar"), "--cache",
                                    fresh_cache(i), "-q", "--timings"], None),
        "distill warm": lambda i: ([distill, "build", recipe, "-o", os.path.join(out, "warm.tar"), "--cache",
                                    warm_cache, "-q", "--timings"], touch_app(os.path.join(wdir, "app"))),
        "distill zstd": lambda i: ([distill, "build", recipe, "-o", os.path.join(out, "zstd.tar"), "--compression",
                                    "zstd", "--cache", fresh_cache(i) + "z", "-q", "--timings"], None),
        "tar | gzip -n -6": lambda i: (f"tar -C {tree} --sort=name --numeric-owner -cf - . | gzip -n -6 "
                                       f"> {out}/gzip.tar.gz", None),
        "tar | pigz -6": lambda i: (f"tar -C {tree} --sort=name --numeric-owner -cf - . | pigz -6 "
                                    f"> {out}/pigz.tar.gz", None),
        "buildah": lambda i: (f"c=$({buildah} from scratch) && {buildah} copy $c {tree}/ / >/dev/null && "
                              f"{buildah} commit -q --disable-compression=false --format oci $c "
                              f"oci-archive:{out}/buildah.tar >/dev/null && {buildah} rm $c >/dev/null",
                              buildah_prepare),
        "umoci insert": lambda i: (["umoci", "insert", "--image", f"{layout}:bench", tree, "/"], umoci_prepare),
        # the credential rules alone over the same files: the share of a
        # cold build that the scan inside it costs (its ratio column)
        "credential scan": lambda i: ([os.path.join(os.path.dirname(distill), "scan-tree"), tree], None),
    }
    outputs = {"distill cold": "cold.tar", "distill warm": "warm.tar", "distill zstd": "zstd.tar",
               "tar | gzip -n -6": "gzip.tar.gz", "tar | pigz -6": "pigz.tar.gz", "buildah": "buildah.tar"}
    rows = {}
    samples = {peer: {"times": [], "rss": [], "parts": {}} for peer in PEERS}
    # Round by round, each peer once a round: a slow spell of this shared
    # machine falls on every peer alike, not on one peer's runs.
    for i in range(runs):
        for peer in PEERS:
            cmd, before = commands[peer](i)
            shutil.rmtree(fresh_cache(i), ignore_errors=True)
            shutil.rmtree(fresh_cache(i) + "z", ignore_errors=True)
            # what the preparation and the previous run wrote is on disk
            # before the next is timed: no tool pays for another's writeback
            os.sync()
            wall, kib, split = measure(cmd, env=env, before=before,
                                       seconds_from=r"([0-9.]+) s in the rules" if peer == "credential scan" else None)
            samples[peer]["times"].append(wall)
            samples[peer]["rss"].append(kib)
            for part, seconds in split.items():
                samples[peer]["parts"].setdefault(part, []).append(seconds)
    for peer in PEERS:
        times, rss, parts = samples[peer]["times"], samples[peer]["rss"], samples[peer]["parts"]
        if peer == "credential scan":
            size = 0
        elif peer == "umoci insert":
            size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(os.path.join(layout, "blobs"))
                       for f in fs)
        else:
            size = os.path.getsize(os.path.join(out, outputs[peer]))
        rows[peer] = {"median": statistics.median(times), "runs": times, "size": size, "rss": max(rss),
                      "parts": {part: statistics.median(v) for part, v in parts.items()}}
        print(f"  {name:8} {peer:18} {rows[peer]['median']:7.3f} s  {size / 1e6:8.2f} MB  {max(rss) / 1024:7.1f} MiB",
              flush=True)
    tree_bytes = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(tree) for f in fs
                     if not os.path.islink(os.path.join(dp, f)))
    return {"rows": rows, "tree_bytes": tree_bytes}


def cpu_model():
    """The CPU's model name and the extensions the hashing and compression
    use (SHA-NI: sha256 several times faster; AVX2, AVX-512)."""
    cpu, flags = "", set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and not cpu:
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    have = [name for flag, name in (("sha_ni", "SHA-NI"), ("avx2", "AVX2"), ("avx512f", "AVX-512")) if flag in flags]
    return f"{cpu or 'unknown CPU'} ({', '.join(have) if have else 'no SHA-NI, no AVX2'})"


def machine():
    cpu = cpu_model()
    versions = {}
    for tool, cmd in [("distill", None), ("buildah", "buildah --version"), ("umoci", "umoci --version"),
                      ("pigz", "pigz --version"), ("gzip", "gzip --version")]:
        if cmd:
            r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
            versions[tool] = (r.stdout or r.stderr).splitlines()[0] if (r.stdout or r.stderr) else "?"
    return {"cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "versions": versions}


def target_lines(results, cpu):
    """The targets of issue 14, measured on clang's closure when it ran,
    beside the CPU model."""
    if "clang" not in results:
        return []
    rows = results["clang"]["rows"]
    lines = [f"## Targets (clang's closure) on {cpu}", "",
             "| target | measured | at most | met |", "|---|---:|---:|---|"]
    for what, a, b, most in TARGETS:
        ratio = rows[a]["median"] / rows[b]["median"]
        lines.append(f"| {what} | {ratio:.3f} | {most:.2f} | {'yes' if ratio <= most else 'NO'} |")
    rss = max(rows[p]["rss"] for p in ("distill cold", "distill warm", "distill zstd")) / 1024
    lines.append(f"| peak RSS, MiB | {rss:.1f} | {RSS_TARGET_MIB} | {'yes' if rss <= RSS_TARGET_MIB else 'NO'} |")
    for peer in ("distill cold", "distill zstd"):
        size, theirs = rows[peer]["size"] / 1e6, rows["buildah"]["size"] / 1e6
        lines.append(f"| {peer} output, MB (buildah's) | {size:.2f} | {theirs:.2f} | {'yes' if size <= theirs else 'NO'} |")
    return lines + [""]


def split_lines(rows):
    """Where distill's time went: the median of each part of --timings."""
    peers = [p for p in ("distill cold", "distill warm", "distill zstd") if rows[p]["parts"]]
    if not peers:
        return []
    parts = []
    for p in peers:
        parts += [k for k in rows[p]["parts"] if k not in parts and k not in ("total", "cpu")]
    lines = ["Where distill's time goes (`build --timings`, median seconds of each thread's time in each part: "
             "the parts overlap on several threads; zstd compresses on libzstd's own threads, seen only in cpu):", "",
             "| part | " + " | ".join(p.replace("distill ", "") for p in peers) + " |",
             "|---|" + "---:|" * len(peers)]
    for k in parts + ["total", "cpu"]:
        cells = [f"{rows[p]['parts'][k]:.3f}" if k in rows[p]["parts"] else "" for p in peers]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return lines + [""]


def write_results(results, info, name, distill_version, runs):
    out_dir = os.path.join(ROOT, "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    md, tsv, png = (os.path.join(out_dir, f"{name}.{ext}") for ext in ("md", "tsv", "png"))
    lines = [f"# distill bench: {name}", "",
             f"{datetime.date.today().isoformat()}; {info['cpus']} CPUs ({info['cpu']}), {info['memory_gib']} GiB, "
             f"Linux {info['kernel']}; median of {runs} run(s) each.", "",
             "Versions: " + "; ".join([distill_version] + list(info["versions"].values())), ""]
    lines += target_lines(results, info["cpu"])
    for w, r in results.items():
        base = r["rows"]["distill cold"]["median"]
        lines += [f"## {w} ({r['tree_bytes'] / 1e6:.1f} MB of files) on {info['cpu']}", "",
                  "| tool | median s | ratio to distill cold | output MB | peak RSS MiB |", "|---|---:|---:|---:|---:|"]
        for peer, row in r["rows"].items():
            lines.append(f"| {peer.replace('|', chr(92) + '|')} | {row['median']:.3f} | {row['median'] / base:.2f} | {row['size'] / 1e6:.2f} | "
                         f"{row['rss'] / 1024:.1f} |")
        lines.append("")
        lines += split_lines(r["rows"])
    print("\n".join(target_lines(results, info["cpu"])))
    with open(md, "w") as f:
        f.write("\n".join(lines))
    with open(tsv, "w") as f:
        f.write("tool\t" + "\t".join(results) + "\n")
        for peer in PEERS:
            f.write(f'"{peer}"\t' + "\t".join(f"{results[w]['rows'][peer]['median']:.4f}" for w in results) + "\n")
    if shutil.which("gnuplot"):
        cols = len(results)
        plot = (f"set terminal pngcairo size 1100,600 font ',10'\nset output '{png}'\n"
                "set style data histogram\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
                "set logscale y\nset ylabel 'median wall time, s (log)'\nset key top left\n"
                f"set title 'distill and peers, {info['cpus']} CPUs'\nset xtics nomirror\n"
                f"plot for [c=2:{cols + 1}] '{tsv}' using c:xtic(1) title columnheader(c)\n")
        subprocess.run(["gnuplot"], input=plot, text=True, check=True)
    print(f"wrote {md}" + (f" and {png}" if shutil.which("gnuplot") else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--name", default="latest")
    ap.add_argument("--distill", default=os.path.join(ROOT, "build", "distill"))
    args = ap.parse_args()
    missing = [t for t in ("buildah", "umoci", "pigz", "gzip", "tar", "gcc", "gnuplot", "/usr/bin/time")
               if not shutil.which(t)]
    if missing:
        print("bench: missing " + ", ".join(missing) + " (apt-get install -y buildah umoci pigz gnuplot-nox time)",
              file=sys.stderr)
        return 77
    if os.geteuid() != 0:
        print("bench: run as root (buildah's vfs storage and umoci keep owners)", file=sys.stderr)
        return 77
    distill = os.path.abspath(args.distill)
    print(f"CPU: {cpu_model()}, {os.cpu_count()} CPUs", flush=True)
    version = subprocess.run([distill, "--version"], capture_output=True, text=True, check=True).stdout
    work = tempfile.mkdtemp(prefix="distill-bench.")
    results = {}
    try:
        for w in args.workloads.split(","):
            print(f"{w}:", flush=True)
            results[w] = run_workload(w, distill, args.runs, work)
    finally:
        subprocess.run(f"buildah --storage-driver vfs --root {work}/*/buildah/root rm -a", shell=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    write_results(results, machine(), args.name, " / ".join(version.split("\n")[:3]), args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
