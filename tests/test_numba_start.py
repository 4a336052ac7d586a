"""numgrad/numba_start.py: Numba starts without importing scipy.linalg, and the BLAS answer
Numba records (np.dot in jitted code) is the one it would have found itself."""
import importlib.util
import os
import subprocess
import sys

import pytest

from numgrad import numba_start

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

RUN_A_KERNEL = (
    "import sys, numpy as np, numgrad as ng\n"
    "x = ng.placeholder(ng.float64, [5])\n"
    "loss = ng.reduce_sum(ng.sin(x) * x)\n"
    "g = ng.Session(backend='cpu').run(ng.gradients(loss, x)[0], {x: np.arange(5.0)})\n"
    "v = np.arange(5.0)\n"
    "assert np.allclose(g, np.cos(v) * v + np.sin(v))\n"
    "print('linalg-imported' if 'scipy.linalg' in sys.modules else 'linalg-not-imported')\n"
    "import numba.np.arraymath as am\n"     # (numgrad's, or with a warm cache the first)
    "print(am._HAVE_BLAS)\n")

USE_BLAS = (
    "from numba import njit\n"
    "@njit\n"
    "def dot(a, b):\n"
    "    return np.dot(a, b)\n"
    "a = np.arange(6.0).reshape(2, 3)\n"
    "assert np.array_equal(dot(a, a.T), a @ a.T)\n"
    "print('dot-ok')\n")


def _run(code, tmp_path):
    env = dict(os.environ, NUMGRAD_INTERPRET_CALLS="0", NUMGRAD_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def _scipy_blas_importable():
    try:
        return importlib.util.find_spec("scipy.linalg.cython_blas") is not None
    except ImportError:
        return False


def test_installed_check_agrees_with_an_import():
    assert numba_start._scipy_blas_installed() == _scipy_blas_importable()


def test_without_scipy_numba_falls_back_as_before(tmp_path):
    # (Numba's np.dot of matrices then raises "scipy 0.16+ is required", as it always did.)
    blocked = "import sys\nsys.modules['scipy'] = None\n" + RUN_A_KERNEL
    assert _run(blocked, tmp_path) == ["linalg-not-imported", "False"]


def test_numba_started_first_is_left_alone(tmp_path):
    # Numba imported arraymath (with SciPy) before numgrad: start() changes nothing.
    first = ("import numba.np.arraymath, sys\n"
             "assert 'scipy.linalg' in sys.modules or "
             "not __import__('importlib').util.find_spec('scipy')\n") + RUN_A_KERNEL
    assert _run(first, tmp_path)[1:] == [str(_scipy_blas_importable())]


# --- array typing without importing numpy.ma --------------------------------------------------
def _arrays():
    import numpy as np
    base = np.arange(24.0).reshape(2, 3, 4)
    frozen = np.arange(3, dtype=np.int32)
    frozen.flags.writeable = False
    record = np.zeros(2, dtype=[("a", np.float32), ("b", np.int64)])
    return [base, base[:, 1], base.T, base[..., ::2], np.float32(1) * np.ones((0, 2), "f4"),
            np.array(3.0), frozen, np.zeros(4, np.complex64), np.zeros(2, bool), record,
            np.asfortranarray(base)]


def test_the_array_typing_without_numpy_ma_is_numbas():
    import numpy as np
    from numba.core import errors
    from numba.core.typing.typeof import Purpose, _typeof_ndarray
    for a in _arrays():
        assert numba_start.plain_array_type(a) == _typeof_ndarray(a, Purpose.argument), a
    for dtype in ("U3", "S2", object, "M8", "m8[s]", np.float16, "V3", [("a", object)]):
        a = np.zeros(2, dtype=dtype)
        outcomes = []
        for typing in (numba_start.plain_array_type, lambda v: _typeof_ndarray(v, None)):
            try:
                outcomes.append(typing(a))
            except errors.NumbaError as e:      # V3 and the object record: rejected alike
                outcomes.append((type(e), str(e)))
        assert outcomes[0] == outcomes[1], dtype


MASKED_RUN = (
    "import sys, numpy as np, numgrad as ng\n"
    "x = ng.placeholder(ng.float64, [5])\n"
    "y = ng.Session(backend='cpu').run(ng.reduce_sum(ng.sin(x) * x), {x: np.arange(5.0)})\n"
    "assert np.isclose(y, (np.sin(np.arange(5.0)) * np.arange(5.0)).sum())\n"
    "print('ma-imported' if 'numpy.ma' in sys.modules else 'ma-not-imported')\n")

MASKED_REJECTED = (
    "from numba import njit, errors\n"
    "@njit\n"
    "def total(a):\n"
    "    return a.sum()\n"
    "try:\n"
    "    total(np.ma.masked_array([1.0, 2.0], [False, True]))\n"
    "except errors.NumbaTypeError as e:\n"
    "    print('masked-rejected' if 'MaskedArray' in str(e) else e)\n"
    "assert total(np.arange(3.0)) == 3.0\n")


def test_kernels_run_without_importing_numpy_ma_or_scipy_linalg(tmp_path):
    # One script, run twice on one cache: the first process compiles the kernels (Numba's
    # first refresh imports arraymath), the second loads them (no refresh, numba_load.py).  Two
    # kernels run, then: numpy.ma was not imported (and masked arrays are still rejected by
    # jitted code, which imports it only then); scipy.linalg was not imported where SciPy is
    # installed, Numba's BLAS answer is still True and np.dot in jitted code still uses BLAS
    # (importing scipy.linalg only then).  (One script for both: each process costs ~1.4 CPU s.)
    code = MASKED_RUN + RUN_A_KERNEL + MASKED_REJECTED
    want = ["ma-not-imported", "linalg-not-imported", str(_scipy_blas_importable()),
            "masked-rejected"]
    if _scipy_blas_importable():
        code, want = code + USE_BLAS, want + ["dot-ok"]
    for _ in ("compiled", "loaded"):
        assert _run(code, tmp_path) == want
