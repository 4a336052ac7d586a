"""Numerical edge cases on the numpy and cpu backends, against NumPy itself.

Zero-size tensors, scalars and rank-0 reductions; every vector-math function on large / small /
subnormal / signed-zero / infinite / NaN inputs in float32 and float64 (NaN and infinity
positions identical to NumPy's, signs of zero where NumPy defines them); NaN propagation through
maximum / minimum and the reductions exactly like NumPy.

Each case runs on a small array (the scalar kernel path) and on one of >= VECTOR_MIN elements
(the cpu backend's vectorised math path).  Each special-value case puts all functions into one
graph so the cpu backend compiles one kernel per (dtype, size), not one per function.
"""
import math
import warnings

import numpy as np
import pytest

import numgrad as ng
from numgrad.compiler.emit_cpu import VECTOR_MIN

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

BACKENDS = ["numpy", "cpu"]
ULPS = 4                      # vecmath's accuracy contract (tests/test_vecmath.py)
TRIG_RANGE = 1.6e6            # sin/cos/tan are accurate only up to here (vecmath)


def run(backend, fetches, feed):
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # a backend must not leak NumPy warnings
        return ng.Session(backend=backend).run(fetches, feed)


def specials(dtype):
    """Special and ordinary values of `dtype`, both signs."""
    fi = np.finfo(dtype)
    big_exp = {np.float32: 88.5, np.float64: 709.5}[dtype]
    mags = [0.0, fi.smallest_subnormal, fi.smallest_subnormal * 3, fi.tiny / 2, fi.tiny,
            fi.tiny * 4, fi.eps / 4, 1e-30, 1e-8, 0.25, 0.5, 1.0 - fi.eps, 1.0, 1.5, 2.0, 3.0,
            7.5, 20.0, 40.0, 87.0, big_exp, 200.0, 1e3, 1e5, TRIG_RANGE, 1e10, 1e30,
            fi.max / 2, fi.max, np.inf]
    vals = np.array(mags, dtype=dtype)
    vals = np.concatenate([vals, -vals, np.array([np.nan], dtype)])
    return vals[np.argsort(np.abs(vals), kind="stable")]


def longer(v, n=VECTOR_MIN + 37):
    """`v` repeated to at least n elements (the vectorised path), order kept."""
    return np.resize(v, max(n, v.size))


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _sigmoid(x):
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


# name -> (numgrad function, NumPy reference evaluated in float64)
UNARY = {
    "exp": (ng.exp, np.exp), "expm1": (ng.expm1, np.expm1), "log": (ng.log, np.log),
    "log1p": (ng.log1p, np.log1p), "tanh": (ng.tanh, np.tanh), "sigmoid": (ng.sigmoid, _sigmoid),
    "sin": (ng.sin, np.sin), "cos": (ng.cos, np.cos), "tan": (ng.tan, np.tan),
    "erf": (ng.erf, _erf), "sqrt": (ng.sqrt, np.sqrt),
    "rsqrt": (ng.rsqrt, lambda x: 1 / np.sqrt(x)),
    "reciprocal": (ng.reciprocal, lambda x: 1 / x), "square": (ng.square, np.square),
    "abs": (ng.abs, np.abs), "sign": (ng.sign, np.sign), "floor": (ng.floor, np.floor),
    "neg": (ng.negative, np.negative), "relu": (ng.nn.relu, lambda x: np.where(x < 0, 0.0, x)),
}
TRIG = {"sin", "cos", "tan"}
BINARY = {
    "pow": (ng.pow, np.power), "maximum": (ng.maximum, np.maximum),
    "minimum": (ng.minimum, np.minimum), "add": (ng.add, np.add), "sub": (ng.subtract, np.subtract),
    "mul": (ng.multiply, np.multiply), "div": (ng.truediv, np.true_divide),
    "squared_difference": (ng.squared_difference, lambda a, b: np.square(a - b)),
    "truncatemod": (ng.truncatemod, np.fmod),
}
# where NumPy's sign of a zero result is not a defined property of the function
NO_ZERO_SIGN = {"maximum", "minimum", "relu", "truncatemod"}


def reference(fn, x, dtype, *more):
    """NumPy's result in float64, rounded to `dtype` (float32 gets a correctly rounded value)."""
    with np.errstate(all="ignore"):
        return np.asarray(fn(*(np.asarray(v, np.float64) for v in (x,) + more))).astype(dtype)


def ulp_error(out, ref):
    """|out - ref| in units of the spacing at ref (subnormals: the smallest subnormal)."""
    with np.errstate(all="ignore"):
        spacing = np.spacing(np.abs(ref).astype(ref.dtype))
        return np.abs(out.astype(np.float64) - ref.astype(np.float64)) / spacing.astype(np.float64)


def compare(name, x, out, ref, zero_sign=True, inputs_in_range=None):
    """Same NaNs, same infinities, same zero signs; finite values within ULPS of NumPy."""
    problems = []
    if out.dtype != ref.dtype or out.shape != ref.shape:
        return [f"{name}: got {out.dtype}{out.shape}, NumPy {ref.dtype}{ref.shape}"]
    bad = np.isnan(out) != np.isnan(ref)
    bad |= np.isinf(ref) & (out != ref)
    bad |= np.isinf(out) & (out != ref)
    if zero_sign:
        bad |= (ref == 0) & (np.signbit(out) != np.signbit(ref))
    finite = np.isfinite(ref) & np.isfinite(out)
    if inputs_in_range is not None:
        # beyond the accurate range only |result| bounds are part of the contract
        outside = finite & ~inputs_in_range
        if name in ("sin", "cos"):
            bad |= outside & (np.abs(out) > 1)
        finite &= inputs_in_range
    bad |= finite & (ulp_error(out, ref) > ULPS)
    for i in np.flatnonzero(bad)[:5]:
        args = ", ".join(repr(v.flat[i]) for v in x)
        problems.append(f"{name}({args}) [{out.dtype}] = {out.flat[i]!r}, NumPy {ref.flat[i]!r}")
    return problems


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("big", [False, True], ids=["small", "vectorised"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_functions_on_special_values(backend, big, dtype):
    v = specials(dtype)
    v = longer(v) if big else v
    x = ng.placeholder(dtype, [None])
    names = sorted(UNARY)
    outs = run(backend, [UNARY[n][0](x) for n in names], {x: v})
    problems = []
    for name, out in zip(names, outs):
        ref = reference(UNARY[name][1], v, dtype)
        in_range = np.abs(v) <= TRIG_RANGE if name in TRIG else None
        problems += compare(name, (v,), np.asarray(out), ref, zero_sign=name not in NO_ZERO_SIGN,
                            inputs_in_range=in_range)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("big", [False, True], ids=["small", "vectorised"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_functions_on_special_value_pairs(backend, big, dtype):
    s = specials(dtype)[::2]                       # every pair of half of the specials
    a, b = np.repeat(s, s.size), np.tile(s, s.size)
    if big:
        a, b = longer(a), longer(b)
    x, y = ng.placeholder(dtype, [None]), ng.placeholder(dtype, [None])
    names = sorted(BINARY)
    outs = run(backend, [BINARY[n][0](x, y) for n in names], {x: a, y: b})
    problems = []
    for name, out in zip(names, outs):
        ref = reference(BINARY[name][1], a, dtype, b)
        problems += compare(name, (a, b), np.asarray(out), ref, zero_sign=name not in NO_ZERO_SIGN)
    assert not problems, "\n".join(problems)


# --- NaN propagation through reductions --------------------------------------------------------
REDUCTIONS = {"sum": (ng.reduce_sum, np.sum), "prod": (ng.reduce_prod, np.prod),
              "mean": (ng.reduce_mean, np.mean), "max": (ng.reduce_max, np.max),
              "min": (ng.reduce_min, np.min)}


def _nan_cases(n):
    """Rows (length n) with NaN first / in the middle / last / everywhere, +-inf mixtures."""
    rng = np.random.default_rng(5)
    rows = []
    for kind in range(8):
        r = rng.uniform(-2, 2, n)
        if kind == 0:
            r[0] = np.nan
        elif kind == 1:
            r[n // 2] = np.nan
        elif kind == 2:
            r[-1] = np.nan
        elif kind == 3:
            r[:] = np.nan
        elif kind == 4:
            r[1], r[-2] = np.inf, -np.inf                 # sum -> NaN, max -> inf
        elif kind == 5:
            r[:] = -np.inf
        elif kind == 6:
            r[0], r[-1] = np.inf, np.nan
        rows.append(r)
    return np.array(rows)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [5, VECTOR_MIN + 3], ids=["small", "vectorised"])
def test_nan_and_inf_through_reductions_like_numpy(backend, n):
    v = _nan_cases(n)
    x = ng.placeholder(ng.float64, [None, None])
    names = sorted(REDUCTIONS)
    fetches = []
    for name in names:
        fetches += [REDUCTIONS[name][0](x, axis=1), REDUCTIONS[name][0](ng.transpose(x), axis=0),
                    REDUCTIONS[name][0](x)]
    outs = iter(run(backend, fetches, {x: v}))
    problems = []
    for name in names:
        with np.errstate(all="ignore"):
            rows = REDUCTIONS[name][1](v, axis=1)
            everything = np.asarray(REDUCTIONS[name][1](v))
        for label, ref in [("axis=1", rows), ("transposed axis=0", rows), ("all", everything)]:
            out = np.asarray(next(outs))
            bad = (np.isnan(out) != np.isnan(ref)) | (np.isinf(ref) & (out != ref))
            bad |= np.isfinite(ref) & ~np.isclose(out, ref, rtol=1e-12, atol=1e-12)
            if bad.any():
                problems.append(f"reduce_{name} {label}: got {out}, NumPy {ref}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_through_maximum_minimum_and_clip_like_numpy(backend):
    a = np.array([np.nan, 1.0, np.nan, -np.inf, np.inf, 0.0, -0.0, np.nan])
    b = np.array([1.0, np.nan, np.nan, np.nan, -np.inf, -0.0, 0.0, -np.inf])
    a, b = longer(a, 16), longer(b, 16)
    for size, (va, vb) in {"small": (a, b), "vectorised": (longer(a), longer(b))}.items():
        x, y = ng.placeholder(ng.float64, [None]), ng.placeholder(ng.float64, [None])
        fetches = [ng.maximum(x, y), ng.minimum(x, y), ng.maximum(y, x), ng.minimum(y, x),
                   ng.clip_by_value(x, -0.5, 0.5), ng.nn.relu(x)]
        refs = [np.maximum(va, vb), np.minimum(va, vb), np.maximum(vb, va), np.minimum(vb, va),
                np.clip(va, -0.5, 0.5), np.where(va < 0, 0.0, va)]
        for k, (out, ref) in enumerate(zip(run(backend, fetches, {x: va, y: vb}), refs)):
            np.testing.assert_array_equal(out, ref, err_msg=f"{size} fetch {k}")


# --- zero-size tensors ---------------------------------------------------------------------------
def _numpy_reduce(name, v, axis, keepdims):
    """NumPy's reduction; max/min of an empty set use the identity -inf / +inf (as TF does)
    where NumPy raises."""
    if name == "max":
        return np.max(v, axis=axis, keepdims=keepdims, initial=-np.inf)
    if name == "min":
        return np.min(v, axis=axis, keepdims=keepdims, initial=np.inf)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")                  # "Mean of empty slice"
        return REDUCTIONS[name][1](v, axis=axis, keepdims=keepdims)


# (shape, axis): a scalar, an empty result, and a non-empty result of reducing an empty axis
ZERO_SIZE = [((0,), None), ((3, 0), 0), ((2, 0, 3), 1)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_reductions_of_zero_size_tensors(backend):
    names = sorted(REDUCTIONS)
    feed, fetches, refs, what, grads = {}, [], [], [], []
    for shape, axis in ZERO_SIZE:
        x = ng.placeholder(ng.float64, list(shape))
        feed[x] = np.zeros(shape)
        for name, keepdims in [(n, False) for n in names] + [("prod", True)]:
            fetches.append(REDUCTIONS[name][0](x, axis=axis, keepdims=keepdims))
            refs.append(_numpy_reduce(name, feed[x], axis, keepdims))
            what.append(f"reduce_{name}(zeros{shape}, axis={axis}, keepdims={keepdims})")
        # gradients (zero-size, of x's shape) of sum, mean and prod (whose rule reshapes)
        grads += ng.gradients([ng.reduce_sum(f) for f in fetches[-len(names) - 1:]
                               if f.op.type in ("Sum", "Mean", "Prod")], x)
    out = run(backend, fetches + grads, feed)
    for o, r, w in zip(out, refs, what):
        o = np.asarray(o)
        assert o.shape == r.shape and o.dtype == r.dtype, (w, o.dtype, o.shape, r.shape)
        np.testing.assert_array_equal(o, r, err_msg=w)
    for (shape, _), g in zip(ZERO_SIZE, out[len(fetches):]):
        assert np.asarray(g).shape == shape


@pytest.mark.parametrize("backend", BACKENDS)
def test_elementwise_shape_ops_and_matmul_on_zero_size(backend):
    a = ng.placeholder(ng.float64, [None, 3])
    b = ng.placeholder(ng.float64, [3])
    c = ng.placeholder(ng.float64, [2, None])
    va, vb, vc = np.zeros((0, 3)), np.arange(3.0), np.zeros((2, 0))
    t = ng.exp(a) * b + ng.tanh(a)
    fetches = [t, ng.concat([t, a], 0), ng.transpose(t), ng.reshape(t, [-1]), ng.tile(t, [2, 1]),
               ng.matmul(c, ng.transpose(c)), ng.matmul(ng.transpose(c), c[:, :0]),
               ng.gather(b, np.zeros([0], np.int32)), ng.stack([a, a]), t[:, 1:]]
    refs = [np.exp(va) * vb + np.tanh(va), np.zeros((0, 3)), np.zeros((3, 0)), np.zeros(0),
            np.zeros((0, 3)), np.zeros((2, 2)), np.zeros((0, 0)), np.zeros(0), np.zeros((2, 0, 3)),
            np.zeros((0, 2))]
    loss = ng.reduce_sum(t) + ng.reduce_sum(ng.matmul(c, ng.transpose(c)))
    grads = ng.gradients(loss, [a, b, c])
    out = run(backend, fetches + grads, {a: va, b: vb, c: vc})
    for k, (o, r) in enumerate(zip(out, refs)):
        assert np.asarray(o).shape == r.shape, (k, np.asarray(o).shape, r.shape)
        np.testing.assert_array_equal(o, r)
    ga, gb, gc = out[len(refs):]
    assert ga.shape == (0, 3) and gc.shape == (2, 0)
    np.testing.assert_array_equal(gb, np.zeros(3))      # sum over zero rows of exp(a)


# --- scalars and rank-0 reductions -------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_scalars_and_rank0_reductions(backend):
    x = ng.placeholder(ng.float64, [])
    v = np.float64(-1.75)
    fetches, refs = [], []
    for name in sorted(REDUCTIONS):
        for axis, keepdims in [(None, False), ([], True)]:
            fetches.append(REDUCTIONS[name][0](ng.sin(x), axis=axis, keepdims=keepdims))
            refs.append(np.asarray(np.sin(v)))
    grads = ng.gradients(fetches, x)
    out = run(backend, fetches + grads, {x: v})
    for k, (o, r) in enumerate(zip(out, refs)):
        assert np.asarray(o).shape == () and np.asarray(o).dtype == np.float64, k
        assert o == r, (k, o, r)
    assert np.asarray(out[-1]).shape == ()
    np.testing.assert_allclose(out[-1], len(fetches) * np.cos(v), rtol=1e-13)
