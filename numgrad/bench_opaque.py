"""Opaque ops on cpu: each op's NumPy reference (the numpy backend's compute) against its Numba
kernel (numgrad/kernels/cpu/, what the cpu backend runs), per op and size.

The two run interleaved in one process (reference, kernel, reference, ...), so that a busy
moment of the machine slows both; the table gives the min and median milliseconds of each
and the ratio of the minimums.  The kernel's first call (its compile or cache load, and its
thread-choice trials) is left out.

    python -m numgrad.bench_opaque [--repeats N] [--small] [--only SUBSTRING]
"""
import argparse
import time
from dataclasses import dataclass

import numpy as np

from . import dtypes
from .kernels.cpu import OPAQUE
from .ops.conv import conv_attrs
from .ops.pool import pool_attrs
from .ops.registry import get_op_def


@dataclass(frozen=True)
class Case:
    """One op at one size: `make(rng)` gives its input values; `exact`: the kernel gives the
    reference's bits (else its values to float rounding)."""
    name: str
    op_type: str
    make: object
    attrs: dict
    exact: bool = True


def _segment_cases(rows, width, segments):
    def sorted_ids(rng):
        return [rng.standard_normal((rows, width)).astype(np.float32),
                np.sort(rng.integers(0, segments, rows)).astype(np.int32)]

    def unsorted_ids(rng):
        return [rng.standard_normal((rows, width)).astype(np.float32),
                rng.integers(0, segments, rows).astype(np.int32), np.array(segments, np.int32)]
    size = f"({rows}, {width}) f32 -> {segments}"
    cases = [Case(f"{op} {size}", op, sorted_ids, {})
             for op in ("SegmentSum", "SegmentMean", "SegmentMax", "SegmentProd")]
    return cases + [Case(f"{op} {size}", op, unsorted_ids, {})
                    for op in ("UnsortedSegmentMax", "UnsortedSegmentProd")]


def _top_k_case(shape, k, dtype=np.float32):
    def make(rng):
        return [rng.standard_normal(shape).astype(dtype)]
    return Case(f"TopKV2 {shape} {np.dtype(dtype).name} k={k}", "TopKV2", make,
                {"k": k, "sorted": True, "index_type": dtypes.int32})


def _pool_cases(shape, k, s, padding):
    fwd = pool_attrs("AvgPool", [1, k, k, 1], [1, s, s, 1], padding, "NHWC")
    bwd = pool_attrs("AvgPoolGrad", [1, k, k, 1], [1, s, s, 1], padding, "NHWC")
    out = get_op_def("AvgPool").compute([np.zeros((1,) + shape[1:], np.float32)], fwd)[0].shape

    def x(rng):
        return [rng.standard_normal(shape).astype(np.float32)]

    def dy(rng):
        return [np.array(shape, np.int32),
                rng.standard_normal((shape[0],) + out[1:]).astype(np.float32)]
    size = f"{shape} f32 {k}x{k}/{s} {padding}"
    return [Case(f"AvgPool {size}", "AvgPool", x, fwd),
            Case(f"AvgPoolGrad {size}", "AvgPoolGrad", dy, bwd)]


def _depthwise_cases(shape, k, m, s):
    attrs = conv_attrs("DepthwiseConv2dNative", [1, s, s, 1], "SAME", "NHWC", None)
    c = shape[3]
    out = (shape[0], -(-shape[1] // s), -(-shape[2] // s), c * m)

    def forward(rng):
        return [rng.standard_normal(shape).astype(np.float32),
                rng.standard_normal((k, k, c, m)).astype(np.float32)]

    def backprop_input(rng):
        return [np.array(shape, np.int32), rng.standard_normal((k, k, c, m)).astype(np.float32),
                rng.standard_normal(out).astype(np.float32)]

    def backprop_filter(rng):
        return [rng.standard_normal(shape).astype(np.float32), np.array((k, k, c, m), np.int32),
                rng.standard_normal(out).astype(np.float32)]
    size = f"{shape} f32 {k}x{k}x{m}/{s} SAME"
    op = "DepthwiseConv2dNative"
    return [Case(f"{op} {size}", op, forward, attrs),
            Case(f"{op}BackpropInput {size}", op + "BackpropInput", backprop_input, attrs),
            Case(f"{op}BackpropFilter {size}", op + "BackpropFilter", backprop_filter, attrs,
                 exact=False)]


def cases(small=False):
    """The benchmarked cases (`small`: sizes for a quick check of the bench itself)."""
    if small:
        return (_segment_cases(200, 4, 20) + [_top_k_case((20, 30), 3),
                                              _top_k_case((20, 30), 30)]
                + _pool_cases((2, 8, 8, 3), 3, 2, "SAME")
                + _depthwise_cases((2, 6, 6, 3), 3, 2, 1))
    return (_segment_cases(100000, 64, 1000) + _segment_cases(1000, 16, 50)
            + [_top_k_case((1000, 1000), k) for k in (1, 10, 100, 1000)]
            + [_top_k_case((64, 100000), 5), _top_k_case((100000, 10), 3),
               _top_k_case((1000, 1000), 10, np.float64),
               _top_k_case((1000, 1000), 100, np.float64),
               _top_k_case((200, 5000), 50, np.float64)]
            + _pool_cases((32, 56, 56, 64), 3, 2, "SAME")
            + _pool_cases((64, 28, 28, 32), 2, 2, "VALID")
            + _depthwise_cases((32, 56, 56, 64), 3, 1, 1)
            + _depthwise_cases((32, 28, 28, 128), 3, 1, 2)
            + _depthwise_cases((16, 32, 32, 8), 3, 4, 1))


def _call(fn, values, attrs):
    with np.errstate(all="ignore"):
        t0 = time.perf_counter()
        out = fn(values, attrs)
        return time.perf_counter() - t0, out


def compare(case, repeats=15, seed=0):
    """{'reference': [seconds], 'kernel': [seconds]} of `repeats` interleaved calls; raises
    AssertionError if the kernel declines the case or its outputs differ from the
    reference's."""
    values = case.make(np.random.default_rng(seed))
    reference, kernel = get_op_def(case.op_type).compute, OPAQUE[case.op_type]
    _, want = _call(reference, values, case.attrs)
    for _ in range(4):          # compile, thread-choice trials
        _, got = _call(kernel, values, case.attrs)
    assert got is not None, f"the kernel does not cover {case.name}"
    for w, g in zip(want, got):
        if case.exact:
            np.testing.assert_array_equal(g, w, err_msg=case.name)
        else:
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * np.abs(w).max(),
                                       err_msg=case.name)
    times = {"reference": [], "kernel": []}
    for _ in range(repeats):
        times["reference"].append(_call(reference, values, case.attrs)[0])
        times["kernel"].append(_call(kernel, values, case.attrs)[0])
    return times


def run(small=False, repeats=15, only=None, out=print):
    """Print the table; returns {case name: (reference min, kernel min)} in seconds."""
    out(f"{'case':58s} {'reference ms min/med':>21s} {'kernel ms min/med':>18s} {'x':>6s}")
    best = {}
    for case in cases(small):
        if only and only not in case.name:
            continue
        t = compare(case, repeats)
        r, k = np.array(t["reference"]) * 1e3, np.array(t["kernel"]) * 1e3
        best[case.name] = (r.min() / 1e3, k.min() / 1e3)
        out(f"{case.name:58s} {r.min():10.2f}/{np.median(r):<10.2f} {k.min():8.2f}/"
            f"{np.median(k):<9.2f} {r.min() / k.min():6.1f}")
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--small", action="store_true", help="tiny sizes (checks the bench runs)")
    p.add_argument("--only", help="run the cases whose name contains this")
    a = p.parse_args(argv)
    run(a.small, a.repeats, a.only)


if __name__ == "__main__":
    main()
