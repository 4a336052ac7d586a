"""Scalar functions that generated fused kernels call, with NumPy's exact semantics.

Each is `register_jitable`, so Numba inlines it into the loop that calls it.  Where NumPy and
Python differ (NaN in max/min, sign of NaN, integer floor division), NumPy wins.
"""
import math

import numpy as np
from numba.extending import register_jitable

from .. import arith, special as _special


__all__ = ["sqrt", "rsqrt", "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh",
           "sigmoid", "erf", "sign", "floor", "floordiv", "ifloordiv", "fmod", "ifmod", "floormod",
           "ifloormod", "divnonan", "pow", "ipow", "maximum", "minimum", "sqdiff",
           # issue 17
           "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "ceil", "rint",
           "lgamma", "digamma", "erfc", "softplus", "softsign", "elu", "selu", "relu6",
           "isnan", "isinf", "isfinite", "atan2", "xlogy", "xlog1py", "xdivy", "mulnonan", "sqrtgrad", "rsqrtgrad", "recipgrad",
           "nextafter", "polygamma", "zeta",
           # complex values (the `complex=` forms of ops/math.py's rows)
           "cdiv", "ctanh", "cpow"]


def _jitable(fn):
    """`fn` registered for njit code (Numba's register_jitable) without the C-ABI (cfunc)
    wrapper Numba would compile with each process's first use of it (nothing calls it
    through a C pointer; a few ms of each helper's compile)."""
    return register_jitable(no_cfunc_wrapper=True)(fn)


# Small kernels call libm (quick to compile); the emitter pastes vecmath's vectorisable
# versions into kernels over big iteration spaces instead.
def _numpy_scalar(ufunc):
    def impl(x):
        return ufunc(x)
    # A name of its own: Numba names a compiled function after its qualname and a per-process
    # counter, so two closures sharing the qualname "_numpy_scalar.<locals>.impl" could get one
    # symbol name in two processes, and a kernel loaded from the cache would then call the
    # function another kernel of this process defined under that name (seen at NUMBA_OPT=0,
    # where nothing is inlined: cached sin kernels computing cos).
    impl.__name__ = impl.__qualname__ = f"numpy_scalar_{ufunc.__name__}"
    return _jitable(impl)


exp, log, log1p, expm1 = (_numpy_scalar(f) for f in (np.exp, np.log, np.log1p, np.expm1))
sin, cos, tan, tanh = (_numpy_scalar(f) for f in (np.sin, np.cos, np.tan, np.tanh))
sqrt, floor = _numpy_scalar(np.sqrt), _numpy_scalar(np.floor)
# issue 17: libm, not vectorised (vecmath has no versions of these yet)
asin, acos, atan = (_numpy_scalar(f) for f in (np.arcsin, np.arccos, np.arctan))
sinh, cosh = _numpy_scalar(np.sinh), _numpy_scalar(np.cosh)
asinh, acosh, atanh = (_numpy_scalar(f) for f in (np.arcsinh, np.arccosh, np.arctanh))
ceil, rint = _numpy_scalar(np.ceil), _numpy_scalar(np.rint)
isnan, isinf, isfinite = (_numpy_scalar(f) for f in (np.isnan, np.isinf, np.isfinite))


@_jitable
def sigmoid(x):
    e = np.exp(-abs(x))
    return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)


@_jitable
def rsqrt(x):
    return 1.0 / np.sqrt(x)


@_jitable
def erf(x):
    return math.erf(x)


@_jitable
def sign(x):
    return (x > 0) - (x < 0) if x == x else x


@_jitable
def floordiv(a, b):
    return np.floor(a / b)


@_jitable
def ifloordiv(a, b):
    return np.floor_divide(a, b)


@_jitable
def fmod(a, b):
    return np.fmod(a, b)


ifmod = _jitable(arith.ifmod)


@_jitable
def floormod(a, b):
    # TF's FloorMod: the truncated remainder, moved onto the divisor's side
    r = np.fmod(a, b)
    return r + b if (r != 0 and (b < 0) != (r < 0)) else r


ifloormod = _jitable(arith.ifloormod)


divnonan = _jitable(arith.divnonan)


@_jitable
def pow(a, b):  # noqa: A001
    return np.power(a, b)


@_jitable
def ipow(a, b):
    return np.power(a, abs(b)) if b >= 0 else a - a


maximum = _jitable(arith.maximum)


minimum = _jitable(arith.minimum)


sqdiff = _jitable(arith.sqdiff)


# --- issue 17 ------------------------------------------------------------------------------------
@_jitable
def lgamma(x):
    return math.lgamma(x)


@_jitable
def erfc(x):
    return math.erfc(x)


# digamma / zeta / polygamma: kernels/special.py's Cephes code, jitted with libm underneath
_SPECIAL = dict(vars(_special))
_SPECIAL["lgamma"] = math.lgamma
for _name in ("digamma", "zeta", "polygamma"):
    _SPECIAL[_name] = _jitable(_special.rebind(getattr(_special, _name), _SPECIAL))
digamma, zeta, polygamma = _SPECIAL["digamma"], _SPECIAL["zeta"], _SPECIAL["polygamma"]


@_jitable
def softplus(x):
    return (x if x > 0 else (0.0 if x == x else x)) + np.log1p(np.exp(-abs(x)))


softsign = _jitable(arith.softsign)


@_jitable
def elu(x):
    return x if x > 0 else np.expm1(x)


_SELU_SCALE = 1.0507009873554804934193349852946
_SELU_SCALE_ALPHA = _SELU_SCALE * 1.6732632423543772848170429916717


@_jitable
def selu(x):
    return _SELU_SCALE * x if x > 0 else _SELU_SCALE_ALPHA * np.expm1(x)


relu6 = _jitable(arith.relu6)


@_jitable
def atan2(y, x):
    return np.arctan2(y, x)


@_jitable
def xlogy(x, y):
    return x - x if x == 0 else x * np.log(y)


@_jitable
def xlog1py(x, y):
    return x - x if x == 0 else x * np.log1p(y)


xdivy = _jitable(arith.xdivy)


sqrtgrad = _jitable(arith.sqrtgrad)


rsqrtgrad = _jitable(arith.rsqrtgrad)


recipgrad = _jitable(arith.recipgrad)


mulnonan = _jitable(arith.mulnonan)


@_jitable
def nextafter(x, y):
    return np.nextafter(x, y)


# --- complex values -----------------------------------------------------------------------------
@_jitable
def cdiv(a, b):
    """a / b for complex values by NumPy's algorithm (Smith's, scaled by the larger part of b):
    division by 0 gives inf/NaN parts, as NumPy, where Numba's own division raises."""
    ar, ai, br, bi = a.real, a.imag, b.real, b.imag
    if abs(br) >= abs(bi):
        if br == 0 and bi == 0:
            return complex(ar / abs(br), ai / abs(br))
        rat = bi / br
        scl = 1.0 / (br + bi * rat)
        return complex((ar + ai * rat) * scl, (ai - ar * rat) * scl)
    rat = br / bi
    scl = 1.0 / (bi + br * rat)
    return complex((ar * rat + ai) * scl, (ai * rat - ar) * scl)


@_jitable
def ctanh(z):
    """tanh of a complex value; where |Re z| >= 22 (tanh(Re z) is +-1 in double precision) the
    closed form NumPy's C library uses, where Numba's formula overflows to NaN."""
    x, y = z.real, z.imag
    if abs(x) < 22.0 or x != x:
        return np.tanh(z)
    if math.isinf(y) or y != y:
        return complex(math.copysign(1.0, x), math.copysign(0.0, y) if math.isinf(x) else y)
    e = math.exp(-abs(x))
    return complex(math.copysign(1.0, x), 4.0 * math.sin(y) * math.cos(y) * e * e)


@_jitable
def cpow(a, b):
    """a ** b for complex values by NumPy's algorithm: b == 0 gives 1; a == 0 gives 0 for
    Re b > 0, else NaN; an integer b with |b| < 100 multiplies out (exact for Gaussian
    integers, and 1 / the product for b < 0); anything else exp(b log a).  Numba's own power
    takes the last road for all of them."""
    ar, ai, br, bi = a.real, a.imag, b.real, b.imag
    if br == 0 and bi == 0:
        return complex(1.0, 0.0)
    if ar == 0 and ai == 0:
        if br > 0:
            return complex(0.0, 0.0)
        return complex(np.nan, np.nan)
    if bi == 0 and abs(br) < 100 and br == math.floor(br):
        n = int(abs(br))
        if br == 1:
            return a
        if br == 2:
            return a * a
        if br == 3:
            return a * (a * a)
        acc = a * 0 + 1
        p = a
        while True:
            if n & 1:
                acc = acc * p
            n >>= 1
            if n == 0:
                break
            p = p * p
        if br < 0:
            return cdiv(a * 0 + 1, acc)
        return acc
    return np.power(a, b)
