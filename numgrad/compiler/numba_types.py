"""Which generated scalar expressions Numba types as exactly a given dtype, so the emitters can
leave out the cast (``v3 = np.float32(...)``) that would otherwise pin the type.

A cast is a typed call that Numba resolves, lowers and hands to LLVM in every kernel, even
where it converts nothing: W1's kernel had 23 of them, and leaving them out took its compile
from 0.47-0.58 s to 0.38-0.48 s (fresh processes, the vecmath wrappers cached).  Where the
expression's type already is the dtype the cast is the identity, so the machine code and the
results do not change.

The rules (Numba 0.6x's typing, checked by tests/test_numba_types.py against Numba itself):

- float32, float64, complex64 and complex128: ``+ - * /`` of two values of the type and unary
  minus give the type (no promotion between equal float types);
- int64: ``+ - *`` and unary minus give int64 (``/`` gives float64);
- int32: arithmetic promotes to int64, so only a plain value is an int32;
- ``x if c else y`` with x and y of the type and a bool c gives the type;
- a vecmath wrapper ``vmc.<name>_f32(...)`` / ``_f64(...)`` of values of the type gives the
  type: the wrapper casts its result (compiler/vecmath_calls.py);
- for float32 and float64, ``abs`` and the scalar helpers SAME_FLOAT_TYPE names (NumPy's
  one-argument ufuncs) of a value of the type give the type;
- a constructor of the type (``np.float32(...)``, which a Cast writes) of one value of any
  type gives the type.

Anything else keeps its cast: a literal (Numba types ``0.5`` as float64 and ``2`` as int64),
a scalar helper (``sigmoid`` of a float32 returns float64), a comparison, mixed dtypes, bool
and unsigned results.  The operands' types are their values' dtypes: every name a kernel binds
to a value (a load, a scalar argument, an earlier ``v<id>``) holds exactly its dtype.
"""
import re

import numpy as np

__all__ = ["keeps_dtype", "SAME_FLOAT_TYPE"]

# The scalar helpers of kernels/cpu/scalar.py whose result has the type of their float32 or
# float64 argument (each is NumPy's one-argument ufunc, which keeps a float's width).  Listed
# here, not imported from there: importing the helpers imports Numba's extension API, which
# the emitter (run by processes that only load cached kernels too) does not otherwise need.
# tests/test_numba_types.py checks each against Numba and that scalar.py defines it.
SAME_FLOAT_TYPE = ("exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sqrt", "floor",
                   "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "ceil",
                   "rint")

_TOKEN = re.compile(r"(?:vmc|np)\.\w+|[A-Za-z_]\w*|\S")
_SAME_FLOAT = frozenset(SAME_FLOAT_TYPE + ("abs",))
_ARITH = {"f": "+-*/", "c": "+-*/"}


def _operators(dtype):
    """The binary operators closed over `dtype` in Numba's typing (None: no rule for it)."""
    if dtype.kind in _ARITH and dtype.itemsize in (4, 8, 16):
        return _ARITH[dtype.kind]
    if dtype == np.int64:
        return "+-*"
    if dtype == np.int32:
        return ""
    return None


def _symbols(expr, operand_dtypes, dtype):
    """`expr` as a string of symbols: X a value of `dtype`, B a bool value, Y a value of
    another dtype, F a function whose result has its arguments' type (a vecmath wrapper of
    `dtype`'s width, a SAME_FLOAT_TYPE helper), K `dtype`'s constructor, I / E the ``if`` /
    ``else`` of a conditional, and the punctuation ``( ) , + - * /``; None if it has
    anything else (a literal, another function, an operator such as ``>``)."""
    width = f"_f{dtype.itemsize * 8}" if dtype.kind == "f" else None
    out = []
    for tok in _TOKEN.findall(expr):
        if tok in operand_dtypes:
            dt = operand_dtypes[tok]
            out.append("X" if dt == dtype else "B" if dt == np.bool_ else "Y")
        elif tok.startswith("vmc."):
            if width is None or not tok.endswith(width):
                return None
            out.append("F")
        elif tok == f"np.{dtype.name}":
            out.append("K")
        elif tok in _SAME_FLOAT and width is not None:
            out.append("F")
        elif tok in ("if", "else"):
            out.append("I" if tok == "if" else "E")
        elif tok in "(),+-*/":
            out.append(tok)
        else:
            return None
    return "".join(out)


def keeps_dtype(expr, operand_dtypes, dtype):
    """Whether Numba types the scalar expression `expr` as exactly `dtype` (a NumPy dtype),
    given the dtype of each name it reads (`operand_dtypes`: name -> dtype)."""
    dtype = np.dtype(dtype)
    ops = _operators(dtype)
    s = None if ops is None else _symbols(expr, operand_dtypes, dtype)
    if s is None:
        return False
    cls = re.escape(ops)
    steps = [(re.compile(r"F\(X(,X)*\)"), "X"), (re.compile(r"K\([XYB]\)"), "X"),
             (re.compile(r"\(X\)"), "X"),
             (re.compile(r"XIBEX"), "X")]
    if ops:
        steps += [(re.compile(f"X[{cls}]X"), "X"),
                  (re.compile(f"(^|[(,IE{cls}])-X"), r"\1X")]
    prev = None
    while s != prev:
        prev = s
        for pattern, repl in steps:
            s = pattern.sub(repl, s)
    return s == "X"
