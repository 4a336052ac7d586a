"""Numba's typing of arithmetic and comparison operators on plain numbers, resolved once a
process for numgrad's compiles.

Numba types each ``a * b`` of a kernel by trying the operator's typing templates in turn
(integer, real, complex, NumPy scalar and array rules, ...) until one accepts the argument
types: ~0.25 ms of Python per resolution.  Its type inference resolves every call constraint
again on each propagation round (twice in a generated kernel), its lowering resolves each
operator once more to find the implementation, and nothing is kept between functions: W1-W5's
15 step kernels resolve operators ~870 times for ~300 operators, all with one of a dozen
argument-type pairs.

While numgrad's own function compiles (numba_hooks.numgrads; counted through Numba's
``compiler.compile_extra``, as numba_gc.py hooks it), :func:`install`'s wrapper of Numba's
``BaseFunction.get_call_type`` answers an operator listed in OPERATORS whose arguments are
all plain integers or floats (no literal, boolean or array types, no keywords), typed by the
CPU target's typing context, from a table keyed by the operator's function type and the
argument types; a miss asks Numba and keeps its answer.  The answer is Numba's own signature
object, and lowering finds the same implementation through it (the function type keeps the
implementation key its first resolution chose, and the same templates choose the same one
again).  A function type is replaced, not changed, when an extension registers another
template for its operator, so a new template makes a new key.  The typed IR and the machine
code of W1-W5's and test_compiler.py's and test_gradients_numeric.py's kernels are the same
with and without (tests/test_kernel_compile_cost.py checks a graph's kernels); a user's
functions compiled on their own are typed as Numba types them.  NUMGRAD_LEAN_PIPELINE=0
turns this off with numba_pipeline.py's passes.
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
    """Wrap Numba's ``compiler.compile_extra`` (numgrad's compiles counted) and
    ``BaseFunction.get_call_type`` (once a process; cheap afterwards)."""
    if not numba_pipeline.ENABLED:
        return
    try:
        from numba.core import compiler, types
        from numba.core.types.functions import BaseFunction
        from numba.core.typing.context import Context
    except ImportError:
        return
    real_compile = getattr(compiler, "compile_extra", None)
    real_call_type = BaseFunction.__dict__.get("get_call_type")
    if real_compile is None or real_call_type is None:
        return
    plain = (types.Integer, types.Float)        # exact classes: no literals, no booleans

    def get_call_type(self, context, args, kws):
        key = None
        if _active() and type(context) is Context:      # the CPU target's typing
            key = _key(self, args, kws, plain)
        if key is None:
            return real_call_type(self, context, args, kws)
        sig = _table.get(key)
        if sig is None:
            sig = real_call_type(self, context, args, kws)
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

    get_call_type.__wrapped__ = real_call_type
    compile_extra.__wrapped__ = real_compile
    BaseFunction.get_call_type = get_call_type
    compiler.compile_extra = compile_extra
