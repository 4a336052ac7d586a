"""The cuda backend against the numpy reference backend, on tiny graphs.

CI runs this file under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``: kernels run as
Python, ~0.1 ms per thread and element), so the graphs are tiny but chosen to cover every
kernel template of compiler/emit_cuda.py (map; serial, tree and combine reductions) and every
opaque kernel of numgrad/kernels/cuda, plus the host fallback, the device pool, feed-shape
changes and the errors.  Without the simulator or a GPU, only the tests about importing and
about the error message run.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import numgrad as ng


def _cuda_usable():
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "") not in ("", "0"):
        return True
    try:
        from numba import cuda
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001  (no numba.cuda, no driver: not usable)
        return False


CUDA = _cuda_usable()
# the simulator computes with NumPy scalars, which warn where a GPU silently gives inf/nan
pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs NUMBA_ENABLE_CUDASIM=1 or a CUDA GPU")
_SUBPROCESS_ENV = {k: v for k, v in os.environ.items()
                   if k not in ("NUMBA_ENABLE_CUDASIM", "NUMGRAD_BACKEND")}


def _tol(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "c":                       # complex: its parts' tolerance
        dtype = np.dtype(np.float32 if dtype == np.complex64 else np.float64)
    if dtype == np.float32:
        return dict(rtol=1e-5, atol=1e-6)
    if dtype == np.float64:
        return dict(rtol=1e-12, atol=1e-13)
    return dict(rtol=0, atol=0)


def run_both(fetches, feed_dict=None):
    """(numpy results, cuda results, cuda session) for `fetches`."""
    with ng.Session(backend="numpy") as s:
        ref = s.run(fetches, feed_dict)
    s = ng.Session(backend="cuda")
    got = s.run(fetches, feed_dict)
    return ref, got, s


def assert_same(fetches, feed_dict=None):
    """The cuda backend gives the numpy backend's values, dtypes and shapes."""
    ref, got, s = run_both(fetches, feed_dict)
    for i, (r, g) in enumerate(zip(ref, got)):
        r, g = np.asarray(r), np.asarray(g)
        assert g.dtype == r.dtype, f"fetch {i}: dtype {g.dtype} != {r.dtype}"
        assert g.shape == r.shape, f"fetch {i}: shape {g.shape} != {r.shape}"
        np.testing.assert_allclose(g, r, err_msg=f"fetch {i} ({fetches[i].name})",
                                   equal_nan=True, **_tol(r.dtype))
    return s


def summary(s, fetches, feed_dict=None):
    return s.plan_summary(fetches, feed_dict)


# --- elementwise templates -----------------------------------------------------------------
@needs_cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_math(rng, dtype):
    dt = ng.as_dtype(dtype)
    x = ng.placeholder(dt, [2, 3])
    p = ng.placeholder(dt, [2, 3])           # positive, for sqrt/log/...
    fns = [ng.sqrt(p), ng.rsqrt(p), ng.exp(x), ng.log(p), ng.log1p(p), ng.expm1(x),
           ng.sin(x), ng.cos(x), ng.tan(x), ng.tanh(x), ng.sigmoid(x), ng.erf(x), ng.abs(x),
           ng.sign(x), ng.reciprocal(p), ng.floor(x), ng.nn.relu(x), -x, ng.square(x)]
    feed = {x: (rng.standard_normal((2, 3)) * 2).astype(dtype),
            p: rng.uniform(0.1, 3, (2, 3)).astype(dtype)}
    s = assert_same(fns, feed)
    assert "map" in summary(s, fns, feed)


@needs_cuda
def test_binary_broadcasting(rng):
    x = ng.placeholder(ng.float64, [2, 1, 3])
    y = ng.placeholder(ng.float64, [4, 1])
    fns = [x + y, x - y, x * y, x / y, ng.floordiv(x, y), ng.truncatemod(x, y),
           ng.floormod(x, y), x % -y, ng.div_no_nan(x, y - 1.0), ng.pow(ng.abs(x), y),
           ng.maximum(x, y), ng.minimum(x, y),
           ng.squared_difference(x, y), x * 2.5 + 1.0]
    assert_same(fns, {x: rng.standard_normal((2, 1, 3)), y: rng.uniform(0.5, 2, (4, 1))})


@needs_cuda
def test_comparisons_select_and_logic(rng):
    x = ng.placeholder(ng.float32, [3, 4])
    y = ng.placeholder(ng.float32, [4])
    fns = [ng.equal(x, y), ng.not_equal(x, y), ng.less(x, y), ng.greater_equal(x, y),
           ng.where_v2(x > y, x, y * 2.0), ng.logical_and(x > 0, y > 0),
           ng.logical_or(x > 0, y > 0), ng.logical_not(x > 0)]
    xv = rng.standard_normal((3, 4)).astype(np.float32)
    yv = rng.standard_normal(4).astype(np.float32)
    xv[0] = yv                             # some equal elements
    assert_same(fns, {x: xv, y: yv})


@needs_cuda
def test_casts(rng):
    x = ng.placeholder(ng.float32, [5])
    i = ng.placeholder(ng.int32, [5])
    fns = [ng.cast(x, ng.int32), ng.cast(x, ng.float64), ng.cast(i, ng.float32),
           ng.cast(x, ng.bool_), ng.cast(ng.cast(i, ng.bool_), ng.float32),
           ng.cast(i, ng.int64) * 3]
    assert_same(fns, {x: np.array([-2.7, -0.5, 0, 0.5, 3.9], np.float32),
                      i: np.array([-3, 0, 1, 2, 7], np.int32)})


@needs_cuda
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_ops(dtype):
    dt = ng.as_dtype(dtype)
    a = ng.placeholder(dt, [6])
    b = ng.placeholder(dt, [6])
    fns = [ng.floordiv(a, b), ng.truncatemod(a, b), ng.floormod(a, b), ng.div(a, b),
           ng.pow(a, b), ng.abs(a), ng.sign(a), ng.maximum(a, b), -a, a * b + 3]
    assert_same(fns, {a: np.array([7, -7, 5, -5, 3, 0], dtype),
                      b: np.array([2, 2, -3, 0, 3, 4], dtype)})


# --- reductions ----------------------------------------------------------------------------
@needs_cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_reduction_kinds_and_axes(rng, dtype):
    dt = ng.as_dtype(dtype)
    x = ng.placeholder(dt, [2, 3, 4])
    fns = []
    for red in (ng.reduce_sum, ng.reduce_mean, ng.reduce_max, ng.reduce_min, ng.reduce_prod):
        fns += [red(x), red(x, axis=1), red(x, axis=[0, 2], keepdims=True)]
    fns += [ng.reduce_sum(x, axis=-1, keepdims=True), ng.reduce_mean(x, axis=0)]
    xv = rng.uniform(-3, 3, (2, 3, 4))
    xv = xv.astype(dtype) if dtype != np.int32 else np.round(xv).astype(dtype)
    assert_same(fns, {x: xv})


@needs_cuda
def test_tree_reductions_are_deterministic(rng):
    # long reduced extents take the shared-memory tree (several blocks per output) + combine
    x = ng.placeholder(ng.float32, [100, 3])
    fns = [ng.reduce_sum(x), ng.reduce_max(ng.exp(x)), ng.reduce_mean(x, axis=0),
           ng.reduce_min(x * 2.0, axis=0), ng.reduce_sum(ng.tanh(x), axis=1)]
    feed = {x: rng.standard_normal((100, 3)).astype(np.float32)}
    s = assert_same(fns, feed)
    text = summary(s, fns, feed)
    assert "tree" in text and "serial" in text, text
    first = s.run(fns, feed)
    again = s.run(fns, feed)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)   # bitwise: no float atomics in reductions


@needs_cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_forward_and_backward(rng, dtype):
    dt = ng.as_dtype(dtype)
    x = ng.placeholder(dt, [None, 5])
    w = ng.placeholder(dt, [5])
    b = ng.placeholder(dt, [])
    loss = ng.reduce_sum(ng.tanh(x * w + b) ** 2 + ng.exp(-x * x) * ng.sin(w))
    fetches = [loss] + ng.gradients(loss, [x, w, b])
    feed = {x: rng.standard_normal((4, 5)).astype(dtype), w: rng.standard_normal(5).astype(dtype),
            b: np.asarray(0.3, dtype)}
    s = assert_same(fetches, feed)
    text = summary(s, fetches, feed)
    assert "fused kernels" in text and "reductions=3" in text, text


# --- opaque kernels ------------------------------------------------------------------------
@needs_cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_transpose_cases(rng, dtype, ta, tb):
    dt = ng.as_dtype(dtype)
    m, k, n = 5, 7, 6                       # not multiples of the tile: edge tiles
    a = ng.placeholder(dt, [k, m] if ta else [m, k])
    b = ng.placeholder(dt, [n, k] if tb else [k, n])
    c = ng.matmul(a, b, transpose_a=ta, transpose_b=tb)
    feed = {a: rng.standard_normal(a.shape.as_list()).astype(dtype),
            b: rng.standard_normal(b.shape.as_list()).astype(dtype)}
    s = assert_same([c], feed)
    assert "cuda kernel MatMul" in summary(s, [c], feed)


@needs_cuda
def test_batched_matmul_broadcast(rng):
    a = ng.placeholder(ng.float32, [2, 1, 3, 4])
    b = ng.placeholder(ng.float32, [3, 4, 2])
    c = ng.matmul(a, b)
    assert_same([c], {a: rng.standard_normal((2, 1, 3, 4)).astype(np.float32),
                      b: rng.standard_normal((3, 4, 2)).astype(np.float32)})


@needs_cuda
@pytest.mark.parametrize("ta,tb", [(False, True), (True, False)])
def test_outer_product_matmul_is_a_fused_multiply(rng, ta, tb):
    a = ng.placeholder(ng.float32, [1, 5] if ta else [5, 1])
    b = ng.placeholder(ng.float32, [6, 1] if tb else [1, 6])
    c = ng.tanh(ng.matmul(a, b, transpose_a=ta, transpose_b=tb))   # matmul_outer: a * b
    feed = {a: rng.standard_normal(a.shape.as_list()).astype(np.float32),
            b: rng.standard_normal(b.shape.as_list()).astype(np.float32)}
    s = assert_same([c], feed)
    assert "cuda kernel MatMul" not in summary(s, [c], feed)


@needs_cuda
def test_gather_and_its_gradient_scatter_add(rng):
    p = ng.placeholder(ng.float64, [3, 5, 2])
    idx = ng.constant(np.array([4, 0, 4, 2], np.int32))
    g1 = ng.gather(p, idx, axis=1)
    loss = ng.reduce_sum(ng.square(g1))
    grad, = ng.gradients(loss, [p])           # dense: unsorted_segment_sum + transposes
    g0 = ng.gather(p, ng.constant(np.array([[2, 0], [1, 1]], np.int64)))
    fetches = [g1, grad, g0]
    feed = {p: rng.standard_normal((3, 5, 2))}
    s = assert_same(fetches, feed)
    text = summary(s, fetches, feed)
    for op in ("GatherV2", "UnsortedSegmentSum", "Transpose"):
        assert f"cuda kernel {op}" in text, text


@needs_cuda
def test_scatter_add_repeated_and_dropped_ids(rng):
    data = ng.placeholder(ng.float32, [6, 3])
    ids = ng.placeholder(ng.int32, [6])
    out = ng.unsorted_segment_sum(data, ids, 4)
    out_i = ng.unsorted_segment_sum(ng.cast(data * 10.0, ng.int64), ids, 4)
    assert_same([out, out_i], {data: rng.standard_normal((6, 3)).astype(np.float32),
                               ids: np.array([1, 3, 1, -1, 0, 1], np.int32)})


@needs_cuda
def test_transpose_and_concat(rng):
    x = ng.placeholder(ng.float32, [2, 3, 4])
    y = ng.placeholder(ng.float32, [2, 1, 4])
    fetches = [ng.transpose(x, [2, 0, 1]), ng.transpose(x), ng.concat([x, y, x], axis=1),
               ng.concat([x, x], axis=-1), ng.concat([x, x], 0)]
    assert_same(fetches, {x: rng.standard_normal((2, 3, 4)).astype(np.float32),
                          y: rng.standard_normal((2, 1, 4)).astype(np.float32)})


@needs_cuda
def test_stack_unstack_and_split(rng):
    x = ng.placeholder(ng.float64, [2, 3])
    y = ng.placeholder(ng.float64, [2, 1])
    cat = ng.concat([x, y], axis=1)
    loss = ng.reduce_sum(ng.exp(cat) * cat)
    gx, gy = ng.gradients(loss, [x, y])       # concat's gradient splits: SplitV
    fetches = [ng.stack([x, x * 2.0], axis=1), *ng.unstack(x, axis=1), gx, gy]
    feed = {x: rng.standard_normal((2, 3)), y: rng.standard_normal((2, 1))}
    s = assert_same(fetches, feed)
    text = summary(s, fetches, feed)
    for op in ("Pack", "Unpack", "SplitV"):
        assert f"cuda kernel {op}" in text, text


@needs_cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax(rng, dtype):
    x = ng.placeholder(ng.as_dtype(dtype), [3, 4])
    xv = rng.standard_normal((3, 4)).astype(dtype)
    xv[1] = -np.inf                                 # a row whose max is not finite
    xv[2, 0] = np.inf
    fetches = [ng.nn.softmax(x), ng.nn.log_softmax(x), ng.nn.softmax(x * 3.0, axis=0)]
    s = assert_same(fetches, {x: xv})
    text = summary(s, fetches, {x: xv})
    assert "cuda kernel Softmax" in text and "cuda kernel LogSoftmax" in text, text


@needs_cuda
def test_host_fallback(rng):
    from numgrad.backends.cuda import host_fallback_op_types
    assert "Cumsum" in host_fallback_op_types() and "MatMul" not in host_fallback_op_types()
    x = ng.placeholder(ng.float32, [3, 4])
    cs = ng.cumsum(x * 2.0, axis=1)
    fetches = [ng.reduce_sum(cs * x), ng.tile(x, [2, 1]) + 1.0]
    feed = {x: rng.standard_normal((3, 4)).astype(np.float32)}
    s = assert_same(fetches, feed)
    text = summary(s, fetches, feed)
    assert "host fallback (NumPy) Cumsum" in text and "host fallbacks: " in text, text


@needs_cuda
def test_complex_values(rng):
    """Complex elementwise ops and reductions run on the host (never fused on cuda); MatMul,
    Transpose, GatherV2 and ConcatV2 run their device kernels on complex values."""
    z = ng.placeholder(ng.complex64, [3, 3])
    r = ng.placeholder(ng.float32, [3])
    fetches = [ng.matmul(z, z, adjoint_a=True), ng.transpose(z), ng.gather(z, [2, 0]),
               ng.concat([z, z], 0), ng.abs(z) * 2.0, ng.complex(r, r * 2.0),
               ng.reduce_sum(z * z, 0)]
    zv = (rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))).astype(np.complex64)
    feed = {z: zv, r: rng.standard_normal(3).astype(np.float32)}
    s = assert_same(fetches, feed)
    text = summary(s, fetches, feed)
    assert "host fallback (NumPy) ComplexAbs" in text and "cuda kernel MatMul" in text, text


@needs_cuda
def test_conv_and_pool_run_on_the_host(rng):
    """The convolution and pooling ops have no device kernel: they are host fallbacks."""
    from numgrad.backends.cuda import host_fallback_op_types
    assert {"Conv2D", "Conv2DBackpropFilter", "MaxPool", "MaxPoolGrad"} <= set(
        host_fallback_op_types())
    x = ng.placeholder(ng.float32, [2, 4, 4, 1])
    w = ng.constant(rng.standard_normal((2, 2, 1, 2)).astype(np.float32))
    y = ng.nn.max_pool(ng.nn.relu(ng.nn.conv2d(x, w, 1, "SAME")), 2, 2, "VALID")
    loss = ng.reduce_sum(y * y)
    fetches = [loss] + ng.gradients(loss, [x, w])
    feed = {x: rng.standard_normal((2, 4, 4, 1)).astype(np.float32)}
    s = assert_same(fetches, feed)
    assert "host fallback (NumPy) Conv2D" in summary(s, fetches, feed)


# --- buffers, signatures, errors -----------------------------------------------------------
@needs_cuda
def test_pool_reuses_buffers_across_calls(rng):
    x = ng.placeholder(ng.float32, [4, 5])
    w = ng.placeholder(ng.float32, [5, 3])
    h = ng.tanh(ng.matmul(x, w))
    fetches = [ng.reduce_sum(h * h, axis=0), h]
    feed = {x: rng.standard_normal((4, 5)).astype(np.float32),
            w: rng.standard_normal((5, 3)).astype(np.float32)}
    s = ng.Session(backend="cuda")
    first = s.run(fetches, feed)
    pool = s._backend.pool
    allocated = pool.allocations
    assert allocated > 0
    second = s.run(fetches, feed)
    assert pool.allocations == allocated, "the second call allocated device memory"
    assert pool.reuses > 0
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    first[1][...] = 0                          # results are the caller's, not pooled memory
    np.testing.assert_array_equal(s.run(fetches, feed)[1], second[1])


@needs_cuda
def test_buffers_reused_within_a_run_keep_fetched_views(rng):
    x = ng.placeholder(ng.float32, [4, 3])
    a = ng.transpose(x * 2.0)                 # (3, 4)
    b = ng.transpose(a)                       # (4, 3): may take x's or x*2's freed buffer
    c = ng.transpose(ng.exp(b))               # (3, 4): may take a's buffer, unless pinned
    fetches = [ng.reshape(a, [-1]), c, b]     # a is fetched through a view
    feed = {x: rng.standard_normal((4, 3)).astype(np.float32)}
    s = assert_same(fetches, feed)
    assert s._backend.pool.reuses > 0


@needs_cuda
def test_feed_shape_change(rng):
    x = ng.placeholder(ng.float64, [None, 3])
    y = ng.reduce_mean(ng.exp(x), axis=0) + ng.reduce_sum(x)
    for n in (4, 7, 1):
        assert_same([y, x * 2.0], {x: rng.standard_normal((n, 3))})


@needs_cuda
def test_errors_are_the_reference_errors():
    p = ng.placeholder(ng.float32, [4, 2])
    i = ng.placeholder(ng.int32, [3])
    g = ng.gather(p, i) * 2.0
    feed = {p: np.ones((4, 2), np.float32), i: np.array([1, 9, -1], np.int32)}
    with ng.Session(backend="numpy") as s:
        with pytest.raises(ng.errors.InvalidArgumentError) as want:
            s.run(g, feed)
    s = ng.Session(backend="cuda")
    with pytest.raises(ng.errors.InvalidArgumentError) as got:
        s.run(g, feed)
    assert str(got.value) == str(want.value)
    assert "indices contain 9" in str(got.value)
    ids = ng.placeholder(ng.int32, [3])
    seg = ng.unsorted_segment_sum(p[:3], ids, 2)
    with pytest.raises(ng.errors.InvalidArgumentError, match=r"segment id 5 is not in \[0, 2\)"):
        s.run(seg, {p: np.ones((4, 2), np.float32), ids: np.array([0, 5, 1], np.int32)})
    with pytest.raises(ng.errors.InvalidArgumentError, match="must feed a value"):
        s.run(g, {p: np.ones((4, 2), np.float32)})


@pytest.mark.skipif(CUDA and not os.environ.get("NUMBA_ENABLE_CUDASIM"),
                    reason="a real CUDA GPU is available here")
def test_clear_error_without_cuda():
    code = ("import numgrad as ng\n"
            "try:\n"
            "    ng.Session(backend='cuda')\n"
            "except Exception as e:\n"
            "    print(type(e).__name__, '|', e)\n"
            "else:\n"
            "    print('no error')\n")
    out = subprocess.run([sys.executable, "-c", code], env=_SUBPROCESS_ENV, capture_output=True,
                         text=True, timeout=120)
    msg = out.stdout
    assert "CudaUnavailableError" in msg or "RuntimeError" in msg, msg + out.stderr
    assert "pip install numgrad[cuda]" in msg and "NUMBA_ENABLE_CUDASIM=1" in msg, msg


def test_import_numgrad_does_not_import_numba_cuda():
    code = ("import sys, numgrad as ng\n"
            "x = ng.placeholder(ng.float32, [2]); ng.Session().run(x * 2, {x: [1, 2]})\n"
            "print(sorted(m for m in sys.modules if m.startswith('numba.cuda')))\n")
    out = subprocess.run([sys.executable, "-c", code], env=_SUBPROCESS_ENV, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


@needs_cuda
def test_variables_stay_on_the_device_between_training_steps(tmp_path):
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((4, 3))
    yv = rng.standard_normal(4)
    results = {}
    for backend in ("numpy", "cuda"):
        with ng.Graph().as_default():
            x = ng.placeholder(ng.float64, [4, 3])
            y = ng.placeholder(ng.float64, [4])
            w = ng.Variable(np.linspace(-1, 1, 3), name="w")
            loss = ng.reduce_mean(ng.square(ng.linalg.matvec(x, w) - y))
            step = ng.train.MomentumOptimizer(0.1, 0.9).minimize(loss)
            saver = ng.train.Saver()
            with ng.Session(backend=backend) as s:
                s.run(ng.global_variables_initializer())
                for _ in range(3):
                    s.run(step, {x: xv, y: yv})
                if backend == "cuda":
                    state = s._state.values
                    # the variable and the optimizer's slot are device arrays, not host copies
                    assert all(hasattr(v, "copy_to_host") for v in state.values())
                    pool = s._backend.pool
                    before = pool.allocations
                    s.run(step, {x: xv, y: yv})
                    assert pool.allocations == before      # a step allocates nothing new
                    saved = saver.save(s, str(tmp_path / "ckpt"))
                else:
                    s.run(step, {x: xv, y: yv})
                results[backend] = (s.run([w, loss], {x: xv, y: yv}))
        if backend == "cuda":
            with ng.Graph().as_default():
                w2 = ng.Variable(np.zeros(3), name="w")
                ng.train.MomentumOptimizer(0.1, 0.9).minimize(ng.reduce_sum(w2))
                with ng.Session(backend="cuda") as s:
                    ng.train.Saver().restore(s, saved)          # host arrays into device state
                    np.testing.assert_allclose(s.run(w2), results["cuda"][0], **_tol(np.float64))
                    w2.load(np.ones(3), s)
                    assert s.run(w2).tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(results["cuda"][0], results["numpy"][0], **_tol(np.float64))
    np.testing.assert_allclose(results["cuda"][1], results["numpy"][1], **_tol(np.float64))


@needs_cuda
def test_host_fallbacks_run_under_the_blas_thread_policy():
    # a host fallback (here Cholesky) runs its NumPy reference between blas_threads.begin and
    # end, as the cpu backend's runs with BLAS ops do: BLAS at one thread, the user's count after
    from numgrad import blas_threads
    from numgrad.backends.cuda import HostRunner
    if not blas_threads.controllers():
        pytest.skip("no BLAS library threadpoolctl can control")
    a = np.array([[4.0, 1.0], [1.0, 3.0]])
    x = ng.placeholder(ng.float64, [2, 2])
    c = ng.cholesky(x)
    seen = []
    with ng.Session(backend="cuda") as s:
        s.run(c, {x: a})
        plans = [p for plan in s._plans.values() for p in plan._compiled.values()]
        runners = [r for p in plans for r in p.runners if isinstance(r, HostRunner)]
        assert runners
        for r in runners:
            inner = r.op_def

            class Recording:
                type = inner.type

                @staticmethod
                def compute(vals, attrs, inner=inner):
                    seen.append(blas_threads._depth)
                    return inner.compute(vals, attrs)
            r.op_def = Recording()
        np.testing.assert_allclose(s.run(c, {x: a}), np.linalg.cholesky(a), **_tol(np.float64))
    assert seen and all(d >= 1 for d in seen) and blas_threads._depth == 0
