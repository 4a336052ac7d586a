"""W6 against every peer at 1 and 2 threads: ``python -m numgrad.bench_w6 [--quick]
[--threads 1,2] [--peers torch,jax | --no-peers] [--json FILE]``.

W6 is the Burgers PINN of numgrad/bench_train.py.  Two calls per system: ``grads`` (the loss and
its gradients w.r.t. all 18 weights and biases) and ``train`` (one Adam step).  Systems: numgrad
and, where installed, the peers of benchmarks/bench_w6_peers.py (PyTorch eager, torch.compile of
two formulations, TF1 Session, TF-XLA, JAX jit), all from the same weights and data.

Each thread count runs in its own fresh process (``--worker``), whose environment sets
OMP / OPENBLAS / MKL_NUM_THREADS to n and in which numgrad (``set_num_threads``) and every peer
(``bench_w6_peers.limit_threads``) are set to n threads before they start.  There, each system's
first ``grads`` call is checked against numgrad's (loss and gradients, float32 tolerance) and
its first ``train`` call's loss against numgrad's loss; a system that raises or disagrees gets
"fails: <exception type>: <first line>" instead of a time.  Then the calls are timed in rounds
(each round: every system, each call `repeat` times) so that a load burst falls on all of them
alike; a cell is "min / median" ms.  ``cpu`` is the process CPU time over the wall time of each
system's timed calls: about n at most if the limit held, less on a loaded machine (where the
process waits for a core; the table prints the load average, before and after each process's
timings); a cell whose system exceeded n * OVER_LIMIT is marked "!" (and the
run says so on stderr).  ``best_peer_over_numgrad`` is the
fastest peer's min over numgrad's min, and its median over numgrad's median.

``--quick`` (also ``python -m numgrad.bench --quick``): 2 rounds of 4 calls instead of 5 of 10.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import bench_train as bt
from .bench_timing import SETTLE_ROUNDS, settle

CALLS = ("grads", "train")
THREADS = (1, 2)
OVER_LIMIT = 1.2            # cpu / wall above n * this: the system used more than n threads
RTOL = 2e-3                 # float32, ~40 layers of derivatives deep
PEERS_FILE = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "bench_w6_peers.py"


def peers_module():
    """benchmarks/bench_w6_peers.py of the checkout, or None (numgrad installed alone)."""
    from .bench import checkout_module
    return checkout_module(PEERS_FILE, "benchmarks.bench_w6_peers")


def peer_names(wanted=None):
    """The W6 peers installed here (those of `wanted`, a list, if given)."""
    mod = peers_module()
    if mod is None:
        print(f"no W6 peer columns: {PEERS_FILE} is missing", file=sys.stderr)
        return []
    found = mod.available_peers()
    return found if wanted is None else [p for p in found if p in wanted]


def thread_env(n, base=None):
    """The environment of the process that runs thread count n."""
    env = dict(os.environ if base is None else base)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(n)
    return env


# --- the worker: one thread count, every system --------------------------------------------------
class _NumgradCalls:
    def __init__(self, weights, data):
        self.grads, train = bt.numgrad_callables(weights, data)
        self.train = lambda: train()[1]

    @staticmethod
    def to_numpy(out):
        return [np.asarray(o) for o in out]


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160] if text else ''}".rstrip(": ")


def check_first(name, calls, ref):
    """Run `calls`' first grads and train calls; raise AssertionError naming the system where
    they disagree with numgrad's first outputs `ref` ([loss] + gradients, NumPy)."""
    out = calls.to_numpy(calls.grads())
    if len(out) != len(ref):
        raise AssertionError(f"{name}: {len(out)} outputs, numgrad {len(ref)}")
    for i, (a, b) in enumerate(zip(out, ref)):
        a = np.asarray(a, np.float64).reshape(np.shape(b))
        tol = RTOL * max(float(np.max(np.abs(b))), 1e-6)
        if not np.allclose(a, b, rtol=RTOL, atol=tol):
            what = "loss" if i == 0 else f"gradient {i - 1}"
            raise AssertionError(f"{name}'s {what} differs from numgrad's by "
                                 f"{float(np.max(np.abs(a - b))):.3g}")
    loss = float(calls.train())
    if not np.isclose(loss, float(ref[0]), rtol=RTOL):
        raise AssertionError(f"{name}'s first train loss {loss} differs from {float(ref[0])}")


WARM_CALLS = 12             # per round: thread trials, row-block and dispatch choices


def _warm(name, calls):
    """Call `calls` until what they run is final: for numgrad, rounds of WARM_CALLS calls of
    each until two rounds in a row compiled nothing (bench_timing.settle), so that the
    timed calls run compiled code with no compile worker beside them."""
    calls.grads()
    calls.train()       # each call is its own plan: both start compiling on their first call
    if name != "numgrad":
        for _ in range(3):
            calls.grads()
            calls.train()
        return

    def one_round():
        for _ in range(WARM_CALLS):
            calls.grads()
            calls.train()
    if settle(one_round) is None:
        print(f"W6: numgrad still compiled after {SETTLE_ROUNDS} warm-up rounds; its times "
              "may include compiling", file=sys.stderr)


def time_rounds(systems, rounds, repeat, failed):
    """{name: {call: [seconds...], call + '_cpu': cpu s, call + '_wall': wall s}}, timed in
    rounds of every system's calls, `repeat` each; a system whose call raises leaves the
    rounds and `failed` gets its cell."""
    out = {name: {k: ([] if k in CALLS else 0.0) for c in CALLS for k in (c, c + "_cpu",
                                                                            c + "_wall")}
           for name in systems}
    for _ in range(rounds):
        for name, calls in list(systems.items()):
            try:
                _time_block(calls, out[name], repeat)
            except Exception as e:  # noqa: BLE001  (as in worker: the table says how)
                failed[name] = "fails: " + _first_line(e)
                print(f"W6 {name} fails while timed: {type(e).__name__}: {e}", file=sys.stderr)
                del systems[name], out[name]
    return out


def _time_block(calls, rec, repeat):
    for call in CALLS:
        fn = getattr(calls, call)
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            rec[call].append(time.perf_counter() - t)
        rec[call + "_cpu"] += time.process_time() - c0
        rec[call + "_wall"] += time.perf_counter() - w0


def summarise(times, threads):
    """{call: {min_ms, med_ms, cpu, over_limit}} of one system's time_rounds record."""
    res = {}
    for call in CALLS:
        t = times[call]
        cpu = times[call + "_cpu"] / max(times[call + "_wall"], 1e-12)
        res[call] = {"min_ms": 1e3 * min(t), "med_ms": 1e3 * float(np.median(t)),
                     "cpu": cpu, "over_limit": cpu > threads * OVER_LIMIT}
    return res


def blas_threads():
    """The loaded BLAS libraries' thread counts (threadpoolctl), or None."""
    try:
        import threadpoolctl
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i.get("user_api") == "blas"]
    except Exception:  # noqa: BLE001  (no threadpoolctl: not reported)
        return None


def worker(threads, peers, quick=False, n_f=bt.N_F, layers=bt.LAYERS, make_peer=None):
    """One thread count: numgrad and `peers`, checked and timed; the result's dict.
    `make_peer(name, weights, data)` makes a peer's calls (default: bench_w6_peers.make)."""
    import numgrad as ng
    ng.set_num_threads(threads)
    mod = peers_module() if peers and make_peer is None else None
    limits = mod.limit_threads(threads, peers) if mod is not None else {}
    make_peer = make_peer or (mod.make if mod is not None else None)
    weights, data = bt.problem(n_f=n_f, layers=layers)
    ours = _NumgradCalls(weights, data)
    ref = ours.to_numpy(ours.grads())
    systems, failed = {}, {}
    for name in ("numgrad",) + tuple(peers):
        try:
            calls = ours if name == "numgrad" else make_peer(name, weights, data)
            check_first(name, calls, ref)
            _warm(name, calls)
            systems[name] = calls
        except Exception as e:  # noqa: BLE001  (a peer that fails: the table says how)
            failed[name] = "fails: " + _first_line(e)
            print(f"W6 {name} at {threads} threads fails: {type(e).__name__}: {e}",
                  file=sys.stderr)
    rounds, repeat = (2, 4) if quick else (5, 10)
    load = [_load()]
    times = time_rounds(systems, rounds, repeat, failed)
    load.append(_load())
    result = {"threads": threads, "limits": {k: str(v) for k, v in limits.items()},
              "numgrad_threads": ng.get_num_threads(), "blas_threads": blas_threads(),
              "versions": mod.versions(systems.keys() - {"numgrad"}) if mod else {},
              "systems": {name: summarise(times[name], threads) for name in systems}}
    result["systems"] = {name: result["systems"].get(name) or failed[name]
                         for name in ("numgrad",) + tuple(peers)}
    result["n_f"] = n_f
    result["load"] = " -> ".join(load)
    return result


def _load():
    try:
        return "%.1f" % os.getloadavg()[0]
    except OSError:
        return "?"


# --- the parent: one fresh process per thread count -------------------------------------------
def worker_command(threads, peers, quick, json_path, n_f=None, layers=None):
    cmd = [sys.executable, "-m", "numgrad.bench_w6", "--worker", "--threads", str(threads),
           "--peers", ",".join(peers), "--json", str(json_path)]
    if quick:
        cmd.append("--quick")
    if n_f is not None:
        cmd += ["--n-f", str(n_f)]
    if layers is not None:
        cmd += ["--layers", ",".join(map(str, layers))]
    return cmd


def run(threads=THREADS, peers=(), quick=False, n_f=None, layers=None):
    """[worker result per thread count], each from its own fresh process."""
    results = []
    for n in threads:
        with tempfile.TemporaryDirectory() as d:
            path = pathlib.Path(d) / "w6.json"
            proc = subprocess.run(worker_command(n, peers, quick, path, n_f, layers),
                                  env=thread_env(n))
            if proc.returncode or not path.is_file():
                raise RuntimeError(f"the W6 process at {n} threads failed (exit status "
                                   f"{proc.returncode}); its stderr is above")
            results.append(json.loads(path.read_text()))
    return results


# --- the table ---------------------------------------------------------------------------------
def _cell(entry, call):
    if isinstance(entry, str):
        return entry
    e = entry[call]
    return f"{e['min_ms']:.3g} / {e['med_ms']:.3g}" + (" !" if e["over_limit"] else "")


def table_rows(results):
    """[{threads, call, <system>: cell..., best_peer_over_numgrad}] and the column names."""
    names = []
    for r in results:
        names += [n for n in r["systems"] if n not in names]
    cols = ["threads", "call"] + names + ["best_peer_over_numgrad"]
    rows = []
    for r in results:
        systems = r["systems"]
        for call in CALLS:
            row = {"threads": str(r["threads"]), "call": call}
            row.update({n: _cell(systems[n], call) if n in systems else "-" for n in names})
            timed = [s[call] for n, s in systems.items() if n != "numgrad" and isinstance(s, dict)]
            ours = systems.get("numgrad")
            if timed and isinstance(ours, dict):
                lo = min(t["min_ms"] for t in timed) / ours[call]["min_ms"]
                med = min(t["med_ms"] for t in timed) / ours[call]["med_ms"]
                row["best_peer_over_numgrad"] = f"{lo:.2f} / {med:.2f}"
            else:
                row["best_peer_over_numgrad"] = "-"
            rows.append(row)
    return rows, cols


def print_table(results, file=None):
    file = file or sys.stdout
    n_f = results[0]["n_f"] if results else bt.N_F
    print(f"W6 (Burgers PINN, float32, N_f = {n_f:,}): ms per call, min / median; each thread "
          "count in its own process", file=file)
    rows, cols = table_rows(results)
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    print(" | ".join(f"{c:>{widths[c]}}" for c in cols), file=file)
    for r in rows:
        print(" | ".join(f"{r[c]:>{widths[c]}}" for c in cols), file=file)
    for r in results:
        cpu = ", ".join(f"{n} {s['grads']['cpu']:.2f}/{s['train']['cpu']:.2f}"
                        for n, s in r["systems"].items() if isinstance(s, dict))
        print(f"cpu / wall at {r['threads']} threads, grads/train: {cpu}; load average "
              f"{r.get('load', '?')}; "
              "numgrad threads "
              f"{r['numgrad_threads']}, BLAS threads {r['blas_threads']}; limits "
              f"{r['limits']}; {r['versions']}", file=file)
        over = [n for n, s in r["systems"].items()
                if isinstance(s, dict) and any(s[c]["over_limit"] for c in CALLS)]
        if over:
            print(f"W6 at {r['threads']} threads: {', '.join(over)} used more than "
                  f"{r['threads']} threads (cells marked !)", file=sys.stderr)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 rounds of 4 calls, not 5 of 10")
    ap.add_argument("--threads", default=",".join(map(str, THREADS)),
                    help="comma-separated thread counts, one process each (default 1,2)")
    ap.add_argument("--peers", help="comma-separated peers (default: all installed)")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--worker", action="store_true",
                    help="(internal) run one thread count in this process")
    ap.add_argument("--n-f", type=int, help="collocation points (default 10,000)")
    ap.add_argument("--layers", help="layer widths, e.g. 2,20,1 (default bench_train.LAYERS)")
    args = ap.parse_args(argv)
    args.threads = [int(t) for t in args.threads.split(",")]
    args.layers = tuple(int(w) for w in args.layers.split(",")) if args.layers else None
    wanted = [p for p in args.peers.split(",") if p] if args.peers is not None else None
    args.peers = [] if args.no_peers else wanted
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        size = {k: v for k, v in (("n_f", args.n_f), ("layers", args.layers)) if v is not None}
        result = worker(args.threads[0], args.peers or [], args.quick, **size)
        pathlib.Path(args.json).write_text(json.dumps(result, indent=1))
        return result
    peers = peer_names(args.peers) if args.peers != [] else []
    results = run(args.threads, peers, args.quick, args.n_f, args.layers)
    print_table(results)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
