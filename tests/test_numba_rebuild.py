"""numgrad/numba_rebuild.py: a cached kernel is rebuilt without importing its environments'
modules and without parsing its linking bitcode, and stays usable: it runs, and a function
compiled later that calls it links it."""
import os
import sys

import llvmlite.binding as ll
import pytest

from numgrad import numba_rebuild
from two_processes import run_twice

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

IR = ("@table = global [2 x double] [double 1.0, double 2.0]\n"
      "@counter = internal global i64 0\n"
      "declare double @numgrad_test_nowhere(double)\n"
      "define internal double @helper(double %x) {\n"
      "  %y = call double @numgrad_test_nowhere(double %x)\n  ret double %y\n}\n"
      "define double @entry(double %x) {\n"
      "  %n = load i64, i64* @counter\n  %m = add i64 %n, 1\n  store i64 %m, i64* @counter\n"
      "  %y = call double @helper(double %x)\n  ret double %y\n}\n")


def _object_code(ir):
    import numba.core.codegen  # noqa: F401  (initialises LLVM's native target)
    module = ll.parse_assembly(ir)
    return ll.Target.from_default_triple().create_target_machine().emit_object(module)


def test_elf_symbols_are_the_modules_defined_and_declared_names():
    obj = _object_code(IR)
    if obj[:4] != b"\x7fELF":
        pytest.skip("not an ELF platform: Numba's own rebuild is used")
    module = ll.parse_assembly(IR)
    defined = {g.name for gs in (module.functions, module.global_variables) for g in gs
               if not g.is_declaration}
    undefined, got = numba_rebuild.elf_symbols(obj)
    # the internal helper may be inlined away; everything the object keeps is the module's
    assert {"entry", "table"} <= got <= defined
    assert undefined == {"numgrad_test_nowhere"}
    assert numba_rebuild.elf_symbols(b"not an object") is None
    with pytest.raises((ValueError, Exception)):
        numba_rebuild.elf_symbols(obj[:80])


def test_an_environment_of_a_module_not_imported_gets_only_its_name():
    from numba.core.environment import lookup_environment
    name = "numgrad_test_never_imported_module"
    assert name not in sys.modules
    env = numba_rebuild._rebuild_env(name, [1.5], "numgrad_test_env_a")
    assert env.globals == {"__name__": name} and list(env.consts) == [1.5]
    assert env.can_cache()          # Numba reads __name__ to decide that
    assert lookup_environment("numgrad_test_env_a") is env
    assert numba_rebuild._rebuild_env(name, [9.0], "numgrad_test_env_a") is env   # memo
    imported = numba_rebuild._rebuild_env("os", [], "numgrad_test_env_b")
    assert imported.globals is os.__dict__


KERNEL = ("import numpy as np\n"
          "from numba import njit\n\n\n"
          "@njit(cache=True)\n"
          "def kernel(a):\n"
          "    out = np.empty_like(a)\n"
          "    for i in range(a.size):\n"
          "        out[i] = a[i] * 2.0 + 1.0\n"
          "    return out\n")

LOAD_THEN_LINK = (
    "import sys, numpy as np\n"
    "from numgrad import cache\n"
    "fn = cache.load(sys.argv[1], 'kernel')\n"
    "v = np.arange(4.0)\n"
    "assert np.array_equal(fn(v), 2 * v + 1)\n"
    "cres = next(iter(fn.overloads.values()))\n"
    "lib = cres.library\n"
    "print(type(lib).__name__, 'arrayobj' if 'numba.np.arrayobj' in sys.modules else "
    "'no-arrayobj')\n"
    "unimported = [e.globals for e in cres.referenced_envs or () if len(e.globals) == 1]\n"
    "print('name-only-envs' if unimported else 'module-envs')\n"
    "print('bitcode-kept' if getattr(lib, '_linking_bitcode', None) else 'no-bitcode')\n"
    "from numba import njit\n"
    "@njit\n"
    "def caller(a):\n"
    "    return fn(a).sum()\n"          # compiles: links the loaded kernel's library
    "assert caller(v) == (2 * v + 1).sum()\n"
    "assert np.array_equal(fn(v + 1), 2 * v + 3)\n"
    "print('linked', 'parsed' if getattr(lib, '_linking_bitcode', 0) is None else 'unparsed')\n")


def test_a_loaded_kernel_runs_and_links_into_a_later_compile(tmp_path):
    outs = [out.split() for out in run_twice(LOAD_THEN_LINK, KERNEL, tmp_path)]
    # the first process compiled (Numba's libraries); the second loaded without importing
    # numba.np.arrayobj (its environment has only its name), kept the linking bitcode, and
    # parsed it when `caller` linked the kernel
    assert outs[0][0] != "LazyLinkingLibrary"
    if outs[1][0] != "LazyLinkingLibrary":
        pytest.skip("not an ELF platform: Numba's own rebuild is used")
    assert outs[1] == ["LazyLinkingLibrary", "no-arrayobj", "name-only-envs", "bitcode-kept",
                       "linked", "parsed"]
