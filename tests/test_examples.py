"""Every example runs to completion (so examples cannot rot) and prints its check."""
import pathlib
import subprocess
import sys

import pytest

from numgrad import config

import budget

EXAMPLES = sorted((pathlib.Path(__file__).resolve().parent.parent / "examples").glob("*.py"))
# Seconds per example.  pinn_burgers trains a PINN (about 2,100 second-order loss-and-gradient
# evaluations): 20-45 s with a warm compile cache but 97 s measured with a cold one on two
# busy cores, too close to the default.
# dask_logistic_regression starts a 2-process LocalCluster and compiles on both workers
# (~60 s on two busy cores).  ode_sensitivity compiles a native loop and its adjoint: it ran
# past 120 s on two cores shared with ~15 other busy processes.
TIMEOUT = {"pinn_burgers": 300, "dask_logistic_regression": 300, "ode_sensitivity": 300}
# What an example prints once its own checks have passed (it asserts them before).
PASSED = {"quickstart": "gradient check passed",
          "pinn_burgers": "check passed",
          "ode_sensitivity": "gradient check passed; parameters recovered",
          "dask_logistic_regression": "coefficients recovered"}
# Examples run with the user's defaults, where a small plan's first calls run with the NumPy
# interpreter: a short example then compiles only the plans it keeps calling.  With a cold
# cache that took 1-3.6 CPU s less per example than the suite's NUMGRAD_INTERPRET_CALLS=0.
# The two long ones compile at once: ode_sensitivity's loops run natively either way and
# pinn_burgers makes thousands of calls, and both took 60-85% more CPU with the defaults.
COMPILE_AT_ONCE = {"ode_sensitivity", "pinn_burgers"}
# Command-line arguments for the suite's run.  dask_logistic_regression's default 4 million
# rows (more than a worker's memory) regenerate on the workers in every L-BFGS phase: 37 CPU s
# with a cold cache; 400,000 rows in four chunks of 100,000 run the same code (the same chunk
# count, phases and L-BFGS evaluations) and recover the coefficients to 0.0096, which the
# example's bound of 0.02 still checks (the data are seeded: the same every run), and one
# worker instead of two compiles the kernels once, not once a worker (cold: 13.4 -> 8.0 CPU s
# at 1 million rows, -> 7.6, 7.9 at 400,000 against 10.3, 12.2 at 1 million the same hour;
# tests/test_scaleout_dask.py runs two workers and checks they give one worker's bits);
# pinn_burgers --quick trains 200 Adam steps and 200 L-BFGS-B iterations instead of 500 and
# 1,500 (the same network, points and plans; cold 17-19 -> 12-14 CPU s) and checks the loss's
# drop, the PDE residual, finite gradients and a looser error bound against Cole-Hopf.
# NUMGRAD_SLOW=1 runs the defaults.
ARGS = {} if budget.SLOW else {"dask_logistic_regression": ["--rows", "400000", "--chunk", "100000",
                                                            "--workers", "1"],
                               "pinn_burgers": ["--quick"]}
# A run under another backend than the default (the NumPy reference's) runs only the quickstart
# by default: the examples run to completion in the default run already, and the unit tests of
# what they use run under every backend.  The others there are the same end-to-end runs again,
# on the slower backend: 26 of the NumPy-backend suite's 84 CPU s, the PINN's training alone
# 2-3 minutes.  NUMGRAD_SLOW=1 runs them all.
DEFAULT_BACKEND = config.get("NUMGRAD_BACKEND") == config.SWITCHES["NUMGRAD_BACKEND"].default
EVERY_BACKEND = {"quickstart"}
slow = [
    pytest.mark.slow,
    pytest.mark.skipif(not config.get("NUMGRAD_SLOW"),
                       reason="the example already ran under the default backend; "
                              "NUMGRAD_SLOW=1 runs it under this one too"),
]


def _param(path):
    marks = slow if path.stem not in EVERY_BACKEND and not DEFAULT_BACKEND else []
    return pytest.param(path, marks=marks, id=path.stem)


@pytest.mark.parametrize("path", [_param(p) for p in EXAMPLES])
def test_example_runs(path, user_env):
    env = user_env
    if path.stem in COMPILE_AT_ONCE:
        env = dict(env, NUMGRAD_INTERPRET_CALLS="0")
    done = subprocess.run([sys.executable, str(path), *ARGS.get(path.stem, [])],
                          capture_output=True, text=True,
                          timeout=TIMEOUT.get(path.stem, 120), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip(), "an example must print what it did"
    assert PASSED.get(path.stem, "") in done.stdout
