"""ng.TensorArray: tf.compat.v1.TensorArray as TF 2 builds it in graph mode (a value, not a
resource), held as one dense buffer.

The array's ``flow`` is a tensor of shape [size, *element_shape] and dtype ``dtype``; every
method that changes the array returns a new TensorArray around a new flow and leaves the old
one as it was (``ta = ta.write(i, x)``).  A write is the ``TensorArrayWrite`` op (a copy of
the buffer with one element replaced, numgrad/ops/tensor_array_ops.py), a read is
``TensorArrayRead`` (``gather`` too, with a vector of indices); ``stack`` is the buffer
itself, ``unstack`` makes the value the buffer, ``scatter`` / ``concat`` / ``split`` are
TensorScatterUpdate and Reshape of it.  Gradients are those of these ops.  Elements never written read as zeros, as
TF's do when the element shape is known.

The buffer is made when the element shape is first known (``element_shape=`` or the first
write); before that the array has no flow.  ``while_loop`` carries a TensorArray loop variable
as its flow (numgrad/control/while_loop.py), tracing the body once beforehand when it must
learn the element shape from the body's writes.

What a dense buffer cannot hold: elements of different shapes (``infer_shape=False`` with
ragged writes), hence ``split`` only with equal, build-time lengths.
"""
import numpy as np

from .. import dtypes as _dt
from ..errors import InvalidArgumentError
from ..graph import Tensor, atomic
from ..ops import array as _array
from ..ops.array_extra import tensor_scatter_nd_update
from ..ops.control import no_op
from ..ops.core import constant, constant_value, convert_to_tensor
from ..ops.tensor_array_ops import tensor_array_read, tensor_array_write
from ..tensor_shape import TensorShape, as_shape

__all__ = ["TensorArray"]


def _static_int(t):
    v = t if not isinstance(t, Tensor) else constant_value(t)
    return None if v is None else int(np.asarray(v))


class TensorArray:
    """tf.compat.v1.TensorArray: a list of `size` tensors of one dtype and shape, with value
    semantics (``write``, ``unstack``, ``scatter`` and ``split`` return a new TensorArray).

    Use it as a loop variable of ``while_loop`` (``ta = ta.write(i, x)`` in the body,
    ``ta.stack()`` after) and differentiate through it.  `dynamic_size=True` lets writes grow
    it.  `clear_after_read`, `tensor_array_name` and `colocate_with_first_write_call` are
    accepted and ignored (as TF 2 does); `handle` is not supported; `flow` rebuilds an array
    around a flow from another TensorArray.  All elements must have one shape.
    """

    def __init__(self, dtype, size=None, dynamic_size=None, clear_after_read=None,
                 tensor_array_name=None, handle=None, flow=None, infer_shape=True,
                 element_shape=None, colocate_with_first_write_call=True, name=None):
        if handle is not None:
            raise ValueError("TensorArray: `handle` is not supported (numgrad's TensorArray is "
                             "a value held in its `flow`, as in TF 2)")
        if flow is None and size is None:
            raise ValueError("Argument `size` must be provided if argument `flow` is not "
                             "provided.")
        if flow is not None and size is not None:
            raise ValueError("Cannot provide both `flow` and `size` arguments at the same time.")
        if flow is not None and element_shape is not None:
            raise ValueError("Cannot provide both `flow` and `element_shape` arguments at the "
                             "same time.")
        self._dtype = _dt.as_dtype(dtype).base_dtype
        self._dynamic_size = bool(dynamic_size)
        self._infer_shape = bool(infer_shape)
        self._name = name or "TensorArray"
        if flow is not None:
            if not isinstance(flow, Tensor) or flow.dtype != self._dtype \
                    or flow.shape.rank == 0:
                raise TypeError(f"Expected `flow` to be the flow of a {self._dtype.name} "
                                f"TensorArray (a {self._dtype.name} tensor of rank >= 1), but "
                                f"received {flow!r} instead.")
            self._flow, self._size = flow, None
            self._element_shape = flow.shape[1:]
            return
        if isinstance(size, Tensor):
            if not size.dtype.is_integer or size.shape.rank not in (None, 0):
                raise TypeError(f"TensorArray: size must be an int32 scalar, got {size!r}")
            known = _static_int(size)
            self._size = known if known is not None else size
        else:
            self._size = int(size)
        if isinstance(self._size, int) and self._size < 0:
            raise ValueError(f"TensorArray: size must be >= 0, got {self._size}")
        self._element_shape = as_shape(element_shape)
        self._flow = None
        if self._element_shape.is_fully_defined():
            self._flow = self._zeros(self._element_shape.as_list())

    # --- building -----------------------------------------------------------------------------
    def _zeros(self, elem):
        """A zero buffer of this array's size and the element shape `elem` (a list of ints, or
        a 1-D int32 shape tensor)."""
        if isinstance(self._size, int) and isinstance(elem, list):
            return _array.zeros([self._size] + elem, self._dtype, name=self._name)
        size = _array.reshape(convert_to_tensor(self._size, _dt.int32), [1])
        dims = elem if isinstance(elem, Tensor) else constant(np.array(elem, np.int32))
        return _array.zeros(_array.concat([size, dims], 0), self._dtype, name=self._name)

    def _new(self, flow, element_shape=None):
        ta = TensorArray.__new__(TensorArray)
        ta.__dict__.update(self.__dict__)
        ta._flow = flow
        if element_shape is not None:
            ta._element_shape = element_shape
        return ta

    def _check_element_shape(self, shape):
        """The element shape after a write of `shape` (TF's ValueError if incompatible)."""
        if not shape.is_compatible_with(self._element_shape):
            raise ValueError(f"Inconsistent shapes: saw {shape} but expected "
                             f"{self._element_shape} ")
        return self._element_shape.merge_with(shape) if self._infer_shape \
            else self._element_shape

    def _value(self, value, what):
        if isinstance(value, Tensor):
            if value.dtype != self._dtype:
                raise TypeError(f"TensorArray.{what}: Invalid data types; op elements "
                                f"{value.dtype.name} but list elements {self._dtype.name}")
            return value
        return convert_to_tensor(value, dtype=self._dtype)

    def _buffer(self, what):
        """The flow, made (zeros) from a fully defined element shape if there is none yet."""
        if self._flow is not None:
            return self._flow
        if self._element_shape.is_fully_defined():
            return self._zeros(self._element_shape.as_list())
        raise InvalidArgumentError(
            f"TensorArray.{what}: Trying to read an uninitialized tensor but element_shape is "
            f"not fully defined: {self._element_shape} and no list element is set.")

    def _with_element(self, value):
        """The flow, made from the shape of `value` (an element) if there is none yet."""
        if self._flow is not None:
            return self._flow
        elem = self._element_shape.merge_with(value.shape)
        return self._zeros(elem.as_list() if elem.is_fully_defined() else _array.shape(value))

    # --- properties ---------------------------------------------------------------------------
    @property
    def flow(self):
        """The buffer: a tensor of shape [size, *element_shape] holding every element."""
        return self._buffer("flow")

    @property
    def dtype(self):
        """The dtype of the elements."""
        return self._dtype

    @property
    def element_shape(self):
        """The static shape of one element (what is known of it when the graph is built)."""
        return self._element_shape

    @property
    def dynamic_size(self):
        """Whether writes past the end grow the array."""
        return self._dynamic_size

    @property
    def handle(self):
        """None: the array has no resource handle (as TF 2's graph-mode TensorArray)."""
        return None

    # --- methods ------------------------------------------------------------------------------
    @atomic
    def write(self, index, value, name=None):
        """A new TensorArray with element `index` set to `value` (dynamic_size arrays grow)."""
        value = self._value(value, "write")
        elem = self._check_element_shape(value.shape)
        index = convert_to_tensor(index, _dt.int32)
        flow = tensor_array_write(self._with_element(value), index, value, self._dynamic_size,
                                  name=name or "TensorArrayWrite")
        return self._new(flow, elem)

    @atomic
    def read(self, index, name=None):
        """Element `index` (zeros if it was never written)."""
        index = convert_to_tensor(index, _dt.int32)
        return tensor_array_read(self._buffer("read"), index, name=name or "TensorArrayRead")

    @atomic
    def stack(self, name=None):
        """All elements stacked: a tensor of shape [size, *element_shape]."""
        if self._flow is None and self._size == 0 and not self._element_shape.is_fully_defined():
            raise InvalidArgumentError("TensorArray.stack: Tried to stack elements of an empty "
                                       "list with non-fully-defined element_shape: "
                                       f"{self._element_shape}")
        flow = self._buffer("stack")
        self._check_size(flow)
        return _array.identity(flow, name=name or "TensorArrayStack")

    def _check_size(self, flow):
        n = flow.shape[0] if flow.shape.rank else None
        if not self._dynamic_size and isinstance(self._size, int) and n is not None \
                and n != self._size:
            raise InvalidArgumentError(f"TensorArray: Operation expected a list with "
                                       f"{self._size} elements but got a list with {n} "
                                       "elements.")

    @atomic
    def gather(self, indices, name=None):
        """The elements at `indices`, stacked."""
        indices = convert_to_tensor(indices, _dt.int32)
        if indices.shape.rank not in (None, 1):
            raise ValueError(f"TensorArray.gather: indices must be a vector, got shape "
                             f"{indices.shape}")
        return tensor_array_read(self._buffer("gather"), indices,
                                 name=name or "TensorArrayGather")

    @atomic
    def concat(self, name=None):
        """The elements concatenated along their first dimension."""
        flow = self._buffer("concat")
        self._check_size(flow)
        elem = flow.shape[1:]
        if elem.rank == 0:
            raise InvalidArgumentError("TensorArray.concat: Concat saw a scalar shape at index 0 "
                                       "but requires at least vectors.")
        if elem.rank is not None and elem[1:].is_fully_defined():
            shape = [-1] + elem[1:].as_list()
        else:
            shape = _array.concat([constant([-1]), _array.shape(flow)[2:]], 0)
        return _array.reshape(flow, shape, name=name or "TensorArrayConcat")

    @atomic
    def unstack(self, value, name=None):
        """A new TensorArray whose elements are the rows of `value`."""
        value = self._value(value, "unstack")
        if value.shape.rank == 0:
            raise InvalidArgumentError("TensorArray.unstack: Tensor must be at least a vector, "
                                       "but saw shape: []")
        elem = self._check_element_shape(value.shape[1:])
        return self._new(_array.identity(value, name=name or "TensorArrayUnstack"), elem)

    @atomic
    def scatter(self, indices, value, name=None):
        """A new TensorArray with the elements at `indices` set to the rows of `value`."""
        value = self._value(value, "scatter")
        indices = convert_to_tensor(indices, _dt.int32)
        k, rows = (indices.shape[0] if indices.shape.rank == 1 else None,
                   value.shape[0] if value.shape.rank else None)
        if k is not None and rows is not None and k != rows:
            raise InvalidArgumentError("TensorArray.scatter: Expected len(indices) == "
                                       f"tensor.shape[0], but saw: {k} vs. {rows}")
        elem = self._check_element_shape(value.shape[1:])
        if self._flow is None:
            dims = elem.as_list() if elem.is_fully_defined() else _array.shape(value)[1:]
            buf = self._zeros(dims)
        else:
            buf = self._flow
        flow = tensor_scatter_nd_update(buf, _array.expand_dims(indices, 1), value,
                                        name=name or "TensorArrayScatter")
        return self._new(flow, elem)

    @atomic
    def split(self, value, lengths, name=None):
        """A new TensorArray whose elements are consecutive pieces of `value` of the given
        `lengths` along its first dimension (equal lengths known when the graph is built)."""
        value = self._value(value, "split")
        known = constant_value(lengths) if isinstance(lengths, Tensor) else lengths
        if known is None:
            raise NotImplementedError("TensorArray.split: `lengths` must be known when the graph "
                                      "is built")
        known = [int(v) for v in np.asarray(known).reshape(-1)]
        if len(set(known)) > 1:
            raise NotImplementedError(f"TensorArray.split: lengths {known} differ; numgrad's "
                                      "TensorArray holds elements of one shape")
        total = value.shape[0] if value.shape.rank else None
        if total is not None and total != sum(known):
            raise InvalidArgumentError(f"TensorArray.split: Unused values in tensor. Length of "
                                       f"tensor: {total} Values used: {sum(known)}")
        d = known[0] if known else 0
        elem = self._check_element_shape(TensorShape([d]).concatenate(value.shape[1:]))
        rest = value.shape[1:]
        shape = [len(known), d] + (rest.as_list() if rest.is_fully_defined() else [])
        if not rest.is_fully_defined():
            shape = _array.concat([constant([len(known), d]), _array.shape(value)[1:]], 0)
        return self._new(_array.reshape(value, shape, name=name or "TensorArraySplit"), elem)

    def size(self, name=None):
        """The number of elements (an int32 scalar tensor)."""
        if not self._dynamic_size and self._size is not None:
            return convert_to_tensor(self._size, _dt.int32, name=name)
        return _array.shape(self.flow, name=name)[0]

    def close(self, name=None):
        """A no-op (the array holds no resource)."""
        return no_op(name=name)

    def identity(self):
        """A TensorArray with an identity of this array's flow."""
        return self._new(_array.identity(self.flow))

    def grad(self, source, flow=None, name=None):
        """Not supported (as TF 2's graph-mode TensorArray): use ng.gradients."""
        raise NotImplementedError("TensorArray.grad: use ng.gradients instead")

    # --- while_loop's view ----------------------------------------------------------------------
    @property
    def has_flow(self):
        """Whether the buffer exists (else the element shape is still unknown)."""
        return self._flow is not None or self._element_shape.is_fully_defined()

    def loop_shape(self):
        """The shape invariant of the flow as a loop variable: the length may change only
        with dynamic_size."""
        flow = self.flow
        n = None if self._dynamic_size or flow.shape.rank is None else flow.shape[0]
        return TensorShape([n]).concatenate(flow.shape[1:])

    def materialized(self, element_shape):
        """This array with a zero buffer for the (fully defined) `element_shape`."""
        elem = as_shape(element_shape)
        return self._new(self._zeros(elem.as_list()), elem)

    def with_flow(self, flow):
        """This array (its dtype, size and options) around another flow, whose static shape
        gives the element shape where it is compatible with this array's."""
        elem = flow.shape[1:]
        if elem.rank is not None and elem.is_compatible_with(self._element_shape):
            elem = elem.merge_with(self._element_shape)
        return self._new(flow, elem)

    def __repr__(self):
        return (f"<ng.TensorArray {self._dtype.name} size={self._size} "
                f"element_shape={self._element_shape}>")
