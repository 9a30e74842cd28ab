#!/usr/bin/env python3
"""distill closure against glibc's own loader.

Fixtures are compiled here with gcc (never checked in). For each one the
loader answers in trace mode (LD_TRACE_LOADED_OBJECTS=1, what ldd and
`ld.so --list` use) on our own fixture, and `distill closure
--json` must give the same set of real files, the same missing names, or an
error where the loader stops with one. Then real programs of this machine
are compared with ldd, and every fixture the loader accepts is built into an
image and run under runc.

Exit 77 (skip) only when a tool is missing; .ci/run installs them all.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

DISTILL = os.environ["DISTILL"]
LDSO = "/lib64/ld-linux-x86-64.so.2"

# The C bodies: every program prints "ok" once its libraries answered.
LIB = "int {f}(void) {{ return {v}; }}\n"
PROG = "#include <stdio.h>\n{decls}\nint main(void) {{ int s = 0; {calls} puts(\"ok\"); return s == -1; }}\n"


def sh(cmd, cwd, check=True):
    r = subprocess.run(["bash", "-ec", cmd], cwd=cwd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{cmd}\n{r.stdout}{r.stderr}")
    return r


def lib(d, path, func, needs=(), flags=""):
    """A shared library defining func() that calls the functions of `needs`."""
    src = f"{d}/{func}.c"
    body = "".join(f"int {n}(void);\n" for n, _ in needs)
    body += f"int {func}(void) {{ return 1{''.join(' + ' + n + '()' for n, _ in needs)}; }}\n"
    with open(src, "w") as f:
        f.write(body)
    libs = " ".join(p for _, p in needs)
    soname = os.path.basename(path)
    sh(f"mkdir -p {os.path.dirname(path)} && gcc -shared -fPIC -o {path} {src} {libs} "
       f"-Wl,-soname,{soname} {flags}", d)


def prog(d, path, funcs, libs, flags="", compiler="gcc"):
    src = f"{d}/{os.path.basename(path)}.c"
    with open(src, "w") as f:
        f.write(PROG.format(decls="".join(f"int {n}(void);" for n in funcs),
                            calls="".join(f"s += {n}();" for n in funcs)))
    sh(f"mkdir -p {os.path.dirname(path)} && {compiler} -o {path} {src} {' '.join(libs)} {flags}", d)


OLD = "-Wl,--disable-new-dtags"  # DT_RPATH
NEW = "-Wl,--enable-new-dtags"   # DT_RUNPATH


def rpath(dirs, new):
    return f"-Wl,-rpath,'{':'.join(dirs)}' {NEW if new else OLD}"


# ---- fixtures: each builds into d and returns the program's path ----------

def fx_rpath_chain(d):
    """exe (RPATH a:b) -> liba -> libb: libb found through exe's RPATH."""
    lib(d, f"{d}/b/libb.so", "fb")
    lib(d, f"{d}/a/liba.so", "fa", [("fb", f"{d}/b/libb.so")])
    prog(d, f"{d}/exe", ["fa"], [f"{d}/a/liba.so", f"-Wl,-rpath-link,{d}/b"], rpath([f"{d}/a", f"{d}/b"], False))
    return f"{d}/exe"


def fx_runpath_not_inherited(d):
    """exe (RUNPATH a:b) -> liba -> libb: RUNPATH is not inherited, libb is missing."""
    lib(d, f"{d}/b/libb.so", "fb")
    lib(d, f"{d}/a/liba.so", "fa", [("fb", f"{d}/b/libb.so")])
    prog(d, f"{d}/exe", ["fa"], [f"{d}/a/liba.so", f"-Wl,-rpath-link,{d}/b"], rpath([f"{d}/a", f"{d}/b"], True))
    return f"{d}/exe"


def fx_runpath_disables_rpath(d):
    """exe (RPATH a:b) -> liba (RUNPATH nowhere) -> libb: the requester's RUNPATH turns the RPATH chain off."""
    lib(d, f"{d}/b/libb.so", "fb")
    lib(d, f"{d}/a/liba.so", "fa", [("fb", f"{d}/b/libb.so")], rpath([f"{d}/nowhere"], True))
    prog(d, f"{d}/exe", ["fa"], [f"{d}/a/liba.so", f"-Wl,-rpath-link,{d}/b"], rpath([f"{d}/a", f"{d}/b"], False))
    return f"{d}/exe"


def fx_rpath_past_runpath(d):
    """exe (RPATH a:c) -> liba (RUNPATH x) -> libx -> liby (in c): libx has no RUNPATH, so the RPATH chain
    runs up past liba (whose RUNPATH gives no RPATH) to the program."""
    lib(d, f"{d}/c/liby.so", "fy")
    lib(d, f"{d}/x/libx.so", "fx", [("fy", f"{d}/c/liby.so")])
    lib(d, f"{d}/a/liba.so", "fa", [("fx", f"{d}/x/libx.so")], rpath([f"{d}/x"], True))
    prog(d, f"{d}/exe", ["fa"], [f"{d}/a/liba.so", f"-Wl,-rpath-link,{d}/x:{d}/c"],
         rpath([f"{d}/a", f"{d}/c"], False))
    return f"{d}/exe"


def fx_origin_symlinked_dir(d):
    """app/bin/exe (RUNPATH $ORIGIN/../lib), app/lib -> ../real/lib, liba (RUNPATH $ORIGIN/../deps):
    $ORIGIN of liba keeps the symlink, and .. is resolved by the kernel after it."""
    lib(d, f"{d}/real/deps/libdep.so", "fdep")
    lib(d, f"{d}/real/lib/liba.so", "fa", [("fdep", f"{d}/real/deps/libdep.so")], "-Wl,-rpath,'$ORIGIN/../deps' " + NEW)
    sh("mkdir -p app && ln -s ../real/lib app/lib", d)
    prog(d, f"{d}/app/bin/exe", ["fa"], [f"{d}/real/lib/liba.so", f"-Wl,-rpath-link,{d}/real/deps"],
         "-Wl,-rpath,'$ORIGIN/../lib' " + NEW)
    return f"{d}/app/bin/exe"


def fx_lib_platform(d):
    """RUNPATH with $LIB and ${PLATFORM}: libp is in the directory of every value $PLATFORM takes on
    x86-64 (x86_64; haswell and xeon_phi on Intel), so that every CPU finds it; distill has all three."""
    lib(d, f"{d}/lib/x86_64-linux-gnu/liba.so", "fa")
    for platform in ("haswell", "xeon_phi"):
        lib(d, f"{d}/{platform}/libp.so", "fp")
    lib(d, f"{d}/x86_64/libp.so", "fp")
    prog(d, f"{d}/exe", ["fa", "fp"], [f"{d}/lib/x86_64-linux-gnu/liba.so", f"{d}/x86_64/libp.so"],
         f"-Wl,-rpath,'{d}/$LIB:{d}/${{PLATFORM}}' " + NEW)
    return f"{d}/exe"


def fx_hwcaps(d):
    """A glibc-hwcaps/x86-64-v2 variant beside the baseline: the CPU picks, both are copied."""
    lib(d, f"{d}/h/libh.so", "fh")
    lib(d, f"{d}/h/glibc-hwcaps/x86-64-v2/libh.so", "fh")
    prog(d, f"{d}/exe", ["fh"], [f"{d}/h/libh.so"], rpath([f"{d}/h"], True))
    return f"{d}/exe"


def fx_slash_needed(d):
    """A DT_NEEDED with a slash (a library without soname linked by path) is opened, not searched."""
    sh(f"mkdir -p s && printf 'int fs(void) {{ return 1; }}\\n' > s.c && gcc -shared -fPIC -o {d}/s/libslash.so s.c", d)
    prog(d, f"{d}/exe", ["fs"], [f"{d}/s/libslash.so"])
    return f"{d}/exe"


def fx_nodeflib(d):
    """-z nodefaultlib: libc comes from the RUNPATH, not the cache or the system directories."""
    lib(d, f"{d}/n/liba.so", "fa")
    sh(f"ln -s /lib/x86_64-linux-gnu/libc.so.6 {d}/n/libc.so.6", d)
    prog(d, f"{d}/exe", ["fa"], [f"{d}/n/liba.so"], rpath([f"{d}/n"], True) + " -Wl,-z,nodefaultlib")
    return f"{d}/exe"


def fx_nodeflib_missing(d):
    """-z nodefaultlib and no libc in the RUNPATH: the cache's answer is under a system directory, so libc is
    missing."""
    lib(d, f"{d}/n/liba.so", "fa")
    prog(d, f"{d}/exe", ["fa"], [f"{d}/n/liba.so"], rpath([f"{d}/n"], True) + " -Wl,-z,nodefaultlib")
    return f"{d}/exe"


def fx_class32_ahead(d):
    """A 32-bit liba ahead in the RPATH is passed by."""
    lib(d, f"{d}/a/liba.so", "fa")
    sh(f"mkdir -p w32 && printf 'int fa(void) {{ return 1; }}\\n' > w.c && "
       f"i686-linux-gnu-gcc -shared -fPIC -Wl,-soname,liba.so -o {d}/w32/liba.so w.c", d)
    prog(d, f"{d}/exe", ["fa"], [f"{d}/a/liba.so"], rpath([f"{d}/w32", f"{d}/a"], False))
    return f"{d}/exe"


def ahead(d, make_bad):
    """liba in `good`, something else under its name in `bad`, ahead in the RPATH."""
    lib(d, f"{d}/good/liba.so", "fa")
    sh("mkdir -p bad && " + make_bad, d)
    prog(d, f"{d}/exe", ["fa"], [f"{d}/good/liba.so"], rpath([f"{d}/bad", f"{d}/good"], False))
    return f"{d}/exe"


def fx_non_elf_ahead(d):
    """A text file under the searched name stops the loader."""
    return ahead(d, "printf 'this is not a library, it is text\\n%.0s' $(seq 10) > bad/liba.so")


def fx_truncated_ahead(d):
    """A truncated library under the searched name stops the loader."""
    return ahead(d, "gcc -shared -fPIC -o full.so -x c - <<<'int fa(void) { return 1; }' && head -c 100 full.so > bad/liba.so")


def fx_directory_ahead(d):
    """A directory under the searched name stops the loader."""
    return ahead(d, "mkdir bad/liba.so")


def fx_osabi_ahead(d):
    """An ELF object for another OS ABI (FreeBSD) stops the loader."""
    return ahead(d, "cp good/liba.so bad/liba.so && printf '\\011' | dd of=bad/liba.so bs=1 seek=7 conv=notrunc status=none")


def fx_self_loop_ahead(d):
    """A symlink to itself ahead: the loader gives up that RPATH and finds nothing later."""
    return ahead(d, "ln -s liba.so bad/liba.so")


def fx_two_step_loop_ahead(d):
    """Two symlinks pointing at each other ahead: as for a self loop."""
    return ahead(d, "ln -s x bad/liba.so && ln -s liba.so bad/x")


def fx_empty_element(d):
    """An empty RUNPATH element is the process's working directory: both run from d/here."""
    lib(d, f"{d}/here/libe.so", "fe")
    prog(d, f"{d}/exe", ["fe"], [f"{d}/here/libe.so"], "-Wl,-rpath,:/nonexistent " + NEW)
    return f"{d}/exe", f"{d}/here"


def fx_static(d):
    prog(d, f"{d}/exe", [], [], "-static")
    return f"{d}/exe"


def fx_static_pie(d):
    prog(d, f"{d}/exe", [], [], "-static-pie")
    return f"{d}/exe"


def fx_pie(d):
    lib(d, f"{d}/a/liba.so", "fa")
    prog(d, f"{d}/exe", ["fa"], [f"{d}/a/liba.so"], "-pie -fPIE " + rpath([f"{d}/a"], True))
    return f"{d}/exe"


def fx_non_pie(d):
    lib(d, f"{d}/a/liba.so", "fa")
    prog(d, f"{d}/exe", ["fa"], [f"{d}/a/liba.so"], "-no-pie -fno-PIE " + rpath([f"{d}/a"], True))
    return f"{d}/exe"


FIXTURES = [
    fx_rpath_chain, fx_runpath_not_inherited, fx_runpath_disables_rpath, fx_rpath_past_runpath,
    fx_origin_symlinked_dir, fx_lib_platform, fx_hwcaps, fx_slash_needed, fx_nodeflib, fx_nodeflib_missing,
    fx_class32_ahead, fx_non_elf_ahead, fx_truncated_ahead, fx_directory_ahead, fx_osabi_ahead,
    fx_self_loop_ahead, fx_two_step_loop_ahead, fx_empty_element, fx_static, fx_static_pie, fx_pie, fx_non_pie,
]

# ---- the two answers -----------------------------------------------------

LINE_FOUND = re.compile(r"^\t(\S+) => (/\S+) \(0x[0-9a-f]+\)$")
LINE_MISSING = re.compile(r"^\t(\S+) => not found$")
LINE_INTERP = re.compile(r"^\t(/\S+) \(0x[0-9a-f]+\)$")
# found through a relative directory (an empty element): printed as opened
LINE_RELATIVE = re.compile(r"^\t([^/\s]\S*/?\S*) \(0x[0-9a-f]+\)$")


def loader_answer(exe, cwd):
    """('ok'|'missing'|'error'|'static', set of real paths, set of missing names, message)."""
    # ldd's way: the loader in trace mode lists what is missing and goes on
    env = dict(os.environ, LD_TRACE_LOADED_OBJECTS="1")
    r = subprocess.run([LDSO, exe], capture_output=True, text=True, env=env, cwd=cwd)
    if "not a dynamic executable" in r.stdout + r.stderr or "statically linked" in r.stdout + r.stderr:
        return "static", set(), set(), ""
    if "error while loading shared libraries" in r.stderr:
        return "error", set(), set(), r.stderr.strip()
    found, missing = set(), set()
    # The kernel maps PT_INTERP whatever happens next; trace mode prints it
    # only when some object names it in DT_NEEDED (libc does).
    interp = re.search(r"Requesting program interpreter: (/\S+)\]",
                       subprocess.run(["readelf", "-lW", exe], capture_output=True, text=True).stdout)
    if interp:
        found.add(os.path.realpath(interp.group(1)))
    for line in r.stdout.splitlines():
        m = LINE_FOUND.match(line) or LINE_INTERP.match(line)
        if m:
            found.add(os.path.realpath(m.groups()[-1]))
        elif LINE_MISSING.match(line):
            missing.add(LINE_MISSING.match(line).group(1))
        elif LINE_RELATIVE.match(line) and not line.startswith("\tlinux-vdso"):
            found.add(os.path.realpath(os.path.join(cwd, LINE_RELATIVE.match(line).group(1))))
    return ("missing" if missing else "ok"), found, missing, r.stderr.strip()


def distill_answer(exe, cwd=None):
    r = subprocess.run([DISTILL, "closure", "--json", exe], capture_output=True, text=True, cwd=cwd)
    if not r.stdout.strip():
        return r.returncode, None, set(), set(), r.stderr.strip()
    doc = json.loads(r.stdout)
    objs = [o for o in doc["objects"] if o["how"] != "program"]
    found = {o["real"] for o in objs}
    # a name with hwcaps variants: every copy of it is one the CPU may pick
    varied = {o["name"] for o in objs if o["variant"]}
    variants = {o["real"] for o in objs if o["name"] in varied}
    missing = {re.match(r"(?:library|interpreter) `([^`]+)`", m).group(1) for m in doc["missing"]}
    return r.returncode, found, variants, missing, r.stderr.strip()


def lddtree_answer(exe, loader):
    """What pax-utils' lddtree says, for the README's table; not asserted."""
    if shutil.which("lddtree") is None:
        return "not installed"
    try:
        # Debian's python3, which has pyelftools (another python3 may come first on PATH)
        r = subprocess.run(["/usr/bin/python3", shutil.which("lddtree"), "-l", exe], capture_output=True, text=True,
                           timeout=10)
    except subprocess.TimeoutExpired:
        return "hangs"
    kind, l_found = loader[0], loader[1]
    paths = {os.path.realpath(p) for p in r.stdout.split()[1:] if p.startswith("/")}
    if r.returncode != 0 and not paths:
        return "fails: " + (r.stderr.strip().splitlines() or ["?"])[-1][-60:]
    if kind == "error":
        return f"lists {len(paths)} files, no error"
    lacks, extra = l_found - paths, paths - l_found
    if not lacks and not extra:
        return "same"
    return ", ".join(x for x in [f"lacks {' '.join(sorted(os.path.basename(p) for p in lacks))}" if lacks else "",
                                 f"adds {' '.join(sorted(os.path.basename(p) for p in extra))}" if extra else ""] if x)


def compare(name, loader, ours):
    kind, l_found, l_missing, l_msg = loader
    rc, d_found, variants, d_missing, d_msg = ours
    if kind == "error":
        if rc == 1 and d_found is None and d_msg:
            return True, f"both stop: loader «{l_msg.split(': ', 2)[-1]}», distill «{d_msg.split(': ')[-1]}»"
        return False, f"the loader stops ({l_msg}) but distill answered rc={rc} {d_found}"
    if d_found is None:
        return False, f"distill failed: {d_msg}"
    if kind == "static":
        return (rc == 0 and not d_found), "static: nothing to load" if rc == 0 and not d_found else f"distill: {d_found}"
    extra = d_found - l_found
    if not l_found <= d_found:
        return False, f"distill lacks {sorted(l_found - d_found)}"
    if not extra <= variants:
        return False, f"distill has more than the loader: {sorted(extra - variants)}"
    if kind == "missing":
        ok = rc == 1 and d_missing == l_missing
        return ok, f"both miss {sorted(l_missing)}" if ok else f"loader misses {sorted(l_missing)}, distill {sorted(d_missing)} rc={rc}"
    ok = rc == 0 and not d_missing
    note = f"same {len(l_found)} files" + (f" plus {len(extra)} hwcaps variant(s)" if extra else "")
    return ok, note if ok else f"rc={rc} missing={d_missing}"


# ---- images under runc ---------------------------------------------------

def run_in_image(work, name, exe):
    recipe = f"{work}/{name}.yaml"
    with open(recipe, "w") as f:
        f.write(f"name: distill-fixture/{name.replace('_', '-')}\ntag: t\nca-certificates: false\n"
                f"contents:\n  binaries: [{exe}]\n")
    return run_recipe(work, name, recipe)


def run_recipe(work, name, recipe, extra=()):
    """Build `recipe`, unpack it with umoci and run it under runc: (prints ok, output)."""
    tar, layout, bundle = f"{work}/{name}.tar", f"{work}/{name}.layout", f"{work}/{name}.bundle"
    subprocess.run([DISTILL, "build", recipe, "-o", tar, *extra], check=True, capture_output=True)
    os.mkdir(layout)
    subprocess.run(["tar", "-xf", tar, "-C", layout], check=True)
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:t", bundle], check=True, capture_output=True)
    cfg = json.load(open(f"{bundle}/config.json"))
    cfg["process"]["terminal"] = False
    json.dump(cfg, open(f"{bundle}/config.json", "w"))
    cid = f"distill-fx-{os.getpid()}-{name}".replace("_", "-")
    r = subprocess.run(["runc", "run", cid], cwd=bundle, capture_output=True, text=True, timeout=60)
    subprocess.run(["runc", "delete", "-f", cid], capture_output=True)
    return r.stdout.strip() == "ok", (r.stdout + r.stderr).strip()


# ---- real programs -------------------------------------------------------

REAL = ["/usr/bin/curl", "/usr/bin/python3", "/usr/bin/ssh", "/usr/bin/git", "/usr/bin/gpg", "/usr/bin/perl",
        "/usr/bin/systemctl", "/usr/bin/projinfo", "/usr/bin/sqlite3", "/usr/bin/openssl", "/usr/bin/xz",
        "/usr/bin/jq"]


def ldd_set(exe):
    r = subprocess.run(["ldd", exe], capture_output=True, text=True, check=True)
    out = set()
    for line in r.stdout.splitlines():
        m = LINE_FOUND.match(line) or LINE_INTERP.match(line)
        if m:
            out.add(os.path.realpath(m.groups()[-1]))
    return out


def main():
    for tool in ["gcc", "i686-linux-gnu-gcc", "readelf", "ldd", "umoci", "runc", "tar"]:
        if shutil.which(tool) is None:
            print(f"SKIP: {tool} is not installed (.ci/run installs it)")
            return 77
    if not os.path.exists(LDSO):
        print(f"SKIP: {LDSO} is not this machine's loader")
        return 77
    failures = 0
    agree = 0
    work = tempfile.mkdtemp(prefix="distill-fx.")
    runnable = []
    try:
        print("| fixture | loader | lddtree | distill |")
        print("|---|---|---|---|")
        for fx in FIXTURES:
            name = fx.__name__[3:]
            d = f"{work}/{name}"
            os.mkdir(d)
            exe = fx(d)
            exe, cwd = exe if isinstance(exe, tuple) else (exe, d)
            loader = loader_answer(exe, cwd)
            ok, note = compare(name, loader, distill_answer(exe, cwd))
            agree += ok
            failures += not ok
            print(f"| {name} | {loader[0]} | {lddtree_answer(exe, loader)} | {'agrees' if ok else 'DIFFERS'}: {note} |")
            # (an image's working directory is its own: the empty element
            # fixture is checked against the loader only)
            if ok and loader[0] == "ok" and cwd == d:
                runnable.append((name, exe))
        # a script is refused, not searched
        script = f"{work}/script"
        open(script, "w").write("#!/bin/sh\necho hi\n")
        r = subprocess.run([DISTILL, "closure", script], capture_output=True, text=True)
        if r.returncode == 1 and "a script (#!), not an ELF program" in r.stderr:
            print("| script | not ELF | - | agrees: refused as a script |")
            agree += 1
        else:
            print(f"| script | not ELF | - | DIFFERS: rc={r.returncode} {r.stderr} |")
            failures += 1
        print(f"\nfixtures: distill agrees with the loader on {agree} of {len(FIXTURES) + 1}")

        real_agree, real_total = 0, 0
        for exe in REAL:
            if not os.path.exists(exe):
                print(f"FAIL: {exe} is not installed (.ci/run installs it)")
                failures += 1
                continue
            real_total += 1
            rc, found, variants, missing, msg = distill_answer(exe)
            want = ldd_set(exe)
            if rc == 0 and found == want:
                real_agree += 1
                print(f"real: {exe}: same {len(want)} files as ldd")
            else:
                failures += 1
                print(f"FAIL real: {exe}: ldd-only {sorted(want - (found or set()))} "
                      f"distill-only {sorted((found or set()) - want)} {msg}")
        print(f"real programs: distill agrees with ldd on {real_agree} of {real_total}")

        if os.getuid() != 0:
            print("SKIP: the runc half needs root")
            return 77 if failures == 0 else 1
        for name, exe in runnable:
            ok, out = run_in_image(work, name, exe)
            failures += not ok
            print(f"runc: {name}: {'prints ok' if ok else 'FAILED: ' + out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("PASS" if failures == 0 else f"FAIL: {failures} disagreement(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
