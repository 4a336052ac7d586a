"""carve: a C-contiguous array of a given dtype and shape over the bytes of another array,
starting at a byte offset, made inline.

Why: the functions of row-block plans and native lanes (compiler/emit_rowblock.py,
compiler/emit_lane.py) keep their values in byte buffers (the shared arena, the blocks'
partial sums, each thread's scratch) and in blocks of rows of the fed and fetched arrays.
Written with NumPy's methods (``buf[a:b].view(np.float32).reshape(shape)``, ``x[b0:b1]``),
each such view is a slice, a dtype change with its checks and a call of Numba's reshape
helper: Numba lowers a few hundred lines of LLVM IR for each, which LLVM then optimises again
in every plan function.  For the small PINN of tests/pinn_case.py these views were most of
the row-block plan's compile seconds (docs/benchmarks.md, "Compile cost of plan functions").
carve builds the view in place: the data pointer moved by the offset, the shape, C strides,
the owner of the buffer (so the buffer lives while the view does).

The caller guarantees that the view lies inside the buffer and that the offset keeps the
dtype's alignment where it matters: nothing is checked at run time.  The view is writeable
where the buffer is.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

__all__ = ["carve", "c_strides", "dtype_of", "shape_ndim"]


def dtype_of(spec):
    """The NumPy scalar type a dtype argument (``np.float32``, a dtype object) names in
    Numba's typing, or None."""
    if isinstance(spec, types.NumberClass):
        return spec.instance_type
    if isinstance(spec, types.DType):
        return spec.dtype
    return None


def shape_ndim(shape):
    """The length of a shape tuple's type (a tuple of integers), or None."""
    if isinstance(shape, types.UniTuple) and isinstance(shape.dtype, types.Integer):
        return shape.count
    if isinstance(shape, types.Tuple) and all(isinstance(t, types.Integer) for t in shape):
        return len(shape)
    return None


def c_strides(builder, dims, itemsize):
    """The C-order strides (LLVM values) of an array of extents `dims` and `itemsize`."""
    strides, step = [], itemsize
    for d in reversed(dims):
        strides.insert(0, step)
        step = builder.mul(step, d)
    return strides


@intrinsic
def carve(typingctx, buf, offset, shape, dtype):
    """An array of `dtype` (np.float32, ...) and `shape` (a tuple of ints), C-contiguous,
    over the bytes of the C-contiguous array `buf` from byte `offset` on."""
    dt, ndim = dtype_of(dtype), shape_ndim(shape)
    if not isinstance(buf, types.Array) or buf.layout != "C" or dt is None or ndim is None \
            or not isinstance(offset, types.Integer):
        return None
    ret = types.Array(dt, ndim, "C", readonly=not buf.mutable)

    def codegen(context, builder, sig, args):
        bufty, offty, shapety, _ = sig.args
        src = make_array(bufty)(context, builder, args[0])
        out = make_array(sig.return_type)(context, builder)
        intp = context.get_value_type(types.intp)
        dims = [context.cast(builder, d, t, types.intp) for d, t in
                zip(cgutils.unpack_tuple(builder, args[2]), shapety)]
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(
            context.get_data_type(dt)))
        strides = c_strides(builder, dims, itemsize)
        byte_ptr = builder.bitcast(src.data, ir.IntType(8).as_pointer())
        at = builder.gep(byte_ptr, [context.cast(builder, args[1], offty, types.intp)])
        data = builder.bitcast(at, context.get_data_type(dt).as_pointer())
        populate_array(out, data=data, shape=cgutils.pack_array(builder, dims, ty=intp),
                       strides=cgutils.pack_array(builder, strides, ty=intp),
                       itemsize=itemsize, meminfo=src.meminfo)
        return impl_ret_borrowed(context, builder, sig.return_type, out._getvalue())
    return ret(buf, offset, shape, dtype), codegen
