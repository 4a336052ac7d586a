"""Fused kernels compiled from their source straight to machine code (NUMGRAD_LLVM_KERNELS).

A GroupRunner's kernel (compiler/emit_cpu.py) is translated into LLVM IR by
compiler/llvm_translate.py and compiled by numgrad/llvm_jit.py, which keeps the object code in
the kernel cache: no Numba front end, and no Numba compile at all in a process whose kernels
all translate.  W2's cold first call: 0.74 s through Numba, 0.28 s this way (docs/cpu-backend.md).
The machine code is what Numba's would be: the same typing, casts and instructions, the same
LLVM passes (tests/test_llvm_kernels.py compares the two kernels' results bit for bit).

A kernel the translator refuses (a construct outside its dialect), or a call with an array
that is not C-contiguous, runs the Numba kernel as before (cache.load).  Only Python callers
use these kernels: plan functions and native loops call the Numba kernels from njit code.
"""
import ctypes
import functools
import hashlib
import logging
import os
import threading
import time

import numpy as np

from .. import config

__all__ = ["ENABLED", "Kernel", "kernel_for", "prepare"]

log = logging.getLogger("numgrad.compiler")

ENABLED = config.get("NUMGRAD_LLVM_KERNELS")
_LOCK = threading.Lock()
_KERNELS = {}       # source -> Kernel


def _ctype(t):
    from numba.core import types
    if isinstance(t, types.Array):
        return ctypes.py_object
    return {types.boolean: ctypes.c_bool, types.float32: ctypes.c_float,
            types.float64: ctypes.c_double, types.int32: ctypes.c_int32}.get(t, ctypes.c_int64)


_LAYOUT_OK = None


def layout_ok():
    """Whether NumPy's array objects have the field offsets the translated kernels read
    (llvm_translate.ARRAY_DATA / ARRAY_DIMS); checked once on a probe array."""
    global _LAYOUT_OK
    if _LAYOUT_OK is None:
        from ..compiler.llvm_translate import ARRAY_DATA, ARRAY_DIMS
        a = np.zeros((3, 5))
        base = id(a)
        try:
            data = ctypes.c_void_p.from_address(base + ARRAY_DATA).value
            dims = ctypes.c_void_p.from_address(base + ARRAY_DIMS).value
            shape = (ctypes.c_int64 * 2).from_address(dims)[:]
            _LAYOUT_OK = data == a.ctypes.data and shape == [3, 5]
        except (ValueError, OSError):       # pragma: no cover
            _LAYOUT_OK = False
    return _LAYOUT_OK


def _type_key(args):
    return tuple((a.dtype.char, a.ndim) if isinstance(a, np.ndarray) else type(a)
                 for a in args)


class Kernel:
    """The `kernel` function of one kernel module's source: machine code per argument
    signature (types as Numba would infer them from the first call's arguments), falling
    back to the Numba kernel where the translator refuses one or an array is not
    C-contiguous."""

    def __init__(self, source):
        self.source = source
        self._by_key = {}       # _type_key of a call's arguments -> what runs it
        self._by_types = {}     # Numba types -> compiled function, None if refused
        self._numba = None
        self._origin = {}       # Numba types -> "hit" (loaded from the cache) or "compiled"

    @property
    def stats(self):
        """Cache hits and misses per signature, as a Numba dispatcher's ``stats`` (the plan
        summary reads them): a miss compiled the kernel, a hit loaded it."""
        from types import SimpleNamespace
        hits = {k: 1 for k, v in self._origin.items() if v == "hit"}
        return SimpleNamespace(cache_hits=hits,
                               cache_misses={k: 1 for k, v in self._origin.items() if v != "hit"})

    @property
    def py_func(self):
        """The Numba kernel's Python function: generated njit code (plan functions, lanes,
        row blocks) imports the Numba kernel from its module."""
        return self.numba().py_func

    def numba(self):
        if self._numba is None:
            from .. import cache
            self._numba = cache.load(self.source, "kernel")
        return self._numba

    def __call__(self, *args):
        fn = self._by_key.get(_type_key(args))
        if fn is None:
            fn = self.compile(args)
        for a in args:
            if isinstance(a, np.ndarray) and not a.flags.c_contiguous:
                return self.numba()(*args)
        return fn(*args)

    def compile(self, args):
        """The callable for `args`' signature (compiled, loaded from the cache, or the Numba
        kernel where the translator refuses it)."""
        from ..compiler import llvm_translate
        key = _type_key(args)
        try:
            tys = tuple(llvm_translate.numba_type_of(a) for a in args)
        except llvm_translate.Unsupported:
            tys = None
        fn = self.for_types(tys) if tys is not None else None
        with _LOCK:
            self._by_key[key] = fn = fn or self.numba()
        return fn

    def for_types(self, tys):
        """The compiled function for Numba types `tys` (C-contiguous arrays), None where the
        translator refuses them."""
        with _LOCK:
            if tys in self._by_types:
                return self._by_types[tys]
        from ..compiler import llvm_translate
        from .. import llvm_jit
        identity = f"{_translator_id()}\n{tys!r}\n{self.source}"
        name = "numgrad_" + hashlib.sha256(identity.encode()).hexdigest()[:32]
        before = llvm_jit.compile_count()
        try:
            addr = llvm_jit.function_addresses(
                lambda: llvm_translate.translate(self.source, tys, name), [name],
                identity=identity)[name]
        except llvm_translate.Unsupported as e:
            log.debug("numgrad: kernel compiled by Numba: %s", e)
            fn = None
        else:
            fn = llvm_jit.cfunc(addr, None, [_ctype(t) for t in tys])
        with _LOCK:
            self._by_types[tys] = fn
            self._origin[tys] = "compiled" if llvm_jit.compile_count() > before else "hit"
        _mark(self.source, fn is not None)
        return fn


@functools.lru_cache(maxsize=None)
def _translator_id():
    """A hash of the translator's own code: a kernel's object code in the cache is keyed by
    its source, its argument types and this (the source of vecmath, which the kernels call,
    is in every cache key already: cache.source_key)."""
    from ..compiler import llvm_translate, vecmath_calls
    h = hashlib.sha256()
    for mod in (llvm_translate, vecmath_calls):
        with open(mod.__file__, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def _marker(source):
    from .. import cache
    return os.path.join(cache.cache_dir(), "llvm", cache.source_key(source) + ".src")


def _mark(source, translated):
    """Note in the cache that `source` was compiled (translated, or refused: Numba's then),
    so that a later process's plan knows it needs no background compile (:func:`compiled`)."""
    path = _marker(source)
    if os.path.exists(path):
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("llvm" if translated else "numba")
    except OSError:         # an unusable cache: llvm_jit has warned
        pass


def compiled(source):
    """Whether `source`'s kernel has machine code at hand for a later call: translated and
    in the cache (for some signature), or refused and compiled by Numba."""
    from .. import cache
    try:
        with open(_marker(source)) as f:
            how = f.read()
    except OSError:
        return False
    return how == "llvm" or bool(cache.compiled([source]))


def kernel_for(source):
    """The Kernel of `source` (one per source and process)."""
    k = _KERNELS.get(source)
    if k is None:
        with _LOCK:
            k = _KERNELS.setdefault(source, Kernel(source))
    return k


def usable():
    return ENABLED and layout_ok()


def prepare(source, signatures):
    """Compile `source`'s kernel now for each of `signatures` (tuples of Numba types, as a
    dry run records them); whether every one translated (else Numba must compile some)."""
    from numba.core import types
    k = kernel_for(source)
    ok = True
    for sig in signatures:
        if any(isinstance(t, types.Array) and t.layout != "C" for t in sig):
            ok = False
            continue
        sig = tuple(t.copy(readonly=False) if isinstance(t, types.Array) else t for t in sig)
        ok = k.for_types(sig) is not None and ok
    return ok


class CompileJob:
    """A thread compiling kernels through the translator while a big plan's first calls
    are interpreted (backends/cpu_background.py), in place of worker processes: ~0.05 s a
    kernel in this process, where a worker needs ~1 s to start and ~0.5 s a kernel in Numba.
    A kernel the translator refuses is handed to worker processes (compile_workers.start),
    which the job waits for.  The interface of compile_workers.Job that plans read."""

    def __init__(self, items, workers, start_workers):
        self.started = time.perf_counter()
        self.sources = [source for source, _ in items]
        self.seconds = None
        self.failed = []
        self.procs = list(getattr(workers, "procs", []))
        self._workers, self._others = None, workers
        self._stop = False
        self._thread = threading.Thread(target=self._run, args=(items, start_workers),
                                        name="numgrad-llvm-compile", daemon=True)
        self._thread.start()

    def _run(self, items, start_workers):
        refused = []
        for source, signatures in items:
            if self._stop:
                return
            try:
                if not prepare(source, signatures):
                    refused.append((source, signatures))
            except Exception as e:      # noqa: BLE001  (compiled on use instead)
                self.failed.append(f"{type(e).__name__}: {e}")
                log.info("numgrad: background kernel compile failed (compiled on use): %s", e)
        if refused and not self._stop:
            self._workers = start_workers(refused)
            if self._workers is not None:
                self.procs = self.procs + self._workers.procs

    def running(self):
        if self._thread.is_alive() or any(j is not None and j.running()
                                          for j in (self._workers, self._others)):
            return True
        if self.seconds is None:
            from .. import compile_workers
            self.seconds = time.perf_counter() - self.started
            compile_workers.untrack(self)       # wait_all counts the jobs still running
        return False

    def wait(self, timeout=None):
        from .. import compile_workers
        return compile_workers.poll_until_done(self.running, timeout, 0.005)

    def kill(self):
        self._stop = True
        for j in (self._workers, self._others):
            if j is not None:
                j.kill()
        # the kernel being compiled finishes (its cache entry is written whole either way)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
