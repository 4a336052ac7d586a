"""Optional packages that are slow to import, imported by a test module on first use.

Every pytest-xdist worker collects every test file and only one of them runs it: a package a
file imports at its top (scipy.stats 0.6 CPU s, dask.array and distributed 0.7) is imported
by each worker while it collects the suite.  ``stats = LazyModule("scipy.stats")`` imports it
when a test first uses ``stats.<name>``; ``installed("dask")`` finds a package without importing
it, for a skip mark.
"""
import importlib
import importlib.util


class LazyModule:
    """The module `name`, imported at its first attribute access."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        if attr.startswith("_"):    # pytest's collection looks for its own marks on every
            raise AttributeError(attr)      # module attribute: those import nothing
        return getattr(importlib.import_module(self._name), attr)


def installed(*names):
    """Whether every top-level package in `names` can be imported (none is imported here)."""
    return all(importlib.util.find_spec(name) is not None for name in names)
