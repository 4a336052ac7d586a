"""ng.compat.v1: the whole API under tf.compat.v1's name, and the v2-behaviour switches."""
import importlib
import subprocess
import sys

import pytest

import numgrad as ng


def test_every_public_name_is_under_compat_v1():
    v1 = ng.compat.v1
    public = [n for n in dir(ng) if not n.startswith("_")]
    assert len(public) > 200
    for name in public:
        assert getattr(v1, name) is getattr(ng, name), name
    assert set(public) <= set(dir(v1))
    assert v1.compat.v1 is v1           # tf.compat.v1.compat.v1 ... as in TF


def test_import_as_module_and_star_import():
    mod = importlib.import_module("numgrad.compat.v1")
    assert mod.placeholder is ng.placeholder
    ns = {}
    exec("from numgrad.compat.v1 import *", ns)
    assert ns["Session"] is ng.Session and ns["float32"] is ng.float32
    assert "compat" in ns


def test_unknown_name_says_what_is_missing():
    with pytest.raises(AttributeError, match=r"tf.compat.v1.no_such_thing"):
        ng.compat.v1.no_such_thing  # noqa: B018


def test_a_tf1_script_runs_under_compat_v1():
    script = (
        "import numpy as np\n"
        "import numgrad.compat.v1 as tf\n"
        "tf.disable_v2_behavior()\n"
        "tf.compat.v1.disable_eager_execution()\n"
        "x = tf.placeholder(tf.float32, [None, 2])\n"
        "w = tf.get_variable('w', initializer=tf.constant([[1.0], [2.0]]))\n"
        "y = tf.reduce_sum(tf.matmul(x, w))\n"
        "g, = tf.gradients(y, [w])\n"
        "with tf.Session() as s:\n"
        "    s.run(tf.global_variables_initializer())\n"
        "    print(s.run([y, g], {x: np.ones((3, 2))}))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "9.0" in out.stdout and "[3.]" in out.stdout


def test_v2_switches():
    ng.enable_eager_execution()
    try:
        ng.compat.v1.disable_v2_behavior()
        assert not ng.executing_eagerly()
    finally:
        ng.disable_eager_execution()
    for f in (ng.disable_resource_variables, ng.disable_v2_tensorshape,
              ng.disable_control_flow_v2, ng.disable_tensor_equality):
        assert f() is None
    with pytest.raises(NotImplementedError, match="TF1's behaviour only"):
        ng.compat.v1.enable_v2_behavior()
    assert ng.compat.v1.float32 is ng.float32
