"""A lean CPython wrapper for numgrad's generated kernels.

Numba compiles, besides a function's native code, a CPython wrapper that unboxes each
argument from its Python object.  An array argument goes through
``NRT_adapt_ndarray_from_python``, which allocates a MemInfo holding a reference to the
array, and the wrapper releases it again after the call (``NRT_decref``, inlined); each
argument also gets an error block that releases the arguments before it.  A step kernel of
W5 has 16 array arguments: its wrapper's IR (1,270 lines) is as big as the kernel's loop
nest.  Numba building that IR in Python and LLVM optimising and compiling it was ~0.25 s of
W5's ~1.0 s cold first call (its five kernels compiled with and without the wrapper, the
same process, alternating).

A generated kernel only reads and writes the arrays it is given, for the length of the
call, and returns nothing: it needs no MemInfo of its own.  So :func:`install` has Numba
build, for numgrad's generated kernels (functions of the kernel cache's ``numgrad_k_*``
modules, returning None) whose arguments are all integers, floats, booleans and arrays of
those, a wrapper that fills each array's native structure straight from the ``ndarray``
object's fields (data, dimensions and strides; the MemInfo is null, the parent is the
array, as Numba's own wrapper sets it), unboxes scalars as Numba does, releases the GIL
around the call if the kernel is ``nogil`` and raises the kernel's exception if it raised
one.  Numba's reference counting treats a null MemInfo as nothing to count, and by the
time the wrapper runs, Numba's dispatcher has matched each argument's type (dtype,
dimensions, layout, writeability, alignment) against the kernel's compiled signature.
Any other function's wrapper is Numba's.

Building it with llvmlite's IR builder, as Numba does, saved only half of the wrapper's cost
(the builder itself is most of it), so the wrapper is written as LLVM IR text
(:func:`wrapper_text`, a few lines an argument) and linked into the kernel's library as it
is, without the per-function passes Numba runs on every module it adds (the module passes
at finalisation optimise it with the kernel); only its error path, a small helper, is built
by Numba's own ``raise_error``.  W5's five kernels compiled in 0.87 / 0.97 s with Numba's
wrappers, 0.76 / 0.78 s with these and 0.70 / 0.73 s with none (min / median of 4, the same
process, alternating; load ~9); the kernels' machine code is the same either way.

The wrapper goes into the kernel's library like Numba's (it is cached with it).  Fields
read from ``PyArrayObject`` (NumPy's public C struct, unchanged since NumPy 1.7 and part
of its ABI): ``data`` at 16 bytes, ``dimensions`` at 32, ``strides`` at 40 (64-bit).
NUMGRAD_LEAN_WRAPPERS=0 compiles Numba's wrapper instead (a kernel cached with one keeps
it: A/B with an empty cache).
"""
import struct

from . import config, numba_hooks

__all__ = ["install", "lean_ok"]

ENABLED = config.get("NUMGRAD_LEAN_WRAPPERS")

# byte offsets of PyArrayObject_fields' members (64-bit; ob_refcnt and ob_type before them)
_DATA, _DIMENSIONS, _STRIDES = 16, 32, 40
_POINTER_BYTES = struct.calcsize("P")


def lean_ok(fndesc):
    """Whether the lean wrapper serves the function `fndesc` (a Numba FunctionDescriptor):
    a numgrad kernel returning None, with scalar and scalar-array arguments only."""
    from numba.core import types

    if not (fndesc.modname or "").startswith("numgrad_k_") or fndesc.restype != types.none:
        return False
    if _POINTER_BYTES != 8:         # the field offsets below are a 64-bit build's
        return False
    scalar = (types.Integer, types.Float, types.Boolean)
    for ty in fndesc.argtypes:
        if isinstance(ty, types.Array):
            if type(ty) is not types.Array or not isinstance(ty.dtype, scalar):
                return False
        elif not isinstance(ty, scalar) or isinstance(ty, types.Literal):
            return False
    return True


@numba_hooks.once
def install():
    """Build numgrad's kernels' CPython wrappers with :func:`_lean_wrapper` while
    NUMGRAD_LEAN_WRAPPERS is on (installed once a process; cheap afterwards).  Does nothing
    on a Numba without the pieces it uses."""
    try:
        from numba.core import callwrapper, cpu
    except ImportError:
        return
    cls = cpu.CPUContext
    real = cls.__dict__.get("create_cpython_wrapper")
    if real is None or not hasattr(callwrapper, "PyCallWrapper"):
        return

    def create_cpython_wrapper(self, library, fndesc, env, call_helper,
                               release_gil=False):
        if not (ENABLED and lean_ok(fndesc)):
            return real(self, library, fndesc, env, call_helper, release_gil)
        return _lean_wrapper(self, library, fndesc, env, call_helper, release_gil)

    create_cpython_wrapper.__wrapped__ = real
    cls.create_cpython_wrapper = create_cpython_wrapper


def _lean_wrapper(context, library, fndesc, env, call_helper, release_gil):
    """Numba's ``CPUContext.create_cpython_wrapper`` for a lean_ok function: the wrapper
    written as LLVM IR text (:func:`wrapper_text`), its error path built by Numba's own
    ``raise_error`` in a small helper function of the same library."""
    import llvmlite.binding as ll
    from llvmlite import ir
    from numba.core import cgutils

    module = context.create_module("wrapper")
    fnty = context.call_conv.get_function_type(fndesc.restype, fndesc.argtypes)
    ir.Function(module, fnty, fndesc.llvm_func_name)
    context.declare_env_global(module, context.get_env_name(fndesc))
    raise_name = fndesc.llvm_cpython_wrapper_name + "$raise"
    _raise_helper(context, module, raise_name)
    body, declarations = wrapper_text(fndesc, fnty, context.get_env_name(fndesc),
                                      raise_name, release_gil)
    text = cgutils.normalize_ir_text(str(module)) + body + "\n".join(
        line for name, line in declarations if name not in module.globals) + "\n"
    ll_module = ll.parse_assembly(text)
    ll_module.name = module.name
    ll_module.verify()
    final = getattr(library, "_final_module", None)
    if final is None or not hasattr(library, "_raise_if_finalized"):
        library.add_llvm_module(ll_module)
        return
    # Linked as it is: Numba's add_llvm_module would first run LLVM's function passes on
    # each of its ~25 functions (declarations included, a pass manager each); the module
    # passes at finalisation optimise the wrapper with the kernel.
    library._raise_if_finalized()
    final.link_in(ll_module)


def _raise_helper(context, module, name):
    """``void name(i32 status, excinfo* info)``: Numba's raise_error of a failed call's
    status (a user exception, StopIteration, an error already set, or SystemError)."""
    from llvmlite import ir

    excinfo_ptr = ir.PointerType(ir.LiteralStructType(
        [ir.IntType(8).as_pointer(), ir.IntType(32), ir.IntType(8).as_pointer(),
         ir.IntType(8).as_pointer(), ir.IntType(32)]))
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ir.IntType(32), excinfo_ptr]),
                     name)
    fn.linkage = "linkonce_odr"
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    api = context.get_python_api(builder)
    status = context.call_conv._get_return_status(builder, *fn.args)
    context.call_conv.raise_error(builder, api, status)
    builder.ret_void()


def _flat_count(ty):
    from numba.core import types
    return 5 + 2 * ty.ndim if isinstance(ty, types.Array) else 1


def wrapper_text(fndesc, fnty, env_name, raise_name, release_gil):
    """(LLVM IR text, [(name, declaration)]) of the lean wrapper ``PyObject* (closure,
    args, kws)`` of the native function of `fndesc` (Numba's native ABI `fnty`: return
    slot, exception info, then each argument flattened: an array as meminfo, parent,
    nitems, itemsize, data, shape and strides); the caller leaves out the declarations its
    module has already."""
    from numba.core import types

    argtypes = list(fndesc.argtypes)
    flat = [str(t) for t in fnty.args[2:]]
    if sum(_flat_count(t) for t in argtypes) != len(flat):
        raise ValueError("unexpected native signature")
    n = len(argtypes)
    lines = [f'define i8* @"{fndesc.llvm_cpython_wrapper_name}"(i8* %closure, i8* %args, '
             "i8* %kws) {", "entry:"]
    lines += [f"  %o{i}.p = alloca i8*" for i in range(n)]
    lines += ["  %ret = alloca " + str(fnty.args[0].pointee),
              "  store " + str(fnty.args[0].pointee) + " zeroinitializer, "
              + str(fnty.args[0]) + " %ret",
              "  %exc = alloca " + str(fnty.args[1].pointee),
              "  store " + str(fnty.args[1].pointee) + " null, " + str(fnty.args[1]) + " %exc",
              '  %ok = call i32 (i8*, i8*, i64, i64, ...) @PyArg_UnpackTuple(i8* %args, '
              f'i8* getelementptr ([7 x i8], [7 x i8]* @.name, i32 0, i32 0), i64 {n}, '
              f'i64 {n}' + "".join(f", i8** %o{i}.p" for i in range(n)) + ")",
              "  %bad = icmp eq i32 %ok, 0",
              "  br i1 %bad, label %fail, label %env",
              "fail:", "  ret i8* null",
              "env:", f'  %envp = load i8*, i8** @"{env_name}"',
              "  %noenv = icmp eq i8* %envp, null",
              "  br i1 %noenv, label %missing, label %" + ("a0" if n else "call"),
              "missing:",
              "  call void @PyErr_SetString(i8* @PyExc_RuntimeError, i8* getelementptr "
              "([20 x i8], [20 x i8]* @.noenv, i32 0, i32 0))",
              "  ret i8* null"]
    call_args, k = [], 0
    for i, ty in enumerate(argtypes):
        lines += [f"a{i}:", f"  %o{i} = load i8*, i8** %o{i}.p"]
        nxt = f"a{i + 1}" if i + 1 < n else "call"
        tys = flat[k:k + _flat_count(ty)]
        k += len(tys)
        if isinstance(ty, types.Array):
            lines += _array_lines(i, ty, tys)
            lines.append(f"  br label %{nxt}")
            call_args += [f"{t} %v{i}.{j}" for j, t in enumerate(tys)]
            continue
        lines += _scalar_lines(i, ty, tys[0], nxt)
        call_args.append(f"{tys[0]} %v{i}")
    lines.append("call:")
    if release_gil:
        lines.append("  %ts = call i8* @PyEval_SaveThread()")
    lines.append(f'  %st = call i32 @"{fndesc.llvm_func_name}"({fnty.args[0]} %ret, '
                 f"{fnty.args[1]} %exc" + "".join(", " + a for a in call_args) + ") #0")
    if release_gil:
        lines.append("  call void @PyEval_RestoreThread(i8* %ts)")
    lines += ["  %s0 = icmp eq i32 %st, 0", "  %s1 = icmp eq i32 %st, -2",
              "  %good = or i1 %s0, %s1",
              "  br i1 %good, label %done, label %raise",
              "done:", "  call void @Py_IncRef(i8* @_Py_NoneStruct)",
              "  ret i8* @_Py_NoneStruct",
              "raise:", f"  %info = load {fnty.args[1].pointee}, {fnty.args[1]} %exc",
              f'  call void @"{raise_name}"(i32 %st, {fnty.args[1].pointee} %info)',
              "  ret i8* null", "}", ""]
    name = fndesc.qualname.split(".")[-1][:6].ljust(6)
    declarations = [
        "@.name = private constant [7 x i8] c\"" + "".join(
            c if c.isalnum() else "_" for c in name) + "\\00\"",
        '@.noenv = private constant [20 x i8] c"missing Environment\\00"',
        "@PyExc_RuntimeError = external global i8",
        "@_Py_NoneStruct = external global i8",
        "declare i32 @PyArg_UnpackTuple(i8*, i8*, i64, i64, ...)",
        "declare void @PyErr_SetString(i8*, i8*)",
        "declare i8* @PyErr_Occurred()",
        "declare void @Py_IncRef(i8*)",
        "declare void @Py_DecRef(i8*)",
        "declare i8* @PyNumber_Long(i8*)",
        "declare i64 @PyLong_AsLongLong(i8*)",
        "declare i64 @PyLong_AsUnsignedLongLong(i8*)",
        "declare double @PyFloat_AsDouble(i8*)",
        "declare i32 @PyObject_IsTrue(i8*)",
        "declare i8* @PyEval_SaveThread()",
        "declare void @PyEval_RestoreThread(i8*)",
        "attributes #0 = { noinline }"]
    return "\n".join(lines), [(line.split("@")[1].split(" ")[0].split("(")[0], line)
                              if "@" in line else ("", line) for line in declarations]


def _array_lines(i, ty, tys):
    """IR lines filling %v<i>.0 ... (meminfo, parent, nitems, itemsize, data, shape...,
    strides...) from the ndarray %o<i>."""
    o = f"%o{i}"
    out = [f"  %v{i}.0 = bitcast i8* null to {tys[0]}",
           f"  %v{i}.1 = bitcast i8* {o} to {tys[1]}",
           f"  %d{i}.p = getelementptr i8, i8* {o}, i64 {_DATA}",
           f"  %d{i}.q = bitcast i8* %d{i}.p to i8**",
           f"  %d{i} = load i8*, i8** %d{i}.q",
           f"  %v{i}.4 = bitcast i8* %d{i} to {tys[4]}",
           f"  %v{i}.3 = add i64 0, {ty.dtype.bitwidth // 8 if hasattr(ty.dtype, 'bitwidth') else 1}"]
    nd = ty.ndim
    if nd:
        for name, off in (("sh", _DIMENSIONS), ("sd", _STRIDES)):
            out += [f"  %{name}{i}.p = getelementptr i8, i8* {o}, i64 {off}",
                    f"  %{name}{i}.q = bitcast i8* %{name}{i}.p to i64**",
                    f"  %{name}{i} = load i64*, i64** %{name}{i}.q"]
        for j in range(nd):
            out += [f"  %sh{i}.{j}.p = getelementptr i64, i64* %sh{i}, i64 {j}",
                    f"  %v{i}.{5 + j} = load i64, i64* %sh{i}.{j}.p",
                    f"  %sd{i}.{j}.p = getelementptr i64, i64* %sd{i}, i64 {j}",
                    f"  %v{i}.{5 + nd + j} = load i64, i64* %sd{i}.{j}.p"]
    prev = "1"
    for j in range(nd):
        out.append(f"  %n{i}.{j} = mul nsw i64 {prev}, %v{i}.{5 + j}")
        prev = f"%n{i}.{j}"
    out.append(f"  %v{i}.2 = add i64 0, {prev}")
    return out


def _scalar_lines(i, ty, llty, nxt):
    """IR lines unboxing the scalar %o<i> into %v<i> (of LLVM type `llty`) as Numba does,
    returning NULL (the Python error set) if that fails."""
    from numba.core import types

    o, v = f"%o{i}", f"%v{i}"
    if isinstance(ty, types.Boolean):
        out = [f"  %t{i} = call i32 @PyObject_IsTrue(i8* {o})",
               f"  %e{i} = icmp slt i32 %t{i}, 0",
               f"  %b{i} = icmp ne i32 %t{i}, 0",
               f"  {v} = zext i1 %b{i} to {llty}" if llty != "i1" else
               f"  {v} = or i1 %b{i}, false"]
    elif isinstance(ty, types.Float):
        out = [f"  %f{i} = call double @PyFloat_AsDouble(i8* {o})",
               f"  %m{i} = fcmp oeq double %f{i}, -1.0",
               f"  %q{i} = call i8* @PyErr_Occurred()",
               f"  %r{i} = icmp ne i8* %q{i}, null",
               f"  %e{i} = and i1 %m{i}, %r{i}",
               f"  {v} = fptrunc double %f{i} to {llty}" if llty != "double" else
               f"  {v} = fadd double %f{i}, -0.0"]       # x + -0.0 is x, -0.0 included
    else:
        conv = "PyLong_AsLongLong" if ty.signed else "PyLong_AsUnsignedLongLong"
        out = [f"  %l{i} = call i8* @PyNumber_Long(i8* {o})",
               f"  %z{i} = icmp eq i8* %l{i}, null",
               f"  br i1 %z{i}, label %fail, label %a{i}.long",
               f"a{i}.long:",
               f"  %w{i} = call i64 @{conv}(i8* %l{i})",
               f"  call void @Py_DecRef(i8* %l{i})",
               f"  %q{i} = call i8* @PyErr_Occurred()",
               f"  %e{i} = icmp ne i8* %q{i}, null",
               f"  {v} = trunc i64 %w{i} to {llty}" if llty != "i64" else
               f"  {v} = add i64 %w{i}, 0"]
    return out + [f"  br i1 %e{i}, label %fail, label %{nxt}"]
