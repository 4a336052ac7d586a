"""Translate a generated kernel's Python source straight into LLVM IR (no Numba front end).

Numba spends most of a fused kernel's cold compile before LLVM sees it: reading the bytecode,
typing, lowering (W2's kernel: ~0.4 s of 0.72 s), plus ~0.17 s the first time a process
compiles anything.  The kernels emit_cpu writes use a small dialect: ``for ... in range``,
``if``, assignments, scalar arithmetic, comparisons and conditional expressions, C-order array
indexing, casts (``np.float32(x)``) and calls of vecmath's functions and intrinsics.  This
module translates that dialect, and the vecmath functions the kernel calls, into one LLVM module
with the meaning Numba gives it:

* types come from Numba's own typing context (the same result type for ``float32 * 2``, the
  same casts for mixed operands), and values are cast and combined as Numba's lowering does;
* variables are typed per assignment, and where control flow merges (a loop's head, the end of
  an ``if``) the types are unified as Numba's SSA phi nodes are;
* vecmath's intrinsics (``_sel``, ``_fma``, ``_radd``, ``_f2i``, ...) emit the instructions
  their Numba ``codegen`` emits; vecmath's functions become ``alwaysinline`` LLVM functions.

Anything outside the dialect raises :class:`Unsupported`, and the kernel is compiled by Numba as
before (backends/cpu_llvm.py).  The translated and the Numba kernels are compared result for
result by tests/test_llvm_kernels.py.

A kernel's array arguments arrive as NumPy array objects (PyObject pointers: a ctypes call passes
them as they are, where extracting a data pointer in Python costs ~1 us per array); the kernel
reads the data pointer and the dims from the object's fields (ARRAY_DATA, ARRAY_DIMS: NumPy's
C layout, checked by backends/cpu_llvm.py before the first use).  The arrays must be
C-contiguous (emit_cpu passes them so; the caller checks).  Scalars arrive as themselves (a bool
as one byte).
"""
import ast
import functools
import inspect
import math
import operator
import textwrap

import numpy as np
from llvmlite import ir
from numba.core import types

__all__ = ["Unsupported", "translate", "numba_type_of"]


class Unsupported(Exception):
    """The source uses something this translator does not handle (Numba compiles it)."""


I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
# byte offsets of PyArrayObject's `data` and `dimensions` fields (after the object header)
ARRAY_DATA, ARRAY_DIMS = 16, 32
_NP_TYPES = {np.float32: types.float32, np.float64: types.float64, np.int32: types.int32,
             np.int64: types.int64, np.uint64: types.uint64, np.bool_: types.boolean,
             float: types.float64, int: types.int64, bool: types.boolean}
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
           ast.LShift: operator.lshift, ast.RShift: operator.rshift}
_CMPOPS = {ast.Lt: ("<", operator.lt), ast.LtE: ("<=", operator.le), ast.Gt: (">", operator.gt),
           ast.GtE: (">=", operator.ge), ast.Eq: ("==", operator.eq),
           ast.NotEq: ("!=", operator.ne)}


def numba_type_of(value):
    """The Numba type of a kernel argument (a NumPy array, a NumPy or Python scalar)."""
    if isinstance(value, np.ndarray):
        dt = _NP_TYPES.get(value.dtype.type)
        if dt is None or not value.flags.c_contiguous:
            raise Unsupported(f"array argument of dtype {value.dtype}")
        return types.Array(dt, value.ndim, "C")
    t = _NP_TYPES.get(type(value))
    if t is None:
        raise Unsupported(f"argument of type {type(value).__name__}")
    return t


# ---------------------------------------------------------------------------------------------
# types
# ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _typing():
    from numba.core.registry import cpu_target
    ctx = cpu_target.typing_context
    ctx.refresh()
    return ctx


@functools.lru_cache(maxsize=None)
def _resolve(fn, args):
    try:
        sig = _typing().resolve_function_type(fn, args, {})
    except Exception as e:      # Numba's TypingError: no implementation
        raise Unsupported(f"{fn} of {args}: {e.__class__.__name__}") from None
    if sig is None:
        raise Unsupported(f"{fn} of {args}")
    return sig


def _unify(a, b):
    if a == b:
        return a
    t = _typing().unify_types(types.unliteral(a), types.unliteral(b))
    if t is None or isinstance(t, types.Optional):
        raise Unsupported(f"cannot unify {a} and {b}")
    return t


def _value_type(t):
    if t == types.boolean:
        return I1
    if isinstance(t, types.Integer):
        return ir.IntType(t.bitwidth)
    if t == types.float32:
        return ir.FloatType()
    if t == types.float64:
        return ir.DoubleType()
    raise Unsupported(f"type {t}")


def _data_type(t):
    return I8 if t == types.boolean else _value_type(t)


def _const_type(value):
    if isinstance(value, (bool, np.bool_)):
        return types.boolean
    if isinstance(value, int):
        return types.literal(value) if -2 ** 63 <= value < 2 ** 63 else types.uint64
    t = _NP_TYPES.get(type(value))
    if t is None:
        raise Unsupported(f"constant {value!r}")
    return t


class Array:
    """An array value: its data pointer, dims (int64 values) and Numba type."""
    __slots__ = ("ptr", "shape", "type")

    def __init__(self, ptr, shape, type_):
        self.ptr, self.shape, self.type = ptr, shape, type_


class Vmc:
    """The wrapper module of compiler/vecmath_calls.py (``vmc``): ``vmc.exp_f32(x)`` is
    ``np.float32(vecmath's _exp_f32(x))``."""
    def __getattr__(self, name):
        from . import vecmath_calls
        return VmcCall(*vecmath_calls.wrapped(name))


class VmcCall:
    __slots__ = ("fn", "type")

    def __init__(self, fn, np_type):
        self.fn, self.type = fn, _NP_TYPES[np_type]


# ---------------------------------------------------------------------------------------------
# sources of the functions a kernel calls
# ---------------------------------------------------------------------------------------------
def _closure(fn):
    """{free variable: value} of a closure (scalar.py's libm helpers close over a ufunc)."""
    cells = fn.__closure__ or ()
    return {name: cell.cell_contents for name, cell in zip(fn.__code__.co_freevars, cells)}


@functools.lru_cache(maxsize=None)
def _function_ast(fn):
    """The FunctionDef of `fn`, parsed from its own lines only (parsing vecmath.py whole
    took ~30 ms of a process's first kernel)."""
    try:
        node = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        raise Unsupported(f"no source for {fn.__name__}") from None
    if not isinstance(node, ast.FunctionDef):
        raise Unsupported(f"no source for {fn.__name__}")
    return node


def _python_function(obj):
    """The Python function behind a callee (a Numba dispatcher's py_func), or None."""
    fn = getattr(obj, "py_func", obj)
    return fn if inspect.isfunction(fn) else None


# ---------------------------------------------------------------------------------------------
# casts and operators, as Numba lowers them
# ---------------------------------------------------------------------------------------------
def cast(b, v, frm, to):
    """`v` of Numba type `frm` as a `to` (Numba's context.cast for these scalar types)."""
    frm = types.unliteral(frm)
    if frm == to:
        return v
    if to == types.boolean:
        if isinstance(frm, types.Integer):
            return b.icmp_unsigned("!=", v, ir.Constant(v.type, 0))
        return b.fcmp_unordered("!=", v, ir.Constant(v.type, 0.0))
    lt = _value_type(to)
    if frm == types.boolean:
        return b.zext(v, lt) if isinstance(to, types.Integer) else b.uitofp(v, lt)
    if isinstance(frm, types.Integer) and isinstance(to, types.Integer):
        if to.bitwidth < frm.bitwidth:
            return b.trunc(v, lt)
        if to.bitwidth > frm.bitwidth:
            return b.sext(v, lt) if frm.signed else b.zext(v, lt)
        return v
    if isinstance(frm, types.Integer):
        return b.sitofp(v, lt) if frm.signed else b.uitofp(v, lt)
    if isinstance(to, types.Integer):
        return b.fptosi(v, lt) if to.signed else b.fptoui(v, lt)
    return b.fpext(v, lt) if to.bitwidth > frm.bitwidth else b.fptrunc(v, lt)


_FLOAT_OPS = {operator.add: "fadd", operator.sub: "fsub", operator.mul: "fmul",
              operator.truediv: "fdiv"}
_INT_OPS = {operator.add: "add", operator.sub: "sub", operator.mul: "mul",
            operator.and_: "and_", operator.or_: "or_", operator.xor: "xor",
            operator.lshift: "shl"}


def _int_divmod(b, x, y, signed):
    """Python's floor division and modulo of two integers (Numba's, with its error model
    "numpy": division by zero gives 0)."""
    zero, one = ir.Constant(x.type, 0), ir.Constant(x.type, 1)
    yzero = b.icmp_unsigned("==", y, zero)
    if not signed:
        ys = b.select(yzero, one, y)
        q, r = b.udiv(x, ys), b.urem(x, ys)
        return b.select(yzero, zero, q), b.select(yzero, zero, r)
    minint = ir.Constant(x.type, -(1 << (x.type.width - 1)))
    overflow = b.and_(b.icmp_signed("==", x, minint), b.icmp_signed("==", y, ir.Constant(x.type, -1)))
    ys = b.select(b.or_(yzero, overflow), one, y)
    q, r = b.sdiv(x, ys), b.srem(x, ys)
    fix = b.and_(b.icmp_signed("!=", r, zero), b.icmp_signed("<", b.xor(y, r), zero))
    q = b.select(fix, b.sub(q, one), q)
    r = b.select(fix, b.add(r, y), r)
    bad = b.or_(yzero, overflow)        # Numba gives 0, 0 for both
    return b.select(bad, zero, q), b.select(bad, zero, r)


def binop(b, op, va, ta, vb, tb):
    sig = _resolve(op, (ta, tb))
    r = sig.return_type
    a, c = cast(b, va, ta, sig.args[0]), cast(b, vb, tb, sig.args[1])
    a, c = cast(b, a, sig.args[0], r), cast(b, c, sig.args[1], r)
    if isinstance(r, types.Float):
        if op not in _FLOAT_OPS:
            raise Unsupported(f"float {op.__name__}")
        return getattr(b, _FLOAT_OPS[op])(a, c), r
    if r == types.boolean:
        names = {operator.and_: "and_", operator.or_: "or_", operator.xor: "xor"}
        if op not in names:
            raise Unsupported(f"bool {op.__name__}")
        return getattr(b, names[op])(a, c), r
    if not isinstance(r, types.Integer):
        raise Unsupported(f"{op.__name__} giving {r}")
    if op in _INT_OPS:
        return getattr(b, _INT_OPS[op])(a, c), r
    if op is operator.rshift:
        return (b.ashr(a, c) if r.signed else b.lshr(a, c)), r
    if op in (operator.floordiv, operator.mod):
        q, m = _int_divmod(b, a, c, r.signed)
        return (q if op is operator.floordiv else m), r
    raise Unsupported(f"integer {op.__name__}")


def compare(b, sym, op, va, ta, vb, tb):
    sig = _resolve(op, (ta, tb))
    t0, t1 = sig.args
    a, c = cast(b, va, ta, t0), cast(b, vb, tb, t1)
    if isinstance(t0, types.Float) and t0 == t1:
        if sym == "!=":
            return b.fcmp_unordered(sym, a, c), types.boolean
        return b.fcmp_ordered(sym, a, c), types.boolean
    if t0 == t1 == types.boolean:
        return b.icmp_unsigned(sym, a, c), types.boolean
    if isinstance(t0, types.Integer) and t0 == t1:
        fn = b.icmp_signed if t0.signed else b.icmp_unsigned
        return fn(sym, a, c), types.boolean
    raise Unsupported(f"comparison of {t0} and {t1}")


def truth(b, v, t):
    return cast(b, v, t, types.boolean)


# ---------------------------------------------------------------------------------------------
# vecmath's intrinsics: the instructions their Numba codegen emits
# ---------------------------------------------------------------------------------------------
class _Static:
    """The type of a compile-time Python object (a module, a function, a dtype)."""


STATIC = _Static()


def _intrinsic_sel(f, args):
    (c, tc), (a, ta), (x, tx) = args
    if tc != types.boolean:
        raise Unsupported("_sel of a non-bool condition")
    t = _unify(ta, tx)
    return f.b.select(c, cast(f.b, a, ta, t), cast(f.b, x, tx, t)), t


def _intrinsic_fma(f, args):
    from ..kernels import vecmath
    tys = [types.unliteral(t) for _, t in args]
    if not all(isinstance(t, types.Float) for t in tys):
        raise Unsupported("_fma of non-floats")
    t = functools.reduce(_unify, tys)
    a, b, c = [cast(f.b, v, tv, t) for v, tv in args]
    if getattr(vecmath, "_HAVE_FMA"):
        fn = f.mod.module.declare_intrinsic("llvm.fma", [a.type], ir.FunctionType(a.type, [a.type] * 3))
        return f.b.call(fn, [a, b, c]), t
    return f.b.fadd(f.b.fmul(a, b), c), t


def _intrinsic_radd(f, args):
    (a, ta), (x, tx) = args
    if ta != tx or not isinstance(ta, types.Float):
        raise Unsupported("_radd of mixed types")
    return f.b.fadd(a, x, flags=("reassoc",)), ta


def _intrinsic_imin(f, args):
    (a, ta), (x, tx) = args
    if not (isinstance(types.unliteral(ta), types.Integer)
            and isinstance(types.unliteral(tx), types.Integer)):
        raise Unsupported("_imin of non-integers")
    av, xv = cast(f.b, a, ta, types.int64), cast(f.b, x, tx, types.int64)
    return f.b.select(f.b.icmp_signed("<", xv, av), xv, av), types.int64


def _intrinsic_f2i(f, args):
    (x, t), = args
    if not isinstance(t, types.Float):
        raise Unsupported("_f2i of a non-float")
    it = types.int32 if t.bitwidth == 32 else types.int64
    return f.b.bitcast(x, _value_type(it)), it


def _i2f(width):
    ft = types.float32 if width == 32 else types.float64

    def emit(f, args):
        (v, t), = args
        t = types.unliteral(t)
        if not isinstance(t, types.Integer):
            raise Unsupported("_i2f of a non-integer")
        if t.bitwidth > width:
            v = f.b.trunc(v, ir.IntType(width))
        elif t.bitwidth < width:
            v = f.b.sext(v, ir.IntType(width))
        return f.b.bitcast(v, _value_type(ft)), ft
    return emit


def _intrinsic_empty(f, args):
    (n, tn), (dtype, tt) = args
    nt = _NP_TYPES.get(dtype) if tt is STATIC else None
    if nt is None or not isinstance(types.unliteral(tn), types.Integer):
        raise Unsupported("_empty of this dtype")
    return f.scratch_buffer(cast(f.b, n, tn, types.int64), nt), "array"


def _intrinsic_wide(f, args):
    from ..kernels import vecmath
    if getattr(vecmath, "_WIDE_VECTORS"):
        set.add(f.fn.attributes, '"prefer-vector-width"="512"')
    return None, types.none


def _intrinsic_noop(f, args):
    return None, types.none


def _libm(intrinsic=None, f32=None, f64=None):
    """A math function of one float as Numba lowers it (cpython/mathimpl.py): an LLVM
    intrinsic, or a libm function declared pure; integers are taken as float64."""
    def emit(f, args):
        (v, t), = args
        t = types.unliteral(t)
        if isinstance(t, (types.Integer, types.Boolean)):
            v, t = cast(f.b, v, t, types.float64), types.float64
        if not isinstance(t, types.Float):
            raise Unsupported(f"math of {t}")
        lt = v.type
        if intrinsic is not None:
            fn = f.mod.module.declare_intrinsic(intrinsic, [lt])
        else:
            name = f32 if t == types.float32 else f64
            fn = f.mod.module.globals.get(name)
            if fn is None:
                fn = ir.Function(f.mod.module, ir.FunctionType(lt, [lt]), name=name)
                fn.attributes.add("readonly")
                fn.attributes.add("nounwind")
        return f.b.call(fn, [v]), t
    return emit


def _math_handlers():
    """math.* and the NumPy ufuncs on one scalar, as Numba's mathimpl / npyfuncs lower them."""
    out = {}
    for intr, fns in (("llvm.exp", (math.exp, np.exp)), ("llvm.log", (math.log, np.log)),
                      ("llvm.sin", (math.sin, np.sin)), ("llvm.cos", (math.cos, np.cos)),
                      ("llvm.floor", (np.floor,)), ("llvm.ceil", (np.ceil,)),
                      ("llvm.trunc", (np.trunc,)), ("llvm.rint", (np.rint,)),
                      ("llvm.fabs", (np.fabs, math.fabs))):
        for fn in fns:
            out[fn] = _libm(intrinsic=intr)
    for name, fns in (("log1p", (math.log1p, np.log1p)), ("expm1", (math.expm1, np.expm1)),
                      ("erf", (math.erf,)), ("erfc", (math.erfc,)), ("tan", (math.tan, np.tan)),
                      ("asin", (math.asin, np.arcsin)), ("acos", (math.acos, np.arccos)),
                      ("atan", (math.atan, np.arctan)), ("asinh", (math.asinh, np.arcsinh)),
                      ("acosh", (math.acosh, np.arccosh)), ("atanh", (math.atanh, np.arctanh)),
                      ("sinh", (math.sinh, np.sinh)), ("cosh", (math.cosh, np.cosh)),
                      ("tanh", (math.tanh, np.tanh)), ("sqrt", (math.sqrt, np.sqrt)),
                      ("lgamma", (math.lgamma,))):
        for fn in fns:
            out[fn] = _libm(f32=name + "f", f64=name)
    return out


def _builtin_abs(f, args):
    (v, t), = args
    t = types.unliteral(t)
    if isinstance(t, types.Float):
        return _libm(intrinsic="llvm.fabs")(f, args)
    sig = _resolve(abs, (t,))
    v = cast(f.b, v, t, sig.return_type)
    neg = f.b.icmp_signed("<", v, ir.Constant(v.type, 0))
    return f.b.select(neg, f.b.neg(v), v), sig.return_type


def _math_copysign(f, args):
    (a, ta), (s, ts) = args
    sig = _resolve(math.copysign, (ta, ts))
    r = sig.return_type
    if not isinstance(r, types.Float):
        raise Unsupported(f"copysign giving {r}")
    a = cast(f.b, cast(f.b, a, ta, sig.args[0]), sig.args[0], r)
    s = cast(f.b, cast(f.b, s, ts, sig.args[1]), sig.args[1], r)
    fn = f.mod.module.declare_intrinsic("llvm.copysign", [a.type],
                                        ir.FunctionType(a.type, [a.type, a.type]))
    return f.b.call(fn, [a, s]), r


def _constructor(nt):
    def emit(f, args):
        (v, t), = args
        return cast(f.b, v, t, nt), nt
    return emit


@functools.lru_cache(maxsize=None)
def _handlers():
    """{Python object a kernel calls: emit(function translator, [(value, type)])}."""
    from ..kernels import vecmath
    out = {getattr(vecmath, name): fn for name, fn in (
        ("_sel", _intrinsic_sel), ("_fma", _intrinsic_fma), ("_radd", _intrinsic_radd),
        ("_imin", _intrinsic_imin), ("_f2i", _intrinsic_f2i), ("_i2f32", _i2f(32)),
        ("_i2f64", _i2f(64)), ("_empty", _intrinsic_empty),
        ("_prefer_wide_vectors", _intrinsic_wide), ("_always_inline", _intrinsic_noop))}
    out.update({np.float32: _constructor(types.float32), np.float64: _constructor(types.float64),
                np.int64: _constructor(types.int64), np.int32: _constructor(types.int32),
                np.uint64: _constructor(types.uint64), float: _constructor(types.float64),
                abs: _builtin_abs, math.copysign: _math_copysign})
    out.update(_math_handlers())
    return out


# ---------------------------------------------------------------------------------------------
# functions
# ---------------------------------------------------------------------------------------------
def _join(a, b):
    """The variables' types where two paths meet: unified as Numba unifies a phi's operands;
    an array bound differently on the two paths cannot be used after.  None: a path that
    returned (it does not meet the other)."""
    if a is None or b is None:
        return b if a is None else a
    out = {k: t for k, t in a.items() if not isinstance(t, Array) or b.get(k) is t}
    for k, t in b.items():
        if isinstance(t, Array):
            continue
        if k not in out:
            out[k] = t
        elif isinstance(out[k], Array):
            del out[k]
        else:
            out[k] = _unify(out[k], t)
    return out


class _Function:
    """One Python function's body translated into one LLVM function."""

    def __init__(self, mod, node, globals_):
        self.mod, self.node, self.globals = mod, node, globals_
        self.ret_type = None

    # -- frame -------------------------------------------------------------------------------
    def begin(self, fn):
        self.fn = fn
        entry = fn.append_basic_block("entry")
        self.b = ir.IRBuilder(fn.append_basic_block("body"))
        self.alloca_b = ir.IRBuilder(entry)
        self.slots, self.owned, self.env = {}, [], {}
        self.is_dry, self.memo = False, {}

    def finish_entry(self):
        self.alloca_b.branch(self.fn.blocks[1])

    def slot(self, name, t):
        s = self.slots.get((name, t))
        if s is None:
            s = self.slots[(name, t)] = self.alloca_b.alloca(_value_type(t), name=f"{name}.{t}")
            self.alloca_b.store(ir.Constant(_value_type(t), None), s)
        return s

    def scratch_buffer(self, n, nt):
        """A buffer of `n` `nt`s for one call site, freed when the site runs again and when
        the function returns (the kernels use a buffer only within one pass of a loop)."""
        s = self.alloca_b.alloca(I8.as_pointer())
        self.alloca_b.store(ir.Constant(I8.as_pointer(), None), s)
        self.owned.append(s)
        self.b.call(self.mod.libc("free"), [self.b.load(s)])
        size = self.b.mul(n, ir.Constant(I64, np.dtype(str(nt)).itemsize if nt != types.boolean else 1))
        p = self.b.call(self.mod.libc("malloc"), [size])
        self.b.store(p, s)
        return Array(self.b.bitcast(p, _data_type(nt).as_pointer()), [n], types.Array(nt, 1, "C"))

    def free_owned(self):
        for s in self.owned:
            self.b.call(self.mod.libc("free"), [self.b.load(s)])

    def dry(self, stmts, env):
        """The variables' types after `stmts` from `env`, emitting into a scratch function
        (once per statement list and types: a loop or `if` inside is not emitted again, its
        effect on the types is its own dry runs')."""
        key = (id(stmts), frozenset((k, id(t) if isinstance(t, Array) else t)
                                    for k, t in env.items()))
        if key in self.memo:
            got = self.memo[key]
            return None if got is None else dict(got)
        saved = self.b, self.env, self.is_dry
        self.b, self.env = ir.IRBuilder(self.mod.scratch_block()), dict(env)
        self.is_dry = True
        try:
            self.block(stmts)
            self.memo[key] = None if self.b.block.is_terminated else self.env
            return None if self.b.block.is_terminated else dict(self.env)
        finally:
            self.b, self.env, self.is_dry = saved

    def convert_to(self, target):
        """Store every scalar variable whose type differs from `target`'s into the slot of
        the target type (the phi's cast)."""
        for k, t in target.items():
            cur = self.env.get(k)
            if cur is None or isinstance(t, Array) or cur == t:
                continue
            v = self.b.load(self.slot(k, cur))
            self.b.store(cast(self.b, v, cur, t), self.slot(k, t))
        self.env = dict(target)

    def bind_args(self, node, arg_types, llargs):
        """Scalars into their variables' slots; an array is its data pointer and dims."""
        it = iter(llargs)
        for a, t in zip(node.args.args, arg_types):
            if isinstance(t, types.Array):
                data = next(it)
                shape = [next(it) for _ in range(t.ndim)]
                self.env[a.arg] = Array(data, shape, t)
            else:
                v = next(it)
                if t == types.boolean and v.type == I8:
                    v = self.b.icmp_unsigned("!=", v, ir.Constant(I8, 0))
                self.b.store(v, self.slot(a.arg, t))
                self.env[a.arg] = t

    # -- statements --------------------------------------------------------------------------
    def block(self, stmts):
        for st in stmts:
            if self.b.block.is_terminated:
                raise Unsupported("code after return")
            getattr(self, "st_" + type(st).__name__, self.unsupported)(st)

    def unsupported(self, node):
        raise Unsupported(f"{type(node).__name__} at line {getattr(node, 'lineno', '?')}")

    def st_Pass(self, node):
        pass

    def st_Expr(self, node):
        if isinstance(node.value, ast.Constant):        # a docstring
            return
        self.expr(node.value)

    def st_Assign(self, node):
        if len(node.targets) != 1:
            raise Unsupported("chained assignment")
        self.assign(node.targets[0], self.expr(node.value))

    def st_AugAssign(self, node):
        target = node.target
        load = ast.Name(target.id, ast.Load()) if isinstance(target, ast.Name) else \
            ast.Subscript(target.value, target.slice, ast.Load())
        self.assign(target, self.binop(node.op, self.expr(load), self.expr(node.value)))

    def assign(self, target, vt):
        v, t = vt
        if isinstance(target, ast.Name):
            if isinstance(t, Array):
                raise Unsupported("array value")
            if t == "array":
                self.env[target.id] = v
            elif t == "tuple" or t is STATIC or t == types.none:
                raise Unsupported(f"assignment of a {t}")
            else:
                self.b.store(v, self.slot(target.id, types.unliteral(t)))
                self.env[target.id] = types.unliteral(t)
        elif isinstance(target, ast.Tuple) and t == "tuple" and len(v) == len(target.elts):
            for e, item in zip(target.elts, v):
                self.assign(e, item)
        elif isinstance(target, ast.Subscript):
            arr, ptr = self.element(target)
            val = cast(self.b, v, t, arr.type.dtype)
            if arr.type.dtype == types.boolean:
                val = self.b.zext(val, I8)
            self.b.store(val, ptr)
        else:
            raise Unsupported("assignment target")

    def st_If(self, node):
        test = node.test
        if isinstance(test, ast.Constant):
            self.block(node.body if test.value else node.orelse)
            return
        c = truth(self.b, *self.expr(test))
        env0 = self.env
        merged = _join(self.dry(node.body, env0), self.dry(node.orelse, env0))
        if self.is_dry and merged is not None:
            self.env = merged
            return
        then_bb, else_bb = self.b.append_basic_block("then"), self.b.append_basic_block("else")
        end_bb = self.b.append_basic_block("endif")
        self.b.cbranch(c, then_bb, else_bb)
        for bb, stmts in ((then_bb, node.body), (else_bb, node.orelse)):
            self.b.position_at_end(bb)
            self.env = dict(env0)
            self.block(stmts)
            if not self.b.block.is_terminated:
                self.convert_to(merged)
                self.b.branch(end_bb)
        self.b.position_at_end(end_bb)
        if merged is None:          # both paths returned
            self.b.unreachable()
            merged = env0
        self.env = merged

    def st_For(self, node):
        it = node.iter
        if (node.orelse or not isinstance(node.target, ast.Name) or not isinstance(it, ast.Call)
                or self.static(it.func) is not range or it.keywords or not 1 <= len(it.args) <= 3):
            raise Unsupported("a loop other than `for name in range(...)`")
        bounds = [self.expr(a) for a in it.args]
        for _, t in bounds:
            t = types.unliteral(t)
            if not isinstance(t, types.Integer) or not t.signed:
                raise Unsupported(f"range over {t}")
        bounds = [cast(self.b, v, t, types.int64) for v, t in bounds]
        start, stop = (bounds[0], bounds[1]) if len(bounds) > 1 else (ir.Constant(I64, 0), bounds[0])
        step = 1
        if len(it.args) == 3:
            try:
                step = ast.literal_eval(it.args[2])
            except ValueError:
                step = None
            if not isinstance(step, int) or isinstance(step, bool) or not step:
                raise Unsupported("a range step that is not a constant")
        name = node.target.id
        env0 = self.env
        head = dict(env0)
        for _ in range(8):
            body_env = self.dry(node.body, dict(head, **{name: types.int64}))
            new = _join(env0, body_env)
            if new == head:
                break
            head = new
        else:
            raise Unsupported("loop types do not settle")
        if self.is_dry:
            self.env = head
            return
        self.convert_to(head)
        # Numba's range iterator (cpython/rangeobj.py): a trip count computed first, then
        # counted down (with nsw) beside the value: the same loop for LLVM to vectorise
        b = self.b
        cur, count = self.alloca_b.alloca(I64), self.alloca_b.alloca(I64)
        b.store(start, cur)
        zero, one, stp = ir.Constant(I64, 0), ir.Constant(I64, 1), ir.Constant(I64, step)
        diff = b.sub(stop, start)
        pos_diff = b.icmp_signed(">", diff, zero)
        differs = b.xor(pos_diff, ir.Constant(I1, int(step > 0)))
        rem = b.srem(diff, stp)
        rem = b.select(pos_diff, rem, b.neg(rem))
        n = b.add(b.sdiv(diff, stp), b.select(b.icmp_signed(">", rem, zero), one, zero))
        b.store(b.select(differs, zero, n), count)
        cond_bb = b.append_basic_block("for.cond")
        body_bb, end_bb = b.append_basic_block("for.body"), b.append_basic_block("for.end")
        b.branch(cond_bb)
        b.position_at_end(cond_bb)
        c = b.load(count)
        b.cbranch(b.icmp_signed(">", c, zero), body_bb, end_bb)
        b.position_at_end(body_bb)
        i = b.load(cur)
        b.store(b.sub(c, one, flags=["nsw"]), count)
        b.store(b.add(i, stp), cur)
        b.store(i, self.slot(name, types.int64))
        self.env = dict(head, **{name: types.int64})
        self.block(node.body)
        self.convert_to(head)
        self.b.branch(cond_bb)
        self.b.position_at_end(end_bb)
        self.env = head

    def st_Return(self, node):
        if node.value is None:
            self.ret(None, types.none)
            return
        vt = self.expr(node.value)
        self.ret(*vt)

    def ret(self, v, t):
        if self.fn.function_type.return_type == ir.VoidType() and t != types.none:
            # the typing pass: every return's type unified
            t_ = t if t != "tuple" else types.Tuple([types.unliteral(x) for _, x in v])
            if self.ret_type is None:
                self.ret_type = types.unliteral(t_)
            elif self.ret_type != t_:
                if isinstance(t_, types.BaseTuple) or isinstance(self.ret_type, types.BaseTuple):
                    raise Unsupported("returns of different tuple types")
                self.ret_type = _unify(self.ret_type, t_)
        if self.fn.function_type.return_type == ir.VoidType():
            if not self.fn.name.startswith("scratch"):
                self.free_owned()
            self.b.ret_void()
            return
        if t == "tuple":
            st = self.fn.function_type.return_type
            agg = ir.Constant(st, ir.Undefined)
            for k, ((x, tx), rt) in enumerate(zip(v, self.ret_type.types)):
                agg = self.b.insert_value(agg, cast(self.b, x, tx, rt), k)
            self.b.ret(agg)
        else:
            self.b.ret(cast(self.b, v, t, self.ret_type))

    # -- expressions: (value, type); an array is (Array, "array"), a tuple ([...], "tuple"),
    # a compile-time object (object, STATIC) ---------------------------------------------------
    def expr(self, node):
        return getattr(self, "ex_" + type(node).__name__, self.unsupported)(node)

    def static(self, node):
        v, t = self.expr(node)
        if t is not STATIC:
            raise Unsupported(f"not a compile-time object at line {node.lineno}")
        return v

    def constant(self, value):
        if isinstance(value, (VmcCall, Vmc, tuple)) or inspect.ismodule(value) \
                or callable(value):
            return value, STATIC
        t = _const_type(value)
        if t == types.boolean:
            return ir.Constant(I1, int(bool(value))), t
        return ir.Constant(_value_type(types.unliteral(t)), value.item() if hasattr(value, "item") else value), t

    def ex_Constant(self, node):
        return self.constant(node.value)

    def ex_Name(self, node):
        name = node.id
        t = self.env.get(name)
        if isinstance(t, Array):
            return t, "array"
        if t is not None:
            return self.b.load(self.slot(name, t)), t
        if name in self.globals:
            return self.constant(self.globals[name])
        import builtins
        if hasattr(builtins, name):
            return getattr(builtins, name), STATIC
        raise Unsupported(f"name {name!r}")

    def ex_Attribute(self, node):
        base = self.static(node.value)
        try:
            return self.constant(getattr(base, node.attr))
        except AttributeError:
            raise Unsupported(f"attribute {node.attr!r}") from None

    def ex_BinOp(self, node):
        return self.binop(node.op, self.expr(node.left), self.expr(node.right))

    def binop(self, op, a, c):
        fn = _BINOPS.get(type(op))
        if fn is None:
            raise Unsupported(type(op).__name__)
        return binop(self.b, fn, a[0], a[1], c[0], c[1])

    def ex_UnaryOp(self, node):
        v, t = self.expr(node.operand)
        if isinstance(node.op, ast.UAdd):
            return v, t
        if isinstance(node.op, ast.Not):
            return self.b.xor(truth(self.b, v, t), ir.Constant(I1, 1)), types.boolean
        if isinstance(node.op, ast.USub):
            sig = _resolve(operator.neg, (t,))
            r = sig.return_type
            x = cast(self.b, cast(self.b, v, t, sig.args[0]), sig.args[0], r)
            if isinstance(r, types.Float):
                return self.b.fneg(x), r
            if isinstance(r, types.Integer):
                return self.b.neg(x), r
        raise Unsupported(f"unary {type(node.op).__name__} of {t}")

    def ex_Compare(self, node):
        if len(node.ops) != 1:
            raise Unsupported("chained comparison")
        sym, fn = _CMPOPS.get(type(node.ops[0]), (None, None))
        if sym is None:
            raise Unsupported(type(node.ops[0]).__name__)
        (a, ta), (c, tc) = self.expr(node.left), self.expr(node.comparators[0])
        return compare(self.b, sym, fn, a, ta, c, tc)

    def ex_BoolOp(self, node):
        """``a and b`` / ``a or b`` of booleans (both evaluated: the kernels' operands have no
        side effects)."""
        vals = [self.expr(v) for v in node.values]
        if any(t != types.boolean for _, t in vals):
            raise Unsupported("and/or of non-booleans")
        op = self.b.and_ if isinstance(node.op, ast.And) else self.b.or_
        return functools.reduce(op, [v for v, _ in vals]), types.boolean

    def ex_IfExp(self, node):
        c = truth(self.b, *self.expr(node.test))
        (a, ta), (x, tx) = self.expr(node.body), self.expr(node.orelse)
        t = _unify(ta, tx)
        return self.b.select(c, cast(self.b, a, ta, t), cast(self.b, x, tx, t)), t

    def ex_Tuple(self, node):
        return [self.expr(e) for e in node.elts], "tuple"

    def element(self, node):
        """(the Array, a pointer to its element) of a subscript `a[i, j]`."""
        arr, t = self.expr(node.value)
        if t != "array":
            raise Unsupported("subscript of a non-array")
        idx = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if len(idx) != arr.type.ndim:
            raise Unsupported("partial indexing")
        offset = None
        for e, dim in zip(idx, arr.shape):
            v, ti = self.expr(e)
            ti = types.unliteral(ti) if not isinstance(ti, str) else None
            if not isinstance(ti, types.Integer):
                raise Unsupported("a non-integer index")
            v = cast(self.b, v, ti, types.int64 if ti.signed else types.uint64)
            if ti.signed:
                v = self.b.select(self.b.icmp_signed("<", v, ir.Constant(I64, 0)),
                                  self.b.add(v, dim), v)
            offset = v if offset is None else self.b.add(self.b.mul(offset, dim), v)
        return arr, self.b.gep(arr.ptr, [offset], inbounds=True)

    def ex_Subscript(self, node):
        if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, int):
            base, t = self.expr(node.value)
            if t is STATIC:         # a global tuple's element: a constant
                try:
                    return self.constant(base[node.slice.value])
                except (TypeError, IndexError):
                    raise Unsupported("subscript of a constant") from None
        arr, ptr = self.element(node)
        v = self.b.load(ptr)
        if arr.type.dtype == types.boolean:
            v = self.b.icmp_unsigned("!=", v, ir.Constant(I8, 0))
        return v, arr.type.dtype

    def ex_Call(self, node):
        if node.keywords:
            raise Unsupported("keyword arguments")
        callee = self.static(node.func)
        args = [self.expr(a) for a in node.args]
        if isinstance(callee, VmcCall):
            v, t = self.call(callee.fn, args)
            return cast(self.b, v, t, callee.type), callee.type
        try:
            handler = _handlers().get(callee)
        except TypeError:       # unhashable
            handler = None
        if handler is not None:
            return handler(self, args)
        fn = _python_function(callee)
        if fn is None:
            raise Unsupported(f"call of {callee!r}")
        return self.call(fn, args)

    def call(self, fn, args):
        for _, t in args:
            if isinstance(t, str) or t is STATIC:
                raise Unsupported(f"call of {fn.__name__} with a {t}")
        tys = tuple(types.unliteral(t) for _, t in args)
        llfn, ret = self.mod.callee(fn, tys)
        vals = [cast(self.b, v, t, ty) for (v, t), ty in zip(args, tys)]
        r = self.b.call(llfn, vals)
        if isinstance(ret, types.BaseTuple):
            return [(self.b.extract_value(r, k), t) for k, t in enumerate(ret.types)], "tuple"
        return r, ret


class _Module:
    """The LLVM module of one kernel and every function it calls."""

    def __init__(self):
        self.module = ir.Module(name="numgrad_kernel")
        self.scratch = ir.Module(name="scratch")
        self._scratch_fn = None
        self.functions = {}

    def scratch_block(self):
        """A new block of the one scratch function: where dry runs emit."""
        if self._scratch_fn is None:
            self._scratch_fn = ir.Function(self.scratch, ir.FunctionType(ir.VoidType(), []),
                                           name="scratch")
        return self._scratch_fn.append_basic_block()

    def libc(self, name):
        fn = self.module.globals.get(name)
        if fn is None:
            p = I8.as_pointer()
            ft = ir.FunctionType(p, [I64]) if name == "malloc" else ir.FunctionType(ir.VoidType(), [p])
            fn = ir.Function(self.module, ft, name=name)
        return fn

    def callee(self, fn, arg_types):
        key = (fn, arg_types)
        got = self.functions.get(key)
        if got is not None:
            return got
        node = _function_ast(fn)
        if node.args.vararg or node.args.kwarg or node.args.kwonlyargs or \
                len(node.args.args) != len(arg_types):
            raise Unsupported(f"the arguments of {fn.__name__}")
        f = _Function(self, node, dict(fn.__globals__, **_closure(fn)))
        # first pass: the return type (into a scratch function)
        scratch = ir.Function(self.scratch, ir.FunctionType(
            ir.VoidType(), [_value_type(t) for t in arg_types]),
            name=f"scratch{len(self.scratch.functions)}")
        f.begin(scratch)
        f.bind_args(node, arg_types, scratch.args)
        f.block(node.body)
        ret = f.ret_type
        if ret is None or ret == types.none:
            raise Unsupported(f"{fn.__name__} returns nothing")
        ll_ret = (ir.LiteralStructType([_value_type(t) for t in ret.types])
                  if isinstance(ret, types.BaseTuple) else _value_type(ret))
        name = f"{fn.__module__}.{fn.__name__}.{'_'.join(str(t) for t in arg_types)}"
        llfn = ir.Function(self.module, ir.FunctionType(ll_ret, [_value_type(t) for t in arg_types]),
                           name=name)
        llfn.linkage = "internal"
        llfn.attributes.add("alwaysinline")
        f.ret_type = ret
        f.begin(llfn)
        f.bind_args(node, arg_types, llfn.args)
        f.block(node.body)
        if not f.b.block.is_terminated:
            raise Unsupported(f"{fn.__name__} does not end in a return")
        f.finish_entry()
        self.functions[key] = (llfn, ret)
        return llfn, ret


def _abi_types(t):
    """The body function's parameters for an argument of Numba type `t`."""
    if isinstance(t, types.Array):
        return [_data_type(t.dtype).as_pointer()] + [I64] * t.ndim
    return [I8 if t == types.boolean else _value_type(t)]


def _module_globals(tree):
    """The names a kernel module's imports bind (the kernel's globals)."""
    import importlib
    g = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("numgrad_k_"):
                    g[alias.asname or alias.name] = Vmc()
                elif alias.asname:
                    g[alias.asname] = importlib.import_module(alias.name)
                else:
                    g[alias.name.split(".")[0]] = importlib.import_module(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.module == "numba":
                continue
            m = importlib.import_module(node.module)
            for alias in node.names:
                if alias.name == "*":
                    g.update({k: getattr(m, k) for k in getattr(m, "__all__", ())})
                else:
                    g[alias.asname or alias.name] = getattr(m, alias.name)
        elif not isinstance(node, ast.FunctionDef):
            raise Unsupported(f"module statement {type(node).__name__}")
    return g


def _entry(module, name, arg_types, body):
    """The external function `name`: arrays as NumPy objects, whose data pointer and dims it
    reads (ARRAY_DATA, ARRAY_DIMS), then calls the kernel's body with them.  The body is a
    function of its own (not inlined): its arrays are plain arguments, as in Numba's kernel,
    which LLVM vectorises as it does Numba's (inlined, the loads from the objects made it
    interleave W5's sums half as much)."""
    params = [I8.as_pointer() if isinstance(t, types.Array) else _abi_types(t)[0]
              for t in arg_types]
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), params), name=name)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    args = []
    for t, a in zip(arg_types, fn.args):
        if not isinstance(t, types.Array):
            args.append(a)
            continue
        args.append(b.load(b.bitcast(b.gep(a, [ir.Constant(I64, ARRAY_DATA)]),
                                     _data_type(t.dtype).as_pointer().as_pointer())))
        dims = b.load(b.bitcast(b.gep(a, [ir.Constant(I64, ARRAY_DIMS)]),
                                I64.as_pointer().as_pointer()))
        args += [b.load(b.gep(dims, [ir.Constant(I64, k)])) for k in range(t.ndim)]
    b.call(body, args)
    b.ret_void()


def translate(source, arg_types, name, function="kernel"):
    """LLVM IR (text) of `function` of the kernel module `source` for arguments of Numba types
    `arg_types`, as an external function `name` returning nothing; raises Unsupported."""
    tree = ast.parse(source)
    node = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function),
                None)
    if node is None:
        raise Unsupported(f"no function {function!r}")
    if len(node.args.args) != len(arg_types) or node.args.vararg or node.args.kwonlyargs:
        raise Unsupported("argument count")
    mod = _Module()
    params = [p for t in arg_types for p in _abi_types(t)]
    body = ir.Function(mod.module, ir.FunctionType(ir.VoidType(), params), name=name + ".body")
    body.linkage = "internal"
    body.attributes.add("noinline")
    f = _Function(mod, node, _module_globals(tree))
    f.begin(body)
    f.bind_args(node, arg_types, body.args)
    f.block(node.body)
    if not f.b.block.is_terminated:
        f.free_owned()
        f.b.ret_void()
    f.finish_entry()
    _entry(mod.module, name, arg_types, body)
    return str(mod.module)
