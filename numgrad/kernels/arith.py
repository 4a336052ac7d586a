"""Scalar functions of pure arithmetic that the cpu and the cuda emitters both use, written
once: ``kernels/cpu/scalar.py`` wraps each with Numba's ``register_jitable`` and
``kernels/cuda/scalar.py`` with ``cuda.jit(device=True)``.  No imports: the same body compiles
for either target."""


def ifmod(a, b):
    if b == 0:
        return a - a
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def ifloormod(a, b):
    if b == 0:
        return a - a
    r = abs(a) % abs(b)
    r = -r if a < 0 else r
    return r + b if (r != 0 and (b < 0) != (r < 0)) else r


def divnonan(a, b):
    # TF's DivNoNan: 0 where the divisor is 0, whatever the dividend
    return a / b if b != 0 else b - b


def maximum(a, b):
    return a if (a >= b or a != a) else b


def minimum(a, b):
    return a if (a <= b or a != a) else b


def sqdiff(a, b):
    d = a - b
    return d * d


def softsign(x):
    return x / (1 + abs(x))


def relu6(x):
    # NumPy's minimum(maximum(x, 0), 6): NaN stays NaN, -0.0 gives +0.0
    if x != x or (x > 0 and x <= 6):
        return x
    return 6 if x > 6 else 0


def xdivy(x, y):
    return x - x if x == 0 else x / y


def sqrtgrad(y, dy):
    # TF's SqrtGrad kernel: 0.5 * dy / y, and 0 where dy is 0 (even where y is 0)
    return (0.5 * dy) / y if dy != 0 else dy - dy


def rsqrtgrad(y, dy):
    # TF's RsqrtGrad kernel: -0.5 * (dy * y) * (y * y), and 0 where dy is 0
    return -0.5 * (dy * y) * (y * y) if dy != 0 else dy - dy


def recipgrad(y, dy):
    # TF's ReciprocalGrad kernel: -dy * y * y, and 0 where dy is 0
    return -dy * y * y if dy != 0 else dy - dy


def mulnonan(x, y):
    return y - y if y == 0 else x * y
