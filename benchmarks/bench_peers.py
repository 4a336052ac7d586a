"""Peer columns for the benchmark table: ``numgrad.bench``'s workloads in PyTorch, JAX, PyTensor
and hand-written Numba.

``python benchmarks/bench_peers.py [--only W4,W5] [--quick] [--peers torch,jax]`` prints them;
``python -m numgrad.bench`` run from a checkout adds them to its table (numgrad.bench's
peers_module()).  This is the peer libraries' code, so it lives with the benchmarks and not in
the installed package.

Peers (each optional; ``available_peers()`` lists those whose package imports):

* ``"torch"``: PyTorch eager, gradients by ``torch.autograd.grad``.
* ``"torch.compile"``: ``torch.compile(fullgraph=True, dynamic=False)`` of a function returning
  the loss and all gradients (``torch.func.grad_and_value``).  Needs a C++ compiler (Inductor's
  CPU code generation).
* ``"jax"``: ``jax.jit`` of ``jax.value_and_grad(f, argnums=...)`` (the W5 force, -grad, is
  negated inside the jitted function).  ``jax_enable_x64`` is switched on when the JAX part is
  first used, so float64 workloads run in float64 (float32 inputs stay float32).
* ``"pytensor"``: ``pytensor.function`` of the loss and ``pytensor.grad`` of it, compiled with
  PyTensor's C backend (mode ``"CVM"``: each Op's C code, compiled with the C++ compiler, run by
  the C virtual machine; the default before PyTensor 3, whose default is Numba).  Needs a C++
  compiler.
* ``"pytensor-numba"``: the same graph compiled with PyTensor's Numba backend (mode
  ``"NUMBA"``, PyTensor 3's default), the peer closest to numgrad's cpu backend.
* ``"numba-hand"``: the loss and its gradients written by hand as one ``@numba.njit`` function
  per workload (``_hand_numba_kernels``): derivatives worked out on paper, ``parallel=True``
  with ``prange`` where it pays, serial for W4, BLAS through ``@`` for W3.  The bar numgrad's
  generated kernels should reach (issue 20).  Numba is numgrad's own dependency, so this peer
  is always available.

  Both build the graph from symbolic inputs with the data's dtype and static shape, and compile
  it on the first call (so the first-call time includes graph construction, ``pytensor.grad``,
  the graph rewrites and the C or Numba compilation).  The functions are compiled with
  ``trust_input=True`` (no per-call input checks; the inputs are the data's own arrays).

Each peer computes exactly what the workload's NumPy reference (``bench.WORKLOADS[name][1]``)
returns, in the same order: the loss first, then the gradients (W3: with respect to W1, b1, W2,
b2; W5: energy and force).  Constant arrays of a workload (W5's ``eye`` and ``1 - eye`` mask,
which numgrad's graph also holds as constants) are made once by ``make_peer`` and passed to
every call, as numgrad does, rather than rebuilt inside the timed call.

Threads are left at the packages' defaults: PyTorch's intra-op pool is
``torch.get_num_threads()`` (by default the number of physical cores), XLA's CPU backend uses
all cores (Eigen thread pool); ``peer_info`` reports them.  torch.compile also compiles with a
pool of worker processes (``TORCHINDUCTOR_COMPILE_THREADS``) and caches compiled code on disk
(``TORCHINDUCTOR_CACHE_DIR``, default under the temp dir), so its first-call time is a cold
compile only with an empty cache directory; JAX's persistent compilation cache is off unless
configured.  PyTensor's C backend runs single-threaded (``pytensor.config.openmp`` is off by
default) and, installed with pip, finds no BLAS to link (``blas__ldflags`` empty), so its matrix
products fall back to NumPy's ``dot``; its Numba backend's loops are single-threaded too.
PyTensor caches compiled C modules and Numba code on disk under ``pytensor.config.base_compiledir``
(default ``~/.pytensor``; set ``PYTENSOR_FLAGS=base_compiledir=DIR`` before the import to move
it), so its first call is a cold compile only with an empty compile directory.

torch, jax and pytensor are imported inside functions only: importing this module costs nothing
and never fails when they are absent.
"""
import argparse
import functools
import importlib
import shutil
import time

import numpy as np

PEERS = ("torch", "torch.compile", "jax", "pytensor", "pytensor-numba", "numba-hand")
_PYTENSOR_MODES = {"pytensor": "CVM", "pytensor-numba": "NUMBA"}


# --- the workloads, written once against a tiny array namespace (torch, jax.numpy, pytensor) ----
def _w1(xp, x, w, b):
    return xp.sum(xp.tanh(x * w + b) ** 2 + xp.exp(-x * x) * xp.sin(w))


def _w2(xp, X, v):
    return xp.sum(xp.log1p(xp.exp(X * v - xp.mean(X, axis=1, keepdims=True))))


def _w3(xp, x, y, W1, b1, W2, b2):
    h = xp.tanh(x @ W1 + b1)
    logits = h @ W2 + b2
    return xp.mean(-xp.sum(y * xp.log_softmax(logits, axis=1), axis=1))


def _w4(xp, a, b):
    t = a
    for i in range(6):
        t = xp.tanh(t * b + 0.1 * i) + xp.sigmoid(a - t) * 0.5
    return xp.sum(t * t) + xp.mean(xp.exp(-b * b))


def _w5(xp, pos, eye, mask):
    d = pos[:, None, :] - pos[None, :, :]
    r2 = xp.sum(d * d, axis=2) + eye
    inv6 = 1.0 / (r2 * r2 * r2)
    return 2.0 * xp.sum((inv6 * inv6 - inv6) * mask)


def _w5_consts(data):
    eye = np.eye(data[0].shape[0], dtype=data[0].dtype)
    return [eye, 1.0 - eye]


def _identity(grads):
    return list(grads)


def _negate(grads):
    return [-g for g in grads]


# name prefix -> (loss(xp, *inputs, *consts), argnums, consts(data) -> arrays, grads -> outputs)
_SPECS = {
    "W1": (_w1, (0, 1, 2), None, _identity),
    "W2": (_w2, (0, 1), None, _identity),
    "W3": (_w3, (2, 3, 4, 5), None, _identity),
    "W4": (_w4, (0, 1), None, _identity),
    "W5": (_w5, (0,), _w5_consts, _negate),        # energy, force = -grad
}


def _spec(name):
    key = name.split()[0]
    if key not in _SPECS:
        raise KeyError(f"no peer implementation of workload {name!r}")
    return _SPECS[key]


class _TorchNS:
    def __init__(self, torch):
        self.t = torch
        self.tanh, self.exp, self.sin = torch.tanh, torch.exp, torch.sin
        self.log1p, self.sigmoid = torch.log1p, torch.sigmoid

    def sum(self, x, axis=None, keepdims=False):
        return self.t.sum(x) if axis is None else self.t.sum(x, dim=axis, keepdim=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return self.t.mean(x) if axis is None else self.t.mean(x, dim=axis, keepdim=keepdims)

    def log_softmax(self, x, axis):
        return self.t.log_softmax(x, dim=axis)


class _JaxNS:
    def __init__(self, jax):
        jnp = jax.numpy
        self.tanh, self.exp, self.sin, self.log1p = jnp.tanh, jnp.exp, jnp.sin, jnp.log1p
        self.sum, self.mean = jnp.sum, jnp.mean
        self.sigmoid, self.log_softmax = jax.nn.sigmoid, jax.nn.log_softmax


class _PytensorNS:
    def __init__(self, pt):
        self.tanh, self.exp, self.sin, self.log1p = pt.tanh, pt.exp, pt.sin, pt.log1p
        self.sigmoid = pt.sigmoid
        self.pt = pt

    def sum(self, x, axis=None, keepdims=False):
        return self.pt.sum(x, axis=axis, keepdims=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return self.pt.mean(x, axis=axis, keepdims=keepdims)

    def log_softmax(self, x, axis):
        return self.pt.special.log_softmax(x, axis=axis)


# --- lazy imports ------------------------------------------------------------------------------
def _import_torch():
    return importlib.import_module("torch")


def _import_jax():
    jax = importlib.import_module("jax")
    if not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
    return jax


def _import_pytensor():
    return importlib.import_module("pytensor")


def _has_cxx_compiler():
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler
        return bool(get_cpp_compiler())
    except Exception:
        return any(shutil.which(c) for c in ("g++", "c++", "clang++"))


def available_peers():
    """Names of the peers whose package imports here, in PEERS order."""
    found = []
    try:
        torch = _import_torch()
    except Exception:
        torch = None
    if torch is not None:
        found.append("torch")
        if hasattr(torch, "compile") and _has_cxx_compiler():
            found.append("torch.compile")
    try:
        _import_jax()
        found.append("jax")
    except Exception:
        pass
    try:
        pytensor = _import_pytensor()
    except Exception:
        pytensor = None
    if pytensor is not None:
        if pytensor.config.cxx:                 # empty when PyTensor found no C++ compiler
            found.append("pytensor")
        try:
            importlib.import_module("numba")
            found.append("pytensor-numba")
        except Exception:
            pass
    try:
        importlib.import_module("numba")        # numgrad's own dependency: always there
        found.append("numba-hand")
    except Exception:
        pass
    return found


def peer_info(peer):
    """Version and thread count of a peer (the defaults, which this module leaves alone)."""
    if peer in ("torch", "torch.compile"):
        torch = _import_torch()
        return {"version": torch.__version__, "threads": torch.get_num_threads(),
                "interop_threads": torch.get_num_interop_threads()}
    if peer == "jax":
        import os
        jax = _import_jax()
        return {"version": jax.__version__, "devices": [str(d) for d in jax.devices()],
                "threads": os.cpu_count()}
    if peer in _PYTENSOR_MODES:
        pytensor = _import_pytensor()
        cfg = pytensor.config
        info = {"version": pytensor.__version__, "mode": _PYTENSOR_MODES[peer],
                "compiledir": str(cfg.compiledir)}
        if peer == "pytensor":
            info.update(cxx=cfg.cxx, threads=1 if not cfg.openmp else "openmp",
                        blas=cfg.blas__ldflags or "none (matrix products by numpy.dot)")
        else:
            numba = importlib.import_module("numba")
            info.update(numba=numba.__version__, threads=1, fastmath=cfg.numba__fastmath,
                        cache=cfg.numba__cache)
        return info
    if peer == "numba-hand":
        numba = importlib.import_module("numba")
        return {"version": numba.__version__, "threads": numba.get_num_threads(),
                "threading_layer": numba.config.THREADING_LAYER}
    raise ValueError(f"unknown peer {peer!r}; known: {PEERS}")


# --- peers ---------------------------------------------------------------------------------------
def _make_torch(name, data, compiled):
    torch = _import_torch()
    loss_fn, argnums, consts, finish = _spec(name)
    xp = _TorchNS(torch)
    inputs = [torch.from_numpy(a) for a in data]
    const = [torch.from_numpy(c) for c in (consts(data) if consts else [])]

    def f(*args):
        return loss_fn(xp, *args)

    if not compiled:
        for i in argnums:
            inputs[i].requires_grad_(True)
        wrt = [inputs[i] for i in argnums]
        args = inputs + const

        def call():
            loss = f(*args)
            grads = torch.autograd.grad(loss, wrt)
            with torch.no_grad():
                return [loss.detach()] + finish(grads)
        return call

    gv = torch.func.grad_and_value(f, argnums=argnums)

    def step(*args):
        grads, loss = gv(*args)
        return [loss] + finish(grads)

    # Dynamo keeps its compiled code on the code object of `step`, shared by every peer made
    # here; start afresh so entries do not pile up to the recompile limit (past which it would
    # silently run eagerly).  A torch.compile peer made earlier recompiles on its next call.
    torch._dynamo.reset()
    cstep = torch.compile(step, fullgraph=True, dynamic=False)
    args = inputs + const

    def call():
        return cstep(*args)
    return call


def _make_jax(name, data):
    jax = _import_jax()
    loss_fn, argnums, consts, finish = _spec(name)
    xp = _JaxNS(jax)

    def f(*args):
        return loss_fn(xp, *args)

    vg = jax.value_and_grad(f, argnums=argnums)

    def step(*args):
        loss, grads = vg(*args)
        return [loss] + finish(grads)

    jstep = jax.jit(step)
    args = [jax.device_put(a) for a in list(data) + (consts(data) if consts else [])]
    jax.block_until_ready(args)

    def call():
        return jax.block_until_ready(jstep(*args))
    return call


def _make_pytensor(name, data, mode):
    pytensor = _import_pytensor()
    pt = pytensor.tensor
    loss_fn, argnums, consts, finish = _spec(name)
    args = list(data) + (consts(data) if consts else [])
    compiled = []

    def compile_():
        # graph, gradients and compilation: all of it is the first call's work
        xp = _PytensorNS(pt)
        inputs = [pt.tensor(f"x{i}", dtype=a.dtype, shape=a.shape) for i, a in enumerate(args)]
        loss = loss_fn(xp, *inputs)
        grads = pytensor.grad(loss, [inputs[i] for i in argnums])
        return pytensor.function(inputs, [loss] + finish(grads), mode=mode, trust_input=True)

    def call():
        if not compiled:
            compiled.append(compile_())
        return compiled[0](*args)
    return call


# --- hand-written Numba: the loss and its gradients as one @njit function per workload ---------
# What a user who knows Numba writes by hand: the derivatives worked out on paper, one loop nest,
# `parallel=True` with `prange` over the independent rows where that pays (W1, W2, W5), serial
# where the work is too small to share (W4: 16 elements), BLAS through `@` for W3's products.
# Constants of float32 workloads are passed in the data's dtype (`one`), since a Python literal
# would promote the float32 arithmetic to float64.  Outputs are allocated inside the call, as
# numgrad's are.  No fastmath: numgrad's results follow IEEE order too.
@functools.lru_cache(maxsize=None)
def _hand_numba_kernels(parallel):
    """{workload prefix: [njit functions]}; with parallel=False the same code runs serially
    (`prange` is `range` there), and W5 has a second, serial-only form."""
    numba = importlib.import_module("numba")
    prange = numba.prange
    jit = numba.njit(parallel=parallel)
    serial = numba.njit

    @jit
    def w1(x, w, b, one):
        gx, gw, gb = np.empty_like(x), np.empty_like(x), np.empty_like(x)
        loss = 0.0
        for i in prange(x.size):
            xi, wi = x[i], w[i]
            t = np.tanh(xi * wi + b[i])
            e = np.exp(-xi * xi)
            s = np.sin(wi)
            loss += t * t + e * s
            dt = (t + t) * (one - t * t)
            gx[i] = dt * wi - (xi + xi) * e * s
            gw[i] = dt * xi + e * np.cos(wi)
            gb[i] = dt
        return loss, gx, gw, gb

    @jit
    def w2(X, v, one):
        n, m = X.shape
        inv_m = one / np.float32(m)
        chunks = numba.get_num_threads()
        gX = np.empty_like(X)
        part = np.zeros((chunks, m), X.dtype)     # each thread's share of gv
        losses = np.zeros(chunks)
        for c in prange(chunks):
            gv = part[c]
            acc = 0.0
            for i in range(c * n // chunks, (c + 1) * n // chunks):
                row = X[i]
                mean = row.sum() * inv_m
                ssum = np.float32(0.0)
                for j in range(m):
                    e = np.exp(row[j] * v[j] - mean)
                    acc += np.log1p(e)
                    s = e / (one + e)
                    gX[i, j] = s * v[j]
                    gv[j] += s * row[j]
                    ssum += s
                shift = ssum * inv_m
                for j in range(m):
                    gX[i, j] -= shift
            losses[c] = acc
        return losses.sum(), gX, part.sum(axis=0)

    @jit
    def w3(x, y, W1, b1, W2, b2, one):
        n = x.shape[0]
        h = x @ W1
        for i in prange(n):
            for k in range(h.shape[1]):
                h[i, k] = np.tanh(h[i, k] + b1[k])
        g = h @ W2                      # logits, then d loss / d logits in place
        losses = np.zeros(n)
        inv_n = one / np.float32(n)
        for i in prange(n):
            row = g[i]
            for k in range(row.size):
                row[k] += b2[k]
            m = row.max()
            s = np.float32(0.0)
            for k in range(row.size):
                s += np.exp(row[k] - m)
            lse = m + np.log(s)
            loss = 0.0
            for k in range(row.size):
                loss -= y[i, k] * (row[k] - lse)
                row[k] = (np.exp(row[k] - lse) - y[i, k]) * inv_n
            losses[i] = loss
        gW2 = h.T @ g
        gb2 = g.sum(axis=0)
        gh = g @ W2.T
        for i in prange(n):
            for k in range(gh.shape[1]):
                gh[i, k] *= one - h[i, k] * h[i, k]
        return losses.sum() / n, x.T @ gh, gh.sum(axis=0), gW2, gb2

    @serial
    def w4(a, b, one):
        n = a.size
        ga, gb = np.empty_like(a), np.empty_like(a)
        tp, th, sg = np.empty(6), np.empty(6), np.empty(6)
        loss = 0.0
        esum = 0.0
        for k in range(n):
            ak, bk = a[k], b[k]
            t = ak
            for i in range(6):
                tp[i] = t
                th[i] = np.tanh(t * bk + 0.1 * i)
                sg[i] = 1.0 / (1.0 + np.exp(t - ak))
                t = th[i] + 0.5 * sg[i]
            e = np.exp(-bk * bk)
            loss += t * t
            esum += e
            g = 2.0 * t
            gak = 0.0
            gbk = -2.0 * bk * e / n
            for i in range(5, -1, -1):
                dth = g * (1.0 - th[i] * th[i])
                ds = g * 0.5 * sg[i] * (1.0 - sg[i])
                gbk += dth * tp[i]
                gak += ds
                g = dth * bk - ds
            ga[k] = gak + g
            gb[k] = gbk
        return loss + esum / n, ga, gb

    @jit
    def w5(pos, one):
        n = pos.shape[0]
        px, py, pz = pos[:, 0].copy(), pos[:, 1].copy(), pos[:, 2].copy()
        force = np.empty_like(pos)
        energies = np.zeros(n)
        for i in prange(n):
            xi, yi, zi = px[i], py[i], pz[i]
            fx = fy = fz = e = 0.0
            for j in range(n):      # no branch in the loop (it vectorises): the pair i, i masked
                dx, dy, dz = xi - px[j], yi - py[j], zi - pz[j]
                r2 = dx * dx + dy * dy + dz * dz
                other = 0.0 if j == i else 1.0
                ir2 = 1.0 / (r2 + 1.0 - other)
                inv6 = ir2 * ir2 * ir2
                e += other * (inv6 * inv6 - inv6)
                # d energy / d r2 of the pair, counted from both ends (x 2) and d r2 / d p = 2 d
                c = other * 8.0 * (3.0 * inv6 - 6.0 * inv6 * inv6) * ir2
                fx += c * dx
                fy += c * dy
                fz += c * dz
            energies[i] = 2.0 * e
            force[i, 0], force[i, 1], force[i, 2] = -fx, -fy, -fz
        return energies.sum(), force

    @serial
    def w5_pairs_once(pos, one):
        # serial, each pair visited once (Newton's third law): half the arithmetic
        n = pos.shape[0]
        px, py, pz = pos[:, 0].copy(), pos[:, 1].copy(), pos[:, 2].copy()
        fx, fy, fz = np.zeros(n), np.zeros(n), np.zeros(n)
        energy = 0.0
        for i in range(n):
            xi, yi, zi = px[i], py[i], pz[i]
            gx = gy = gz = e = 0.0
            for j in range(i + 1, n):
                dx, dy, dz = xi - px[j], yi - py[j], zi - pz[j]
                ir2 = 1.0 / (dx * dx + dy * dy + dz * dz)
                inv6 = ir2 * ir2 * ir2
                e += inv6 * inv6 - inv6
                c = 8.0 * (3.0 * inv6 - 6.0 * inv6 * inv6) * ir2
                gx += c * dx
                gy += c * dy
                gz += c * dz
                fx[j] += c * dx
                fy[j] += c * dy
                fz[j] += c * dz
            energy += 4.0 * e
            fx[i] -= gx
            fy[i] -= gy
            fz[i] -= gz
        force = np.empty_like(pos)
        force[:, 0], force[:, 1], force[:, 2] = fx, fy, fz
        return energy, force

    kernels = {"W1": [w1], "W2": [w2], "W3": [w3], "W4": [w4], "W5": [w5]}
    if not parallel:
        kernels["W5"].append(w5_pairs_once)
    return kernels


def _make_hand_numba(name, data, tries=3):
    """The fastest of the workload's kernels, parallel and serial, on `data` (the choice a user
    makes when writing it, made here by timing `tries` calls of each)."""
    scalar = data[0].dtype.type
    args = list(data) + [scalar(1)]     # `one`, in the data's dtype (unused by W4, W5)
    best = None
    for parallel in (True, False):
        for candidate in _hand_numba_kernels(parallel)[name.split()[0]]:
            candidate(*args)            # compile
            t = time.perf_counter()
            for _ in range(tries):
                candidate(*args)
            t = time.perf_counter() - t
            if best is None or t < best[0]:
                best = (t, candidate, parallel)
    _, kernel, parallel = best

    def call():
        out = list(kernel(*args))
        out[0] = scalar(out[0])         # the loss, accumulated in float64, in the data's dtype
        return out
    call.choice = (kernel.py_func.__name__, "parallel" if parallel else "serial")
    return call


def make_peer(peer, name, data):
    """A function of no arguments running one call of workload `name` in `peer`: the loss and
    all gradients, on `data` (the NumPy reference's arguments) converted once, here.  It returns
    the peer's arrays (loss first), computed (it blocks); ``to_numpy`` converts them."""
    if peer == "torch":
        return _make_torch(name, data, compiled=False)
    if peer == "torch.compile":
        return _make_torch(name, data, compiled=True)
    if peer == "jax":
        return _make_jax(name, data)
    if peer in _PYTENSOR_MODES:
        return _make_pytensor(name, data, _PYTENSOR_MODES[peer])
    if peer == "numba-hand":
        return _make_hand_numba(name, data)
    raise ValueError(f"unknown peer {peer!r}; known: {PEERS}")


def to_numpy(peer, out):
    """The outputs of a peer's call as NumPy arrays (0-d for the loss)."""
    if peer in ("torch", "torch.compile"):
        return [o.detach().cpu().numpy() for o in out]
    return [np.asarray(o) for o in out]        # jax arrays; pytensor returns NumPy arrays


def peer_compile_seconds(peer, name, data):
    """Seconds of the first call of a freshly made peer, in this process (torch.compile, jax,
    pytensor: tracing or building the graph and compiling, so it depends on what the process and
    on-disk caches hold)."""
    fn = make_peer(peer, name, data)
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def rtol_for(name):
    return 1e-3 if "f32" in name or name in ("W2", "W3") else 1e-8


def measure(peer, name, data, ref=None, quick=False):
    """{"first_call_s", "ms"} of a peer on a workload; outputs checked against `ref` if given."""
    from numgrad import bench
    fn = make_peer(peer, name, data)
    t = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t
    if ref is not None:
        bench.check(to_numpy(peer, out), ref, rtol_for(name))
    ms = bench.median_time(fn, repeat=3 if quick else 7) * 1e3
    return {"first_call_s": first, "ms": ms}


def main(argv=None):
    import numgrad as ng
    from numgrad import bench
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated workload names (prefix match)")
    ap.add_argument("--peers", help="comma-separated peers (default: all available)")
    ap.add_argument("--quick", action="store_true", help="fewer repeats, no 1e7 sizes")
    args = ap.parse_args(argv)
    peers = available_peers()
    if args.peers:
        peers = [p for p in args.peers.split(",") if p in peers]
    names = [n for n in bench.WORKLOADS if not (args.quick and "1e7" in n)]
    if args.only:
        wanted = [w.strip() for w in args.only.split(",")]
        names = [n for n in names if any(n.startswith(w) for w in wanted)]
    for p in peers:
        print(p, peer_info(p))
    print(" | ".join(f"{c:>14}" for c in ["workload", "peer", "ms", "first_call_s"]))
    for name in names:
        ng.reset_default_graph()
        data = bench.WORKLOADS[name][0](ng)[2]
        ref = bench.WORKLOADS[name][1](*data)
        for p in peers:
            try:
                r = measure(p, name, data, ref, args.quick)
                print(f"{name:>14} | {p:>14} | {r['ms']:14.3g} | {r['first_call_s']:14.3g}",
                      flush=True)
            except Exception as e:          # one peer failing a workload does not end the table
                print(f"{name:>14} | {p:>14} | failed: {type(e).__name__}: {e}", flush=True)


if __name__ == "__main__":
    main()
