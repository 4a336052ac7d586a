"""matrix_diag / matrix_diag_part / matrix_set_diag with k != 0 and k = (lo, hi) bands,
num_rows/num_cols, padding_value and every align (TF's MatrixDiagV3 family): values against a
direct-loop reference, TF's own numbers for one case, gradients against finite differences,
batched jacobians against looped ones, and the build-time errors."""
import itertools

import numpy as np
import pytest

import numgrad as ng

ALIGNS = ["RIGHT_LEFT", "LEFT_RIGHT", "LEFT_LEFT", "RIGHT_RIGHT"]


def _run(t, backend=None):
    with ng.Session(backend=backend) as s:
        return s.run(t)


def _ref_part(x, lo, hi, pad, align):
    """The packed diagonals, by loops over the definition."""
    m, n = x.shape[-2:]
    length = min(m + min(0, hi), n - max(0, lo))
    out = np.full(x.shape[:-2] + (hi - lo + 1, length), pad, x.dtype)
    for d in range(hi, lo - 1, -1):
        cells = [(i, i + d) for i in range(m) if 0 <= i + d < n]
        right = align.split("_")[0 if d >= 0 else 1] == "RIGHT"
        shift = length - len(cells) if right else 0
        for t, (i, j) in enumerate(cells):
            out[..., hi - d, shift + t] = x[..., i, j]
    return out[..., 0, :] if lo == hi else out


@pytest.mark.parametrize("align", ALIGNS)
@pytest.mark.parametrize("k", [1, -2, (-1, 2), (0, 3), (-2, -1)])
def test_diag_part_set_diag_and_diag_against_loops(k, align):
    x = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4) + 1
    lo, hi = (k, k) if isinstance(k, int) else k
    part = _ref_part(x, lo, hi, -5.0, align)
    for backend in (None, "numpy"):
        got = _run(ng.matrix_diag_part(x, k=k, padding_value=-5.0, align=align), backend)
        np.testing.assert_array_equal(got, part)
        # set_diag writes exactly the band; matrix_diag builds it on a padded background
        new = part * 10
        set_ = _run(ng.matrix_set_diag(x, new, k=k, align=align), backend)
        np.testing.assert_array_equal(_ref_part(set_, lo, hi, -5.0, align)[part != -5.0],
                                      new[part != -5.0])
        band = np.zeros_like(x, bool)
        i, j = np.indices((3, 4))
        band[:, (j - i >= lo) & (j - i <= hi)] = True
        np.testing.assert_array_equal(set_[~band], x[~band])
        built = _run(ng.matrix_diag(part, k=k, num_rows=3, num_cols=4, padding_value=7.0,
                                    align=align), backend)
        np.testing.assert_array_equal(built[band], x[band])
        assert np.all(built[~band] == 7.0)


def test_tf_numbers():
    # TF 2.21: tf.linalg.diag_part(arange(12).reshape(3, 4), k=(-1, 2)) and tf.linalg.diag
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(_run(ng.matrix_diag_part(x, k=(-1, 2))),
                                  [[0, 2, 7], [1, 6, 11], [0, 5, 10], [4, 9, 0]])
    np.testing.assert_array_equal(_run(ng.matrix_diag([1.0, 2.0], k=-1, num_cols=5,
                                                      padding_value=9)),
                                  [[9, 9, 9, 9, 9], [1, 9, 9, 9, 9], [9, 2, 9, 9, 9]])
    np.testing.assert_array_equal(_run(ng.matrix_diag([1.0, 2.0], k=1)),
                                  [[0, 1, 0], [0, 0, 2], [0, 0, 0]])
    np.testing.assert_array_equal(_run(ng.linalg.diag([[1.0, 2.0], [3.0, 4.0]], k=(-1, 0))),
                                  [[1, 0], [3, 2]])


@pytest.mark.parametrize("which", ["diag", "part", "set"])
def test_gradients_against_finite_differences(which):
    rng = np.random.default_rng(0)
    if which == "diag":
        v = rng.standard_normal((2, 3, 3))
        x = ng.placeholder(ng.float64, v.shape)
        y = ng.matrix_diag(x, k=(-1, 1), num_rows=4, num_cols=3, align="LEFT_RIGHT") ** 2.0
    elif which == "part":
        v = rng.standard_normal((2, 3, 4))
        x = ng.placeholder(ng.float64, v.shape)
        y = ng.sin(ng.matrix_diag_part(x, k=(-1, 2), padding_value=1.0))
    else:
        v = rng.standard_normal((2, 3, 4))
        x = ng.placeholder(ng.float64, v.shape)
        d = ng.matrix_diag_part(x, k=(0, 1)) * 3.0
        y = ng.matrix_set_diag(x * x, ng.tanh(d), k=(0, 1), align="RIGHT_RIGHT")
    err = ng.test.compute_gradient_error(x, v.shape, y, y.shape.as_list(), x_init_value=v)
    assert err < 1e-5


def test_batched_jacobian_equals_looped():
    v = np.random.default_rng(1).standard_normal((3, 4))
    x = ng.placeholder(ng.float64, [3, 4])
    y = ng.matrix_set_diag(ng.sin(x), ng.matrix_diag_part(x, k=(-1, 1)) ** 2.0, k=(-1, 1))
    jb = ng.jacobian(y, x)
    jl = ng.jacobian(y, x, experimental_use_pfor=False)
    with ng.Session() as s:
        a, b = s.run([jb, jl], {x: v})
    np.testing.assert_allclose(a, b, rtol=1e-14)


@pytest.mark.parametrize("build, message", [
    (lambda: ng.matrix_diag_part(np.ones((3, 4)), k=(2, 1)), "greater than"),
    (lambda: ng.matrix_diag_part(np.ones((3, 4)), k=(-3, 0)), "lower_diag_index is out"),
    (lambda: ng.matrix_diag_part(np.ones((3, 4)), k=(0, 4)), "upper_diag_index is out"),
    (lambda: ng.matrix_diag(np.ones((2, 2)), k=(-1, 1)), "doesn't match the 3 diagonals"),
    (lambda: ng.matrix_diag(np.ones(2), k=1, num_rows=2, num_cols=2), "num_cols is too small"),
    (lambda: ng.matrix_set_diag(np.ones((3, 4)), np.ones((2, 2)), k=(0, 1)), "longest"),
    (lambda: ng.matrix_diag_part(np.ones((3, 4)), align="MIDDLE"), "align"),
])
def test_errors_name_the_op_and_leave_no_ops(build, message):
    g = ng.get_default_graph()
    n = len(g.get_operations())
    with pytest.raises(ValueError, match=message):
        build()
    assert len(g.get_operations()) == n


def test_every_align_and_offset_round_trips():
    x = np.random.default_rng(2).standard_normal((4, 5))
    for align, lo in itertools.product(ALIGNS, range(-3, 5)):
        for hi in range(lo, 5):
            p = _run(ng.matrix_diag_part(x, k=(lo, hi), align=align), "numpy")
            np.testing.assert_array_equal(p, _ref_part(x, lo, hi, 0.0, align))
