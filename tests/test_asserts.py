"""Run-time assertions (ng.Assert, ng.assert_*, ng.debugging): TF1's messages (the expected
text is what TF 2.21 gives), static failures at build time, run-time ones when run."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.errors import InvalidArgumentError


def test_runtime_failures_through_control_dependencies(sess):
    a = ng.placeholder(ng.int32, [3])
    eq = ng.assert_equal(a, [1, 2, 3], message="custom")
    less = ng.debugging.assert_less(a, [2, 3, 5])
    with ng.control_dependencies([eq, less]):
        y = ng.identity(a * 2)
    np.testing.assert_array_equal(sess.run(y, {a: [1, 2, 3]}), [2, 4, 6])
    with pytest.raises(InvalidArgumentError) as e:
        sess.run(y, {a: [1, 2, 4]})
    assert str(e.value).startswith(
        "assertion failed: [custom] [Condition x == y did not hold element-wise:] "
        "[x (Placeholder:0) = ] [1 2 4] [y (assert_equal/y:0) = ] [1 2 3]")
    assert "assert_equal/Assert/Assert" in str(e.value)
    with pytest.raises(InvalidArgumentError, match=r"\[Condition x < y did not hold"):
        sess.run(less, {a: [1, 3, 5]})


@pytest.mark.parametrize("check, good, bad", [
    (ng.assert_positive, [1.0, 2.0], [1.0, 0.0]),
    (ng.assert_non_negative, [0.0, 2.0], [0.0, -1.0]),
    (ng.assert_negative, [-1.0, -2.0], [-1.0, 0.0]),
    (ng.assert_non_positive, [0.0, -2.0], [1.0, 0.0]),
])
def test_sign_checks(sess, check, good, bad):
    x = ng.placeholder(ng.float32, [2])
    op = check(x)
    sess.run(op, {x: good})
    with pytest.raises(InvalidArgumentError, match="did not hold element-wise"):
        sess.run(op, {x: bad})


def test_greater_and_none_equal_and_assert(sess):
    x = ng.placeholder(ng.float32, [None])
    ops = [ng.assert_greater(x, 0.5), ng.assert_greater_equal(x, 1.0),
           ng.assert_none_equal(x, 3.0), ng.assert_less_equal(x, 2.0)]
    sess.run(ops, {x: [1.0, 2.0]})
    for bad in ([0.5], [3.0], [2.5]):
        with pytest.raises(InvalidArgumentError):
            sess.run(ops, {x: bad})
    a = ng.Assert(ng.reduce_all(x > 0), ["x must be positive", x, "and", 3], summarize=2)
    assert a.type == "Assert" and a.outputs == ()
    with pytest.raises(InvalidArgumentError, match=r"^assertion failed: \[x must be positive\] "
                                                   r"\[1 -1\.\.\.\] \[and\] \[3\]"):
        sess.run(a, {x: [1, -1, 2, 5]})


def test_static_checks_raise_at_once_and_leave_the_graph():
    g = ng.get_default_graph()
    x, y = ng.constant([1, 2, 3]), ng.constant([1, 5, 3])
    n = len(g.get_operations())
    with pytest.raises(InvalidArgumentError) as e:
        ng.assert_equal(x, y, message="hey")
    assert str(e.value) == ("hey\nCondition x == y did not hold element-wise:\nx (Const:0) = \n"
                            "[1 2 3]\ny (Const_1:0) = \n[1 5 3]")
    with pytest.raises(InvalidArgumentError) as e:
        ng.assert_positive(ng.constant([1, -2, 3]))
    assert str(e.value) == "\nCondition x > 0 did not hold element-wise:\nx (Const_2:0) = \n" \
        "[ 1 -2  3]"
    with pytest.raises(ValueError, match=r"^Tensor Const:0 must have rank 2.  Received rank 1, "
                                         r"shape \(3,\)$"):
        ng.assert_rank(x, 2)
    assert len(g.get_operations()) == n + 1            # the second constant only
    assert ng.assert_equal(x, x).type == "Assert"      # passes statically, checked when run
    assert ng.assert_rank(x, 1).type == "NoOp"
    with pytest.raises(TypeError, match="must be of type"):
        ng.assert_type(x, ng.float32)
    with pytest.raises(TypeError, match="same dtype"):
        ng.assert_equal(x, ng.constant([1.0, 2.0, 3.0]))


def test_dynamic_rank(sess):
    p = ng.placeholder(ng.float32)
    r = ng.assert_rank(p, 2)
    at_least = ng.assert_rank_at_least(p, 1)
    sess.run([r, at_least], {p: np.ones((2, 2))})
    with pytest.raises(InvalidArgumentError, match=r"^assertion failed: \[\] \[Tensor "
                                                   r"Placeholder:0 must have rank\] \[2\] "
                                                   r"\[Received shape: \] \[3\]"):
        sess.run(r, {p: np.ones(3)})
    with pytest.raises(InvalidArgumentError, match="must have rank at least"):
        sess.run(at_least, {p: np.float32(1)})
    x = ng.placeholder(ng.float32, [3])
    with pytest.raises(InvalidArgumentError, match=r"^assertion failed: \[pm.  \] \[Condition "
                                                   r"x > 0 did not hold element-wise:\] "
                                                   r"\[x \(Placeholder_1:0\) = \] \[1 -2 3\]"):
        sess.run(ng.assert_positive(x, message="pm"), {x: [1.0, -2.0, 3.0]})


def test_debugging_namespace(sess):
    assert ng.debugging.assert_equal is ng.assert_equal
    assert ng.debugging.check_numerics is ng.check_numerics
    x = ng.placeholder(ng.float32, [2])
    y = ng.debugging.assert_all_finite(x, "bad x")
    with pytest.raises(InvalidArgumentError, match="bad x : Tensor had NaN values"):
        sess.run(y, {x: [1.0, np.nan]})
