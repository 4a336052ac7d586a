"""ng.py_func / ng.numpy_function: Python called with NumPy arrays when the op runs, on every
backend; stateful ops run on every run; TF's dtype and error rules; no gradient."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.errors import InvalidArgumentError, UnknownError


def _cuda_usable():
    try:
        from numba import cuda
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001  (no numba.cuda: not usable)
        return False


BACKENDS = ["numpy", "cpu"] + (["cuda"] if _cuda_usable() else [])


@pytest.mark.parametrize("backend", BACKENDS)
def test_values_outputs_and_calls_per_run(backend):
    p = ng.placeholder(ng.float32, [3])
    seen = []

    def double(x):
        seen.append(x.copy())
        return x * 2

    d = ng.py_func(double, [p], ng.float32)
    d.set_shape([3])                     # lets the cpu backend compile the ops around it
    y = ng.sin(d) + 1.0
    a, b = ng.numpy_function(lambda x: (x + 1, np.int64(x.size)), [p], [ng.float32, ng.int64],
                             stateful=False)
    calls = []
    c = ng.py_func(lambda: np.float32(calls.append(1) or len(calls)), [], [ng.float32])
    with ng.Session(backend=backend) as s:
        xv = np.array([0.5, -1.0, 2.0], np.float32)
        got = s.run([y, a, b], {p: xv})
        np.testing.assert_allclose(got[0], np.sin(2 * xv) + 1, rtol=1e-6)
        np.testing.assert_array_equal(got[1], xv + 1)
        assert got[2] == 3 and got[2].dtype == np.int64
        np.testing.assert_array_equal(seen[-1], xv)
        assert isinstance(seen[-1], np.ndarray) and seen[-1].dtype == np.float32
        assert [s.run(c)[0] for _ in range(3)] == [1.0, 2.0, 3.0]   # no inputs: still per run
    assert isinstance(c, list) and d.shape.as_list() == [3]


def test_constant_inputs_still_run_every_time_and_override_gradient(sess):
    calls = []
    c = ng.py_func(lambda a: np.float32(calls.append(1) or a.sum()), [ng.constant([1.0, 2.0])],
                   ng.float32)
    assert [sess.run(c) for _ in range(3)] == [3.0, 3.0, 3.0] and len(calls) == 3

    @ng.RegisterGradient("PyFuncTimesThree")
    def _grad(op, grad):
        return [grad * 3.0]
    x = ng.placeholder(ng.float32, [2])
    with ng.get_default_graph().gradient_override_map({"PyFunc": "PyFuncTimesThree"}):
        y = ng.py_func(lambda a: a * 3, [x], ng.float32)
    assert [t.op.type for t in y.op.inputs] == ["StatefulInput"]      # one input: x's
    gx, = ng.gradients(ng.reduce_sum(y), [x])
    np.testing.assert_array_equal(sess.run(gx, {x: [1.0, 2.0]}), [3.0, 3.0])


def test_static_facts_and_no_gradient():
    p = ng.placeholder(ng.float32, [3])
    d = ng.py_func(np.negative, [p], ng.float32, name="neg")
    assert d.op.type == "PyFunc" and d.op.name == "neg" and d.shape.ndims is None
    assert ng.numpy_function(np.negative, [p], ng.float32, stateful=False).op.type == \
        "PyFuncStateless"
    op = ng.py_func(lambda x: None, [p], [])
    assert isinstance(op, ng.Operation)
    assert ng.gradients(ng.reduce_sum(d), [p]) == [None]
    with pytest.raises(TypeError, match="func must be callable"):
        ng.py_func(3, [p], ng.float32)


def test_shape_unknown_runs_interpreted_and_mismatched_set_shape_fails(sess):
    p = ng.placeholder(ng.float32, [None])
    d = ng.py_func(lambda x: np.concatenate([x, x]), [p], ng.float32)
    np.testing.assert_array_equal(sess.run(d * 2.0, {p: [1, 2]}), [2, 4, 2, 4])
    e = ng.py_func(lambda x: np.concatenate([x, x]), [p], ng.float32)
    e.set_shape([2])
    with pytest.raises(InvalidArgumentError, match=r"has shape \(4,\), which contradicts its "
                                                   r"static shape \(2,\)"):
        sess.run(e + 1.0, {p: [1, 2]})


@pytest.mark.parametrize("func, error, match", [
    (lambda x: 1 / 0, UnknownError, "ZeroDivisionError: division by zero"),
    (lambda x: int("a"), InvalidArgumentError, "ValueError: invalid literal"),
    (lambda x: (x, x), InvalidArgumentError, "returns 2 values, but expects to see 1 values"),
    (lambda x: np.float64(x), InvalidArgumentError,
     "0-th value returned by f is float64, but expects float32"),
    (lambda x: 1.0, InvalidArgumentError, "is float64, but expects float32"),
])
def test_errors_at_run_time(sess, func, error, match):
    p = ng.placeholder(ng.float32, [])
    with pytest.raises(error, match=match):
        sess.run(ng.py_func(func, [p], ng.float32, name="f"), {p: 1.0})
