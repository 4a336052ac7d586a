"""Shape helpers shared by gradient rules: static when shapes are known, dynamic otherwise."""
from ...ops import array as _array
from ...ops.reduce import reduce_to  # noqa: F401  (the rules' helper; declared ops use it too)


def shape_of(x):
    """x's shape as a Python list when fully known (folds away), else a Shape tensor."""
    if x.shape.is_fully_defined():
        return x.shape.as_list()
    return _array.shape(x)


def keep_dims(g, x, axes, keepdims):
    """Reshape a reduction's output gradient so it broadcasts against the input x."""
    if keepdims:
        return g
    rank = x.shape.rank
    if rank is None:
        if axes is None:
            return _array.reshape(g, _array.fill(_array.reshape(_array.rank(x), [1]), 1))
        return _array.reshape(g, _array.reduced_shape(_array.shape(x), axes))
    if axes is None:
        return _array.reshape(g, [1] * rank)
    for a in sorted(axes):
        g = _array.expand_dims(g, a)
    return g


def dim(x, i):
    """Size of dimension i: a Python int if static, else an int32 scalar tensor."""
    d = x.shape[i] if x.shape.rank is not None else None
    return d if d is not None else _array.strided_slice(_array.shape(x), i)


def make_shape(dims):
    """A shape argument from a list of ints and scalar tensors."""
    if all(isinstance(d, int) for d in dims):
        return list(dims)
    return _array.stack([d if not isinstance(d, int) else _const_i32(d) for d in dims])


def _const_i32(v):
    from ...ops.core import constant
    return constant(v, dtype="int32")
