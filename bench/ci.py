#!/usr/bin/env python3
"""distill as CI runs it, against a cold build in the same run.

Clang's closure by default (a recipe of bench/run.py), each round once each:

  cold         an empty cache
  restored     a fresh clone of the project (copied: new inodes, new
               mtimes) with the application changed, and the cache of an
               earlier build restored as a CI cache restores it: its
               layers/ and content/ (keys/ is the machine's own memo by
               file identity, of no use on another runner)
  workstation  the same tree with the application changed and its own
               cache warm (bench/run.py's "distill warm")

and against a cold build that also pushes (--push to a new repository of
Debian's docker-registry on 127.0.0.1, whose layer cache an earlier build
filled with --cache-to):

  cold+push    an empty cache
  registry     a fresh clone with the application changed, a local cache
               holding only its content/ (its records and its notes of the
               claims it checked: a few KB, no blob), --cache-from the
               registry's cache and --push to the same registry: each
               layer's blob fetched from there for the archive (its claim
               known), and mounted, not sent
  registry-first  the same with an empty local cache: a runner that never
               checked the registry's claims downloads each layer it uses
               and decompresses it here, once (README: why; no target)

Prints and writes to bench/results/<name>.md the median wall times, the
ratios (targets: restored <= 0.25 of cold, registry <= 0.3 of cold+push)
and where the restored build's time went (build --timings).

  bench/ci.py [--runs N] [--workload clang|curl|python3|static] [--name NAME] [--distill PATH]
"""
import argparse
import datetime
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import push as pushbench  # noqa: E402  (the registry)
import run as bench  # noqa: E402  (the recipes, measure(), the CPU model)

# what each is measured against, and at most how much of it
TARGETS = {"restored": ("cold", 0.25), "registry": ("cold+push", 0.3)}
BASE = {"cold": "cold", "restored": "cold", "workstation": "cold", "cold+push": "cold+push",
        "registry": "cold+push", "registry-first": "cold+push"}


def clone(src, dst):
    """A fresh clone: the same files, new inodes, new mtimes."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, copy_function=shutil.copy)


def restore(cache, dst, parts=("layers", "content")):
    """The cache as a CI cache restores it: layers/ and content/."""
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst, mode=0o700)
    for part in parts:
        shutil.copytree(os.path.join(cache, part), os.path.join(dst, part), copy_function=shutil.copy)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workload", default="clang")
    ap.add_argument("--name", default="ci")
    ap.add_argument("--distill", default=os.path.join(bench.ROOT, "build", "distill"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="distill-ci-bench.")
    try:
        project = os.path.join(work, "project")
        os.makedirs(project)
        recipe = bench.recipe_for(args.workload, project)
        env = dict(os.environ, XDG_CACHE_HOME=os.path.join(work, "xdg"))
        out = os.path.join(work, "out.tar")
        seed, warm = os.path.join(work, "seed"), os.path.join(work, "warm")
        reg = pushbench.Registry(os.path.join(work, "registry"))
        reg.start()
        host = f"127.0.0.1:{reg.port}"
        tls = "--tls-verify=false"
        bench.sh([args.distill, "build", recipe, "-o", out, "--cache", seed, "-q", "--cache-to",
                  f"docker://{host}/bench/cache:main", tls], env=env)
        bench.sh([args.distill, "build", recipe, "-o", out, "--cache", warm, "-q"], env=env)
        samples = {kind: [] for kind in BASE}
        parts = {}
        try:
            for i in range(args.runs):
                rounds(args, work, recipe, project, env, out, seed, warm, host, i, samples, parts)
        finally:
            reg.stop()
        write(args, samples, parts)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def rounds(args, work, recipe, project, env, out, seed, warm, host, i, samples, parts):
    """One round: each kind of build once."""
    tls = "--tls-verify=false"
    cold = os.path.join(work, f"cold-{i}")
    shutil.rmtree(cold, ignore_errors=True)
    os.sync()
    wall, _, _ = bench.measure([args.distill, "build", recipe, "-o", out, "--cache", cold, "-q"], env=env)
    samples["cold"].append(wall)

    fresh, restored = os.path.join(work, f"clone-{i}"), os.path.join(work, f"restored-{i}")
    clone(project, fresh)
    bench.touch_app(os.path.join(fresh, "app"))()
    restore(seed, restored)
    os.sync()
    wall, _, split = bench.measure([args.distill, "build", os.path.join(fresh, "recipe.yaml"), "-o", out,
                                    "--cache", restored, "-q", "--timings"], env=env)
    samples["restored"].append(wall)
    for part, seconds in split.items():
        parts.setdefault(part, []).append(seconds)

    os.sync()
    wall, _, _ = bench.measure([args.distill, "build", recipe, "-o", out, "--cache", warm, "-q"], env=env,
                               before=bench.touch_app(os.path.join(project, "app")))
    samples["workstation"].append(wall)

    cold = os.path.join(work, f"cold-push-{i}")
    os.sync()
    wall, _, _ = bench.measure([args.distill, "build", recipe, "-o", out, "--cache", cold, "-q", "--push",
                                f"docker://{host}/bench/cold-{i}:1", tls], env=env)
    samples["cold+push"].append(wall)
    for kind, keep in (("registry", ("content",)), ("registry-first", ())):
        fresh, local = os.path.join(work, f"{kind}-clone-{i}"), os.path.join(work, f"{kind}-cache-{i}")
        clone(project, fresh)
        bench.touch_app(os.path.join(fresh, "app"))()
        restore(seed, local, keep)
        os.sync()
        wall, _, _ = bench.measure([args.distill, "build", os.path.join(fresh, "recipe.yaml"), "-o", out,
                                    "--cache", local, "-q", "--cache-from", f"docker://{host}/bench/cache:main",
                                    "--push", f"docker://{host}/bench/{kind}-{i}:1", tls],
                                   env=env)
        samples[kind].append(wall)


def write(args, samples, parts):
    med = {k: statistics.median(v) for k, v in samples.items()}
    lines = [f"# distill CI bench: {args.name}", "",
             f"{datetime.date.today().isoformat()}; {os.cpu_count()} CPUs ({bench.cpu_model()}); {args.workload}'s closure; "
             f"median of {args.runs} run(s).", "",
             "| build | median s | of | ratio | at most | met |", "|---|---:|---|---:|---:|---|"]
    for kind in samples:
        ratio = med[kind] / med[BASE[kind]]
        most = TARGETS[kind][1] if kind in TARGETS else None
        lines.append(f"| {kind} | {med[kind]:.3f} | {BASE[kind]} | {ratio:.3f} | {f'{most:.2f}' if most else ''} | "
                     f"{('yes' if ratio <= most else 'NO') if most else ''} |")
    lines += ["", "Where the restored build's time went (build --timings, medians):", ""]
    lines += [f"- {part}: {statistics.median(v):.3f} s" for part, v in sorted(parts.items())
              if statistics.median(v) >= 0.005]
    text = "\n".join(lines) + "\n"
    print(text)
    path = os.path.join(bench.ROOT, "bench", "results", f"{args.name}.md")
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
