"""The compiled vecmath functions that big kernels call.

Kernels over big iteration spaces need vecmath's branch-free math (libm does not vectorise).
Pasting each function's text into every kernel made Numba type and lower ~400-line loops:
~2.5 s per kernel.  Instead, one cached module (in the kernel cache, like the kernels) holds a
small wrapper per function and dtype, marked ``alwaysinline``: Numba compiles each wrapper
once per machine (then loads it from disk), a kernel's source has one call per operation
(~0.6 s to compile), and LLVM inlines the calls into the loop and vectorises it as before.
"""
from .. import cache

# op type -> vecmath function name (vecmath has _<name>_f32 and _<name>_f64)
FUNCTIONS = {"Exp": "exp", "Log": "log", "Log1p": "log1p", "Expm1": "expm1", "Tanh": "tanh",
             "Sigmoid": "sigmoid", "Sin": "sin", "Cos": "cos", "Tan": "tan", "Erf": "erf"}


def _source():
    lines = ["import numgrad.kernels.vecmath as vm", "from numba import njit", ""]
    for name in sorted(set(FUNCTIONS.values())):
        for width in ("f32", "f64"):
            lines += ["",
                      "@njit(error_model='numpy', cache=True, nogil=True)",
                      f"def {name}_{width}(x):",
                      "    vm._always_inline()",
                      f"    return vm._{name}_{width}(x)",
                      ""]
    return "\n".join(lines)


SOURCE = _source()


def module_name():
    """The name (in sys.modules) of the loaded wrapper module; kernels `import` it."""
    return cache.load(SOURCE).__name__


def call(op_type, dtype, operand):
    """Source of the call computing `op_type` of `operand` in `dtype`, or None if vecmath has
    no vectorised version of that op."""
    name = FUNCTIONS.get(op_type)
    if name is None or dtype.kind != "f" or dtype.itemsize not in (4, 8):
        return None
    return f"vmc.{name}_{'f32' if dtype.itemsize == 4 else 'f64'}({operand})"
