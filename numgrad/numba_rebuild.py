"""A cached kernel's compile result read and rebuilt with less work than Numba's own load.

numba_load.py loads numgrad's cached machine code without Numba's registry refresh; this
module does the reading and rebuilding for it.  Numba's data file holds a pickled compile
result: the library (its ELF object code, and the bitcode of its module for linking into
other libraries), the function's description and the environments its code refers to.
Numba's own rebuild does two things a kernel that is only called does not need:

* It parses the linking bitcode (a module as big as the kernel, the inlined vecmath
  included) and walks its functions for the engine's table of defined symbols.  The module
  is only needed if a function calling this one is compiled later (a plan function), so
  :func:`rebuild` keeps the bitcode and parses it then (``_get_module_for_linking``); the
  table gets the object code's defined symbols, read from its ELF symbol table: the same
  names (checked on 324 cached kernels: every name the module defines, and besides them
  only the object file's STT_FILE entry).  W6's 18 kernels: 84 ms of parsing and 18 ms of
  walking on the loaded development VM, against ~1 ms of reading symbol tables.
* Unpickling an environment imports its module for its globals: the kernels that allocate
  arrays (the opaque softmax kernel, the fused loops' partial buffers) refer to environments
  of ``numba.np.arrayobj``, whose import pulls in eight more of Numba's modules (25-50 ms,
  once a process).  Only object mode reads an environment's globals (nopython code reads its
  constants), and numgrad's functions are all nopython, so :func:`read_entry` gives an
  environment whose module is not imported yet a dict holding only the module's name
  (``__name__``, which Numba reads to decide that the environment can be cached).

Both fall back to Numba's own behaviour where an entry is not of the shape they know.
"""
import io
import pickle
import struct
import sys
import threading

__all__ = ["read_entry", "rebuild", "elf_symbols"]


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "numba.core.environment" and name == "_rebuild_env":
            return _rebuild_env
        return super().find_class(module, name)


def _rebuild_env(modname, consts, env_name):
    """Numba's ``environment._rebuild_env`` without importing `modname` when it is not
    imported yet (see the module docstring)."""
    from numba.core.environment import Environment, lookup_environment

    env = lookup_environment(env_name)
    if env is not None:
        return env
    module = sys.modules.get(modname)
    env = Environment(module.__dict__ if module is not None else {"__name__": modname})
    env.consts[:] = consts
    env.env_name = env_name
    Environment._memo[env_name] = env
    return env


def read_entry(cache_file, key, index=None):
    """The unpickled data of `key` in `cache_file` (a Numba ``IndexDataCacheFile``), or None
    on a miss, with environments as :func:`_rebuild_env` makes them; `index` is the file's
    index if the caller has read it already.  Another kind of cache file loads its own way."""
    from numba.core.caching import IndexDataCacheFile

    if not isinstance(cache_file, IndexDataCacheFile) or not hasattr(cache_file, "_data_path"):
        return cache_file.load(key)
    data_name = (cache_file._load_index() if index is None else index).get(key)
    if data_name is None:
        return None
    try:
        with open(cache_file._data_path(data_name), "rb") as f:
            data = f.read()
    except OSError:         # removed while the index still names it: a miss, as in Numba
        return None
    return _Unpickler(io.BytesIO(data)).load()


_LAZY = {}
_LAZY_LOCK = threading.Lock()


def _lazy_class(base):
    """A subclass of the code library class `base` that parses its linking bitcode when it
    is first linked into another library."""
    with _LAZY_LOCK:
        cls = _LAZY.get(base)
        if cls is None:
            class LazyLinkingLibrary(base):
                _linking_bitcode = None

                def _get_module_for_linking(self):
                    bitcode = self._linking_bitcode
                    if bitcode is not None:
                        import llvmlite.binding as ll
                        self._shared_module = ll.parse_bitcode(bitcode)
                        self._linking_bitcode = None
                    return super()._get_module_for_linking()

            cls = _LAZY[base] = LazyLinkingLibrary
    return cls


def _unserialize(codegen, libdata):
    """Numba's ``unserialize_library`` of an object-code library, its linking bitcode left
    unparsed; Numba's own where `libdata` is of another shape."""
    engine = getattr(codegen, "_engine", None)
    try:
        name, kind, (object_code, bitcode) = libdata
        _undefined, defined = elf_symbols(object_code)
    except (TypeError, ValueError, struct.error):
        defined = None
    if defined is None or kind != "object" or not hasattr(engine, "_defined_symbols"):
        return type(codegen).unserialize_library(codegen, libdata)
    library = _lazy_class(codegen._library_class)(codegen, name)
    library.enable_object_caching()
    library._set_compiled_object(object_code)
    library._linking_bitcode = bitcode
    library._finalize_final_module()
    engine._defined_symbols |= defined
    return library


def rebuild(cache, target_context, data):
    """The compile result of `data` (what :func:`read_entry` returned) for `cache` (a Numba
    function cache): Numba's rebuild, with the library made by :func:`_unserialize` (put on
    the shared codegen for the rebuild, under Numba's compiler lock, as every load runs)."""
    from numba.core import compiler
    from numba.core.caching import CompileResultCacheImpl
    from numba.core.compiler_lock import global_compiler_lock

    if type(cache._impl) is not CompileResultCacheImpl:
        return cache._impl.rebuild(target_context, data)
    codegen = target_context.codegen()
    with global_compiler_lock:
        codegen.unserialize_library = lambda libdata: _unserialize(codegen, libdata)
        try:
            return compiler.CompileResult._rebuild(target_context, *data)
        finally:
            del codegen.unserialize_library


_SHT_SYMTAB = 2
_STT_SECTION, _STT_FILE = 3, 4


def elf_symbols(obj):
    """(undefined, defined) symbol names of the 64-bit little-endian ELF object `obj`
    (bytes), or None if it is not one; section and file entries are not symbols of the code.
    Raises struct.error or ValueError if it is truncated."""
    if obj[:4] != b"\x7fELF" or obj[4:6] != b"\x02\x01":
        return None
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
    # (sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, ...)
    sections = [struct.unpack_from("<IIQQQQII", obj, shoff + i * shentsize)
                for i in range(shnum)]
    undefined, defined = set(), set()
    for _, kind, _, _, offset, size, link, _ in sections:
        if kind != _SHT_SYMTAB:
            continue
        strings = sections[link][4]
        for at in range(offset + 24, offset + size, 24):      # entry 0 is the null symbol
            name, info, _other, section = struct.unpack_from("<IBBH", obj, at)
            if not name or (info & 0xF) in (_STT_SECTION, _STT_FILE):
                continue
            start = strings + name
            text = obj[start:obj.index(b"\0", start)].decode()
            (undefined if section == 0 else defined).add(text)      # 0: SHN_UNDEF
    return undefined, defined
