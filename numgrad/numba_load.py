"""Loading a kernel's machine code from Numba's cache without Numba's registry refresh.

Numba's ``Cache.load_overload`` first calls ``target_context.refresh()``.  On a process's
first load that imports every typing and lowering registry Numba has (numba.np.*,
numba.cpython.*, the typed containers, extension entry points) and compiles the NRT's own
LLVM module: 0.12-0.19 s of a warm-cache first call of ~0.2 s (W4, quiet machine).
Compiling needs all of that; loading machine code does not.  A loaded library needs only
that the symbols its object code refers to resolve in LLVM's symbol table.  Numba adds its C
helpers, Python's C API and the exception objects when the target context is made. The NRT's
C functions (``NRT_adapt_ndarray_from_python``, ``NRT_MemInfo_call_dtor``, ...) are added
only by the refresh (``rtsys.initialize``).  Loading without any of it segfaults at the
first call: the kernel's array unboxing jumps to an unresolved NRT function.

So :func:`load_overload` adds the NRT's C symbols (what ``rtsys.initialize`` does before it
compiles the NRT module), reads the cache entry, and checks that every symbol the library's
object code leaves undefined resolves (LLVM intrinsics aside) before it lets Numba rebuild
the library.  If one does not (a symbol some registry import would have added, or one only
another JIT-compiled library defines), it falls back to Numba's own load, refresh included,
so the result is never a library with a dangling symbol.  Once the NRT is initialised (the
process compiled something, or loaded through the fallback), Numba's own load runs: the
refresh is then cheap and nothing is gained.

:func:`install` puts this in front of Numba's cpu function cache for numgrad's own
functions (its kernel cache's modules and its opaque kernels); a user's functions load as
Numba loads them.  :func:`preload` loads a kernel's machine code when its module is loaded.

A later compile in the same process is unaffected: Numba's compiler refreshes its contexts
itself before typing (``compile_extra``), and ``rtsys.initialize`` compiles the NRT module
then.  Measured with ``python -m numgrad.bench_compile`` (warm column); the module relies on
a few of Numba's private cache attributes and falls back to Numba's load where any of them is
missing.
"""
import functools
import logging

from . import numba_hooks, numba_rebuild

log = logging.getLogger("numgrad.cache")

__all__ = ["install", "load_overload", "preload", "preloading", "called_dispatchers",
           "unresolved_symbols", "elf_undefined_symbols"]

@numba_hooks.once
def install():
    """Route the cache loads of numgrad's own functions (defined in numgrad's modules or its
    kernel cache's ``numgrad_k_*`` modules) through :func:`load_overload`; other functions'
    loads stay Numba's.  Once per process; cheap afterwards.

    It is installed on Numba's cpu function cache class, not on each function's cache after
    its module ran: a function with an explicit signature (a plan function, a loop) loads as
    its module runs, before anything could wrap its own cache."""
    from numba.core import caching
    cls = caching.FunctionCache
    numba_load = cls.load_overload

    def load(self, sig, target_context):
        if _numgrads(self):
            return load_overload(self, sig, target_context,
                                 lambda s, c: numba_load(self, s, c))
        return numba_load(self, sig, target_context)

    cls.load_overload = load


def _numgrads(cache):
    return numba_hooks.numgrads(getattr(getattr(cache, "_py_func", None), "__module__", None))


_NEEDED = ("_index_key", "_cache_file", "_impl", "_enabled", "_guard_against_spurious_io_errors")


def load_overload(cache, sig, target_context, numba_load, index=None):
    """The compile result of `cache` (a Numba function cache) for `sig`, or None on a miss:
    loaded without the refresh where that is safe, else by `numba_load(sig,
    target_context)` (Numba's own ``load_overload``).  `index` is the cache's index where
    the caller has read it.  The entry is read and rebuilt by numba_rebuild.py (its
    environments' modules not imported, its linking bitcode parsed only if needed)."""
    from numba.core import config
    from numba.core.runtime import rtsys

    if rtsys._init or config.NRT_STATS or not all(hasattr(cache, a) for a in _NEEDED):
        return numba_load(sig, target_context)
    _add_runtime_symbols()
    with cache._guard_against_spurious_io_errors():
        if not cache._enabled:
            return None
        key = cache._index_key(sig, target_context.codegen())
        data = numba_rebuild.read_entry(cache._cache_file, key, index)
        if data is None:
            return None
        missing = unresolved_symbols(data)
        if missing:
            log.debug("numgrad: %s needs %s; loading with Numba's refresh",
                      cache._name, ", ".join(sorted(missing)[:5]))
            return numba_load(sig, target_context)
        return numba_rebuild.rebuild(cache, target_context, data)
    return None         # Numba's guard swallowed a spurious I/O error: a miss


def preload(dispatcher):
    """Load the overloads of `dispatcher` (a Numba function with ``cache=True``) that its
    cache holds for this machine and its current code, unless it has machine code already;
    how many were loaded.

    Only what loads without Numba's refresh is preloaded: an entry with a symbol nobody has
    registered yet (say, one the caller registers before its first call), or any entry once
    the process has compiled something, is left to the first call, which loads it as usual.

    Its first call then finds machine code at hand and skips Numba's compile entry, which on
    a process's first call scans the installed packages' entry points for Numba extensions
    (4-13 ms of a warm first call on the loaded development VM, whose environment has ~90
    installed distributions).  A signature not in the cache still compiles on its first
    call, and an entry that does not load is left to that call."""
    from numba.core.compiler_lock import global_compiler_lock

    c = getattr(dispatcher, "_cache", None)
    if getattr(dispatcher, "overloads", True) or not hasattr(c, "_cache_file"):
        return 0
    loaded = 0
    with global_compiler_lock:
        try:
            index = c._cache_file._load_index()
            ctx = dispatcher.targetctx
            codegen = ctx.codegen()
            keys = [k for k in index if c._index_key(k[0], codegen) == k]
        except Exception as e:  # noqa: BLE001  (an unreadable index: the call compiles)
            log.debug("numgrad: no preload of %s: %s", c._name, e)
            return 0
        for key in keys:
            sig = key[0]
            if tuple(sig) in dispatcher.overloads:
                continue
            try:
                cres = load_overload(c, sig, ctx, _left_to_the_call, index)
            except Exception as e:  # noqa: BLE001  (the call's load warns and recompiles)
                log.debug("numgrad: no preload of %s: %s", c._name, e)
                cres = None
            if cres is None:
                continue
            # as Numba's Dispatcher.compile does on a cache hit (its stats included)
            if hasattr(dispatcher, "_cache_hits"):
                dispatcher._cache_hits[sig] += 1
            if not cres.objectmode:
                ctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
            dispatcher.add_overload(cres)
            loaded += 1
    return loaded


def called_dispatchers(fn):
    """The Numba functions with a cache that the Python function `fn` calls directly: the
    globals its code names and the functions in its closure."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    found = [fn.__globals__.get(name) for name in code.co_names]
    for cell in fn.__closure__ or ():
        try:
            found.append(cell.cell_contents)
        except ValueError:          # an empty cell
            pass
    return [d for d in found if hasattr(getattr(d, "_cache", None), "_cache_file")
            and hasattr(d, "overloads")]


def preloading(fn):
    """`fn` (a Python function calling Numba functions: an opaque kernel), with the cached
    machine code of the Numba functions it calls (:func:`called_dispatchers`) preloaded
    before its first call, so that their first calls do not enter Numba's compile path,
    which first runs Numba's extension entry points (20-30 ms of W3's warm first call on the
    loaded development VM, for its softmax kernel)."""
    loaded = []

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if not loaded:
            for dispatcher in called_dispatchers(fn):
                preload(dispatcher)
            loaded.append(True)
        return fn(*args, **kwargs)
    return call


def _left_to_the_call(sig, target_context):
    """load_overload's fallback for preload: nothing (the first call loads it)."""
    return None


_symbols_added = False


def _add_runtime_symbols():
    """Put the NRT's C functions in LLVM's symbol table, under the names ``rtsys.initialize``
    gives them (without compiling the NRT module, which only compiling kernels links)."""
    global _symbols_added
    if _symbols_added:
        return
    import llvmlite.binding as ll
    from numba.core.runtime import _nrt_python as nrt

    for py_name, address in nrt.c_helpers.items():
        ll.add_symbol(py_name if py_name.startswith("_") else "NRT_" + py_name, address)
    _symbols_added = True


def unresolved_symbols(data):
    """The names a cached compile result (`data`, as Numba's cache file holds it) needs that
    LLVM's symbol table cannot resolve now; LLVM intrinsics are not counted.  A payload of a
    shape this does not know counts as unresolved (``{"?"}``).

    The names are the object code's undefined symbols where it is ELF (what the JIT linker
    will look up, libm and libc calls included; ~30 us a library), else the declarations of
    the library's linking module (~2.4 ms a library: LLVM parses its bitcode)."""
    import llvmlite.binding as ll

    try:
        _name, kind, payload = data[0]
        names = elf_undefined_symbols(payload[0]) if kind == "object" else None
        if names is None:
            module = ll.parse_bitcode(payload[1] if kind == "object" else payload)
            names = [f.name for f in module.functions if f.is_declaration]
            names += [g.name for g in module.global_variables if g.is_declaration]
    except Exception:  # noqa: BLE001  (another Numba's layout: let Numba load it)
        return {"?"}
    return {n for n in names if not n.startswith("llvm.") and not ll.address_of_symbol(n)}


def elf_undefined_symbols(obj):
    """The undefined symbols of the 64-bit little-endian ELF object `obj` (bytes), or None
    if it is not one.  Raises struct.error or ValueError if it is truncated."""
    symbols = numba_rebuild.elf_symbols(obj)
    return None if symbols is None else symbols[0]
