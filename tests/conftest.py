"""Shared fixtures: a fresh default graph per test; sessions use NUMGRAD_BACKEND."""
import numpy as np
import pytest

import numgrad as ng


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
