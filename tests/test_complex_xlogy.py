"""math.xlogy, xdivy, xlog1py and multiply_no_nan on complex values (issue 17), as TF 2.21:
values and gradients equal TF's (written below).  TF's gradient rules for these multiply by
the partial derivatives unconjugated, so they leave the convention of docs/complex.md, like
cumprod's; numgrad gives TF's numbers."""
import numpy as np
import pytest

import numgrad as ng

X = np.array([0, 1 + 1j, -0.5 + 2j])
Y = np.array([2 - 1j, 0.5j, 1 + 1j])
GY = [1 + 0.5j, -1j, 2]
# TF 2.21: (value, gradient for x, gradient for y) with grad_ys = GY
TF = {
    "xlogy": ([0, -2.263943507354842 + 0.8776491462349513j,
               -1.744083121934883 + 0.30044809886122126j],
              [0, 1.5707963267948966 + 0.6931471805599453j,
               0.6931471805599454 + 1.5707963267948966j],
              [0, -2 - 2j, 1.5 + 2.5j]),
    "xdivy": ([0, 2 - 2j, 0.75 + 1.25j], [0, -2, 1 - 1j], [0, 4 - 4j, -2 - 0.5j]),
    "xlog1py": ([0, -0.3520758333437012 + 0.575219384657911j,
                 -1.3296546961101374 + 1.3776141079336974j],
                [0, 0.4636476090008061 - 0.11157177565710492j,
                 1.6094379124341005 + 0.9272952180016123j],
                [0, 0.4 - 1.2j, 0.4 + 1.8j]),
    "multiply_no_nan": ([0, -0.5 + 0.5j, -2.5 + 1.5j], [2.5, 0.5, 2 + 2j], [0, 1 - 1j, -1 + 4j]),
}


@pytest.mark.parametrize("name", sorted(TF))
def test_values_and_gradients_are_tfs(name):
    x, y = ng.placeholder(ng.complex128, [3]), ng.placeholder(ng.complex128, [3])
    z = getattr(ng.math, name)(x, y)
    assert z.dtype == ng.complex128
    gx, gy = ng.gradients(z, [x, y], grad_ys=ng.constant(GY))
    with ng.Session() as sess:
        got = sess.run([z, gx, gy], {x: X, y: Y})
    for g, want in zip(got, TF[name]):
        np.testing.assert_allclose(g, want, rtol=1e-14, atol=1e-15)


def test_complex64_keeps_its_dtype_and_int_is_rejected():
    x = ng.placeholder(ng.complex64, [3])
    with ng.Session() as sess:
        v = sess.run(ng.math.xlogy(x, x), {x: X})
    assert v.dtype == np.complex64 and v[0] == 0
    np.testing.assert_allclose(v[1:], X[1:] * np.log(X[1:]), rtol=1e-6)
    with pytest.raises(TypeError, match="int32"):
        ng.math.xdivy([1, 2], [3, 4])
