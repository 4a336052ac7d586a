"""ng.contrib: the tf.contrib pieces numgrad keeps (``ng.contrib.layers``, ...).

Submodules are imported on first use (``ng.contrib.layers``), so a submodule that fails to
import, or one added later (``opt``), does not affect the others."""
import importlib

_SUBMODULES = ("layers", "opt")


def __getattr__(name):
    if name in _SUBMODULES:
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
