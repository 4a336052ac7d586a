"""The ceiling of row-block lanes for W6: the PINN's loss and gradients written by hand as
blocks of rows, against numgrad and TF1 in one process.

``python -m numgrad.bench_rowblock [--rows B ...] [--repeats R] [--threads N ...] [--no-tf]
[--products | --kernels | --plan | --generated | --columns | --chains]``

Why: W6 (bench_train.py) spends its time on (10000, 20) arrays: ~60 products with a (20, 20)
right operand, ~35 weight-gradient products X^T @ dY over the 10,000 rows and ~30 fused
kernels that stream 800 KB arrays from memory.  Everything except the sums over rows is
row-local, so the whole chain can run on a block of B rows at a time with every array of the
block in cache, each thread taking its own share of the blocks and accumulating its own
partial weight and bias gradients (sgemm with beta = 1), added once at the end.  This module
measures what that layout can give before any planner produces it: `block_grads` is the
gradient graph numgrad builds for W6 (forward pass, u_t and u_x by reverse mode, u_xx by
reverse over that, then the loss's gradient through all three), differentiated by hand,
with the same kinds and nearly the same number of products (per block: 63 products with a
(20, 20) or (20, 2) right operand, 2 matrix-vector products, 33 weight-gradient products,
numgrad's plan has 60 + 35 + a few with one column), every elementwise factor
written out in Numba loops.  BLAS is NumPy's OpenBLAS called from the nogil function
(kernels/cpu/blas_call.py), at one BLAS thread; the threads are numgrad's pool.

Columns (ms of one `[loss] + gradients` call, min and median over interleaved rounds; the
1-thread and 2-thread phases run one after the other, each interleaved within itself):
numgrad's `sess.run` (its default, native lanes where they are measured faster), the
row-block prototype for each block size B, and TF 2.x's tf.compat.v1 Session running the same
graph's gradients (`tf1_grads`) and its Adam step (`tf1_train`, bench_train's peer column),
with intra- and inter-op threads set to the phase's count.  The prototype's loss and
gradients are checked against numgrad's before timing.

``--products``: W6's two kinds of product, whole and in blocks of rows (`products`);
``--kernels``: numgrad's own fused kernels of W6's plan over whole arrays and in blocks
(`kernel_blocks`); ``--plan``: the roles compiler/row_blocks.py gives W6's plans' steps;
``--generated``: numgrad's own row-block plan of W6 (backends/cpu_rowblock.py) for each block
size against numgrad without row blocks (its native lanes or step runner, as measured) and
the prototype, interleaved (`generated`); ``--columns``: W6's row-block plans (loss and
gradients; the Adam step) over blocks kept row by row and column by column
(NUMGRAD_ROW_COLUMNS, compiler/row_transpose.py), interleaved (`columns_ab`); ``--chains``:
the same plans with and without recomputed chains of cheap nodes (NUMGRAD_FUSE_CHAINS,
compiler/fuse.py), interleaved (`chains_ab`).
"""
import argparse
import sys
import time

import numpy as np
from numba import njit

from . import bench_train
from .kernels import vecmath
from .kernels.cpu import blas_call
from .kernels.cpu.blas_call import NO_TRANS, ROW_MAJOR, TRANS, sgemm

HIDDEN = 8              # hidden layers of the W6 network (bench_train.LAYERS)
WIDTH = 20


@njit(nogil=True, cache=True, error_model="numpy")
def gemm(a, b, out, ta, tb, beta):
    """out = op(a) @ op(b) (beta 0) or out += op(a) @ op(b) (beta 1), float32 C-contiguous
    2-D arrays (op: transpose when ta / tb is 1), always by sgemm."""
    if beta:
        blas_call.matmul_acc_into(blas_call.read_only(a), blas_call.read_only(b), out, ta == 1,
                                  tb == 1)
        return
    m, n = out.shape
    k = a.shape[0] if ta else a.shape[1]
    sgemm(ROW_MAJOR, TRANS if ta else NO_TRANS, TRANS if tb else NO_TRANS, m, n, k,
          np.float32(1.0), a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1],
          np.float32(0.0), out.ctypes.data, n)


@njit(nogil=True, cache=True, error_model="numpy", inline="always")
def flat(a):
    """The C-contiguous array `a` as one row (a view): loops over it vectorise."""
    return a.reshape(a.size)


@njit(nogil=True, cache=True, error_model="numpy")
def forward(h0, W, b, H, u):
    """H[l] = tanh(H[l-1] @ W[l] + b[l]) (H[-1] = h0), u = H[7] @ W[8] + b[8]."""
    nb = h0.shape[0]
    for l in range(HIDDEN):
        hin = h0 if l == 0 else H[l - 1]
        hl = H[l]
        gemm(hin, W[l], hl, 0, 0, 0.0)
        bl = b[l]
        for i in range(nb):
            for j in range(WIDTH):
                hl[i, j] += bl[0, j]
        hf = flat(hl)
        for k in range(nb * WIDTH):
            hf[k] = vecmath.tanh(hf[k])
    gemm(H[HIDDEN - 1], W[HIDDEN], u, 0, 0, 0.0)
    for i in range(nb):
        u[i, 0] += b[HIDDEN][0, 0]


@njit(nogil=True, cache=True, error_model="numpy")
def column_sums_into(a, out):
    """out[0, :] += the sums of a's columns (row by row: the loop over columns vectorises
    without reassociating a sum)."""
    acc = np.zeros(a.shape[1], np.float32)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            acc[j] += a[i, j]
    for j in range(a.shape[1]):
        out[0, j] += acc[j]


@njit(nogil=True, cache=True, error_model="numpy")
def backward_forward(h0, W, H, dH, du, dW, db, T1, T2):
    """The loss's gradient through `forward`, given du and what dH holds already:
    accumulates dW and db (beta = 1)."""
    nb = h0.shape[0]
    w8 = W[HIDDEN]
    d7 = dH[HIDDEN - 1]
    s = np.float32(0.0)
    for i in range(nb):
        for j in range(WIDTH):
            d7[i, j] += du[i, 0] * w8[j, 0]
        s += du[i, 0]
    db[HIDDEN][0, 0] += s
    gemm(H[HIDDEN - 1], du, dW[HIDDEN], 1, 0, 1.0)
    t1, t2 = flat(T1), flat(T2)
    for l in range(HIDDEN - 1, -1, -1):
        hl, dl = flat(H[l]), flat(dH[l])
        for k in range(nb * WIDTH):
            t2[k] = dl[k] * (np.float32(1.0) - hl[k] * hl[k])
        column_sums_into(T2, db[l])
        hin = h0 if l == 0 else H[l - 1]
        gemm(hin, T2, dW[l], 1, 0, 1.0)
        if l > 0:
            gemm(T2, W[l], T1, 0, 1, 0.0)
            dp = flat(dH[l - 1])
            for k in range(nb * WIDTH):
                dp[k] += t1[k]


@njit(nogil=True, cache=True, error_model="numpy")
def derivatives(h0, W, H, GH, GZ, AGZ, AGH, AHT, AZ, g0, ag0, a0, T1):
    """u_t, u_x (g0 = du/d[t, x]) by reverse mode over `forward`, and u_xx (a0[:, 1]) by
    reverse mode over that, keeping every intermediate the loss's gradient needs."""
    nb = h0.shape[0]
    n = nb * WIDTH
    w8 = W[HIDDEN]
    g7 = GH[HIDDEN - 1]
    for i in range(nb):
        for j in range(WIDTH):
            g7[i, j] = w8[j, 0]
    for l in range(HIDDEN - 1, -1, -1):          # gh[l-1] = (gh[l] * (1 - h^2)) @ W^T
        hl, gl, zl = flat(H[l]), flat(GH[l]), flat(GZ[l])
        for k in range(n):
            zl[k] = gl[k] * (np.float32(1.0) - hl[k] * hl[k])
        gemm(GZ[l], W[l], g0 if l == 0 else GH[l - 1], 0, 1, 0.0)
    for i in range(nb):
        ag0[i, 0] = 0.0
        ag0[i, 1] = 1.0
    for l in range(HIDDEN):                      # the adjoint of u_x, up the first chain
        gemm(ag0 if l == 0 else AGH[l - 1], W[l], AGZ[l], 0, 0, 0.0)
        hl, gl, al, agh, aht = flat(H[l]), flat(GH[l]), flat(AGZ[l]), flat(AGH[l]), \
            flat(AHT[l])
        for k in range(n):
            h = hl[k]
            agh[k] = al[k] * (np.float32(1.0) - h * h)
            aht[k] = al[k] * gl[k] * (np.float32(-2.0) * h)
    t1 = flat(T1)
    for l in range(HIDDEN - 1, -1, -1):          # ... and down the forward pass
        hl, aht, az = flat(H[l]), flat(AHT[l]), flat(AZ[l])
        for k in range(n):
            az[k] = aht[k] * (np.float32(1.0) - hl[k] * hl[k])
        if l == 0:
            gemm(AZ[0], W[0], a0, 0, 1, 0.0)
        else:
            gemm(AZ[l], W[l], T1, 0, 1, 0.0)
            prev = flat(AHT[l - 1])
            for k in range(n):
                prev[k] += t1[k]


@njit(nogil=True, cache=True, error_model="numpy")
def reverse_derivatives(W, H, GH, GZ, AGZ, AGH, AHT, AZ, ag0, dG0, dA0, dH, dAGZ, dGH, dW,
                        T1, T2):
    """The loss's gradient through `derivatives`, given dG0 (of u_t, u_x) and dA0 (of u_xx):
    fills dH (the gradient reaching the forward pass's H) and accumulates dW (beta = 1)."""
    nb = dG0.shape[0]
    n = nb * WIDTH
    t1, t2 = flat(T1), flat(T2)
    for l in range(HIDDEN):                      # through the down chain (AZ, AHT)
        dahin = dA0 if l == 0 else T1
        gemm(dahin, W[l], T2, 0, 0, 0.0)
        gemm(dahin, AZ[l], dW[l], 1, 0, 1.0)
        hl, gl, al, aht = flat(H[l]), flat(GH[l]), flat(AGZ[l]), flat(AHT[l])
        dh, dag, dgh = flat(dH[l]), flat(dAGZ[l]), flat(dGH[l])
        for k in range(n):
            h = hl[k]
            m2h = np.float32(-2.0) * h
            d = t2[k] * (np.float32(1.0) - h * h)
            dh[k] = t2[k] * aht[k] * m2h + d * al[k] * gl[k] * np.float32(-2.0)
            dag[k] = d * gl[k] * m2h
            dgh[k] = d * al[k] * m2h
            t1[k] = d
    for l in range(HIDDEN - 1, -1, -1):          # through the up chain (AGZ, AGH)
        hl, al, dh, dag = flat(H[l]), flat(AGZ[l]), flat(dH[l]), flat(dAGZ[l])
        if l < HIDDEN - 1:
            for k in range(n):
                h = hl[k]
                dag[k] += t1[k] * (np.float32(1.0) - h * h)
                dh[k] += t1[k] * al[k] * (np.float32(-2.0) * h)
        gemm(ag0 if l == 0 else AGH[l - 1], dAGZ[l], dW[l], 1, 0, 1.0)
        if l > 0:
            gemm(dAGZ[l], W[l], T1, 0, 1, 0.0)
    for l in range(HIDDEN):                      # through the first chain (GZ, GH)
        dghin = dG0 if l == 0 else T1
        gemm(dghin, W[l], T2, 0, 0, 0.0)
        gemm(dghin, GZ[l], dW[l], 1, 0, 1.0)
        hl, gl, dh, dgh = flat(H[l]), flat(GH[l]), flat(dH[l]), flat(dGH[l])
        for k in range(n):
            h = hl[k]
            t1[k] = dgh[k] + t2[k] * (np.float32(1.0) - h * h)
            dh[k] += t2[k] * gl[k] * (np.float32(-2.0) * h)
    w8 = dW[HIDDEN]                              # gh[7] = ones @ W[8]^T
    acc = np.zeros((1, WIDTH), np.float32)
    column_sums_into(T1, acc)
    for j in range(WIDTH):
        w8[j, 0] += acc[0, j]


@njit(nogil=True, cache=True, error_model="numpy")
def block_grads(t, x, start, stop, W, b, nu, scale, dW, db, ws):
    """The collocation part of the loss on rows [start, stop) (a multiple of the block size
    `ws[0].shape[1]`, blocks of that size): accumulates its gradient into dW and db and
    returns its sum of f^2.  `scale` = 2 / N_f."""
    H, GH, GZ, AGZ, AGH, AHT, AZ, dH, dAGZ, dGH, T1, T2 = ws[0], ws[1], ws[2], ws[3], ws[4], \
        ws[5], ws[6], ws[7], ws[8], ws[9], ws[10][0], ws[10][1]
    nb = H.shape[1]
    h0 = np.empty((nb, 2), np.float32)
    ag0 = np.empty((nb, 2), np.float32)
    g0 = np.empty((nb, 2), np.float32)
    a0 = np.empty((nb, 2), np.float32)
    dG0 = np.empty((nb, 2), np.float32)
    dA0 = np.empty((nb, 2), np.float32)
    u = np.empty((nb, 1), np.float32)
    du = np.empty((nb, 1), np.float32)
    total = 0.0
    for r0 in range(start, stop, nb):
        for i in range(nb):
            h0[i, 0] = t[r0 + i, 0]
            h0[i, 1] = x[r0 + i, 0]
        forward(h0, W, b, H, u)
        derivatives(h0, W, H, GH, GZ, AGZ, AGH, AHT, AZ, g0, ag0, a0, T1)
        for i in range(nb):
            f = g0[i, 0] + u[i, 0] * g0[i, 1] - nu * a0[i, 1]
            total += f * f
            df = scale * f
            dG0[i, 0] = df
            dG0[i, 1] = df * u[i, 0]
            du[i, 0] = df * g0[i, 1]
            dA0[i, 0] = 0.0
            dA0[i, 1] = -nu * df
        reverse_derivatives(W, H, GH, GZ, AGZ, AGH, AHT, AZ, ag0, dG0, dA0, dH, dAGZ, dGH,
                            dW, T1, T2)
        backward_forward(h0, W, H, dH, du, dW, db, T1, T2)
    return total


@njit(nogil=True, cache=True, error_model="numpy")
def data_grads(t, x, target, W, b, dW, db, ws):
    """The data part of the loss (all rows of t, x, one block): accumulates its gradient
    into dW and db and returns mean((target - u)^2)."""
    H, dH, T1, T2 = ws[0], ws[7], ws[10][0], ws[10][1]
    n = t.shape[0]
    h0 = np.empty((n, 2), np.float32)
    u = np.empty((n, 1), np.float32)
    du = np.empty((n, 1), np.float32)
    for i in range(n):
        h0[i, 0] = t[i, 0]
        h0[i, 1] = x[i, 0]
    forward(h0, W, b, H, u)
    total = 0.0
    for i in range(n):
        r = target[i, 0] - u[i, 0]
        total += r * r
        du[i, 0] = np.float32(-2.0 / n) * r
    dH[:] = 0.0
    backward_forward(h0, W, H, dH, du, dW, db, T1, T2)
    return total / n


def workspace(rows):
    """One thread's buffers for blocks of `rows` rows: ten (8, rows, 20) stacks and two
    (rows, 20) temporaries."""
    stacks = tuple(np.zeros((HIDDEN, rows, WIDTH), np.float32) for _ in range(10))
    return stacks + (np.zeros((2, rows, WIDTH), np.float32),)


class RowBlocks:
    """The prototype: `__call__()` returns [loss] + gradients as numgrad fetches them
    (W0, b0, ..., W8, b8), the collocation rows split in blocks of `rows` over `threads`
    threads (the calling thread and numgrad's pool)."""

    def __init__(self, weights, data, rows, threads):
        if not blas_call.available():        # registers the BLAS symbols gemm links to
            raise RuntimeError(blas_call.describe())
        self.W = tuple(np.ascontiguousarray(w) for w, _ in weights)
        self.b = tuple(np.ascontiguousarray(b) for _, b in weights)
        self.data = data
        n = data["t_f"].shape[0]
        if n % rows:
            raise ValueError(f"{n} collocation rows are not a multiple of the block size {rows}")
        blocks = n // rows
        cuts = [rows * (blocks * k // threads) for k in range(threads + 1)]
        self.ranges = list(zip(cuts[:-1], cuts[1:]))
        self.ws = [workspace(rows) for _ in range(threads)]
        self.data_ws = workspace(data["t_u"].shape[0])
        self.partials = [(tuple(np.zeros_like(w) for w in self.W),
                          tuple(np.zeros_like(b) for b in self.b)) for _ in range(threads)]
        self.scale = np.float32(2.0 / n)
        self.nu = np.float32(bench_train.NU)
        self.n = n

    def _part(self, k):
        dW, db = self.partials[k]
        for a in dW + db:
            a[:] = 0.0
        d = self.data
        lo, hi = self.ranges[k]
        total = block_grads(d["t_f"], d["x_f"], lo, hi, self.W, self.b, self.nu, self.scale,
                            dW, db, self.ws[k])
        if k == 0:
            total += self.n * data_grads(d["t_u"], d["x_u"], d["u"], self.W, self.b, dW, db,
                                         self.data_ws)
        return total

    def __call__(self):
        from . import threads
        helpers = [threads.pool().submit(self._part, k) for k in range(1, len(self.ranges))]
        totals = [self._part(0)] + [f.result() for f in helpers]
        parts = self.partials
        grads = []
        for i in range(len(self.W)):
            grads.append(sum(p[0][i] for p in parts[1:]) + parts[0][0][i])
            grads.append(sum(p[1][i] for p in parts[1:]) + parts[0][1][i])
        # the data loss comes back times n from part 0 (a mean there, a sum here)
        return [np.float32(sum(totals) / self.n)] + grads


def tf1_grads(weights, data, threads):
    """TF's tf.compat.v1 Session at `threads` intra/inter-op threads: (grads call, train
    call), the same graph as numgrad's (bench_train.build_numgrad)."""
    import tensorflow as tf
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        loss, variables, ph = bench_train.build_numgrad(bench_train._TFNamespace(v1), weights)
        grads = v1.gradients(loss, variables)
        train = v1.train.AdamOptimizer(bench_train.LR, bench_train.BETA1, bench_train.BETA2,
                                       bench_train.EPS).minimize(loss)
        init = v1.global_variables_initializer()
    cfg = v1.ConfigProto(intra_op_parallelism_threads=threads,
                         inter_op_parallelism_threads=threads)
    sess = v1.Session(graph=graph, config=cfg)
    sess.run(init)
    feed = {ph[k]: data[k] for k in ph}
    return (lambda: sess.run([loss] + grads, feed)), (lambda: sess.run([train, loss], feed))


def check(got, want):
    """Largest error of `got` against `want` (lists of arrays), relative to each array's
    largest magnitude."""
    worst = 0.0
    for g, w in zip(got, want):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        worst = max(worst, float(np.max(np.abs(g - w)) / max(np.max(np.abs(w)), 1e-30)))
    return worst


def phase(calls, repeats):
    """{name: (min ms, median ms)} of `calls`, interleaved round by round."""
    times = phase_seconds(calls, repeats)
    return {k: (1e3 * min(v), 1e3 * float(np.median(v))) for k, v in times.items()}


def run(rows=(250, 500, 1000), repeats=30, tf=True, thread_counts=(1, 2)):
    """{threads: {column: (min ms, median ms)}} and the prototype's largest relative error
    against numgrad's values."""
    import numgrad as ng
    from numgrad import blas_threads, compile_workers
    weights, data, sess, fetches, feed = _w6_grads()
    grad_fn = sess.make_callable(fetches, list(feed))
    vals = list(feed.values())
    want = grad_fn(*vals)
    compile_workers.wait_all()
    error = 0.0
    table = {}
    for n in thread_counts:
        ng.set_num_threads(n)
        for _ in range(10):                     # lanes built or loaded, trials decided
            grad_fn(*vals)
        calls = {"numgrad": lambda: grad_fn(*vals)}
        for r in rows:
            proto = RowBlocks(weights, data, r, n)
            error = max(error, check(proto(), want))
            calls[f"rows{r}"] = _one_blas_thread(proto, blas_threads)
        if tf:
            calls["tf1_grads"], calls["tf1_train"] = tf1_grads(weights, data, n)
        table[n] = phase(calls, repeats)
    return table, error


def plan_roles():
    """{call: (rows, {role: (steps, estimated ms)})} of W6's two plans (loss and gradients;
    the Adam step) by compiler/row_blocks.py: how much of numgrad's own plans a row-block
    planner could take from the ops' declarations."""
    from .backends import cpu_native
    from .compiler import row_blocks
    _, _, sess, calls, feed = _w6_session("cpu", adam=True)
    out = {}
    for name, fetches in calls.items():
        plan = sess._compiled_plan(fetches, feed)       # as tests/plan_checks.py reads it
        rows, roles = row_blocks.summary(plan, cpu_native.estimated_costs(plan))
        out[name] = (rows, {k: (n, 1e3 * sec) for k, (n, sec) in roles.items()})
    return out


def generated(rows=(256, 512, 1024), repeats=30, thread_counts=(1, 2)):
    """{threads: {column: (min ms, median ms)}} of W6's loss and gradients: numgrad without
    row blocks (NUMGRAD_ROW_LANES=off), its row-block plan with blocks of each size in
    `rows` (the same compiled functions: the block size is an argument), and the
    prototype with blocks of 500; and the largest relative error of the row-block results
    against numgrad's."""
    import numgrad as ng
    from numgrad import blas_threads, compile_workers, config
    from numgrad.backends import cpu_rowblock
    weights, data, sess, fetches, feed = _w6_grads()
    grad_fn = sess.make_callable(fetches, list(feed))
    vals = list(feed.values())
    with config.override(NUMGRAD_ROW_LANES="off"):
        want = grad_fn(*vals)
    compile_workers.wait_all()
    plan = sess._compiled_plan(fetches, feed)
    error, table = 0.0, {}
    for n in thread_counts:
        ng.set_num_threads(n)
        with config.override(NUMGRAD_ROW_LANES="on"):
            grad_fn(*vals)                      # builds (or loads) the row-block plan
        choice = plan._native.rows
        with config.override(NUMGRAD_ROW_LANES="off"):
            for _ in range(10):                 # lanes built or loaded, trials decided
                grad_fn(*vals)
        calls = {"numgrad": _switched(grad_fn, vals, config, "off")}
        for b in rows:
            made = cpu_rowblock.RowPlan(plan, n, block=b)
            calls[f"generated{b}"] = _switched(grad_fn, vals, config, "on", choice, made)
            error = max(error, check(calls[f"generated{b}"](), want))
        calls["prototype500"] = _one_blas_thread(RowBlocks(weights, data, 500, n), blas_threads)
        table[n] = phase(calls, repeats)
    return table, error


def columns_ab(rows=(512,), repeats=30, thread_counts=(1, 2)):
    """{threads: {column: (min ms, median ms)}} of W6's loss and gradients (`grads`) and
    its Adam step (`train`), each as a row-block plan over blocks kept row by row (`rows`)
    and column by column (`columns`, NUMGRAD_ROW_COLUMNS), for each block size in `rows`,
    all interleaved; and the largest relative error of the gradients against numgrad's
    without row blocks."""
    import numgrad as ng
    from numgrad import config
    from numgrad.backends import cpu_rowblock
    _, _, sess, calls, feed = _w6_session("cpu", adam=True)
    vals = list(feed.values())
    fns, plans = {}, {}
    for name, fetches in calls.items():
        fns[name] = sess.make_callable(fetches, list(feed))
        with config.override(NUMGRAD_ROW_LANES="on"):
            fns[name](*vals)                    # builds the plan's row-block choice
        plans[name] = sess._compiled_plan(fetches, feed)
    error, table = 0.0, {}
    for n in thread_counts:
        ng.set_num_threads(n)
        with config.override(NUMGRAD_ROW_LANES="on"):
            for fn in fns.values():             # each choice rebuilt for n threads first,
                fn(*vals)                       # so that the swapped plans below stay
        with config.override(NUMGRAD_ROW_LANES="off"):
            want = fns["grads"](*vals)          # at the variables the Adam steps left
        calls = {}
        for name, plan in plans.items():
            choice = plan._native.rows
            for b in rows:
                for layout, columns in (("rows", False), ("columns", True)):
                    with config.override(NUMGRAD_ROW_COLUMNS=columns):
                        made = cpu_rowblock.RowPlan(plan, n, block=b)
                    call = _switched(fns[name], vals, config, "on", choice, made)
                    got = call()
                    if name == "grads":     # (checked before the Adam steps move them)
                        error = max(error, check(got, want))
                    calls[f"{name} {layout} B={b}"] = call
        table[n] = phase(calls, repeats)
    return table, error


def chains_ab(rows=512, repeats=30, thread_counts=(1, 2)):
    """{threads: {column: (min ms, median ms)}} of W6's loss and gradients (`grads`) and its
    Adam step (`train`) as row-block plans whose fused loops recompute chains of cheap nodes
    (`chains`, NUMGRAD_FUSE_CHAINS, compiler/fuse.py) or not (`no chains`), each pair of
    plans in its own Session from the same weights, all interleaved; and the largest
    relative error of the gradients between the two."""
    import numgrad as ng
    from numgrad import config
    fns, vals = {}, None
    for label, chains in (("chains", True), ("no chains", False)):
        with config.override(NUMGRAD_FUSE_CHAINS=chains):
            _, _, sess, calls, feed = _w6_session("cpu", adam=True)
            vals = list(feed.values())
            for name, fetches in calls.items():
                fn = sess.make_callable(fetches, list(feed))
                _until_rows(fn, vals, sess._compiled_plan(fetches, feed), config)
                fns[f"{name} {label}"] = fn
    got = [fns[f"grads {label}"](*vals) for label in ("chains", "no chains")]
    error = check(got[0], got[1])
    table = {}
    for n in thread_counts:
        ng.set_num_threads(n)
        calls = {k: _switched(fn, vals, config, "on") for k, fn in fns.items()}
        table[n] = phase(calls, repeats)
    return table, error


def _until_rows(fn, vals, plan, config, tries=600):
    """Calls `fn` (NUMGRAD_ROW_LANES=on) until `plan` runs as row blocks (on a cold cache
    the first calls wait for other compiles running in the background)."""
    with config.override(NUMGRAD_ROW_LANES="on"):
        for _ in range(tries):
            fn(*vals)
            native = getattr(plan, "_native", None)
            made = native.rows.native if native is not None and native.rows else None
            if made is not None and made.completed:
                return
            time.sleep(0.2)
    raise RuntimeError("the plan never ran as row blocks")


def _switched(grad_fn, vals, config, mode, choice=None, made=None):
    def call():
        if made is not None:
            choice.native = made
        with config.override(NUMGRAD_ROW_LANES=mode):
            return grad_fn(*vals)
    return call


def _w6_session(backend=None, adam=False):
    """W6's problem and numgrad's session of it: (weights, data, the session with the
    variables initialised, {"grads": [loss] + gradients, and with `adam` "train": [loss,
    an Adam step's train op]}, the feed dict)."""
    import numgrad as ng
    weights, data = bench_train.problem()
    graph = ng.Graph()
    with graph.as_default():
        loss, variables, ph = bench_train.build_numgrad(ng, weights)
        calls = {"grads": [loss] + ng.gradients(loss, variables)}
        if adam:
            calls["train"] = [loss, ng.train.AdamOptimizer(bench_train.LR).minimize(loss)]
        sess = ng.Session(graph=graph, backend=backend)
        sess.run(ng.global_variables_initializer())
    return weights, data, sess, calls, {ph[k]: data[k] for k in ph}


def _w6_grads(backend=None):
    """W6's loss and gradients: (weights, data, a session with the variables initialised,
    the fetches [loss] + gradients, the feed dict)."""
    weights, data, sess, calls, feed = _w6_session(backend)
    return weights, data, sess, calls["grads"], feed


def _w6_plan():
    """numgrad's compiled plan of W6's loss and gradients (cpu backend)."""
    _, _, sess, fetches, feed = _w6_grads("cpu")
    return sess._compiled_plan(fetches, feed)


def _kernel_args(run, rows, block, rng, chunks):
    """Arguments of a group kernel (GroupRunner's order) with random loads, its first
    dimension `rows` cut to `block` (arrays of `rows` rows get `block`)."""
    def cut(shape):
        return (block,) + tuple(shape[1:]) if shape and shape[0] == rows else tuple(shape)
    sizes = [np.int64(block if k == 0 else d) for k, d in enumerate(run.sizes)]
    args = run.leading(sizes, np.int64(chunks))     # (mode 7 over all chunks,) sizes (, C)
    for _, shape in run.loads:
        args.append(rng.standard_normal(cut(shape)).astype(np.float32) * np.float32(0.5))
    args += list(run.scalars)
    for _, _, dtype, kshape in run.outs_and_reds:
        args.append(np.zeros(cut(kshape), dtype))
    args += [np.zeros((chunks,) + tuple(shape[1:]), dtype) for shape, dtype in run.parts]
    args += [np.int64(c) for c in run.counts]
    return args


def kernel_blocks(block=500, copies=6, repeats=20):
    """numgrad's own fused kernels of W6's plan (one thread) over the whole rows and over
    blocks of `block` rows: {"whole_hot", "whole_cold", "blocks": seconds a call of all the
    plan's group kernels over the collocation rows}.  whole_hot reuses one set of arrays
    (they stay in L2/L3), whole_cold rotates `copies` sets (as the plan's intermediates come
    from memory), blocks calls each kernel rows / block times on one block's arrays (in
    cache, as a row-block lane would)."""
    from .compiler import row_blocks
    plan = _w6_plan()
    rows, roles = row_blocks.classify(plan)
    rng = np.random.default_rng(0)
    runs = [run for st, run, role in zip(plan.steps, plan.runners, roles)
            if st.kind == "group" and role in (row_blocks.ROW, row_blocks.REDUCE)]
    out = {"whole_hot": 0.0, "whole_cold": 0.0, "blocks": 0.0, "kernels": len(runs)}
    for run in runs:
        k = run.kernel
        whole = [_kernel_args(run, rows, rows, rng, run.C) for _ in range(copies)]
        part = _kernel_args(run, rows, block, rng, 1)
        k(*whole[0])
        k(*part)
        hot, cold, blocked = [], [], []
        for r in range(repeats):
            t0 = time.perf_counter()
            k(*whole[0])
            t1 = time.perf_counter()
            k(*whole[1 + r % (copies - 1)])
            t2 = time.perf_counter()
            for _ in range(rows // block):
                k(*part)
            t3 = time.perf_counter()
            hot.append(t1 - t0)
            cold.append(t2 - t1)
            blocked.append(t3 - t2)
        out["whole_hot"] += min(hot)
        out["whole_cold"] += min(cold)
        out["blocks"] += min(blocked)
    return out


@njit(nogil=True, cache=True)
def xw_in_blocks(x, w, out, block):
    """out = x @ w as products of `block` rows (rows a multiple of `block`)."""
    for b in range(x.shape[0] // block):
        gemm(x[b * block:(b + 1) * block], w, out[b * block:(b + 1) * block], 0, 0, 0.0)


@njit(nogil=True, cache=True)
def xty_in_blocks(x, y, out, block):
    """out = x^T @ y as a sum of products of `block` rows (gemm with beta = 1)."""
    out[:] = 0.0
    for b in range(x.shape[0] // block):
        gemm(x[b * block:(b + 1) * block], y[b * block:(b + 1) * block], out, 1, 0, 1.0)


def products(rows=10000, block=500, copies=40, repeats=50):
    """W6's two kinds of product on one thread, microseconds (min of `repeats`): X @ W
    ((rows, 20) @ (20, 20)) and X^T @ Y ((20, rows) @ (rows, 20)), whole with hot operands,
    whole with operands from memory (rotating `copies` arrays: 32 MB for the defaults), and
    as rows / block products of `block` rows (X^T @ Y accumulated with beta = 1)."""
    from . import blas_threads
    if not blas_call.available():
        raise RuntimeError(blas_call.describe())
    rng = np.random.default_rng(0)
    # read-only operands, as numgrad's plans hand them (blas_call's docstring)
    xs = [blas_call.operand(rng.standard_normal((rows, WIDTH)).astype(np.float32))
          for _ in range(copies)]
    w = blas_call.operand(rng.standard_normal((WIDTH, WIDTH)).astype(np.float32))
    out, small = np.empty((rows, WIDTH), np.float32), np.empty((WIDTH, WIDTH), np.float32)
    turn = [0]

    def cold(ta):
        turn[0] = (turn[0] + 1) % (copies - 1)
        x = xs[turn[0]]
        if ta:
            blas_call.matmul_into(x, xs[turn[0] + 1], small, True, False)
        else:
            blas_call.matmul_into(x, w, out, False, False)
    x, y = xs[0], xs[1]
    calls = {
        "xw_hot": lambda: blas_call.matmul_into(x, w, out, False, False),
        "xw_cold": lambda: cold(False),
        "xw_blocks": lambda: xw_in_blocks(x, w, out, block),
        "xty_hot": lambda: blas_call.matmul_into(x, y, small, True, False),
        "xty_cold": lambda: cold(True),
        "xty_blocks": lambda: xty_in_blocks(x, y, small, block),
    }
    blas_threads.begin()
    try:
        return {k: 1e6 * min(v) for k, v in phase_seconds(calls, repeats).items()}
    finally:
        blas_threads.end()


def phase_seconds(calls, repeats):
    """{name: [seconds]} of `calls` (one warm-up call each), interleaved round by round."""
    from .bench_timing import interleaved_seconds
    for call in calls.values():
        call()
    return interleaved_seconds(calls, repeats)


def _one_blas_thread(call, blas_threads):
    def run():
        blas_threads.begin()
        try:
            return call()
        finally:
            blas_threads.end()
    return run


def _print_ab(what, table, error, repeats, width):
    """Print an interleaved table ({threads: {column: (min ms, median ms)}}) and the largest
    relative error of `what`; return (table, error)."""
    print(f"{what}: largest relative error {error:.2e}")
    for n, cols in table.items():
        print(f"{n} thread(s), ms (min / median of {repeats} interleaved rounds):")
        for name, (lo, med) in cols.items():
            print(f"  {name:>{width}}: {lo:7.2f} / {med:7.2f}")
    return table, error


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[250, 500, 1000])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-tf", action="store_true")
    ap.add_argument("--products", action="store_true",
                    help="only W6's two kinds of product, whole and in blocks of rows")
    ap.add_argument("--kernels", action="store_true",
                    help="only numgrad's own W6 kernels, over whole arrays and in blocks")
    ap.add_argument("--generated", action="store_true",
                    help="numgrad's own row-block plan of W6 for each block size (--rows)")
    ap.add_argument("--columns", action="store_true",
                    help="W6's row-block plans (gradients, Adam step) over blocks kept row "
                         "by row and column by column (NUMGRAD_ROW_COLUMNS), interleaved")
    ap.add_argument("--chains", action="store_true",
                    help="W6's row-block plans with and without recomputed chains of cheap "
                         "nodes (NUMGRAD_FUSE_CHAINS), interleaved")
    ap.add_argument("--plan", action="store_true",
                    help="only the roles compiler/row_blocks.py gives the steps of W6's plans")
    args = ap.parse_args(argv)
    if args.products:
        for b in args.rows:
            res = products(block=b)
            print(f"B = {b}, one thread, us (min): " + ", ".join(
                f"{k} {v:.0f}" for k, v in res.items()))
        return None
    if args.kernels:
        for b in args.rows:
            res = kernel_blocks(b)
            print(f"B = {b}: W6's {res['kernels']} fused kernels over the rows, one thread, "
                  f"sum of per-kernel minima: whole arrays in cache {1e3 * res['whole_hot']:.2f}"
                  f" ms, from memory {1e3 * res['whole_cold']:.2f} ms, in blocks "
                  f"{1e3 * res['blocks']:.2f} ms")
        return None
    if args.generated:
        table, error = generated(tuple(args.rows), args.repeats, tuple(args.threads))
        return _print_ab("row-block plan vs numgrad", table, error, args.repeats, 14)
    if args.columns:
        table, error = columns_ab(tuple(args.rows), args.repeats, tuple(args.threads))
        return _print_ab("row blocks vs numgrad without them", table, error, args.repeats, 24)
    if args.chains:
        table, error = chains_ab(args.rows[0], args.repeats, tuple(args.threads))
        return _print_ab("with vs without chains", table, error, args.repeats, 16)
    if args.plan:
        for name, (rows, roles) in plan_roles().items():
            print(f"{name}: {rows} rows; " + ", ".join(
                f"{role} {n} steps ({ms:.2f} ms estimated)" for role, (n, ms) in roles.items()))
        return None
    t0 = time.perf_counter()
    table, error = run(tuple(args.rows), args.repeats, not args.no_tf, tuple(args.threads))
    _print_ab("prototype vs numgrad", table, error, args.repeats, 12)
    print(f"({time.perf_counter() - t0:.0f} s)")
    return table, error


if __name__ == "__main__":
    main(sys.argv[1:])
