"""numgrad/numba_load.py: cached kernels load without Numba's registry refresh, only where
every symbol they declare resolves, and a later compile in the same process still works."""
import contextlib
import os
import subprocess
import sys

import llvmlite.binding as ll
import pytest

from numgrad import numba_load

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

GRAPH = (
    "import sys, numpy as np, numgrad as ng\n"
    "x = ng.placeholder(ng.float64, [6])\n"
    "loss = ng.reduce_sum(ng.tanh(x) * x)\n"
    "s = ng.Session(backend='cpu')\n"
    "v = np.linspace(-1.0, 1.0, 6)\n"
    "l, g = s.run([loss, ng.gradients(loss, x)[0]], {x: v})\n"
    "t = np.tanh(v)\n"
    "assert np.isclose(l, (t * v).sum()) and np.allclose(g, (1 - t * t) * v + t)\n")

AFTER = (
    "print('refreshed' if 'numba.np.arraymath' in sys.modules else 'not-refreshed')\n"
    "from numba import njit\n"
    "@njit\n"
    "def new_kernel(a):\n"
    "    return np.sin(a).sum() + np.ones(2)\n"      # compiles: arraymath, NRT allocation
    "assert np.allclose(new_kernel(v), np.sin(v).sum() + 1)\n"
    "l2, g2 = s.run([loss, ng.gradients(loss, x)[0]], {x: v + 1})\n"
    "t = np.tanh(v + 1)\n"
    "assert np.allclose(g2, (1 - t * t) * (v + 1) + t)\n"
    "print('compiled-after-load', 'linalg' if 'scipy.linalg' in sys.modules else 'no-linalg')\n")


def test_a_warm_process_loads_without_the_refresh_and_compiles_after(warm_pair):
    # the first process compiles (Numba refreshes: its registries are imported)...
    assert warm_pair[0]["graph"] == ["refreshed"]
    # ...the second only loads: no registry import, right values, and a new compile (which
    # refreshes) and the loaded kernels' next calls still work
    assert warm_pair[1]["graph"] == ["not-refreshed"]
    assert warm_pair[1]["after"] == ["compiled-after-load", "no-linalg"]


# --- the decision, on a stand-in for Numba's cache ------------------------------------------------
def _payload(ir):
    """A cache entry as Numba's data file holds it, for a library whose linking module is `ir`
    (the object code is not looked at)."""
    bitcode = ll.parse_assembly(ir).as_bitcode()
    return ("lib", "object", (b"", bitcode)), "fndesc", "env"


RESOLVED = ("declare double @llvm.fabs.f64(double)\n"
            "declare void @NRT_MemInfo_call_dtor(i8*)\n"
            "define double @f(double %x) {\n  %y = call double @llvm.fabs.f64(double %x)\n"
            "  ret double %y\n}\n")
UNRESOLVED = RESOLVED + "declare double @numgrad_test_nowhere(double)\n"


class _FakeCache:
    """The attributes of Numba's Cache that numba_load uses."""

    _name = "fake"
    _enabled = True

    def __init__(self, data):
        self._cache_file = self
        self._impl = self
        self.data = data

    def _index_key(self, sig, codegen):
        return sig

    def load(self, key):
        return self.data

    def rebuild(self, target_context, data):
        return ("rebuilt", data)

    @contextlib.contextmanager
    def _guard_against_spurious_io_errors(self):
        yield


class _FakeContext:
    def codegen(self):
        return None


@pytest.fixture
def nrt_uninitialised(monkeypatch):
    """A process that has not compiled anything yet (the NRT is initialised by a compile)."""
    from numba.core.runtime import rtsys
    monkeypatch.setattr(rtsys, "_init", False)


def _numba_load(sig, target_context):
    return "numba's load"


def test_unresolved_symbols_lists_only_the_names_nothing_provides():
    numba_load._add_runtime_symbols()
    assert numba_load.unresolved_symbols(_payload(RESOLVED)) == set()
    assert numba_load.unresolved_symbols(_payload(UNRESOLVED)) == {"numgrad_test_nowhere"}
    assert numba_load.unresolved_symbols((("lib", "object", b"not a pair"),)) == {"?"}


def _object_code(ir):
    import numba.core.codegen  # noqa: F401  (initialises LLVM's native target)
    module = ll.parse_assembly(ir)
    return ll.Target.from_default_triple().create_target_machine().emit_object(module)


CALLS = ("declare double @numgrad_test_nowhere(double)\n"
         "declare void @NRT_MemInfo_call_dtor(i8*)\n"
         "define double @g(double %x, i8* %m) {\n"
         "  call void @NRT_MemInfo_call_dtor(i8* %m)\n"
         "  %y = call double @numgrad_test_nowhere(double %x)\n  ret double %y\n}\n")


def test_the_object_codes_undefined_symbols_are_read_from_its_elf_symbol_table():
    obj = _object_code(CALLS)
    if obj[:4] != b"\x7fELF":
        pytest.skip("not an ELF platform: the bitcode's declarations are checked instead")
    assert numba_load.elf_undefined_symbols(obj) == {"numgrad_test_nowhere",
                                                     "NRT_MemInfo_call_dtor"}
    numba_load._add_runtime_symbols()
    data = (("lib", "object", (obj, b"no bitcode: the ELF table is enough")),)
    assert numba_load.unresolved_symbols(data) == {"numgrad_test_nowhere"}
    assert numba_load.elf_undefined_symbols(b"not an object") is None
    assert numba_load.unresolved_symbols((("lib", "object", (obj[:80], b"")),)) == {"?"}


def test_an_entry_whose_symbols_resolve_is_rebuilt_directly(nrt_uninitialised):
    data = _payload(RESOLVED)
    got = numba_load.load_overload(_FakeCache(data), "sig", _FakeContext(), _numba_load)
    assert got == ("rebuilt", data)


def test_an_unresolved_symbol_falls_back_to_numbas_load(nrt_uninitialised):
    got = numba_load.load_overload(_FakeCache(_payload(UNRESOLVED)), "sig", _FakeContext(),
                                   _numba_load)
    assert got == "numba's load"


def test_a_miss_is_none_and_a_disabled_cache_loads_nothing(nrt_uninitialised):
    assert numba_load.load_overload(_FakeCache(None), "sig", _FakeContext(), _numba_load) is None
    off = _FakeCache(_payload(RESOLVED))
    off._enabled = False
    assert numba_load.load_overload(off, "sig", _FakeContext(), _numba_load) is None


def test_after_a_compile_numbas_own_load_runs(monkeypatch):
    from numba.core.runtime import rtsys
    monkeypatch.setattr(rtsys, "_init", True)
    got = numba_load.load_overload(_FakeCache(_payload(RESOLVED)), "sig", _FakeContext(),
                                   _numba_load)
    assert got == "numba's load"


def test_a_cache_without_the_expected_attributes_uses_numbas_load(nrt_uninitialised):
    class Other:
        pass
    assert numba_load.load_overload(Other(), "sig", _FakeContext(), _numba_load) == "numba's load"


# --- a kernel's cached machine code is loaded with its module (numba_load.preload) ------------------
KERNEL = ("from numba import njit\n\n\n"
          "@njit(cache=True)\n"
          "def kernel(a):\n"
          "    return a * 2.0 + 1.0\n")



def test_a_loaded_kernel_has_its_cached_machine_code_before_its_first_call(warm_pair):
    # `kernel` loaded (cache.load), its overloads counted before its first call; the cold
    # process then compiles a float64 and a float32 signature (WARM_PAIR below)
    counts = [int(out["preloaded"][0]) for out in warm_pair]
    assert counts == [0, 2]         # the second process finds both saved signatures


def test_preload_leaves_functions_without_a_cache_or_with_code_alone():
    class Compiled:
        overloads = {"sig": "code"}

    class NoCache:
        overloads = {}
    assert numba_load.preload(Compiled()) == 0
    assert numba_load.preload(NoCache()) == 0


# --- the kernel module's code object (cache._module_code) ------------------------------------------
def test_the_module_code_is_kept_and_reused_only_for_its_own_path(tmp_path):
    from numgrad import cache
    path = str(tmp_path / "numgrad_k_x.py")
    source = "VALUE = 41 + 1\n"
    code = cache._module_code(path, source, "numgrad_k_x")
    kept = list((tmp_path / "__pycache__").glob("numgrad_k_x.*.ngcode"))
    assert len(kept) == 1 and code.co_filename == path
    ns = {}
    exec(cache._module_code(path, source, "numgrad_k_x"), ns)
    assert ns["VALUE"] == 42
    # a copy of the directory elsewhere compiles again: the code must name its own file
    other = tmp_path / "copy"
    (other / "__pycache__").mkdir(parents=True)
    (other / "__pycache__" / kept[0].name).write_bytes(kept[0].read_bytes())
    assert cache._module_code(str(other / "numgrad_k_x.py"), source,
                              "numgrad_k_x").co_filename == str(other / "numgrad_k_x.py")
    # a damaged copy is compiled again and rewritten
    kept[0].write_bytes(b"garbage")
    exec(cache._module_code(path, source, "numgrad_k_x"), ns)
    assert ns["VALUE"] == 42 and kept[0].read_bytes() != b"garbage"


# --- functions compiled as their module runs (explicit signatures: plan functions, loops) ----------
EXPLICIT = ("from numba import njit\n\n\n"
            "@njit('float64(float64)', cache=True)\n"
            "def loop(x):\n"
            "    return x * 3.0\n")



def test_a_function_loaded_as_its_module_runs_skips_the_refresh_too(warm_pair):
    # `loop` loaded and called first thing in each process (WARM_PAIR below)
    assert [out["explicit"] for out in warm_pair] == [["refreshed"], ["not-refreshed"]]


def test_only_numgrads_functions_take_the_light_load():
    class Cache:
        def __init__(self, module):
            self._py_func = type("F", (), {"__module__": module})()
    assert numba_load._numgrads(Cache("numgrad_k_0123"))
    assert numba_load._numgrads(Cache("numgrad.kernels.cpu.softmax"))
    assert not numba_load._numgrads(Cache("users_model"))
    assert not numba_load._numgrads(Cache("numgradient_tools"))


class _IndexedCache(_FakeCache):
    """A stand-in cache whose index holds one entry, for this machine."""

    def _index_key(self, sig, codegen):
        return (sig, "this machine")

    def _load_index(self):
        return {("sig", "this machine"): "file"}


class _FakeDispatcher:
    def __init__(self, data):
        self._cache = _IndexedCache(data)
        self.overloads, self.added = {}, []
        self.targetctx = self

    def codegen(self):
        return None

    def insert_user_function(self, *args):
        pass

    def add_overload(self, cres):
        self.added.append(cres)


class _Rebuilt:
    objectmode, entry_point, fndesc, library = True, None, None, None


def test_preload_loads_what_resolves_and_leaves_the_rest_to_the_first_call(nrt_uninitialised):
    ok = _FakeDispatcher(_payload(RESOLVED))
    ok._cache.rebuild = lambda ctx, data: _Rebuilt()
    assert numba_load.preload(ok) == 1 and len(ok.added) == 1
    later = _FakeDispatcher(_payload(UNRESOLVED))     # its symbol registered before its call
    assert numba_load.preload(later) == 0 and later.added == []
    broken = _FakeDispatcher(_payload(RESOLVED))
    broken._cache.rebuild = lambda ctx, data: 1 / 0   # the call's own load will warn
    assert numba_load.preload(broken) == 0 and broken.added == []


# --- the Numba functions an opaque kernel calls are loaded before its first call ---------------
HELPERS = ("from numba import njit\n\n\n"
           "@njit(cache=True)\n"
           "def cached(a):\n"
           "    return a + 1.0\n\n\n"
           "@njit\n"
           "def uncached(a):\n"
           "    return a - 1.0\n\n\n"
           "def make(inner):\n"
           "    def run(a):\n"
           "        return inner(cached(uncached(a)))\n"
           "    return run\n\n\n"
           "run = make(cached)\n")


def test_called_dispatchers_are_the_cached_globals_and_closure_functions(tmp_path):
    from numgrad import cache, config
    with config.override(NUMGRAD_CACHE_DIR=str(tmp_path)):
        module = cache.load(HELPERS)
    assert numba_load.called_dispatchers(module.run) == [module.cached, module.cached]
    assert numba_load.called_dispatchers(module.make) == []
    assert numba_load.called_dispatchers(len) == []


def test_preloading_preloads_once_before_the_first_call(monkeypatch):
    seen = []
    monkeypatch.setattr(numba_load, "called_dispatchers", lambda fn: ["d1", "d2"])
    monkeypatch.setattr(numba_load, "preload", lambda d: seen.append(d))
    double = numba_load.preloading(lambda x: 2 * x)
    assert seen == []
    assert double(3) == 6 and seen == ["d1", "d2"]
    assert double(4) == 8 and seen == ["d1", "d2"]


SOFTMAX = (
    "import sys, numpy as np, numgrad as ng\n"
    "from numba.core import entrypoints\n"
    "x = ng.placeholder(ng.float64, [3, 4])\n"
    "v = np.arange(12.0).reshape(3, 4)\n"
    "y = ng.Session(backend='cpu').run(ng.nn.softmax(x), {x: v})\n"
    "e = np.exp(v - v.max(1, keepdims=True))\n"
    "assert np.allclose(y, e / e.sum(1, keepdims=True))\n"
    "print('entry-points-run' if entrypoints._already_initialized else 'no-entry-points')\n")


def test_a_warm_process_runs_an_opaque_kernel_without_numbas_compile_path(warm_pair):
    # once everything is cached (the first run saves what it compiles; the softmax kernel's
    # own cache is beside its module), a process finds the kernel's machine code preloaded:
    # its call skips Numba's compile path, which runs Numba's extension entry points first
    assert warm_pair[1]["opaque"] == ["no-entry-points"]


# --- the four checks above in one pair of processes -------------------------------------------
# Each fresh process pays Python's, numgrad's and Numba's start-up (about 0.7 CPU s): the four
# checks of a warm process share one cold process (it compiles and saves everything) and one
# warm one (the file alone, cold cache: 8 subprocesses -> 2, CPU s 7.6, 8.7 -> 3.5, 3.6).  The
# warm process loads in the order below, so each check sees at least what it saw in a process
# of its own: nothing it ran before compiled anything (each load is checked not to refresh
# Numba or run its entry points before the next one starts), and only the last steps compile.
WARM_PAIR = (
    "import sys, numpy as np\n"
    "from numba.core import entrypoints\n"
    "from numgrad import cache\n"
    "def refresh():\n"
    "    return 'refreshed' if 'numba.np.arraymath' in sys.modules else 'not-refreshed'\n"
    "assert cache.load(sys.argv[2], 'loop')(2.0) == 6.0\n"     # EXPLICIT
    "print('explicit', refresh())\n"
    "fn = cache.load(sys.argv[1], 'kernel')\n"                 # KERNEL
    "print('preloaded', len(fn.overloads))\n"                  # machine code before a call
    "assert np.array_equal(fn(np.arange(3.0)), [1.0, 3.0, 5.0])\n"
    + SOFTMAX.replace("print(", "print('opaque', ")
    + GRAPH + "print('graph', refresh())\n"
    + AFTER.split("\n", 1)[1].replace("print(", "print('after', ")
    + "assert fn(np.float32(1.0)) == 3.0\n")     # a new signature still compiles


@pytest.fixture(scope="module")
def warm_pair(tmp_path_factory):
    """The labelled lines WARM_PAIR printed in a cold process and then in a warm one:
    [{label: [words]}, {label: [words]}]."""
    cache_dir = tmp_path_factory.mktemp("warm_pair")
    env = dict(os.environ, NUMGRAD_INTERPRET_CALLS="0", NUMGRAD_CACHE_DIR=str(cache_dir),
               NUMGRAD_BACKGROUND_COMPILE="0")
    outs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", WARM_PAIR, KERNEL, EXPLICIT], env=env,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        lines = [line.split() for line in out.stdout.splitlines()]
        outs.append({words[0]: words[1:] for words in lines})
    return outs


# --- which kernels are saved, by their index files' names (cache.index_names) ------------------
TWO_FUNCTIONS = ("import numpy as np\n"
                 "from numba import njit\n\n\n"
                 "@njit(cache=True)\n"
                 "def first(a):\n"
                 "    return a + 1.0\n\n\n"
                 "@njit('float64(float64)', cache=True, nogil=True)\n"
                 "def second(x):\n"
                 "    return x * 2.0\n\n\n"
                 "@njit\n"
                 "def not_cached(x):\n"
                 "    return x\n")


def test_index_names_are_the_files_numba_saves(tmp_path):
    import numpy as np
    from numgrad import cache, config
    key = cache.source_key(TWO_FUNCTIONS)
    names = cache.index_names(key, TWO_FUNCTIONS)
    assert [n.split(".")[1] for n in names] == ["first-5", "second-10"]
    with config.override(NUMGRAD_CACHE_DIR=str(tmp_path)):
        module = cache.load(TWO_FUNCTIONS)          # `second` compiles as its module runs
        assert module.first(np.ones(2))[0] == 2.0
    saved = sorted(p.name for p in (tmp_path / "__pycache__").glob("*.nbi"))
    assert saved == sorted(names)
