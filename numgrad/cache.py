"""On-disk kernel cache: generated source saved as a module named by its content hash.

The module is imported from the cache directory and its functions are compiled with Numba's
``cache=True``, so a second process loads machine code instead of compiling.  The key hashes
the source with the numgrad, Numba, llvmlite and NumPy versions and the CPU name.  Writes are
atomic (temporary file + rename), an entry whose text does not match its key is rewritten, and
if the directory is unusable the kernel is compiled from memory with a warning.
"""
import hashlib
import importlib.util
import logging
import os
import platform
import sys
import tempfile
import threading
import warnings

import llvmlite
import numba
import numpy as np

log = logging.getLogger("numgrad.cache")

_LOCK = threading.RLock()
_LOADED = {}


def cache_dir():
    d = os.environ.get("NUMGRAD_CACHE_DIR")
    if d:
        return d
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "numgrad")


def _cpu_name():
    try:
        import llvmlite.binding as llvm
        return llvm.get_host_cpu_name()
    except Exception:    # pragma: no cover - informational only
        return platform.machine()


_SALT = None


def _salt():
    global _SALT
    if _SALT is None:
        from . import __version__
        # Kernels inline helpers from these files; Numba's own cache only watches the
        # kernel module, so their contents are part of the key.
        here = os.path.join(os.path.dirname(__file__), "kernels")
        helpers = hashlib.sha256()
        for name in ("vecmath.py", os.path.join("cpu", "scalar.py")):
            with open(os.path.join(here, name), "rb") as f:
                helpers.update(f.read())
        _SALT = "|".join([__version__, numba.__version__, llvmlite.__version__,
                          np.__version__, _cpu_name(), sys.version.split()[0],
                          helpers.hexdigest()])
    return _SALT


def source_key(source):
    return hashlib.sha256((_salt() + "\n" + source).encode()).hexdigest()[:32]


def load(source, attr=None):
    """The module defined by `source` (or its attribute `attr`), through the in-memory and
    on-disk caches."""
    key = source_key(source)
    module = _LOADED.get(key)
    if module is None:
        with _LOCK:
            module = _LOADED.get(key)
            if module is None:
                module = _LOADED[key] = _import(key, source)
    return module if attr is None else getattr(module, attr)


def _import(key, source):
    modname = f"numgrad_k_{key}"
    path = None
    d = cache_dir()
    try:
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, modname + ".py")
        if not _entry_ok(path, source):
            _atomic_write(path, source, d)
    except OSError as e:
        warnings.warn(f"numgrad: kernel cache directory {d!r} is unusable ({e}); compiling "
                      "without the on-disk cache", RuntimeWarning, stacklevel=3)
        path = None
    if path is None:
        module = type(sys)(modname)
        sys.modules[modname] = module          # plan functions import kernels by module name
        exec(compile(source.replace("cache=True", "cache=False"), modname, "exec"),
             module.__dict__)
        return module
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    spec.loader.exec_module(module)
    return module


def _entry_ok(path, source):
    try:
        with open(path, encoding="utf-8") as f:
            ok = f.read() == source
    except (OSError, UnicodeDecodeError):
        return False
    if not ok:
        log.warning("numgrad: cache entry %s is corrupt; rebuilding it", path)
    return ok


def _atomic_write(path, source, d):
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".py", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(source)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
