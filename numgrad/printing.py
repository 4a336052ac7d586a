"""Printing while a graph runs: tf.compat.v1.Print (an identity that prints its data) and
tf.print (an op that prints).

Both are opaque host ops that take the Session's run counter as a hidden input (see
numgrad/ops/py_func.py), so they print on every run that needs them, even when their data
are constants.  Values are written as TF writes them:

* ``Print``: ``message`` then each tensor's first `summarize` (default 3) values in brackets,
  nested by dimension, with ``...`` where values were left out: ``msg[[1 2 3]...][7]``, on
  stderr; `first_n` limits how many runs print (counted per op, across Sessions).
* ``print``: its arguments joined by `sep`, each tensor laid out like a NumPy array but
  showing the first and last `summarize` (default 3) entries of each dimension, written to
  `output_stream` (sys.stderr by default; sys.stdout, a ``"file://path"`` appended to, or a
  logging function such as ``ng.logging.info``).

Floats use the fewest digits that read back as the same float32 (``%.6g``, else ``%.9g``)
or float64 (``%.15g``, else ``%.17g``); booleans print as 1 and 0.
"""
import sys

import numpy as np

from . import batching
from .graph import Tensor, get_default_graph, name_scope
from .gradients.registry import NotDifferentiable
from .ops.array import identity
from .ops.core import convert_to_tensor
from .ops.py_func import OutputShapes, run_counter
from .ops.registry import register_op

__all__ = ["Print", "print_v2", "format_element", "summarize_v1", "summarize_v2"]


def format_element(x):
    """One value as TF prints it."""
    if isinstance(x, (np.bool_, bool)):
        return "1" if x else "0"
    if isinstance(x, np.floating):
        short, full = ("%.6g", "%.9g") if x.dtype.itemsize <= 4 else ("%.15g", "%.17g")
        s = short % x
        return s if x.dtype.type(s) == x or np.isnan(x) else full % x
    return str(x)


def summarize_v1(a, summarize=3):
    """Print's layout: the first `summarize` values (all if negative), nested brackets."""
    a = np.asarray(a)
    flat = a.reshape(-1)
    limit = flat.size if summarize is None or summarize < 0 else min(summarize, flat.size)
    if a.ndim <= 1:
        out = " ".join(format_element(v) for v in flat[:limit])
    else:
        parts, index = [], [0]
        _one_dim_v1(a.shape, 0, limit, flat, index, parts)
        out = "".join(parts)
    return out + ("..." if limit < flat.size else "")


def _one_dim_v1(shape, dim, limit, flat, index, out):
    if index[0] >= limit:
        return
    if dim == len(shape) - 1:
        for i in range(shape[dim]):
            if index[0] >= limit:
                if dim != 0:
                    out.append("...")
                return
            if i > 0:
                out.append(" ")
            out.append(format_element(flat[index[0]]))
            index[0] += 1
        return
    for _ in range(shape[dim]):
        opened = index[0] < limit
        if opened:
            out.append("[")
        _one_dim_v1(shape, dim + 1, limit, flat, index, out)
        if index[0] < limit or opened:
            out.append("]")


def summarize_v2(a, summarize=3):
    """tf.print's layout: NumPy-like rows; each dimension longer than 2 * summarize shows its
    first and last `summarize` entries around ``...`` (all of them if summarize is -1)."""
    a = np.asarray(a)
    if a.ndim == 0:
        return format_element(a.reshape(())[()])
    if summarize is None:
        summarize = 3
    out = []
    _one_dim_v2(a, 0, a.ndim, summarize if summarize >= 0 else max(a.shape), out)
    return "".join(out)


def _spacing(dim, ndims, out):
    if dim == ndims - 1:
        out.append(" ")
    else:
        out.append("\n" * (ndims - dim - 1) + " " * (dim + 1))


def _one_dim_v2(a, dim, ndims, ends, out):
    if dim == ndims:
        out.append(format_element(a[()]))
        return
    out.append("[")
    n = a.shape[0]
    for i in range(min(ends, n)):
        if i > 0:
            _spacing(dim, ndims, out)
        _one_dim_v2(a[i], dim + 1, ndims, ends, out)
    if n > 2 * ends:
        _spacing(dim, ndims, out)
        out.append("...")
    for i in range(max(ends, n - ends), n):
        _spacing(dim, ndims, out)
        _one_dim_v2(a[i], dim + 1, ndims, ends, out)
    out.append("]")


# --- the ops ------------------------------------------------------------------------------
def _no_outputs(inputs, attrs):
    return []


def _print_v1(values, attrs):
    holder = attrs["state"]
    with holder.lock:
        holder.count += 1
        if attrs["first_n"] is not None and 0 <= attrs["first_n"] < holder.count:
            return []
    text = attrs["message"] + "".join(
        f"[{summarize_v1(v, attrs['summarize'])}]" for v in values[:attrs["n_data"]])
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
    return []


def _print_v2(values, attrs):
    parts = []
    for kind, item in attrs["template"]:
        parts.append(summarize_v2(values[item], attrs["summarize"]) if kind == "tensor"
                     else item)
    text = attrs["sep"].join(parts) + attrs["end"]
    stream = attrs["output_stream"]
    if stream is None:                      # the default: stderr as it is when run
        stream = sys.stderr
    if isinstance(stream, str):             # "file://path": appended to
        with open(stream[len("file://"):], "a") as f:
            f.write(text)
    elif callable(stream):                  # a logging function: one message, no newline
        stream(text[:-len(attrs["end"])] if attrs["end"] and text.endswith(attrs["end"])
               else text)
    else:
        stream.write(text)
        if hasattr(stream, "flush"):
            stream.flush()
    return []


register_op("Print", _no_outputs, _print_v1, kind="opaque", traits=("serial",))
register_op("PrintV2", _no_outputs, _print_v2, kind="opaque", traits=("serial",))
for _t in ("Print", "PrintV2"):
    NotDifferentiable(_t)
    batching.NOT_BATCHABLE.setdefault(_t, "has no outputs: nothing to batch")


def Print(input_, data, message=None, first_n=None, summarize=None, name=None):  # noqa: N802
    """tf.compat.v1.Print: `input_` unchanged (an identity, differentiable as one) that, when
    run, writes `message` and the values of the tensors in `data` to stderr (see the module
    docstring for the layout, `first_n` and `summarize`)."""
    input_ = convert_to_tensor(input_)
    graph = input_.graph
    with graph._transaction(), graph.as_default(), name_scope(name, "Print", [input_]):
        data = [convert_to_tensor(d) for d in (data or [])]
        counter = run_counter(graph, "run")
        attrs = {"message": "" if message is None else str(message), "first_n": first_n,
                 "summarize": 3 if summarize is None else summarize, "n_data": len(data),
                 "state": OutputShapes()}
        op = graph.create_op("Print", data + ([counter] if counter is not None else []),
                             attrs, "Print")
        with graph.control_dependencies([op]):
            return identity(input_, name="Identity")


def print_v2(*inputs, output_stream=None, summarize=3, sep=" ", end="\n",
             name=None):
    """tf.print: an op that writes `inputs` (tensors, and strings or other Python values
    written as they are) joined by `sep` and followed by `end` to `output_stream` (default:
    sys.stderr, looked up when it runs) when run;
    run it, or make other ops depend on it with ``ng.control_dependencies``."""
    if isinstance(output_stream, str) and not output_stream.startswith("file://"):
        raise ValueError(f"print: output_stream {output_stream!r} is not a stream, a logging "
                         "function or a 'file://' path")
    graph = get_default_graph()
    with graph._transaction(), name_scope(name, "PrintV2"):
        template, tensors = [], []
        for x in inputs:
            if isinstance(x, Tensor):
                template.append(("tensor", len(tensors)))
                tensors.append(x)
            elif isinstance(x, str):
                template.append(("str", x))
            else:
                template.append(("str", repr(x) if isinstance(x, np.ndarray) else str(x)))
        counter = run_counter(graph, "run")
        attrs = {"template": tuple(template), "summarize": summarize, "sep": sep, "end": end,
                 "output_stream": output_stream}
        return graph.create_op("PrintV2", tensors + ([counter] if counter is not None else []),
                               attrs, "PrintV2")
