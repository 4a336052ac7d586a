"""Batching-rule row cases (see tests/test_jacobians.py::RULE_CASES) for the issue-17 ops that
do not come from ops/math.py's UNARY/BINARY tables: each maps a seed s of shape (2, 3) to a
float64 graph through the op type named."""
import numpy as np

import numgrad as ng

_C2 = np.linspace(-0.9, 0.8, 6).reshape(2, 3)


def _c(v):
    return ng.constant(np.asarray(v, np.float64))


def _f(t):
    return ng.cast(t, ng.float64)


CASES = {
    "IsNan": lambda s: _f(ng.is_nan(ng.log(s))),
    "IsInf": lambda s: _f(ng.is_inf(1.0 / (s - s[0:1]))),
    "IsFinite": lambda s: _f(ng.is_finite(ng.log(s))),
    "Any": lambda s: _f(ng.reduce_any(s > 0.0, 1)) + _f(ng.reduce_any(s > 0.5)),
    "All": lambda s: _f(ng.reduce_all(s > -0.5, 0, keepdims=True)),
    "Cross": lambda s: ng.cross(s, _c(_C2)) + ng.cross(s, s[::-1]),
    "SegmentSum": lambda s: ng.segment_sum(s, [0, 0]) + ng.segment_sum(s, [0, 1]),
    "SegmentMean": lambda s: ng.segment_mean(s, [1, 1])[1:],
    "SegmentMax": lambda s: ng.segment_max(s, [0, 0]),
    "SegmentMin": lambda s: ng.segment_min(s, [0, 1]),
    "SegmentProd": lambda s: ng.segment_prod(s, [0, 0]),
    "UnsortedSegmentMax": lambda s: ng.unsorted_segment_max(s, [1, 0], 2)
    + ng.unsorted_segment_max(s, [[0, 1, 0], [1, 1, -1]], 2)[:, None],
    "UnsortedSegmentMin": lambda s: ng.unsorted_segment_min(s, [1, 1], 2)[1:],
    "UnsortedSegmentProd": lambda s: ng.unsorted_segment_prod(s, [0, -1], 2),
    "SparseSoftmaxCrossEntropyWithLogits": lambda s: _sum2(
        ng.ops.core.make_op("SparseSoftmaxCrossEntropyWithLogits",
                            [s, ng.constant([2, 0])]).outputs),
}


def _sum2(outs):
    loss, backprop = outs
    return ng.expand_dims(loss, -1) + backprop
