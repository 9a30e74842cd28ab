#!/usr/bin/env python3
"""Images that start: the closure over the planned image, then beside the
source, then the sysroot, on any CPU.

Fixtures are compiled here with gcc. For each one, glibc's own loader
answers (on the host for trees outside a sysroot, `chroot SYSROOT ld.so
--list` inside one), `distill closure` must give the same files in the
image's terms, plus only variants another CPU could pick, and the image
built from the recipe runs under runc and prints "ok". Nothing here depends
on this machine's CPU: where the loader's answer does (haswell/ on Intel
with AVX2), every answer it could give is accepted.

Exit 77 (skip) only when a tool or root is missing; .ci/run has them all.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # the source tree stays as it is
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import closure as cx  # noqa: E402  (the fixture helpers and the runc runner)

DISTILL = os.environ["DISTILL"]
LDSO = "/lib64/ld-linux-x86-64.so.2"
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
failures = 0


def check(ok, what):
    global failures
    failures += not ok
    print(f"{'ok' if ok else 'FAIL'}: {what}")


def recipe(d, name, body):
    path = f"{d}/{name}.yaml"
    with open(path, "w") as f:
        f.write(f"name: distill-start/{name.replace('_', '-')}\ntag: t\nca-certificates: false\n{body}")
    return path


def closure_json(*args, cwd=None):
    r = subprocess.run([DISTILL, "closure", "--json", *args], capture_output=True, text=True, cwd=cwd)
    doc = json.loads(r.stdout) if r.stdout.strip() else None
    return r.returncode, doc, r.stderr


def libs_of(doc):
    return {o["path"] for o in doc["objects"] if o["how"] not in ("program",)}


def runs(work, name, path, extra=()):
    ok, out = cx.run_recipe(work, name, path, extra)
    check(ok, f"{name}: the image runs under runc and prints ok" + ("" if ok else f" ({out})"))


def loader_list(root, prog):
    """What the loader maps inside a sysroot: {path} and whether it stopped."""
    r = subprocess.run(["chroot", root, LDSO, "--list", prog], capture_output=True, text=True)
    found = set()
    for line in r.stdout.splitlines():
        m = cx.LINE_FOUND.match(line) or cx.LINE_INTERP.match(line)
        if m:
            found.add(m.groups()[-1])
    return r.returncode, found, r.stdout + r.stderr


def mini_sysroot(root):
    """Debian's loader and libc, nothing else: a sysroot small enough to chroot into."""
    for src in (LDSO, LIBC):
        dst = root + src
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.realpath(src), dst)
    os.makedirs(f"{root}/etc", exist_ok=True)
    os.makedirs(f"{root}/usr/bin", exist_ok=True)


# ---- the application's own tree, outside the sysroot ----------------------

def t_app_tree(work):
    """{source: build/bin/app, path: /opt/app/bin/app} with RUNPATH $ORIGIN/../lib brings build/lib/libx.so.1."""
    d = f"{work}/app_tree"
    os.makedirs(d)
    cx.lib(d, f"{d}/build/lib/libx.so.1", "fx")
    cx.prog(d, f"{d}/build/bin/app", ["fx"], [f"{d}/build/lib/libx.so.1"], "-Wl,-rpath,'$ORIGIN/../lib' " + cx.NEW)
    r = recipe(d, "app_tree", "contents:\n  binaries:\n    - {source: build/bin/app, path: /opt/app/bin/app}\n")
    rc, doc, err = closure_json(r)
    beside = [o for o in (doc or {"objects": []})["objects"] if o["name"] == "libx.so.1"]
    check(rc == 0 and beside and beside[0]["path"] == "/opt/app/lib/libx.so.1"
          and beside[0]["how"] == "beside the source",
          f"app_tree: closure RECIPE finds libx.so.1 beside the source at /opt/app/lib ({err.strip()})")
    # the host's loader, on the build tree, loads the same names
    _, host_found, _, _ = cx.loader_answer(f"{d}/build/bin/app", d)
    want = {os.path.basename(p) for p in host_found}
    got = {os.path.basename(os.path.realpath(p)) if not p.startswith("/opt/") else os.path.basename(p)
           for p in libs_of(doc or {"objects": []})}
    check(want <= got | {"libc.so.6", "ld-linux-x86-64.so.2"} and "libx.so.1" in got,
          f"app_tree: the loader's files {sorted(want)} are in the closure")
    runs(work, "app_tree", r)


def t_addon(work):
    """A plugin in `directories` whose RUNPATH is $ORIGIN/../deps, loaded with dlopen by the program."""
    d = f"{work}/addon"
    os.makedirs(d)
    cx.lib(d, f"{d}/plug/addon/deps/libdep.so.1", "fdep")
    cx.lib(d, f"{d}/plug/addon/lib/addon.so", "faddon", [("fdep", f"{d}/plug/addon/deps/libdep.so.1")],
           "-Wl,-rpath,'$ORIGIN/../deps' " + cx.NEW)
    src = f"{d}/main.c"
    with open(src, "w") as f:
        f.write('#include <dlfcn.h>\n#include <stdio.h>\nint main(void) {\n'
                '  void *h = dlopen("/opt/plug/addon/lib/addon.so", RTLD_NOW);\n'
                '  if (!h) { printf("%s\\n", dlerror()); return 1; }\n'
                '  int (*f)(void) = (int (*)(void)) dlsym(h, "faddon");\n'
                '  if (f && f() == 2) puts("ok");\n  return 0;\n}\n')
    cx.sh(f"mkdir -p build && gcc -o build/main {src} -ldl", d)
    r = recipe(d, "addon", "contents:\n  binaries:\n    - {source: build/main, path: /app/main}\n"
                           "  directories:\n    - {source: plug, path: /opt/plug}\n")
    rc, doc, err = closure_json(r)
    check(rc == 0, f"addon: the plugin's $ORIGIN/../deps is found in the planned image ({err.strip()})")
    runs(work, "addon", r)


# ---- a sysroot whose loader needs its cache --------------------------------

def cache_sysroot(work, name, layout="debian"):
    """libloc.so.1 in /usr/local/lib, known only to ld.so.conf and the ld.so.cache that ldconfig -r makes."""
    root = f"{work}/{name}/root"
    mini_sysroot(root)
    if layout == "lib64":
        # libc where a lib64 distribution keeps it; Debian's loader (whose
        # own directories are the multiarch ones) finds it through the cache
        os.makedirs(f"{root}/usr/lib64")
        os.rename(root + LIBC, f"{root}/usr/lib64/libc.so.6")
        shutil.rmtree(f"{root}/lib")
    d = f"{work}/{name}"
    cx.lib(d, f"{root}/usr/local/lib/libloc.so.1", "floc")
    lib_dir = "/usr/lib64" if layout == "lib64" else ""
    cx.prog(d, f"{root}/usr/bin/prog", ["floc"], [f"{root}/usr/local/lib/libloc.so.1"])
    with open(f"{root}/etc/ld.so.conf", "w") as f:
        f.write(f"/usr/local/lib\n{lib_dir}\n")
    cx.sh(f"ldconfig -r {root}", d)
    return root


def compare_sysroot(name, root, prog="/usr/bin/prog"):
    rc_l, l_found, l_out = loader_list(root, prog)
    rc_d, doc, err = closure_json("--sysroot", root, prog)
    d_found = {o["path"] if o["how"] == "interpreter" else o["path"] for o in (doc or {"objects": []})["objects"]
               if o["how"] != "program"}
    # the loader prints the names it opened; distill the path it opened
    same = {os.path.realpath(root + p) for p in l_found} == {os.path.realpath(root + p) for p in d_found}
    check(rc_l == 0 and rc_d == 0 and same,
          f"{name}: distill and the loader in the sysroot load the same files "
          f"(loader {sorted(l_found)}, distill {sorted(d_found)}) {err.strip()}")


def t_usr_local_cache(work):
    root = cache_sysroot(work, "usr_local")
    compare_sysroot("usr_local", root)
    r = recipe(f"{work}/usr_local", "usr_local", f"sysroot: {root}\ncontents:\n  binaries: [/usr/bin/prog]\n")
    tar = f"{work}/usr_local/img.tar"
    subprocess.run([DISTILL, "build", r, "-o", tar], check=True, capture_output=True)
    listing = subprocess.run([DISTILL, "inspect", "--json", tar], capture_output=True, text=True).stdout
    check('"/etc/ld.so.cache"' in listing, "usr_local: the image has its own /etc/ld.so.cache")
    runs(work, "usr_local", r)
    # the sysroot's ld.so.preload: its loader maps it into every program; reported
    with open(f"{root}/etc/ld.so.preload", "w") as f:
        f.write("/usr/local/lib/libpre.so\n")
    rc, doc, err = closure_json("--sysroot", root, "/usr/bin/prog")
    check(rc == 0 and any("ld.so.preload" in w and "libpre.so" in w for w in doc["warnings"]),
          "usr_local: the sysroot's /etc/ld.so.preload is reported")


def t_lib64(work):
    root = cache_sysroot(work, "lib64", layout="lib64")
    compare_sysroot("lib64", root)
    r = recipe(f"{work}/lib64", "lib64", f"sysroot: {root}\ncontents:\n  binaries: [/usr/bin/prog]\n")
    runs(work, "lib64", r)


def t_corrupt_cache(work):
    root = cache_sysroot(work, "corrupt")
    with open(f"{root}/etc/ld.so.cache", "wb") as f:
        f.write(b"glibc-ld.so.cache1.1" + b"\xff" * 40)
    rc_l, _, l_out = loader_list(root, "/usr/bin/prog")
    rc_d, doc, err = closure_json("--sysroot", root, "/usr/bin/prog")
    missing = doc["missing"] if doc else []
    warned = any("ld.so.cache" in w and "ignored" in w for w in (doc or {"warnings": []})["warnings"])
    check(rc_l != 0 and "libloc.so.1" in l_out and rc_d == 1 and any("libloc.so.1" in m for m in missing) and warned,
          f"corrupt_cache: the loader ignores the cache and misses libloc.so.1; so does distill, with a warning "
          f"(loader rc={rc_l}, distill rc={rc_d}, {missing})")


# ---- every CPU ---------------------------------------------------------------

PLATFORMS = ("x86_64", "haswell", "xeon_phi")


def t_platform(work):
    """libp.so under every value of $PLATFORM, libr.so baseline plus an avx512_1/ legacy variant."""
    d = f"{work}/platform"
    os.makedirs(d)
    for p in PLATFORMS:
        cx.lib(d, f"{d}/p/{p}/libp.so", "fp")
    cx.lib(d, f"{d}/r/libr.so", "fr")
    cx.lib(d, f"{d}/r/avx512_1/libr.so", "fr")
    cx.prog(d, f"{d}/exe", ["fp", "fr"], [f"{d}/p/x86_64/libp.so", f"{d}/r/libr.so"],
            f"-Wl,-rpath,'{d}/p/$PLATFORM:{d}/r' " + cx.NEW)
    kind, l_found, _, _ = cx.loader_answer(f"{d}/exe", d)
    rc, doc, err = closure_json(f"{d}/exe")
    found = {o["real"] for o in doc["objects"]} if doc else set()
    want = {f"{d}/p/{p}/libp.so" for p in PLATFORMS} | {f"{d}/r/libr.so", f"{d}/r/avx512_1/libr.so"}
    check(kind == "ok" and rc == 0 and l_found <= found and want <= found,
          f"platform: every $PLATFORM and legacy hwcap variant is taken; this CPU's loader picks "
          f"{sorted(p for p in l_found if d in p)}")
    r = recipe(d, "platform", f"contents:\n  binaries: [{d}/exe]\n")
    runs(work, "platform", r)


def t_platform_partial(work):
    """libq.so only in haswell/: Intel CPUs with AVX2 load it, the others do not; distill warns, whichever
    answer this machine's loader gives."""
    d = f"{work}/partial"
    os.makedirs(d)
    cx.lib(d, f"{d}/p/haswell/libq.so", "fq")
    cx.prog(d, f"{d}/exe", ["fq"], [f"{d}/p/haswell/libq.so"], f"-Wl,-rpath,'{d}/p/$PLATFORM' " + cx.NEW)
    kind, l_found, l_missing, _ = cx.loader_answer(f"{d}/exe", d)
    rc, doc, err = closure_json(f"{d}/exe")
    found = {o["real"] for o in doc["objects"]} if doc else set()
    warned = any("libq.so" in w and "CPUs" in w for w in (doc or {"warnings": []})["warnings"])
    this_cpu = "finds it in haswell/" if kind == "ok" else "misses it"
    check(rc == 0 and f"{d}/p/haswell/libq.so" in found and warned and (l_found <= found or kind == "missing"),
          f"partial: distill takes haswell/libq.so and warns that other CPUs miss it; this CPU's loader {this_cpu}")


# ---- a program placed under libraries ------------------------------------------

def t_program_as_library(work):
    """A program listed under libraries (a runtime in the libraries layer) gets its interpreter."""
    d = f"{work}/runtime"
    os.makedirs(d)
    cx.prog(d, f"{d}/build/runtime", [], [])
    cx.prog(d, f"{d}/build/main", [], [], "-static")
    r = recipe(d, "runtime", "contents:\n  binaries:\n    - {source: build/main, path: /app/main}\n"
                             "  libraries:\n    - {source: build/runtime, path: /usr/lib/rt/runtime}\n"
                             "entrypoint: [/usr/lib/rt/runtime]\n")
    runs(work, "runtime", r)


def t_claimed_twice(work):
    """The same file claimed by the closure and by files: one entry, no crash."""
    d = f"{work}/twice"
    os.makedirs(d)
    cx.lib(d, f"{d}/build/lib/libt.so.1", "ft")
    cx.prog(d, f"{d}/build/app", ["ft"], [f"{d}/build/lib/libt.so.1"], "-Wl,-rpath,/usr/lib/t " + cx.NEW)
    r = recipe(d, "twice", "contents:\n  binaries:\n    - {source: build/app, path: /usr/bin/app}\n"
                           "  files:\n    - {source: build/lib/libt.so.1, path: /usr/lib/t/libt.so.1}\n")
    runs(work, "twice", r)
    bad = recipe(d, "twice_bad", "contents:\n  binaries:\n    - {source: build/app, path: /usr/bin/app}\n"
                                 "  files:\n    - {source: build/lib/libt.so.1, path: /usr/lib/t/libt.so.1}\n"
                                 "    - {source: twice.yaml, path: /usr/lib/t/libt.so.1}\n")
    p = subprocess.run([DISTILL, "build", bad, "-o", f"{d}/bad.tar"], capture_output=True, text=True)
    check(p.returncode == 1 and "claimed twice" in p.stderr and "differ" in p.stderr
          and not os.path.exists(f"{d}/bad.tar"),
          f"twice: a real conflict says what differs ({p.stderr.strip()[:160]})")


TESTS = [t_app_tree, t_addon, t_usr_local_cache, t_lib64, t_corrupt_cache, t_platform, t_platform_partial,
         t_program_as_library, t_claimed_twice]


def main():
    for tool in ["gcc", "ldconfig", "chroot", "umoci", "runc", "tar", "readelf"]:
        if shutil.which(tool) is None:
            print(f"SKIP: {tool} is not installed (.ci/run installs it)")
            return 77
    if os.getuid() != 0:
        print("SKIP: needs root (chroot, ldconfig -r, runc)")
        return 77
    if not os.path.exists(LDSO) or not os.path.exists(LIBC):
        print(f"SKIP: {LDSO} and {LIBC} are not this machine's loader and libc")
        return 77
    work = tempfile.mkdtemp(prefix="distill-start.")
    try:
        for t in TESTS:
            try:
                t(work)
            except (subprocess.CalledProcessError, RuntimeError, OSError) as e:
                check(False, f"{t.__name__}: {e} {getattr(e, 'stderr', '') or ''}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("PASS" if failures == 0 else f"FAIL: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
