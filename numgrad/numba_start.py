"""Numba's start without importing SciPy's linear algebra.

The first time Numba compiles or loads a function, it imports `numba.np.arraymath`. That
module imports `scipy.linalg` (0.14 s on Rocket Lake, 0.43 s on Zen 1) just to learn whether
SciPy's BLAS is installed. The answer goes into its `_HAVE_BLAS` flag: `np.dot` in jitted code
uses that BLAS if it is there, a plain loop if not. numgrad's kernels never call it (matmul runs
in NumPy), but every process that loads a cached kernel paid for the import, about half of a
warm-cache first call.

So before Numba first needs it, numgrad imports `numba.np.arraymath` itself, with that one
check answered from the installed files (is there a `scipy/linalg/cython_blas` extension?)
instead of an import. The answer is the same. Numba's linear algebra still imports SciPy and
checks it (`ensure_blas`, including the LP64/ILP64 check) when jitted code first uses it.

Numba first needs it when it first refreshes a target context (its first compile, or a cache
load through Numba's own path), and a process that only loads cached kernels never does
(numba_load.py), so :func:`start` does not import anything: it makes the first refresh do
the import first (a one-shot wrapper around ``BaseContext.refresh``, removed when it runs).
Importing `numba.np.arraymath` eagerly cost a warm-cache first call 0.04-0.14 s.

Numba also types an array argument of a kind its dispatcher has not seen yet with a Python
function that first asks whether the array is a `numpy.ma.MaskedArray` (which it rejects).
NumPy imports `numpy.ma` lazily, on that first question: 10-30 ms of a warm first call (its
~16 first argument types; W3 on the loaded development VM).  No masked array can exist while
`numpy.ma` is not imported, so :func:`start` registers an array typing that skips the
question until then and is Numba's own function afterwards (:func:`typeof_ndarray`).

:func:`start` also has numgrad's compiles run without Python's cyclic garbage collector
(numba_gc.py), through Numba's pipeline less the passes that would do nothing
(numba_pipeline.py), with operators on numbers typed once a process (numba_typing.py), and its
generated kernels compiled with a lean CPython wrapper (numba_wrapper.py).
"""
import importlib.util
import os
import sys
import threading

import numpy as np

from . import numba_gc, numba_pipeline, numba_typing, numba_wrapper

_started = False
_lock = threading.Lock()


def _scipy_blas_installed():
    """Whether `import scipy.linalg.cython_blas` would find an extension, without importing."""
    if "scipy" in sys.modules and sys.modules["scipy"] is None:    # import blocked
        return False
    try:
        spec = importlib.util.find_spec("scipy")    # a top-level package: imports nothing
    except (ImportError, ValueError):
        return False
    for d in (spec.submodule_search_locations or []) if spec is not None else []:
        linalg = os.path.join(d, "linalg")
        try:
            names = os.listdir(linalg)
        except OSError:
            continue
        if any(n.startswith("cython_blas.") and n.endswith((".so", ".pyd")) for n in names):
            return True
    return False


def start():
    """Make Numba's first target-context refresh import numba.np.arraymath with its BLAS
    check answered without SciPy (once; cheap afterwards).  Does nothing if Numba has already
    imported it."""
    global _started
    if _started:
        return
    with _lock:
        if _started:
            return
        _started = True
        _register_typeof_ndarray()
        numba_gc.install()          # numgrad's compiles without the cyclic collector
        numba_wrapper.install()     # numgrad's kernels' lean CPython wrappers
        numba_pipeline.install()    # numgrad's compiles without passes that do nothing
        numba_typing.install()      # operators on numbers typed once a process
        if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
            return
        try:
            from numba.core.base import BaseContext
        except ImportError:
            return
        real = BaseContext.__dict__.get("refresh")
        if real is None:            # a Numba without it: import now, as before
            _import_arraymath()
            return

        def refresh(self):
            if BaseContext.refresh is refresh:      # one shot: Numba's own method again
                BaseContext.refresh = real
            _import_arraymath()
            return real(self)

        BaseContext.refresh = refresh


def _import_arraymath():
    """Import numba.np.arraymath with `ensure_blas` answered from the installed files."""
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    try:
        from numba.np import linalg
    except ImportError:
        return
    real = getattr(linalg, "ensure_blas", None)
    if real is None:            # a Numba that no longer has the check: nothing to do
        return
    installed = _scipy_blas_installed()

    def ensure_blas():
        if not installed:
            raise ImportError("scipy 0.16+ is required for linear algebra")

    linalg.ensure_blas = ensure_blas
    try:
        import numba.np.arraymath as arraymath
    finally:
        linalg.ensure_blas = real
    if getattr(arraymath, "ensure_blas", None) is ensure_blas:     # its own name for it
        arraymath.ensure_blas = real


_numbas_typeof_ndarray = None


def _register_typeof_ndarray():
    """Register :func:`typeof_ndarray` as Numba's typing of np.ndarray values, if Numba's own
    is the one it knows (by name) and numpy.ma is not imported yet."""
    global _numbas_typeof_ndarray
    if "numpy.ma" in sys.modules:
        return
    try:
        from numba.core.typing.typeof import typeof_impl
    except ImportError:
        return
    real = typeof_impl.dispatch(np.ndarray)
    if getattr(real, "__name__", None) != "_typeof_ndarray":
        return          # another Numba, or someone else's: left alone
    _numbas_typeof_ndarray = real
    typeof_impl.register(np.ndarray, typeof_ndarray)


def typeof_ndarray(val, c):
    """Numba's type of the array `val`: Numba's own typing once numpy.ma is imported, before
    that the same answer without the masked-array check (there cannot be a masked array)."""
    if "numpy.ma" in sys.modules:
        return _numbas_typeof_ndarray(val, c)
    return plain_array_type(val)


def plain_array_type(val):
    """Numba's type of `val`, an ndarray that is not a masked array (Numba's rules: its
    dtype, dimensions, layout and whether it is writeable)."""
    from numba.core import errors, types
    from numba.np import numpy_support
    try:
        dtype = numpy_support.from_dtype(val.dtype)
    except errors.NumbaNotImplementedError:
        raise errors.NumbaValueError(f"Unsupported array dtype: {val.dtype}")
    return types.Array(dtype, val.ndim, numpy_support.map_layout(val),
                       readonly=not val.flags.writeable)
