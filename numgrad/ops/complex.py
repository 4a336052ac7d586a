"""Complex numbers: the ops that build, split and conjugate complex64/complex128 tensors.

``complex(real, imag)`` (op Complex) joins two float32 (float64) tensors into a complex64
(complex128) one; ``real``, ``imag``, ``angle`` and ``abs`` (ops Real, Imag, Angle and
ComplexAbs) take one apart into real tensors of ``dtype.real_dtype``; ``conj`` (op Conj) flips
the sign of the imaginary part.  Like TF, the public functions accept real tensors too:
``real`` and ``conj`` return them unchanged, ``imag`` gives zeros and ``angle`` gives pi where
the value is negative, 0 elsewhere.

The everyday elementwise ops, reductions and matmul accept complex operands through their own
tables (the FLOAT_C / NUMERIC_C dtype classes of ops/math.py and ops/reduce.py).  Complex
values never enter a fused cpu kernel (compiler/fuse.py lets in real and bool dtypes only):
each complex op runs its NumPy reference as its own step on cpu, and on the host on cuda.

Gradients (numgrad/gradients/rules/complex.py) follow TF's convention: for a real loss L of a
complex z, the gradient is dL/dRe(z) + i dL/dIm(z), the conjugate of the Wirtinger derivative
dL/dz; the rules of holomorphic ops multiply by the conjugate of their derivative.
"""
import math as _pymath

import numpy as np

from .. import dtypes as _dt
from ..graph import atomic
from .array import ones_like, zeros_like
from .core import convert_to_tensor, make_op
from .math import broadcast_static_shape, less, multiply, where
from .registry import Template, register_op

__all__ = ["complex", "real", "imag", "conj", "angle"]

_PARTS = (_dt.float32, _dt.float64)
_COMPLEX_OF = {_dt.float32: _dt.complex64, _dt.float64: _dt.complex128}


def _require_complex(x, op_type):
    if not x.dtype.is_complex:
        raise TypeError(f"{op_type}: input '{x.name}' has dtype {x.dtype.name}, which is not in "
                        "the list of allowed dtypes: complex64, complex128")


# --- declarations: (dtype, shape) rule and NumPy reference of each op -------------------------
def _complex_infer(inputs, attrs):
    re, im = inputs
    if re.dtype != im.dtype or re.dtype not in _PARTS:
        raise TypeError(f"The `real` and `imag` components have incorrect types: "
                        f"{re.dtype.name} {im.dtype.name}. They must be consistent, and one of "
                        f"[float32, float64] (real '{re.name}', imag '{im.name}')")
    return [(_COMPLEX_OF[re.dtype], broadcast_static_shape(re.shape, im.shape))]


def _complex_compute(vals, attrs):
    re, im = vals
    out = np.empty(np.broadcast_shapes(re.shape, im.shape), np.result_type(re, np.complex64))
    out.real, out.imag = re, im
    return [out]


def _part_infer(op_type):
    def infer(inputs, attrs):
        x, = inputs
        _require_complex(x, op_type)
        return [(x.dtype.real_dtype, x.shape)]
    return infer


def _conj_infer(inputs, attrs):
    x, = inputs
    _require_complex(x, "Conj")
    return [(x.dtype, x.shape)]


# (type, NumPy reference); all elementwise, one input, one output
# (type, NumPy reference, the fused loop's form)
PARTS = [
    ("Real", lambda x: np.real(x).copy(), "{0}.real"),
    ("Imag", lambda x: np.imag(x).copy(), "{0}.imag"),
    ("Angle", np.angle, "math.atan2({0}.imag, {0}.real)"),
    ("ComplexAbs", np.abs, "abs({0})"),
]

# The forms a fused cpu loop computes (registry.Template's `complex`: these ops read or make
# complex values; ops/math.py's rows give the arithmetic ops theirs).
register_op("Complex", _complex_infer, _complex_compute, kind="elementwise",
            template=Template(complex="complex({0}, {1})"))
for _t, _f, _form in PARTS:
    register_op(_t, _part_infer(_t), lambda v, a, f=_f: [np.asarray(f(v[0]))],
                kind="elementwise", template=Template(complex=_form))
register_op("Conj", _conj_infer, lambda v, a: [np.conj(v[0])], kind="elementwise",
            template=Template(complex="np.conj({0})"))


# --- public builders ---------------------------------------------------------------------------
def _numeric(x, what):
    x = convert_to_tensor(x, name=what)
    if not x.dtype.is_numeric:
        raise TypeError(f"{what}: expected a numeric tensor, got '{x.name}' of dtype "
                        f"{x.dtype.name}")
    return x


@atomic
def complex(real, imag, name=None):     # noqa: A001  (tf.complex)
    """tf.complex: the complex tensor real + i imag (float32 parts give complex64, float64
    parts complex128; shapes broadcast)."""
    real, imag = convert_to_tensor(real, name="real"), convert_to_tensor(imag, name="imag")
    return make_op("Complex", [real, imag], name=name).outputs[0]


@atomic
def real(input, name=None):     # noqa: A002  (TF's argument name)
    """tf.math.real: the real part of a complex tensor; a real tensor as it is."""
    x = _numeric(input, "real")
    if not x.dtype.is_complex:
        return x
    return make_op("Real", [x], name=name).outputs[0]


@atomic
def imag(input, name=None):     # noqa: A002
    """tf.math.imag: the imaginary part of a complex tensor; zeros for a real tensor."""
    x = _numeric(input, "imag")
    if not x.dtype.is_complex:
        return zeros_like(x, name=name)
    return make_op("Imag", [x], name=name).outputs[0]


@atomic
def conj(x, name=None):
    """tf.math.conj: the complex conjugate; a real tensor as it is (TypeError for bool)."""
    x = convert_to_tensor(x, name="x")
    if not x.dtype.is_numeric:
        raise TypeError(f"Expected numeric or variant tensor, got dtype {x.dtype!r} "
                        f"('{x.name}').")
    if not x.dtype.is_complex:
        return x
    return make_op("Conj", [x], name=name).outputs[0]


@atomic
def angle(input, name=None):    # noqa: A002
    """tf.math.angle: the argument of a complex tensor, in (-pi, pi]; for a real tensor pi
    where it is negative and 0 elsewhere (an integer tensor cannot hold pi: TypeError)."""
    x = _numeric(input, "angle")
    if x.dtype.is_complex:
        return make_op("Angle", [x], name=name).outputs[0]
    return where(less(x, 0), multiply(_pymath.pi, ones_like(x)), zeros_like(x), name=name)


# --- batching rules (numgrad/batching.py): all six ops are elementwise --------------------------
def _register_batching():
    from .. import batching as B
    for t in ["Complex", "Conj"] + [t for t, *_ in PARTS]:
        B.BATCH_RULES.setdefault(t, B._elementwise)


_register_batching()
