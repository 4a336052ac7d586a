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

from .. import arith, special as _special

__all__ = ["sqrt", "rsqrt", "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh",
           "sigmoid", "erf", "sign", "floor", "floordiv", "ifloordiv", "fmod", "ifmod",
           "floormod", "ifloormod", "divnonan", "pow", "ipow", "maximum", "minimum", "sqdiff",
           # issue 17
           "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "ceil", "rint",
           "lgamma", "digamma", "erfc", "softplus", "softsign", "elu", "selu", "relu6",
           "isnan", "isinf", "isfinite", "atan2", "xlogy", "xlog1py", "xdivy", "mulnonan", "sqrtgrad", "rsqrtgrad", "recipgrad",
           "nextafter", "polygamma", "zeta"]

SIMULATOR = bool(config.ENABLE_CUDASIM)
# `m` is libdevice on a GPU; NumPy under the simulator (inf/nan instead of Python exceptions)
m = np if SIMULATOR else math
_pow = np.power if SIMULATOR else math.pow
if SIMULATOR:
    _np_erf = np.vectorize(math.erf, otypes=[np.float64])
    _np_erfc = np.vectorize(math.erfc, otypes=[np.float64])

    def _erf(x):
        return type(x)(_np_erf(x)) if x == x else x

    def _erfc(x):
        return type(x)(_np_erfc(x)) if x == x else x

    def _lgamma(x):
        return type(x)(_special.lgamma(float(x))) if x == x else x
else:
    _erf, _erfc, _lgamma = math.erf, math.erfc, math.lgamma

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


ifmod = _device(arith.ifmod)


@_device
def floormod(a, b):
    # TF's FloorMod: the truncated remainder, moved onto the divisor's side
    r = m.fmod(a, b)
    return r + b if (r != 0 and (b < 0) != (r < 0)) else r


ifloormod = _device(arith.ifloormod)


divnonan = _device(arith.divnonan)


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


maximum = _device(arith.maximum)


minimum = _device(arith.minimum)


sqdiff = _device(arith.sqdiff)


# --- issue 17 ------------------------------------------------------------------------------------
def _gpu_floor(x):
    t = x - math.fmod(x, 1.0)        # trunc(x), exact; libdevice floor types as an integer
    return t - 1.0 if t > x else t


_ffloor = m.floor if SIMULATOR else _device(_gpu_floor)
if SIMULATOR:
    _asin, _acos, _atan, _atan2 = np.arcsin, np.arccos, np.arctan, np.arctan2
    _asinh, _acosh, _atanh, _nextafter = np.arcsinh, np.arccosh, np.arctanh, np.nextafter
else:
    _asin, _acos, _atan, _atan2 = math.asin, math.acos, math.atan, math.atan2
    _asinh, _acosh, _atanh, _nextafter = math.asinh, math.acosh, math.atanh, math.nextafter
_SPECIAL = dict(vars(_special))
_SPECIAL.update(floor=_ffloor, log=m.log, tan=m.tan,
                power=_pow, lgamma=_lgamma if SIMULATOR else math.lgamma)
for _name in ("digamma", "zeta", "polygamma"):
    _SPECIAL[_name] = (_special.rebind(getattr(_special, _name), _SPECIAL) if SIMULATOR else
                       _device(_special.rebind(getattr(_special, _name), _SPECIAL)))


@_device
def digamma(x):
    return _SPECIAL_DIGAMMA(x)


@_device
def polygamma(n, x):
    return _SPECIAL_POLYGAMMA(n, x)


@_device
def zeta(x, q):
    return _SPECIAL_ZETA(x, q)


_SPECIAL_DIGAMMA, _SPECIAL_POLYGAMMA, _SPECIAL_ZETA = (
    _SPECIAL["digamma"], _SPECIAL["polygamma"], _SPECIAL["zeta"])


@_device
def asin(x):
    return _asin(x)


@_device
def acos(x):
    return _acos(x)


@_device
def atan(x):
    return _atan(x)


@_device
def sinh(x):
    return m.sinh(x)


@_device
def cosh(x):
    return m.cosh(x)


@_device
def asinh(x):
    return _asinh(x)


@_device
def acosh(x):
    return _acosh(x)


@_device
def atanh(x):
    return _atanh(x)


@_device
def ceil(x):
    return -_ffloor(-x)


@_device
def rint(x):
    # half to even (TF's Round/Rint); x - floor(x) is exact, so ties are seen exactly
    r = _ffloor(x)
    d = x - r
    if d > 0.5 or (d == 0.5 and r - 2 * _ffloor(r * 0.5) != 0):
        return r + 1
    return r if d == d else x


@_device
def lgamma(x):
    return _lgamma(x)


@_device
def erfc(x):
    return _erfc(x)


@_device
def softplus(x):
    return (x if x > 0 else (0.0 if x == x else x)) + m.log1p(m.exp(-abs(x)))


softsign = _device(arith.softsign)


@_device
def elu(x):
    return x if x > 0 else m.expm1(x)


_SELU_SCALE = 1.0507009873554804934193349852946
_SELU_SCALE_ALPHA = _SELU_SCALE * 1.6732632423543772848170429916717


@_device
def selu(x):
    return _SELU_SCALE * x if x > 0 else _SELU_SCALE_ALPHA * m.expm1(x)


relu6 = _device(arith.relu6)


@_device
def isnan(x):
    return x != x


@_device
def isinf(x):
    return x == x and x - x != x - x


@_device
def isfinite(x):
    return x - x == x - x


@_device
def atan2(y, x):
    return _atan2(y, x)


@_device
def xlogy(x, y):
    return x - x if x == 0 else x * m.log(y)


@_device
def xlog1py(x, y):
    return x - x if x == 0 else x * m.log1p(y)


xdivy = _device(arith.xdivy)


sqrtgrad = _device(arith.sqrtgrad)


rsqrtgrad = _device(arith.rsqrtgrad)


recipgrad = _device(arith.recipgrad)


mulnonan = _device(arith.mulnonan)


@_device
def nextafter(x, y):
    return _nextafter(x, y)
