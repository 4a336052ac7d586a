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
             "Sigmoid": "sigmoid", "Sin": "sin", "Cos": "cos", "Tan": "tan", "Erf": "erf",
             "Atan": "atan", "Asin": "asin", "Acos": "acos", "Atan2": "atan2",
             "Erfc": "erfc", "Digamma": "digamma", "Lgamma": "lgamma"}
# functions of two operands (all others take one)
_ARITY = {"atan2": 2}


# op type -> expression over the operands ({0}, {1}) built from vecmath functions ({w}: f32 or
# f64; {z}: a zero of the dtype); the same values as the op's scalar template in
# kernels/cpu/scalar.py, to vecmath's accuracy.  Constants are float64, as in the templates.
COMPOSED = {
    "Softplus": "(({0} if {0} > {z} else {z}) + vmc.log1p_{w}(vmc.exp_{w}(-abs({0}))))",
    "Elu": "({0} if {0} > {z} else vmc.expm1_{w}({0}))",
    "Selu": "(1.0507009873554805 * {0} if {0} > {z} else "
            "1.7580993408473766 * vmc.expm1_{w}({0}))",
    "Xlogy": "({z} if {0} == {z} else {0} * vmc.log_{w}({1}))",
    "Xlog1py": "({z} if {0} == {z} else {0} * vmc.log1p_{w}({1}))",
    # inverse hyperbolic functions (as glibc's): log1p forms near 0, log(a) + ln2 for huge a
    "Asinh": "np.copysign(vmc.log_{w}(abs({0})) + {c}(0.6931471805599453) if abs({0}) > "
             "{c}(268435456.0) else vmc.log1p_{w}(abs({0}) + abs({0}) * abs({0}) / ({c}(1) + "
             "sqrt({c}(1) + abs({0}) * abs({0})))), {0})",
    "Acosh": "(vmc.log_{w}({0}) + {c}(0.6931471805599453) if {0} > {c}(268435456.0) else "
             "vmc.log1p_{w}(({0} - {c}(1)) + sqrt(({0} - {c}(1)) * ({0} + {c}(1)))) "
             "if {0} >= {c}(1) else {c}(np.nan))",
    "Atanh": "np.copysign({c}(0.5) * vmc.log1p_{w}({c}(2) * abs({0}) + {c}(2) * abs({0}) * "
             "abs({0}) / ({c}(1) - abs({0})) if abs({0}) < {c}(0.5) else {c}(2) * abs({0}) / "
             "({c}(1) - abs({0}))), {0})",
    # hyperbolic functions: expm1 form for sinh, exp(a/2) squared where exp(a) would overflow
    "Sinh": "np.copysign({c}(0.5) * (vmc.expm1_{w}(abs({0})) + vmc.expm1_{w}(abs({0})) / "
            "(vmc.expm1_{w}(abs({0})) + {c}(1))) if abs({0}) <= {c}(20) else "
            "({c}(0.5) * vmc.exp_{w}({c}(0.5) * abs({0}))) * vmc.exp_{w}({c}(0.5) * abs({0})), "
            "{0})",
    "Cosh": "({c}(0.5) * vmc.exp_{w}(abs({0})) + {c}(0.5) / vmc.exp_{w}(abs({0})) if abs({0}) "
            "<= {c}(20) else ({c}(0.5) * vmc.exp_{w}({c}(0.5) * abs({0}))) * "
            "vmc.exp_{w}({c}(0.5) * abs({0})))",
}


def _source():
    lines = ["import numgrad.kernels.vecmath as vm", "from numba import njit", ""]
    for name in sorted(set(FUNCTIONS.values())):
        args = ", ".join("xyzw"[:_ARITY.get(name, 1)])
        for width in ("f32", "f64"):
            lines += ["",
                      "@njit(error_model='numpy', cache=True, nogil=True)",
                      f"def {name}_{width}({args}):",
                      "    vm._always_inline()",
                      f"    return vm._{name}_{width}({args})",
                      ""]
    return "\n".join(lines)


SOURCE = _source()


def module_name():
    """The name (in sys.modules) of the loaded wrapper module; kernels `import` it."""
    return cache.load(SOURCE).__name__


def call(op_type, dtype, *operands):
    """Source of the expression computing `op_type` of `operands` in `dtype` with vecmath
    (a call, or a COMPOSED expression), or None if vecmath has no vectorised version."""
    if dtype.kind != "f" or dtype.itemsize not in (4, 8):
        return None
    width = "f32" if dtype.itemsize == 4 else "f64"
    name = FUNCTIONS.get(op_type)
    if name is not None:
        return f"vmc.{name}_{width}({', '.join(operands[:_ARITY.get(name, 1)])})"
    tpl = COMPOSED.get(op_type)
    if tpl is None:
        return None
    ctor = f"np.float{dtype.itemsize * 8}"
    return tpl.format(*operands, w=width, z=f"{ctor}(0)", c=ctor)
