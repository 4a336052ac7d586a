"""Gradient rules of the complex-number ops (Complex, Real, Imag, Conj, Angle, ComplexAbs), as
TF's math_grad.py.

TF's convention, which every rule here and the conjugating rules of rules/math.py keep: the
gradient of a real loss L with respect to a complex z = a + ib is dL/da + i dL/db.  So
``real(grad)`` flows to the real part of Complex and ``imag(grad)`` to its imaginary part, a
real gradient g of Real(z) becomes g + 0i and of Imag(z) 0 + ig, and a holomorphic f(z) passes
``grad * conj(f'(z))`` back (for L = |w|^2 with w = f(z), dL/dRe(z) + i dL/dIm(z) is
2 w conj(f'(z))).  A complex y needs explicit grad_ys (gradients() raises TF's TypeError).
"""
from ...ops import array as A
from ...ops import math as M
from ...ops.complex import complex as make_complex
from ...ops.complex import conj, imag, real
from ..registry import RegisterGradient
from ._util import reduce_to


def _zero(grad):
    """A scalar 0 of grad's dtype (Complex broadcasts it)."""
    return A.zeros([], dtype=grad.dtype)


@RegisterGradient("Complex")
def _complex_grad(op, grad):
    """real(grad) for the real part, imag(grad) for the imaginary part (summed over
    broadcast axes)."""
    re, im = op.inputs
    grad = A.densify(grad)
    return [reduce_to(real(grad), re), reduce_to(imag(grad), im)]


@RegisterGradient("Real")
def _real_grad(op, grad):
    """grad + 0i."""
    grad = A.densify(grad)
    return [make_complex(grad, _zero(grad))]


@RegisterGradient("Imag")
def _imag_grad(op, grad):
    """0 + i grad."""
    grad = A.densify(grad)
    return [make_complex(_zero(grad), grad)]


@RegisterGradient("Conj")
def _conj_grad(op, grad):
    """conj(grad)."""
    return [conj(A.densify(grad))]


@RegisterGradient("Angle")
def _angle_grad(op, grad):
    """-grad / (Im(z) + i Re(z)): the angle atan2(b, a) has gradient (-b + ia) / |z|^2."""
    z = op.inputs[0]
    grad = A.densify(grad)
    inv = M.reciprocal(make_complex(imag(z), real(z)))
    return [-make_complex(grad, _zero(grad)) * inv]


@RegisterGradient("ComplexAbs")
def _complex_abs_grad(op, grad):
    """grad * z / |z|, and 0 where z is 0 (div_no_nan)."""
    z, r = op.inputs[0], op.outputs[0]
    grad = A.densify(grad)
    return [M.div_no_nan(make_complex(grad, A.zeros_like(grad)) * z,
                         make_complex(r, A.zeros_like(r)))]
