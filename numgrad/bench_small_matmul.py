"""Small-K matmuls: BLAS against Numba loops that a fused kernel could run (issue 20, W6).

``python -m numgrad.bench_small_matmul [--rows 10000] [--k 20] [--n 20] [--repeats 200]``

W6's 125 matmuls per call are mostly (10000, 20) @ (20, 20) float32 products and their
gradients.  The question: would a row stage of a fused loop nest (for each row i,
``out[i, :] = x[i, :] @ W`` with W in L1, producer and consumer in the same loop, no
(10000, 20) array written and read back) beat a fused kernel, a BLAS call and another fused
kernel?  Each row of the table times one way, on one BLAS thread as numgrad's runs use
(blas_threads.begin), min and median ms over `repeats` interleaved runs:

* ``x @ W``: BLAS; the row form (one accumulator row of N per x row, W[k, :] broadcast per
  k); a block form (128 rows transposed into a (K, 128) buffer, the product accumulated into
  an (N, 128) buffer with the rows as the vectorised inner loop, the best loop found);
* ``tanh(tanh(z) @ W + b)``: two fused vecmath kernels around BLAS (today's plan), against
  the row and the block forms with both tanh in the same loop;
* ``x.T @ dy``: BLAS against one (K, N) accumulator updated row by row (the weight gradient
  as a partial reduction of the kernel producing dy);
* ``tanh((M, 1) @ (1, N))``: BLAS and a tanh kernel against one loop multiplying in place (the
  matmul_outer rewrite: the multiply is recomputed by its consumer's loop).

Measured on the development VM (AMD EPYC with AVX-512, OpenBLAS, float32, M=10000, K=N=20,
machine shared with other jobs; min ms): x @ W BLAS 0.127, row form 0.80, block form 0.37;
tanh(tanh(z) @ W + b) unfused 0.49, row form 1.34, block form 0.78; x.T @ dy BLAS 0.15, row
accumulator 0.50; tanh of an outer product BLAS + kernel 0.36, one loop 0.26.  OpenBLAS runs K = 20 at ~60
GFLOP/s, 3-6x any Numba loop tried (signed or unsigned indices, 256- or 512-bit vectors,
literal or runtime trip counts, 4-16 row blocks, scalar accumulators in the source), and the
round trips fusion saves are L2-resident 800 KB arrays: fusing loses.  So the compiler keeps
small-K matmuls on BLAS, and only the inner dimension 1 (no sum at all) becomes elementwise.
"""
import argparse
import sys
import time

import numpy as np
from numba import njit

BLOCK = 128


def _kernels():
    """The Numba loops (compiled on first call; vecmath's tanh as the fused kernels call it)."""
    from .compiler import vecmath_calls
    tanh = getattr(sys.modules[vecmath_calls.module_name()], "tanh_f32")

    @njit(error_model="numpy", nogil=True)
    def row_matmul(x, w, out):
        m, k_n = x.shape
        n_n = w.shape[1]
        acc = np.empty(n_n, np.float32)
        for i in range(m):
            acc[:] = 0
            for k in range(k_n):
                xv = x[i, k]
                for n in range(n_n):
                    acc[n] += xv * w[k, n]
            out[i, :] = acc

    @njit(error_model="numpy", nogil=True)
    def block_matmul(x, w, out):
        m, k_n = x.shape
        n_n = w.shape[1]
        xt = np.empty((k_n, BLOCK), np.float32)
        yt = np.empty((n_n, BLOCK), np.float32)
        for i0 in range(0, m, BLOCK):
            e = min(i0 + BLOCK, m) - i0
            for r in range(e):
                for k in range(k_n):
                    xt[k, r] = x[i0 + r, k]
            yt[:] = 0
            for k in range(k_n):
                for n in range(n_n):
                    wv = w[k, n]
                    for r in range(BLOCK):
                        yt[n, r] += wv * xt[k, r]
            for r in range(e):
                for n in range(n_n):
                    out[i0 + r, n] = yt[n, r]

    @njit(error_model="numpy", nogil=True)
    def tanh_flat(z, x):
        zf, xf = z.reshape(-1), x.reshape(-1)
        for i in range(zf.size):
            xf[i] = tanh(zf[i])

    @njit(error_model="numpy", nogil=True)
    def tanh_bias(y, b, h):
        for i in range(y.shape[0]):
            for n in range(y.shape[1]):
                h[i, n] = tanh(y[i, n] + b[0, n])

    @njit(error_model="numpy", nogil=True)
    def row_fused(z, w, b, h):
        m, k_n = z.shape
        n_n = w.shape[1]
        xr = np.empty(k_n, np.float32)
        acc = np.empty(n_n, np.float32)
        for i in range(m):
            for k in range(k_n):
                xr[k] = tanh(z[i, k])
            acc[:] = 0
            for k in range(k_n):
                for n in range(n_n):
                    acc[n] += xr[k] * w[k, n]
            for n in range(n_n):
                h[i, n] = tanh(acc[n] + b[0, n])

    @njit(error_model="numpy", nogil=True)
    def block_fused(z, w, b, h):
        m, k_n = z.shape
        n_n = w.shape[1]
        xt = np.empty((k_n, BLOCK), np.float32)
        yt = np.empty((n_n, BLOCK), np.float32)
        for i0 in range(0, m, BLOCK):
            e = min(i0 + BLOCK, m) - i0
            for r in range(e):
                for k in range(k_n):
                    xt[k, r] = tanh(z[i0 + r, k])
            yt[:] = 0
            for k in range(k_n):
                for n in range(n_n):
                    wv = w[k, n]
                    for r in range(BLOCK):
                        yt[n, r] += wv * xt[k, r]
            for r in range(e):
                for n in range(n_n):
                    h[i0 + r, n] = tanh(yt[n, r] + b[0, n])

    @njit(error_model="numpy", nogil=True)
    def outer_tanh(col, row, h):
        for i in range(h.shape[0]):
            for n in range(h.shape[1]):
                h[i, n] = tanh(col[i, 0] * row[0, n])

    @njit(error_model="numpy", nogil=True)
    def row_xtdy(x, dy, out):
        acc = np.zeros(out.shape, np.float32)
        for i in range(x.shape[0]):
            for k in range(x.shape[1]):
                xv = x[i, k]
                for n in range(dy.shape[1]):
                    acc[k, n] += xv * dy[i, n]
        out[:] = acc

    return (row_matmul, block_matmul, tanh_flat, tanh_bias, row_fused, block_fused,
            outer_tanh, row_xtdy)


def _cases(rows, k, n, seed=0):
    """{row name: {column: call}} and {row name: {column: result array}}, every call filling
    its own result; each row's columns compute the same thing."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    x = rng.standard_normal((rows, k)).astype(f32)
    z = rng.standard_normal((rows, k)).astype(f32)
    w = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(f32)
    b = rng.standard_normal((1, n)).astype(f32)
    dy = rng.standard_normal((rows, n)).astype(f32)
    col, row = rng.standard_normal((rows, 1)).astype(f32), rng.standard_normal((1, n)).astype(f32)
    (row_matmul, block_matmul, tanh_flat, tanh_bias, row_fused, block_fused,
     outer_tanh, row_xtdy) = _kernels()
    out = {}

    def buf(name, shape):
        return out.setdefault(name, np.empty(shape, f32))

    def unfused():
        t = buf("fused/tmp", (rows, k))
        tanh_flat(z, t)
        tanh_bias(t @ w, b, buf("fused/unfused", (rows, n)))

    calls = {
        "x @ W": {
            "blas": lambda: np.matmul(x, w, out=buf("mm/blas", (rows, n))),
            "row": lambda: row_matmul(x, w, buf("mm/row", (rows, n))),
            "block": lambda: block_matmul(x, w, buf("mm/block", (rows, n)))},
        "tanh(tanh(z) @ W + b)": {
            "unfused": unfused,
            "row": lambda: row_fused(z, w, b, buf("fused/row", (rows, n))),
            "block": lambda: block_fused(z, w, b, buf("fused/block", (rows, n)))},
        "x.T @ dy": {
            "blas": lambda: np.matmul(x.T, dy, out=buf("xtdy/blas", (k, n))),
            "row": lambda: row_xtdy(x, dy, buf("xtdy/row", (k, n)))},
        "tanh((M, 1) @ (1, N))": {
            "unfused": lambda: tanh_flat(col @ row, buf("outer/unfused", (rows, n))),
            "multiply": lambda: outer_tanh(col, row, buf("outer/multiply", (rows, n)))},
    }
    keys = {"x @ W": "mm", "tanh(tanh(z) @ W + b)": "fused", "x.T @ dy": "xtdy",
            "tanh((M, 1) @ (1, N))": "outer"}

    def result(name, column):
        return out[f"{keys[name]}/{column}"]
    return calls, result


def run(rows=10000, k=20, n=20, repeats=200):
    """{row name: {column: (min ms, median ms)}}; every column is first checked against the
    row's first column (float32 rounding: rtol 1e-4 of the largest value)."""
    from . import blas_threads
    calls, result = _cases(rows, k, n)
    blas_threads.begin()
    try:
        for name, columns in calls.items():
            for call in columns.values():
                call()                              # compile, warm
            first = next(iter(columns))
            ref = result(name, first)
            for column in columns:
                got = result(name, column)
                scale = float(np.max(np.abs(ref))) or 1.0
                if not np.allclose(got, ref, rtol=1e-4, atol=1e-4 * scale):
                    raise AssertionError(f"{name}: {column} differs from {first}")
        times = {name: {c: [] for c in columns} for name, columns in calls.items()}
        for _ in range(repeats):                    # interleaved: noise hits every column
            for name, columns in calls.items():
                for column, call in columns.items():
                    t = time.perf_counter()
                    call()
                    times[name][column].append(time.perf_counter() - t)
    finally:
        blas_threads.end()
    return {name: {c: (1e3 * min(ts), 1e3 * float(np.median(ts))) for c, ts in cols.items()}
            for name, cols in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args(argv)
    table = run(args.rows, args.k, args.n, args.repeats)
    print(f"float32, M={args.rows} K={args.k} N={args.n}, one BLAS thread; min / median ms")
    for name, cols in table.items():
        cells = "  ".join(f"{c} {lo:.3f} / {med:.3f}" for c, (lo, med) in cols.items())
        print(f"{name:24s} {cells}")


if __name__ == "__main__":
    main()
