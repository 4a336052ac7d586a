"""Machine code for LLVM IR text, without Numba's compiler: optimised, emitted as object code,
saved in the kernel cache directory and loaded into one process-wide MCJIT engine.

:func:`function_addresses` is the entry point: the addresses of named functions of an LLVM
module given as text (llvmlite.ir's output; its target triple and data layout are set here).
A module is compiled at most once a process (an in-memory table by key) and once a machine
(its object code is saved under ``<cache_dir>/llvm/<key>.ngo``; a later process reads it and
only links it: no optimiser, no code generator).

Same code as Numba's
--------------------
The target machine and the pass pipeline are those of Numba's JIT code generator
(numba/core/codegen.py: ``JITCPUCodegen``), built here from llvmlite directly, with the values
read from ``numba.config``, so that a module compiled here becomes the machine code Numba
would make of the same IR, without paying for Numba's target context:

- the target machine: the process triple; the host CPU name and features unless
  NUMBA_CPU_NAME / NUMBA_CPU_FEATURES say otherwise (Numba's ``get_host_cpu_features``, which
  also applies NUMBA_ENABLE_AVX); ``opt`` = NUMBA_OPT; reloc ``static`` on x86 (``pic`` on
  PowerPC, else ``default``); code model ``jitdefault``; ``jit=True``;
- per function of the module, a function pass manager at NUMBA_OPT with NUMBA_LOOP_VECTORIZE
  and NUMBA_SLP_VECTORIZE (Numba's ``create_pass_builder``), a fresh pass builder each;
- on the module, Numba's "cheap" module pipeline (opt 0 without vectorisers, or opt 3 with the
  loop vectoriser when NUMBA_OPT=max) plus loop-rotate, instcombine and jump-threading (unless
  NUMBA_OPT=0), then the full module pipeline at NUMBA_OPT with the vectoriser settings above;
- verification before and after, as Numba's code library does.

Numba's reference-count pruning pass is left out: it only removes NRT incref/decref pairs, and
IR made for this module calls no NRT.  Numba's SVML option (``-vector-library``) is a global
LLVM option that importing Numba sets, so it applies here too, and it is part of the key.
numgrad does not change Numba's LLVM pipeline (numba_pipeline.py, numba_start.py and
numba_hooks.py act before LLVM); its LLVM-level choices (``alwaysinline``,
``"prefer-vector-width"``, ``reassoc`` flags, ``llvm.fma``) are attributes of the IR itself.
tests/test_llvm_jit.py holds the optimised IR and the assembly to those of Numba's own code
library for the same IR text (so did, once, the 42 modules Numba compiles for W1-W5, with
reference-count pruning off on both sides).  Numba links a kernel's callees (other code
libraries, ``linkonce_odr``) into its module before the module passes; IR made for this
module must hold its callees itself.

Loading
-------
Object code is only handed to LLVM once it is known good: a cache file carries the SHA-256 of
its object code and the key it was saved under, and a file that does not match (truncated,
garbled, another key) is a miss that is compiled and saved again, with a warning.  Before an
object is linked, its undefined symbols are checked to resolve (LLVM would otherwise abort the
process), and its names are checked against those of the objects already loaded: MCJIT's
linker keeps one table of symbols by name, internal ones included, so an external function
may not be defined twice, and a weak definition or an external reference may not name
another module's internal function (:func:`_check_names`).  Internal functions of one name
in several modules are fine, and so are ``linkonce_odr`` ones (the first definition is used:
they must be the same).  libc (``malloc``, ``free``) and libm (the fallbacks of ``llvm.fma``,
``llvm.floor`` ...) resolve from the process, which the MCJIT engine registers as a symbol
source when it is created.

Writes are atomic (a temporary file renamed over the entry).  An unusable cache directory
compiles in memory, with one RuntimeWarning a process for that directory.  One lock covers
compiling and loading (llvmlite serialises its calls anyway); a loaded function's address is
returned without it.  Compiling happens in a private LLVM context that is discarded after, so
a long process does not accumulate compiled modules' types and constants.
"""
import contextlib
import ctypes
import hashlib
import os
import struct
import tempfile
import threading
import time
import warnings

from numba.core.compiler_lock import global_compiler_lock

from . import cache     # before this module's fork handler is registered (_fork_locks)

__all__ = ["function_addresses", "optimize_and_emit", "optimized_ir", "cfunc", "compile_count",
           "cpu_seconds_breakdown", "key", "PIPELINE_VERSION"]

# Bump when this module's pipeline or file format changes: it is part of every key.
PIPELINE_VERSION = 1
_MAGIC = b"numgrad-llvm-object 1\n"

_LOCK = threading.RLock()
_ADDRESSES = {}         # (key, name) -> address, for loaded modules
_LOADED = {}            # key -> the external names its object defines (None: unknown)
_GLOBALS = set()        # external (strong or weak) symbols of the objects loaded so far
_LOCALS = set()         # their local symbols (the engine links by name to those too)
_WARNED = set()         # cache directories already warned about
_TARGET = None
_TIMES = {"init": 0.0, "parse": 0.0, "function_passes": 0.0, "module_passes": 0.0,
          "emit": 0.0, "read": 0.0, "link": 0.0, "write": 0.0}
_COUNTS = {"compiles": 0, "disk_hits": 0, "links": 0, "memory_hits": 0}


def _fork_locks():
    """The locks to hold across a fork, outermost first: no fork while a thread compiles or
    links here (nor, as cache.py has it, while one imports or compiles a kernel module).
    A caller may hold cache.py's lock or Numba's compiler lock when it calls here, never
    the reverse, so they are taken first (cache.py's own handler, registered before this
    one, runs after it and takes them again: they are reentrant)."""
    outer = [lock for lock in (getattr(cache, "_LOCK", None), global_compiler_lock)
             if lock is not None]
    return outer + [_LOCK]


def _before_fork():
    for lock in _fork_locks():
        lock.acquire()


def _after_fork():
    for lock in reversed(_fork_locks()):
        lock.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork,
                        after_in_child=_after_fork)


class _Target:
    """The target machine, its settings as Numba reads them, and the MCJIT engine."""

    def __init__(self):
        import llvmlite.binding as ll
        from numba.core import config
        from numba.core.codegen import get_host_cpu_features

        ll.initialize_native_target()
        ll.initialize_native_asmprinter()
        self.triple = ll.get_process_triple()
        self.cpu = config.CPU_NAME if config.CPU_NAME is not None else ll.get_host_cpu_name()
        self.features = (config.CPU_FEATURES if config.CPU_FEATURES is not None
                         else get_host_cpu_features())
        self.opt = int(config.OPT)
        self.opt_max = bool(getattr(config.OPT, "is_opt_max", False))
        self.loop_vectorize = bool(config.LOOP_VECTORIZE)
        self.slp_vectorize = bool(config.SLP_VECTORIZE)
        arch = ll.Target.from_default_triple().name
        self.reloc = ("static" if arch.startswith("x86") else
                      "pic" if arch.startswith("ppc") else "default")
        target = ll.Target.from_triple(self.triple)
        self.tm = target.create_target_machine(
            cpu=self.cpu, features=self.features, opt=self.opt, reloc=self.reloc,
            codemodel="jitdefault", jit=True)
        self.svml = bool(getattr(config, "USING_SVML", False))
        empty = ll.parse_assembly(f'target triple = "{self.triple}"\n')
        # Creating the engine also registers the process's own symbols (libc, libm) with
        # LLVM's symbol search, for the objects' undefined symbols.
        self.engine = ll.create_mcjit_compiler(empty, self.tm,
                                               use_lmm=config.USE_LLVMLITE_MEMORY_MANAGER)
        if config.ENABLE_PROFILING:
            self.engine.enable_jit_events()
        self.data_layout = str(self.engine.target_data)
        self.description = " ".join(map(str, (
            PIPELINE_VERSION, self.triple, self.cpu, self.features, self.opt, self.opt_max,
            self.loop_vectorize, self.slp_vectorize, self.reloc, "jitdefault", self.svml)))

    def pass_builder(self, opt, loop_vectorize, slp_vectorize):
        from numba.core.llvm_bindings import create_pass_builder
        return create_pass_builder(self.tm, opt=opt, loop_vectorize=loop_vectorize,
                                   slp_vectorize=slp_vectorize)


def _target():
    global _TARGET
    if _TARGET is None:
        with _LOCK:
            if _TARGET is None:
                t0 = time.thread_time()
                target = _Target()
                _TIMES["init"] += time.thread_time() - t0
                _TARGET = target
    return _TARGET


def key(ir_text):
    """The cache key of the module `ir_text`: its text, numgrad's cache salt (numgrad, Numba,
    llvmlite, NumPy and Python versions, CPU name: cache.source_key) and this module's
    pipeline version and target machine (CPU name and features, optimisation settings)."""
    return cache.source_key(f"llvm_jit {_target().description}\n{ir_text}")


def function_addresses(ir_text, names, identity=None):
    """Machine-code addresses ({name: int}) of the functions `names` defined in the LLVM
    module `ir_text`, compiled once a process and once a machine (module docstring).

    With `identity` (a string that determines the IR, e.g. the source it is translated from
    and the translator's version), the cache key hashes that instead of the text, and
    `ir_text` may be a function returning the text, called only when the module is compiled:
    a cache hit then costs neither the IR's making nor its hashing.

    Raises KeyError if a name is not an external function of the module, RuntimeError if the
    module's code needs a symbol that nothing in the process defines, ValueError if it defines
    a function that an already loaded module defines (and llvmlite's RuntimeError if the text
    does not parse or verify)."""
    k = key(ir_text if identity is None else "identity\n" + identity)
    out = {}
    for name in names:
        address = _ADDRESSES.get((k, name))
        if address is None:
            break
        out[name] = address
    else:
        if k in _LOADED:                    # (no names: the module is loaded all the same)
            _COUNTS["memory_hits"] += 1
            return out
    with _LOCK:
        if k not in _LOADED:
            obj = _read(k)
            if obj is None:
                obj = optimize_and_emit(ir_text() if callable(ir_text) else ir_text)
                _write(k, obj)
            else:
                _COUNTS["disk_hits"] += 1
            _LOADED[k] = _link(obj)
        defined = _LOADED[k]
        for name in names:
            if (k, name) in _ADDRESSES:
                out[name] = _ADDRESSES[(k, name)]
                continue
            if defined is None:
                address = _target().engine.get_function_address(name)
            else:
                address = defined.get(name, 0)
            if not address:
                raise KeyError(f"numgrad.llvm_jit: the module defines no external function "
                               f"{name!r}")
            out[name] = _ADDRESSES[(k, name)] = address
    return out


@contextlib.contextmanager
def _optimized(ir_text):
    """The module `ir_text` through Numba's JIT pipeline, in an LLVM context of its own,
    under the lock; the modules are closed before their context, also on an error (a
    module that outlives its context would crash the process when collected)."""
    import llvmlite.binding as ll
    with _LOCK:
        context = ll.create_context()
        modules = []
        try:
            yield _optimized_module(ir_text, context, modules)
        finally:
            for module in modules:
                module.close()              # no-op for one consumed by linking
            context.close()


def optimized_ir(ir_text):
    """The module `ir_text` after this module's (Numba's) optimisation pipeline, as text."""
    with _optimized(ir_text) as module:
        return str(module)


def optimize_and_emit(ir_text):
    """Object code (bytes) of the module `ir_text`, optimised as Numba optimises its modules,
    for this process's target machine; no cache."""
    with _optimized(ir_text) as module:
        t0 = time.thread_time()
        obj = _target().tm.emit_object(module)
        _TIMES["emit"] += time.thread_time() - t0
        _COUNTS["compiles"] += 1
        return obj


def _optimized_module(ir_text, context, modules):
    """The parsed module `ir_text` (in `context`; each module made is added to `modules`)
    through Numba's JIT pipeline."""
    import llvmlite.binding as ll
    target = _target()
    t0 = time.thread_time()
    module = ll.parse_assembly(ir_text, context=context)
    modules.append(module)
    module.triple = target.triple
    module.data_layout = target.data_layout
    module.verify()
    t1 = time.thread_time()
    for fn in module.functions:
        if fn.is_declaration:       # nothing to optimise (Numba runs the passes anyway)
            continue
        pb = target.pass_builder(target.opt, target.loop_vectorize, target.slp_vectorize)
        pb.getFunctionPassManager().run(fn, pb)
    # Numba links each function-optimised module into an empty one (its library's final
    # module): that sets the order of the functions (definitions first), which the module
    # passes see.
    final = ll.parse_assembly(f'target triple = "{target.triple}"\n'
                              f'target datalayout = "{target.data_layout}"\n', context=context)
    modules.append(final)
    final.link_in(module)
    module = final
    t2 = time.thread_time()
    cheap = target.pass_builder(3 if target.opt_max else 0, target.opt_max, False)
    mpm = cheap.getModulePassManager()
    if target.opt != 0:
        mpm.add_loop_rotate_pass()
        mpm.add_instruction_combine_pass()
        mpm.add_jump_threading_pass()
    mpm.run(module, cheap)
    full = target.pass_builder(target.opt, target.loop_vectorize, target.slp_vectorize)
    full.getModulePassManager().run(module, full)
    module.verify()
    t3 = time.thread_time()
    _TIMES["parse"] += t1 - t0
    _TIMES["function_passes"] += t2 - t1
    _TIMES["module_passes"] += t3 - t2
    return module


def _cache_file(k):
    return os.path.join(cache.cache_dir(), "llvm", k + ".ngo")


def _warn_unusable(path, error):
    d = os.path.dirname(path)
    if d not in _WARNED:
        _WARNED.add(d)
        warnings.warn(f"numgrad: kernel cache directory {d!r} is unusable ({error}); "
                      "compiling without the on-disk cache", RuntimeWarning, stacklevel=4)


def _read(k):
    """The object code saved under key `k`, or None (missing, or not a valid entry: then
    with a warning, and the entry is rewritten after compiling)."""
    path = _cache_file(k)
    t0 = time.thread_time()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        _warn_unusable(path, e)
        return None
    finally:
        _TIMES["read"] += time.thread_time() - t0
    head = len(_MAGIC) + len(k) + 32
    obj = data[head:]
    if (data[:len(_MAGIC)] != _MAGIC or data[len(_MAGIC):head - 32] != k.encode()
            or data[head - 32:head] != hashlib.sha256(obj).digest()):
        warnings.warn(f"numgrad: kernel cache entry {path!r} is corrupt; recompiling it",
                      RuntimeWarning, stacklevel=3)
        return None
    return obj


def _write(k, obj):
    """Save `obj` under key `k` atomically; an unusable directory warns (once) and skips."""
    path = _cache_file(k)
    d = os.path.dirname(path)
    t0 = time.thread_time()
    try:
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".ngo", dir=d)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + k.encode() + hashlib.sha256(obj).digest() + obj)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        _warn_unusable(path, e)
    finally:
        _TIMES["write"] += time.thread_time() - t0


def _link(obj):
    """Add the object code `obj` to the engine; {name: address} of the external symbols it
    defines (None where it is not ELF and they are not known: looked up by name later)."""
    import llvmlite.binding as ll
    target = _target()
    t0 = time.thread_time()
    symbols = elf_symbols(obj)
    if symbols is not None:
        _check_names(*symbols)
        undefined = symbols[0] - _GLOBALS
        missing = {n for n in undefined if not ll.address_of_symbol(n)}
        if missing:
            _load_libm()
            missing = {n for n in missing if not ll.address_of_symbol(n)}
        if missing:
            raise RuntimeError(f"numgrad.llvm_jit: the module's code needs {sorted(missing)}, "
                               "which nothing in this process defines (llvmlite.binding."
                               "add_symbol them first)")
    target.engine.add_object_file(ll.ObjectFileRef.from_data(obj))
    target.engine.finalize_object()
    addresses = None
    if symbols is not None:
        _undefined, strong, weak, local = symbols
        _GLOBALS.update(strong | weak)
        _LOCALS.update(local)
        # now, before a later object's symbol of the same name can shadow them
        addresses = {n: target.engine.get_function_address(n) for n in strong | weak}
    _TIMES["link"] += time.thread_time() - t0
    _COUNTS["links"] += 1
    return addresses


def _check_names(undefined, strong, weak, local):
    """Refuse an object whose names the engine would resolve to another object's symbols.

    LLVM's MCJIT linker (RuntimeDyld) keeps one table of symbols by name for all objects,
    local (internal) ones included: a reference by name resolves to whatever the table holds,
    and a weak definition yields to any earlier entry.  So a strong definition may not reuse
    any loaded name, and a weak definition or an undefined reference may not name a loaded
    local symbol.  Weak (``linkonce_odr``) definitions of one name in several objects are
    fine (they must be the same function: the first is used), and so are local symbols of
    one name in several objects (an object's own symbols enter the table before its
    references are resolved)."""
    clash = strong & _GLOBALS | (weak | undefined) & _LOCALS
    if clash:
        raise ValueError(f"numgrad.llvm_jit: the module names {sorted(clash)}, which a loaded "
                         "module already defines (the engine would link one to the other); "
                         "give functions unique names")


def _load_libm():
    """Make libm's functions known to LLVM where the process has not loaded it globally."""
    import ctypes.util

    import llvmlite.binding as ll
    name = ctypes.util.find_library("m")
    if name:
        try:
            ll.load_library_permanently(name)
        except RuntimeError:        # the check after this names what is still missing
            pass


_SHT_SYMTAB = 2
_STB_GLOBAL, _STB_WEAK = 1, 2
_STT_SECTION, _STT_FILE = 3, 4


def elf_symbols(obj):
    """(undefined, strong, weak, local): the names of the symbols of the 64-bit little-endian
    ELF object `obj` (bytes) that it uses but does not define, defines, defines weakly,
    defines locally (internal functions and data; not section and file entries); None if
    `obj` is not such an object or does not parse."""
    if obj[:4] != b"\x7fELF" or obj[4:6] != b"\x02\x01":
        return None
    undefined, strong, weak, local = set(), set(), set(), set()
    try:
        shoff, = struct.unpack_from("<Q", obj, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
        # (sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, ...)
        sections = [struct.unpack_from("<IIQQQQI", obj, shoff + i * shentsize)
                    for i in range(shnum)]
        for _, kind, _, _, offset, size, link in sections:
            if kind != _SHT_SYMTAB:
                continue
            strings = sections[link][4]
            for at in range(offset + 24, offset + size, 24):    # entry 0 is the null symbol
                name, info, _other, section = struct.unpack_from("<IBBH", obj, at)
                bind, kind_ = info >> 4, info & 0xF
                if not name or kind_ in (_STT_SECTION, _STT_FILE):
                    continue
                start = strings + name
                text = obj[start:obj.index(b"\0", start)].decode()
                if section == 0:                                # SHN_UNDEF
                    undefined.add(text)
                else:
                    {_STB_GLOBAL: strong, _STB_WEAK: weak}.get(bind, local).add(text)
    except (struct.error, ValueError, IndexError, UnicodeDecodeError):
        return None
    return undefined, strong, weak, local


def cfunc(address, restype, argtypes):
    """A ctypes function calling the machine code at `address` (``CFUNCTYPE``: the GIL is
    released during the call).  `restype` None for void."""
    return ctypes.CFUNCTYPE(restype, *argtypes)(address)


def compile_count():
    """How many modules this process has compiled (not loaded from the cache)."""
    return _COUNTS["compiles"]


def cpu_seconds_breakdown():
    """This process's CPU seconds (of the calling threads) per stage: target machine and
    engine set-up (init), parse and verify, function and module passes, code generation
    (emit), cache read, link (add_object_file + finalize), cache write; and the counts of
    compiles, disk hits, links and in-memory hits."""
    return dict(_TIMES, **_COUNTS)
