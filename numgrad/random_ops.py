"""Stateful random ops (tf.compat.v1.random_normal, random_uniform, truncated_normal,
random_shuffle, multinomial, nn.dropout) and TF's seed rules (set_random_seed, get_seed).

Generator
---------
A counter-based generator, Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
as 1, 2, 3", SC'11; the Random123 reference), written in vectorised NumPy: each 128-bit
*counter* is enciphered under a 64-bit *key* into four uint32 words.  For a random op

* key     = (seed, seed2)                    -- the op's two seeds (see ``get_seed``);
* counter = (block, stream, run_lo, run_hi)  -- ``block`` numbers the 4-word blocks of the
  op's output (element ``i`` uses block ``i // per_block``), ``stream`` is 0 except for the
  truncated normal's resampling rounds, ``run`` is the op's ``RandomCounter``: how many
  earlier runs of this Session used the op (the Session feeds it and increments it after a
  successful run, see numgrad/ops/state.py).
* inside a cond/while_loop function the op's counter input is (run, draw): ``draw`` numbers
  its executions within the run (one more per loop iteration, numgrad/control/stateful.py)
  and fills the stream word's bits from bit 10 up (resampling rounds use the low 10 bits), so
  a random op in a loop body draws new numbers every iteration, and draw 0 is the stream of
  an op outside loops.

So a value depends only on (seeds, run index, element index): the same in every process, on
the numpy and cpu backends (the cpu backend runs these opaque ops by calling the same NumPy
``compute``) and with any thread count.  Each ``sess.run`` draws new numbers; two Sessions
start from the same stream (when the seeds are fixed).  An output may have at most 2**32
blocks (2**34 float32 values).

Conversions
-----------
* uniform float32: the top 24 bits of a word times 2**-24, in [0, 1); float16: 11 bits;
  float64: 53 bits of two words times 2**-53.
* standard normal: Box-Muller.  From two uniforms u1 in (0, 1) (offset by half a step, so
  never 0) and u2 in [0, 1): ``r = sqrt(-2 log u1)``, ``z0 = r cos(2 pi u2)``,
  ``z1 = r sin(2 pi u2)``; both are used.  Computed in float64: float32/float16 outputs use one
  word per uniform (a block gives four normals), float64 uses 53-bit uniforms (a block gives
  two normals).  The transcendental functions are NumPy's, so bit-for-bit agreement across
  machines holds as far as NumPy's log/cos/sin agree there.
* truncated normal: standard normals, and every value with |z| >= 2 (checked after the cast to
  the output dtype) is redrawn from the next ``stream`` at the same element index, until none
  is left (TF's rule: values in (-2, 2)).
* uniform integers in [minval, maxval): 64 random bits modulo the range.  The modulo bias is
  at most range / 2**64 (TF's int64 kernel has the same; its int32 kernel uses 32 bits).
* random_shuffle: the permutation sorting 64-bit random keys (stable, so always a permutation).
* multinomial: inverse CDF: a float64 uniform per sample, searched in the softmax's cumulative
  sums (computed in float64).

Seeds follow tensorflow/python/framework/random_seed.py (``get_seed``): a graph seed
(``set_random_seed``) and an op seed.  With a graph seed and no op seed, the op seed is a
per-graph count of such ops (0, 1, 2, ...: TF's ``_graph_to_seed_dict``); with an op seed and
no graph seed, the graph seed is ``DEFAULT_GRAPH_SEED`` (87654321); seeds are truncated modulo
2**31 - 1, and (0, 0) becomes (0, 2**31 - 1).  With neither, seeds are drawn from
``secrets`` when the op is built, and each Session starts such an op's run counter at a random
index, so two Sessions of one graph draw different numbers (as TF, which draws the seeds per
Session).

The random ops are not differentiable (as in TF); random_normal & co. apply ``mean``/``stddev``
(``minval``/``maxval``) with ordinary mul/add ops, so gradients flow to those.
"""
import numbers
import secrets
import weakref

import numpy as np

from . import dtypes as _dt
from .errors import InvalidArgumentError
from .graph import Tensor, atomic, executing_eagerly, get_default_graph, graph_of, name_scope
from .tensor_shape import TensorShape
from .ops.common import format_shape as _fmt
from .ops.core import constant_value, convert_to_tensor, make_op, shape_tensor_value
from .ops.registry import register_op
from .ops import array as _array
from .ops import math as _math
from .gradients import NotDifferentiable

__all__ = ["philox4x32", "get_seed", "set_random_seed", "random_normal", "random_uniform",
           "truncated_normal", "random_shuffle", "multinomial", "categorical", "dropout",
           "DEFAULT_GRAPH_SEED", "RANDOM_OP_TYPES"]

DEFAULT_GRAPH_SEED = 87654321
_MAXINT32 = 2**31 - 1
_M32 = 0xFFFFFFFF

# --- Philox4x32-10 ------------------------------------------------------------------------------
_PHILOX_M0, _PHILOX_M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_PHILOX_W0, _PHILOX_W1 = 0x9E3779B9, 0xBB67AE85


def philox4x32(counter, key, rounds=10):
    """Philox4x32 (10 rounds by default) of `counter` (four uint32 arrays or ints,
    broadcastable) under `key` (two ints): the four output words, uint32 arrays."""
    c0, c1, c2, c3 = np.broadcast_arrays(*[np.asarray(c, dtype=np.uint64) & _M32
                                           for c in counter])
    c0, c1, c2, c3 = (c.astype(np.uint32) for c in (c0, c1, c2, c3))
    k0, k1 = int(key[0]) & _M32, int(key[1]) & _M32
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + _PHILOX_W0) & _M32, (k1 + _PHILOX_W1) & _M32
        p0 = c0.astype(np.uint64) * _PHILOX_M0
        p1 = c2.astype(np.uint64) * _PHILOX_M1
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)).astype(np.uint32) ^ c1 ^ np.uint32(k0),
                          p1.astype(np.uint32),
                          (p0 >> np.uint64(32)).astype(np.uint32) ^ c3 ^ np.uint32(k1),
                          p0.astype(np.uint32))
    return c0, c1, c2, c3


def _block_words(attrs, run, blocks, stream=0):
    """(len(blocks), 4) uint32: the Philox output for the op's key at counters
    (block, stream, run_lo, run_hi)."""
    blocks = np.asarray(blocks, dtype=np.int64)
    if blocks.size and int(blocks.max()) > _M32:
        raise InvalidArgumentError("random op: output too large (more than 2**32 Philox blocks)")
    run = np.asarray(run)
    draw = 0
    if run.ndim == 1:           # inside a loop: (run, draw index)
        run, draw = run
        if not 0 <= draw < _MAX_DRAWS:
            raise InvalidArgumentError(f"random op inside a loop: more than {_MAX_DRAWS} loop "
                                       "iterations in one run (its draw index ran out)")
    run = int(run)
    stream = int(stream) | int(draw) << _DRAW_SHIFT
    words = philox4x32((blocks, stream, run & _M32, (run >> 32) & _M32),
                       (attrs["seed"], attrs["seed2"]))
    return np.stack(words, axis=-1)


# The draw index of a random op inside loops takes the high bits of the counter's stream word
# (the truncated normal's resampling rounds, at most _MAX_TRUNC_ROUNDS, the low ones).
_DRAW_SHIFT = 10
_MAX_DRAWS = 1 << (32 - _DRAW_SHIFT)


def _u64(hi, lo):
    return (hi.astype(np.uint64) << np.uint64(32)) | lo.astype(np.uint64)


def _uniform_blocks(attrs, run, blocks, dtype, stream=0):
    """Uniforms in [0, 1): (len(blocks), 4) for float16/32, (len(blocks), 2) for float64."""
    w = _block_words(attrs, run, blocks, stream)
    if dtype == np.float64:
        bits = _u64(w[:, 0::2], w[:, 1::2]) >> np.uint64(11)
        return bits.astype(np.float64) * 2.0**-53
    if dtype == np.float16:
        return ((w >> np.uint32(21)).astype(np.float32) * np.float32(2.0**-11)).astype(np.float16)
    return (w >> np.uint32(8)).astype(np.float32) * np.float32(2.0**-24)


def _normal_blocks(attrs, run, blocks, dtype, stream=0):
    """Box-Muller standard normals (float64): (len(blocks), 4) for float16/32 outputs (one word
    per uniform), (len(blocks), 2) for float64 (53-bit uniforms)."""
    w = _block_words(attrs, run, blocks, stream)
    if dtype == np.float64:
        a = (_u64(w[:, 0], w[:, 1]) >> np.uint64(11)).astype(np.float64)
        b = (_u64(w[:, 2], w[:, 3]) >> np.uint64(11)).astype(np.float64)
        u1, u2 = (a + 0.5) * 2.0**-53, b * 2.0**-53
    else:
        u1 = (w[:, 0::2].astype(np.float64) + 0.5) * 2.0**-32
        u2 = w[:, 1::2].astype(np.float64) * 2.0**-32
    r = np.sqrt(-2.0 * np.log(u1))
    t = (2.0 * np.pi) * u2
    z = np.stack([r * np.cos(t), r * np.sin(t)], axis=-1)     # (cos, sin) of each pair
    return z.reshape(len(w), 2 * u1.shape[-1] if u1.ndim == 2 else 2)


def _full(fn, attrs, run, n, per_block, dtype, stream=0):
    nb = -(-n // per_block)
    return fn(attrs, run, np.arange(nb), dtype, stream).reshape(-1)[:n]


def _at(fn, attrs, run, idx, per_block, dtype, stream):
    """fn's values at element indices `idx` (computing only the blocks they fall in)."""
    blocks = np.unique(idx // per_block)
    vals = fn(attrs, run, blocks, dtype, stream)
    return vals[np.searchsorted(blocks, idx // per_block), idx % per_block]


def _per_block(dtype):
    return 2 if dtype == np.float64 else 4


def _u64_values(attrs, run, n, stream=0):
    """n uint64 random values (two words each)."""
    w = _block_words(attrs, run, np.arange(-(-n // 2)), stream)
    return _u64(w[:, 0::2], w[:, 1::2]).reshape(-1)[:n]


# --- seeds --------------------------------------------------------------------------------------
_graph_to_seed_count = weakref.WeakKeyDictionary()


def _root(graph):
    while getattr(graph, "outer_graph", None) is not None:
        graph = graph.outer_graph
    return graph


def _truncate_seed(seed):
    return int(seed) % _MAXINT32


def get_seed(op_seed):
    """tf.compat.v1.get_seed: the (seed, seed2) a random op uses, from the default graph's seed
    (``set_random_seed``) and `op_seed`; (None, None) when neither is set."""
    graph = get_default_graph()
    global_seed = graph.seed
    if global_seed is not None:
        if op_seed is None:         # one count per outermost graph (loop bodies included)
            root = _root(graph)
            op_seed = _graph_to_seed_count.setdefault(root, 0)
            _graph_to_seed_count[root] += 1
        seeds = _truncate_seed(global_seed), _truncate_seed(op_seed)
    elif op_seed is not None:
        seeds = DEFAULT_GRAPH_SEED, _truncate_seed(op_seed)
    else:
        seeds = None, None
    if seeds == (0, 0):
        return 0, _MAXINT32
    return seeds


def set_random_seed(seed):
    """tf.compat.v1.set_random_seed: set the graph-level random seed of the default graph.

    Random ops built afterwards derive their seeds from it (see ``get_seed``): with a graph
    seed every Session of the graph draws the same sequences."""
    get_default_graph().seed = None if seed is None else int(seed)


def _op_seeds(seed):
    """The op's seed attrs; "random_start" (popped by the caller for its counter) when no
    seed was set anywhere."""
    s1, s2 = get_seed(seed)
    if s1 is None:          # nondeterministic: fresh seeds for this op
        return {"seed": secrets.randbits(31), "seed2": secrets.randbits(31),
                "random_start": True}
    return {"seed": int(s1), "seed2": int(s2)}


def _counter(graph, name, random_start=False):
    """The op's RandomCounter; with random_start each Session starts it at a random run
    index, so Sessions draw different numbers, as TF's unseeded ops do."""
    if executing_eagerly():
        raise RuntimeError("numgrad's random ops are stateful graph ops: they need graph mode "
                           "and a Session (eager execution is not supported)")
    run = graph.create_op("RandomCounter", [], {"random_start": random_start},
                          name=name).outputs[0]
    if getattr(graph, "outer_graph", None) is None:
        return run
    # inside a cond/while_loop function: the run count and the loop draw index, (2,) int64
    from .control.stateful import draw_index
    with graph.as_default():
        return _array.stack([run, draw_index(graph)], name=name)


# --- op registrations ---------------------------------------------------------------------------
def _shape_of(shape_t):
    if shape_t.dtype not in (_dt.int32, _dt.int64):
        raise TypeError(f"shape must be an int32 or int64 tensor, got {shape_t.dtype.name}")
    if shape_t.shape.rank not in (None, 1):
        raise ValueError(f"shape must be a vector, got shape {_fmt(shape_t.shape)}")
    known = shape_tensor_value(shape_t)
    if known is None:
        return TensorShape(None)
    if any(d is not None and d < 0 for d in known):
        raise ValueError(f"shape {known} has a negative dimension")
    return TensorShape(known)


def _check_counter(t):
    if t.op.type != "RandomCounter" and not (t.dtype == _dt.int64 and t.shape.rank == 1
                                           and t.shape.as_list() == [2]):
        raise ValueError(f"the last input must be a RandomCounter (or inside a loop its run "
                         f"count and draw index, int64 [2]), got a {t.op.type}")


def _run_shape(v):
    shape = tuple(int(d) for d in np.asarray(v).reshape(-1))
    if any(d < 0 for d in shape):
        raise InvalidArgumentError(f"random op: shape {list(shape)} has a negative dimension")
    return shape


_FLOATS = (_dt.float16, _dt.float32, _dt.float64)


def _float_infer(inputs, attrs):
    shape_t, counter = inputs
    _check_counter(counter)
    if attrs["dtype"] not in _FLOATS:
        raise TypeError(f"dtype must be float16, float32 or float64, got {attrs['dtype'].name}")
    return [(attrs["dtype"], _shape_of(shape_t))]


def _uniform_compute(vals, attrs):
    shape = _run_shape(vals[0])
    dt = attrs["dtype"].np
    n = int(np.prod(shape, dtype=np.int64))
    return [_full(_uniform_blocks, attrs, vals[1], n, _per_block(dt), dt).astype(dt)
            .reshape(shape)]


def _normal_compute(vals, attrs):
    shape = _run_shape(vals[0])
    dt = attrs["dtype"].np
    n = int(np.prod(shape, dtype=np.int64))
    return [_full(_normal_blocks, attrs, vals[1], n, _per_block(dt), dt).astype(dt)
            .reshape(shape)]


_MAX_TRUNC_ROUNDS = 1000


def _truncated_compute(vals, attrs):
    shape = _run_shape(vals[0])
    dt = attrs["dtype"].np
    n = int(np.prod(shape, dtype=np.int64))
    pb = _per_block(dt)
    z = _full(_normal_blocks, attrs, vals[1], n, pb, dt).astype(dt)
    bad = np.flatnonzero(~(np.abs(z) < 2))
    stream = 0
    while bad.size:
        stream += 1
        if stream > _MAX_TRUNC_ROUNDS:
            raise InvalidArgumentError("truncated_normal: too many resampling rounds")
        z[bad] = _at(_normal_blocks, attrs, vals[1], bad, pb, dt, stream).astype(dt)
        bad = bad[~(np.abs(z[bad]) < 2)]
    return [z.reshape(shape)]


def _int_infer(inputs, attrs):
    shape_t, lo, hi, counter = inputs
    _check_counter(counter)
    if lo.dtype not in (_dt.int32, _dt.int64) or hi.dtype != lo.dtype:
        raise TypeError(f"minval and maxval must both be int32 or int64, got {lo.dtype.name} "
                        f"and {hi.dtype.name}")
    for what, t in (("minval", lo), ("maxval", hi)):
        if t.shape.rank not in (None, 0):
            raise ValueError(f"{what} must be a scalar, got shape {_fmt(t.shape)}")
    return [(lo.dtype, _shape_of(shape_t))]


def _int_compute(vals, attrs):
    shape = _run_shape(vals[0])
    lo, hi = int(vals[1]), int(vals[2])
    if not lo < hi:
        raise InvalidArgumentError(f"Need minval < maxval: {lo} >= {hi}")
    n = int(np.prod(shape, dtype=np.int64))
    r = _u64_values(attrs, vals[3], n) % np.uint64(hi - lo)
    out = (r + np.uint64(lo & 0xFFFFFFFFFFFFFFFF)).view(np.int64)   # wraps like int64 addition
    return [out.astype(vals[1].dtype).reshape(shape)]


def _shuffle_infer(inputs, attrs):
    value, counter = inputs
    _check_counter(counter)
    if value.shape.rank == 0:
        raise ValueError("random_shuffle: value must have rank >= 1, got a scalar")
    return [(value.dtype, value.shape)]


def _shuffle_compute(vals, attrs):
    v = np.asarray(vals[0])
    if v.ndim == 0:
        raise InvalidArgumentError("random_shuffle: value must have rank >= 1")
    perm = np.argsort(_u64_values(attrs, vals[1], v.shape[0]), kind="stable")
    return [v[perm]]


def _multinomial_infer(inputs, attrs):
    logits, num_samples, counter = inputs
    _check_counter(counter)
    if not logits.dtype.is_floating:
        raise TypeError(f"logits must be a float tensor, got {logits.dtype.name}")
    if logits.shape.rank not in (None, 2):
        raise ValueError(f"logits must be 2-D [batch_size, num_classes], got shape "
                         f"{_fmt(logits.shape)}")
    if num_samples.dtype not in (_dt.int32, _dt.int64) or num_samples.shape.rank not in (None, 0):
        raise ValueError("num_samples must be an int32/int64 scalar")
    if attrs["output_dtype"] not in (_dt.int32, _dt.int64):
        raise TypeError(f"output_dtype must be int32 or int64, got {attrs['output_dtype'].name}")
    ns = constant_value(num_samples)
    if ns is not None and int(ns) < 0:
        raise ValueError(f"num_samples must be non-negative, got {int(ns)}")
    batch = logits.shape[0] if logits.shape.rank == 2 else None
    return [(attrs["output_dtype"], TensorShape([batch, None if ns is None else int(ns)]))]


def _multinomial_compute(vals, attrs):
    logits = np.asarray(vals[0], dtype=np.float64)
    s = int(vals[1])
    if logits.ndim != 2 or s < 0:
        raise InvalidArgumentError("multinomial: logits must be 2-D and num_samples >= 0")
    b, c = logits.shape
    if c == 0 and b * s:
        raise InvalidArgumentError("multinomial: num_classes must be positive")
    out = np.zeros((b, s), dtype=attrs["output_dtype"].np)
    if b * s == 0:
        return [out]
    u = _full(_uniform_blocks, attrs, vals[2], b * s, 2, np.float64).reshape(b, s)
    with np.errstate(invalid="ignore", over="ignore"):
        m = np.max(logits, axis=1, keepdims=True)
        p = np.exp(logits - np.where(np.isfinite(m), m, 0.0))
        cdf = np.cumsum(p, axis=1)
        cdf /= cdf[:, -1:]
    for i in range(b):      # inverse CDF, vectorised over the samples of each row
        out[i] = np.minimum(np.searchsorted(cdf[i], u[i], side="right"), c - 1)
    return [out]


RANDOM_OP_TYPES = ("RandomUniform", "RandomStandardNormal", "TruncatedNormal",
                   "RandomUniformInt", "RandomShuffle", "Multinomial")

register_op("RandomUniform", _float_infer, _uniform_compute, kind="opaque")
register_op("RandomStandardNormal", _float_infer, _normal_compute, kind="opaque")
register_op("TruncatedNormal", _float_infer, _truncated_compute, kind="opaque")
register_op("RandomUniformInt", _int_infer, _int_compute, kind="opaque")
register_op("RandomShuffle", _shuffle_infer, _shuffle_compute, kind="opaque")
register_op("Multinomial", _multinomial_infer, _multinomial_compute, kind="opaque")

for _t in RANDOM_OP_TYPES + ("RandomCounter",):
    NotDifferentiable(_t)


def _declare_not_batchable():
    """ng.vectorize/jacobian: a random op has no batching rule (its draws are per element)."""
    from . import batching
    for t in RANDOM_OP_TYPES:
        batching.NOT_BATCHABLE.setdefault(
            t, "random op: not differentiable, so never on a gradient's seed path")
    batching.NOT_BATCHABLE.setdefault("RandomCounter", "state source: has no inputs")


_declare_not_batchable()


# --- builders -------------------------------------------------------------------------------------
def _float_dtype(dtype, what):
    dtype = _dt.as_dtype(dtype)
    if dtype not in _FLOATS:
        raise ValueError(f"{what}: invalid dtype {dtype.name}: expected float16, float32 or "
                         "float64")
    return dtype


def _shape_tensor(shape, what):
    return _array._shape_arg(shape, what)


def _random_op(op_type, shape_t, dtype, seed, extra=()):
    graph = get_default_graph()
    attrs = {"dtype": dtype, **_op_seeds(seed)} if dtype is not None else _op_seeds(seed)
    counter = _counter(graph, op_type + "Counter", attrs.pop("random_start", False))
    return make_op(op_type, [shape_t, *extra, counter], attrs, name=op_type,
                   graph=graph).outputs[0]


def _is_number(v, x):
    return isinstance(v, numbers.Number) and not isinstance(v, bool) and v == x


def _scaled_normal(op_type, what, shape, mean, stddev, dtype, seed, name):
    """``op_type`` (a standard normal) * stddev + mean, as TF builds random_normal and
    truncated_normal (gradients reach mean and stddev through the mul and add)."""
    dtype = _float_dtype(dtype, what)
    with name_scope(name, what, [shape, mean, stddev]):
        shape_t = _shape_tensor(shape, what)
        mean_t = convert_to_tensor(mean, dtype=dtype, name="mean")
        std_t = convert_to_tensor(stddev, dtype=dtype, name="stddev")
        rnd = _random_op(op_type, shape_t, dtype, seed)
        return _math.add(_math.multiply(rnd, std_t), mean_t, name="value")


@atomic
def random_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name=None):
    """tf.compat.v1.random_normal: normal values, ``RandomStandardNormal * stddev + mean``
    (stateful: each run draws new values; `seed` as in ``set_random_seed``)."""
    return _scaled_normal("RandomStandardNormal", "random_normal", shape, mean, stddev, dtype,
                          seed, name)


@atomic
def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name=None):
    """tf.compat.v1.truncated_normal: normal values within two standard deviations of `mean`
    (values more than 2 stddev away are redrawn)."""
    return _scaled_normal("TruncatedNormal", "truncated_normal", shape, mean, stddev, dtype,
                          seed, name)


@atomic
def random_uniform(shape, minval=0, maxval=None, dtype=_dt.float32, seed=None, name=None):
    """tf.compat.v1.random_uniform: uniform values in [minval, maxval).

    Floats: maxval defaults to 1, ``RandomUniform * (maxval - minval) + minval``.  int32/int64:
    maxval is required, minval/maxval are scalars; integers uniform in [minval, maxval)
    (64 random bits modulo the range: bias at most range / 2**64)."""
    dtype = _dt.as_dtype(dtype)
    if dtype not in _FLOATS + (_dt.int32, _dt.int64):
        raise ValueError(f"random_uniform: invalid dtype {dtype.name}: expected float16, "
                         "float32, float64, int32 or int64")
    if maxval is None:
        if dtype.is_integer:
            raise ValueError(f"Must specify maxval for integer dtype {dtype.name}")
        maxval = 1
    with name_scope(name, "random_uniform", [shape, minval, maxval]):
        shape_t = _shape_tensor(shape, "random_uniform")
        if dtype.is_integer:
            lo = convert_to_tensor(minval, dtype=dtype, name="min")
            hi = convert_to_tensor(maxval, dtype=dtype, name="max")
            return _random_op("RandomUniformInt", shape_t, None, seed, extra=(lo, hi))
        rnd = _random_op("RandomUniform", shape_t, dtype, seed)
        if _is_number(minval, 0):
            if _is_number(maxval, 1):
                return rnd
            return _math.multiply(rnd, convert_to_tensor(maxval, dtype=dtype, name="max"),
                                  name="value")
        lo = convert_to_tensor(minval, dtype=dtype, name="min")
        hi = convert_to_tensor(maxval, dtype=dtype, name="max")
        return _math.add(_math.multiply(rnd, _math.subtract(hi, lo)), lo, name="value")


@atomic
def random_shuffle(value, seed=None, name=None):
    """tf.compat.v1.random_shuffle: `value` with its first dimension randomly permuted
    (a new permutation on each run)."""
    value = convert_to_tensor(value)
    graph = graph_of([value])           # inside a cond/while_loop function: the function
    with graph.as_default(), name_scope(name, "random_shuffle", [value]):
        seeds = _op_seeds(seed)
        counter = _counter(graph, "RandomShuffleCounter", seeds.pop("random_start", False))
        return make_op("RandomShuffle", [value, counter], seeds, name="RandomShuffle",
                       graph=graph).outputs[0]


@atomic
def multinomial(logits, num_samples, seed=None, name=None, output_dtype=_dt.int64):
    """tf.compat.v1.multinomial: `num_samples` class indices per row of the 2-D
    [batch_size, num_classes] unnormalised log-probabilities `logits`; [batch, num_samples]."""
    logits = convert_to_tensor(logits)
    graph = graph_of([logits])
    with graph.as_default(), name_scope(name, "multinomial", [logits]):
        ns = convert_to_tensor(num_samples, dtype=_dt.int32, name="num_samples") \
            if not isinstance(num_samples, Tensor) else num_samples
        attrs = {"output_dtype": _dt.as_dtype(output_dtype), **_op_seeds(seed)}
        counter = _counter(graph, "MultinomialCounter", attrs.pop("random_start", False))
        return make_op("Multinomial", [logits, ns, counter], attrs, name="Multinomial",
                       graph=graph).outputs[0]


def categorical(logits, num_samples, dtype=None, seed=None, name=None):
    """tf.random.categorical: ``multinomial`` with ``dtype`` (int64 by default)."""
    return multinomial(logits, num_samples, seed=seed, name=name,
                       output_dtype=_dt.int64 if dtype is None else dtype)


@atomic
def dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None):
    """tf.compat.v1.nn.dropout: each element (or each `noise_shape` slice, broadcast) is kept
    with probability ``keep_prob = 1 - rate`` and scaled by ``1 / keep_prob``, else zeroed.

    Exactly one of `keep_prob` (in (0, 1]) and `rate` (in [0, 1)) is given.  Built from
    ``x * (1 / keep_prob) * mask`` with ``mask = cast(uniform >= rate)``, so the gradient
    w.r.t. x is the scaled mask."""
    if (keep_prob is None) == (rate is None):
        raise ValueError("dropout: give exactly one of keep_prob and rate"
                         + (" (both were given)" if rate is not None else ""))
    x = convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise ValueError(f"dropout: x has to be a floating point tensor since it's going to be "
                         f"scaled. Got a {x.dtype.name} tensor instead.")
    graph = graph_of([x])
    with graph.as_default(), name_scope(name, "dropout", [x]):
        if keep_prob is not None:
            if isinstance(keep_prob, numbers.Real) and not 0 < keep_prob <= 1:
                raise ValueError(f"keep_prob must be a scalar tensor or a float in the range "
                                 f"(0, 1], got {keep_prob}")
            if isinstance(keep_prob, numbers.Real):
                rate = 1.0 - keep_prob
            else:
                rate = _math.subtract(convert_to_tensor(1.0, dtype=x.dtype),
                                      convert_to_tensor(keep_prob, dtype=x.dtype), name="rate")
        elif isinstance(rate, numbers.Real) and not 0 <= rate < 1:
            raise ValueError(f"rate must be a scalar tensor or a float in the range [0, 1), "
                             f"got {rate}")
        if isinstance(rate, numbers.Real):
            keep = 1.0 - rate
            scale = convert_to_tensor(1.0 / keep, dtype=x.dtype, name="scale")
            rate_t = convert_to_tensor(rate, dtype=x.dtype, name="rate")
        else:
            rate_t = convert_to_tensor(rate, dtype=x.dtype)
            if rate_t.shape.rank not in (None, 0):
                raise ValueError(f"rate must be a scalar, got shape {_fmt(rate_t.shape)}")
            scale = _math.truediv(convert_to_tensor(1.0, dtype=x.dtype),
                                  _math.subtract(convert_to_tensor(1.0, dtype=x.dtype), rate_t),
                                  name="scale")
        if noise_shape is None:
            shape_t = _array.shape(x) if not x.shape.is_fully_defined() else \
                _array._shape_arg(x.shape.as_list(), "dropout")
        else:
            shape_t = _array._shape_arg(noise_shape, "dropout")
            ns = shape_tensor_value(shape_t)
            if ns is not None and x.shape.rank is not None:
                try:
                    _math.broadcast_static_shape(x.shape, TensorShape(ns))
                except ValueError:
                    raise ValueError(f"dropout: noise_shape {ns} does not broadcast to x's shape "
                                     f"{_fmt(x.shape)}") from None
        rnd = _random_op("RandomUniform", shape_t, x.dtype, seed)
        mask = _math.cast(_math.greater_equal(rnd, rate_t), x.dtype, name="mask")
        return _math.multiply(_math.multiply(x, scale), mask, name="value")
