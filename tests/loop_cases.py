"""Loops and helpers shared by the loop test files.

Several files build the same loop on purpose: a native loop is compiled once per distinct
body (keyed by its generated source), so files that build their loops here share one
compile in a test run.  Change a loop here and every file using it still compiles it once.
"""
import numpy as np

import numgrad as ng
from numgrad import config
from numgrad.control import native_loop

import budget

F64 = ng.float64
# The Python-loop run of `run_three` is a reference for the native loop: by default its loop
# bodies run with the NumPy interpreter, so it compiles nothing (compiling them cost
# test_native_loops 28% of its cold CPU: 173 cached functions against 101); with
# NUMGRAD_SLOW=1 they compile into plan functions, as a hot loop's would with native loops
# off.  Compiled bodies in a Python loop keep their own default tests: test_compiled_functions
# (rolls, row gathers, TensorArrays, map_fn), test_loop_gradient_plan and test_loops_in_plan
# (loop gradients), test_native_loops' switch-off test.
PYTHON_LOOP_COMPILE_AFTER = 0 if budget.SLOW else 10 ** 9
_WRITE_CHECK = "raise IndexError('TensorArray index out of range')"


def run_three(graph, fetches, feed):
    """(native cpu, Python-loop cpu, numpy backend) results of one run (the Python loop's
    bodies compiled after PYTHON_LOOP_COMPILE_AFTER calls)."""
    out = []
    for backend, native in (("cpu", True), ("cpu", False), ("numpy", True)):
        after = 0 if native else PYTHON_LOOP_COMPILE_AFTER
        with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=after, NUMGRAD_NATIVE_LOOPS=native,
                             NUMGRAD_BACKGROUND_COMPILE=False):
            with ng.Session(graph=graph, backend=backend) as s:
                out.append(s.run(fetches, feed))
    return out


def decay(x0, a, n):
    """x <- x * a + 0.1 sin(x), n times from x0 (n a tensor: a fed trip count lets every
    count share one compiled loop); the final x."""
    _, x = ng.while_loop(lambda i, x: i < n, lambda i, x: (i + 1, x * a + 0.1 * ng.sin(x)),
                         [ng.constant(0), x0])
    return x


def decay_inputs():
    """The placeholders of `decay`: x0 [3], a [], n []."""
    return (ng.placeholder(F64, [3], name="x0"), ng.placeholder(F64, [], name="a"),
            ng.placeholder(ng.int32, [], name="n"))


def decay_graph(second_order=True):
    """The decay loop's graph, n fed: (graph, (x0, a, n), fetches).  The fetches are the loss
    and its gradients w.r.t. x0 and a; with `second_order` also x first and, last, d/da of the
    sum of the x0-gradient."""
    g = ng.Graph()
    with g.as_default():
        x0, a, n = decay_inputs()
        x = decay(x0, a, n)
        loss = ng.reduce_sum(x * x)
        gx, ga = ng.gradients(loss, [x0, a])
        if not second_order:
            return g, (x0, a, n), [loss, gx, ga]
        gga, = ng.gradients(ng.reduce_sum(gx), [a])
    return g, (x0, a, n), [x, loss, gx, ga, gga]


def tanh_rnn(x, w, steps=4):
    """h_t = tanh(w h_{t-1} + x_t) over the rows of x, every h_t written to a TensorArray;
    the stacked h (steps, 3)."""
    inputs = ng.TensorArray(F64, size=steps).unstack(x)

    def body(t, h, out):
        h = ng.tanh(w * h + inputs.read(t))
        return t + 1, h, out.write(t, h)
    _, _, out = ng.while_loop(lambda t, h, out: t < steps, body,
                              [0, ng.zeros([3], F64), ng.TensorArray(F64, size=steps)])
    return out.stack()


def sin_map(x, w):
    """map_fn of sin(r * w) over the rows r of x."""
    return ng.map_fn(lambda r: ng.sin(r * w), x)


def sin_map_gradients(n, lean=True):
    """The graph of sin_map over n rows of 3 with a fed w, loss sum(y^2) and its gradients
    w.r.t. x and w (built with NUMGRAD_LOOP_GRAD_LEAN=`lean`): (graph, (x, w), loss,
    [loss, dx, dw])."""
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [n, 3], name="x")
        w = ng.placeholder(F64, [3], name="w")
        y = sin_map(x, w)
        loss = ng.reduce_sum(y * y)
        with config.override(NUMGRAD_LOOP_GRAD_LEAN=lean):
            gx, gw = ng.gradients(loss, [x, w])
    return g, (x, w), loss, [loss, gx, gw]


def matmul_loop(x):
    """v <- m v + 1, 4 times from x (3, 1), m a constant (3, 3): a body with a product, which
    native loops do not take; the final v."""
    m = ng.constant(np.eye(3) * 0.5 + 0.1, F64)
    _, y = ng.while_loop(lambda i, v: i < 4, lambda i, v: (i + 1, ng.matmul(m, v) + 1.0),
                         [0, x])
    return y


def gather_sum(table, n):
    """acc <- acc + table[i] for i < n (n fed: beyond table's rows the gather is out of
    range); the final acc."""
    _, acc = ng.while_loop(lambda i, acc: i < n,
                           lambda i, acc: (i + 1, acc + ng.gather(table, i)),
                           [0, ng.zeros([2], F64)])
    return acc


def ta_writes(op):
    """(in place, copies): the TensorArray writes of the native loops of While `op`, counted
    from their emitted source (the line after a write's index check names its output);
    (0, 0) when none of its loops ran natively."""
    inplace = copies = 0
    for lp in native_loop._LOOPS[op.get_attr("body_graph")].values():
        lines = getattr(lp, "source", "").splitlines()
        for k, line in enumerate(lines):
            if line.strip() == _WRITE_CHECK:
                if lines[k + 1].strip().endswith(".copy()"):
                    copies += 1
                else:
                    inplace += 1
    return inplace, copies


def central_differences(fun, x, eps=1e-6):
    """The gradient of scalar NumPy function `fun` at `x` by central differences."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        up, dn = x.copy(), x.copy()
        up[k] += eps
        dn[k] -= eps
        g[k] = (fun(up) - fun(dn)) / (2 * eps)
    return g
