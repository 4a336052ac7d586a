"""Numba's compiles of numgrad's functions with Python's cyclic garbage collector paused.

A Numba compile allocates a few hundred thousand short-lived Python objects (its IR, types,
llvmlite's IR builder values), many of them in reference cycles.  Each allocation burst
triggers collections, and the oldest generation's collection walks every tracked object of
the process (Numba's and numgrad's modules: ~130,000 objects at a first call).  A cold
first call ran one or two of them per kernel compile: 0.04-0.2 s of W1-W5's ~0.5-1.1 s
(gc callbacks, quiet development VM).

:func:`install` wraps Numba's ``compiler.compile_extra`` (every function's compile goes
through it: a dispatcher's, and the callees it types) so that a compile of numgrad's own
function (its kernel cache's ``numgrad_k_*`` modules, numgrad's modules) runs with the
collector off.  It is switched on again when the outermost such compile returns (if it was
on when it started), and the compile's garbage goes in the next young collection, which
looks only at the objects made since.  A user's functions compile as Numba compiles them.
"""
import contextlib
import gc
import threading

from . import numba_hooks

__all__ = ["install", "paused"]

_lock = threading.Lock()
_depth = 0
_reenable = False


@contextlib.contextmanager
def paused():
    """The collector off inside (nested and concurrent uses counted), and back on when the
    last one leaves if it was on when the first one came in."""
    global _depth, _reenable
    with _lock:
        if _depth == 0:
            _reenable = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _reenable:
                gc.enable()


def _numgrads(func):
    return numba_hooks.numgrads(getattr(func, "__module__", None))


@numba_hooks.once
def install():
    """Wrap Numba's ``compiler.compile_extra`` (once a process; cheap afterwards)."""
    try:
        from numba.core import compiler
    except ImportError:
        return
    real = getattr(compiler, "compile_extra", None)
    if real is None:        # another Numba: compiles as it does
        return

    def compile_extra(typingctx, targetctx, func, *args, **kwargs):
        if not _numgrads(func):
            return real(typingctx, targetctx, func, *args, **kwargs)
        with paused():
            return real(typingctx, targetctx, func, *args, **kwargs)

    compile_extra.__wrapped__ = real
    compiler.compile_extra = compile_extra
