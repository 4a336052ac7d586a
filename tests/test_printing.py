"""ng.Print (v1: identity that prints) and ng.print (tf.print): TF's text, written on every
run (the expected strings are what TF 2.21 prints for the same values)."""
import io
import sys

import numpy as np
import pytest

import numgrad as ng
from numgrad.printing import summarize_v1, summarize_v2

X = np.array([[1, 2, 3], [4, 5, 6]], np.int32)
F = np.array([1.5, 2.0, 0.1234567, 1e-8, 3e10, -2.25], np.float32)


def test_print_v1_text_first_n_and_gradient(sess, capsys):
    x = ng.constant(X)
    p = ng.Print(x, [x, ng.constant(F), ng.constant(7), ng.constant(2.5)], message="msg: ")
    once = ng.Print(x, [x], summarize=10, first_n=1)
    for _ in range(2):
        np.testing.assert_array_equal(sess.run(p), X)
        sess.run(once)
    err = capsys.readouterr().err
    assert err.count("msg: [[1 2 3]...][1.5 2 0.123456702...][7][2.5]\n") == 2
    assert err.count("[[1 2 3][4 5 6]]\n") == 1
    v = ng.placeholder(ng.float64, [2])
    g, = ng.gradients(ng.reduce_sum(ng.Print(v, [v]) * v), [v])
    np.testing.assert_allclose(sess.run(g, {v: [1.0, 3.0]}), [2.0, 6.0])


def test_print_v2_text_streams_and_control_dependencies(sess, tmp_path):
    x = ng.constant(X)
    buf = io.StringIO()
    q = ng.print("hello", x, ng.constant(F), ng.constant(2.5), output_stream=buf)
    sess.run(q)
    assert buf.getvalue() == ("hello [[1 2 3]\n [4 5 6]] [1.5 2 0.123456702 1e-08 3e+10 -2.25] "
                              "2.5\n")
    path = tmp_path / "log.txt"
    p = ng.placeholder(ng.float64, [None])
    with ng.control_dependencies([ng.print(p, sep=",", end="!\n", summarize=1,
                                           output_stream=f"file://{path}")]):
        y = ng.identity(p * 2)
    sess.run(y, {p: [0.1, 3.0, 4.0]})
    sess.run(y, {p: [1.0]})
    assert path.read_text() == "[0.1 ... 4]!\n[1]!\n"
    logged = []
    sess.run(ng.print("a", ng.constant([True, False]), output_stream=logged.append))
    assert logged == ["a [1 0]"]
    with pytest.raises(ValueError, match="output_stream"):
        ng.print(x, output_stream="stdout")


def test_default_stream_is_stderr_when_run(sess, capsys):
    sess.run(ng.print(ng.constant(3)))
    assert capsys.readouterr().err == "3\n"


def test_layouts():
    assert summarize_v2(np.arange(24).reshape(2, 3, 4), 2) == (
        "[[[0 1 2 3]\n  [4 5 6 7]\n  [8 9 10 11]]\n\n [[12 13 14 15]\n  [16 17 18 19]\n"
        "  [20 21 22 23]]]")
    assert summarize_v2(np.arange(100).reshape(10, 10)).startswith(
        "[[0 1 2 ... 7 8 9]\n [10 11 12 ... 17 18 19]\n [20 21 22 ... 27 28 29]\n ...\n [70")
    assert summarize_v2(np.arange(10), -1) == "[0 1 2 3 4 5 6 7 8 9]"
    assert summarize_v2(np.float64(0.1)) == "0.1" and summarize_v2(np.float32(0.1)) == "0.1"
    assert summarize_v1(np.arange(6).reshape(3, 2), 3) == "[0 1][2...]..."
    assert summarize_v1(np.arange(4), -1) == "0 1 2 3"
    assert summarize_v1(np.float64(1) / 3, 3) == "0.33333333333333331"
    assert sys.stderr is not None
