"""numgrad's benchmark table: ``python -m numgrad.bench [--quick] [--only W1,W3] [--no-w6]``.

Each workload is "the loss and all its gradients in one call" (W1-W5 of the compiler issue).
Columns: NumPy written by hand, numgrad (cpu backend via make_callable), and PyTorch eager,
torch.compile, JAX and PyTensor (C and Numba backends) when they are installed, and the
loss and gradients written by hand as one Numba ``@njit`` function ("numba-hand"), when numgrad
runs from a checkout (benchmarks/bench_peers.py, see peers_module; --no-peers skips them), with
the best peer's time over numgrad's.  Also: cold compile time and warm-cache first-call time, each measured in a fresh process with compilation on the first
call (NUMGRAD_INTERPRET_CALLS=0), and the cold first call with the defaults (a small plan's
first calls are interpreted with NumPy, so W4's first call does not compile); peak temporary
memory of a numgrad call (tracemalloc); for W1 the multiple of the memory-traffic bound, from
a Numba triad measured in the same run.

W6, the physics-informed network (numgrad/bench_w6.py), follows as a table of its own: its two
calls (loss and gradients; Adam step) against TF1 Session, TF-XLA, torch.compile, JAX and
PyTorch at 1 and 2 threads, each thread count in a fresh process with every system limited
to it.  ``--quick`` times it with fewer repeats (2 rounds of 4 calls); ``--only W6`` prints it
alone; ``--no-w6`` leaves it out; ``--peers`` and ``--no-peers`` apply to it too.

``--busy`` measures numgrad and NumPy by hand quiet and then beside another process that keeps
one core busy (busy_core), side by side: a BLAS call that hands work to a thread on the busy
core waits for it (numgrad/blas_threads.py, issue 21).
"""
import argparse
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np


# --- workloads: build(ng) -> (fetches, feeds, numpy_inputs); numpy_fn(*inputs) ---------------------
def w1_loss(ng, x, w, b):
    return ng.reduce_sum(ng.tanh(x * w + b) ** 2 + ng.exp(-x * x) * ng.sin(w))


def w1(ng, n, dtype, loss_fn=w1_loss):
    """`loss_fn(ng, x, w, b)`: the formulation (bench_variants.py has others)."""
    rng = np.random.default_rng(0)
    data = [rng.random(n).astype(dtype) for _ in range(3)]
    x, w, b = (ng.placeholder(dtype, [None]) for _ in range(3))
    loss = loss_fn(ng, x, w, b)
    return [loss] + ng.gradients(loss, [x, w, b]), [x, w, b], data


def w1_numpy(x, w, b):
    t = np.tanh(x * w + b)
    e = np.exp(-x * x)
    s = np.sin(w)
    loss = np.sum(t * t + e * s)
    dt = 2 * t * (1 - t * t)
    return loss, dt * w - 2 * x * e * s, dt * x + e * np.cos(w), dt


def w2_loss(ng, X, v):
    return ng.reduce_sum(ng.log(1 + ng.exp(X * v - ng.reduce_mean(X, axis=1, keepdims=True))))


def w2(ng, loss_fn=w2_loss):
    rng = np.random.default_rng(0)
    data = [rng.standard_normal((4096, 1024)).astype(np.float32),
            rng.standard_normal(1024).astype(np.float32)]
    X = ng.placeholder(ng.float32, [4096, 1024])
    v = ng.placeholder(ng.float32, [1024])
    loss = loss_fn(ng, X, v)
    return [loss] + ng.gradients(loss, [X, v]), [X, v], data


def w2_numpy(X, v):
    z = X * v - X.mean(axis=1, keepdims=True)
    e = np.exp(z)
    loss = np.sum(np.log1p(e))
    s = e / (1 + e)                       # d loss / d z
    gX = s * v - s.sum(axis=1, keepdims=True) / X.shape[1]
    gv = np.sum(s * X, axis=0)
    return loss, gX, gv


def w3_loss(ng, x, y, W1, b1, W2, b2):
    h = ng.tanh(ng.matmul(x, W1) + b1)
    logits = ng.matmul(h, W2) + b2
    return ng.reduce_mean(ng.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits))


def w3(ng, loss_fn=w3_loss):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 784)).astype(np.float32)
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 256)]
    W1 = (rng.standard_normal((784, 512)) * 0.05).astype(np.float32)
    b1 = np.zeros(512, np.float32)
    W2 = (rng.standard_normal((512, 10)) * 0.05).astype(np.float32)
    b2 = np.zeros(10, np.float32)
    data = [x, labels, W1, b1, W2, b2]
    phs = [ng.placeholder(ng.float32, a.shape) for a in data]
    loss = loss_fn(ng, *phs)
    return [loss] + ng.gradients(loss, phs[2:]), phs, data


def w3_numpy(x, y, W1, b1, W2, b2):
    h = np.tanh(x @ W1 + b1)
    logits = h @ W2 + b2
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    p = e / s
    loss = np.mean(-np.sum(y * (logits - m - np.log(s)), axis=1))
    g = (p - y) / x.shape[0]
    gW2 = h.T @ g
    gb2 = g.sum(axis=0)
    gh = (g @ W2.T) * (1 - h * h)
    return loss, x.T @ gh, gh.sum(axis=0), gW2, gb2


def w4_step(ng, a, b, t, i):
    return ng.tanh(t * b + 0.1 * i) + ng.sigmoid(a - t) * 0.5


def w4_tail(ng, b, t):
    return ng.reduce_sum(t * t) + ng.reduce_mean(ng.exp(-b * b))


def w4(ng, step=w4_step, tail=w4_tail):
    rng = np.random.default_rng(0)
    data = [rng.random(16), rng.random(16)]
    a = ng.placeholder(ng.float64, [16])
    b = ng.placeholder(ng.float64, [16])
    t = a
    for i in range(6):
        t = step(ng, a, b, t, i)
    loss = tail(ng, b, t)
    return [loss] + ng.gradients(loss, [a, b]), [a, b], data


def w4_numpy(a, b):
    ts = []
    t = a
    for i in range(6):
        th = np.tanh(t * b + 0.1 * i)
        s = 1 / (1 + np.exp(-(a - t)))
        ts.append((t, th, s))
        t = th + s * 0.5
    e = np.exp(-b * b)
    loss = np.sum(t * t) + e.mean()
    g = 2 * t
    ga = np.zeros_like(a)
    gb = -2 * b * e / b.size
    for (tp, th, s) in reversed(ts):
        dth = g * (1 - th * th)
        ds = g * 0.5 * s * (1 - s)
        gb += dth * tp
        ga += ds
        g = dth * b - ds
    return loss, ga + g, gb


def w5_inv6(ng, r2):
    return 1.0 / (r2 * r2 * r2)


def w5_energy(ng, inv6, eye):
    return 2.0 * ng.reduce_sum((inv6 * inv6 - inv6) * (1.0 - eye))


def w5(ng, n=1000, inv6_fn=w5_inv6, energy_fn=w5_energy):
    rng = np.random.default_rng(0)
    side = int(np.ceil(n ** (1 / 3)))
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3), -1).reshape(-1, 3)[:n] * 1.12
    pos = (grid + rng.normal(0, 0.01, grid.shape)).astype(np.float64)
    p = ng.placeholder(ng.float64, [n, 3])
    eye = np.eye(n)
    d = ng.expand_dims(p, 1) - ng.expand_dims(p, 0)
    r2 = ng.reduce_sum(d * d, axis=2) + eye
    inv6 = inv6_fn(ng, r2)
    energy = energy_fn(ng, inv6, eye)
    force = -ng.gradients(energy, p)[0]
    return [energy, force], [p], [pos]


def w5_numpy(pos):
    n = pos.shape[0]
    eye = np.eye(n)
    d = pos[:, None, :] - pos[None, :, :]
    r2 = np.sum(d * d, axis=2) + eye
    inv6 = 1.0 / r2 ** 3
    mask = 1.0 - eye
    energy = 2.0 * np.sum((inv6 * inv6 - inv6) * mask)
    dE_dr2 = 2.0 * mask * (-6 * inv6 * inv6 + 3 * inv6) / r2
    g = 2 * d * dE_dr2[:, :, None]
    return energy, -(g.sum(axis=1) - g.sum(axis=0))


WORKLOADS = {
    "W1 f64 1e6": (lambda ng: w1(ng, 10 ** 6, np.float64), w1_numpy),
    "W1 f32 1e6": (lambda ng: w1(ng, 10 ** 6, np.float32), w1_numpy),
    "W1 f64 1e7": (lambda ng: w1(ng, 10 ** 7, np.float64), w1_numpy),
    "W1 f32 1e7": (lambda ng: w1(ng, 10 ** 7, np.float32), w1_numpy),
    "W2": (w2, w2_numpy),
    "W3": (w3, w3_numpy),
    "W4": (w4, w4_numpy),
    "W5": (w5, w5_numpy),
}


# What the timings below take at least: seconds of calls (after `repeat` calls) and the triad's
# array length (three float64 arrays, 480 MB).  The table's values; tests/test_bench.py sets
# smaller ones to check the table's code, not to time anything.
MIN_TIME = 0.2
TRIAD_N = 2 * 10 ** 7


def median_time(fn, *args, repeat=7, min_time=None):
    min_time = MIN_TIME if min_time is None else min_time
    fn(*args)
    times = []
    t_end = time.perf_counter() + min_time
    while len(times) < repeat or (time.perf_counter() < t_end and len(times) < 10000):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def triad_bandwidth():
    from numba import njit, prange

    @njit(parallel=True, cache=True)
    def triad(a, b, c, s):
        for i in prange(a.size):
            a[i] = b[i] + s * c[i]
    n = TRIAD_N
    a, b, c = np.empty(n), np.ones(n), np.ones(n)
    t = median_time(triad, a, b, c, 2.0, repeat=5)
    return 3 * a.nbytes / t


def numgrad_call(name):
    import numgrad as ng
    ng.reset_default_graph()
    fetches, feeds, data = WORKLOADS[name][0](ng)
    fn = ng.Session().make_callable(fetches, feeds)
    return fn, data


def warm_up(fn, data):
    """Call fn until it runs its final code: a small plan is interpreted for its first calls,
    then compiled into one plan function (cpu.INTERPRET_CALLS, cpu.FUSED_CALL_AFTER); a
    parallel kernel's first runs after compiling try threads and one thread in turn
    (cpu_runners.THREAD_TRIALS each)."""
    from numgrad.backends import cpu, cpu_runners
    from numgrad import compile_workers
    t0 = time.process_time()
    fn(*data)
    compile_workers.wait_all()      # a big plan's kernels, compiling while it is interpreted
    calls = 2 * cpu_runners.THREAD_TRIALS
    # Big plans compile on their first call (>= 0.2 s of cpu time); a small one is planned and
    # interpreted (~20 ms).  Process time, as a busy machine stretches the wall time of both.
    if time.process_time() - t0 < 0.1:
        calls += max(cpu.INTERPRET_CALLS, cpu.FUSED_CALL_AFTER) + 1
    for _ in range(calls):
        fn(*data)
    if compile_workers.wait_all():
        for _ in range(2 * cpu_runners.THREAD_TRIALS + 1):  # the plan function compiled meanwhile
            fn(*data)


def first_call_seconds(name, cache_dir, compile_at_once=True):
    """Time of the first call (plan + compile or cache load) in a fresh process; with
    compile_at_once=False, the first call with the defaults (interpreted if the plan is small)."""
    code = ("import time, numgrad.bench as b; fn, data = b.numgrad_call(%r); "
            "t = time.perf_counter(); fn(*data); print(time.perf_counter() - t)" % name)
    env = dict(os.environ, NUMGRAD_CACHE_DIR=cache_dir)
    if compile_at_once:
        env["NUMGRAD_INTERPRET_CALLS"] = "0"
    else:
        env.pop("NUMGRAD_INTERPRET_CALLS", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return float(out.stdout.strip().splitlines()[-1])


def peak_temporary_bytes(fn, data):
    fn(*data)
    tracemalloc.start()
    tracemalloc.reset_peak()
    out = fn(*data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out_bytes = sum(np.asarray(o).nbytes for o in out)
    return max(peak - out_bytes, 0), out_bytes


def check(ng_out, np_out, rtol):
    for a, b in zip(ng_out, np_out):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                                   rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(b)))))


def cpu_steal_ticks():
    """(steal, total) jiffies of all CPUs from /proc/stat, or None off Linux.

    On a VM the hypervisor may run other guests on "our" cores; the time it takes ("steal")
    makes two-thread timings swing by 2-3x on the development VM, so the table reports it."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


# The peers' code is not part of the installed package: it is benchmarks/bench_peers.py of the
# checkout, found next to this package's directory.
PEERS_FILE = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "bench_peers.py"
_PEERS_MODULE = "benchmarks.bench_peers"


def checkout_module(path, name):
    """The module of file `path` (benchmarks/ of the checkout numgrad runs from) as `name`,
    loaded once; None where the file is missing (numgrad installed without its checkout)."""
    mod = sys.modules.get(name)
    if mod is not None:
        return mod
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[name]
        raise
    return mod


def peers_module():
    """The module of the peer columns (benchmarks/bench_peers.py of the checkout numgrad runs
    from), loaded once; None where numgrad is installed without its checkout."""
    return checkout_module(PEERS_FILE, _PEERS_MODULE)


def peer_names(wanted=None):
    """The peers installed here (those of `wanted`, a comma-separated string, if given); []
    with a note on stderr where numgrad runs without its checkout's benchmarks/."""
    bench_peers = peers_module()
    if bench_peers is None:
        print(f"no peer columns: {PEERS_FILE} is missing (the peers' code comes with a "
              "checkout of numgrad, not with the installed package; --no-peers leaves them "
              "out without this note)", file=sys.stderr)
        return []
    peers = bench_peers.available_peers()
    if wanted:
        peers = [p for p in wanted.split(",") if p in peers]
    return peers


def run(names, quick=False, compile_times=True, peers=()):
    """The table's rows; `peers` (names from peers_module().available_peers()) add a column
    each (median ms of one call, after a first call that compiles) and
    `best_peer_over_numgrad`."""
    bench_peers = peers_module() if peers else None
    rows = []
    steal0 = cpu_steal_ticks()
    bw = triad_bandwidth()
    for name in names:
        build, np_fn = WORKLOADS[name]
        fn, data = numgrad_call(name)
        out = fn(*data)
        ref = np_fn(*data)
        check(out, ref, 1e-3 if "f32" in name or name in ("W2", "W3") else 1e-8)
        warm_up(fn, data)
        t_ng = median_time(fn, *data, repeat=3 if quick else 7)
        t_np = median_time(np_fn, *data, repeat=3 if quick else 5)
        temp, io_bytes = peak_temporary_bytes(fn, data)
        row = {"workload": name, "numpy_ms": t_np * 1e3, "numgrad_ms": t_ng * 1e3,
               "speedup_vs_numpy": t_np / t_ng, "peak_temp_MB": temp / 2 ** 20,
               "temp_over_io": temp / max(io_bytes + sum(d.nbytes for d in data), 1)}
        peer_ms = []
        for p in peers:
            try:
                row[f"{p}_ms"] = bench_peers.measure(p, name, data, ref, quick)["ms"]
                peer_ms.append(row[f"{p}_ms"])
            except Exception as e:  # noqa: BLE001  (one peer failing a workload: say so, go on)
                row[f"{p}_ms"] = "failed"
                print(f"{p} failed on {name}: {type(e).__name__}: {e}", file=sys.stderr)
        if peer_ms:
            row["best_peer_over_numgrad"] = min(peer_ms) / row["numgrad_ms"]
        if name.startswith("W1"):
            n_bytes = sum(d.nbytes for d in data) * 2        # read x, w, b; write 3 grads
            row["x_bound"] = t_ng / (n_bytes / bw)
        if compile_times:
            with tempfile.TemporaryDirectory() as d:
                row["first_call_ms"] = first_call_seconds(name, d, compile_at_once=False) * 1e3
            with tempfile.TemporaryDirectory() as d:
                row["cold_s"] = first_call_seconds(name, d)
                row["warm_s"] = first_call_seconds(name, d)
        rows.append(row)
    steal1 = cpu_steal_ticks()
    steal = None
    if steal0 and steal1 and steal1[1] > steal0[1]:
        steal = 100.0 * (steal1[0] - steal0[0]) / (steal1[1] - steal0[1])
    return {"triad_GBps": bw / 1e9, "rows": rows, "cpu_steal_percent": steal,
            "peers": {p: bench_peers.peer_info(p) for p in peers} if peers else {}}


class busy_core:
    """Context manager: another process spins on one core (the OS picks it) while inside."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.3)                 # started and spinning
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def run_busy(names, quick=False):
    """Per workload: median ms of numgrad and of NumPy by hand, quiet and beside busy_core."""
    rows = []
    for name in names:
        fn, data = numgrad_call(name)
        np_fn = WORKLOADS[name][1]
        warm_up(fn, data)
        row = {"workload": name}
        for where in ("quiet", "busy"):
            if where == "busy":
                spinner = busy_core().__enter__()
            try:
                fn(*data)           # a thread choice measured in the other state is renewed
                row[f"numgrad_{where}_ms"] = median_time(fn, *data, repeat=3 if quick else 7) * 1e3
                row[f"numpy_{where}_ms"] = median_time(np_fn, *data,
                                                       repeat=3 if quick else 5) * 1e3
            finally:
                if where == "busy":
                    spinner.__exit__(None, None, None)
        row["numgrad_busy_over_quiet"] = row["numgrad_busy_ms"] / row["numgrad_quiet_ms"]
        row["numpy_busy_over_quiet"] = row["numpy_busy_ms"] / row["numpy_quiet_ms"]
        rows.append(row)
    return {"rows": rows, "busy": True}


BUSY_COLS = ["workload", "numgrad_quiet_ms", "numgrad_busy_ms", "numgrad_busy_over_quiet",
             "numpy_quiet_ms", "numpy_busy_ms", "numpy_busy_over_quiet"]
BUSY_DEFAULT = ["W1 f64 1e6", "W1 f32 1e6", "W3"]


def print_table(result):
    from numgrad import blas_threads, config
    if result.get("busy"):
        print("quiet, then with another process keeping one core busy "
              f"(NUMGRAD_BLAS_THREADS={config.SWITCHES['NUMGRAD_BLAS_THREADS'].format(blas_threads.SETTING)})")
        print(" | ".join(f"{c:>{len(c)}}" for c in BUSY_COLS))
        for r in result["rows"]:
            print(" | ".join(f"{r[c]:>{len(c)}}" if isinstance(r[c], str) else
                             f"{r[c]:{len(c)}.3g}" for c in BUSY_COLS))
        return
    print(f"Numba triad bandwidth: {result['triad_GBps']:.1f} GB/s")
    steal = result.get("cpu_steal_percent")
    if steal is not None:
        print(f"CPU time taken by the hypervisor (steal) during the run: {steal:.1f}%"
              + ("  -- timings unreliable" if steal > 5 else ""))
    for p, info in result.get("peers", {}).items():
        print(f"peer {p}: {info}")
    peer_cols = [f"{p}_ms" for p in result.get("peers", {})]
    cols = ["workload", "numpy_ms", "numgrad_ms", "speedup_vs_numpy"] + peer_cols + (
        ["best_peer_over_numgrad"] if peer_cols else []) + [
        "x_bound", "cold_s", "warm_s", "first_call_ms", "peak_temp_MB", "temp_over_io"]
    print(" | ".join(f"{c:>14}" for c in cols))
    for r in result["rows"]:
        cells = []
        for c in cols:
            v = r.get(c)
            cells.append(f"{v:>14}" if isinstance(v, str) else
                         ("%14s" % "-" if v is None else f"{v:14.3g}"))
        print(" | ".join(cells))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated workload names (prefix match)")
    ap.add_argument("--quick", action="store_true", help="fewer repeats, no 1e7 sizes")
    ap.add_argument("--no-compile", action="store_true", help="skip cold/warm compile timing")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--no-peers", action="store_true",
                    help="skip the PyTorch / torch.compile / JAX columns (shown when installed)")
    ap.add_argument("--peers", help="comma-separated peers to run (default: all installed)")
    ap.add_argument("--no-w6", action="store_true",
                    help="skip W6 (the PINN at 1 and 2 threads against its peers, "
                         "numgrad/bench_w6.py; a few minutes)")
    ap.add_argument("--busy", action="store_true",
                    help="numgrad and NumPy quiet and beside a process busy on one core "
                         f"(default workloads: {', '.join(BUSY_DEFAULT)})")
    ap.add_argument("--variants", action="store_true",
                    help="each workload written in other plausible ways, with each "
                         "formulation's time over the workload's best (bench_variants.py)")
    ap.add_argument("--why", action="store_true",
                    help="with --variants: each formulation's per-round times and its plan's "
                         "measured choices (threads, BLAS threads, inter-op, lanes)")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.variants:
        from numgrad import bench_variants
        names = list(bench_variants.VARIANTS)
        if args.only:
            wanted = [w.strip() for w in args.only.split(",")]
            names = [n for n in names if any(n.startswith(w) for w in wanted)]
        rows = bench_variants.run(names, args.quick, args.why)
        bench_variants.print_table(rows)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)
        return
    names = list(WORKLOADS) if not args.busy or args.only else list(BUSY_DEFAULT)
    if args.quick:
        names = [n for n in names if "1e7" not in n]
    if args.only:
        wanted = [w.strip() for w in args.only.split(",")]
        names = [n for n in names if any(n.startswith(w) for w in wanted)]
    peers = []
    if args.busy:
        result = run_busy(names, args.quick)
        print_table(result)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
        return
    if not args.no_peers:
        peers = peer_names(args.peers)
    result = {}
    if names:
        result = run(names, args.quick, not args.no_compile, peers)
        print_table(result)
    if wants_w6(args):
        from numgrad import bench_w6
        w6_peers = [] if args.no_peers else bench_w6.peer_names(
            args.peers.split(",") if args.peers else None)
        result["w6"] = bench_w6.run(peers=w6_peers, quick=args.quick)
        if names:
            print()
        bench_w6.print_table(result["w6"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


def wants_w6(args):
    """W6 (numgrad/bench_w6.py) after the W1-W5 table: unless --no-w6, or --only names
    other workloads only."""
    if args.no_w6:
        return False
    return not args.only or any("W6".startswith(w.strip()) for w in args.only.split(","))


if __name__ == "__main__":
    main()
