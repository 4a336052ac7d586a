"""Complex pow, tan, asin, acos, atan, asinh, atanh and log1p in fused cpu loops (issue 17;
the templates of numgrad/ops/complex.py): one kernel for all of them and their gradients,
equal to the NumPy references to an ulp or two over a sweep of finite values (zeros, tiny,
huge, on the branch cuts; for pow, NumPy's special cases).  Sinh, cosh, acosh and expm1
still run their references (Numba's complex versions differ from NumPy's for some finite
inputs; see ops/complex.py)."""
import itertools

import numpy as np
import pytest

import numgrad as ng
from plan_checks import plan_of

_PARTS = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-300, 1e-8, 30.0, -30.0, 1e150, -1e150]
SWEEP = np.array([complex(a, b) for a, b in itertools.product(_PARTS, _PARTS)])
FUSED = {"tan": ng.tan, "asin": ng.asin, "acos": ng.acos, "atan": ng.atan,
         "asinh": ng.asinh, "atanh": ng.atanh, "log1p": ng.math.log1p}


def _close(got, want, rtol):
    """Each part within rtol of NumPy's (NaN where NumPy has NaN), or both parts tiny."""
    with np.errstate(all="ignore"):
        ok = (np.isclose(got.real, want.real, rtol=rtol, atol=0, equal_nan=True)
              & np.isclose(got.imag, want.imag, rtol=rtol, atol=0, equal_nan=True))
        return ok | (np.abs(got - want) <= rtol * 1e-3 * np.maximum(1, np.abs(want)))


@pytest.mark.backend_independent                # its Sessions name their backends
@pytest.mark.parametrize("dtype", [ng.complex64, ng.complex128])
def test_one_kernel_equal_to_the_references(dtype):
    values = SWEEP if dtype == ng.complex128 else SWEEP[np.abs(SWEEP) < 1e30]
    z = ng.placeholder(dtype, [len(values)])
    outs = [f(z) for f in FUSED.values()]
    feed = {z: values.astype(dtype.np)}
    plan = plan_of(outs, feed)
    assert len(plan.kernels) == 1 and plan.opaque == [], plan
    with np.errstate(all="ignore"):
        with ng.Session(backend="numpy") as s:
            ref = s.run(outs, feed)
        with ng.Session(backend="cpu") as s:
            got = s.run(outs, feed)
    rtol = 2e-6 if dtype == ng.complex64 else 1e-13
    for name, g, r in zip(FUSED, got, ref):
        assert g.dtype == r.dtype
        bad = ~_close(g, r, rtol)
        assert not bad.any(), (name, values[bad][:3], g[bad][:3], r[bad][:3])


_BASES = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -3.0, 1e-3, 30.0, -30.0]
_EXPONENTS = [0, 1, 2, 3, -1, 0.5, 1j, 2 + 0.5j, -2.5, 10, -7, 4.5 - 1j, 99, -99]
POW_BASES = np.array([complex(a, b) for a, b in itertools.product(_BASES, _BASES)
                      for _ in _EXPONENTS])
POW_EXPONENTS = np.array([e for _ in itertools.product(_BASES, _BASES) for e in _EXPONENTS],
                         complex)


@pytest.mark.backend_independent
@pytest.mark.parametrize("dtype", [ng.complex64, ng.complex128])
def test_pow_follows_numpys_special_cases(dtype):
    """0 ** b (1 for b == 0, 0 for Re b > 0, else NaN), integer powers multiplied out (exact
    for Gaussian integers), and exp(b log a) otherwise -- NumPy's algorithm, so one kernel
    gives NumPy's values.  complex64: NumPy's float32 exp(b log a) is off by up to ~3e-6 of
    the modulus, hence the looser tolerance there."""
    a, b = ng.placeholder(dtype, [len(POW_BASES)]), ng.placeholder(dtype, [len(POW_BASES)])
    y = ng.pow(a, b)
    feed = {a: POW_BASES.astype(dtype.np), b: POW_EXPONENTS.astype(dtype.np)}
    plan = plan_of([y], feed)
    assert len(plan.kernels) == 1 and plan.opaque == [], plan
    with np.errstate(all="ignore"):
        with ng.Session(backend="numpy") as s:
            ref = s.run(y, feed)
        with ng.Session(backend="cpu") as s:
            got = s.run(y, feed)
    rtol = 1e-5 if dtype == ng.complex64 else 1e-13
    with np.errstate(all="ignore"):
        near = np.abs(got - ref) <= rtol * np.abs(ref)
    fin = np.isfinite(ref)
    assert (near | ~fin).all(), (POW_BASES[fin & ~near][:3], POW_EXPONENTS[fin & ~near][:3])
    zero = POW_BASES == 0
    assert np.array_equal(got[zero], ref[zero], equal_nan=True)     # 0 ** b: 1, 0 or NaN
    exact = np.isin(POW_EXPONENTS, [0, 1, 2, 3])
    assert np.array_equal(got[exact & fin], ref[exact & fin])      # multiplied out, as NumPy


def test_gradients_fuse_and_match_finite_differences():
    """The gradient graph against central differences (on the numpy backend), then the cpu
    backend's fused gradient kernels against the numpy backend's, with a seed whose entries
    have real and imaginary parts (as compute_gradient's one-hot seeds 1 and 1j)."""
    z = ng.placeholder(ng.complex128, [3])
    y = ng.add_n([f(z) for f in FUSED.values()] + [ng.pow(z, 2.5 - 0.5j), ng.pow(2.0 + 1j, z)])
    zv = np.array([0.3 + 0.4j, -0.2 + 0.1j, 0.5 - 0.6j])
    with ng.Session(backend="numpy"):
        err = ng.test.compute_gradient_error(z, [3], y, [3], x_init_value=zv)
    assert err < 1e-5           # central differences with delta 1e-3: O(delta^2)
    g, = ng.gradients(y, z, grad_ys=ng.constant(np.array([1.0 + 2.0j, -0.5j, 0.3])))
    with ng.Session(backend="numpy") as s:
        ref = s.run(g, {z: zv})
    with ng.Session(backend="cpu") as s:
        got = s.run(g, {z: zv})
    np.testing.assert_allclose(got, ref, rtol=1e-13)


@pytest.mark.backend_independent
def test_unfused_ones_run_their_references():
    z = ng.placeholder(ng.complex128, [2])
    outs = [ng.sinh(z), ng.cosh(z), ng.acosh(z), ng.math.expm1(z)]
    plan = plan_of(outs, {z: np.array([0.5 + 1j, 1e-8 + 0j])})
    assert sorted(plan.opaque) == ["Acosh", "Cosh", "Expm1", "Sinh"], plan
