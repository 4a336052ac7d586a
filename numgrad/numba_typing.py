"""Numba's typing of arithmetic and comparison operators on plain numbers, resolved once a
process for numgrad's compiles.

Numba types each ``a * b`` of a kernel by trying the operator's typing templates in turn
(integer, real, complex, NumPy scalar and array rules, ...) until one accepts the argument
types: ~0.25 ms of Python per resolution.  Its type inference resolves every call constraint
again on each propagation round (twice in a generated kernel), and nothing is kept between
functions, so W1-W5's 15 step kernels resolve operators ~580 times for ~300 operators, and
all of W5's pairwise kernel's 120 operators have one of a handful of argument types.

While numgrad's own function compiles (numba_hooks.numgrads; through Numba's
``compiler.compile_extra``, as numba_gc.py hooks it), :func:`install`'s wrapper of the typing
context's ``resolve_function_type`` answers an operator listed in OPERATORS whose arguments
are all plain integers or floats (no literal, boolean or array types, no keywords) from a
table keyed by the operator's function type and the argument types; a miss asks Numba and
keeps its answer.  The answer is Numba's own signature object: lowering finds the same
implementation through it (the function type remembers the implementation its first
resolution chose).  A function type is replaced, not changed, when an extension registers
another template for its operator, so a new template makes a new key.  The typed IR of W1-W5's
and test_compiler.py's kernels is the same with and without (tests/test_kernel_compile_cost.py
checks typed IR and machine code); a user's functions compiled on their own are typed as
Numba types them.
NUMGRAD_LEAN_PIPELINE=0 turns this off with numba_pipeline.py's passes.
"""
import operator
import threading

from . import numba_hooks, numba_pipeline

__all__ = ["install", "OPERATORS"]

OPERATORS = frozenset([operator.add, operator.sub, operator.mul, operator.truediv,
                       operator.floordiv, operator.mod, operator.neg, operator.pos,
                       operator.and_, operator.or_, operator.xor, operator.lt, operator.le,
                       operator.gt, operator.ge, operator.eq, operator.ne])

_state = threading.local()          # depth of numgrad's compiles on this thread
_table = {}


def _active():
    return getattr(_state, "depth", 0) > 0


def _key(func, args, kws, plain):
    """The table key of resolving `func` on `args`, or None where the table does not apply."""
    if kws or getattr(func, "typing_key", None) not in OPERATORS:
        return None
    if not all(type(a) in plain for a in args):
        return None
    return (func, tuple(args))


@numba_hooks.once
def install():
    """Wrap Numba's ``compiler.compile_extra`` (numgrad's compiles counted) and the typing
    context's ``resolve_function_type`` (once a process; cheap afterwards)."""
    if not numba_pipeline.ENABLED:
        return
    try:
        from numba.core import compiler, types
        from numba.core.typing.context import BaseContext
    except ImportError:
        return
    real_compile = getattr(compiler, "compile_extra", None)
    real_resolve = BaseContext.__dict__.get("resolve_function_type")
    if real_compile is None or real_resolve is None:
        return
    plain = (types.Integer, types.Float)        # exact classes: no literals, no booleans

    def resolve_function_type(self, func, args, kws):
        key = _key(func, args, kws, plain) if _active() else None
        if key is None:
            return real_resolve(self, func, args, kws)
        sig = _table.get(key)
        if sig is None:
            sig = real_resolve(self, func, args, kws)
            if sig is not None:
                _table[key] = sig
        return sig

    def compile_extra(typingctx, targetctx, func, *args, **kwargs):
        if not numba_hooks.numgrads(getattr(func, "__module__", None)):
            return real_compile(typingctx, targetctx, func, *args, **kwargs)
        _state.depth = getattr(_state, "depth", 0) + 1
        try:
            return real_compile(typingctx, targetctx, func, *args, **kwargs)
        finally:
            _state.depth -= 1

    resolve_function_type.__wrapped__ = real_resolve
    compile_extra.__wrapped__ = real_compile
    BaseContext.resolve_function_type = resolve_function_type
    compiler.compile_extra = compile_extra
