"""Scalar special functions (digamma, Hurwitz zeta, polygamma) with TF's (Eigen's, i.e. Cephes')
algorithms and special values, written once in plain Python.

The same code serves three callers: NumPy references (called on np.float64 scalars, through
`vectorized`), the cpu kernels (kernels/cpu/scalar.py jits them with register_jitable) and the
CUDA kernels (kernels/cuda/scalar.py rebinds them to device math with `rebind`).  They only use
arithmetic and the module-level names ``floor, log, tan, power, lgamma`` (and each other), so a
caller swaps those names for its own versions.  Computed in float64; float32 callers round once.
"""
import math
import types

import numpy as np

__all__ = ["digamma", "zeta", "polygamma", "lgamma", "rebind", "vectorized"]


def lgamma(x):
    """math.lgamma that returns inf at the poles and for huge |x| (TF's values)."""
    try:
        return math.lgamma(x)
    except (ValueError, OverflowError):
        return math.inf


floor, log, tan, power = np.floor, np.log, np.tan, np.power

_PSI_A = (8.33333333333333333333E-2, -2.10927960927960927961E-2, 7.57575757575757575758E-3,
          -4.16666666666666666667E-3, 3.96825396825396825397E-3, -8.33333333333333333333E-3,
          8.33333333333333333333E-2)
_ZETA_A = (12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9,
           7.47242496e10, -2.950130727918164224e12, 1.1646782814350067249e14,
           -4.5979787224074726105e15, 1.8152105401943546773e17, -7.1661652561756670113e18)
_MACHEP = 1.11022302462515654042e-16


def digamma(x):
    """psi(x) (Cephes psi, as Eigen/TF): NaN at 0, at the negative integers and at -inf."""
    x = x * 1.0
    if x != x:
        return x
    if x == np.inf:
        return x
    if x == -np.inf:
        return np.nan
    negative = False
    nz = 0.0
    if x <= 0.0:
        negative = True
        q = x
        p = floor(q)
        if p == q:
            return np.nan
        nz = q - p
        if nz != 0.5:
            if nz > 0.5:
                p = p + 1.0
                nz = q - p
            nz = np.pi / tan(np.pi * nz)
        else:
            nz = 0.0
        x = 1.0 - x
    s = x
    w = 0.0
    while s < 10.0:
        w = w + 1.0 / s
        s = s + 1.0
    y = 0.0
    if s < 1.0e17:
        z = 1.0 / (s * s)
        poly = 0.0
        for a in _PSI_A:
            poly = poly * z + a
        y = z * poly
    y = log(s) - (0.5 / s) - y - w
    return y - nz if negative else y


def zeta(x, q):
    """Hurwitz zeta(x, q) = sum_k (k + q)^-x (Cephes zeta, as Eigen/TF)."""
    x = x * 1.0
    q = q * 1.0
    if x != x or q != q:
        return x + q
    if x == 1.0:
        return np.inf
    if x < 1.0:
        return np.nan
    if q <= 0.0:
        if q == floor(q):
            return np.inf
        if x != floor(x):
            return np.nan
    if q == np.inf:
        return 0.0
    if q > 1e8:
        return (1.0 / (x - 1.0) + 1.0 / (2.0 * q)) * power(q, 1.0 - x)
    s = power(q, -x)
    a = q
    i = 0
    b = 0.0
    while i < 9 or a <= 9.0:
        i += 1
        a = a + 1.0
        b = power(a, -x)
        s = s + b
        if abs(b / s) < _MACHEP:
            return s
    w = a
    s = s + b * w / (x - 1.0)
    s = s - 0.5 * b
    a = 1.0
    k = 0.0
    for j in range(12):
        a = a * (x + k)
        b = b / w
        t = a * b / _ZETA_A[j]
        s = s + t
        if abs(t / s) < _MACHEP:
            return s
        k = k + 1.0
        a = a * (x + k)
        b = b / w
        k = k + 1.0
    return s


def polygamma(n, x):
    """The n-th derivative of digamma (n a non-negative integer, else NaN), as TF."""
    n = n * 1.0
    x = x * 1.0
    if n != n or x != x:
        return n + x
    if n != floor(n) or n < 0.0:
        return np.nan
    if n == 0.0:
        return digamma(x)
    sign = 1.0 if floor(n * 0.5) * 2.0 != n else -1.0
    return sign * np.exp(lgamma(n + 1.0)) * zeta(n + 1.0, x)


def rebind(fn, namespace):
    """`fn` with its globals looked up in `namespace` (a caller's math functions)."""
    return types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__)


def vectorized(fn):
    """A NumPy reference from a scalar function: float64 inside, the input's dtype out."""
    vec = np.vectorize(fn, otypes=[np.float64])

    def ref(*args):
        dtype = np.result_type(*args)
        if any(np.size(a) == 0 for a in args):
            return np.zeros(np.broadcast_shapes(*(np.shape(a) for a in args)), dtype)
        with np.errstate(all="ignore"):
            return np.asarray(vec(*(np.asarray(a, np.float64) for a in args))).astype(dtype)
    return ref
