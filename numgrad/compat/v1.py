"""ng.compat.v1: every public name of numgrad, for scripts written as
``import tensorflow.compat.v1 as tf`` (``import numgrad.compat.v1 as tf``) or using
``tf.compat.v1.X``.

The names are looked up in ``numgrad`` when used (a module ``__getattr__``), so this module
never goes out of step with the package and importing it costs nothing.
"""
import importlib

_PACKAGE = "numgrad"


def _root():
    return importlib.import_module(_PACKAGE)


def _public_names():
    return sorted(n for n in dir(_root()) if not n.startswith("_"))


def __getattr__(name):
    if name == "__all__":               # `from numgrad.compat.v1 import *`
        return _public_names()
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return getattr(_root(), name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r} (numgrad has no "
                             f"tf.compat.v1.{name})") from None


def __dir__():
    return sorted(set(globals()) | set(_public_names()))
