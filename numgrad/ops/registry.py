"""The op registry: every op type is declared once, with

* ``infer(inputs, attrs) -> [(dtype, shape), ...]``: static dtype/shape rule, raising
  ValueError/TypeError with both shapes/dtypes named (the graph prefixes the op name);
* ``compute(values, attrs) -> [ndarray, ...]``: the NumPy reference, the oracle of all tests;
* ``kind``: how the compiler treats it: ``source`` (const/placeholder), ``elementwise``
  (with a scalar ``template`` such as ``"tanh({0})"``), ``reduce``, ``shape`` (host-side
  shape arithmetic), ``opaque`` (a hand-written kernel) or ``control`` (no data);
* ``template``: an elementwise op's scalar forms for the kernel emitters, a string (one form
  for every dtype) or a ``Template`` (forms per dtype class, the vectorised form for big cpu
  loops, or a function building the expression); ``OpDef.template`` is the generic string and
  ``OpDef.forms`` the whole ``Template``;
* ``reduction``: a ``Reduction`` for the reductions a fused loop computes (Sum, Mean, ...);
* ``data_inputs``: for an elementwise op whose other inputs are shape arguments (Fill,
  BroadcastTo), the indices of the inputs that carry data;
* ``not_batchable``: why the op needs no batching rule (numgrad/batching.py): no
  seed-dependent tensor ever reaches it (a source without inputs, say);
* ``like_value`` (an extra): the value ZerosLike / OnesLike fill their output with;
* ``lower`` (an extra): ``fn(L, op, ins, specs)`` -> the op's IR values, or None to lower it
  as one node of its own type, for an op that lowers to other IR ops (compiler/lower.py
  calls it after the op rules; ``L`` is its Lowering: ``L.node``, ``L.const``, ``L.reshape``);
* ``traits``: named facts that a pass asks about (TRAITS lists them), so that no pass keeps
  its own list of op types;
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

import re

from ..bf16 import widened

__all__ = ["OpDef", "Template", "Reduction", "TRAITS", "register_op", "get_op_def", "find_op_def",
           "op_types", "op_types_with", "has_trait", "declared_gradient", "NOT_DIFFERENTIABLE"]

# gradient=NOT_DIFFERENTIABLE: the op's inputs get no gradient (as NotDifferentiable)
NOT_DIFFERENTIABLE = "not differentiable"

# traits=...: the named facts a pass may ask an OpDef about (has_trait)
TRAITS = {
    "complex_as_is": "its generic template also serves complex values (it only moves or picks "
                     "values), so it fuses into cpu loops over complex dtypes",
    "commutative": "two inputs whose swap gives a bit-identical result (so CSE shares a*b and "
                   "b*a; not Maximum/Minimum, whose results differ in the sign of zero)",
    "cheap": "cheap enough that a later loop recomputes it from its inputs rather than "
             "storing it and loading it back (one memory pass saved)",
    "identity": "its outputs are its inputs as they are (lowering passes them through)",
    "row_gather": "with axis 0, it reads whole rows of its first input by index; the gathers "
                  "stage fuses it into the loop that consumes it",
    "placeholder": "a value fed at run time (a Session feed, a function graph's argument or "
                   "capture); it has no value of its own, so a plan or a copy must be given one",
    "variable": "a variable's state source: ng.Variable makes it in the outermost graph, and a "
                "function graph that uses it captures its value there",
    "lifted": "a state source (not a variable) that an op built inside a control-flow function "
              "makes in the outermost graph instead (TF's init_scope)",
    "state_write": "writes a variable's session state; a function graph notes the write, and a "
                   "copy of the function computes only the written value",
    "control_flow": "runs function graphs of its own (If's branches, While's cond and body): a "
                    "cpu plan runs them with cpu plans, a native loop inlines them",
    "loop": "a control_flow op that repeats its body while its cond holds (a native loop "
            "candidate); a control_flow op without it picks one branch",
    "serial": "effects beyond its outputs (printing, user Python code, nested plans that may "
              "hold either): a cpu plan that has one runs its steps in the serial order",
    "static_value": "its value follows from its attrs and its inputs' static shapes alone (a "
                    "constant, the shape/size/rank of a tensor): lowering makes it a constant, "
                    "its NumPy reference run on stand-ins of those shapes",
    "negation": "-x: its one output is its one input negated (Neg)",
    "concat": "its one output is its inputs side by side along attrs['axis'] (a native lane "
              "copies each input into its slab of the output)",
    "split": "its outputs are consecutive slabs of its first input along attrs['axis'] (a "
             "native lane copies each slab out)",
    "matmul": "a matrix product of its two inputs' last two dims (batched over leading ones), "
              "with transpose_a/transpose_b attrs",
}


@dataclass(frozen=True)
class Template:
    """An elementwise op's scalar forms, for the kernel emitters (compiler/scalar forms read
    by emit_cpu/emit_cuda).  Operands are ``{0}``, ``{1}``, ...; the functions a form calls live
    in numgrad/kernels/cpu/scalar.py and numgrad/kernels/cuda/scalar.py.

    * ``text``: the form for every dtype without a form of its own;
    * ``int``: the form when the (first) input is an integer (NumPy's integer semantics);
    * ``bool``: the form for bool operands (the only dtype of logical ops: bitwise forms keep
      short-circuit branches out of the loop body);
    * ``complex``: the form when an input or the output is complex (an op without one does not
      fuse over complex values unless it has the ``complex_as_is`` trait);
    * ``vecmath``: the name of a kernels/vecmath.py function (``_<name>_f32``/``_f64``)
      computing the op in big float loops, or ``vecmath_expr``: an expression over such
      functions (``vmc.<name>_{w}(...)``; ``{w}``: f32 or f64, ``{z}``: a zero of the dtype,
      ``{c}``: the dtype's constructor), the same values as ``text`` to vecmath's accuracy;
    * ``expr``: ``fn(operands, in_dtype, out_dtype) -> str`` for an op whose expression
      depends on its dtypes or number of inputs (Cast, AddN); it replaces every other form.
    """
    text: Optional[str] = None
    int: Optional[str] = None
    bool: Optional[str] = None
    complex: Optional[str] = None
    vecmath: Optional[str] = None
    vecmath_expr: Optional[str] = None
    expr: Optional[Callable] = None

    def arity(self):
        """How many operands ``text`` reads (a vecmath function takes as many)."""
        return len(set(re.findall(r"\{(\d+)\}", self.text or ""))) or 1


@dataclass(frozen=True)
class Reduction:
    """How a fused loop computes a reduction op (compiler/reduction_text.py writes the text):
    ``combine``: "add", "mul", "max" or "min" (the initial value follows: 0, 1, the lowest or
    the highest value); ``widens``: float values accumulate in float64 and integers in int64
    (else in the output's dtype); ``mean``: the result is divided by the count."""
    combine: str
    widens: bool = False
    mean: bool = False

    def __post_init__(self):
        if self.combine not in ("add", "mul", "max", "min"):
            raise ValueError(f"Reduction: combine must be add, mul, max or min, "
                             f"got {self.combine!r}")


@dataclass(frozen=True)
class OpDef:
    type: str
    infer: Callable
    compute: Callable
    kind: str = "opaque"
    template: Optional[str] = None
    extra: dict = field(default_factory=dict)
    gradient: Optional[Callable] = None
    forms: Optional[Template] = None
    traits: frozenset = frozenset()
    reduction: Optional[Reduction] = None
    data_inputs: Optional[tuple] = None
    not_batchable: Optional[str] = None

    def has_trait(self, trait):
        if trait not in TRAITS:
            raise KeyError(f"Unknown op trait '{trait}' (known: {', '.join(sorted(TRAITS))})")
        return trait in self.traits


_OPS = {}


def register_op(op_type, infer, compute, kind="opaque", template=None, gradient=None,
                traits=(), reduction=None, data_inputs=None, not_batchable=None, **extra):
    if op_type in _OPS:
        raise KeyError(f"Op type '{op_type}' is already registered")
    if gradient is not None and gradient is not NOT_DIFFERENTIABLE and not callable(gradient):
        raise TypeError(f"register_op('{op_type}'): gradient must be a function "
                        f"(op, grad) -> input gradients or NOT_DIFFERENTIABLE, got {gradient!r}")
    unknown = sorted(set(traits) - set(TRAITS))
    if unknown:
        raise KeyError(f"register_op('{op_type}'): unknown trait(s) {', '.join(unknown)} "
                       f"(known: {', '.join(sorted(TRAITS))})")
    forms = template if isinstance(template, Template) else (
        None if template is None else Template(template))
    if forms is not None and not isinstance(forms.text, (str, type(None))):
        raise TypeError(f"register_op('{op_type}'): template must be a string or a Template, "
                        f"got {template!r}")
    _OPS[op_type] = OpDef(op_type, infer, widened(compute, op_type), kind, None if forms is None else forms.text,
                          extra, gradient, forms, frozenset(traits), reduction,
                          None if data_inputs is None else tuple(data_inputs), not_batchable)
    return _OPS[op_type]


def get_op_def(op_type):
    try:
        return _OPS[op_type]
    except KeyError:
        raise LookupError(f"Unknown op type '{op_type}'") from None


def find_op_def(op_type):
    """The OpDef of `op_type`, or None if no op of that type is registered."""
    return _OPS.get(op_type)


def op_types():
    return sorted(_OPS)


def op_types_with(trait):
    """The registered op types that have `trait` (a name of TRAITS)."""
    if trait not in TRAITS:
        raise KeyError(f"Unknown op trait '{trait}' (known: {', '.join(sorted(TRAITS))})")
    return frozenset(t for t, d in _OPS.items() if trait in d.traits)


def has_trait(op_type, trait):
    """Whether op type `op_type` has `trait` (a name of TRAITS); False for an unknown type."""
    if trait not in TRAITS:
        raise KeyError(f"Unknown op trait '{trait}' (known: {', '.join(sorted(TRAITS))})")
    op_def = _OPS.get(op_type)
    return op_def is not None and trait in op_def.traits


def declared_gradient(op_type):
    """The gradient declared with op type `op_type` (a function or NOT_DIFFERENTIABLE), or
    None: no such op type, or its rule is registered apart."""
    op_def = _OPS.get(op_type)
    return None if op_def is None else op_def.gradient
