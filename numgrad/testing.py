"""Gradient checking (ng.test.compute_gradient / compute_gradient_error), as in TF 1.x.

The theoretical Jacobian comes from gradients() with one-hot grad_ys; the numerical one from
central differences.  Both are arrays of shape (x_size, y_size).
"""
import numpy as np

from .gradients import gradients
from .indexed_slices import IndexedSlicesValue
from .ops.core import placeholder
from .session import Session, get_default_session

__all__ = ["compute_gradient", "compute_gradient_error"]


def _dense(v, shape):
    if isinstance(v, IndexedSlicesValue):
        out = np.zeros(tuple(v.dense_shape), v.values.dtype)
        np.add.at(out, v.indices, v.values)
        return out
    return np.broadcast_to(v, shape)


def _seed_shape(y, y_shape):
    """The shape of the one-hot seeds fed for y.  Like TF's checker, only y_shape's size
    matters when y's static shape is fully defined (y_shape=[1] for a scalar y is fine): the
    seeds then take y's own shape.  Otherwise y_shape must be compatible with y's shape."""
    if y.shape.is_fully_defined():
        n = int(np.prod(y_shape, dtype=np.int64))
        if n != y.shape.num_elements():
            raise ValueError(f"compute_gradient: y_shape {list(y_shape)} has {n} elements, but "
                             f"'{y.name}' has the static shape {y.shape} with "
                             f"{y.shape.num_elements()} elements")
        return tuple(y.shape.as_list())
    if not y.shape.is_compatible_with(y_shape):
        raise ValueError(f"compute_gradient: y_shape {list(y_shape)} is incompatible with the "
                         f"static shape {y.shape} of '{y.name}'")
    return tuple(y_shape)


def _jacobians(x, x_shape, y, y_shape, x_init, delta, feeds, session):
    graph = y.graph
    # Checked before any op is added, so a wrong shape leaves the graph as it was.
    if not x.shape.is_compatible_with(x_shape):
        raise ValueError(f"compute_gradient: x_shape {list(x_shape)} is incompatible with the "
                         f"static shape {x.shape} of '{x.name}'")
    y_shape = _seed_shape(y, y_shape)
    x_size = int(np.prod(x_shape, dtype=np.int64))
    y_size = int(np.prod(y_shape, dtype=np.int64))
    with graph.as_default():
        dy = placeholder(y.dtype, y_shape, name="compute_gradient_dy")
        grad, = gradients(y, x, grad_ys=dy)
    jt = np.zeros((x_size, y_size), dtype=np.float64)
    if grad is not None:
        run = session.make_callable(grad, [x, dy] + list(feeds))
        extra = list(feeds.values())
        one_hot = np.zeros(y_size, dtype=y.dtype.np)
        for j in range(y_size):
            one_hot[:] = 0
            one_hot[j] = 1
            g = run(x_init, one_hot.reshape(y_shape), *extra)
            jt[:, j] = _dense(g, x_shape).reshape(-1)
    run_y = session.make_callable(y, [x] + list(feeds))
    extra = list(feeds.values())
    jn = np.zeros((x_size, y_size), dtype=np.float64)
    flat = np.array(x_init, dtype=x.dtype.np).reshape(-1)
    for i in range(x_size):
        orig = flat[i]
        flat[i] = orig + delta
        y_pos = np.asarray(run_y(flat.reshape(x_shape), *extra), dtype=np.float64)
        flat[i] = orig - delta
        y_neg = np.asarray(run_y(flat.reshape(x_shape), *extra), dtype=np.float64)
        flat[i] = orig
        jn[i, :] = ((y_pos - y_neg) / (2 * delta)).reshape(-1)
    return jt, jn


def compute_gradient(x, x_shape, y, y_shape, x_init_value=None, delta=1e-3,
                     init_targets=None, extra_feed_dict=None):
    """(theoretical, numerical) Jacobians of y with respect to x, each (x_size, y_size).

    `x` may be a list (with `x_shape` and `x_init_value` lists); then a list of pairs comes
    back.  Any tensor can be `x`: its value is fed.  Uses the default session if there is
    one, else a new Session on y's graph.
    """
    with y.graph._transaction():      # if it fails (say y_shape is wrong), no ops are left
        return _compute_gradient(x, x_shape, y, y_shape, x_init_value, delta, init_targets,
                                 extra_feed_dict)


def _compute_gradient(x, x_shape, y, y_shape, x_init_value, delta, init_targets,
                      extra_feed_dict):
    session = get_default_session()
    if session is None or session.graph is not y.graph:
        session = Session(graph=y.graph)
    if init_targets is not None:
        session.run(init_targets)
    feeds = dict(extra_feed_dict or {})
    y_shape = tuple(y_shape)
    if isinstance(x, (list, tuple)):
        inits = x_init_value if x_init_value is not None else [None] * len(x)
        out = []
        for i, (xi, si, vi) in enumerate(zip(x, x_shape, inits)):
            others = {xj: (inits[j] if inits[j] is not None else _default_init(xj, x_shape[j], j))
                      for j, xj in enumerate(x) if j != i}
            out.append(_jacobians(xi, tuple(si), y, y_shape,
                                  vi if vi is not None else _default_init(xi, si, i),
                                  delta, {**feeds, **others}, session))
        return out
    x_shape = tuple(x_shape)
    init = x_init_value if x_init_value is not None else _default_init(x, x_shape, 0)
    init = np.asarray(init, dtype=x.dtype.np)
    if init.shape != x_shape:
        raise ValueError(f"x_init_value has shape {init.shape}, expected x_shape {x_shape}")
    return _jacobians(x, x_shape, y, y_shape, init, delta, feeds, session)


def _default_init(x, shape, seed):
    return np.random.default_rng(seed).random(tuple(shape)).astype(x.dtype.np)


def compute_gradient_error(x, x_shape, y, y_shape, x_init_value=None, delta=1e-3,
                           init_targets=None, extra_feed_dict=None):
    """Largest absolute difference between the theoretical and numerical Jacobians."""
    grad = compute_gradient(x, x_shape, y, y_shape, x_init_value, delta, init_targets,
                            extra_feed_dict)
    if isinstance(grad, tuple):
        grad = [grad]
    err = 0.0
    for jt, jn in grad:
        if jt.size:
            err = max(err, float(np.max(np.abs(jt - jn))))
    return err
