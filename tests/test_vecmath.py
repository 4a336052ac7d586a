"""Accuracy / special-value / vectorisation tests for numgrad.kernels.vecmath.

Every result is compared against NumPy (float32: the float64 NumPy result,
float64: NumPy on ``np.longdouble``), never against the implementation itself.
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

from numgrad.kernels import vecmath as vm

MAX_ULP = 4.0
FUNCS = ["exp", "log", "expm1", "log1p", "tanh", "sigmoid"]

slow = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("NUMGRAD_SLOW") != "1",
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
    @njit(cache=True, error_model="numpy")
    def _k_exp(x, out):
        for i in range(x.shape[0]):
            out[i] = vm.exp(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_log(x, out):
        for i in range(x.shape[0]):
            out[i] = vm.log(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_expm1(x, out):
        for i in range(x.shape[0]):
            out[i] = vm.expm1(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_log1p(x, out):
        for i in range(x.shape[0]):
            out[i] = vm.log1p(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_tanh(x, out):
        for i in range(x.shape[0]):
            out[i] = vm.tanh(x[i])

    @njit(cache=True, error_model="numpy")
    def _k_sigmoid(x, out):
        for i in range(x.shape[0]):
            out[i] = vm.sigmoid(x[i])
finally:
    numba.config.CACHE_DIR = _old_cache_dir

KERNELS = {"exp": _k_exp, "log": _k_log, "expm1": _k_expm1,
           "log1p": _k_log1p, "tanh": _k_tanh, "sigmoid": _k_sigmoid}


def _sigmoid_ref(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


REFS = {"exp": np.exp, "log": np.log, "expm1": np.expm1, "log1p": np.log1p,
        "tanh": np.tanh, "sigmoid": _sigmoid_ref}


def run(name, x):
    out = np.empty_like(x)
    KERNELS[name](x, out)
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


@pytest.mark.parametrize("name", FUNCS)
def test_f32_strided_all_bit_patterns(name):
    # every 257th float32 bit pattern: ~16.7M values, both signs, all exponents,
    # subnormals, infinities and nans
    check(name, f32_patterns(0, 2**32, 257))


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
}


def f64_inputs(name, n=300_000, seed=0):
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
    assert x.size > 2_500_000
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


@pytest.mark.parametrize("name", FUNCS)
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
# vectorisation
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["exp", "log"])
def test_loop_vectorises(name):
    # fresh (uncached) kernels: Numba cannot inspect code loaded from its cache
    f = getattr(vm, name)

    @njit(error_model="numpy")
    def kern(x, out):
        for i in range(x.shape[0]):
            out[i] = f(x[i])

    sig32 = (numba.float32[::1], numba.float32[::1])
    sig64 = (numba.float64[::1], numba.float64[::1])
    kern.compile(sig32)
    kern.compile(sig64)
    llvm32 = kern.inspect_llvm(sig32)
    llvm64 = kern.inspect_llvm(sig64)
    for ll in (llvm32, llvm64):
        assert not re.search(r"call .*@(llvm\.)?(exp|log)f?[.(]", ll), "libm call left"
    assert re.search(r"<(4|8|16) x float>", llvm32), "float32 loop not vectorised"
    assert re.search(r"\bv(mul|add|sub)ps\s+%[yz]mm", kern.inspect_asm(sig32))
    assert re.search(r"<(2|4|8) x double>", llvm64), "float64 loop not vectorised"
