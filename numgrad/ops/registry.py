"""The op registry: every op type is declared once, with

* ``infer(inputs, attrs) -> [(dtype, shape), ...]``: static dtype/shape rule, raising
  ValueError/TypeError with both shapes/dtypes named (the graph prefixes the op name);
* ``compute(values, attrs) -> [ndarray, ...]``: the NumPy reference, the oracle of all tests;
* ``kind``: how the compiler treats it: ``source`` (const/placeholder), ``elementwise``
  (with a scalar ``template`` such as ``"tanh({0})"``), ``reduce``, ``shape`` (host-side
  shape arithmetic), ``opaque`` (a hand-written kernel) or ``control`` (no data).

Gradient rules live apart, in ``numgrad/gradients/rules/``.
"""
from dataclasses import dataclass, field
from typing import Callable, Optional

__all__ = ["OpDef", "register_op", "get_op_def", "op_types"]


@dataclass(frozen=True)
class OpDef:
    type: str
    infer: Callable
    compute: Callable
    kind: str = "opaque"
    template: Optional[str] = None
    extra: dict = field(default_factory=dict)


_OPS = {}


def register_op(op_type, infer, compute, kind="opaque", template=None, **extra):
    if op_type in _OPS:
        raise KeyError(f"Op type '{op_type}' is already registered")
    _OPS[op_type] = OpDef(op_type, infer, compute, kind, template, extra)
    return _OPS[op_type]


def get_op_def(op_type):
    try:
        return _OPS[op_type]
    except KeyError:
        raise LookupError(f"Unknown op type '{op_type}'") from None


def op_types():
    return sorted(_OPS)
