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
import marshal
import os
import platform
import re
import sys
import tempfile
import threading
import warnings

import llvmlite
import numba
import numpy as np

from . import config, numba_load, numba_start

log = logging.getLogger("numgrad.cache")

_LOCK = threading.RLock()
_LOADED = {}
_PRELOADED = set()          # (key, attr) of the functions whose cache load was tried


def _before_fork():
    """Fork only while no thread is loading or compiling a kernel: a lock held by a thread
    that does not exist in the child would hang the child's first compile for ever."""
    from numba.core.compiler_lock import global_compiler_lock
    _LOCK.acquire()
    global_compiler_lock.acquire()


def _after_fork():
    from numba.core.compiler_lock import global_compiler_lock
    global_compiler_lock.release()
    _LOCK.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork,
                        after_in_child=_after_fork)


def cache_dir():
    d = config.get("NUMGRAD_CACHE_DIR")
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
        # Kernels call helpers from these files; Numba's own cache only watches the
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
    """The module defined by `source` (or its attribute `attr`, a function about to be called:
    its cached machine code is loaded now, numba_load.preload), through the in-memory and
    on-disk caches."""
    key = source_key(source)
    module = _LOADED.get(key)
    if module is None:
        with _LOCK:
            module = _LOADED.get(key)
            if module is None:
                module = _LOADED[key] = _import(key, source)
    if attr is None:
        return module
    fn = getattr(module, attr)
    if (key, attr) not in _PRELOADED:
        with _LOCK:
            if (key, attr) not in _PRELOADED:
                _PRELOADED.add((key, attr))
                numba_load.preload(fn)
    return fn


def compiled(sources):
    """The subset of `sources` whose functions have machine code at hand: compiled or loaded
    by this process, or saved by Numba in the cache directory (for some signature; a new
    signature of a saved function still compiles on use).

    A saved function is found by its index file's name (:func:`index_names`): one stat per
    function, where listing the cache's __pycache__ cost 64 ms for the 7,400 functions the
    test suite leaves there (a plan asks up to three times on its first call: background
    compile, native lanes, row blocks)."""
    done = set()
    d = os.path.join(cache_dir(), "__pycache__")
    for source in sources:
        key = source_key(source)
        module = _LOADED.get(key)
        if module is not None and any(getattr(f, "overloads", None)
                                      for f in vars(module).values()):
            done.add(source)
        elif any(os.path.exists(os.path.join(d, name)) for name in index_names(key, source)):
            done.add(source)
    return done


_DECORATOR = re.compile(r"@(?:numba\.)?njit\(.*cache=True")
_DEF = re.compile(r"def (\w+)\(")


def index_names(key, source):
    """The names of the index files Numba saves for the cached functions of the kernel
    module `source` (named by `key`): ``<module>.<function>-<line of its first decorator>
    .py<version><abiflags>.nbi``, as Numba's cache names them (its format is Numba's own
    ``get_filename_base``)."""
    from numba.core.caching import CompileResultCacheImpl

    class Locator:          # what get_filename_base reads: the function's first line
        def __init__(self, line):
            self.line = line

        def get_disambiguator(self):
            return str(self.line)

    out = []
    lines = source.splitlines()
    for i, line in enumerate(lines):
        if not _DECORATOR.match(line):
            continue
        for follow in lines[i + 1:]:
            m = _DEF.match(follow)
            if m is not None:
                impl = type("Impl", (), {"locator": Locator(i + 1)})()
                base = CompileResultCacheImpl.get_filename_base(impl, f"numgrad_k_{key}.{m.group(1)}",
                                                    getattr(sys, "abiflags", ""))
                out.append(base + ".nbi")
                break
    return out


def writable():
    """Whether the cache directory exists (or can be made) and is writable."""
    d = cache_dir()
    try:
        os.makedirs(d, exist_ok=True)
    except OSError:
        return False
    return os.access(d, os.W_OK)


def _import(key, source):
    numba_start.start()         # before Numba's first compile or cache load
    numba_load.install()        # before the module runs: it may load (explicit signatures)
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
    if path is not None:
        try:
            spec = importlib.util.spec_from_file_location(modname, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[modname] = module
            exec(_module_code(path, source, modname), module.__dict__)
            return guard_numba_cache(module)
        except (OSError, RuntimeError) as e:   # e.g. Numba found nowhere writable to cache
            warnings.warn(f"numgrad: cannot load kernel cache entry {path!r} ({e}); compiling "
                          "without the on-disk cache", RuntimeWarning, stacklevel=3)
    module = type(sys)(modname)
    sys.modules[modname] = module          # plan functions import kernels by module name
    exec(compile(source.replace("cache=True", "cache=False"), modname, "exec"),
         module.__dict__)
    return module


def _module_code(path, source, modname):
    """The code object of the kernel module `modname` (`source`, saved at `path`), from its
    marshalled copy in the cache's __pycache__ where there is a valid one, else compiled (and
    the copy written, if it can be).

    Python's own bytecode cache would do this, but not where PYTHONDONTWRITEBYTECODE is set
    (as on the development VM and in many containers): a warm first call of W6 then compiled
    its 20 kernel modules' 35,000 characters of source, 25 ms on the loaded VM, against
    0.3 ms to unmarshal them.  The file is named by the module (the source's hash) and the
    interpreter's cache tag, starts with the interpreter's bytecode magic number, and is used
    only if its code names `path` (a cache directory copied elsewhere compiles again: Numba
    finds a function's cache by its code's file name)."""
    cached = os.path.join(os.path.dirname(path), "__pycache__",
                          f"{modname}.{sys.implementation.cache_tag}.ngcode")
    magic = importlib.util.MAGIC_NUMBER
    try:
        with open(cached, "rb") as f:
            data = f.read()
        if data[:len(magic)] == magic:
            code = marshal.loads(data[len(magic):])
            if code.co_filename == path:
                return code
    except (OSError, ValueError, EOFError, TypeError):
        pass
    code = compile(source, path, "exec")
    try:
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(cached))
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(magic + marshal.dumps(code))
            os.replace(tmp, cached)
        except OSError:
            os.unlink(tmp)
            raise
    except OSError:         # a read-only cache: compiled again next time
        pass
    return code


def guard_numba_cache(module):
    """Make the Numba caches of `module`'s functions fail soft (the kernel cache's modules,
    and the opaque kernels' modules, kernels/cpu/__init__.py); their loads skip Numba's
    registry refresh where that is safe (numba_load.install).

    Numba raises when its index or data file is corrupt (truncated, garbage) and when saving
    fails (disk full, read-only): a bad entry is treated as a miss (the fresh machine code is
    saved over it) and a failed save only costs the next process a compile.  Both warn.
    """
    numba_load.install()
    for name, fn in list(vars(module).items()):
        c = getattr(fn, "_cache", None)
        if c is None or not hasattr(c, "load_overload") or getattr(c, "_numgrad_guard", False):
            continue

        def load_overload(*args, _load=c.load_overload, _c=c, _name=name, **kwargs):
            try:
                return _load(*args, **kwargs)
            except Exception as e:  # noqa: BLE001  (any unreadable entry: recompile)
                warnings.warn(f"numgrad: Numba's cache of {module.__name__}.{_name} is "
                              f"unreadable ({type(e).__name__}: {e}); recompiling",
                              RuntimeWarning, stacklevel=2)
                try:
                    _c.flush()          # a fresh index, so that the save below can succeed
                except Exception:  # noqa: BLE001  (the save will warn)
                    pass
                return None

        def save_overload(*args, _save=c.save_overload, _name=name, **kwargs):
            try:
                return _save(*args, **kwargs)
            except Exception as e:  # noqa: BLE001  (not cached: the next process compiles)
                warnings.warn(f"numgrad: cannot save Numba's cache of {module.__name__}.{_name}"
                              f" ({type(e).__name__}: {e}); it will be compiled again by the "
                              "next process", RuntimeWarning, stacklevel=2)

        c.load_overload, c.save_overload, c._numgrad_guard = load_overload, save_overload, True
    return module


def _entry_ok(path, source):
    try:
        with open(path, encoding="utf-8") as f:
            ok = f.read() == source
    except UnicodeDecodeError:
        ok = False
    except OSError:
        return False
    if not ok:
        log.warning("numgrad: cache entry %s is corrupt; rebuilding it", path)
    return ok


def _atomic_write(path, source, d):
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".py", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(source)
        try:
            # A new entry: the first writer wins, so processes racing to write it all load the
            # same file, whose mtime Numba stamps its cache index with.
            os.link(tmp, path)
        except FileExistsError:
            if not _same_text(path, source):    # corrupt: replace it
                os.replace(tmp, path)
        except OSError:                         # a filesystem without hard links
            os.replace(tmp, path)
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _same_text(path, source):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read() == source
    except (OSError, UnicodeDecodeError):
        return False
