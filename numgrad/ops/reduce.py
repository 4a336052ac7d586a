"""Reductions (Sum, Mean, Max, Min, Prod over static axes) and the Cumprod scan."""
import numpy as np

from ..tensor_shape import TensorShape
from . import array as _array
from .core import convert_to_tensor, make_op
from .common import NUMERIC, NUMERIC_C, check_dtype as _check_dtype, format_shape as _fmt
from .common import static_ints as _static_ints
from .registry import Reduction, register_op


def reduced_shape(shape, axis, keepdims):
    if axis is None and not keepdims:
        return TensorShape([])
    if shape.rank is None:
        return TensorShape(None)
    axes = range(shape.rank) if axis is None else axis
    if keepdims:
        return TensorShape([1 if i in axes else d for i, d in enumerate(shape)])
    return TensorShape([d for i, d in enumerate(shape) if i not in axes])


def _reduce_infer(which):
    def infer(inputs, attrs):
        x, = inputs
        _check_dtype(x.dtype, which, f"input '{x.name}'")
        return [(x.dtype, reduced_shape(x.shape, attrs["axis"], attrs["keepdims"]))]
    return infer


def _np_axis(a):
    return None if a["axis"] is None else tuple(a["axis"])


def _mean(x, axis, keepdims):
    if x.dtype.kind in "iu":
        s = np.sum(x, axis=axis, keepdims=keepdims)
        n = x.size // max(np.size(s), 1) if x.size else 1
        return (np.sign(s) * (np.abs(s) // max(n, 1))).astype(x.dtype)
    with np.errstate(all="ignore"):
        if x.size == 0:     # 0 / 0 = NaN, without np.mean's "Mean of empty slice" warning
            return np.sum(x, axis=axis, keepdims=keepdims, dtype=x.dtype) / x.dtype.type(0)
        return np.mean(x, axis=axis, keepdims=keepdims, dtype=x.dtype)


def _minmax(fn, init):
    def f(x, axis, keepdims):
        return fn(x, axis=axis, keepdims=keepdims, initial=init(x.dtype))
    return f


def _lowest(dt):
    return -np.inf if dt.kind == "f" else np.iinfo(dt).min


def _highest(dt):
    return np.inf if dt.kind == "f" else np.iinfo(dt).max


# (type, public name, reference, dtypes: Max and Min need ordered values, how a fused loop
#  computes it: sums, means and products accumulate float values in float64 and integers in
#  int64, Max and Min in the output's dtype)
REDUCTIONS = [
    ("Sum", "reduce_sum", lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
     NUMERIC_C, Reduction("add", widens=True)),
    ("Mean", "reduce_mean", _mean, NUMERIC_C, Reduction("add", widens=True, mean=True)),
    ("Max", "reduce_max", _minmax(np.max, _lowest), NUMERIC, Reduction("max")),
    ("Min", "reduce_min", _minmax(np.min, _highest), NUMERIC, Reduction("min")),
    ("Prod", "reduce_prod", lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims),
     NUMERIC_C, Reduction("mul", widens=True)),
]


def _make_compute(fn):
    def compute(v, a):
        return [np.asarray(fn(v[0], _np_axis(a), a["keepdims"]), dtype=v[0].dtype)]
    return compute


for _t, _n, _f, _w, _r in REDUCTIONS:
    register_op(_t, _reduce_infer(_w), _make_compute(_f), kind="reduce", template=_t.lower(),
                reduction=_r)


def normalize_axes(axis, x, what):
    """Static axes as a sorted tuple of non-negative ints, or None for 'all axes'."""
    if axis is None:
        return None
    vals = [int(a) for a in np.atleast_1d(_static_ints(axis, f"{what}: axis")).reshape(-1)]
    r = x.shape.rank
    if r is None:
        if any(a < 0 for a in vals):
            raise ValueError(f"{what}: negative axis {vals} needs an input of known rank")
        return tuple(sorted(set(vals)))
    out = set()
    for a in vals:
        if not -max(r, 1) <= a < max(r, 1):
            raise ValueError(f"{what}: Invalid reduction dimension {a} for input '{x.name}' "
                             f"of shape {_fmt(x.shape)}")
        if r == 0:
            continue
        out.add(a + r if a < 0 else a)
    return tuple(sorted(out))


def _make_reduce(op_type, public):
    def f(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
          keep_dims=None):
        if axis is None:
            axis = reduction_indices
        if keepdims is None:
            keepdims = bool(keep_dims) if keep_dims is not None else False
        x = convert_to_tensor(input_tensor)
        axes = normalize_axes(axis, x, public)
        return make_op(op_type, [x], {"axis": axes, "keepdims": bool(keepdims)}, name).outputs[0]
    f.__name__ = public
    f.__doc__ = (f"tf.{public}(input_tensor, axis=None, keepdims=False): static axes "
                 "(int, list, negative allowed, None for all).")
    return f


for _t, _n, *_ in REDUCTIONS:
    globals()[_n] = _make_reduce(_t, _n)

reduce_sum = globals()["reduce_sum"]
reduce_mean = globals()["reduce_mean"]
reduce_max = globals()["reduce_max"]
reduce_min = globals()["reduce_min"]
reduce_prod = globals()["reduce_prod"]


# --- Cumsum / Cumprod scans (Cumprod serves reduce_prod's gradient: exact at zeros) -------------
def _scan_np(ufunc, x, axis, exclusive, reverse):
    """Inclusive or exclusive scan of `ufunc` along `axis`, optionally from the end."""
    if reverse:
        x = np.flip(x, axis)
    if exclusive:
        pad = [(0, 0)] * x.ndim
        pad[axis] = (1, 0)
        x = np.pad(x, pad, constant_values=ufunc.identity)
        x = np.take(x, np.arange(x.shape[axis] - 1), axis=axis)
    out = ufunc.accumulate(x, axis=axis)
    return np.flip(out, axis) if reverse else out


def _scan_infer(inputs, attrs):
    x, = inputs
    r = x.shape.rank
    if r is not None and not -r <= attrs["axis"] < r:
        raise ValueError(f"axis {attrs['axis']} is out of range for '{x.name}' of rank {r}")
    return [(x.dtype, x.shape)]


def _make_scan(op_type, ufunc):
    register_op(op_type, _scan_infer,
                lambda v, a: [np.asarray(_scan_np(ufunc, v[0], a["axis"], a["exclusive"],
                                                  a["reverse"]), dtype=v[0].dtype)],
                kind="opaque")

    def scan(x, axis=0, exclusive=False, reverse=False, name=None):
        x = convert_to_tensor(x)
        if x.shape.rank is not None and axis < 0:
            axis += x.shape.rank
        return make_op(op_type, [x], {"axis": int(axis), "exclusive": bool(exclusive),
                                      "reverse": bool(reverse)}, name).outputs[0]
    scan.__name__ = op_type.lower()
    scan.__doc__ = f"tf.math.{op_type.lower()}(x, axis=0, exclusive=False, reverse=False)."
    return scan


cumsum = _make_scan("Cumsum", np.add)
cumprod = _make_scan("Cumprod", np.multiply)


# --- gradients of broadcasting ops -------------------------------------------------------------
def reduce_to(g, x):
    """Sum a broadcast gradient `g` down to x's shape (TF's BroadcastGradientArgs path)."""
    gs, xs = g.shape, x.shape
    if gs.is_fully_defined() and xs.is_fully_defined():
        if gs == xs:
            return g
        lead = gs.rank - xs.rank
        axes = list(range(lead)) + [lead + i for i, d in enumerate(xs)
                                    if d == 1 and gs[lead + i] != 1]
        r = reduce_sum(g, axes, keepdims=True) if axes else g
        return _array.reshape(r, xs.as_list())
    return _array.sum_to_shape(g, _array.shape(x))
