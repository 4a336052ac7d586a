"""W6-train: one Adam step of a physics-informed network, numgrad against its peers.

``python -m numgrad.bench_train [--quick] [--no-peers | --peers torch,tf1,jax] [--threads N]
[--ab-interop] [--ab-native] [--ab-rows]``

(``python -m numgrad.bench_w6`` times W6 against every peer, torch.compile and TF-XLA too, with
each thread count in its own process and every system limited to it; here ``--threads`` limits
numgrad alone.)

The network is the Burgers PINN of the speed issue: u(t, x) = MLP [2, 20 x 8, 1] with tanh,
float32; N_u = 100 data points and N_f = 10,000 collocation points; u_t, u_x by
``ng.gradients(u, [t, x])`` and u_xx by ``ng.gradients(u_x, x)``;
``f = u_t + u u_x - (0.01/pi) u_xx``; loss = mean((u - u_data)^2) + mean(f^2).

Columns (median ms of one call):
* ``grads``: ``sess.run([loss] + gradients)`` of the same graph, the reference cost;
* ``train``: ``sess.run([train_op, loss])`` with ``ng.train.AdamOptimizer`` (the update is
  elementwise work the compiler fuses with the gradient's last kernels; variables and slots
  stay in the Session, no copies per step); ``train / grads`` is the target's ratio (<= 1.15);
* peers (benchmarks/bench_w6_peers.py of the checkout), when installed, run the same two calls
  from the same initial weights and data: ``{peer}_ms`` the Adam step, ``{peer}_grads_ms``
  the loss and gradients; by default TF 2.x's ``tf.compat.v1`` graph mode (Session,
  AdamOptimizer), JAX (``jit`` of value_and_grad plus Adam written out) and PyTorch eager
  (torch.autograd.grad with create_graph, torch.optim.Adam); ``--peers`` names others of that
  module (``torch.compile``, ``tf-xla``, ...).  Each peer's first-step loss is checked against
  numgrad's;
* ``--ab-interop``: numgrad's two calls again, alternating call by call between the serial
  order of steps (``NUMGRAD_INTEROP=off``) and the default (``auto``: independent steps at
  once when measured faster, backends/cpu_schedule.py): ``{grads,train}_{off,auto}_{min,med}``
  (min and median ms), so that a loaded machine's noise falls on both alike;
* ``--ab-native``: the same, between the step runner (``NUMGRAD_NATIVE_PLAN=off``) and native
  lanes (``on``, backends/cpu_native.py): ``{grads,train}_{off,on}_{min,med}``;
* ``--ab-rows``: the same, between numgrad's default without row blocks
  (``NUMGRAD_ROW_LANES=off``: native lanes or the step runner, as measured) and row-block
  plans (``on``, backends/cpu_rowblock.py): ``{grads,train}_{off,on}_{min,med}``.
"""
import argparse
import sys
import time

import numpy as np

LAYERS = (2,) + (20,) * 8 + (1,)
N_F = 10000                     # collocation points
NU = 0.01 / np.pi
LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-8


def problem(n_u=100, n_f=N_F, layers=LAYERS, seed=0):
    """Initial weights (Glorot normal, zero biases) and data, as float32 NumPy arrays."""
    rng = np.random.default_rng(seed)
    weights = []
    for a, b in zip(layers[:-1], layers[1:]):
        w = rng.normal(size=(a, b)) * np.sqrt(2.0 / (a + b))
        weights.append((w.astype(np.float32), np.zeros((1, b), np.float32)))
    data = {
        "t_u": rng.uniform(0, 1, (n_u, 1)), "x_u": rng.uniform(-1, 1, (n_u, 1)),
        "u": -np.sin(np.pi * rng.uniform(-1, 1, (n_u, 1))),
        "t_f": rng.uniform(0, 1, (n_f, 1)), "x_f": rng.uniform(-1, 1, (n_f, 1)),
    }
    return weights, {k: v.astype(np.float32) for k, v in data.items()}


def build_numgrad(ng, weights):
    """(loss, variables, placeholders by name) of the PINN in graph mode."""
    variables = []
    for i, (w, b) in enumerate(weights):
        variables.append((ng.Variable(w, name=f"W{i}"), ng.Variable(b, name=f"b{i}")))

    def net(t, x):
        h = ng.concat([t, x], 1)
        for w, b in variables[:-1]:
            h = ng.tanh(ng.matmul(h, w) + b)
        w, b = variables[-1]
        return ng.matmul(h, w) + b
    ph = {k: ng.placeholder(ng.float32, [None, 1], name=k)
          for k in ("t_u", "x_u", "u", "t_f", "x_f")}
    u_pred = net(ph["t_u"], ph["x_u"])
    u = net(ph["t_f"], ph["x_f"])
    u_t, u_x = ng.gradients(u, [ph["t_f"], ph["x_f"]])
    u_xx = ng.gradients(u_x, ph["x_f"])[0]
    f = u_t + u * u_x - NU * u_xx
    loss = ng.reduce_mean(ng.square(ph["u"] - u_pred)) + ng.reduce_mean(ng.square(f))
    return loss, [v for pair in variables for v in pair], ph


def median_ms(fn, repeat, min_time):
    times = []
    t_end = time.perf_counter() + min_time
    while len(times) < repeat or time.perf_counter() < t_end:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def numgrad_callables(weights, data):
    """(grads_call, train_call) for numgrad's cpu backend, not yet called: the loss and its
    gradients, and one Adam step returning [None, loss]."""
    import numgrad as ng
    graph = ng.Graph()
    with graph.as_default():
        loss, variables, ph = build_numgrad(ng, weights)
        grads = ng.gradients(loss, variables)
        train = ng.train.AdamOptimizer(LR, BETA1, BETA2, EPS).minimize(loss)
        sess = ng.Session(graph=graph)
        sess.run(ng.global_variables_initializer())
    keys = list(ph.values())
    vals = [data[k] for k in ph]
    grad_fn = sess.make_callable([loss] + grads, keys)
    train_fn = sess.make_callable([train, loss], keys)
    return (lambda: grad_fn(*vals)), (lambda: train_fn(*vals))


def numgrad_calls(weights, data):
    """(grads_call, train_call, first-step loss) for numgrad's cpu backend."""
    grad_fn, train_fn = numgrad_callables(weights, data)
    first_loss = float(train_fn()[1])
    return grad_fn, train_fn, first_loss


class _TFNamespace:
    """The handful of names build_numgrad uses, from tf.compat.v1."""

    def __init__(self, v1):
        self._v1 = v1
        self.float32 = v1.float32

    def __getattr__(self, name):
        return getattr(self._v1, name)


# The peers' code is benchmarks/bench_w6_peers.py of the checkout (numgrad/bench_w6.py loads
# it); these columns are its PyTorch eager, TF1 Session and JAX jit.  torch first: made after
# TensorFlow in one process, its first step crashed (SIGSEGV, torch 2.14 cpu beside
# tensorflow-cpu 2.21; in that order it runs).
PEERS = ("torch", "tf1", "jax")


def peer_calls(name, weights, data):
    """The peer's Calls (grads, train, to_numpy), or None where it is not installed or numgrad
    runs without its checkout's benchmarks/."""
    from . import bench_w6
    mod = bench_w6.peers_module()
    if mod is None or name not in mod.available_peers():
        return None
    return mod.make(name, weights, data)


def interleaved_ms(fns, repeat, min_time):
    """{name: (min ms, median ms)} of the calls `fns` (name -> (call, config overrides)),
    run one after another, round after round."""
    from numgrad import config
    times = {name: [] for name in fns}
    t_end = time.perf_counter() + min_time
    while min(len(t) for t in times.values()) < repeat or time.perf_counter() < t_end:
        for name, (fn, switches) in fns.items():
            with config.override(**switches):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    return {name: (1e3 * min(t), 1e3 * float(np.median(t))) for name, t in times.items()}


def switch_ab(grad_fn, train_fn, repeat, min_time, switch, modes, warm_calls):
    """numgrad's two calls alternating between the `modes` of config `switch` (after
    `warm_calls` calls of each in the last mode): {grads,train}_{mode}_{min,med} in ms."""
    from numgrad import config
    with config.override(**{switch: modes[-1]}):
        for _ in range(warm_calls):
            grad_fn()
            train_fn()
    fns = {f"{name}_{mode}": (fn, {switch: mode}) for name, fn in
           (("grads", grad_fn), ("train", train_fn)) for mode in modes}
    row = {}
    for name, (lo, med) in interleaved_ms(fns, repeat, min_time).items():
        row[f"{name}_min"], row[f"{name}_med"] = lo, med
    return row


def interop_ab(grad_fn, train_fn, repeat, min_time):
    """The --ab-interop columns (see the module docstring); 20 warm-up calls are the
    choice's profile and trial runs."""
    return switch_ab(grad_fn, train_fn, repeat, min_time, "NUMGRAD_INTEROP", ("off", "auto"),
                     20)


def native_ab(grad_fn, train_fn, repeat, min_time):
    """The --ab-native columns: numgrad's calls alternating between the step runner
    (NUMGRAD_NATIVE_PLAN=off) and native lanes (on), {grads,train}_{off,on}_{min,med}; the
    warm-up calls build (or load) the lanes."""
    return switch_ab(grad_fn, train_fn, repeat, min_time, "NUMGRAD_NATIVE_PLAN", ("off", "on"),
                     3)


def rows_ab(grad_fn, train_fn, repeat, min_time):
    """The --ab-rows columns: numgrad's calls alternating between its default without row
    blocks (NUMGRAD_ROW_LANES=off) and row-block plans (on); the warm-up calls build (or
    load) them and settle the other choices."""
    return switch_ab(grad_fn, train_fn, repeat, min_time, "NUMGRAD_ROW_LANES", ("off", "on"),
                     12)


# (calls, seconds) at least of each timing: --quick's and the default's.  tests/test_bench_train.py
# sets QUICK to no minimum seconds: it checks the columns, not the times.
QUICK = (3, 0.5)
FULL = (10, 2.0)


def run(quick=False, peers=PEERS, n_f=N_F, layers=LAYERS, ab_interop=False,
        ab_native=False, ab_rows=False):
    """The table's row (median ms per column); `n_f` and `layers` size the problem."""
    weights, data = problem(n_f=n_f, layers=layers)
    repeat, min_time = QUICK if quick else FULL
    grad_fn, train_fn, first = numgrad_calls(weights, data)
    grad_fn()
    from numgrad import compile_workers
    compile_workers.wait_all()      # kernels compiling while the first calls are interpreted
    for _ in range(3):                          # compile, thread trials
        grad_fn()
        train_fn()
    row = {"grads_ms": median_ms(grad_fn, repeat, min_time),
           "train_ms": median_ms(train_fn, repeat, min_time)}
    row["train_over_grads"] = row["train_ms"] / row["grads_ms"]
    if ab_interop:
        row.update(interop_ab(grad_fn, train_fn, 4 * repeat, 2 * min_time))
    if ab_native:
        row.update(native_ab(grad_fn, train_fn, 4 * repeat, 2 * min_time))
    if ab_rows:
        row.update(rows_ab(grad_fn, train_fn, 4 * repeat, 2 * min_time))
    for name in peers:
        calls = peer_calls(name, weights, data)
        if calls is None:
            continue
        peer_first = float(calls.train())
        if not np.isclose(peer_first, first, rtol=1e-3):
            raise AssertionError(f"{name}'s first-step loss {peer_first} differs from "
                                 f"numgrad's {first}")
        for _ in range(3):
            calls.train()
            calls.grads()
        row[f"{name}_ms"] = median_ms(calls.train, repeat, min_time)
        row[f"{name}_grads_ms"] = median_ms(calls.grads, repeat, min_time)
    peer_ms = [row[f"{name}_ms"] for name in peers if f"{name}_ms" in row]
    if peer_ms:
        row["best_peer_over_numgrad"] = min(peer_ms) / row["train_ms"]
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help="comma-separated peers of benchmarks/bench_w6_peers.py (default "
                         f"{','.join(PEERS)}; python -m numgrad.bench_w6 runs them all, each "
                         "thread count in its own process)")
    ap.add_argument("--threads", type=int,
                    help="numgrad's kernel threads (the peers keep their defaults)")
    ap.add_argument("--ab-interop", action="store_true",
                    help="also numgrad's calls with NUMGRAD_INTEROP=off and auto, alternating")
    ap.add_argument("--ab-native", action="store_true",
                    help="also numgrad's calls with NUMGRAD_NATIVE_PLAN=off and on, alternating")
    ap.add_argument("--ab-rows", action="store_true",
                    help="also numgrad's calls with NUMGRAD_ROW_LANES=off and on, alternating")
    args = ap.parse_args(argv)
    if args.threads:
        import numgrad as ng
        ng.set_num_threads(args.threads)
    peers = () if args.no_peers else tuple(p for p in args.peers.split(",") if p)
    row = run(args.quick, peers, ab_interop=args.ab_interop,
              ab_native=args.ab_native, ab_rows=args.ab_rows)
    print(" | ".join(f"{k:>22}" for k in row))
    print(" | ".join(f"{v:22.3g}" for v in row.values()))
    return row


if __name__ == "__main__":
    main(sys.argv[1:])
