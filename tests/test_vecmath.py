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

import budget

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

MAX_ULP = 4.0
# The sweeps' sample sizes: the references run in np.longdouble, so the sweeps' time is mostly
# theirs.  The default run samples each interval a quarter as densely as NUMGRAD_SLOW=1 (the
# same intervals, edges and bit patterns), the float32 bit patterns every 16411th instead of
# every 4099th (about 512 per binade: every exponent, subnormals, infinities and NaNs).
SWEEP_N = budget.examples(10_000, 40_000)
F32_STEP = budget.examples(16411, 4099)
FUNCS = ["exp", "log", "expm1", "log1p", "tanh", "sigmoid", "sin", "cos", "tan", "erf",
         "atan", "asin", "acos", "erfc"]
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

    @njit(cache=True, error_model="numpy")
    def _k_atan_f32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._atan_f32(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_atan_f64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._atan_f64(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_asin_f32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._asin_f32(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_asin_f64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._asin_f64(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_acos_f32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._acos_f32(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_acos_f64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._acos_f64(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_erfc_f32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._erfc_f32(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_erfc_f64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._erfc_f64(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_digamma_f32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._digamma_f32(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_digamma_f64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._digamma_f64(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_lgamma_f32(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._lgamma_f32(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_lgamma_f64(x, out):
        for i in range(x.shape[0]):
            out[i] = vm._lgamma_f64(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_atan2_f32(y, x, out):
        for i in range(x.shape[0]):
            out[i] = vm._atan2_f32(y[i], x[i])

    @njit(cache=True, error_model="numpy")
    def _k_atan2_f64(y, x, out):
        for i in range(x.shape[0]):
            out[i] = vm._atan2_f64(y[i], x[i])
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
    """erf in np.longdouble (NumPy has no erf), returned in x's dtype."""
    return _erf_ld(np.asarray(x, dtype=np.longdouble)).astype(np.asarray(x).dtype)


_ONE_OVER_SQRTPI = np.longdouble("0.5641895835477562869480794515607725858441")


def _erfc_ref(x):
    """erfc in np.longdouble, returned in x's dtype: 1 + erf(|x|) for x < 0, 1 - erf(x) below
    x = 1 (erfc(1) = 0.157: the cancellation costs 3 of long double's 64 bits), and above,
    the continued fraction exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
    summed back from 400 terms on [1, 2), 100 on [2, 4), 30 beyond (each gives the same long
    double as 20000 terms at the start of its interval).  Checked against
    scipy.special.erfc on [-6, 30]: equal within 1 ulp of float64 wherever SciPy's result
    is normal."""
    ld = np.longdouble
    xl = np.asarray(x, dtype=ld)
    with np.errstate(all="ignore"):
        res = np.where(xl < 0, 1 + _erf_ld(-xl), 1 - _erf_ld(np.where(xl < 1, xl, ld(0))))
        for lo, hi, terms in ((1, 2, 400), (2, 4, 100), (4, np.inf, 30)):
            m = (xl >= lo) & (xl < hi)
            xb = xl[m]
            t = xb.copy()
            for k in range(terms, 0, -1):
                t = xb + (ld(k) / 2) / t
            res[m] = np.exp(-xb * xb) * _ONE_OVER_SQRTPI / t
        res[xl == np.inf] = 0
    res = np.where(np.isnan(xl), xl, res)
    return res.astype(np.asarray(x).dtype)


def _erf_ld(xl):
    """erf of a np.longdouble array.

    2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)): all terms
    positive, so no cancellation; 1 for |x| >= 6.5 (erfc(6.5) < 4e-20),
    x*2/sqrt(pi) for |x| < 1e-10.  Checked against mpmath (100-bit) on 5000
    points in [-7, 7] and 1e-12..6: max relative error 9.3e-19 (0.008 ulp of
    float64).
    """
    ld = np.longdouble
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
    return np.where(np.isnan(xl), xl, np.copysign(res, xl))


REFS = {"exp": np.exp, "log": np.log, "expm1": np.expm1, "log1p": np.log1p,
        "tanh": np.tanh, "sigmoid": _sigmoid_ref, "sin": np.sin, "cos": np.cos,
        "tan": np.tan, "erf": _erf_ref, "atan": np.arctan,
        "asin": np.arcsin, "acos": np.arccos, "erfc": _erfc_ref}


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
    "atan": [(-3.0, 3.0), (0.43, 0.44), (1.18, 1.19), (2.43, 2.44), (-1e-3, 1e-3)],
    "asin": [(-1.0, 1.0), (0.49, 0.51), (0.97, 0.98), (0.999, 1.0), (-1e-3, 1e-3)],
    "acos": [(-1.0, 1.0), (0.49, 0.51), (-0.51, -0.49), (0.999, 1.0), (-1.0, -0.999)],
    "erfc": [(-4.0, 10.0), (0.2, 1.3), (-1.3, -0.8), (2.8, 2.9), (9.0, 10.5)],
}


def f32_inputs(name, step=F32_STEP, n=SWEEP_N, seed=1):
    # every `step`th float32 bit pattern (4099: ~1.05M values: both signs, all
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
    # around each reduction point (7/16, 11/16, 19/16, 39/16) and the tiny/huge ends
    "atan": [(-4.0, 4.0), (0.43, 0.44), (0.68, 0.69), (1.18, 1.19), (2.43, 2.44),
             (-1e-6, 1e-6), (1e15, 1e17)],
    # the switch points 1/2 and 0.975, the ends +-1 and tiny |x|
    "asin": [(-1.0, 1.0), (0.49, 0.51), (0.97, 0.98), (1 - 1e-6, 1.0), (-1.0, -1 + 1e-9),
             (-1e-6, 1e-6)],
    "acos": [(-1.0, 1.0), (0.49, 0.51), (-0.51, -0.49), (1 - 1e-6, 1.0), (-1.0, -1 + 1e-6),
             (-1e-6, 1e-6)],
    # the switch points 1/4, 0.84375, 1.25, 1/0.35, 6 (where erf saturates) and the tail
    "erfc": [(-6.5, 27.5), (0.24, 0.26), (0.84, 0.85), (1.24, 1.26), (2.85, 2.86),
             (-6.1, -5.9), (26.0, 27.3)],
}


def f64_inputs(name, n=SWEEP_N, seed=0):
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
    assert x.size > 11 * SWEEP_N
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
    "atan": [(0.0, 0.0), (-0.0, -0.0), (inf, np.pi / 2), (-inf, -np.pi / 2), (nan, nan),
             (5e-324, 5e-324), (-5e-324, -5e-324), (1e300, np.pi / 2), (1.0, np.pi / 4),
             (0.4375, "ref"), (0.6875, "ref"), (1.1875, "ref"), (2.4375, "ref"), (1e-8, "ref")],
    "asin": [(0.0, 0.0), (-0.0, -0.0), (1.0, np.pi / 2), (-1.0, -np.pi / 2), (nan, nan),
             (inf, nan), (-inf, nan), (1.0000000000000002, nan), (-2.0, nan), (5e-324, 5e-324),
             (-5e-324, -5e-324), (0.5, "ref"), (0.975, "ref"), (1e-8, "ref")],
    "acos": [(1.0, 0.0), (-1.0, np.pi), (0.0, np.pi / 2), (-0.0, np.pi / 2), (nan, nan),
             (inf, nan), (-inf, nan), (1.0000000000000002, nan), (-2.0, nan),
             (5e-324, np.pi / 2), (0.5, "ref"), (-0.5, "ref"), (0.9999999999999999, "ref")],
    "erfc": [(0.0, 1.0), (-0.0, 1.0), (inf, 0.0), (-inf, 2.0), (nan, nan), (30.0, 0.0),
             (-30.0, 2.0), (5e-324, 1.0), (0.25, "ref"), (0.84375, "ref"), (1.25, "ref"),
             (-1.25, "ref"), (2.857142857142857, "ref"), (26.5, "ref"), (27.2, "ref")],
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
# functions of two arguments
# --------------------------------------------------------------------------
BINARY_FUNCS = ["atan2"]
BINARY_KERNELS = {"atan2": {np.dtype(np.float32): _k_atan2_f32,
                            np.dtype(np.float64): _k_atan2_f64}}


def _pairs(dtype, n=SWEEP_N * 3 // 2, seed=3):
    """(y, x): log-uniform magnitudes over the dtype's range, both signs, same-scale pairs
    (ratios near 1: every reduction interval of atan), and random bit patterns."""
    rng = np.random.default_rng(seed)
    lo, hi = (-44, 38) if dtype == np.float32 else (-320, 307)
    mags = [10.0 ** rng.uniform(lo, hi, n) for _ in range(2)]
    signs = [rng.choice([-1.0, 1.0], n) for _ in range(2)]
    y, x = mags[0] * signs[0], mags[1] * signs[1]
    near = 10.0 ** rng.uniform(-3, 3, n) * signs[0]
    scale = 10.0 ** rng.uniform(lo / 2, hi / 2, n)
    bits = np.uint32 if dtype == np.float32 else np.uint64
    rand = [rng.integers(0, np.iinfo(bits).max, n, dtype=bits).view(dtype) for _ in range(2)]
    with np.errstate(all="ignore"):
        ys = np.concatenate([y, near * scale, rng.uniform(-4, 4, n)]).astype(dtype)
        xs = np.concatenate([x, scale * signs[1], rng.uniform(-4, 4, n)]).astype(dtype)
    return np.concatenate([ys, rand[0]]), np.concatenate([xs, rand[1]])


def _run2(name, y, x):
    out = np.empty_like(x)
    BINARY_KERNELS[name][x.dtype](y, x, out)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_atan2_sweep(dtype):
    y, x = _pairs(dtype)
    got = _run2("atan2", y, x)
    hi = np.float64 if dtype == np.float32 else np.longdouble
    with np.errstate(all="ignore"):
        err = ulp_errors(got, np.arctan2(y.astype(hi), x.astype(hi)))
    i = int(np.argmax(err))
    assert err[i] <= MAX_ULP, f"atan2({y[i]!r}, {x[i]!r}) = {got[i]!r}: {err[i]:.3g} ulp"
    print(f"atan2[{np.dtype(dtype)}] n={x.size}: max {err[i]:.3f} ulp at "
          f"({y[i]!r}, {x[i]!r})")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_atan2_special_values(dtype):
    """Pairs with a zero, infinite or nan argument give NumPy's (C99's) result exactly, signed
    zeros too; the other pairs of the grid are within 1 ulp."""
    vals = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -3.0, inf, -inf, nan, 1e-40, 1e30])
    y, x = (a.ravel().astype(dtype) for a in np.meshgrid(vals, vals))
    got = _run2("atan2", y, x)
    with np.errstate(all="ignore"):
        want = np.arctan2(y, x)
        err = ulp_errors(got, np.arctan2(y.astype(np.longdouble), x.astype(np.longdouble)))
    special = ~np.isfinite(x) | ~np.isfinite(y) | (x == 0) | (y == 0)
    exact = (got == want) & (np.signbit(got) == np.signbit(want)) | np.isnan(got) & np.isnan(want)
    bad = [(a, b, g, w) for a, b, g, w, ok in zip(y, x, got, want, exact | ~special) if not ok]
    assert not bad, bad
    assert special.sum() > 60 and err[~special].max() <= 1.0


# --------------------------------------------------------------------------
# digamma: TF's special values; accuracy measured apart for x > 0 and x < 0
# --------------------------------------------------------------------------
_PI_LD = np.longdouble("3.14159265358979323846264338327950288")   # np.pi is 1e-16 off


def _digamma_ref(x):
    """(reference, scale) in float64 for x: SciPy's psi for x > 0 (SciPy uses Boost's rational
    around the positive root, so values near it are accurate too); for x < 0 the reflection
    psi(1 - x) - pi/tan(pi*f), f = x - round(x) (exact), with SciPy's psi(1 - x) and the
    tangent in long double.  `scale` is what an error is measured in ulps of: the value for
    x > 0; for x < 0 the larger of the two terms, since near the negative roots they cancel
    (and psi(1 - x) carries its own rounding)."""
    sps = pytest.importorskip("scipy.special")
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        pos = sps.psi(x)
        f = x - np.round(x)
        refl = _PI_LD / np.tan(_PI_LD * f.astype(np.longdouble))
        other = sps.psi(1.0 - x)
        neg = (other - refl).astype(np.float64)
        ref = np.where(x > 0, pos, np.where(f == 0, np.nan, neg))
        scale = np.where(x > 0, np.abs(ref), np.maximum(np.abs(other),
                                                        np.abs(refl).astype(np.float64)))
    return ref, scale


def _digamma_inputs(dtype, n=SWEEP_N * 3 // 2, seed=5):
    rng = np.random.default_rng(seed)
    lo, hi = (-38, 38) if dtype == np.float32 else (-300, 300)
    x = np.concatenate([
        10.0 ** rng.uniform(lo, hi, n),                    # all magnitudes
        rng.uniform(0.0, 12.0, n),                         # the recurrence and both forms
        rng.uniform(1.45, 1.475, n // 2),                  # around the positive root
        rng.uniform(-12.0, 0.0, n),                        # reflection; near poles and roots
        -(np.arange(1, 2000) + rng.uniform(-1e-4, 1e-4, 1999)),
        -(10.0 ** rng.uniform(0, 15, n // 4))])
    with np.errstate(all="ignore"):
        return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_digamma_sweep(dtype):
    x = _digamma_inputs(dtype)
    got = np.empty_like(x)
    (_k_digamma_f32 if dtype == np.float32 else _k_digamma_f64)(x, got)
    ref, scale = _digamma_ref(x.astype(np.float64))
    with np.errstate(all="ignore"):
        want = ref.astype(dtype)
        same = (got == want) | np.isnan(got) & np.isnan(want)
        err = np.where(same, 0.0, np.abs(got.astype(np.float64) - ref)
                       / np.spacing(scale.astype(dtype)).astype(np.float64))
    for part, what in ((x > 0, "x > 0"), (x < 0, "x < 0 (ulps of the larger term)")):
        e = np.where(part, err, 0.0)
        i = int(np.argmax(e))
        assert e[i] <= MAX_ULP, f"digamma[{np.dtype(dtype)}] {what}: {e[i]:.3g} at {x[i]!r}"
        print(f"digamma[{np.dtype(dtype)}] {what} n={part.sum()}: max {e[i]:.3f} ulp "
              f"at {x[i]!r}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_digamma_special_values(dtype):
    """TF's (Eigen's Cephes) values: nan at 0, the negative integers and -inf."""
    cases = [(0.0, nan), (-0.0, nan), (-1.0, nan), (-7.0, nan), (-1e20, nan), (-inf, nan),
             (inf, inf), (nan, nan), (1.0, -0.5772156649015329), (1e-30, -1e30),
             (-0.5, 0.03648997397857652), (-2.5, 1.1031566406452432)]
    x = np.array([a for a, _ in cases]).astype(dtype)
    got = np.empty_like(x)
    (_k_digamma_f32 if dtype == np.float32 else _k_digamma_f64)(x, got)
    for (a, w), g in zip(cases, got):
        w = np.asarray(w).astype(dtype)
        assert np.array_equal(g, w, equal_nan=True) or abs(g - w) <= 2 * np.spacing(abs(w)), \
            (a, g, w)


# --------------------------------------------------------------------------
# lgamma: a long double reference (NumPy has none, and math.lgamma is some ulps off), and
# the same two measures as digamma
# --------------------------------------------------------------------------
ld = np.longdouble
_EULER = ld("0.5772156649015328606065120900824024310422")
_HALF_LOG_2PI = ld("0.9189385332046727417803297364056176398614")
_B2K = [ld(1) / 6, ld(-1) / 30, ld(1) / 42, ld(-1) / 30, ld(5) / 66, ld(-691) / 2730, ld(7) / 6,
        ld(-3617) / 510, ld(43867) / 798, ld(-174611) / 330]


def _zeta_ints(kmax):
    """zeta(2..kmax) in long double: sum to n = 30, then Euler-Maclaurin's tail."""
    out = {}
    n = 30
    for k in range(2, kmax + 1):
        kk = ld(k)
        s = sum(ld(j) ** -kk for j in range(1, n))
        s += ld(n) ** (1 - kk) / (kk - 1) + ld(n) ** -kk / 2
        fact, rising = ld(1), kk
        for j, b in enumerate(_B2K, start=1):
            fact *= (2 * j - 1) * (2 * j)
            s += b / fact * rising * ld(n) ** (-kk - 2 * j + 1)
            rising *= (kk + 2 * j - 1) * (kk + 2 * j)
        out[k] = s
    return out


_ZETA = _zeta_ints(90)


def _lgamma1p_series(z):
    """lgamma(1 + z) for |z| <= 1/2: -gamma*z + sum_k (-1)^k zeta(k)/k z^k."""
    acc = np.zeros_like(z)
    for k in range(90, 1, -1):
        acc = (acc + (-1) ** k * _ZETA[k] / k) * z
    return (acc - _EULER) * z


def _stirling(x):
    s = (x - ld(0.5)) * np.log(x) - x + _HALF_LOG_2PI
    x2 = x * x
    p = 1 / x
    for j, b in enumerate(_B2K, start=1):
        s += b / (2 * j * (2 * j - 1)) * p
        p /= x2
    return s


def lgamma_pos_ld(x):
    """lgamma of positive long doubles."""
    x = np.asarray(x, dtype=ld)
    out = np.empty_like(x)
    a = x < ld(0.5)
    out[a] = _lgamma1p_series(x[a]) - np.log(x[a])
    b = (x >= ld(0.5)) & (x < ld(1.5))
    out[b] = _lgamma1p_series(x[b] - 1)
    c = (x >= ld(1.5)) & (x < ld(2.5))
    out[c] = _lgamma1p_series(x[c] - 2) + np.log1p(x[c] - 2)
    d = (x >= ld(2.5)) & (x < ld(40))
    xd = x[d]
    shift = np.zeros_like(xd)
    for k in range(40):
        m = xd + k < 40
        shift[m] += np.log(xd[m] + k)
    out[d] = _stirling(np.where(xd < 40, xd + np.ceil(40 - xd), xd)) - shift
    e = x >= ld(40)
    out[e] = _stirling(x[e])
    out[x == np.inf] = np.inf
    return out


def _lgamma_ref(x):
    """(reference, scale) for float64 x, as _digamma_ref: x > 0 from lgamma_pos_ld (series
    about 1 and 2 with long double zeta(k), else Stirling after shifting past 40); x < 0 by
    reflection log(pi/|x sin(pi f)|) - lgamma(-x) in long double, measured in ulps of the
    larger of the two terms; -log|x| for |x| < 1e-30; inf at the poles."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        xl = x.astype(ld)
        pos = lgamma_pos_ld(np.abs(xl))
        f = (x - np.round(x)).astype(ld)
        t1 = np.log(_PI_LD / np.abs(xl * np.sin(_PI_LD * f)))
        tiny = np.abs(x) < 1e-30
        t1[tiny] = -np.log(np.abs(xl[tiny]))
        neg = np.where(tiny, t1, t1 - pos)
        ref = np.where(x > 0, pos, np.where(f == 0, np.inf, neg)).astype(np.float64)
        ref[np.isnan(x)] = np.nan
        scale = np.where(x > 0, np.abs(ref), np.maximum(np.abs(t1), np.abs(pos)).astype(np.float64))
    return ref, scale


# lgamma for x < 0 is a reflection: log(pi/|x sin(pi x)|) carries the ~2.5 ulp relative error
# of x*sin(pi x) as an absolute error, which is up to ~6 ulps of a term near 0.5
LGAMMA_NEG_ULP = 8.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lgamma_sweep(dtype):
    rng = np.random.default_rng(7)
    lo, hi = (-38, 38) if dtype == np.float32 else (-300, 300)
    n = SWEEP_N
    x = np.concatenate([
        10.0 ** rng.uniform(lo, hi, n), rng.uniform(0.0, 12.0, n),
        rng.uniform(0.9, 1.1, n // 2), rng.uniform(1.9, 2.1, n // 2),    # the zeros 1 and 2
        [0.23163998126983643, 0.7315998077392578, 0.8999996185302734, 1.2316322326660156,
         1.7316312789916992, 8.0, 2.8823037615171174e17],                # the switch points
        -rng.uniform(0.0, 12.0, n), -rng.uniform(2.4, 2.8, n // 2),      # the first zeros
        -(np.arange(1, 2000) + rng.uniform(-1e-4, 1e-4, 1999)), -(10.0 ** rng.uniform(lo, 15, n))])
    with np.errstate(all="ignore"):
        x = x.astype(dtype)
    got = np.empty_like(x)
    (_k_lgamma_f32 if dtype == np.float32 else _k_lgamma_f64)(x, got)
    ref, scale = _lgamma_ref(x.astype(np.float64))
    with np.errstate(all="ignore"):
        want = ref.astype(dtype)
        same = (got == want) | np.isnan(got) & np.isnan(want)
        err = np.where(same, 0.0, np.abs(got.astype(np.float64) - ref)
                       / np.spacing(scale.astype(dtype)).astype(np.float64))
    for part, bound, what in ((x > 0, MAX_ULP, "x > 0"),
                              (x < 0, LGAMMA_NEG_ULP, "x < 0 (ulps of the larger term)")):
        e = np.where(part, err, 0.0)
        i = int(np.argmax(e))
        assert e[i] <= bound, f"lgamma[{np.dtype(dtype)}] {what}: {e[i]:.3g} at {x[i]!r}"
        print(f"lgamma[{np.dtype(dtype)}] {what}: max {e[i]:.3f} ulp at {x[i]!r}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lgamma_special_values(dtype):
    """TF's values: inf at 0, the negative integers and +-inf; exactly 0 at 1 and 2."""
    cases = [(0.0, inf), (-0.0, inf), (-1.0, inf), (-7.0, inf), (-1e20, inf), (-inf, inf),
             (inf, inf), (nan, nan), (1.0, 0.0), (2.0, 0.0), (3.0, 0.6931471805599453),
             (0.5, 0.5723649429247001), (-0.5, 1.2655121234846454), (1e-30, 69.07755278982137)]
    x = np.array([a for a, _ in cases]).astype(dtype)
    got = np.empty_like(x)
    (_k_lgamma_f32 if dtype == np.float32 else _k_lgamma_f64)(x, got)
    for (a, w), g in zip(cases, got):
        w = np.asarray(w).astype(dtype)
        assert np.array_equal(g, w, equal_nan=True) or abs(g - w) <= 2 * np.spacing(abs(w)), \
            (a, g, w)


# --------------------------------------------------------------------------
# generic dispatch + vectorisation
# --------------------------------------------------------------------------
def test_public_names():
    assert sorted(vm.__all__) == sorted(FUNCS + BINARY_FUNCS + ["digamma", "lgamma"])
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


# --------------------------------------------------------------------------
# wiring into the fused cpu kernels
# --------------------------------------------------------------------------
# vecmath functions a big fused loop calls, with the op builder of the op wired to each
# (declared with the op: `vecmath=` of its registry.Template) and the relative tolerance
# against the NumPy backend
# (digamma: that is Cephes, as TF, a few e-13 off near psi's roots); the exp/tanh/... rows
# are covered by test_compiler
_EPS4 = 4 * np.finfo(np.float64).eps
WIRED = {"atan": (lambda ng, x: ng.atan(x), _EPS4),
         "asin": (lambda ng, x: ng.asin(x / 3.0), _EPS4),
         "acos": (lambda ng, x: ng.acos(x / 3.0), _EPS4),
         "atan2": (lambda ng, x: ng.atan2(x, x * x - 1.0), _EPS4),
         "erfc": (lambda ng, x: ng.erfc(x * 2.0), _EPS4),
         "digamma": (lambda ng, x: ng.digamma(x * 3.0), 1e-11),
         "lgamma": (lambda ng, x: ng.lgamma(x * 3.0), 1e-13)}


@pytest.mark.parametrize("name", sorted(WIRED))
def test_big_kernels_call_the_vecmath_function(name):
    import numgrad as ng
    from numgrad.compiler import vecmath_calls
    from numgrad.compiler.emit_cpu import emit_group
    from numgrad.compiler.layout import VECTOR_MIN
    assert name in vecmath_calls.functions()
    ng.reset_default_graph()
    x = ng.placeholder(ng.float64, [VECTOR_MIN])
    build, rtol = WIRED[name]
    y = build(ng, x)
    xv = np.linspace(-3, 3, VECTOR_MIN)
    sess = ng.Session(backend="cpu")
    got = sess.run(y, {x: xv})
    plan = next(iter(sess._plans.values())).compiled([xv])
    sources = [emit_group(s).source for s in plan.steps if s.kind == "group"]
    assert any(f"vmc.{name}_f64(" in src for src in sources)
    want = ng.Session(backend="numpy").run(y, {x: xv})
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-14 if rtol > _EPS4 else 0)
