"""The options of the ``@njit`` decorators in the sources numgrad generates.

Numba compiles two wrappers around every function besides its native code: a C-ABI "cfunc"
wrapper (for calls through a C function pointer) and a CPython wrapper (unboxing each
argument from a Python object, boxing the result).  numgrad never calls a function through
its C pointer, so every generated function leaves the cfunc wrapper out; a function that
only njit code calls (a plan function's kernels) leaves the CPython
wrapper out too.  Compile seconds of the generated kernels of W1-W5 (the same process, each
compiled 3 times, alternating, loaded development VM, sum over 12 kernels of 8-22
arguments, min / median): both wrappers 2.54 / 3.01, no cfunc wrapper 2.28 / 2.37, neither
1.92 / 2.04 (docs/benchmarks.md).

A generated kernel that keeps its CPython wrapper gets numgrad's lean one, not Numba's
(numgrad/numba_wrapper.py: arrays read straight from the ndarray, no MemInfo per argument;
W5's five step kernels compiled 0.1-0.2 s faster, and a call with 16 arrays took 1.3 us
instead of 2.4-4.4).

A function without a CPython wrapper cannot be called from Python: Numba would call a null
pointer (the process crashes).  The kernel that says so is KernelSpec.python_callable
(compiler/emit_cpu.py); its runner refuses the call.
"""

__all__ = ["jit_options"]


def jit_options(njit_only=False):
    """The njit keyword options (source text) of a generated function: cached, releasing
    the GIL, no cfunc wrapper; `njit_only`: no CPython wrapper either."""
    return ("cache=True, nogil=True, no_cfunc_wrapper=True"
            + (", no_cpython_wrapper=True" if njit_only else ""))
