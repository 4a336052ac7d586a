"""ng.make_template: variables made on the first call, shared by later calls."""
import numpy as np
import pytest

import numgrad as ng


def _linear(x, units):
    w = ng.get_variable("w", [x.shape[-1], units],
                        initializer=ng.random_normal_initializer(seed=1))
    return ng.matmul(x, w)


def test_template_shares_variables(sess):
    t = ng.make_template("linear", _linear, units=2)
    assert t.variable_scope is None and t.variables == []
    x = ng.constant(np.ones((3, 4), np.float32))
    y1, y2 = t(x), t(x * 2.0)
    other = ng.make_template("linear", _linear, units=2)
    y3 = other(x)
    assert [v.op.name for v in ng.global_variables()] == ["linear/w", "linear_1/w"]
    assert t.trainable_variables == [ng.global_variables()[0]]
    assert t.variable_scope_name == "linear" and other.variable_scope_name == "linear_1"
    sess.run(ng.global_variables_initializer())
    a, b, c = sess.run([y1, y2, y3])
    np.testing.assert_allclose(b, 2 * a, rtol=1e-6)
    assert c.shape == (3, 2)


def test_later_calls_cannot_make_new_variables_and_scope_now():
    calls = []

    def f(x):
        calls.append(1)
        return x * ng.get_variable(f"v{len(calls)}", [], initializer=ng.ones_initializer())
    t = ng.make_template("f", f, create_scope_now_=True)
    assert t.variable_scope_name == "f"
    t(1.0)
    with pytest.raises(ValueError, match="f/v2 does not exist"):
        t(1.0)
    with pytest.raises(NotImplementedError, match="custom_getter_"):
        ng.make_template("g", f, custom_getter_=lambda *a, **k: None)
