"""Gradient checking (ng.test.compute_gradient / compute_gradient_error), as in TF 1.x.

The theoretical Jacobian comes from gradients() with one-hot grad_ys; the numerical one from
central differences.  Both are arrays of shape (x_size, y_size).  As in TF's checker, a complex
tensor counts as its (real, imaginary) pairs: its size doubles, one-hot seeds are 1 or 1j,
perturbations move the real or the imaginary part, and Jacobian entries are real.
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


def _reals(a):
    """A flat real view of `a`: (re, im) pairs for a complex array, `a` itself otherwise."""
    a = np.ascontiguousarray(a).reshape(-1)
    return a.view(a.real.dtype) if a.dtype.kind == "c" else a


def _pairs(dtype):
    return 2 if dtype.is_complex else 1


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


def _jacobians(xs, x_shapes, y, y_shape, x_inits, delta, feeds, session):
    """(theoretical, numerical) Jacobian pairs of y with respect to each of `xs`.

    One gradient graph gives the gradients with respect to all of `xs` (one callable, one set of
    kernels, instead of one per x), and one callable of y serves every finite difference; all
    of `xs` are fed in both, each with its initial value unless it is the one perturbed."""
    graph = y.graph
    # Checked before any op is added, so a wrong shape leaves the graph as it was.
    for x, shape in zip(xs, x_shapes):
        if not x.shape.is_compatible_with(shape):
            raise ValueError(f"compute_gradient: x_shape {list(shape)} is incompatible with the "
                             f"static shape {x.shape} of '{x.name}'")
    y_shape = _seed_shape(y, y_shape)
    sizes = [int(np.prod(s, dtype=np.int64)) * _pairs(x.dtype) for x, s in zip(xs, x_shapes)]
    y_size = int(np.prod(y_shape, dtype=np.int64)) * _pairs(y.dtype)
    fed = {id(x) for x in xs}
    feeds = {k: v for k, v in feeds.items() if id(k) not in fed}
    keys, extra = list(xs) + list(feeds), list(feeds.values())
    with graph.as_default():
        dy = placeholder(y.dtype, y_shape, name="compute_gradient_dy")
        grads = gradients(y, list(xs), grad_ys=dy)
    jts = [np.zeros((n, y_size), dtype=np.float64) for n in sizes]
    live = [i for i, g in enumerate(grads) if g is not None]
    if live:
        run = session.make_callable([grads[i] for i in live], list(xs) + [dy] + list(feeds))
        one_hot = np.zeros(y_shape, dtype=y.dtype.np)
        seed = _reals(one_hot)          # a view: setting seed[j] sets a real or imaginary part
        for j in range(y_size):
            seed[:] = 0
            seed[j] = 1
            gs = run(*x_inits, one_hot, *extra)
            for i, g in zip(live, gs):
                jts[i][:, j] = _reals(_dense(g, x_shapes[i]))
    run_y = session.make_callable(y, keys)
    out = []
    for i, (x, shape) in enumerate(zip(xs, x_shapes)):
        jn = np.zeros((sizes[i], y_size), dtype=np.float64)
        arr = np.array(x_inits[i], dtype=x.dtype.np).reshape(shape)
        flat = _reals(arr)              # a view of arr's real (and imaginary) parts
        vals = list(x_inits)
        vals[i] = arr
        for k in range(sizes[i]):
            orig = flat[k]
            flat[k] = orig + delta
            y_pos = _reals(np.array(run_y(*vals, *extra))).astype(np.float64)
            flat[k] = orig - delta
            y_neg = _reals(np.array(run_y(*vals, *extra))).astype(np.float64)
            flat[k] = orig
            jn[k, :] = (y_pos - y_neg) / (2 * delta)
        out.append((jts[i], jn))
    return out


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
        shapes = [tuple(s) for s in x_shape]
        inits = [np.asarray(v if v is not None else _default_init(xi, si, i), dtype=xi.dtype.np)
                 for i, (xi, si, v) in enumerate(zip(x, shapes, inits))]
        return _jacobians(list(x), shapes, y, y_shape, inits, delta, feeds, session)
    x_shape = tuple(x_shape)
    init = x_init_value if x_init_value is not None else _default_init(x, x_shape, 0)
    init = np.asarray(init, dtype=x.dtype.np)
    if init.shape != x_shape:
        raise ValueError(f"x_init_value has shape {init.shape}, expected x_shape {x_shape}")
    return _jacobians([x], [x_shape], y, y_shape, [init], delta, feeds, session)[0]


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
