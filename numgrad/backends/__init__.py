"""Backends: how a Session executes a pruned graph.

A backend has ``name`` and ``prepare(graph, fetches, targets, feeds) -> plan``; a plan is a
callable taking the list of fed arrays (in the order of `feeds`) and returning the list of
fetched arrays (in the order of `fetches`), and implements the contract of backends/plan.py
(Plan, and SignaturePlan for what it compiles per feed signature).  ``cpu`` (the default) compiles fused Numba
kernels; ``numpy`` is the reference interpreter; ``cuda`` runs the cpu backend's plan as Numba
CUDA kernels on an NVIDIA GPU (imported only when asked for: ``import numgrad`` does not
import ``numba.cuda``).
"""
import contextlib
import threading

from .. import config

_FACTORIES = {}
_LOCAL = threading.local()


def register_backend(name, factory):
    _FACTORIES[name] = factory


def available_backends():
    return sorted(_FACTORIES)


def default_backend_name():
    return config.get("NUMGRAD_BACKEND")


def get_backend(name=None):
    name = name or default_backend_name()
    if name not in _FACTORIES:
        raise ValueError(f"Unknown numgrad backend {name!r}; available: "
                         f"{', '.join(available_backends())} (set by Session(backend=...) or "
                         "the NUMGRAD_BACKEND environment variable)")
    return _FACTORIES[name]()


def function_backend():
    """The name of the backend whose plan is running on this thread and runs the function
    graphs of control-flow ops (loop bodies, branches) with its own plans, or None: the NumPy
    interpreter runs them."""
    return getattr(_LOCAL, "functions", None)


@contextlib.contextmanager
def functions_run_by(name):
    """Within the block, control-flow function graphs on this thread run with `name`'s
    plans (see function_backend)."""
    before = getattr(_LOCAL, "functions", None)
    _LOCAL.functions = name
    try:
        yield
    finally:
        _LOCAL.functions = before


from . import numpy as _numpy  # noqa: E402,F401  (registers "numpy")
from . import cpu as _cpu  # noqa: E402,F401  (registers "cpu")


def _cuda_backend():
    """The cuda backend, imported on first use so that numba.cuda is only loaded then."""
    try:
        from .cuda import CudaBackend
    except ImportError as e:
        raise RuntimeError(
            f"numgrad backend 'cuda' needs Numba's CUDA target, which could not be imported "
            f"({e}). Install it with `pip install numgrad[cuda]` on a machine with an NVIDIA "
            "GPU and driver, or set NUMBA_ENABLE_CUDASIM=1 to use Numba's CUDA simulator.") from e
    return CudaBackend()


register_backend("cuda", _cuda_backend)
