"""The op registry: every op type is declared once, with

* ``infer(inputs, attrs) -> [(dtype, shape), ...]``: static dtype/shape rule, raising
  ValueError/TypeError with both shapes/dtypes named (the graph prefixes the op name);
* ``compute(values, attrs) -> [ndarray, ...]``: the NumPy reference, the oracle of all tests;
* ``kind``: how the compiler treats it: ``source`` (const/placeholder), ``elementwise``
  (with a scalar ``template`` such as ``"tanh({0})"``), ``reduce``, ``shape`` (host-side
  shape arithmetic), ``opaque`` (a hand-written kernel) or ``control`` (no data);
* ``gradient`` (optional): its gradient rule ``fn(op, grad) -> [grad for each input]``, or
  NOT_DIFFERENTIABLE, declared with the op (numgrad/gradients/registry.py looks rules up here
  when none was registered under the name).  Most rules are still registered apart, in
  ``numgrad/gradients/rules/``, with ``RegisterGradient``.

bfloat16 values: ``register_op`` wraps ``compute`` with ``numgrad/bf16.py``'s ``widened``
(bfloat16 inputs computed in float32, results rounded), so no reference handles bfloat16.

This module imports nothing from numgrad but numgrad/bf16.py (which imports nothing), so any
module may read it without an import cycle.
"""
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..bf16 import widened

__all__ = ["OpDef", "register_op", "get_op_def", "op_types", "declared_gradient",
           "NOT_DIFFERENTIABLE"]

# gradient=NOT_DIFFERENTIABLE: the op's inputs get no gradient (as NotDifferentiable)
NOT_DIFFERENTIABLE = "not differentiable"


@dataclass(frozen=True)
class OpDef:
    type: str
    infer: Callable
    compute: Callable
    kind: str = "opaque"
    template: Optional[str] = None
    extra: dict = field(default_factory=dict)
    gradient: Optional[Callable] = None


_OPS = {}


def register_op(op_type, infer, compute, kind="opaque", template=None, gradient=None, **extra):
    if op_type in _OPS:
        raise KeyError(f"Op type '{op_type}' is already registered")
    if gradient is not None and gradient is not NOT_DIFFERENTIABLE and not callable(gradient):
        raise TypeError(f"register_op('{op_type}'): gradient must be a function "
                        f"(op, grad) -> input gradients or NOT_DIFFERENTIABLE, got {gradient!r}")
    _OPS[op_type] = OpDef(op_type, infer, widened(compute, op_type), kind, template, extra,
                          gradient)
    return _OPS[op_type]


def get_op_def(op_type):
    try:
        return _OPS[op_type]
    except KeyError:
        raise LookupError(f"Unknown op type '{op_type}'") from None


def op_types():
    return sorted(_OPS)


def declared_gradient(op_type):
    """The gradient declared with op type `op_type` (a function or NOT_DIFFERENTIABLE), or
    None: no such op type, or its rule is registered apart."""
    op_def = _OPS.get(op_type)
    return None if op_def is None else op_def.gradient
