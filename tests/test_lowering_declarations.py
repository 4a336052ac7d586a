"""Lowering asks each op's declaration (numgrad/ops/registry.py), not its type: the
static_value trait, a declared lower= function, the control kind and the placeholder trait;
and rewrites select their ops by declared traits.  These check the lowered IR only (nothing
is compiled)."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.compiler import rewrites
from numgrad.errors import InvalidArgumentError
from numgrad.ops.array import sum_to_shape
from numgrad.ops.registry import get_op_def, op_types_with
from test_rewrites import lowered

pytestmark = pytest.mark.backend_independent     # no Session: the IR only


def test_static_value_ops_lower_to_their_reference_value():
    x = ng.placeholder(ng.float32, [None, None, 2])
    v = np.zeros((3, 5, 2), np.float32)
    fetches = [ng.shape(x, out_type=ng.int64), ng.shape(x), ng.size(x), ng.rank(x)]
    counts, values = lowered(fetches, {x: v})
    assert sum(counts.values()) == 0, dict(counts)      # constants only, no nodes
    want = [np.array([3, 5, 2], np.int64), np.array([3, 5, 2], np.int32),
            np.array(30, np.int32), np.array(3, np.int32)]
    for got, w in zip(values, want):
        assert got.const is not None and got.dtype == w.dtype
        np.testing.assert_array_equal(got.const_array(), w)
    assert {"Const", "Shape", "Size", "Rank"} <= op_types_with("static_value")


def test_select_with_a_row_condition_lowers_as_declared():
    c = ng.placeholder(ng.bool, [None])
    x = ng.placeholder(ng.float64, [None, 3])
    feeds = {c: np.array([True, False]), x: np.ones((2, 3))}
    counts, values = lowered([ng.compat.v1.where(c, x, -x)], feeds)
    assert counts["SelectV2"] == 1 and counts["Select"] == 0 and counts["Reshape"] == 1
    cond = values[0].node.inputs[0]
    assert cond.shape == (2, 1)
    # the same shapes: the declared function declines, one Select node of its own
    c2 = ng.placeholder(ng.bool, [None, 3])
    counts, _ = lowered([ng.compat.v1.where(c2, x, -x)],
                        {c2: np.ones((2, 3), bool), x: np.ones((2, 3))})
    assert counts["Select"] == 1 and counts["SelectV2"] == 0
    assert get_op_def("Select").extra.get("lower") is not None


def test_sum_to_shape_lowers_to_a_keepdims_sum_and_a_reshape():
    g = ng.placeholder(ng.float64, [None, 4, 3])
    target = ng.constant([4, 1], ng.int32)
    counts, values = lowered([sum_to_shape(g, target)], {g: np.ones((2, 4, 3))})
    assert counts["Sum"] == 1 and counts["SumToShape"] == 0 and values[0].shape == (4, 1)
    s = values[0].node.inputs[0].node
    assert s.type == "Sum" and s.attrs == {"axis": (0, 2), "keepdims": True}


def test_an_unfed_placeholder_is_named():
    x = ng.placeholder(ng.float32, [2], name="needed")
    y = ng.placeholder(ng.float32, [2])
    with pytest.raises(InvalidArgumentError, match="placeholder tensor 'needed'"):
        lowered([x + y], {y: np.ones(2, np.float32)})


@pytest.mark.parametrize("rule, trait", [("matmul_outer", "matmul")])
def test_rules_select_their_ops_by_trait(rule, trait):
    r = next(r for r in rewrites.RULES if r.name == rule)
    assert op_types_with(trait) and all(r.looks_at(t) for t in op_types_with(trait))
    assert not r.looks_at("Mul")
