"""Shared fixtures: a fresh default graph per test; sessions use NUMGRAD_BACKEND."""
import contextlib
import os

# The cpu backend interprets a small plan's first calls with NumPy (NUMGRAD_INTERPRET_CALLS);
# the suite's arrays are small, so it compiles at once instead, or it would not test the
# compiled kernels at all.  tests/test_tiering.py tests the interpreted first calls.  Whether
# the suite set it is kept for subprocesses that run as a user's would (the `user_env` fixture).
_SUITE_SETS_INTERPRET_CALLS = "NUMGRAD_INTERPRET_CALLS" not in os.environ
os.environ.setdefault("NUMGRAD_INTERPRET_CALLS", "0")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import numgrad as ng  # noqa: E402
from numgrad import config, measured_choice  # noqa: E402

import file_order  # noqa: E402

pytest_plugins = ["cpu_seconds"]     # --cpu-seconds DIR: CPU seconds per test file


# Tests whose result cannot depend on NUMGRAD_BACKEND (they name their backends, or run no
# Session) are marked ``backend_independent``: a run under another backend deselects them, as
# the default run has run them already.  The default run holds them to that claim: while one
# runs, NUMGRAD_BACKEND names no backend, so a Session that reads it fails the test.
DEFAULT_RUN = config.get("NUMGRAD_BACKEND") == config.SWITCHES["NUMGRAD_BACKEND"].default
_NO_BACKEND = "none: a test marked backend_independent must name its backend"


def backend_independent(node):
    """Whether the test's closest ``backend_independent`` mark (a module's ``pytestmark``, or
    its own, which may say ``backend_independent(False)``) declares it independent."""
    mark = node.get_closest_marker("backend_independent")
    return mark is not None and (not mark.args or bool(mark.args[0]))


def pytest_configure(config):       # `config` is pytest's here
    # Under --dist loadfile the workers' collection order is the order the files are handed
    # out (tests/file_order.py), not pytest-xdist's own, by number of tests.
    if getattr(config.option, "dist", "no") == "loadfile":
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):     # `config` is pytest's here
    if hasattr(config, "workerinput"):                  # a pytest-xdist worker
        file_order.costliest_first(items)
    if DEFAULT_RUN:
        return
    independent = [item for item in items if backend_independent(item)]
    if independent:
        config.hook.pytest_deselected(items=independent)
        items[:] = [item for item in items if not backend_independent(item)]


@pytest.fixture(autouse=True)
def _backend_independent_reads_no_backend(request):
    if not backend_independent(request.node):
        yield
        return
    with config.override(NUMGRAD_BACKEND=_NO_BACKEND):
        yield


@pytest.fixture(autouse=True)
def fresh_graph():
    ng.disable_eager_execution()
    ng.reset_default_graph()
    measured_choice.forget()        # each test's plans measure their threads from scratch
    yield
    ng.disable_eager_execution()


@pytest.fixture
def sess():
    """A Session on the default graph with the backend under test (NUMGRAD_BACKEND)."""
    with ng.Session() as s:
        yield s


@pytest.fixture
def user_env():
    """The environment for a subprocess that runs as a user's would: the suite's own
    NUMGRAD_INTERPRET_CALLS=0 is taken back out (a value set before the run is kept)."""
    env = dict(os.environ)
    if _SUITE_SETS_INTERPRET_CALLS:
        env.pop("NUMGRAD_INTERPRET_CALLS", None)
    return env


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def switches():
    """Sets numgrad.config switches for the rest of the test, then restores them (and the module
    globals that mirror them): ``switches(FUSED_CALL_AFTER=2)``."""
    with contextlib.ExitStack() as stack:
        yield lambda **values: stack.enter_context(config.switches(**values))


@pytest.fixture
def two_threads():
    """numgrad's kernel threads set to 2 for the test (the thread-choice and dispatch tests)."""
    from numgrad import threads
    old = threads.get_num_threads()
    threads.set_num_threads(2)
    yield
    threads.set_num_threads(old)
