"""Backends: how a Session executes a pruned graph.

A backend has ``name`` and ``prepare(graph, fetches, targets, feeds) -> plan``; a plan is a
callable taking the list of fed arrays (in the order of `feeds`) and returning the list of
fetched arrays (in the order of `fetches`).  ``cpu`` (the default) compiles fused Numba
kernels; ``numpy`` is the reference interpreter.
"""
import os

_FACTORIES = {}


def register_backend(name, factory):
    _FACTORIES[name] = factory


def available_backends():
    return sorted(_FACTORIES)


def default_backend_name():
    return os.environ.get("NUMGRAD_BACKEND", "").strip() or "cpu"


def get_backend(name=None):
    name = name or default_backend_name()
    if name not in _FACTORIES:
        raise ValueError(f"Unknown numgrad backend {name!r}; available: "
                         f"{', '.join(available_backends())} (set by Session(backend=...) or "
                         "the NUMGRAD_BACKEND environment variable)")
    return _FACTORIES[name]()


from . import numpy as _numpy  # noqa: E402,F401  (registers "numpy")
from . import cpu as _cpu  # noqa: E402,F401  (registers "cpu")
