"""Python operators on Tensor: + - * / // % ** @, unary -, abs, ~ & |, < <= > >=, [] .

`%` is floormod (FloorMod), as TF overloads it."""
from ..graph import Tensor
from . import array as _a
from . import math as _m


def _binary(fn, reflected=False):
    if reflected:
        return lambda self, other: fn(other, self)
    return lambda self, other: fn(self, other)


_OPS = {
    "add": _m.add, "sub": _m.subtract, "mul": _m.multiply, "truediv": _m.truediv,
    "floordiv": _m.floordiv, "mod": _m.floormod, "pow": _m.pow, "matmul": _m.matmul,
    "and": _m.logical_and, "or": _m.logical_or,
}
for _name, _fn in _OPS.items():
    setattr(Tensor, f"__{_name}__", _binary(_fn))
    setattr(Tensor, f"__r{_name}__", _binary(_fn, reflected=True))

Tensor.__neg__ = lambda self: _m.negative(self)
Tensor.__abs__ = lambda self: _m.abs(self)
Tensor.__invert__ = lambda self: _m.logical_not(self)
Tensor.__lt__ = _binary(_m.less)
Tensor.__le__ = _binary(_m.less_equal)
Tensor.__gt__ = _binary(_m.greater)
Tensor.__ge__ = _binary(_m.greater_equal)
Tensor.__getitem__ = lambda self, key: _a.strided_slice(self, key)
Tensor.__array_priority__ = 100   # so ndarray (op) Tensor defers to the reflected Tensor method
