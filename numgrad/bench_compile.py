"""First-call times of W1-W7, each in a fresh process: ``python -m numgrad.bench_compile``.

``[--only W1,W6] [--repeats 3] [--compare DIR]``

Columns (seconds of the first call, planning included, Python start and imports not):
* ``cold``: an empty kernel cache, compiling on the first call (NUMGRAD_INTERPRET_CALLS=0);
* ``warm``: the same with the cache the cold run filled;
* ``first``: an empty cache with the defaults (a small plan's first calls are interpreted;
  a big plan's are too while worker processes compile its kernels, NUMGRAD_BACKGROUND_COMPILE);
* ``cold kernels``: cold, but with the vecmath wrappers (compiled once per machine, shared by
  every kernel) already in the cache: the cost of a new graph on a machine that ran one;
* ``warm defaults``: the cache the cold run filled, with the defaults (a small plan's first
  call is still interpreted, a big plan's loads its kernels).

``--compare DIR`` runs the same processes with the numgrad checkout in DIR first on the path
(another branch, say), alternating with this one's for each workload and repeat, so that a
busy machine slows both alike; the table then has a row per checkout.  Min and median over
the repeats.

``--cpu`` gives every column in the calling process's CPU seconds instead of wall seconds: on
a loaded machine the wall time of a cold compile swings by 2x, its CPU time much less (the
"first" column's compile workers are other processes: their CPU is not in it).

``--kernels`` measures the step kernels alone: a fresh process runs W1-W5 cold (not timed),
then compiles each distinct step kernel they made once more (its source with a comment added:
a new module, the vecmath wrappers and Numba's start already paid) and prints the sum of
those compiles' process CPU seconds and the count; checkouts alternate per repeat.

``--warm`` measures only the two warm columns, many times cheaper: each checkout fills its
own cache once per workload (a cold call, not reported), then the repeats alternate between
checkouts, and each cell gives the call's wall seconds and its process CPU seconds (which a
loaded machine inflates less: the call's threads wait for a core without using one).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# workload -> code defining `call` (the first call is timed), using only what both checkouts
# of a comparison have
BUILD = {
    "W1 f64 1e6": "import numgrad.bench as b; fn, d = b.numgrad_call('W1 f64 1e6'); "
                  "call = lambda: fn(*d)",
    "W2": "import numgrad.bench as b; fn, d = b.numgrad_call('W2'); call = lambda: fn(*d)",
    "W3": "import numgrad.bench as b; fn, d = b.numgrad_call('W3'); call = lambda: fn(*d)",
    "W4": "import numgrad.bench as b; fn, d = b.numgrad_call('W4'); call = lambda: fn(*d)",
    "W5": "import numgrad.bench as b; fn, d = b.numgrad_call('W5'); call = lambda: fn(*d)",
    "W6": ("import numgrad as ng, numgrad.bench_train as b\n"
           "w, data = b.problem()\n"
           "g = ng.Graph()\n"
           "with g.as_default():\n"
           "    loss, _, ph = b.build_numgrad(ng, w)\n"
           "    train = ng.train.AdamOptimizer(b.LR, b.BETA1, b.BETA2, b.EPS).minimize(loss)\n"
           "    s = ng.Session(graph=g)\n"
           "    s.run(ng.global_variables_initializer())\n"
           "fn = s.make_callable([train, loss], list(ph.values()))\n"
           "vals = [data[k] for k in ph]\n"
           "call = lambda: fn(*vals)"),
    "W7": "import numgrad.bench_loops as b; x0, t = b.problem(); call = b.numgrad_call(x0, t)",
}
TIMED = ("\nimport time\nt0, c0 = time.perf_counter(), time.process_time()\ncall()\n"
         "print(time.perf_counter() - t0, time.process_time() - c0)\n")


# --kernels: W1-W5 run cold (not timed), then each distinct step kernel compiled again
KERNELS = """
import sys, time
import numgrad.bench as b
from numgrad import cache
for w in ("W1 f64 1e6", "W1 f32 1e6", "W2", "W3", "W4", "W5"):
    fn, d = b.numgrad_call(w)
    fn(*d)
kernels = []
for name in sorted(sys.modules):
    mod = sys.modules[name]
    k = getattr(mod, "kernel", None) if name.startswith("numgrad_k_") else None
    if k is not None and getattr(k, "signatures", None):
        with open(mod.__file__) as f:
            kernels.append((f.read(), k.signatures[0]))
seconds = []
for source, sig in kernels:
    c0 = time.process_time()
    cache.load(source + "\\n# compiled again\\n", "kernel").compile(sig)
    seconds.append(time.process_time() - c0)
print(sum(seconds), len(seconds))
"""


def kernels_cpu(root):
    """(CPU seconds, count) of compiling W1-W5's distinct step kernels again in a fresh
    process with numgrad from `root` (the KERNELS script; an empty cache)."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NUMGRAD_CACHE_DIR=d, PYTHONPATH=root, NUMGRAD_BACKEND="cpu",
                   NUMGRAD_INTERPRET_CALLS="0")
        env.pop("NUMGRAD_BACKGROUND_COMPILE", None)
        out = subprocess.run([sys.executable, "-c", KERNELS], capture_output=True, text=True,
                             env=env, cwd=tempfile.gettempdir())
    if out.returncode:
        raise RuntimeError(f"kernels ({root}): {out.stderr}")
    seconds, count = out.stdout.strip().splitlines()[-1].split()
    return float(seconds), int(count)


def run_kernels(repeats=3, roots=(HERE,), out=print):
    """{root: [(CPU seconds, count) per repeat]}, checkouts alternating."""
    results = {}
    for _ in range(repeats):
        for root in roots:
            results.setdefault(root, []).append(kernels_cpu(root))
    for root in roots:
        xs = [s for s, _ in results[root]]
        out(f"{os.path.basename(root.rstrip('/')):>14s} | {results[root][0][1]:3d} kernels | "
            f"{min(xs):6.3f} {statistics.median(xs):6.3f} CPU s")
    return results


def first_call(name, root, cache_dir, compile_at_once, cpu=False):
    """Seconds of `name`'s first call on the cpu backend in a fresh process importing numgrad
    from `root` (with `cpu`: (wall, process CPU) seconds)."""
    env = dict(os.environ, NUMGRAD_CACHE_DIR=cache_dir, PYTHONPATH=root, NUMGRAD_BACKEND="cpu")
    env.pop("NUMGRAD_INTERPRET_CALLS", None)
    env.pop("NUMGRAD_BACKGROUND_COMPILE", None)
    if compile_at_once:
        env["NUMGRAD_INTERPRET_CALLS"] = "0"
    out = subprocess.run([sys.executable, "-c", BUILD[name] + TIMED], capture_output=True,
                         text=True, env=env, cwd=tempfile.gettempdir())
    if out.returncode:
        raise RuntimeError(f"{name} ({root}): {out.stderr}")
    wall, cpu_seconds = (float(x) for x in out.stdout.strip().splitlines()[-1].split())
    return (wall, cpu_seconds) if cpu else wall


def _copy_vecmath_wrappers(src, dst):
    """Copy the vecmath wrapper module of cache directory `src` (compiled code included) to
    `dst`, leaving the kernels out: a cache as a machine has it after its first workload."""
    for fname in os.listdir(src):
        if not fname.endswith(".py"):
            continue
        with open(os.path.join(src, fname)) as f:
            if "vm._always_inline()" not in f.read():
                continue
        stem = fname[:-3]
        shutil.copy(os.path.join(src, fname), dst)
        cache = os.path.join(src, "__pycache__")
        os.makedirs(os.path.join(dst, "__pycache__"), exist_ok=True)
        for entry in os.listdir(cache):
            if entry.startswith(stem + "."):
                shutil.copy(os.path.join(cache, entry), os.path.join(dst, "__pycache__"))


def measure(name, root, cpu=False):
    """(cold, warm, first with the defaults, cold kernels, warm with the defaults) seconds of
    one repeat; "cold kernels" compiles the kernels with the vecmath wrappers already cached
    (they are compiled once per machine).  With `cpu`, the calling process's CPU seconds
    instead of wall seconds (compile workers' CPU not included)."""
    def call(*args):
        out = first_call(name, root, *args, cpu=cpu)
        return out[1] if cpu else out

    with tempfile.TemporaryDirectory() as d, tempfile.TemporaryDirectory() as d2:
        cold = call(d, True)
        warm = call(d, True)
        warm_defaults = call(d, False)
        _copy_vecmath_wrappers(d, d2)
        cold_kernels = call(d2, True)
    with tempfile.TemporaryDirectory() as d:
        first = call(d, False)
    return cold, warm, first, cold_kernels, warm_defaults


def run(names, repeats=3, roots=(HERE,), out=print, cpu=False):
    """{(workload, root): [measure(workload, root, cpu) per repeat]}, checkouts alternating."""
    results = {}
    for name in names:
        for _ in range(repeats):
            for root in roots:
                results.setdefault((name, root), []).append(measure(name, root, cpu))
        for root in roots:
            out(_row(name, root, results[(name, root)], len(roots) > 1))
    return results


def run_warm(names, repeats=3, roots=(HERE,), out=print):
    """{(workload, root): [((wall, cpu) warm, (wall, cpu) warm defaults) per repeat]}: each
    checkout's cache filled once per workload, then warm calls alternating checkouts."""
    results = {}
    with tempfile.TemporaryDirectory() as top:
        for name in names:
            caches = {}
            for k, root in enumerate(roots):
                caches[root] = os.path.join(top, f"{k}-{name.split()[0]}")
                os.makedirs(caches[root])
                first_call(name, root, caches[root], True)          # fills it
            for _ in range(repeats):
                for root in roots:
                    results.setdefault((name, root), []).append(
                        (first_call(name, root, caches[root], True, cpu=True),
                         first_call(name, root, caches[root], False, cpu=True)))
            for root in roots:
                out(_warm_row(name, root, results[(name, root)], len(roots) > 1))
    return results


def _warm_row(name, root, samples, label):
    cells = [f"{name:11s}"] + ([f"{os.path.basename(root.rstrip('/')):>14s}"] if label else [])
    for column in range(2):
        for k in range(2):
            xs = [s[column][k] for s in samples]
            cells.append(f"{min(xs):6.3f} {statistics.median(xs):6.3f}")
    return " | ".join(cells)


def _row(name, root, samples, label):
    cells = [f"{name:11s}"] + ([f"{os.path.basename(root.rstrip('/')):>14s}"] if label else [])
    for k in range(len(samples[0])):
        xs = [s[k] for s in samples]
        cells.append(f"{min(xs):7.2f} {statistics.median(xs):7.2f}")
    return " | ".join(cells)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated workloads (prefix match)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--compare", help="another numgrad checkout, measured alternately")
    ap.add_argument("--warm", action="store_true",
                    help="only the warm columns, wall and CPU seconds (see the docstring)")
    ap.add_argument("--kernels", action="store_true",
                    help="only W1-W5's step kernels compiled again (see the docstring)")
    ap.add_argument("--cpu", action="store_true",
                    help="the five columns in CPU seconds of the calling process")
    args = ap.parse_args(argv)
    names = list(BUILD)
    if args.only:
        wanted = [w.strip() for w in args.only.split(",")]
        names = [n for n in names if any(n.startswith(w) for w in wanted)]
    roots = (args.compare, HERE) if args.compare else (HERE,)
    if args.kernels:
        print("CPU s of compiling W1-W5's distinct step kernels again in a fresh process, "
              f"min and median of {args.repeats}")
        print("load average: %.2f %.2f %.2f" % os.getloadavg())
        run_kernels(args.repeats, roots)
        print("load average: %.2f %.2f %.2f" % os.getloadavg())
        return
    if args.warm:
        print("seconds of the first call in a fresh process, min and median of "
              f"{args.repeats}: warm wall | warm CPU | warm defaults wall | warm defaults CPU")
        print("load average: %.2f %.2f %.2f" % os.getloadavg())
        run_warm(names, args.repeats, roots)
        print("load average: %.2f %.2f %.2f" % os.getloadavg())
        return
    print(("CPU " if args.cpu else "") + "seconds of the first call in a fresh process, min "
          f"and median of {args.repeats}: cold (empty cache, compile at once) | warm (filled "
          "cache) | "
          "first (empty cache, defaults) | cold kernels (cold with the vecmath wrappers "
          "cached) | warm defaults (filled cache, defaults)")
    print("load average: %.2f %.2f %.2f" % os.getloadavg())
    run(names, args.repeats, roots, cpu=args.cpu)
    print("load average: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main(sys.argv[1:])
