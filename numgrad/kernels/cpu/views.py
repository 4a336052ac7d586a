"""c_view: a C-contiguous array seen with another shape of the same size, made inline; c_part:
a part of one (a row, the first rows) seen with a shape; c_empty: a new C-contiguous array;
c_copy: a run of elements copied from one array to another; c_zero: an array zeroed.

Why: Numba's ``a.reshape(shape)`` calls a C helper (numba_attempt_nocopy_reshape) to work out
the new strides, whatever the layout: an external call in the middle of compiled code, which
LLVM cannot inline or hoist.  The one-dispatch plan functions and native loops (compiler/
emit_plan.py, compiler/emit_loop.py) reshape only C-contiguous arrays to shapes of the same
size, a kernel's argument or a view each iteration: W7's backward loop made seven such calls
an iteration.  For a C-contiguous array the strides follow from the shape alone, so c_view
builds the view in place: the same data and owner, the new shape, C strides.

The caller guarantees that the shape has the array's size: nothing is checked at run time.
An array whose type is not C-contiguous is reshaped by Numba's reshape.

The others serve the native loops' functions (compiler/emit_loop.py) and the plan functions,
which Numba compiles on a loop's first native run: written with NumPy, a row of a gather or a
TensorArray read (``p[i:i + 1]``), the rows a loop recorded (``h[:t]``) are slices, each a
few hundred lines of IR that LLVM optimises again in every function; ``np.empty`` is an
overload Numba compiles (and links into the function) once per signature in a process; a
slice assignment compiles the string code of its shape check's message; an element loop
``for q in range(n)`` costs Numba's front end ~15 ms.  Here each is lowered in place, as
c_view is: pointer arithmetic, a shape, one loop (docs/benchmarks.md, "Compile cost of native
loop functions").
"""
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed, impl_ret_new_ref, lower_builtin
from numba.extending import intrinsic, type_callable
from numba.np.arrayobj import make_array, populate_array

from .carve import c_strides, dtype_of, shape_ndim


__all__ = ["c_view", "c_part", "c_empty", "c_copy", "c_zero"]


def c_view(a, shape):
    """`a` as an array of `shape` (a tuple of ints, its size), a view: in compiled code, one
    made inline for a C-contiguous array."""
    return a.reshape(shape)


@type_callable(c_view)
def _c_view_type(context):
    def typer(a, shape):
        ndim = shape_ndim(shape)
        if not isinstance(a, types.Array) or ndim is None:
            return None
        if a.layout == "C":
            return a.copy(ndim=ndim, layout="C")
        if a.layout == "F":             # as Numba's reshape types it
            return a.copy(ndim=ndim)
        return None
    return typer


@lower_builtin(c_view, types.Array, types.BaseTuple)
def _c_view_lower(context, builder, sig, args):
    """Lowered in place, not an overload: an overload compiles a small function of its own
    for every signature it meets in a process (~30 ms each: W7's first call met 5, the loop
    tests' processes ~30 each)."""
    aryty, shapety = sig.args
    if aryty.layout != "C":
        out = context.compile_internal(builder, lambda a, shape: a.reshape(shape), sig, args)
        return impl_ret_new_ref(context, builder, sig.return_type, out)
    ary = make_array(aryty)(context, builder, args[0])
    out = make_array(sig.return_type)(context, builder)
    intp = context.get_value_type(types.intp)
    dims = _dims(context, builder, shapety, args[1])
    populate_array(out, data=ary.data, shape=cgutils.pack_array(builder, dims, ty=intp),
                   strides=cgutils.pack_array(builder, c_strides(builder, dims, ary.itemsize),
                                              ty=intp),
                   itemsize=ary.itemsize, meminfo=ary.meminfo, parent=ary.parent)
    return impl_ret_borrowed(context, builder, sig.return_type, out._getvalue())


def _dims(context, builder, shapety, shape):
    return [context.cast(builder, d, t, types.intp) for d, t in
            zip(cgutils.unpack_tuple(builder, shape), shapety)]


@intrinsic
def c_part(typingctx, a, start, shape):
    """The elements of the C-contiguous array `a` from flat index `start` on, as an array of
    `shape` (a tuple of ints), a view: row i of an (n, k) array is ``c_part(a, i * k, (k,))``,
    its first t rows ``c_part(a, 0, (t, k))``.  Nothing is checked at run time: the part must
    lie in `a`.  In compiled code only."""
    ndim = shape_ndim(shape)
    if not isinstance(a, types.Array) or a.layout != "C" or ndim is None \
            or not isinstance(start, types.Integer):
        return None
    ret = a.copy(ndim=ndim, layout="C")

    def codegen(context, builder, sig, args):
        aryty, startty, shapety = sig.args
        ary = make_array(aryty)(context, builder, args[0])
        out = make_array(sig.return_type)(context, builder)
        intp = context.get_value_type(types.intp)
        dims = _dims(context, builder, shapety, args[2])
        at = context.cast(builder, args[1], startty, types.intp)
        data = builder.gep(ary.data, [at])
        populate_array(out, data=data, shape=cgutils.pack_array(builder, dims, ty=intp),
                       strides=cgutils.pack_array(builder, c_strides(builder, dims,
                                                                      ary.itemsize), ty=intp),
                       itemsize=ary.itemsize, meminfo=ary.meminfo, parent=ary.parent)
        return impl_ret_borrowed(context, builder, sig.return_type, out._getvalue())
    return ret(a, start, shape), codegen


@intrinsic
def c_empty(typingctx, shape, dtype):
    """``np.empty(shape, dtype)`` (C order, `shape` a tuple of ints >= 0, `dtype` np.float64
    ...), allocated as Numba allocates NumPy's (the same NRT call, size and alignment) but
    lowered in place, without np.empty's checks of the shape: the generated sources give
    constant shapes.  In compiled code only."""
    dt, ndim = dtype_of(dtype), shape_ndim(shape)
    if dt is None or ndim is None:
        return None
    arrty = types.Array(dt, ndim, "C")

    def codegen(context, builder, sig, args):
        intp = context.get_value_type(types.intp)
        dims = _dims(context, builder, sig.args[0], args[0])
        data_type = context.get_data_type(dt)
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(data_type))
        size = itemsize
        for d in dims:
            size = builder.mul(size, d)
        meminfo = context.nrt.meminfo_alloc_aligned(
            builder, size, context.get_preferred_array_alignment(dt))
        data = context.nrt.meminfo_data(builder, meminfo)
        ary = make_array(arrty)(context, builder)
        populate_array(ary, data=builder.bitcast(data, data_type.as_pointer()),
                       shape=cgutils.pack_array(builder, dims, ty=intp),
                       strides=cgutils.pack_array(builder, c_strides(builder, dims, itemsize),
                                                  ty=intp),
                       itemsize=itemsize, meminfo=meminfo)
        return ary._getvalue()
    return arrty(shape, dtype), codegen


@intrinsic
def c_copy(typingctx, dst, d0, src, s0, n):
    """``dst.flat[d0:d0 + n] = src.flat[s0:s0 + n]`` for C-contiguous arrays (the elements
    cast to dst's dtype as an assignment casts them), as one loop lowered in place: written
    as a slice assignment, Numba compiles its shape check and the string code of the check's
    message into the function; written as a ``for q in range(n)`` loop, its front end spends
    ~15 ms lowering the range iterator that LLVM then folds back into the same loop.
    Nothing is checked at run time.  In compiled code only; returns None."""
    if not (isinstance(dst, types.Array) and isinstance(src, types.Array)
            and dst.layout == "C" and src.layout == "C" and dst.mutable
            and all(isinstance(t, types.Integer) for t in (d0, s0, n))):
        return None

    def codegen(context, builder, sig, args):
        dty, d0ty, sty, s0ty, nty = sig.args
        d = make_array(dty)(context, builder, args[0])
        s = make_array(sty)(context, builder, args[2])
        d_at, s_at, count = [context.cast(builder, v, t, types.intp) for v, t in
                             ((args[1], d0ty), (args[3], s0ty), (args[4], nty))]
        with cgutils.for_range(builder, count) as loop:
            ptr = builder.gep(s.data, [builder.add(s_at, loop.index)])
            v = context.unpack_value(builder, sty.dtype, ptr)
            v = context.cast(builder, v, sty.dtype, dty.dtype)
            context.pack_value(builder, dty.dtype, v,
                               builder.gep(d.data, [builder.add(d_at, loop.index)]))
        return context.get_dummy_value()
    return types.none(dst, d0, src, s0, n), codegen


@intrinsic
def c_zero(typingctx, dst):
    """Every element of the C-contiguous array `dst` set to zero (all bytes 0: as np.zeros),
    lowered in place.  In compiled code only; returns None."""
    if not (isinstance(dst, types.Array) and dst.layout == "C" and dst.mutable):
        return None

    def codegen(context, builder, sig, args):
        d = make_array(sig.args[0])(context, builder, args[0])
        cgutils.memset(builder, d.data, builder.mul(d.nitems, d.itemsize), 0)
        return context.get_dummy_value()
    return types.none(dst), codegen
