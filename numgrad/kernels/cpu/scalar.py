"""Scalar functions that generated fused kernels call, with NumPy's exact semantics.

Each is `register_jitable`, so Numba inlines it into the loop that calls it.  Where NumPy and
Python differ (NaN in max/min, sign of NaN, integer floor division), NumPy wins.
"""
import math

import numpy as np
from numba.extending import register_jitable


__all__ = ["sqrt", "rsqrt", "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh",
           "sigmoid", "erf", "sign", "floor", "floordiv", "ifloordiv", "fmod", "ifmod", "floormod",
           "ifloormod", "divnonan", "pow", "ipow", "maximum", "minimum", "sqdiff"]


# Small kernels call libm (quick to compile); the emitter pastes vecmath's vectorisable
# versions into kernels over big iteration spaces instead.
def _numpy_scalar(ufunc):
    def impl(x):
        return ufunc(x)
    impl.__name__ = ufunc.__name__
    return register_jitable(impl)


exp, log, log1p, expm1 = (_numpy_scalar(f) for f in (np.exp, np.log, np.log1p, np.expm1))
sin, cos, tan, tanh = (_numpy_scalar(f) for f in (np.sin, np.cos, np.tan, np.tanh))
sqrt, floor = _numpy_scalar(np.sqrt), _numpy_scalar(np.floor)


@register_jitable
def sigmoid(x):
    e = np.exp(-abs(x))
    return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)


@register_jitable
def rsqrt(x):
    return 1.0 / np.sqrt(x)


@register_jitable
def erf(x):
    return math.erf(x)


@register_jitable
def sign(x):
    return (x > 0) - (x < 0) if x == x else x


@register_jitable
def floordiv(a, b):
    return np.floor(a / b)


@register_jitable
def ifloordiv(a, b):
    return np.floor_divide(a, b)


@register_jitable
def fmod(a, b):
    return np.fmod(a, b)


@register_jitable
def ifmod(a, b):
    if b == 0:
        return a - a
    r = abs(a) % abs(b)
    return -r if a < 0 else r


@register_jitable
def floormod(a, b):
    # TF's FloorMod: the truncated remainder, moved onto the divisor's side
    r = np.fmod(a, b)
    return r + b if (r != 0 and (b < 0) != (r < 0)) else r


@register_jitable
def ifloormod(a, b):
    if b == 0:
        return a - a
    r = abs(a) % abs(b)
    r = -r if a < 0 else r
    return r + b if (r != 0 and (b < 0) != (r < 0)) else r


@register_jitable
def divnonan(a, b):
    # TF's DivNoNan: 0 where the divisor is 0, whatever the dividend
    return a / b if b != 0 else b - b


@register_jitable
def pow(a, b):  # noqa: A001
    return np.power(a, b)


@register_jitable
def ipow(a, b):
    return np.power(a, abs(b)) if b >= 0 else a - a


@register_jitable
def maximum(a, b):
    return a if (a >= b or a != a) else b


@register_jitable
def minimum(a, b):
    return a if (a <= b or a != a) else b


@register_jitable
def sqdiff(a, b):
    d = a - b
    return d * d
