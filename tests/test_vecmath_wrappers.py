"""The compiled vecmath wrappers (compiler/vecmath_calls.py) and the two ways vecmath's typed
kernels reach them (kernels/vecmath.py, "Compiling"): pasted into the caller's Numba IR
(``_inlined``) or compiled once and inlined by LLVM (``_linked``).

Whichever way a function is compiled, a loop calling it must inline it completely and
vectorise, and give the results of every other path to the same function bit for bit: the
public generic functions called from Python (their own compile of the typed kernels) are the
second path here; the accuracy against NumPy is test_vecmath.py's.
"""
import re

import numba
import numpy as np
import pytest
from numba import njit

from numgrad.compiler import vecmath_calls
from numgrad.kernels import vecmath as vm

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

# (function, width): a wrapper that pastes a function calling a linked one (erf_f32: the
# float64 erf; tanh_f64: expm1) or a linked one with pasted helpers inside (sin_f32)
CASES = [("erf", "f32"), ("tanh", "f64"), ("sin", "f32")]
DTYPES = {"f32": np.float32, "f64": np.float64}


@pytest.fixture(scope="module")
def wrappers():
    """The wrapper module's functions defined anew from its source without Numba's cache
    (Numba cannot show the LLVM IR of code it loaded from its cache)."""
    ns = {}
    exec(vecmath_calls.source().replace("cache=True, ", ""), ns)     # noqa: S102
    return ns


def test_wrappers_paste_their_function_and_have_no_entry_points():
    source = vecmath_calls.source()
    for name, arity in vecmath_calls.functions().items():
        for width in DTYPES:
            args = ", ".join("xyzw"[:arity])
            block = source.split(f"def {name}_{width}(")[0].rsplit("@njit(", 1)[1]
            assert "no_cpython_wrapper=True" in block and "no_cfunc_wrapper=True" in block
            body = vm.body_name(f"_{name}_{width}")
            assert f"return np.float{width[1:]}(vm.{body}({args}))" in source
            assert getattr(vm, body).targetoptions.get("inline") == "always", (name, width)


def test_linked_kernels_bodies_are_made_on_first_use():
    # a _linked kernel's pasting twin is made when a wrapper is compiled, not at import
    import subprocess
    import sys
    code = ("import numgrad.kernels.vecmath as vm\n"
            "assert '_exp_f64_body' not in vars(vm)\n"
            "assert vm.body_name('_exp_f64') == '_exp_f64_body'\n"
            "assert vm.body_name('_tanh_f64') == '_tanh_f64'\n"
            "b = vm._exp_f64_body\n"
            "assert vars(vm)['_exp_f64_body'] is b and vm._exp_f64_body is b\n"
            "assert b.py_func is vm._exp_f64.py_func\n"
            "try:\n    vm._tanh_f64_body\nexcept AttributeError:\n    pass\n"
            "else:\n    raise SystemExit('an _inlined kernel has no twin')\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_float32_wrappers_link_the_float64_kernel(wrappers):
    # erf_f32 evaluates in float64: the float64 kernel is compiled on its own (once, for
    # both widths' wrappers), without a Python entry point, and marked for LLVM inlining
    wrappers["erf_f32"].compile((numba.float32,))
    assert (numba.float64,) in vm._erf_f64.overloads
    opts = vm._erf_f64.targetoptions
    assert opts["forceinline"] and opts["no_cpython_wrapper"] and opts["no_cfunc_wrapper"]
    assert opts["error_model"] == "numpy" and not opts["fastmath"]


@pytest.mark.parametrize("name,width", CASES)
def test_wrapper_loop_inlines_everything_and_matches_the_public_function(wrappers, name,
                                                                       width):
    wrapper = wrappers[f"{name}_{width}"]

    @njit(error_model="numpy")
    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = wrapper(x[i])

    dtype = DTYPES[width]
    ty = numba.float32 if width == "f32" else numba.float64
    sig = (ty[::1], ty[::1])
    loop.compile(sig)
    llvm = loop.inspect_llvm(sig)
    symbols = re.findall(r"^define [^@]*@(\S+?)\(", llvm, re.M) + \
        re.findall(r"call [^@\n]*@([\w.$]+)\(", llvm)
    # no vecmath function left, defined or called: the wrapper and the linked kernels are
    # all inlined into the loop
    assert not [s for s in symbols if re.search(r"kernels7vecmath|_f(32|64)B", s)], symbols
    lanes = r"<(4|8|16) x float>" if width == "f32" else r"<(2|4|8) x double>"
    assert re.search(lanes, llvm), "loop not vectorised"

    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-6, 6, 301), rng.standard_normal(200) * 30,
                        [0.0, -0.0, np.inf, -np.inf, np.nan]]).astype(dtype)
    got = np.empty_like(x)
    loop(x, got)
    public = getattr(vm, name)          # the generic function, called from Python
    want = np.array([public(v) for v in x], dtype)
    assert want.dtype == dtype
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
