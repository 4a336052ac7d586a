"""c_view: a C-contiguous array seen with another shape of the same size, made inline; c_part:
a part of one (a row, the first rows) seen with a shape; c_empty: a new C-contiguous array.

Why: Numba's ``a.reshape(shape)`` calls a C helper (numba_attempt_nocopy_reshape) to work out
the new strides, whatever the layout: an external call in the middle of compiled code, which
LLVM cannot inline or hoist.  The one-dispatch plan functions and native loops (compiler/
emit_plan.py, compiler/emit_loop.py) reshape only C-contiguous arrays to shapes of the same
size, a kernel's argument or a view each iteration: W7's backward loop made seven such calls
an iteration.  For a C-contiguous array the strides follow from the shape alone, so c_view
builds the view in place: the same data and owner, the new shape, C strides.

The caller guarantees that the shape has the array's size: nothing is checked at run time.
An array whose type is not C-contiguous is reshaped by Numba's reshape.

c_part and c_empty serve the native loops' functions (compiler/emit_loop.py), which Numba
compiles on a loop's first native run: written with NumPy, a row of a gather or a
TensorArray read (``p[i:i + 1]``), the rows a loop recorded (``h[:t]``) are slices, each a
few hundred lines of IR that LLVM optimises again in every function, and ``np.empty`` is an
overload Numba compiles (and links into the function) once per shape arity in a process.
Both are made inline here, as c_view is: pointer arithmetic and a shape.
"""
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload
from numba.np.arrayobj import make_array, populate_array


__all__ = ["c_view", "c_part", "c_empty"]


def c_view(a, shape):
    """`a` as an array of `shape` (a tuple of ints, its size), a view: in compiled code, one
    made inline for a C-contiguous array."""
    return a.reshape(shape)


@overload(c_view)
def _c_view_overload(a, shape):
    if isinstance(a, types.Array) and a.layout == "C":
        return lambda a, shape: _c_view(a, shape)
    return lambda a, shape: a.reshape(shape)


@intrinsic
def _c_view(typingctx, a, shape):
    """`a` (a C-contiguous array) as an array of `shape` (a tuple of ints, same size)."""
    if not isinstance(a, types.Array) or a.layout != "C":
        return None
    if isinstance(shape, types.UniTuple):
        if not isinstance(shape.dtype, types.Integer):
            return None
        ndim = shape.count
    elif isinstance(shape, types.Tuple) and all(isinstance(t, types.Integer) for t in shape):
        ndim = len(shape)
    else:
        return None
    ret = a.copy(ndim=ndim, layout="C")

    def codegen(context, builder, sig, args):
        aryty, shapety = sig.args
        ary = make_array(aryty)(context, builder, args[0])
        out = make_array(sig.return_type)(context, builder)
        intp = context.get_value_type(types.intp)
        dims = [context.cast(builder, d, t, types.intp) for d, t in
                zip(cgutils.unpack_tuple(builder, args[1]), shapety)]
        strides, step = [], ary.itemsize
        for d in reversed(dims):
            strides.insert(0, step)
            step = builder.mul(step, d)
        populate_array(out, data=ary.data,
                       shape=cgutils.pack_array(builder, dims, ty=intp),
                       strides=cgutils.pack_array(builder, strides, ty=intp),
                       itemsize=ary.itemsize, meminfo=ary.meminfo, parent=ary.parent)
        return impl_ret_borrowed(context, builder, sig.return_type, out._getvalue())
    return ret(a, shape), codegen


def _ndim(shape):
    """The length of a shape tuple's type (a tuple of integers), or None."""
    if isinstance(shape, types.UniTuple) and isinstance(shape.dtype, types.Integer):
        return shape.count
    if isinstance(shape, (types.Tuple, types.UniTuple)) and all(
            isinstance(t, types.Integer) for t in shape):
        return len(shape)
    return None


def _c_strides(builder, dims, itemsize):
    strides, step = [], itemsize
    for d in reversed(dims):
        strides.insert(0, step)
        step = builder.mul(step, d)
    return strides


def _dims(context, builder, shapety, shape):
    return [context.cast(builder, d, t, types.intp) for d, t in
            zip(cgutils.unpack_tuple(builder, shape), shapety)]


@intrinsic
def c_part(typingctx, a, start, shape):
    """The elements of the C-contiguous array `a` from flat index `start` on, as an array of
    `shape` (a tuple of ints), a view: row i of an (n, k) array is ``c_part(a, i * k, (k,))``,
    its first t rows ``c_part(a, 0, (t, k))``.  Nothing is checked at run time: the part must
    lie in `a`.  In compiled code only."""
    ndim = _ndim(shape)
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
                       strides=cgutils.pack_array(builder, _c_strides(builder, dims,
                                                                      ary.itemsize), ty=intp),
                       itemsize=ary.itemsize, meminfo=ary.meminfo, parent=ary.parent)
        return impl_ret_borrowed(context, builder, sig.return_type, out._getvalue())
    return ret(a, start, shape), codegen


def _dtype_of(spec):
    if isinstance(spec, types.NumberClass):
        return spec.instance_type
    if isinstance(spec, types.DType):
        return spec.dtype
    return None


@intrinsic
def c_empty(typingctx, shape, dtype):
    """``np.empty(shape, dtype)`` (C order, `shape` a tuple of ints >= 0, `dtype` np.float64
    ...), allocated as Numba allocates NumPy's (the same NRT call, size and alignment) but
    lowered in place, without np.empty's checks of the shape: the generated sources give
    constant shapes.  In compiled code only."""
    dt, ndim = _dtype_of(dtype), _ndim(shape)
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
                       strides=cgutils.pack_array(builder, _c_strides(builder, dims, itemsize),
                                                  ty=intp),
                       itemsize=itemsize, meminfo=meminfo)
        return ary._getvalue()
    return arrty(shape, dtype), codegen
