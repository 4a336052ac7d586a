"""Device functions that the CUDA kernels emitted by compiler/emit_cuda.py call.

They have the names, and NumPy's semantics, of their cpu twins in kernels/cpu/scalar.py, so
the op templates (``"exp({0})"``, ``"maximum({0}, {1})"``, ...) expand unchanged.

Transcendental functions go to ``math.*``, which on the GPU is CUDA's libdevice: on a GPU
libdevice is at least as fast as the cpu backend's vecmath polynomials (those are written for
SIMD lanes on a CPU; a GPU thread computes one element), and it is accurate to a few ulp.
Under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) kernels run as Python, where
``math.exp(1000.0)`` raises OverflowError and ``math.log(0.0)`` ValueError; there the same
functions call NumPy's ufuncs, which return inf/nan as the GPU does.
"""
import math

import numpy as np
from numba import config, cuda

__all__ = ["sqrt", "rsqrt", "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh",
           "sigmoid", "erf", "sign", "floor", "floordiv", "ifloordiv", "fmod", "ifmod",
           "floormod", "ifloormod", "divnonan", "pow", "ipow", "maximum", "minimum", "sqdiff"]

SIMULATOR = bool(config.ENABLE_CUDASIM)
# `m` is libdevice on a GPU; NumPy under the simulator (inf/nan instead of Python exceptions)
m = np if SIMULATOR else math
_pow = np.power if SIMULATOR else math.pow
if SIMULATOR:
    _np_erf = np.vectorize(math.erf, otypes=[np.float64])

    def _erf(x):
        return type(x)(_np_erf(x)) if x == x else x
else:
    _erf = math.erf

_device = cuda.jit(device=True)


@_device
def sqrt(x):
    return m.sqrt(x)


@_device
def rsqrt(x):
    return 1 / m.sqrt(x)


@_device
def exp(x):
    return m.exp(x)


@_device
def log(x):
    return m.log(x)


@_device
def log1p(x):
    return m.log1p(x)


@_device
def expm1(x):
    return m.expm1(x)


@_device
def sin(x):
    return m.sin(x)


@_device
def cos(x):
    return m.cos(x)


@_device
def tan(x):
    return m.tan(x)


@_device
def tanh(x):
    return m.tanh(x)


@_device
def sigmoid(x):
    e = m.exp(-abs(x))
    return 1 / (1 + e) if x >= 0 else e / (1 + e)


@_device
def erf(x):
    return _erf(x)


@_device
def sign(x):
    return int(x > 0) - int(x < 0) if x == x else x


@_device
def floor(x):
    return m.floor(x)


@_device
def floordiv(a, b):
    return m.floor(a / b)


@_device
def ifloordiv(a, b):
    # NumPy: integer division by zero gives 0; Python/C semantics differ, so spell it out
    if b == 0:
        return a - a
    q = a // b
    return q


@_device
def fmod(a, b):
    return m.fmod(a, b)


@_device
def ifmod(a, b):
    if b == 0:
        return a - a
    r = abs(a) % abs(b)
    return -r if a < 0 else r


@_device
def floormod(a, b):
    # TF's FloorMod: the truncated remainder, moved onto the divisor's side
    r = m.fmod(a, b)
    return r + b if (r != 0 and (b < 0) != (r < 0)) else r


@_device
def ifloormod(a, b):
    if b == 0:
        return a - a
    r = abs(a) % abs(b)
    r = -r if a < 0 else r
    return r + b if (r != 0 and (b < 0) != (r < 0)) else r


@_device
def divnonan(a, b):
    # TF's DivNoNan: 0 where the divisor is 0, whatever the dividend
    return a / b if b != 0 else b - b


@_device
def pow(a, b):  # noqa: A001
    return _pow(a, b)


@_device
def ipow(a, b):
    if b < 0:
        return a - a
    r = a - a + 1
    base = a
    e = b
    while e > 0:          # exponentiation by squaring, wrapping like NumPy's integer power
        if e & 1:
            r = r * base
        base = base * base
        e >>= 1
    return r


@_device
def maximum(a, b):
    return a if (a >= b or a != a) else b


@_device
def minimum(a, b):
    return a if (a <= b or a != a) else b


@_device
def sqdiff(a, b):
    d = a - b
    return d * d
