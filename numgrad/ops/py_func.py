"""Ops that call Python while a graph runs: PyFunc / PyFuncStateless (tf.compat.v1.py_func,
numpy_function).

The function is called with the inputs' NumPy arrays, on every backend: these are opaque ops
whose NumPy reference *is* the call, so the cpu backend runs them as their own host step
(never fused: the kernels around them end before and start after), and the cuda backend runs
them on the host like any opaque op without a device kernel.

* A stateful op (the default) reads its first input through a StatefulInput op that also
  reads the Session's run counter (``stateful_inputs``): so it is never folded into a
  constant when the graph is planned nor merged with an equal op, and the function is called
  once per run that needs it, while its own inputs are still the user's.  A stateless one may be folded when
  its inputs are constants and merged with an identical call, as TF allows.
* The outputs' static shapes are unknown, as in TF.  A plan whose shapes are unknown is
  interpreted with NumPy; ``out.set_shape(...)`` on the outputs (as TF users do) lets the rest
  of the graph be compiled, and the returned arrays are then checked against it.
* The returned values must have the declared dtypes exactly (TF's rule: a Python float is a
  float64), else InvalidArgumentError.  A ValueError or TypeError raised by the function
  becomes InvalidArgumentError; any other exception UnknownError (its message kept).
* Not differentiable (TF's NotDifferentiable): ``gradients`` gives None through them, unless
  a gradient is given with ``Graph.gradient_override_map({"PyFunc": "MyGrad"})``.

``run_counter`` is also used by the other ops that must run on every run (printing).
"""
import threading

import numpy as np

from .. import dtypes as _dt
from ..errors import InvalidArgumentError, OpError, UnknownError
from .. import batching
from ..graph import executing_eagerly, get_default_graph
from ..gradients.registry import NotDifferentiable, RegisterGradient
from ..tensor_shape import TensorShape
from .core import convert_to_tensor
from .registry import register_op

__all__ = ["py_func", "numpy_function", "run_counter", "stateful_inputs", "OutputShapes"]


def run_counter(graph, name):
    """A RandomCounter (the Session's run count for it) to give a stateful op as its last
    input: an input that is never a constant, so the op is neither folded nor merged.  None
    in eager mode (the op runs at once there)."""
    if executing_eagerly():
        return None
    return graph.create_op("RandomCounter", [], {"random_start": False},
                           name=name).outputs[0]


def _pass_infer(inputs, attrs):
    return [(inputs[0].dtype, inputs[0].shape)]


# StatefulInput(x, counter) -> a copy of x: a value that is never a constant, so an op reading
# it is neither folded nor merged, while its gradient (registered below) is x's alone.
register_op("StatefulInput", _pass_infer, lambda values, attrs: [np.array(values[0])],
            kind="opaque", traits=("serial",))


@RegisterGradient("StatefulInput")
def _stateful_input_grad(op, grad):
    return [grad, None]


batching.NOT_BATCHABLE.setdefault("StatefulInput", "forward only: its gradient is the "
                                                   "incoming gradient itself")


def stateful_inputs(graph, inputs, counter):
    """`inputs` for an op that must run on every run: the first one passed through
    StatefulInput with the run `counter` (or [counter] when there are none), so that the op's
    own inputs stay the user's (a gradient_override_map gradient sees them) and yet the op
    is never folded into a constant nor merged with an equal one."""
    if not inputs:
        return [counter]
    first = graph.create_op("StatefulInput", [inputs[0], counter], {},
                            "StatefulInput").outputs[0]
    return [first] + list(inputs[1:])


class OutputShapes:
    """The op's output tensors, once made: its shape rule returns their static shapes, so
    ``set_shape`` on a py_func output is what the planner sees."""

    __slots__ = ("tensors", "count", "lock")

    def __init__(self):
        self.tensors = ()
        self.count = 0                  # runs so far (Print's first_n)
        self.lock = threading.Lock()

    def shape(self, i):
        return self.tensors[i].shape if self.tensors else TensorShape(None)


def _infer(inputs, attrs):
    return [(dt, attrs["outputs"].shape(i)) for i, dt in enumerate(attrs["Tout"])]


def _call(values, attrs):
    n, name = attrs["n_inputs"], attrs["op_name"]
    args = [np.asarray(v) for v in values[:n]]
    try:
        ret = attrs["func"](*args)
    except OpError:
        raise
    except (ValueError, TypeError) as e:
        raise InvalidArgumentError(f"{type(e).__name__}: {e}\n\t [[node {name}]]") from e
    except Exception as e:  # noqa: BLE001  (any exception of the user's function)
        raise UnknownError(f"{type(e).__name__}: {e}\n\t [[node {name}]]") from e
    touts = attrs["Tout"]
    if not touts and not attrs["single"]:
        return []
    ret = list(ret) if isinstance(ret, (list, tuple)) else [ret]     # TF: a tuple is values
    if len(ret) != len(touts):
        raise InvalidArgumentError(f"{name} returns {len(ret)} values, but expects to see "
                                   f"{len(touts)} values.")
    out = []
    for i, (r, dt) in enumerate(zip(ret, touts)):
        a = np.asarray(r)
        if a.dtype != dt.np:
            got = _dt.as_dtype(a.dtype).name if a.dtype.kind in "biuf" else str(a.dtype)
            raise InvalidArgumentError(f"{i}-th value returned by {name} is {got}, but "
                                       f"expects {dt.name}\n\t [[node {name}]]")
        static = attrs["outputs"].shape(i)
        if not static.is_compatible_with(a.shape):
            raise InvalidArgumentError(f"{i}-th value returned by {name} has shape "
                                       f"{a.shape}, which contradicts its static shape "
                                       f"{static} (set_shape)\n\t [[node {name}]]")
        out.append(a)
    return out


register_op("PyFunc", _infer, _call, kind="opaque", traits=("serial",))
register_op("PyFuncStateless", _infer, _call, kind="opaque", traits=("serial",))
for _t in ("PyFunc", "PyFuncStateless"):
    NotDifferentiable(_t)
    batching.NOT_BATCHABLE.setdefault(_t, "not differentiable: no seed-dependent tensor "
                                          "reaches it in a backward graph")


def _build(func, inp, Tout, stateful, name, default_name):
    if not callable(func):
        raise TypeError(f"{default_name}: func must be callable, got {func!r}")
    single = not isinstance(Tout, (list, tuple))
    touts = (_dt.as_dtype(Tout),) if single else tuple(_dt.as_dtype(t) for t in Tout)
    if inp is None:
        inp = []
    if not isinstance(inp, (list, tuple)):
        raise TypeError(f"{default_name}: inp must be a list of tensors, got {type(inp)}")
    graph = get_default_graph()
    with graph._transaction():
        inputs = [convert_to_tensor(x) for x in inp]
        op_type = "PyFunc" if stateful else "PyFuncStateless"
        n_inputs = len(inputs)
        counter = run_counter(graph, (name or op_type) + "_run") if stateful else None
        if counter is not None:
            inputs = stateful_inputs(graph, inputs, counter)
        holder = OutputShapes()
        attrs = {"func": func, "Tout": touts, "single": single, "n_inputs": n_inputs,
                 "outputs": holder, "op_name": name or op_type}
        op = graph.create_op(op_type, inputs, attrs, name or op_type)
        op._attrs["op_name"] = op.name       # the run-time errors name the op
        holder.tensors = tuple(op.outputs)
    if single:
        return op.outputs[0]
    return list(op.outputs) if touts else op


def py_func(func, inp, Tout, stateful=True, name=None):  # noqa: N803  (TF's argument name)
    """tf.compat.v1.py_func: ``func(*arrays)`` called with the inputs' NumPy arrays each time
    the op runs; its result(s) must have the dtype(s) `Tout` (a dtype: one tensor; a list:
    a list of tensors; an empty list: the op).  Output shapes are unknown (use set_shape).
    Never fused, not differentiable; see numgrad/ops/py_func.py."""
    return _build(func, inp, Tout, stateful, name, "py_func")


def numpy_function(func, inp, Tout, stateful=True, name=None):  # noqa: N803
    """tf.compat.v1.numpy_function: as py_func (the function gets and returns NumPy
    arrays)."""
    return _build(func, inp, Tout, stateful, name, "numpy_function")
