"""Gradient rules for elementwise math, Cast, AddN, Select, MatMul (cf. TF math_grad.py).

Each rule: ``(op, grad) -> [gradient for each input]``; broadcasting inputs are reduced back
to their own shape.  Rules that need the op's output read ``op.outputs[0]`` so second
derivatives flow through it.

Complex operands: like TF, a rule multiplies by the conjugate of the op's derivative (it reads
``conj(x)`` / ``conj(y)``, which is the tensor itself for real dtypes, so real graphs are
unchanged); see numgrad/gradients/rules/complex.py for the convention.
"""
import math

from ...ops import array as A
from ...ops import math as M
from ...ops.complex import conj
from ...ops import nn as N
from ...indexed_slices import IndexedSlices
from ..registry import NotDifferentiable, RegisterGradient
from ._util import reduce_to

for _t in ("Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "LogicalAnd",
           "LogicalOr", "LogicalNot", "Where", "FloorDiv", "Floor",
           # issue 17: TF's _CeilGrad/_RoundGrad/_RintGrad return None; predicates are bool
           "Ceil", "Round", "Rint", "IsNan", "IsInf", "IsFinite"):
    NotDifferentiable(_t)


# --- unary -----------------------------------------------------------------------------------
def _x(op):
    return op.inputs[0]


def _y(op):
    return op.outputs[0]


def _cx(op):
    """conj(x): x itself for real dtypes."""
    return conj(op.inputs[0])


def _cy(op):
    """conj(y): y itself for real dtypes."""
    return conj(op.outputs[0])


def _tanh_grad(g, cy):
    return g * (1.0 - cy * cy)


def _sigmoid_grad(g, cy):
    return g * (cy * (1.0 - cy))


_UNARY = {
    "Neg": lambda op, g: -g,
    "Square": lambda op, g: g * (2.0 * _cx(op)),
    # TF's SqrtGrad/RsqrtGrad/ReciprocalGrad ops: 0 where g is 0 (rules for them below)
    "Sqrt": lambda op, g: M._sqrt_grad(_y(op), g),
    "Rsqrt": lambda op, g: M._rsqrt_grad(_y(op), g),
    "Exp": lambda op, g: g * _cy(op),
    "Log": lambda op, g: g * M.reciprocal(_cx(op)),
    "Log1p": lambda op, g: g * M.reciprocal(1.0 + _cx(op)),
    "Expm1": lambda op, g: g * M.exp(_cx(op)),
    "Sin": lambda op, g: g * M.cos(_cx(op)),
    "Cos": lambda op, g: -g * M.sin(_cx(op)),
    "Tan": lambda op, g: g * M.square(M.reciprocal(M.cos(_cx(op)))),
    "Tanh": lambda op, g: _tanh_grad(g, _cy(op)),
    "Sigmoid": lambda op, g: _sigmoid_grad(g, _cy(op)),
    "Erf": lambda op, g: g * (2.0 / math.sqrt(math.pi)) * M.exp(-M.square(_x(op))),
    "Abs": lambda op, g: g * M.sign(_x(op)),
    "Sign": lambda op, g: A.zeros_like(_x(op)),
    "Reciprocal": lambda op, g: M._reciprocal_grad(_y(op), g),
    "Relu": lambda op, g: N.relu_grad(g, _y(op)),
    "Identity": lambda op, g: g,
    # issue 17, as TF's math_grad.py / nn_grad.py
    "Asin": lambda op, g: g * M.reciprocal(M.sqrt(1.0 - M.square(_cx(op)))),
    "Acos": lambda op, g: -g * M.reciprocal(M.sqrt(1.0 - M.square(_cx(op)))),
    "Atan": lambda op, g: g * M.reciprocal(1.0 + M.square(_cx(op))),
    "Sinh": lambda op, g: g * M.cosh(_cx(op)),
    "Cosh": lambda op, g: g * M.sinh(_cx(op)),
    "Asinh": lambda op, g: g / M.cosh(_cy(op)),
    "Acosh": lambda op, g: g / M.sinh(_cy(op)),
    "Atanh": lambda op, g: g * M.reciprocal(1.0 - M.square(_cx(op))),
    "Lgamma": lambda op, g: g * M.digamma(_x(op)),
    "Digamma": lambda op, g: g * M.polygamma(A.ones_like(_x(op)), _x(op)),
    "Erfc": lambda op, g: g * (-2.0 / math.sqrt(math.pi)) * M.exp(-M.square(_x(op))),
    # the *Grad ops of TF (SoftplusGrad, EluGrad, ...) composed from elementwise ops: the same
    # numbers, and their own gradients come for free
    "Softplus": lambda op, g: g / (M.exp(-_x(op)) + 1.0),
    "Softsign": lambda op, g: g / M.square(1.0 + M.abs(_x(op))),
    "Elu": lambda op, g: M.where_v2(M.less(_y(op), 0.0), g * (_y(op) + 1.0), g),
    "Selu": lambda op, g: M.where_v2(M.less(_y(op), 0.0), g * (_y(op) + M.SELU_SCALE * M.SELU_ALPHA),
                                     g * M.SELU_SCALE),
    "Relu6": lambda op, g: M.where_v2(M.logical_and(M.greater(_y(op), 0), M.less(_y(op), 6)),
                                      g, A.zeros_like(g)),
}


def _register_unary(op_type, fn):
    sparse_ok = op_type in ("Neg", "Identity")     # these keep a gather's IndexedSlices sparse

    @RegisterGradient(op_type)
    def _grad(op, grad):
        return [fn(op, grad if sparse_ok else A.densify(grad))]


for _t, _f in _UNARY.items():
    _register_unary(_t, _f)


@RegisterGradient("ReluGrad")
def _relu_grad_grad(op, grad):
    y = op.inputs[1]
    return [N.relu_grad(grad, y), A.zeros_like(y)]


@RegisterGradient("Cast")
def _cast_grad(op, grad):
    src, dst = op.inputs[0].dtype, op.outputs[0].dtype
    if src.is_differentiable and dst.is_differentiable:
        return [M.cast(grad, src)]
    return [None]


@RegisterGradient("AddN")
def _add_n_grad(op, grad):
    return [grad] * len(op.inputs)


# --- binary (broadcasting) -------------------------------------------------------------------
def _must_reduce(x, y):
    """TF's SmartBroadcastGradientArgs: whether each input's gradient must be summed over
    broadcast axes; (True, True) when that depends on run-time shapes."""
    xs, ys = x.shape, y.shape
    if xs.rank is None or ys.rank is None:
        return True, True
    rank = max(xs.rank, ys.rank)
    xd = [1] * (rank - xs.rank) + xs.as_list()
    yd = [1] * (rank - ys.rank) + ys.as_list()
    x_axes = y_axes = False
    for a, b in zip(xd, yd):
        if a == 1 and b != 1:
            x_axes = True
        elif b == 1 and a != 1:
            y_axes = True
        elif a is None or b is None:
            return True, True
    return x_axes or xs.rank < ys.rank, y_axes or ys.rank < xs.rank


def _sum_grad_arg(grad, x, must_reduce):
    """TF's _ReduceGradientArg: an input that needs no reduction gets `grad` as it is (an
    IndexedSlices stays sparse); otherwise the sum over the broadcast axes (dense)."""
    if not must_reduce:
        return grad
    return reduce_to(A.densify(grad), x)


def _negated(grad):
    if isinstance(grad, IndexedSlices):
        return IndexedSlices(-grad.values, grad.indices, grad.dense_shape)
    return -grad


@RegisterGradient("AddV2")
def _add_grad(op, grad):
    # TF's _AddGrad: a Tensor grad is summed to each input's shape; an IndexedSlices one
    # (from a gather) passes through sparse to an input that was not broadcast
    x, y = op.inputs
    if not isinstance(grad, IndexedSlices):
        return [reduce_to(grad, x), reduce_to(grad, y)]
    mx, my = _must_reduce(x, y)
    return [_sum_grad_arg(grad, x, mx), _sum_grad_arg(grad, y, my)]


@RegisterGradient("Sub")
def _sub_grad(op, grad):
    x, y = op.inputs
    if not isinstance(grad, IndexedSlices):
        return [reduce_to(grad, x), reduce_to(-grad, y)]
    mx, my = _must_reduce(x, y)
    return [_sum_grad_arg(grad, x, mx), _sum_grad_arg(_negated(grad), y, my)]


@RegisterGradient("Mul")
def _mul_grad(op, grad):
    x, y = op.inputs       # Mul ops (not the `*` operator's "mul"): named as TF names them
    return [reduce_to(M.multiply(grad, conj(y)), x), reduce_to(M.multiply(conj(x), grad), y)]


@RegisterGradient("RealDiv")
def _realdiv_grad(op, grad):
    x, y = op.inputs
    cx, cy = conj(x), conj(y)
    return [reduce_to(grad / cy, x), reduce_to(grad * ((-cx / cy) / cy), y)]


@RegisterGradient("SqrtGrad")
def _sqrt_grad_grad(op, grad):
    """TF's _SqrtGradGrad: with ga = grad / y, [-ga * out, 0.5 * ga]."""
    ga = grad / op.inputs[0]
    return [-conj(ga) * op.outputs[0], 0.5 * ga]


@RegisterGradient("RsqrtGrad")
def _rsqrt_grad_grad(op, grad):
    """TF's _RsqrtGradGrad: [-1.5 * conj(grad) * dy * conj(y)^2, rsqrt_grad(conj(y), grad)]."""
    y, dy = op.inputs
    cy = conj(y)
    return [-1.5 * conj(grad) * dy * M.square(cy), M._rsqrt_grad(cy, grad)]


@RegisterGradient("ReciprocalGrad")
def _reciprocal_grad_grad(op, grad):
    """TF's _ReciprocalGradGrad: [conj(grad) * -2 * dy * conj(y), reciprocal_grad(conj(y),
    grad)]."""
    y, dy = op.inputs
    cy = conj(y)
    return [conj(grad) * -2.0 * dy * cy, M._reciprocal_grad(cy, grad)]


@RegisterGradient("DivNoNan")
def _div_no_nan_grad(op, grad):
    """TF's _DivNoNanGrad: div_no_nan(grad, y) and grad * div_no_nan(div_no_nan(-x, y), y)."""
    x, y = op.inputs
    cx, cy = conj(x), conj(y)
    return [reduce_to(M.div_no_nan(grad, cy), x),
            reduce_to(grad * M.div_no_nan(M.div_no_nan(-cx, cy), cy), y)]


@RegisterGradient("FloorMod")
def _floor_mod_grad(op, grad):
    """TF's _FloorModGrad: grad for x, -grad * floordiv(x, y) for y."""
    x, y = op.inputs
    return [reduce_to(grad, x), reduce_to(grad * M.negative(M.floordiv(x, y)), y)]


@RegisterGradient("Pow")
def _pow_grad(op, grad):
    """TF's _PowGrad; log(x) is taken where x > 0 (x != 0 for complex x), 0 elsewhere."""
    x, y = op.inputs
    cx, cy = conj(x), conj(y)
    gx = reduce_to(grad * cy * M.pow(cx, cy - 1), x)
    mask = M.not_equal(cx, 0) if x.dtype.is_complex else M.greater(x, 0)
    safe_x = M.where(mask, cx, A.ones_like(x))
    log_x = M.where(mask, M.log(safe_x), A.zeros_like(x))
    gy = reduce_to(grad * conj(op.outputs[0]) * log_x, y)
    return [gx, gy]


def _max_min_grad(op, grad, selector):
    x, y = op.inputs
    zeros = A.zeros_like(grad)
    xmask = selector(x, y)
    if xmask.shape.is_fully_defined() and grad.shape.is_fully_defined() and xmask.shape != grad.shape:
        xmask = A.broadcast_to(xmask, grad.shape.as_list())
    elif not (xmask.shape.is_fully_defined() and xmask.shape == grad.shape):
        xmask = A.broadcast_to(xmask, A.shape(grad))
    return [reduce_to(M.where(xmask, grad, zeros), x), reduce_to(M.where(xmask, zeros, grad), y)]


@RegisterGradient("Maximum")
def _maximum_grad(op, grad):
    return _max_min_grad(op, grad, M.greater_equal)


@RegisterGradient("Minimum")
def _minimum_grad(op, grad):
    return _max_min_grad(op, grad, M.less_equal)


@RegisterGradient("SquaredDifference")
def _squared_difference_grad(op, grad):
    x, y = op.inputs
    x_grad = (2.0 * A.densify(grad)) * (x - y)     # grad may be IndexedSlices (from gather)
    return [reduce_to(x_grad, x), reduce_to(-x_grad, y)]


@RegisterGradient("Select")
def _select_grad(op, grad):
    c = op.inputs[0]
    zeros = A.zeros_like(grad)
    return [None, M.where(c, grad, zeros), M.where(c, zeros, grad)]


@RegisterGradient("SelectV2")
def _select_v2_grad(op, grad):
    c, x, y = op.inputs
    zeros = A.zeros_like(grad)
    return [None, reduce_to(M.where_v2(c, grad, zeros), x),
            reduce_to(M.where_v2(c, zeros, grad), y)]


# --- matmul ------------------------------------------------------------------------------------
@RegisterGradient("MatMul")
def _matmul_grad(op, grad):
    a, b = (conj(t) for t in op.inputs)
    ta, tb = op.get_attr("transpose_a"), op.get_attr("transpose_b")
    mm = M.matmul
    if not ta and not tb:
        ga, gb = mm(grad, b, transpose_b=True), mm(a, grad, transpose_a=True)
    elif not ta and tb:
        ga, gb = mm(grad, b), mm(grad, a, transpose_a=True)
    elif ta and not tb:
        ga, gb = mm(b, grad, transpose_b=True), mm(a, grad)
    else:
        ga, gb = mm(b, grad, transpose_a=True, transpose_b=True), mm(grad, a, transpose_a=True, transpose_b=True)
    return [ga, gb]


@RegisterGradient("BatchMatMulV2")
def _batch_matmul_grad(op, grad):
    a, b = op.inputs
    ga, gb = _matmul_grad(op, grad)
    return [reduce_to(ga, a), reduce_to(gb, b)]


# The issue-17 binary family (Atan2, Xlogy, Xlog1py, Xdivy, MulNoNan, NextAfter, Polygamma,
# Zeta) declares its gradient rules with the ops, in ops/math.py's BINARY rows.
