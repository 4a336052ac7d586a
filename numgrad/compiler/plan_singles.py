"""The unfused ops a one-dispatch plan function (compiler/emit_plan.py) can run itself, each
registered next to its form (numgrad/kernels/cpu/plan_forms.py) with ``plan_single``, so no
pass keeps a list of their op types.

A form is ``lines(node, src, others, dst, idx, into) -> [source line, ...]``: the lines
computing `dst` (a name), the output of `node`, from the name of its first input `src` and of
its other inputs `others`; `idx` names an index scalar it may use.  What is registered with it:

* ``fits(node) -> bool``: whether the form covers this node (its axis, its shapes, ...);
* ``fresh``: its output is a new array (else a view of its first input, or of an element);
* ``writes_into``: it can write its output into a given array `into` (a native loop's array
  allocated before the loop) instead of a new one;
* ``row_read``: it reads one row of its first input, by the index in its second, and names
  that input's length only as ``.shape[0]`` (so the length appears nowhere in the code);
* ``in_place``: given ``into`` equal to `src`, it writes its output into its first input's
  own array (a native loop's TensorArray write whose buffer is dead after it,
  compiler/emit_loop.py in_place_writes).

A form may view an array with another shape of its size as ``c_view(a, shape)``, a part of
one as ``c_part(a, start, shape)`` and allocate one as ``c_empty(shape, dtype)``
(numgrad/kernels/cpu/views.py), which the plan functions and native loops import.  Forms
write no slice assignments, slices or ``np.empty`` / ``np.zeros``: those are slow to compile
(element loops and the three above instead; docs/benchmarks.md, "Compile cost of native
loop functions").

This module imports nothing from numgrad, so any module may register a form.
"""
from dataclasses import dataclass
from typing import Callable

__all__ = ["PlanSingle", "plan_single", "find_plan_single", "registered", "row_read_lines"]


@dataclass(frozen=True)
class PlanSingle:
    lines: Callable
    fits: Callable
    fresh: bool = False
    writes_into: bool = False
    row_read: bool = False
    in_place: bool = False


_SINGLES = {}


def plan_single(op_type, fits, fresh=False, writes_into=False, row_read=False, in_place=False):
    """Decorator: the function is the plan-function form of op type `op_type` (see above)."""
    def register(lines):
        if op_type in _SINGLES:
            raise KeyError(f"plan_single: op type '{op_type}' already has a plan-function form "
                           f"({_SINGLES[op_type].lines.__qualname__})")
        _SINGLES[op_type] = PlanSingle(lines, fits, fresh, writes_into, row_read, in_place)
        return lines
    return register


def registered(op_type):
    """The PlanSingle registered for `op_type` (whether or not it fits a given node), or None."""
    return _SINGLES.get(op_type)


def find_plan_single(node):
    """The PlanSingle that runs `node` in a plan function, or None."""
    form = _SINGLES.get(node.type)
    return form if form is not None and form.fits(node) else None


def row_read_lines(node, src, others, dst, idx, into=None):
    """The form of a one-row read (a gather of one row, a TensorArray's element): checked,
    since Numba does not check indices; the row a view made inline (c_part: a slice
    ``src[i:i + 1]`` is a few hundred lines of IR to compile)."""
    out = node.outputs[0]
    k = 1
    for d in out.shape:
        k *= d
    return [f"    {idx} = c_view({others[0]}, (1,))[0]",
            f"    if {idx} < 0 or {idx} >= {src}.shape[0]:",
            "        raise IndexError('gather index out of range')",
            f"    {dst} = c_part({src}, {idx} * {k}, {out.shape!r})"]
