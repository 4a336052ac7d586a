"""Python operators on Tensor: + - * / // % ** @, unary -, abs, ~ & |, < <= > >=, [] .

`%` is floormod (FloorMod), as TF overloads it."""
from .. import dtypes as _dt
from ..graph import Tensor, graph_of
from .core import convert_to_tensor as _convert
from . import array as _a
from . import math as _m


def _binary(fn, reflected=False, scope=None):
    """`self (op) other` (or `other (op) self`); with `scope`, TF's operator naming: the op is
    named `scope` made unique (`mul`, `mul_1`, ...) and a Python operand becomes the constant
    `<scope>/y` (`<scope>/x` on the left), converted to the tensor's dtype."""
    if scope is None:
        if reflected:
            return lambda self, other: fn(other, self)
        return lambda self, other: fn(self, other)

    def op(self, other):
        graph = graph_of([self])
        # a rejected operand or op leaves the graph as it was (no scope name, no constant)
        with graph.as_default(), graph._transaction(), graph.name_scope(scope) as name:
            if not isinstance(other, Tensor):
                other = _convert_operand(other, self, "x" if reflected else "y")
            return fn(other, self, name=name) if reflected else fn(self, other, name=name)
    return op


def _convert_operand(value, tensor, name):
    """A Python/NumPy operand of an operator on `tensor`, as a tensor of its dtype where the
    value converts to it (TF), else of the value's own dtype (the op then reports the
    mismatch)."""
    try:
        return _convert(value, dtype=tensor.dtype, name=name)
    except (TypeError, ValueError):
        return _convert(value, name=name)


_OPS = {
    "add": _m.add, "sub": _m.subtract, "mul": _m.multiply, "truediv": _m.truediv,
    "floordiv": _m.floordiv, "mod": _m.floormod, "pow": _m.pow, "matmul": _m.matmul,
    "and": _m.logical_and, "or": _m.logical_or,
}
for _name, _fn in _OPS.items():
    setattr(Tensor, f"__{_name}__", _binary(_fn, scope=_name))
    setattr(Tensor, f"__r{_name}__", _binary(_fn, reflected=True, scope=_name))


def _is_bool(t):
    return isinstance(t, Tensor) and t.dtype.is_bool


def _mul(x, y, name=None):
    """`x * y`: TF's operator casts both sides to int32, multiplies and casts back to bool when
    either side is a bool Tensor (tensor_math_operator_overrides._mul_dispatch_factory), so
    `b * 3.0` is `b` and `b * 0.5` is all False; m.multiply itself has no bool kernel."""
    if _is_bool(x) or _is_bool(y):
        # TF names these ops inside the operator's scope: mul/Cast, mul/Cast_1, mul/Cast_2
        return _m.cast(_m.multiply(_m.cast(x, _dt.int32), _m.cast(y, _dt.int32)), _dt.bool_)
    return _m.multiply(x, y, name=name)


def _rmul(self, other):
    """`other * self` with `other` not a Tensor: TF converts `other` to self's dtype first
    (force_same_dtype=True), so `3.0 * b` is a TypeError and `True * b` works."""
    graph = graph_of([self])
    with graph.as_default(), graph._transaction(), graph.name_scope("mul") as name:
        if _is_bool(self):
            other = _convert(other, dtype=self.dtype, name="x")
        elif not isinstance(other, Tensor):
            other = _convert_operand(other, self, "x")
        return _mul(other, self, name=name)


Tensor.__mul__ = _binary(_mul, scope="mul")
Tensor.__rmul__ = _rmul

Tensor.__neg__ = lambda self: _m.negative(self)
Tensor.__abs__ = lambda self: _m.abs(self)
Tensor.__invert__ = lambda self: _m.logical_not(self)
Tensor.__lt__ = _binary(_m.less)
Tensor.__le__ = _binary(_m.less_equal)
Tensor.__gt__ = _binary(_m.greater)
Tensor.__ge__ = _binary(_m.greater_equal)
Tensor.__getitem__ = lambda self, key: _a.strided_slice(self, key)
Tensor.__array_priority__ = 100   # so ndarray (op) Tensor defers to the reflected Tensor method
