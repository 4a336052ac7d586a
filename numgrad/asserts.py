"""Run-time assertions: tf.compat.v1.Assert and the assert_* checks (tf.debugging).

``Assert(condition, data)`` is an op with no outputs that raises InvalidArgumentError when it
runs with a false `condition`, its message listing `data` as TF does::

    assertion failed: [message] [Condition x == y did not hold element-wise:]
    [x (Placeholder:0) = ] [1 2 4] [y (assert_equal/y:0) = ] [1 2 3]

(tensors show their first `summarize` values, default 3).  As in TF1 the op is run by
fetching it or, usually, through ``ng.control_dependencies([assert_op])``.

The comparisons (``assert_equal(x, y)`` ...) check what is known when the graph is built:
constant operands that fail raise InvalidArgumentError at once (and leave the graph as it
was); a rank or dtype known to be wrong raises ValueError / TypeError.  Otherwise they
return the Assert op, which checks the values on every run.  Assert is not differentiable.
"""
import numpy as np

from . import batching
from . import dtypes as _dt
from .errors import InvalidArgumentError
from .graph import atomic, get_default_graph, name_scope, Tensor
from .gradients.registry import NotDifferentiable
from .ops import array as _array
from .ops import math as _math
from .ops.math_extra import reduce_all
from .ops.control import no_op
from .ops.core import constant_value, convert_to_tensor
from .ops.registry import register_op
from .printing import summarize_v1

__all__ = ["Assert", "assert_equal", "assert_none_equal", "assert_less", "assert_less_equal",
           "assert_greater", "assert_greater_equal", "assert_negative", "assert_positive",
           "assert_non_negative", "assert_non_positive", "assert_rank", "assert_rank_at_least",
           "assert_type"]


def _assert_infer(inputs, attrs):
    cond = inputs[0]
    if cond.dtype != _dt.bool_:
        raise TypeError(f"Assert: condition must be a bool tensor, got {cond.dtype.name}")
    if cond.shape.ndims not in (None, 0):
        raise ValueError(f"Assert: condition must be a scalar, got shape {cond.shape}")
    return []


def _assert_compute(values, attrs):
    if bool(np.all(values[0])):
        return []
    parts = [summarize_v1(values[1 + item], attrs["summarize"]) if kind == "tensor" else item
             for kind, item in attrs["template"]]
    raise InvalidArgumentError("assertion failed: " + " ".join(f"[{p}]" for p in parts)
                               + f"\n\t [[node {attrs['op_name']}]]")


register_op("Assert", _assert_infer, _assert_compute, kind="opaque")
NotDifferentiable("Assert")
batching.NOT_BATCHABLE.setdefault("Assert", "has no outputs: nothing to batch")


@atomic
def Assert(condition, data, summarize=None, name=None):  # noqa: N802  (TF's name)
    """tf.compat.v1.Assert: an op raising InvalidArgumentError, with `data` (strings and
    tensors) in its message, when run with `condition` false."""
    graph = get_default_graph()
    with name_scope(name, "Assert", [condition]):
        condition = convert_to_tensor(condition)
        template, tensors = [], []
        for d in data:
            if isinstance(d, str):
                template.append(("str", d))
            else:
                template.append(("tensor", len(tensors)))
                tensors.append(convert_to_tensor(d))
        attrs = {"template": tuple(template), "summarize": 3 if summarize is None else summarize,
                 "op_name": "Assert"}
        op = graph.create_op("Assert", [condition] + tensors, attrs, "Assert")
        op._attrs["op_name"] = op.name
        return op


def _prefix(message):
    """TF's lead-in for a message of the sign and rank checks ("msg.  ", or "")."""
    return f"{message}.  " if message else ""


def _static_failure(data):
    lines = []
    for d in data:
        if isinstance(d, Tensor):
            v = constant_value(d)
            lines.append(str(np.asarray(v)) if v is not None else d.name)
        else:
            lines.append(str(d))
    raise InvalidArgumentError("\n".join(lines))


def _binary(kind, symbol, test, np_test, x, y, data, summarize, message, name):
    with name_scope(name, kind, [x, y]):
        return _binary_body(kind, symbol, test, np_test, x, y, data, summarize, message)


def _binary_body(kind, symbol, test, np_test, x, y, data, summarize, message):
    """The checks and the Assert op of a comparison, in the caller's name scope."""
    x = convert_to_tensor(x, name="x")
    y = convert_to_tensor(y, name="y", dtype=x.dtype if not isinstance(y, Tensor) else None)
    if x.dtype != y.dtype:
        raise TypeError(f"{kind}: x and y must have the same dtype, got {x.dtype.name} and "
                        f"{y.dtype.name}")
    if not x.shape.is_compatible_with(y.shape) and x.shape.ndims and y.shape.ndims:
        try:
            np.broadcast_shapes(tuple(d or 1 for d in x.shape.as_list()),
                                tuple(d or 1 for d in y.shape.as_list()))
        except ValueError:
            raise ValueError(f"{kind}: shapes {x.shape} and {y.shape} are not "
                             "broadcastable") from None
    if data is None:
        data = [f"Condition x {symbol} y did not hold element-wise:",
                f"x ({x.name}) = ", x, f"y ({y.name}) = ", y]
    if message is not None:
        data = [message] + list(data)
    xs, ys = constant_value(x), constant_value(y)
    if xs is not None and ys is not None and not np.all(np_test(xs, ys)):
        _static_failure(data)
    condition = reduce_all(test(x, y))
    return Assert(condition, data, summarize=summarize)


def _make_binary(kind, symbol, test, np_test):
    @atomic
    def check(x, y, data=None, summarize=None, message=None, name=None):
        return _binary(kind, symbol, test, np_test, x, y, data, summarize, message, name)
    check.__name__ = check.__qualname__ = kind
    check.__doc__ = (f"tf.compat.v1.{kind}: the Assert op checking ``x {symbol} y`` "
                     "element-wise (broadcasting) when run; InvalidArgumentError at once "
                     "if both are constants and it fails.")
    return check


assert_equal = _make_binary("assert_equal", "==", _math.equal, np.equal)
assert_none_equal = _make_binary("assert_none_equal", "!=", _math.not_equal, np.not_equal)
assert_less = _make_binary("assert_less", "<", _math.less, np.less)
assert_less_equal = _make_binary("assert_less_equal", "<=", _math.less_equal, np.less_equal)
assert_greater = _make_binary("assert_greater", ">", _math.greater, np.greater)
assert_greater_equal = _make_binary("assert_greater_equal", ">=", _math.greater_equal,
                                    np.greater_equal)


def _make_sign(kind, symbol, test, np_test):
    @atomic
    def check(x, data=None, summarize=None, message=None, name=None):
        with name_scope(name, kind, [x]):
            x = convert_to_tensor(x, name="x")
            if data is None:
                data = [_prefix(message), f"Condition x {symbol} 0 did not hold element-wise:",
                        f"x ({x.name}) = ", x]
            zero = convert_to_tensor(0, dtype=x.dtype)
            return _binary_body(kind, symbol, test, np_test, x, zero, data, summarize, None)
    check.__name__ = check.__qualname__ = kind
    check.__doc__ = (f"tf.compat.v1.{kind}: the Assert op checking ``x {symbol} 0`` "
                     "element-wise when run; InvalidArgumentError at once if x is a "
                     "constant that fails.")
    return check


assert_negative = _make_sign("assert_negative", "<", _math.less, np.less)
assert_positive = _make_sign("assert_positive", ">", _math.greater, np.greater)
assert_non_negative = _make_sign("assert_non_negative", ">=", _math.greater_equal,
                                 np.greater_equal)
assert_non_positive = _make_sign("assert_non_positive", "<=", _math.less_equal, np.less_equal)


def _rank_check(kind, x, rank, message, name, at_least):
    with name_scope(name, kind, [x]):
        x = convert_to_tensor(x)
        want = "rank at least" if at_least else "rank"
        if not isinstance(rank, (int, np.integer)):
            raise TypeError(f"{kind}: rank must be a Python int, got {rank!r}")
        ndims = x.shape.ndims
        if ndims is not None:
            if ndims < rank if at_least else ndims != rank:
                raise ValueError(f"{_prefix(message)}Tensor {x.name} must have {want} {rank}.  Received "
                                 f"rank {ndims}, shape {tuple(x.shape.as_list())}")
            return no_op(name="static_checks_determined_all_ok")
        r = _array.rank(x)
        cond = (_math.greater_equal if at_least else _math.equal)(r, rank)
        data = [_prefix(message), f"Tensor {x.name} must have {want}", rank,
                "Received shape: ", _array.shape(x)]
        return Assert(cond, data)


@atomic
def assert_rank(x, rank, message=None, name=None):
    """tf.compat.v1.assert_rank: ValueError now if x's rank is known and not `rank`; a no-op
    if it is; else the Assert op checking it when run."""
    return _rank_check("assert_rank", x, rank, message, name, at_least=False)


@atomic
def assert_rank_at_least(x, rank, message=None, name=None):
    """tf.compat.v1.assert_rank_at_least: as assert_rank, for a rank of at least `rank`."""
    return _rank_check("assert_rank_at_least", x, rank, message, name, at_least=True)


def assert_type(tensor, tf_type, message=None, name=None):
    """tf.compat.v1.assert_type: TypeError unless `tensor` has dtype `tf_type` (a static
    check: returns a no-op)."""
    tensor = convert_to_tensor(tensor)
    tf_type = _dt.as_dtype(tf_type)
    if tensor.dtype != tf_type:
        prefix = f"{message}" if message else ""
        raise TypeError(f"{prefix}{tensor.name} must be of type {tf_type!r}; got "
                        f"{tensor.dtype!r}")
    return no_op(name=name or "statically_determined_correct_type")
