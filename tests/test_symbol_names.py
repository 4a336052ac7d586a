"""Functions that fused kernels call have names of their own.

Numba names a compiled function's symbol after its module, its qualname and a per-process
counter.  Two different functions with one module and qualname (closures made by one
factory) can therefore get one symbol name in two processes; a kernel loaded from the cache
then calls whatever function of that name the current process defined first.  With Numba's
optimisation off (NUMBA_OPT=0) nothing is inlined and cached `sin` kernels computed `cos`."""
import os
import subprocess
import sys
import types

import pytest

from numgrad.kernels import arith
from numgrad.kernels.cpu import scalar

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def test_the_scalar_functions_kernels_call_have_distinct_qualnames():
    seen = {}
    for mod in (scalar, arith):
        for name in getattr(mod, "__all__", dir(mod)):
            fn = getattr(mod, name)
            if not isinstance(fn, types.FunctionType):
                continue
            key = (fn.__module__, fn.__qualname__)
            assert seen.setdefault(key, fn) is fn, (
                f"{mod.__name__}.{name} and another function share the qualname {key}")
    assert len(seen) > 40


PROGRAM = (
    "import sys, numpy as np, numgrad as ng\n"
    "x = ng.placeholder(ng.float64, [2, 3])\n"
    "v = np.linspace(-1, 1, 6).reshape(2, 3)\n"
    "with ng.Session(backend='cpu') as s:\n"
    "    for f in sys.argv[1].split(','):\n"
    "        got = s.run(getattr(ng, f)(x), {x: v})\n"
    "        print(f, 'ok' if np.allclose(got, getattr(np, f)(v)) else 'WRONG')\n")


def test_a_cached_kernel_calls_its_own_function_without_inlining(tmp_path):
    env = dict(os.environ, NUMGRAD_INTERPRET_CALLS="0", NUMGRAD_CACHE_DIR=str(tmp_path),
               NUMGRAD_BACKGROUND_COMPILE="0", NUMBA_OPT="0")
    outs = []
    for fns in ("sin", "cos,sin"):      # the second compiles cos, then loads the cached sin
        out = subprocess.run([sys.executable, "-c", PROGRAM, fns], env=env,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        outs += out.stdout.split()
    assert outs == ["sin", "ok", "cos", "ok", "sin", "ok"]
