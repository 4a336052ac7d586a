"""Accuracy / special-value / vectorisation tests for numgrad.kernels.vecmath.

Every result is compared against NumPy (float32: the float64 NumPy result,
float64: NumPy on ``np.longdouble``), never against the implementation itself
(erf, which NumPy lacks: a positive-term series evaluated in np.longdouble).
Errors are measured in ulps of the reference rounded to the tested dtype.

The exhaustive 2**32 float32 sweeps are marked ``slow`` and additionally only
run when ``NUMGRAD_SLOW=1``.
"""
import hashlib
import os
import re
import tempfile

import numba
import numpy as np
import pytest
from numba import njit

from numgrad import config
from numgrad.kernels import vecmath as vm

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

MAX_ULP = 4.0
FUNCS = ["exp", "log", "expm1", "log1p", "tanh", "sigmoid", "sin", "cos", "tan", "erf"]
# sin/cos/tan: <= MAX_ULP only for |x| <= TRIG_RANGE (Cody-Waite reduction,
# see vecmath); beyond it results must be finite (and in [-1, 1] for sin/cos)
TRIG_RANGE = 1.6e6
ACCURATE_RANGE = {"sin": TRIG_RANGE, "cos": TRIG_RANGE, "tan": TRIG_RANGE}
# functions whose public generic wrapper is called from Python in the default
# run (each costs ~1 s cold; the typed kernels of all functions are swept)
DISPATCH_FUNCS = ["exp"]

slow = [
    pytest.mark.slow,
    pytest.mark.skipif(not config.get("NUMGRAD_SLOW"),
                       reason="exhaustive sweep; set NUMGRAD_SLOW=1 to run"),
]

# --------------------------------------------------------------------------
# Test kernels.  cache=True keeps reruns fast; Numba's cache only tracks the
# file a function is defined in, so the cache directory is keyed by a hash of
# vecmath.py to never reuse machine code compiled from an older vecmath.
# --------------------------------------------------------------------------
with open(vm.__file__, "rb") as _fh:
    _VM_HASH = hashlib.sha256(_fh.read()).hexdigest()[:16]
_old_cache_dir = numba.config.CACHE_DIR
numba.config.CACHE_DIR = os.path.join(tempfile.gettempdir(),
                                      "numgrad-vecmath-test-cache", _VM_HASH)
try:
    # One kernel per (function, dtype), calling the typed kernels directly:
    # going through the generic wrappers would compile every function twice
    # (Numba types an inline="always" overload by compiling it standalone),
    # which dominated the cold run time.  Dispatch is tested separately
    # (test_generic_dispatch, test_scalar_python_call, test_loop_vectorises).
    @njit(cache=True, error_model="numpy")
    def _k_exp_f32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._exp_f32(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_exp_f64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._exp_f64(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_log_f32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._log_f32(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_log_f64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._log_f64(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_expm1_f32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._expm1_f32(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_expm1_f64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._expm1_f64(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_log1p_f32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._log1p_f32(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_log1p_f64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._log1p_f64(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_tanh_f32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._tanh_f32(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_tanh_f64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._tanh_f64(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_sigmoid_f32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._sigmoid_f32(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_sigmoid_f64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._sigmoid_f64(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_sin_f32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._sin_f32(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_sin_f64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._sin_f64(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_cos_f32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._cos_f32(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_cos_f64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._cos_f64(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_tan_f32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._tan_f32(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_tan_f64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._tan_f64(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_erf_f32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._erf_f32(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_erf_f64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._erf_f64(x[i])
finally:
    numba.config.CACHE_DIR = _old_cache_dir

KERNELS = {name: {np.dtype(np.float32): globals()[f"_k_{name}_f32"],
                  np.dtype(np.float64): globals()[f"_k_{name}_f64"]}
           for name in FUNCS}


def _sigmoid_ref(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


_TWO_OVER_SQRTPI = np.longdouble("1.1283791670955125738961589031215451716881")


def _erf_ref(x):
    """erf in np.longdouble (NumPy has no erf), returned in x's dtype.

    2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)): all terms
    positive, so no cancellation; 1 for |x| >= 6.5 (erfc(6.5) < 4e-20),
    x*2/sqrt(pi) for |x| < 1e-10.  Checked against mpmath (100-bit) on 5000
    points in [-7, 7] and 1e-12..6: max relative error 9.3e-19 (0.008 ulp of
    float64).
    """
    ld = np.longdouble
    xl = np.asarray(x, dtype=ld)
    a = np.abs(xl)
    res = np.where(a >= 6.5, ld(1), a * _TWO_OVER_SQRTPI)
    m = (a >= 1e-10) & (a < 6.5)
    am = a[m]
    z2 = 2 * am * am
    term = am.copy()
    acc = am.copy()
    n = 0
    while True:
        term = term * z2 / (2 * n + 3)
        acc += term
        n += 1
        if n > 10 and np.all(term <= acc * ld(1e-22)):
            break
    res[m] = _TWO_OVER_SQRTPI * np.exp(-am * am) * acc
    res = np.where(np.isnan(xl), xl, np.copysign(res, xl))
    return res.astype(np.asarray(x).dtype)


REFS = {"exp": np.exp, "log": np.log, "expm1": np.expm1, "log1p": np.log1p,
        "tanh": np.tanh, "sigmoid": _sigmoid_ref, "sin": np.sin, "cos": np.cos,
        "tan": np.tan, "erf": _erf_ref}


def run(name, x):
    out = np.empty_like(x)
    KERNELS[name][x.dtype](x, out)
    return out


def reference(name, x):
    """High-precision reference: float64 for float32 inputs, longdouble for float64."""
    hi = np.float64 if x.dtype == np.float32 else np.longdouble
    with np.errstate(all="ignore"):
        return REFS[name](x.astype(hi))


def ulp_errors(y, ref_hi):
    """|y - ref| in ulps of ref rounded to y.dtype.

    0 where y equals the correctly rounded reference (incl. matching inf/nan/
    signed zero), inf for special-value mismatches.
    """
    dt = y.dtype
    hi = ref_hi.dtype
    with np.errstate(all="ignore"):
        ref = ref_hi.astype(dt)
        err = (np.abs(y.astype(hi) - ref_hi)
               / np.spacing(np.abs(ref)).astype(hi)).astype(np.float64)
        same = (y == ref) & (np.signbit(y) == np.signbit(ref))
        same |= np.isnan(y) & np.isnan(ref)
        err = np.where(same, 0.0, err)
        bad = ~same & ((~np.isfinite(y)) | (~np.isfinite(ref))
                       | ((y == 0) & (ref == 0)))  # inf/nan mismatch, signed-zero mismatch
        err = np.where(bad, np.inf, err)
    return err


def check(name, x, max_ulp=MAX_ULP):
    y = run(name, x)
    lim = ACCURATE_RANGE.get(name)
    if lim is not None:
        # outside the accurate range: finite (bounded for sin/cos), nan for inf/nan
        out = np.abs(x) > lim
        yo = y[out]
        fin = np.isfinite(x[out])
        assert np.all(np.isnan(yo[~fin])), name
        assert np.all(np.isfinite(yo[fin])), name
        if name != "tan":
            assert np.all(np.abs(yo[fin]) <= 1), name
        x, y = x[~out], y[~out]
        if x.size == 0:             # a chunk of the exhaustive sweep lying wholly outside
            return 0.0
    err = ulp_errors(y, reference(name, x))
    i = int(np.argmax(err))
    assert err[i] <= max_ulp, (
        f"{name}[{x.dtype}]: {err[i]:.3g} ulp at x={x[i]!r} "
        f"(got {y[i]!r}, want {reference(name, x[i:i + 1])[0]!r})")
    print(f"{name}[{x.dtype}] n={x.size}: max {err[i]:.3f} ulp at x={x[i]!r}")
    return float(err[i])


# --------------------------------------------------------------------------
# float32 sweeps
# --------------------------------------------------------------------------
def f32_patterns(start, stop, step):
    return np.arange(start, stop, step, dtype=np.uint64).astype(np.uint32).view(np.float32)


# edge-dense float32 windows per function (sampled uniformly, in addition to
# the strided sweep over all bit patterns)
F32_INTERVALS = {
    "exp": [(-104.0, -87.0), (88.0, 89.0), (-1.0, 1.0)],
    "log": [(0.0, 4.0), (1 - 1e-3, 1 + 1e-3), (0.0, 1.2e-38)],
    "expm1": [(-1.0, 1.0), (-1e-3, 1e-3), (88.0, 89.0), (-20.0, 0.0)],
    "log1p": [(-1.0, -0.99), (-0.5, 0.5), (-1e-3, 1e-3)],
    "tanh": [(-10.0, 10.0), (-1.0, 1.0), (-1e-3, 1e-3)],
    "sigmoid": [(-104.0, -80.0), (-20.0, 20.0)],
    "sin": [(-10.0, 10.0), (-1e-3, 1e-3), (-1.6e6, 1.6e6)],
    "cos": [(-10.0, 10.0), (1.5, 1.6), (-1.6e6, 1.6e6)],
    "tan": [(-10.0, 10.0), (1.5, 1.6), (-1.6e6, 1.6e6)],
    "erf": [(-6.0, 6.0), (0.8, 1.3), (-3.0, -1.2), (3.8, 4.2)],
}


def f32_inputs(name, step=4099, n=40_000, seed=1):
    # every 4099th float32 bit pattern (~1.05M values: both signs, all
    # exponents, subnormals, infinities and nans) + dense edge windows
    rng = np.random.default_rng(seed)
    parts = [f32_patterns(0, 2**32, step)]
    for lo, hi in F32_INTERVALS[name]:
        parts.append(rng.uniform(lo, hi, n).astype(np.float32))
    return np.concatenate(parts)


@pytest.mark.parametrize("name", FUNCS)
def test_f32_strided_all_bit_patterns(name):
    check(name, f32_inputs(name))


@pytest.mark.parametrize("name", FUNCS)
def test_f32_exhaustive(name):
    worst = 0.0
    step = 2**26
    for lo in range(0, 2**32, step):
        worst = max(worst, check(name, f32_patterns(lo, lo + step, 1)))
    print(f"{name} float32 exhaustive: max {worst:.3f} ulp")


for _m in slow:
    test_f32_exhaustive = _m(test_f32_exhaustive)


# --------------------------------------------------------------------------
# float64 sweeps
# --------------------------------------------------------------------------
# "interesting" intervals per function, swept uniformly and densely near ends
INTERVALS = {
    "exp": [(-746.0, 710.0), (-1.0, 1.0), (-708.5, -708.3), (-745.2, -745.0),
            (709.7, 709.8)],
    "log": [(0.0, 4.0), (0.5, 2.0), (1 - 1e-6, 1 + 1e-6), (0.0, 1e-300)],
    "expm1": [(-40.0, 710.0), (-2.0, 2.0), (-1e-6, 1e-6), (709.7, 709.8)],
    "log1p": [(-1.0, 4.0), (-1e-6, 1e-6), (-1.0, -0.999), (-0.5, 0.5)],
    "tanh": [(-25.0, 25.0), (-1.0, 1.0), (-1e-6, 1e-6), (18.0, 20.0)],
    "sigmoid": [(-750.0, 750.0), (-40.0, 40.0), (-1e-6, 1e-6), (-745.2, -708.0)],
    "sin": [(-10.0, 10.0), (-1e-6, 1e-6), (-1.6e6, 1.6e6), (3.14, 3.15)],
    "cos": [(-10.0, 10.0), (1.57, 1.58), (-1.6e6, 1.6e6), (1e5, 1.01e5)],
    "tan": [(-10.0, 10.0), (1.57, 1.58), (-1.6e6, 1.6e6), (-1e-6, 1e-6)],
    "erf": [(-6.5, 6.5), (-1.0, 1.0), (0.84, 0.85), (1.24, 1.26), (2.85, 2.86),
            (5.9, 6.1)],
}


def f64_inputs(name, n=40_000, seed=0):
    rng = np.random.default_rng(seed)
    parts = []
    # log-uniform magnitudes over (almost) the whole range, both signs
    mag = 10.0 ** rng.uniform(-323, 308, 4 * n)
    parts.append(mag * rng.choice([-1.0, 1.0], mag.size))
    # near zero
    parts.append(10.0 ** rng.uniform(-30, 0, n) * rng.choice([-1.0, 1.0], n))
    for lo, hi in INTERVALS[name]:
        parts.append(rng.uniform(lo, hi, n))
        parts.append(lo + 10.0 ** rng.uniform(-15, -1, n // 4) * (hi - lo))
        parts.append(hi - 10.0 ** rng.uniform(-15, -1, n // 4) * (hi - lo))
    # random bit patterns (all exponents, subnormals, specials)
    parts.append(rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64))
    return np.concatenate(parts)


@pytest.mark.parametrize("name", FUNCS)
def test_f64_dense_sweep(name):
    x = f64_inputs(name)
    assert x.size > 450_000
    check(name, x)


# --------------------------------------------------------------------------
# special values
# --------------------------------------------------------------------------
inf, nan = np.inf, np.nan
SPECIALS = {
    "exp": [(0.0, 1.0), (-0.0, 1.0), (inf, inf), (-inf, 0.0), (nan, nan),
            (710.0, inf), (1e300, inf), (-746.0, 0.0), (-1e300, 0.0),
            (-745.0, 5e-324), (-740.0, "ref")],
    "log": [(1.0, 0.0), (0.0, -inf), (-0.0, -inf), (inf, inf), (-inf, nan),
            (-1.0, nan), (nan, nan), (5e-324, "ref"), (1e-310, "ref"),
            (-5e-324, nan)],
    "expm1": [(0.0, 0.0), (-0.0, -0.0), (inf, inf), (-inf, -1.0), (nan, nan),
              (1e300, inf), (710.0, inf), (-1e300, -1.0), (5e-324, 5e-324),
              (-5e-324, -5e-324), (1e-310, 1e-310)],
    "log1p": [(0.0, 0.0), (-0.0, -0.0), (inf, inf), (-inf, nan), (nan, nan),
              (-1.0, -inf), (-2.0, nan), (5e-324, 5e-324), (-5e-324, -5e-324),
              (1e300, "ref")],
    "tanh": [(0.0, 0.0), (-0.0, -0.0), (inf, 1.0), (-inf, -1.0), (nan, nan),
             (1e300, 1.0), (-1e300, -1.0), (5e-324, 5e-324), (-5e-324, -5e-324),
             (1e-310, 1e-310)],
    "sigmoid": [(0.0, 0.5), (-0.0, 0.5), (inf, 1.0), (-inf, 0.0), (nan, nan),
                (1e300, 1.0), (-1e300, 0.0), (-800.0, 0.0), (-740.0, "ref")],
    "sin": [(0.0, 0.0), (-0.0, -0.0), (inf, nan), (-inf, nan), (nan, nan),
            (5e-324, 5e-324), (-5e-324, -5e-324), (1e-310, 1e-310),
            (np.pi, "ref"), (1.5e6, "ref"), (1e-8, "ref")],
    "cos": [(0.0, 1.0), (-0.0, 1.0), (inf, nan), (-inf, nan), (nan, nan),
            (5e-324, 1.0), (np.pi / 2, "ref"), (np.pi, "ref"), (1.5e6, "ref")],
    "tan": [(0.0, 0.0), (-0.0, -0.0), (inf, nan), (-inf, nan), (nan, nan),
            (5e-324, 5e-324), (-5e-324, -5e-324), (np.pi / 2, "ref"),
            (-np.pi / 2, "ref"), (1.5e6, "ref")],
    "erf": [(0.0, 0.0), (-0.0, -0.0), (inf, 1.0), (-inf, -1.0), (nan, nan),
            (6.0, 1.0), (-1e300, -1.0), (5e-324, 5e-324), (-5e-324, -5e-324),
            (1e-310, "ref"), (1e-9, "ref"), (0.84375, "ref"), (1.25, "ref"),
            (-2.857142857142857, "ref"), (5.9, "ref")],
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", FUNCS)
def test_special_values(name, dtype):
    xs = np.array([a for a, _ in SPECIALS[name]], dtype=np.float64)
    with np.errstate(all="ignore"):
        x = xs.astype(dtype)
        want = reference(name, x).astype(dtype)
    # the table itself must agree with NumPy (guards the table, not the impl)
    for (a, w), r in zip(SPECIALS[name], want):
        if w != "ref" and dtype == np.float64:
            assert np.array_equal(np.float64(w), r, equal_nan=True) and \
                (np.isnan(r) or np.signbit(w) == np.signbit(r)), (name, a, w, r)
    got = run(name, x)
    exact = np.array([w != "ref" for _, w in SPECIALS[name]])
    for xi, g, r, ex in zip(x, got, want, exact):
        if ex:
            assert np.array_equal(g, r, equal_nan=True) and \
                (np.isnan(r) or np.signbit(g) == np.signbit(r)), \
                f"{name}({xi!r}) = {g!r}, NumPy gives {r!r}"
    err = ulp_errors(got, reference(name, x))
    assert err.max() <= MAX_ULP, (name, x, got, want)


@pytest.mark.parametrize("name", DISPATCH_FUNCS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scalar_python_call(name, dtype):
    # the generic functions are callable from Python too
    x = dtype(0.75)
    got = getattr(vm, name)(x)
    want = reference(name, np.array([x]))[0]
    assert abs(got - float(want)) <= 4 * np.spacing(abs(dtype(want)))


def test_f32_exp_subnormal_results():
    # every float32 whose exp is subnormal or rounds to 0 / min subnormal
    x = np.arange(-104.5, -87.0, 1e-4).astype(np.float32)
    check("exp", x, max_ulp=1.0)
    y = run("exp", x)
    ref = reference("exp", x).astype(np.float32)
    assert np.count_nonzero((y > 0) & (y < np.finfo(np.float32).tiny)) > 1000
    assert np.array_equal(y == 0, ref == 0)


# --------------------------------------------------------------------------
# generic dispatch + vectorisation
# --------------------------------------------------------------------------
def test_public_names():
    assert sorted(vm.__all__) == sorted(FUNCS)
    for name in FUNCS:
        assert callable(getattr(vm, name))


def test_loop_vectorises():
    # One fresh (uncached: Numba cannot inspect code loaded from its cache)
    # kernel per dtype: exp through the public generic wrapper (dispatch
    # inside a loop), log and sin through the typed kernels (cheaper to
    # compile, same code).  LLVM vectorises a loop body as a whole, so one
    # vector loop shows all three vectorise.  Results must equal the sweep
    # kernels' bit for bit.
    @njit(error_model="numpy")
    def kern32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm.exp(x[i]) + vm._log_f32(x[i]) + vm._sin_f32(x[i])

    @njit(error_model="numpy")
    def kern64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm.exp(x[i]) + vm._log_f64(x[i]) + vm._sin_f64(x[i])

    sig32 = (numba.float32[::1], numba.float32[::1])
    sig64 = (numba.float64[::1], numba.float64[::1])
    for kern, sig, dt in ((kern32, sig32, np.float32), (kern64, sig64, np.float64)):
        kern.compile(sig)
        x = np.linspace(0.01, 50.0, 10_001).astype(dt)
        got = np.empty_like(x)
        kern(x, got)
        want = run("exp", x) + run("log", x) + run("sin", x)
        assert np.array_equal(got, want)
    llvm32 = kern32.inspect_llvm(sig32)
    llvm64 = kern64.inspect_llvm(sig64)
    for ll in (llvm32, llvm64):
        assert not re.search(r"call [^@\n]*@(llvm\.)?(exp|log|sin|cos|tan|erf)f?[.(]", ll), \
            "libm call left"
    assert re.search(r"<(4|8|16) x float>", llvm32), "float32 loop not vectorised"
    assert re.search(r"\bv(mul|add|sub)ps\s+%[yz]mm", kern32.inspect_asm(sig32))
    assert re.search(r"<(2|4|8) x double>", llvm64), "float64 loop not vectorised"
