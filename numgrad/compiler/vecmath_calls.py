"""The compiled vecmath functions that big kernels call.

Kernels over big iteration spaces need vecmath's branch-free math (libm does not vectorise).
Pasting each function's text into every kernel made Numba type and lower ~400-line loops:
~2.5 s per kernel.  Instead, one cached module (in the kernel cache, like the kernels) holds a
small wrapper per function and dtype, marked ``alwaysinline``: Numba compiles each wrapper
once per machine (then loads it from disk), a kernel's source has one call per operation
(~0.6 s to compile), and LLVM inlines the calls into the loop and vectorises it as before.
Each wrapper casts its result to its width, so a call of a ``_f32`` wrapper is a float32 for
Numba's typing and the kernel needs no cast of its own (compiler/numba_types.py; the cast
converts nothing where vecmath's function already returns that width).

A wrapper pastes the function it wraps (``vm.body_name``) and calls the vecmath functions that
one shares with others, which Numba compiles once per process (kernels/vecmath.py,
"Compiling").  Only kernels call the wrappers, so they are compiled without Python or C
entry points (WRAPPER_OPTIONS): ~20 ms less per wrapper; called from Python, one would
crash.

Which op computes with which function is declared with the op (ops/registry.Template's
``vecmath`` or ``vecmath_expr``); this module only turns those declarations into source.
"""
import functools

import numpy as np

from .. import cache
from ..kernels import vecmath
from ..ops.registry import find_op_def, get_op_def, op_types


def functions():
    """{vecmath function name: operand count} of every op declared with ``vecmath=`` (its
    registry.Template): the wrappers the cached module holds."""
    out = {}
    for t in op_types():
        forms = get_op_def(t).forms
        if forms is not None and forms.vecmath is not None:
            out[forms.vecmath] = forms.arity()
    return out


# Kernels are the only callers: no Python or C entry points (a wrapper's compile is ~20 ms
# shorter without them; called from Python, a wrapper would crash).
WRAPPER_OPTIONS = ("error_model='numpy', cache=True, nogil=True, no_cfunc_wrapper=True, "
                   "no_cpython_wrapper=True")


def _source():
    lines = ["import numpy as np", "import numgrad.kernels.vecmath as vm",
             "from numba import njit", ""]
    for name, arity in sorted(functions().items()):
        args = ", ".join("xyzw"[:arity])
        for width in ("f32", "f64"):
            body = vecmath.body_name(f"_{name}_{width}")
            lines += ["",
                      f"@njit({WRAPPER_OPTIONS})",
                      f"def {name}_{width}({args}):",
                      "    vm._always_inline()",
                      f"    return np.float{width[1:]}(vm.{body}({args}))",
                      ""]
    return "\n".join(lines)


def wrapped(wrapper):
    """(the Python function of vecmath that wrapper `wrapper` (``"exp_f32"``) computes, the
    NumPy type it casts the result to): what compiler/llvm_translate.py compiles in its place."""
    name, _, width = wrapper.rpartition("_")
    if width not in ("f32", "f64") or name not in functions():
        raise AttributeError(wrapper)
    fn = getattr(vecmath, f"_{name}_{width}")
    return getattr(fn, "py_func", fn), {"f32": np.float32, "f64": np.float64}[width]


@functools.lru_cache(maxsize=None)
def source():
    """The wrapper module's source (built once every op is registered: on first use)."""
    return _source()


def module_name():
    """The name (in sys.modules) of the loaded wrapper module; kernels `import` it."""
    return cache.load(source()).__name__


def call(op_type, dtype, *operands):
    """Source of the expression computing `op_type` of `operands` in `dtype` with vecmath
    (the call its declaration names, or its ``vecmath_expr``), or None if vecmath has no
    vectorised version."""
    if dtype.kind != "f" or dtype.itemsize not in (4, 8):
        return None
    op_def = find_op_def(op_type)
    forms = None if op_def is None else op_def.forms
    if forms is None:
        return None
    width = "f32" if dtype.itemsize == 4 else "f64"
    if forms.vecmath is not None:
        return f"vmc.{forms.vecmath}_{width}({', '.join(operands[:forms.arity()])})"
    if forms.vecmath_expr is None:
        return None
    ctor = f"np.float{dtype.itemsize * 8}"
    return forms.vecmath_expr.format(*operands, w=width, z=f"{ctor}(0)", c=ctor)
