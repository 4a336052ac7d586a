"""Branch-free, SIMD-vectorisable scalar math for Numba.

Numba lowers ``math.exp``/``np.tanh``/... on scalars to calls into libm, and a
call in a loop body stops LLVM's loop vectoriser.  The functions here are
written with only arithmetic, comparisons-with-selects (``a if c else b``) and
same-width float<->int bit casts, so once inlined into a loop LLVM emits packed
SIMD code (``<8 x float>`` / ``<16 x float>`` with AVX-512).

Public functions (usable from ``@njit`` code *and* from Python; each accepts a
float32 or a float64 scalar and returns the same type):

    exp, log, expm1, log1p, tanh, sigmoid

Dispatch: every function ``f`` is a tiny ``@njit`` wrapper around an
``overload``-ed stub that selects ``_f_f32`` or ``_f_f64`` by the argument's
bit width (integer arguments are treated as float64).  The typed kernels can
also be called directly.

Implementation notes
--------------------
* exp (f64/f32): Cody-Waite reduction ``x = k*ln2 + r`` with ``k`` obtained by
  the "add 1.5*2^p" rounding trick, Taylor polynomial for ``exp(r)`` on
  ``|r| <= ln2/2`` (degree 13 for f64, 7 for f32; truncation error below
  0.05 ulp), and ``2^k`` applied as two exactly-representable powers of two so
  that results in the subnormal range are rounded once (correct gradual
  underflow) and ``k = 1024`` / ``128`` does not overflow early.
* log (f64/f32): exponent/mantissa split by bit manipulation (subnormals are
  pre-scaled), mantissa folded into ``[sqrt(2)/2, sqrt(2))``, then the classic
  fdlibm / FreeBSD ``s = f/(2+f)`` kernel with the published Remez
  coefficients (``e_log.c``: Lg1..Lg7; ``e_logf.c``: Lg1..Lg4).
* expm1 (f64): Taylor polynomial ``x + x^2*q(x)`` (degree 18) for ``|x| < 1``
  and ``exp(x) - 1`` elsewhere (cancellation there is at most a factor 2).
* log1p (f64): ``u = 1 + x``; ``log(u) - ((u - 1) - x)/u`` (first-order
  correction for the rounding of ``u``).
* tanh (f64): ``e/(e+2)`` with ``e = expm1(2|x|)`` and the sign copied back.
* sigmoid (f64): ``num/(1 + exp(-|x|))`` with ``num = 1`` or ``exp(-|x|)``.
* expm1/log1p/tanh/sigmoid for float32 are evaluated with the float64 kernels
  and rounded once to float32 (still fully vectorised, 8 lanes per AVX-512
  register instead of 16; error <= 0.5 ulp + a negligible amount).

All special values follow NumPy: nan propagates, +-inf and +-0 map like the
NumPy ufuncs, overflow gives inf, underflow gives (sub)normal results / 0,
``log(x<0) = nan``, ``log(0) = -inf``, ``log1p(-1) = -inf``.
Call these from kernels compiled with ``error_model="numpy"``: under Numba's
default "python" error model every float division gets a zero-check branch,
which blocks vectorisation (results are unaffected; no denominator here can be
zero).  Everything is compiled with ``fastmath=False``: no reassociation, so the
error-compensating expressions stay intact.
"""
import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

__all__ = ["exp", "log", "expm1", "log1p", "tanh", "sigmoid"]

_jit = dict(fastmath=False, cache=False)


# --------------------------------------------------------------------------
# bit casts
# --------------------------------------------------------------------------
@intrinsic
def _f2i(typingctx, x):
    """Reinterpret a float32/float64 as int32/int64 (same bits)."""
    if isinstance(x, types.Float):
        ity = types.int32 if x.bitwidth == 32 else types.int64

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], ir.IntType(x.bitwidth))

        return ity(x), codegen


def _make_i2f(width):
    fty = types.float32 if width == 32 else types.float64
    llf = ir.FloatType() if width == 32 else ir.DoubleType()

    @intrinsic
    def _i2f(typingctx, i):
        if isinstance(i, types.Integer):
            def codegen(context, builder, sig, args):
                v = args[0]
                if i.bitwidth > width:
                    v = builder.trunc(v, ir.IntType(width))
                elif i.bitwidth < width:
                    v = builder.sext(v, ir.IntType(width))
                return builder.bitcast(v, llf)

            return fty(i), codegen

    return _i2f


_i2f32 = _make_i2f(32)  # low 32 bits of any integer -> float32 bits
_i2f64 = _make_i2f(64)  # any integer (sign-extended) -> float64 bits

f32 = np.float32

# --------------------------------------------------------------------------
# float64 kernels
# --------------------------------------------------------------------------
_MAGIC64 = 6755399441055744.0          # 1.5 * 2**52: x + M - M == rint(x)
_MAGIC64_BITS = 0x4338000000000000
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01   # fdlibm ln2_hi (21 trailing zero bits)
_LN2_LO = 1.90821492927058770002e-10
# 1/n! for n = 2..13  (Taylor coefficients of exp)
_E = [1.0 / math.factorial(n) for n in range(14)]
(_E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12, _E13) = _E[2:]


@njit(inline="always", **_jit)
def _exp_f64(x):
    # clamp: below -746 the result is 0, above 710 it is inf either way; nan passes.
    xc = -746.0 if x < -746.0 else x
    xc = 710.0 if xc > 710.0 else xc
    t = xc * _LOG2E + _MAGIC64
    kf = t - _MAGIC64
    k = _f2i(t) - _MAGIC64_BITS                    # int64, |k| <= 1077
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO          # |r| <= ~0.347
    p = _E13
    p = p * r + _E12
    p = p * r + _E11
    p = p * r + _E10
    p = p * r + _E9
    p = p * r + _E8
    p = p * r + _E7
    p = p * r + _E6
    p = p * r + _E5
    p = p * r + _E4
    p = p * r + _E3
    p = p * r + _E2
    p = p * r * r + r
    p = p + 1.0
    k1 = k >> 1
    k2 = k - k1
    s1 = _i2f64((k1 + 1023) << 52)
    s2 = _i2f64((k2 + 1023) << 52)
    return (p * s1) * s2


_SQRT2 = 1.4142135623730951
_TWO52 = 4503599627370496.0
_MIN_NORMAL64 = 2.2250738585072014e-308
# fdlibm e_log.c Remez coefficients
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01


@njit(inline="always", **_jit)
def _log_f64(x):
    sub = x < _MIN_NORMAL64
    xs = x * _TWO52 if sub else x
    bits = _f2i(xs)
    e = ((bits >> 52) & 0x7FF) - (1023 + 52 if sub else 1023)
    m = _i2f64((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    e = e + 1 if big else e
    f = m - 1.0
    s = f / (2.0 + f)
    dk = float(e)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    R = t2 + t1
    hfsq = 0.5 * f * f
    res = dk * _LN2_HI - ((hfsq - (s * (hfsq + R) + dk * _LN2_LO)) - f)
    res = -np.inf if x == 0.0 else res
    res = np.nan if x < 0.0 else res
    res = x if (x != x or x == np.inf) else res
    return res


_INV_FACT = [1.0 / math.factorial(n) for n in range(20)]
(_F2, _F3, _F4, _F5, _F6, _F7, _F8, _F9, _F10, _F11, _F12, _F13, _F14, _F15,
 _F16, _F17, _F18) = _INV_FACT[2:19]


@njit(inline="always", **_jit)
def _expm1_f64(x):
    # small branch: Taylor series of degree 18 for |x| < 1, as x + x^2 q(x)
    xs = x if (x > -1.0 and x < 1.0) else 0.0
    q = _F18
    q = q * xs + _F17
    q = q * xs + _F16
    q = q * xs + _F15
    q = q * xs + _F14
    q = q * xs + _F13
    q = q * xs + _F12
    q = q * xs + _F11
    q = q * xs + _F10
    q = q * xs + _F9
    q = q * xs + _F8
    q = q * xs + _F7
    q = q * xs + _F6
    q = q * xs + _F5
    q = q * xs + _F4
    q = q * xs + _F3
    q = q * xs + _F2
    small = xs * xs * q + xs
    big = _exp_f64(x) - 1.0
    res = small if (x > -1.0 and x < 1.0) else big
    return x if x == 0.0 else res          # keeps -0.0


@njit(inline="always", **_jit)
def _log1p_f64(x):
    u = 1.0 + x
    c = (u - 1.0) - x
    res = _log_f64(u) - c / (1.0 if u == 0.0 else u)
    res = x if abs(x) < 5.551115123125783e-17 else res   # |x| < 2^-54, keeps -0.0
    res = -np.inf if x == -1.0 else res
    res = x if x == np.inf else res
    return res


@njit(inline="always", **_jit)
def _tanh_f64(x):
    a = abs(x)
    a = 40.0 if a > 40.0 else a                  # tanh(40) == 1.0; avoids inf/inf
    e = _expm1_f64(2.0 * a)
    t = e / (e + 2.0)
    return math.copysign(t, x)


@njit(inline="always", **_jit)
def _sigmoid_f64(x):
    e = _exp_f64(-abs(x))
    num = 1.0 if x >= 0.0 else e
    return num / (1.0 + e)


# --------------------------------------------------------------------------
# float32 kernels (native float32 arithmetic for exp and log)
# --------------------------------------------------------------------------
_MAGIC32 = f32(12582912.0)               # 1.5 * 2**23
_MAGIC32_BITS = 0x4B400000
_LOG2E32 = f32(1.44269504)
_LN2_HI32 = f32(0.693359375)             # 9 significant bits: k*hi exact for |k| < 2^15
_LN2_LO32 = f32(-2.12194440e-4)
_EXP_LO32 = f32(-104.0)
_EXP_HI32 = f32(89.0)
_G = [f32(1.0 / math.factorial(n)) for n in range(8)]
(_G2, _G3, _G4, _G5, _G6, _G7) = _G[2:]
_ONE32 = f32(1.0)
_HALF32 = f32(0.5)
_TWO32 = f32(2.0)
_ZERO32 = f32(0.0)


@njit(inline="always", **_jit)
def _exp_f32(x):
    xc = _EXP_LO32 if x < _EXP_LO32 else x
    xc = _EXP_HI32 if xc > _EXP_HI32 else xc
    t = xc * _LOG2E32 + _MAGIC32
    kf = t - _MAGIC32
    k = _f2i(t) - _MAGIC32_BITS
    r = (xc - kf * _LN2_HI32) - kf * _LN2_LO32
    p = _G7
    p = p * r + _G6
    p = p * r + _G5
    p = p * r + _G4
    p = p * r + _G3
    p = p * r + _G2
    p = p * r * r + r
    p = p + _ONE32
    k1 = k >> 1
    k2 = k - k1
    s1 = _i2f32((k1 + 127) << 23)
    s2 = _i2f32((k2 + 127) << 23)
    return (p * s1) * s2


_SQRT2_32 = f32(1.41421356)
_TWO23_32 = f32(8388608.0)
_MIN_NORMAL32 = f32(1.17549435e-38)
# FreeBSD e_logf.c coefficients (|error| < 2**-34.24)
_LF1 = f32(0.66666662693)   # 0xaaaaaa.0p-24
_LF2 = f32(0.40000972152)   # 0xccce13.0p-25
_LF3 = f32(0.28498786688)   # 0x91e9ee.0p-25
_LF4 = f32(0.24279078841)   # 0xf89e26.0p-26
_LN2_HI32L = f32(6.9313812256e-01)  # 0x3f317180
_LN2_LO32L = f32(9.0580006145e-06)  # 0x3717f7d1
_INF32 = f32(np.inf)
_NAN32 = f32(np.nan)


@njit(inline="always", **_jit)
def _log_f32(x):
    sub = x < _MIN_NORMAL32
    xs = x * _TWO23_32 if sub else x
    bits = _f2i(xs)
    e = ((bits >> 23) & 0xFF) - (127 + 23 if sub else 127)
    m = _i2f32((bits & 0x007FFFFF) | 0x3F800000)
    big = m > _SQRT2_32
    m = m * _HALF32 if big else m
    e = e + 1 if big else e
    f = m - _ONE32
    s = f / (_TWO32 + f)
    dk = f32(e)
    z = s * s
    w = z * z
    t1 = w * (_LF2 + w * _LF4)
    t2 = z * (_LF1 + w * _LF3)
    R = t2 + t1
    hfsq = _HALF32 * f * f
    res = dk * _LN2_HI32L - ((hfsq - (s * (hfsq + R) + dk * _LN2_LO32L)) - f)
    res = -_INF32 if x == _ZERO32 else res
    res = _NAN32 if x < _ZERO32 else res
    res = x if (x != x or x == _INF32) else res
    return res


@njit(inline="always", **_jit)
def _expm1_f32(x):
    return f32(_expm1_f64(float(x)))


@njit(inline="always", **_jit)
def _log1p_f32(x):
    return f32(_log1p_f64(float(x)))


@njit(inline="always", **_jit)
def _tanh_f32(x):
    return f32(_tanh_f64(float(x)))


@njit(inline="always", **_jit)
def _sigmoid_f32(x):
    return f32(_sigmoid_f64(float(x)))


# --------------------------------------------------------------------------
# dtype dispatch
# --------------------------------------------------------------------------
def _make_generic(name, k32, k64):
    def stub(x):  # pragma: no cover - only reached through the overload
        raise NotImplementedError

    stub.__name__ = "_" + name + "_impl"

    @overload(stub, inline="always")
    def _ol(x):
        if isinstance(x, types.Float) and x.bitwidth == 32:
            return lambda x: k32(x)
        if isinstance(x, types.Float) and x.bitwidth == 64:
            return lambda x: k64(x)
        if isinstance(x, (types.Integer, types.Boolean)):
            return lambda x: k64(float(x))

    def generic(x):
        return stub(x)

    generic.__name__ = name
    generic.__qualname__ = name
    generic.__doc__ = (f"Vectorisable {name}(x) for float32/float64 scalars "
                       f"(see module docstring).")
    # cache=True only affects direct calls from Python (inside other jitted
    # code the wrapper is inlined); the cache is keyed on this file.
    return njit(inline="always", fastmath=False, cache=True)(generic)


exp = _make_generic("exp", _exp_f32, _exp_f64)
log = _make_generic("log", _log_f32, _log_f64)
expm1 = _make_generic("expm1", _expm1_f32, _expm1_f64)
log1p = _make_generic("log1p", _log1p_f32, _log1p_f64)
tanh = _make_generic("tanh", _tanh_f32, _tanh_f64)
sigmoid = _make_generic("sigmoid", _sigmoid_f32, _sigmoid_f64)
