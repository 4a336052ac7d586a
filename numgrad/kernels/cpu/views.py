"""c_view: a C-contiguous array seen with another shape of the same size, made inline.

Why: Numba's ``a.reshape(shape)`` calls a C helper (numba_attempt_nocopy_reshape) to work out
the new strides, whatever the layout: an external call in the middle of compiled code, which
LLVM cannot inline or hoist.  The one-dispatch plan functions and native loops (compiler/
emit_plan.py, compiler/emit_loop.py) reshape only C-contiguous arrays to shapes of the same
size, a kernel's argument or a view each iteration: W7's backward loop made seven such calls
an iteration.  For a C-contiguous array the strides follow from the shape alone, so c_view
builds the view in place: the same data and owner, the new shape, C strides.

The caller guarantees that the shape has the array's size: nothing is checked at run time.
An array whose type is not C-contiguous is reshaped by Numba's reshape.
"""
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload
from numba.np.arrayobj import make_array, populate_array

__all__ = ["c_view"]


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
