"""Gradient rules for elementwise math, Cast, AddN, Select, MatMul (cf. TF math_grad.py).

Each rule: ``(op, grad) -> [gradient for each input]``; broadcasting inputs are reduced back
to their own shape.  Rules that need the op's output read ``op.outputs[0]`` so second
derivatives flow through it.
"""
import math

from ...ops import array as A
from ...ops import math as M
from ...ops import nn as N
from ..registry import NotDifferentiable, RegisterGradient
from ._util import reduce_to

for _t in ("Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "LogicalAnd",
           "LogicalOr", "LogicalNot", "Where", "FloorDiv", "Floor"):
    NotDifferentiable(_t)


# --- unary -----------------------------------------------------------------------------------
def _x(op):
    return op.inputs[0]


def _y(op):
    return op.outputs[0]


_UNARY = {
    "Neg": lambda op, g: -g,
    "Square": lambda op, g: g * (2.0 * _x(op)),
    "Sqrt": lambda op, g: (g * 0.5) / _y(op),
    "Rsqrt": lambda op, g: g * -0.5 * (_y(op) * _y(op) * _y(op)),
    "Exp": lambda op, g: g * _y(op),
    "Log": lambda op, g: g * M.reciprocal(_x(op)),
    "Log1p": lambda op, g: g * M.reciprocal(1.0 + _x(op)),
    "Expm1": lambda op, g: g * M.exp(_x(op)),
    "Sin": lambda op, g: g * M.cos(_x(op)),
    "Cos": lambda op, g: -g * M.sin(_x(op)),
    "Tan": lambda op, g: g * M.square(M.reciprocal(M.cos(_x(op)))),
    "Tanh": lambda op, g: g * (1.0 - _y(op) * _y(op)),
    "Sigmoid": lambda op, g: g * (_y(op) * (1.0 - _y(op))),
    "Erf": lambda op, g: g * (2.0 / math.sqrt(math.pi)) * M.exp(-M.square(_x(op))),
    "Abs": lambda op, g: g * M.sign(_x(op)),
    "Sign": lambda op, g: A.zeros_like(_x(op)),
    "Reciprocal": lambda op, g: -g * (_y(op) * _y(op)),
    "Relu": lambda op, g: N.relu_grad(g, _y(op)),
    "Identity": lambda op, g: g,
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
@RegisterGradient("AddV2")
def _add_grad(op, grad):
    # dense, as TF's: an IndexedSlices grad is not a Tensor, so TF's _AddGrad/_SubGrad take
    # the reduce_sum path (SmartBroadcastGradientArgs), which densifies it
    x, y = op.inputs
    grad = A.densify(grad)
    return [reduce_to(grad, x), reduce_to(grad, y)]


@RegisterGradient("Sub")
def _sub_grad(op, grad):
    x, y = op.inputs
    grad = A.densify(grad)
    return [reduce_to(grad, x), reduce_to(-grad, y)]


@RegisterGradient("Mul")
def _mul_grad(op, grad):
    x, y = op.inputs
    return [reduce_to(grad * y, x), reduce_to(x * grad, y)]


@RegisterGradient("RealDiv")
def _realdiv_grad(op, grad):
    x, y = op.inputs
    return [reduce_to(grad / y, x), reduce_to(grad * ((-x / y) / y), y)]


@RegisterGradient("DivNoNan")
def _div_no_nan_grad(op, grad):
    """TF's _DivNoNanGrad: div_no_nan(grad, y) and grad * div_no_nan(div_no_nan(-x, y), y)."""
    x, y = op.inputs
    return [reduce_to(M.div_no_nan(grad, y), x),
            reduce_to(grad * M.div_no_nan(M.div_no_nan(-x, y), y), y)]


@RegisterGradient("FloorMod")
def _floor_mod_grad(op, grad):
    """TF's _FloorModGrad: grad for x, -grad * floordiv(x, y) for y."""
    x, y = op.inputs
    return [reduce_to(grad, x), reduce_to(grad * M.negative(M.floordiv(x, y)), y)]


@RegisterGradient("Pow")
def _pow_grad(op, grad):
    x, y = op.inputs
    z = op.outputs[0]
    gx = reduce_to(grad * y * M.pow(x, y - 1), x)
    mask = M.greater(x, 0)
    safe_x = M.where(mask, x, A.ones_like(x))
    log_x = M.where(mask, M.log(safe_x), A.zeros_like(x))
    gy = reduce_to(grad * z * log_x, y)
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
    a, b = op.inputs
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

