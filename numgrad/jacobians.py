"""Jacobians and forward mode: jacobian, batch_jacobian, jvp, hvp.

* ``jacobian(y, xs)``: the backward graph of ``y`` is built once with a seed placeholder ``u``
  in place of ``grad_ys`` and then *vectorised* (numgrad/batching.py) over the rows of an
  identity seed: one graph whose size does not grow with ``y.size`` (like TF's pfor-based
  ``GradientTape.jacobian`` and JAX's ``jacrev``).  An op on the way without a batching rule
  makes it fall back to one gradient call per element of ``y``, with a warning naming the op.
* ``jvp(ys, xs, vs)``: forward mode by the double-backward construction: ``g(u) = J^T u`` is
  linear in ``u``, so ``d(g . v)/du = J v`` for any value of ``u``.
* ``hvp(ys, xs, vs)``: the gradient of ``sum_i <grad_i, stop_gradient(v_i)>``.

Every call runs inside a graph transaction: if it raises, the graph is left as it was.  Ops
built only on the way (the seed placeholder and its unvectorised backward graph) are removed
once the result is built, so the graph only grows by what the results need.
"""
import warnings

import numpy as np

from . import batching
from .graph import Tensor, graph_of, executing_eagerly
from .gradients import UnconnectedGradients, gradients
from .gradients.impl import unconnected_enum
from .gradients.registry import declared_not_differentiable
from .indexed_slices import IndexedSlices
from .ops import array as A
from .ops import math as M
from .ops import reduce as R
from .ops.core import constant, convert_to_tensor, placeholder

__all__ = ["jacobian", "batch_jacobian", "jvp", "hvp"]


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _check_graph_mode(what):
    if executing_eagerly():
        raise RuntimeError(f"ng.{what} is not supported when eager execution is enabled. "
                           "Use graph mode (ng.disable_eager_execution()).")


def _tensors(values, what):
    out = []
    for v in values:
        if v is None:
            raise TypeError(f"{what} must not contain None")
        out.append(A.densify(v) if isinstance(v, IndexedSlices) else
                   v if isinstance(v, Tensor) else convert_to_tensor(v))
    return out


def _dense(g):
    return None if g is None else A.densify(g)


def _prune_unused(graph, first_new, keep):
    """Remove the ops created since index `first_new` that no tensor in `keep` needs.

    The gradient graph built around the seed placeholder is scaffolding once vectorised;
    removing it keeps the graph as small as the result.  Names stay reserved.
    """
    ops = graph._ops
    new_ops = set(ops[first_new:])
    live = set()
    stack = [t.op for t in keep if t is not None]
    while stack:
        op = stack.pop()
        if op in live or op not in new_ops:
            continue
        live.add(op)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    dead = new_ops - live
    if not dead:
        return
    graph._remove_ops(dead)


def _differentiably_connected(y, xs):
    """Whether a path of floating tensors through differentiable ops leads from xs to y."""
    targets, seen, stack = set(xs), set(), [y]
    while stack:
        t = stack.pop()
        if t in targets:
            return True
        if t in seen or not t.dtype.is_floating:
            continue
        seen.add(t)
        op = t.op
        if declared_not_differentiable(op):
            continue
        stack.extend(op.inputs)
    return False


def _seeded_rows(y, xs, seeds, use_pfor, scope):
    """For each x: the gradients of y for every seed row stacked, shape (m, *x.shape), or None.

    `seeds` is a NumPy array of shape (m, *y.shape).
    """
    graph = y.graph
    m = seeds.shape[0]
    if use_pfor:
        try:
            with graph._transaction(), graph.name_scope("pfor"):
                u = placeholder(y.dtype, y.shape, name="seed")
                gs = [_dense(g) for g in gradients(y, xs, grad_ys=u, name="gradients")]
                connected = [g for g in gs if g is not None]
                batched = iter(batching.vectorize(u, constant(seeds), connected))
                return [None if g is None else next(batched) for g in gs]
        except batching.NoBatchingRule as e:
            warnings.warn(f"{scope}: {e}; falling back to a loop of {m} gradient calls "
                          f"(y '{y.name}'). Add a rule to numgrad.batching.BATCH_RULES for "
                          f"op type {e.op_type} to vectorise it.", RuntimeWarning, stacklevel=3)
    rows = [[] for _ in xs]
    with graph.name_scope("loop"):
        for j in range(m):
            gs = gradients(y, xs, grad_ys=constant(seeds[j]), name="gradients")
            for r, g in zip(rows, gs):
                r.append(_dense(g))
    return [None if not r or r[0] is None else A.stack(r) for r in rows]


def _static_size(y, what):
    if not y.shape.is_fully_defined():
        raise ValueError(f"{what}: the shape {y.shape} of y '{y.name}' must be fully defined "
                         "when the graph is built (one jacobian row per element of y)")
    if not y.dtype.is_floating:
        raise TypeError(f"{what}: y '{y.name}' must be a floating-point tensor, got "
                        f"{y.dtype.name}")
    return y.shape.num_elements()


def _full_shape(lead, x):
    """lead + x.shape as a static list, or as a shape tensor if x's shape is not static."""
    if x.shape.is_fully_defined():
        return list(lead) + x.shape.as_list()
    return A.concat([constant(np.array(lead, np.int32).reshape(-1)), A.shape(x)], 0)


def _unconnected_result(x, shape, unconnected):
    if unconnected == UnconnectedGradients.ZERO:
        return A.zeros(shape, dtype=x.dtype) if isinstance(shape, list) else \
            A.fill(shape, constant(np.zeros((), x.dtype.np)))
    return None


def jacobian(y, xs, unconnected_gradients=UnconnectedGradients.NONE,
             experimental_use_pfor=True, name="jacobian"):
    """The Jacobian of `y` with respect to each x: shape ``y.shape + x.shape``.

    ``result[i..., j...] = d y[i...] / d x[j...]`` (as tf.GradientTape.jacobian and
    jax.jacrev).  The backward graph is built once and vectorised over the elements of y, so
    the graph does not grow with y's size; set ``experimental_use_pfor=False`` for one gradient
    call per element instead.  `y`'s shape must be static.

    `xs` is a tensor or a list of tensors (then a list comes back).  An x that `y` does not
    depend on gives None, or zeros with ``unconnected_gradients=ng.UnconnectedGradients.ZERO``.
    """
    _check_graph_mode("jacobian")
    single = not isinstance(xs, (list, tuple))
    unconnected = unconnected_enum(unconnected_gradients)
    xs = _as_list(xs)
    graph = graph_of([y] + xs)
    with graph.as_default(), graph._transaction():
        first_new = len(graph._ops)
        with graph.name_scope(name) as scope:
            y, = _tensors([y], "y")
            xs = _tensors(xs, "xs")
            graph_of([y] + xs)
            m = _static_size(y, "jacobian")
            ydims = y.shape.as_list()
            seeds = np.eye(m, dtype=y.dtype.np).reshape([m] + ydims)
            rows = _seeded_rows(y, xs, seeds, experimental_use_pfor, scope.rstrip("/"))
            out = []
            for x, r in zip(xs, rows):
                shape = _full_shape(ydims, x)
                out.append(_unconnected_result(x, shape, unconnected) if r is None
                           else A.reshape(r, shape))
        _prune_unused(graph, first_new, out)
    return out[0] if single else out


def batch_jacobian(y, x, unconnected_gradients=UnconnectedGradients.NONE,
                   experimental_use_pfor=True, name="batch_jacobian"):
    """Per-example Jacobians: ``result[b, i..., j...] = d y[b, i...] / d x[b, j...]``.

    For `y` of shape (B, *ys) and `x` of shape (B, *xs) whose row b of y depends only on row b
    of x (as in tf.GradientTape.batch_jacobian); the result has shape (B, *ys, *xs).  Costs one
    vectorised backward pass over prod(ys) seeds, not B * prod(ys).
    """
    _check_graph_mode("batch_jacobian")
    unconnected = unconnected_enum(unconnected_gradients)
    graph = graph_of([y, x])
    with graph.as_default(), graph._transaction():
        first_new = len(graph._ops)
        with graph.name_scope(name) as scope:
            y, x = _tensors([y, x], "y/x")
            _static_size(y, "batch_jacobian")
            if y.shape.rank < 1 or x.shape.rank is None or x.shape.rank < 1:
                raise ValueError(f"batch_jacobian: y '{y.name}' {y.shape} and x '{x.name}' "
                                 f"{x.shape} need a leading batch dimension")
            b = y.shape[0]
            if x.shape[0] is not None and x.shape[0] != b:
                raise ValueError(f"batch_jacobian: the batch dimensions of y '{y.name}' "
                                 f"{y.shape} and x '{x.name}' {x.shape} differ")
            ydims = y.shape.as_list()[1:]
            m = int(np.prod(ydims, dtype=np.int64))
            eye = np.eye(m, dtype=y.dtype.np).reshape([m, 1] + ydims)
            seeds = np.ascontiguousarray(np.broadcast_to(eye, [m, b] + ydims))
            r, = _seeded_rows(y, [x], seeds, experimental_use_pfor, scope.rstrip("/"))
            xdims = x.shape.as_list()[1:] if x.shape.is_fully_defined() else None
            if r is None:
                shape = ([b] + ydims + xdims) if xdims is not None else A.concat(
                    [constant(np.array([b] + ydims, np.int32)),
                     A.strided_slice(A.shape(x), slice(1, None))], 0)
                out = _unconnected_result(x, shape, unconnected)
            else:
                # r: (m, B, *xs) -> (*ys, B, *xs) -> (B, *ys, *xs)
                nx = x.shape.rank - 1
                if xdims is not None:
                    r = A.reshape(r, ydims + [b] + xdims)
                else:
                    r = _reshape_lead(r, ydims)
                ny = len(ydims)
                perm = [ny] + list(range(ny)) + list(range(ny + 1, ny + 1 + nx))
                out = A.transpose(r, perm)
                out.set_shape([b] + ydims + list(x.shape)[1:])
        _prune_unused(graph, first_new, [out])
    return out


def _reshape_lead(r, ydims):
    """(m, *rest) -> (*ydims, *rest) when rest is not static."""
    rest = A.strided_slice(A.shape(r), slice(1, None))
    return A.reshape(r, A.concat([constant(np.array(ydims, np.int32).reshape(-1)), rest], 0))


def jvp(ys, xs, vs, unconnected_gradients=UnconnectedGradients.NONE, name="jvp"):
    """Forward-mode directional derivatives: for each y, ``sum_i J_{y,x_i} v_i``.

    ``vs`` has one tangent per x, of x's shape.  Built by double backward (no forward-mode
    rules needed): with ``g(u) = gradients(ys, xs, grad_ys=u)``, linear in u, the gradient of
    ``sum_i <g_i(u), v_i>`` with respect to u is ``J v``.  Returns a list if `ys` is a list,
    else one tensor; a y that depends on no x gives None (zeros with
    ``unconnected_gradients=ng.UnconnectedGradients.ZERO``), like tf.autodiff.ForwardAccumulator;
    a y that depends on the xs only through ops of zero derivative (sign, floor) gives zeros.
    """
    _check_graph_mode("jvp")
    single = not isinstance(ys, (list, tuple))
    unconnected = unconnected_enum(unconnected_gradients)
    vs = _as_list(vs) if isinstance(xs, (list, tuple)) else [vs]   # one x: vs is its tangent
    ys, xs = _as_list(ys), _as_list(xs)
    if len(vs) != len(xs):
        raise ValueError(f"jvp: got {len(vs)} tangents vs for {len(xs)} xs")
    graph = graph_of(ys + xs + [v for v in vs if isinstance(v, Tensor)])
    with graph.as_default(), graph._transaction():
        first_new = len(graph._ops)
        with graph.name_scope(name):
            ys, xs = _tensors(ys, "ys"), _tensors(xs, "xs")
            vs = [v if isinstance(v, Tensor) else convert_to_tensor(v, dtype=x.dtype)
                  for v, x in zip(vs, xs)]
            for x, v in zip(xs, vs):
                if not v.shape.is_compatible_with(x.shape):
                    raise ValueError(f"jvp: tangent '{v.name}' has shape {v.shape}, but x "
                                     f"'{x.name}' has shape {x.shape}")
                if v.dtype != x.dtype:
                    raise TypeError(f"jvp: tangent '{v.name}' is {v.dtype.name}, but x "
                                    f"'{x.name}' is {x.dtype.name}")
            # Any value of u will do (the result does not depend on it); constant zeros keep
            # the dummy off the forward graph.
            us = [A.zeros(y.shape.as_list(), dtype=y.dtype) if y.shape.is_fully_defined()
                  else A.zeros_like(y) for y in ys]
            gs = [_dense(g) for g in gradients(ys, xs, grad_ys=us, name="backward")]
            pairs = [(g, v) for g, v in zip(gs, vs) if g is not None]
            if pairs:
                out = gradients([g for g, _ in pairs], us, grad_ys=[v for _, v in pairs],
                                name="forward")
            else:
                out = [None] * len(ys)
            # No gradient path from u to J v: y does not depend on any x (None), or only
            # through ops whose derivative is identically zero, like sign (zeros).
            out = [_dense(o) if o is not None else
                   (A.zeros_like(y) if unconnected == UnconnectedGradients.ZERO
                    or _differentiably_connected(y, xs) else None)
                   for o, y in zip(out, ys)]
        _prune_unused(graph, first_new, out)
    return out[0] if single else out


def hvp(ys, xs, vs, unconnected_gradients=UnconnectedGradients.NONE, name="hvp"):
    """Hessian-vector products of sum(ys): for each x_j, ``sum_i H_{j,i} v_i``.

    ``H_{j,i} = d^2 sum(ys) / dx_j dx_i``; ``vs`` has one vector per x, of x's shape.  Computed
    as the gradient of ``sum_i reduce_sum(grad_i * stop_gradient(v_i))``: two backward passes,
    never the Hessian.  Returns a list with one entry per x, like ng.gradients; None (or zeros
    with ``unconnected_gradients=ng.UnconnectedGradients.ZERO``) where sum(ys) does not depend
    on x, zeros where it does but its gradient does not (sum(ys) linear in x).
    """
    _check_graph_mode("hvp")
    unconnected = unconnected_enum(unconnected_gradients)
    vs = _as_list(vs) if isinstance(xs, (list, tuple)) else [vs]   # one x: vs is its vector
    xs = _as_list(xs)
    if len(vs) != len(xs):
        raise ValueError(f"hvp: got {len(vs)} vectors vs for {len(xs)} xs")
    ys_list = _as_list(ys)
    graph = graph_of(ys_list + xs + [v for v in vs if isinstance(v, Tensor)])
    with graph.as_default(), graph._transaction():
        first_new = len(graph._ops)
        with graph.name_scope(name):
            xs = _tensors(xs, "xs")
            vs = [v if isinstance(v, Tensor) else convert_to_tensor(v, dtype=x.dtype)
                  for v, x in zip(vs, xs)]
            for x, v in zip(xs, vs):
                if not v.shape.is_compatible_with(x.shape):
                    raise ValueError(f"hvp: vector '{v.name}' has shape {v.shape}, but x "
                                     f"'{x.name}' has shape {x.shape}")
            gs = [_dense(g) for g in gradients(ys_list, xs, name="first")]
            terms = [R.reduce_sum(M.multiply(g, A.stop_gradient(v)))
                     for g, v in zip(gs, vs) if g is not None]
            if terms:
                inner = M.add_n(terms) if len(terms) > 1 else terms[0]
                second = gradients(inner, xs, name="second", unconnected_gradients=unconnected)
                # A gradient that does not depend on x (f linear in x) has H v = 0.
                out = [_dense(h) if h is not None else
                       (A.zeros_like(x) if g is not None else None)
                       for h, g, x in zip(second, gs, xs)]
            else:
                out = [_unconnected_result(x, _full_shape([], x), unconnected) for x in xs]
        _prune_unused(graph, first_new, out)
    return out
