"""Elementwise math ops (unary, binary with NumPy broadcasting), Cast, AddN, Select, MatMul.

Each table row declares an op once: TF type, public name, NumPy reference, scalar template
for the compiler, and which dtypes it accepts.

Adding an elementwise op (the recipe):

1. a row in UNARY / BINARY (UNARY_PRED for bool-valued predicates) here: registers the op
   (kind "elementwise"), builds the public function (TF's argument names via ARG_NAMES), and
   gives it a batching rule (numgrad/batching.py builds its elementwise rules from UNARY and
   BINARY; ops/math_extra.py adds UNARY_PRED's) and a row test in tests/test_jacobians.py;
2. the template's scalar function in numgrad/kernels/cpu/scalar.py (``register_jitable``,
   NumPy's semantics, in ``__all__``) and its device twin of the same name in
   numgrad/kernels/cuda/scalar.py (libdevice on a GPU, NumPy under the simulator); forms of
   its own for integer, bool or complex values go in the row, as a registry.Template
   (``Template("floordiv({0}, {1})", int="ifloordiv({0}, {1})")``);
3. optionally a vectorised form for big kernels, in the same Template: ``vecmath="atan2"``
   (a function of kernels/vecmath.py) or ``vecmath_expr=`` (an expression over them);
4. its gradient, as TF's math_grad.py: declared with the row (a rule function above the
   table as the row's last element, as the issue-17 binary rows do), or in
   numgrad/gradients/rules/math.py (_UNARY table or a RegisterGradient), or NotDifferentiable;
5. the public name exported in numgrad/__init__.py and/or numgrad/math_ns.py (ng.math) /
   numgrad/nn.py (ng.nn), and tests (tests/test_math_ops.py).
"""
import math as _pymath

import numpy as np

from .. import dtypes as _dt
from ..graph import Tensor, atomic
from ..tensor_shape import TensorShape
# re-exported: op modules written before ops/common.py import these from here
from .common import (ANY, BOOL, FLOAT, FLOAT_C, NUMERIC, NUMERIC_C,  # noqa: F401
                     check_dtype, format_shape)
from .common import check_dtype as _check_dtype, format_shape as _fmt
from . import array as _A
from .core import convert_to_tensor, make_op
from .reduce import reduce_to
from .registry import Template, register_op
from ..kernels import special as _special

def broadcast_static_shape(a, b):
    """NumPy broadcasting of two static shapes; ValueError naming both if incompatible."""
    if a.rank is None or b.rank is None:
        return TensorShape(None)
    da, db = list(a), list(b)
    n = max(len(da), len(db))
    da = [1] * (n - len(da)) + da
    db = [1] * (n - len(db)) + db
    out = []
    for x, y in zip(da, db):
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif x is None:
            out.append(y)   # y is None or a size > 1 the runtime must match
        elif y is None or x == y:
            out.append(x)
        else:
            raise ValueError(f"Dimensions must be equal, but are {x} and {y}; input shapes: "
                             f"{_fmt(a)} and {_fmt(b)} do not broadcast")
    return TensorShape(out)


# --- NumPy references that NumPy lacks ---------------------------------------------------------
_erf_scalar = np.vectorize(_pymath.erf, otypes=[np.float64])


def _erf(x):
    return _erf_scalar(x).astype(x.dtype) if x.size else x.copy()


def _sigmoid(x):
    if x.dtype.kind == "c":
        with np.errstate(all="ignore"):
            return (1 / (1 + np.exp(-x))).astype(x.dtype)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def _rsqrt(x):
    return (1 / np.sqrt(x)).astype(x.dtype)


def _reciprocal(x):
    return (np.ones((), x.dtype) / x).astype(x.dtype) if x.dtype.kind in "fc" else (1 // x).astype(x.dtype)


def _int_safe_power(x, y):
    if x.dtype.kind in "iu":
        return np.where(y >= 0, np.power(x, np.abs(y)), 0).astype(x.dtype)
    return np.power(x, y)


def _floordiv(x, y):
    if x.dtype.kind == "f":
        return np.floor(x / y)
    return np.floor_divide(x, y)


def _floormod(x, y):
    """TF's FloorMod: the truncated remainder moved onto y's side (integer y == 0 gives 0, as
    NumPy's and numgrad's integer division by zero does)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.fmod(x, y)
        return np.where((r != 0) & ((y < 0) != (r < 0)), r + y, r).astype(x.dtype)


def _np1(fn):
    """A NumPy ufunc reference that keeps the input dtype and stays quiet on domain errors."""
    def ref(*args):
        with np.errstate(all="ignore"):
            return np.asarray(fn(*args)).astype(args[0].dtype)
    return ref


def _vec_math(fn):
    vec = np.vectorize(fn, otypes=[np.float64])

    def ref(x):
        return vec(x.astype(np.float64)).astype(x.dtype) if x.size else x.copy()
    return ref


_digamma = _special.vectorized(_special.digamma)
_polygamma = _special.vectorized(_special.polygamma)
_zeta = _special.vectorized(_special.zeta)
SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def _softplus(x):
    with np.errstate(all="ignore"):
        return (np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))).astype(x.dtype) \
            if x.size else x.copy()


def _elu(x):
    with np.errstate(all="ignore"):
        return np.where(x > 0, x, np.expm1(x)).astype(x.dtype)


def _selu(x):
    with np.errstate(all="ignore"):
        return np.where(x > 0, x.dtype.type(SELU_SCALE) * x,
                        x.dtype.type(SELU_SCALE * SELU_ALPHA) * np.expm1(x)).astype(x.dtype)


def _relu6(x):
    return np.minimum(np.maximum(x, np.zeros((), x.dtype)), np.asarray(6, x.dtype))


def _softsign(x):
    return (x / (1 + np.abs(x))).astype(x.dtype)


def _xlogy(x, y, log=np.log):
    with np.errstate(all="ignore"):
        return np.where(x == 0, np.zeros((), x.dtype), x * log(y)).astype(x.dtype)


def _xlog1py(x, y):
    return _xlogy(x, y, np.log1p)


def _xdivy(x, y):
    with np.errstate(all="ignore"):
        return np.where(x == 0, np.zeros((), x.dtype), x / y).astype(x.dtype)


def _squared_difference(x, y):
    """(x - y)^2; for complex operands TF's |x - y|^2 (a complex tensor with imaginary part 0)."""
    d = x - y
    return d * np.conj(d) if d.dtype.kind == "c" else np.square(d)


def _mul_no_nan(x, y):
    with np.errstate(all="ignore"):
        return np.where(y == 0, np.zeros((), x.dtype), x * y).astype(x.dtype)


def _grad_ref(fn):
    """TF's SqrtGrad / RsqrtGrad / ReciprocalGrad kernels: fn(conj(y), dy), and 0 where dy is 0
    (even where y is 0 or inf)."""
    def ref(y, dy):
        with np.errstate(all="ignore"):
            cy = np.conj(y) if y.dtype.kind == "c" else y
            return np.where(dy == 0, np.zeros((), dy.dtype), fn(cy, dy)).astype(dy.dtype)
    return ref


def _div_no_nan_ref(x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y == 0, np.zeros((), x.dtype), x / y).astype(x.dtype)


# --- the scalar forms of the rows' templates (registry.Template) -------------------------------
# `int=`: integer versions with NumPy's semantics (floor division, C remainder, no negative
# powers); `bool=`: bitwise forms (no short-circuit branches in the loop body).
# `complex=`: the form a fused cpu loop computes on complex values (an op with a complex input
# or output fuses only with one, or with the complex_as_is trait; compiler/fuse.py).  Numba runs
# NumPy's complex ufuncs on scalars, except division (cdiv: NumPy's algorithm; Numba's raises on
# a zero divisor) and tanh (ctanh: Numba's overflows to NaN for |Re z| > ~350); the value is
# then wrapped in the output's dtype.  Pow's cpow follows NumPy's special cases of a complex
# power (kernels/cpu/scalar.py).  Numba's complex tan, inverse trigonometric and inverse
# hyperbolic functions and log1p follow NumPy's algorithms (within an ulp or two for finite
# inputs; for an inf or NaN part, which part of the result is NaN can differ:
# tests/test_complex_fused.py).  Complex reductions, Sinh/Cosh (Numba gives NaN parts where
# NumPy overflows to inf), Acosh and Expm1 (inaccurate near 0) run their NumPy references as
# steps of their own.  The gradient kernels read conj(y) and give 0 where
# dy is 0, as TF's.
# `vecmath=`: the kernels/vecmath.py function of big float loops (compiler/vecmath_calls.py);
# `vecmath_expr=`: an expression over them ({w}: f32 or f64; {z}: a zero of the dtype; {c}: its
# constructor) with the same values as the template's scalar function (kernels/cpu/scalar.py),
# to vecmath's accuracy.  Constants are float64, as in the templates.
VECMATH_SOFTPLUS = "(({0} if {0} > {z} else {z}) + vmc.log1p_{w}(vmc.exp_{w}(-abs({0}))))"
VECMATH_ELU = "({0} if {0} > {z} else vmc.expm1_{w}({0}))"
VECMATH_SELU = ("(1.0507009873554805 * {0} if {0} > {z} else "
                "1.7580993408473766 * vmc.expm1_{w}({0}))")
VECMATH_XLOGY = "({z} if {0} == {z} else {0} * vmc.log_{w}({1}))"
VECMATH_XLOG1PY = "({z} if {0} == {z} else {0} * vmc.log1p_{w}({1}))"
# inverse hyperbolic functions (as glibc's): log1p forms near 0, log(a) + ln2 for huge a
VECMATH_ASINH = ("np.copysign(vmc.log_{w}(abs({0})) + {c}(0.6931471805599453) if abs({0}) > "
                 "{c}(268435456.0) else vmc.log1p_{w}(abs({0}) + abs({0}) * abs({0}) / ({c}(1) + "
                 "sqrt({c}(1) + abs({0}) * abs({0})))), {0})")
VECMATH_ACOSH = ("(vmc.log_{w}({0}) + {c}(0.6931471805599453) if {0} > {c}(268435456.0) else "
                 "vmc.log1p_{w}(({0} - {c}(1)) + sqrt(({0} - {c}(1)) * ({0} + {c}(1)))) "
                 "if {0} >= {c}(1) else {c}(np.nan))")
VECMATH_ATANH = ("np.copysign({c}(0.5) * vmc.log1p_{w}({c}(2) * abs({0}) + {c}(2) * abs({0}) * "
                 "abs({0}) / ({c}(1) - abs({0})) if abs({0}) < {c}(0.5) else {c}(2) * abs({0}) / "
                 "({c}(1) - abs({0}))), {0})")
# hyperbolic functions: expm1 form for sinh, exp(a/2) squared where exp(a) would overflow
VECMATH_SINH = ("np.copysign({c}(0.5) * (vmc.expm1_{w}(abs({0})) + vmc.expm1_{w}(abs({0})) / "
                "(vmc.expm1_{w}(abs({0})) + {c}(1))) if abs({0}) <= {c}(20) else "
                "({c}(0.5) * vmc.exp_{w}({c}(0.5) * abs({0}))) * vmc.exp_{w}({c}(0.5) * abs({0})), "
                "{0})")
VECMATH_COSH = ("({c}(0.5) * vmc.exp_{w}(abs({0})) + {c}(0.5) / vmc.exp_{w}(abs({0})) if abs({0}) "
                "<= {c}(20) else ({c}(0.5) * vmc.exp_{w}({c}(0.5) * abs({0}))) * "
                "vmc.exp_{w}({c}(0.5) * abs({0})))")

# (type, public name, reference, template (a string or a registry.Template), dtypes)
UNARY = [
    ("Neg", "negative", np.negative, Template("(-{0})", complex="(-{0})"), NUMERIC_C),
    ("Square", "square", np.square, Template("({0} * {0})", complex="({0} * {0})"), NUMERIC_C),
    ("Sqrt", "sqrt", np.sqrt, Template("sqrt({0})", complex="np.sqrt({0})"), FLOAT_C),
    ("Rsqrt", "rsqrt", _rsqrt,
     Template("rsqrt({0})", complex="cdiv(1 + 0j, np.sqrt({0}))"), FLOAT_C),
    ("Exp", "exp", np.exp, Template("exp({0})", complex="np.exp({0})", vecmath="exp"), FLOAT_C),
    ("Log", "log", np.log, Template("log({0})", complex="np.log({0})", vecmath="log"), FLOAT_C),
    ("Log1p", "log1p", np.log1p, Template("log1p({0})", complex="np.log1p({0})", vecmath="log1p"), FLOAT_C),
    ("Expm1", "expm1", np.expm1, Template("expm1({0})", vecmath="expm1"), FLOAT_C),
    ("Sin", "sin", np.sin, Template("sin({0})", complex="np.sin({0})", vecmath="sin"), FLOAT_C),
    ("Cos", "cos", np.cos, Template("cos({0})", complex="np.cos({0})", vecmath="cos"), FLOAT_C),
    ("Tan", "tan", np.tan, Template("tan({0})", complex="np.tan({0})", vecmath="tan"), FLOAT_C),
    ("Tanh", "tanh", np.tanh,
     Template("tanh({0})", complex="ctanh({0})", vecmath="tanh"), FLOAT_C),
    ("Sigmoid", "sigmoid", _sigmoid,
     Template("sigmoid({0})", complex="cdiv(1 + 0j, 1 + np.exp(-{0}))", vecmath="sigmoid"),
     FLOAT_C),
    ("Erf", "erf", _erf, Template("erf({0})", vecmath="erf"), FLOAT),
    ("Abs", "abs", np.abs, "abs({0})", NUMERIC),
    ("Sign", "sign", np.sign, "sign({0})", NUMERIC),
    ("Reciprocal", "reciprocal", _reciprocal,
     Template("(1 / {0})", int="ifloordiv(1, {0})", complex="cdiv(1 + 0j, {0})"), NUMERIC_C),
    ("Floor", "floor", np.floor, "floor({0})", FLOAT),
    ("Relu", "relu", lambda x: np.maximum(x, np.zeros((), x.dtype)), "({0} if ({0} >= 0 or {0} != {0}) else 0)", NUMERIC),
    ("LogicalNot", "logical_not", np.logical_not, "(not {0})", BOOL),
    # issue 17: inverse trigonometric / hyperbolic, rounding, special functions, activations
    ("Asin", "asin", _np1(np.arcsin), Template("asin({0})", complex="np.arcsin({0})", vecmath="asin"), FLOAT_C),
    ("Acos", "acos", _np1(np.arccos), Template("acos({0})", complex="np.arccos({0})", vecmath="acos"), FLOAT_C),
    ("Atan", "atan", _np1(np.arctan), Template("atan({0})", complex="np.arctan({0})", vecmath="atan"), FLOAT_C),
    ("Sinh", "sinh", _np1(np.sinh), Template("sinh({0})", vecmath_expr=VECMATH_SINH), FLOAT_C),
    ("Cosh", "cosh", _np1(np.cosh), Template("cosh({0})", vecmath_expr=VECMATH_COSH), FLOAT_C),
    ("Asinh", "asinh", _np1(np.arcsinh),
     Template("asinh({0})", complex="np.arcsinh({0})", vecmath_expr=VECMATH_ASINH), FLOAT_C),
    ("Acosh", "acosh", _np1(np.arccosh),
     Template("acosh({0})", vecmath_expr=VECMATH_ACOSH), FLOAT_C),
    ("Atanh", "atanh", _np1(np.arctanh),
     Template("atanh({0})", complex="np.arctanh({0})", vecmath_expr=VECMATH_ATANH), FLOAT_C),
    ("Ceil", "ceil", np.ceil, "ceil({0})", FLOAT),
    ("Round", "round", _np1(np.rint), "rint({0})", NUMERIC),   # half to even, as TF
    ("Rint", "rint", np.rint, "rint({0})", FLOAT),
    ("Lgamma", "lgamma", _vec_math(_special.lgamma),
     Template("lgamma({0})", vecmath="lgamma"), FLOAT),
    ("Digamma", "digamma", _digamma, Template("digamma({0})", vecmath="digamma"), FLOAT),
    ("Erfc", "erfc", _vec_math(_pymath.erfc), Template("erfc({0})", vecmath="erfc"), FLOAT),
    ("Softplus", "softplus", _softplus,
     Template("softplus({0})", vecmath_expr=VECMATH_SOFTPLUS), FLOAT),
    ("Softsign", "softsign", _softsign, "softsign({0})", FLOAT),
    ("Elu", "elu", _elu, Template("elu({0})", vecmath_expr=VECMATH_ELU), FLOAT),
    ("Selu", "selu", _selu, Template("selu({0})", vecmath_expr=VECMATH_SELU), FLOAT),
    ("Relu6", "relu6", _relu6, "relu6({0})", NUMERIC),
]

# elementwise predicates: (type, public name, reference, template, input dtypes); bool output
UNARY_PRED = [
    ("IsNan", "is_nan", np.isnan, "isnan({0})", FLOAT),
    ("IsInf", "is_inf", np.isinf, "isinf({0})", FLOAT),
    ("IsFinite", "is_finite", np.isfinite, "isfinite({0})", FLOAT),
]

# --- gradients declared with their ops (the issue-17 binary family: see BINARY) ----------------
# TF's math_grad.py formulas.  Each reads the op's inputs (so stop_gradients on an input blocks
# what flows through it) and sums a broadcast gradient back to each input's shape.
def _atan2_grad(op, grad):
    y, x = op.inputs
    grad_inv = _A.densify(grad) / (square(y) + square(x))
    return [reduce_to(x * grad_inv, y), reduce_to(-y * grad_inv, x)]


def _not_zero(x):
    return cast(not_equal(x, _A.zeros_like(x)), x.dtype)


def _xlogy_grad(op, grad):
    x, y = op.inputs
    grad = _A.densify(grad)
    return [reduce_to(xlogy(_not_zero(x), y) * grad, x), reduce_to(xdivy(x, y) * grad, y)]


def _xlog1py_grad(op, grad):
    x, y = op.inputs
    grad = _A.densify(grad)
    return [reduce_to(xlog1py(_not_zero(x), y) * grad, x),
            reduce_to(xdivy(x, y + 1.0) * grad, y)]


def _xdivy_grad(op, grad):
    x, y = op.inputs
    grad = _A.densify(grad)
    return [reduce_to(xdivy(_not_zero(x), y) * grad, x),
            reduce_to(xdivy(negative(x), square(y)) * grad, y)]


def _mul_no_nan_grad(op, grad):
    x, y = op.inputs
    grad = _A.densify(grad)
    return [reduce_to(multiply_no_nan(grad, y), x), reduce_to(multiply_no_nan(x, grad), y)]


def _next_after_grad(op, grad):
    """TF's _NextAfterGrad: ones * grad for x1, zeros * grad for x2."""
    x1, x2 = op.inputs
    grad = _A.densify(grad)
    return [reduce_to(_A.ones_like(x1) * grad, x1), reduce_to(_A.zeros_like(x2) * grad, x2)]


def _polygamma_grad(op, grad):
    n, x = op.inputs
    return [None, reduce_to(polygamma(n + 1.0, x) * _A.densify(grad), x)]


def _zeta_grad(op, grad):
    x, q = op.inputs
    return [None, reduce_to(-x * zeta(x + 1.0, q) * _A.densify(grad), q)]


# (type, public name, reference, template (a string or a Template), dtypes, output dtype or
#  None = same as input
#  [, gradient rule declared with the op; the other rows' rules are in gradients/rules/math.py])
BINARY = [
    ("AddV2", "add", np.add, Template("({0} + {1})", complex="({0} + {1})"), NUMERIC_C, None),
    ("Sub", "subtract", np.subtract,
     Template("({0} - {1})", complex="({0} - {1})"), NUMERIC_C, None),
    ("Mul", "multiply", np.multiply,
     Template("({0} * {1})", complex="({0} * {1})"), NUMERIC_C, None),
    ("RealDiv", "_realdiv", np.true_divide,
     Template("({0} / {1})", complex="cdiv({0}, {1})"), FLOAT_C, None),
    ("FloorDiv", "floordiv", _floordiv,
     Template("floordiv({0}, {1})", int="ifloordiv({0}, {1})"), NUMERIC, None),
    ("TruncateMod", "truncatemod", np.fmod,
     Template("fmod({0}, {1})", int="ifmod({0}, {1})"), NUMERIC, None),
    ("FloorMod", "floormod", _floormod,
     Template("floormod({0}, {1})", int="ifloormod({0}, {1})"), NUMERIC, None),
    ("DivNoNan", "_div_no_nan", _div_no_nan_ref,
     Template("divnonan({0}, {1})", complex="(0j if {1} == 0 else cdiv({0}, {1}))"),
     FLOAT_C, None),
    # the gradients of Sqrt, Rsqrt and Reciprocal as TF's kernels compute them: (y, dy)
    ("SqrtGrad", "_sqrt_grad", _grad_ref(lambda y, dy: (0.5 * dy) / y),
     Template("sqrtgrad({0}, {1})",
              complex="(0j if {1} == 0 else cdiv(0.5 * {1}, np.conj({0})))"), FLOAT_C, None),
    ("RsqrtGrad", "_rsqrt_grad", _grad_ref(lambda y, dy: -0.5 * (dy * y) * (y * y)),
     Template("rsqrtgrad({0}, {1})",
              complex="(0j if {1} == 0 else -0.5 * ({1} * np.conj({0})) * np.conj({0} * {0}))"),
     FLOAT_C, None),
    ("ReciprocalGrad", "_reciprocal_grad", _grad_ref(lambda y, dy: -dy * y * y),
     Template("recipgrad({0}, {1})",
              complex="(0j if {1} == 0 else -{1} * np.conj({0} * {0}))"), FLOAT_C, None),
    ("Pow", "pow", _int_safe_power,
     Template("pow({0}, {1})", int="ipow({0}, {1})", complex="cpow({0}, {1})"), NUMERIC_C, None),
    ("Maximum", "maximum", np.maximum, "maximum({0}, {1})", NUMERIC, None),
    ("Minimum", "minimum", np.minimum, "minimum({0}, {1})", NUMERIC, None),
    ("SquaredDifference", "squared_difference", _squared_difference,
     Template("sqdiff({0}, {1})", complex="(({0} - {1}) * np.conj({0} - {1}))"),
     NUMERIC_C, None),
    ("Equal", "equal", np.equal,
     Template("({0} == {1})", complex="({0} == {1})"), ANY, _dt.bool_),
    ("NotEqual", "not_equal", np.not_equal,
     Template("({0} != {1})", complex="({0} != {1})"), ANY, _dt.bool_),
    ("Less", "less", np.less, "({0} < {1})", NUMERIC, _dt.bool_),
    ("LessEqual", "less_equal", np.less_equal, "({0} <= {1})", NUMERIC, _dt.bool_),
    ("Greater", "greater", np.greater, "({0} > {1})", NUMERIC, _dt.bool_),
    ("GreaterEqual", "greater_equal", np.greater_equal, "({0} >= {1})", NUMERIC, _dt.bool_),
    ("LogicalAnd", "logical_and", np.logical_and,
     Template("({0} and {1})", bool="({0} & {1})"), BOOL, None),
    ("LogicalOr", "logical_or", np.logical_or,
     Template("({0} or {1})", bool="({0} | {1})"), BOOL, None),
    # issue 17
    ("Atan2", "atan2", _np1(np.arctan2),
     Template("atan2({0}, {1})", vecmath="atan2"), FLOAT, None, _atan2_grad),
    ("Xlogy", "xlogy", _xlogy,
     Template("xlogy({0}, {1})", vecmath_expr=VECMATH_XLOGY), FLOAT_C, None, _xlogy_grad),
    ("Xlog1py", "xlog1py", _xlog1py,
     Template("xlog1py({0}, {1})", vecmath_expr=VECMATH_XLOG1PY), FLOAT_C, None, _xlog1py_grad),
    ("Xdivy", "xdivy", _xdivy, "xdivy({0}, {1})", FLOAT_C, None, _xdivy_grad),
    ("MulNoNan", "multiply_no_nan", _mul_no_nan, "mulnonan({0}, {1})", FLOAT_C, None,
     _mul_no_nan_grad),
    ("NextAfter", "nextafter", _np1(np.nextafter), "nextafter({0}, {1})", FLOAT, None,
     _next_after_grad),
    ("Polygamma", "polygamma", _polygamma, "polygamma({0}, {1})", FLOAT, None, _polygamma_grad),
    ("Zeta", "zeta", _zeta, "zeta({0}, {1})", FLOAT, None, _zeta_grad),
]

# TF's argument names where they are not (x) / (x, y)
ARG_NAMES = {"atan2": ("y", "x"), "nextafter": ("x1", "x2"), "polygamma": ("a", "x"),
             "zeta": ("x", "q"), "softplus": ("features",), "softsign": ("features",),
             "elu": ("features",), "selu": ("features",), "relu6": ("features",)}


def _unary_infer(which):
    def infer(inputs, attrs):
        x, = inputs
        _check_dtype(x.dtype, which, f"input '{x.name}'")
        return [(x.dtype, x.shape)]
    return infer


def _binary_infer(which, out_dtype):
    def infer(inputs, attrs):
        x, y = inputs
        if x.dtype != y.dtype:
            raise TypeError(f"inputs must have the same dtype, but x '{x.name}' is "
                            f"{x.dtype.name} and y '{y.name}' is {y.dtype.name}")
        _check_dtype(x.dtype, which, f"input '{x.name}'")
        return [(out_dtype or x.dtype, broadcast_static_shape(x.shape, y.shape))]
    return infer


def _wrap1(fn):
    return lambda vals, attrs: [np.asarray(fn(vals[0]))]


def _wrap2(fn):
    return lambda vals, attrs: [np.asarray(fn(vals[0], vals[1]))]


def _pred_infer(which):
    def infer(inputs, attrs):
        x, = inputs
        _check_dtype(x.dtype, which, f"input '{x.name}'")
        return [(_dt.bool_, x.shape)]
    return infer


# the rows' traits (registry.TRAITS): bit-identical with the inputs swapped (not Maximum or
# Minimum: NumPy's maximum(-0.0, 0.0) and maximum(0.0, -0.0) differ in the sign of zero), and
# cheap enough to recompute in a later loop
ROW_TRAITS = {
    "AddV2": ("commutative", "cheap"), "Mul": ("commutative", "cheap"),
    "Equal": ("commutative",), "NotEqual": ("commutative",),
    "LogicalAnd": ("commutative",), "LogicalOr": ("commutative",),
    "Sub": ("cheap",), "Neg": ("cheap", "negation"), "Square": ("cheap",), "RealDiv": ("cheap",),
    "Maximum": ("cheap",), "Minimum": ("cheap",), "SquaredDifference": ("cheap",),
}

for _t, _n, _f, _tpl, _w in UNARY:
    register_op(_t, _unary_infer(_w), _wrap1(_f), kind="elementwise", template=_tpl,
                traits=ROW_TRAITS.get(_t, ()))
for _t, _n, _f, _tpl, _w in UNARY_PRED:
    register_op(_t, _pred_infer(_w), _wrap1(_f), kind="elementwise", template=_tpl)
for _t, _n, _f, _tpl, _w, _o, *_g in BINARY:
    register_op(_t, _binary_infer(_w, _o), _wrap2(_f), kind="elementwise", template=_tpl,
                gradient=_g[0] if _g else None, traits=ROW_TRAITS.get(_t, ()))


def _as_tensor_for(op_type, value, other):
    if value is None:       # TF: ValueError (None values not supported)
        raise ValueError(f"{op_type}: an operand is None; None values not supported (cannot "
                         "convert None to a Tensor)")
    try:
        return convert_to_tensor(value, dtype=other.dtype if isinstance(other, Tensor) else None)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{op_type}: cannot convert operand {value!r} to a Tensor: {e}") from None


def unary_op(op_type, x, name=None):
    x = _as_tensor_for(op_type, x, None)
    return make_op(op_type, [x], name=name).outputs[0]


def binary_op(op_type, x, y, name=None):
    """Binary op; a non-Tensor operand takes the dtype of the Tensor one (as TF does)."""
    if isinstance(x, Tensor) and not isinstance(y, Tensor):
        y = _as_tensor_for(op_type, y, x)
    elif isinstance(y, Tensor) and not isinstance(x, Tensor):
        x = _as_tensor_for(op_type, x, y)
    else:
        x = _as_tensor_for(op_type, x, None)
        y = _as_tensor_for(op_type, y, None)
    return make_op(op_type, [x, y], name=name).outputs[0]


def _named(fn, public, args):
    """`fn(*args, name=None)` under TF's argument names (keyword calls work as in TF)."""
    src = (f"def {public}({', '.join(args)}, name=None):\n"
           f"    return _fn({', '.join(args)}, name)\n")
    ns = {"_fn": fn, "__name__": __name__}
    exec(src, ns)   # noqa: S102  (a fixed template; only identifiers from ARG_NAMES)
    return ns[public]


def _make_unary(op_type, public):
    def f(x, name=None):
        return unary_op(op_type, x, name)
    if public in ARG_NAMES:
        f = _named(f, public, ARG_NAMES[public])
    f.__name__ = f.__qualname__ = public
    f.__doc__ = f"Elementwise `{public}` (TF op {op_type})."
    return f


def _make_binary(op_type, public):
    def f(x, y, name=None):
        return binary_op(op_type, x, y, name)
    if public in ARG_NAMES:
        f = _named(f, public, ARG_NAMES[public])
    f.__name__ = f.__qualname__ = public
    f.__doc__ = f"Elementwise `{public}` with NumPy broadcasting (TF op {op_type})."
    return f


for _t, _n, *_ in UNARY + UNARY_PRED:
    globals()[_n] = _make_unary(_t, _n)
for _t, _n, *_ in BINARY:
    globals()[_n] = _make_binary(_t, _n)

add = globals()["add"]
subtract = globals()["subtract"]
multiply = globals()["multiply"]
negative = globals()["negative"]
maximum = globals()["maximum"]
minimum = globals()["minimum"]
pow = globals()["pow"]   # noqa: A001  (tf.pow)
_abs_op = globals()["abs"]


_sign_op = globals()["sign"]


def sign(x, name=None):
    """tf.sign: -1, 0 or 1 (op Sign); for complex64/128 x / |x| (0 where x is 0), built as TF
    builds it: div_no_nan(x, cast(ComplexAbs(x))), so it has a gradient."""
    x = _as_tensor_for("Sign", x, None)
    if x.dtype.is_complex:
        return div_no_nan(x, cast(abs(x), x.dtype), name=name)
    return _sign_op(x, name)


def abs(x, name=None):  # noqa: A001  (tf.abs)
    """tf.abs: elementwise |x| (op Abs); for complex64/128 the modulus, a float32/float64 tensor
    (op ComplexAbs, declared in ops/complex.py)."""
    x = _as_tensor_for("Abs", x, None)
    if x.dtype.is_complex:
        return make_op("ComplexAbs", [x], name=name).outputs[0]
    return _abs_op(x, name)

floordiv = globals()["floordiv"]
floormod = globals()["floormod"]
mod = floormod       # tf.compat.v1.mod is FloorMod (Python's %), not truncatemod
_realdiv = globals()["_realdiv"]
# called by the gradient rules declared above BINARY
square, not_equal = globals()["square"], globals()["not_equal"]
xlogy, xlog1py, xdivy = globals()["xlogy"], globals()["xlog1py"], globals()["xdivy"]
multiply_no_nan = globals()["multiply_no_nan"]
polygamma, zeta = globals()["polygamma"], globals()["zeta"]


def realdiv(x, y, name=None):
    """tf.compat.v1.realdiv: the RealDiv op as is (floating inputs; no integer casts)."""
    return binary_op("RealDiv", x, y, name)


def truediv(x, y, name=None):
    """x / y; integers are first cast to float64 (int32/int64), as TF's truediv does."""
    if isinstance(x, Tensor) and not isinstance(y, Tensor):
        y = _as_tensor_for("truediv", y, x)
    elif isinstance(y, Tensor) and not isinstance(x, Tensor):
        x = _as_tensor_for("truediv", x, y)
    else:
        x, y = convert_to_tensor(x), convert_to_tensor(y)
    if x.dtype != y.dtype:
        raise TypeError(f"truediv: x '{x.name}' and y '{y.name}' must have the same dtype, "
                        f"got {x.dtype.name} and {y.dtype.name}")
    if x.dtype.is_integer:
        x, y = cast(x, _dt.float64), cast(y, _dt.float64)
    return binary_op("RealDiv", x, y, name)


def divide(x, y, name=None):
    """tf.math.divide: x / y with Python semantics (truediv)."""
    return truediv(x, y, name)


def div(x, y, name=None):
    """tf.compat.v1.div: Python 2 division. Floating inputs: RealDiv (x / y); integer inputs:
    FloorDiv, an integer result rounded toward -inf (TF's _div_python2). Like TF, `x` is
    converted on its own and `y` to x's dtype."""
    x = _as_tensor_for("div", x, None)
    y = _as_tensor_for("div", y, x)
    if x.dtype != y.dtype:
        raise TypeError(f"div: x '{x.name}' and y '{y.name}' must have the same dtype, "
                        f"got {x.dtype.name} and {y.dtype.name}")
    real_div = x.dtype.is_floating or x.dtype.is_complex
    return binary_op("RealDiv" if real_div else "FloorDiv", x, y, name)


def div_no_nan(x, y, name=None):
    """tf.math.divide_no_nan (v1 alias div_no_nan): x / y, but 0 where y == 0 (even if x is
    inf or NaN). Integer inputs are cast to float64 first, as truediv does."""
    if isinstance(y, Tensor) and not isinstance(x, Tensor):
        x = _as_tensor_for("div_no_nan", x, y)
    else:
        x = _as_tensor_for("div_no_nan", x, None)
        y = _as_tensor_for("div_no_nan", y, x)
    if x.dtype != y.dtype:
        raise TypeError(f"div_no_nan: x '{x.name}' and y '{y.name}' must have the same dtype, "
                        f"got {x.dtype.name} and {y.dtype.name}")
    if x.dtype.is_integer:
        x, y = cast(x, _dt.float64), cast(y, _dt.float64)
    return binary_op("DivNoNan", x, y, name)


divide_no_nan = div_no_nan


# --- Cast ---------------------------------------------------------------------------------
def _cast_infer(inputs, attrs):
    return [(attrs["DstT"], inputs[0].shape)]


def _cast_compute(vals, attrs):
    x, dst = vals[0], attrs["DstT"]
    if x.dtype.kind == "c" and not dst.is_complex:
        x = x.real      # TF's Cast keeps the real part (so 1j cast to bool is False)
    return [x.astype(dst.np)]


def _cast_expr(operands, in_dtype, out_dtype):
    """Cast's scalar expression: TF's Cast keeps the real part of a complex value; a cast to
    bool tests for non-zero."""
    x = operands[0]
    if in_dtype.kind == "c" and out_dtype.kind != "c":
        x = f"{x}.real"
    return f"({x} != 0)" if out_dtype.kind == "b" else f"np.{out_dtype.name}({x})"


register_op("Cast", _cast_infer, _cast_compute, kind="elementwise",
            template=Template("cast({0})", expr=_cast_expr), traits=("complex_as_is", "cheap"))


def cast(x, dtype, name=None):
    """tf.cast; a cast to the same dtype returns `x` itself."""
    from ..indexed_slices import IndexedSlices
    dtype = _dt.as_dtype(dtype)
    dtype.np                # bfloat16 without ml_dtypes: its ImportError, before any op is made
    if isinstance(x, IndexedSlices):
        return IndexedSlices(cast(x.values, dtype, name), x.indices, x.dense_shape)
    x = convert_to_tensor(x)
    if x.dtype == dtype:
        return x
    return make_op("Cast", [x], {"SrcT": x.dtype, "DstT": dtype}, name).outputs[0]


# --- AddN ----------------------------------------------------------------------------------
def _addn_infer(inputs, attrs):
    if not inputs:
        raise ValueError("add_n needs at least one input")
    shape = inputs[0].shape
    for t in inputs[1:]:
        if t.dtype != inputs[0].dtype:
            raise TypeError(f"all inputs must have the same dtype: '{inputs[0].name}' is "
                            f"{inputs[0].dtype.name} but '{t.name}' is {t.dtype.name}")
        if not shape.is_compatible_with(t.shape):
            raise ValueError(f"all inputs must have the same shape: '{inputs[0].name}' has "
                             f"shape {_fmt(shape)} but '{t.name}' has shape {_fmt(t.shape)}")
        shape = shape.merge_with(t.shape)
    _check_dtype(inputs[0].dtype, NUMERIC_C, f"input '{inputs[0].name}'")
    return [(inputs[0].dtype, shape)]


def _addn_compute(vals, attrs):
    out = vals[0].copy()
    for v in vals[1:]:
        out += v
    return [out]


register_op("AddN", _addn_infer, _addn_compute, kind="elementwise",
            template=Template("addn", expr=lambda operands, *_: "(" + " + ".join(operands) + ")"),
            traits=("complex_as_is",))


def add_n(inputs, name=None):
    """tf.math.add_n: sum of same-shape tensors (IndexedSlices are densified)."""
    if isinstance(inputs, Tensor) or not isinstance(inputs, (list, tuple)) or not inputs:
        raise ValueError("inputs must be a non-empty list of Tensors of the same shape and dtype")
    inputs = [convert_to_tensor(t) for t in inputs]
    if len(inputs) == 1:
        from .array import identity
        return identity(inputs[0], name=name) if name else inputs[0]
    return make_op("AddN", inputs, name=name).outputs[0]


# --- Select (v1 where) / SelectV2 ---------------------------------------------------------------
def _check_select_dtypes(c, x, y):
    if not c.dtype.is_bool:
        raise TypeError(f"condition '{c.name}' must be bool, got {c.dtype.name}")
    if x.dtype != y.dtype:
        raise TypeError(f"x '{x.name}' ({x.dtype.name}) and y '{y.name}' ({y.dtype.name}) "
                        "must have the same dtype")


def _select_infer(inputs, attrs):
    c, x, y = inputs
    _check_select_dtypes(c, x, y)
    if not x.shape.is_compatible_with(y.shape):
        raise ValueError(f"x and y must have the same shape, got {_fmt(x.shape)} and "
                         f"{_fmt(y.shape)}")
    shape = x.shape.merge_with(y.shape)
    if c.shape.rank == 1 and shape.rank is not None and shape.rank > 1:
        if not TensorShape([shape[0]]).is_compatible_with(c.shape):
            raise ValueError(f"condition vector of shape {_fmt(c.shape)} must match the first "
                             f"dimension of x/y {_fmt(shape)}")
    elif not c.shape.is_compatible_with(shape):
        raise ValueError(f"condition shape {_fmt(c.shape)} must equal the x/y shape "
                         f"{_fmt(shape)} or be a vector over its first dimension")
    return [(x.dtype, shape)]


def _select_compute(vals, attrs):
    c, x, y = vals
    if c.ndim == 1 and x.ndim > 1:
        c = c.reshape((-1,) + (1,) * (x.ndim - 1))
    return [np.where(c, x, y)]


def _selectv2_infer(inputs, attrs):
    c, x, y = inputs
    _check_select_dtypes(c, x, y)
    return [(x.dtype, broadcast_static_shape(c.shape, broadcast_static_shape(x.shape, y.shape)))]


def _select_lower(L, op, ins, specs):
    """Select with a vector condition picking rows (TF1) in the IR: SelectV2 with the
    condition reshaped to (n, 1, ..., 1); None (one Select node) otherwise."""
    c, shape = ins[0], specs[0][0]
    if len(c.shape) != 1 or len(shape) <= 1:
        return None
    rows = L.reshape(c, (c.shape[0],) + (1,) * (len(shape) - 1), op.name + "/cond")
    return L.node("SelectV2", {}, [rows, ins[1], ins[2]], specs, op.name)


register_op("Select", _select_infer, _select_compute, kind="elementwise",
            template="({1} if {0} else {2})", traits=("complex_as_is",), lower=_select_lower)
register_op("SelectV2", _selectv2_infer, lambda v, a: [np.where(v[0], v[1], v[2])],
            kind="elementwise", template="({1} if {0} else {2})",
            traits=("complex_as_is", "cheap"))


def _where_infer(inputs, attrs):
    c, = inputs
    return [(_dt.int64, TensorShape([None, c.shape.rank]))]


# Output size depends on the values (number of true elements), so rows cannot be stacked;
# it is not differentiable and only ever sees forward (bool) values in backward graphs.
register_op("Where", _where_infer,
            lambda v, a: [np.argwhere(v[0].astype(bool)).astype(np.int64)], kind="opaque",
            not_batchable="data-dependent output shape")


def _select_operands(x, y):
    if isinstance(x, Tensor) and not isinstance(y, Tensor):
        y = convert_to_tensor(y, dtype=x.dtype)
    elif isinstance(y, Tensor) and not isinstance(x, Tensor):
        x = convert_to_tensor(x, dtype=y.dtype)
    return convert_to_tensor(x), convert_to_tensor(y)


def where(condition, x=None, y=None, name=None):
    """tf.compat.v1.where (Select): no broadcasting; condition may be a vector over dim 0.

    With only `condition`, returns the int64 coordinates of its true elements.
    """
    condition = convert_to_tensor(condition)
    if x is None and y is None:
        if not condition.dtype.is_bool:
            condition = cast(condition, _dt.bool_)
        return make_op("Where", [condition], name=name).outputs[0]
    if x is None or y is None:
        raise ValueError("x and y must both be non-None or both be None.")
    x, y = _select_operands(x, y)
    return make_op("Select", [condition, x, y], name=name).outputs[0]


select = where


def where_v2(condition, x=None, y=None, name=None):
    """tf.where (v2, SelectV2): condition, x and y broadcast together."""
    if x is None and y is None:
        return where(condition, name=name)
    condition = convert_to_tensor(condition)
    x, y = _select_operands(x, y)
    return make_op("SelectV2", [condition, x, y], name=name).outputs[0]


# --- clip_by_value -----------------------------------------------------------------------------
def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """maximum(minimum(t, hi), lo), as TF builds it (gradient 1 on the boundaries)."""
    from ..graph import name_scope
    t = convert_to_tensor(t)
    with t.graph._transaction(), name_scope(name, "clip_by_value", [t]):
        lo = convert_to_tensor(clip_value_min, dtype=t.dtype) if not isinstance(clip_value_min, Tensor) else clip_value_min
        hi = convert_to_tensor(clip_value_max, dtype=t.dtype) if not isinstance(clip_value_max, Tensor) else clip_value_max
        tmin = minimum(t, hi)
        if not tmin.shape.is_compatible_with(t.shape):
            raise ValueError(f"clip_by_value: clip_value_max of shape {_fmt(hi.shape)} would "
                             f"broadcast t of shape {_fmt(t.shape)} to {_fmt(tmin.shape)}")
        out = maximum(tmin, lo)
        if not out.shape.is_compatible_with(t.shape):
            raise ValueError(f"clip_by_value: clip_value_min of shape {_fmt(lo.shape)} would "
                             f"broadcast t of shape {_fmt(t.shape)} to {_fmt(out.shape)}")
        return out


# --- MatMul ------------------------------------------------------------------------------------
def _matmul_infer(inputs, attrs):
    a, b = inputs
    ta, tb = attrs["transpose_a"], attrs["transpose_b"]
    if a.dtype != b.dtype:
        raise TypeError(f"a '{a.name}' is {a.dtype.name} but b '{b.name}' is {b.dtype.name}")
    _check_dtype(a.dtype, NUMERIC_C, f"input '{a.name}'")
    if a.shape.rank is None or b.shape.rank is None:
        return [(a.dtype, TensorShape(None))]
    if a.shape.rank < 2 or b.shape.rank < 2:
        raise ValueError(f"Shape must be at least rank 2 but got shapes {_fmt(a.shape)} and "
                         f"{_fmt(b.shape)}")
    m, k1 = (a.shape[-1], a.shape[-2]) if ta else (a.shape[-2], a.shape[-1])
    k2, n = (b.shape[-1], b.shape[-2]) if tb else (b.shape[-2], b.shape[-1])
    if k1 is not None and k2 is not None and k1 != k2:
        raise ValueError(f"Dimensions must be equal, but are {k1} and {k2} for the inner "
                         f"dimension with input shapes: {_fmt(a.shape)}, {_fmt(b.shape)} "
                         f"(transpose_a={ta}, transpose_b={tb})")
    batch = broadcast_static_shape(a.shape[:-2], b.shape[:-2])
    return [(a.dtype, batch.concatenate([m, n]))]


def _matmul_compute(vals, attrs):
    a, b = vals
    if attrs["transpose_a"]:
        a = np.swapaxes(a, -1, -2)
    if attrs["transpose_b"]:
        b = np.swapaxes(b, -1, -2)
    return [np.matmul(a, b)]


register_op("MatMul", _matmul_infer, _matmul_compute, kind="opaque", traits=("matmul",))
register_op("BatchMatMulV2", _matmul_infer, _matmul_compute, kind="opaque",
            traits=("matmul",))


@atomic
def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, name=None):
    """a @ b (rank >= 2; leading batch dimensions broadcast).  `adjoint_a` / `adjoint_b`
    transpose and conjugate (a complex operand gets a Conj op before the MatMul)."""
    a = convert_to_tensor(a)
    b = convert_to_tensor(b, dtype=a.dtype) if not isinstance(b, Tensor) else b
    if adjoint_a or adjoint_b:
        from .complex import conj
        a, b = (conj(a) if adjoint_a else a), (conj(b) if adjoint_b else b)
    ta, tb = bool(transpose_a or adjoint_a), bool(transpose_b or adjoint_b)
    rank = max(a.shape.rank or 2, b.shape.rank or 2)
    typ = "MatMul" if rank == 2 else "BatchMatMulV2"
    return make_op(typ, [a, b], {"transpose_a": ta, "transpose_b": tb}, name).outputs[0]


def scalar_mul(scalar, x, name=None):
    """`scalar * x` (tf.compat.v1.scalar_mul), built with multiply: unlike TF, `scalar` is not
    checked to be a scalar (any shape that broadcasts is accepted)."""
    return multiply(scalar, x, name)
