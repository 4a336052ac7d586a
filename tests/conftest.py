"""Shared fixtures: a fresh default graph per test; sessions use NUMGRAD_BACKEND."""
import contextlib
import os

# The cpu backend interprets a small plan's first calls with NumPy (NUMGRAD_INTERPRET_CALLS);
# the suite's arrays are small, so it compiles at once instead, or it would not test the
# compiled kernels at all.  tests/test_tiering.py tests the interpreted first calls.
os.environ.setdefault("NUMGRAD_INTERPRET_CALLS", "0")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import numgrad as ng  # noqa: E402
from numgrad import config  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_graph():
    ng.disable_eager_execution()
    ng.reset_default_graph()
    yield
    ng.disable_eager_execution()


@pytest.fixture
def sess():
    """A Session on the default graph with the backend under test (NUMGRAD_BACKEND)."""
    with ng.Session() as s:
        yield s


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def switches():
    """Sets numgrad.config switches for the rest of the test, then restores them (and the module
    globals that mirror them): ``switches(FUSED_CALL_AFTER=2)``."""
    with contextlib.ExitStack() as stack:
        yield lambda **values: stack.enter_context(config.switches(**values))
