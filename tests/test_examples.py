"""Every example runs to completion (so examples cannot rot) and prints its check."""
import json
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
# What an example prints once its own checks have passed (it asserts them before); the others
# print "check passed".
PASSED = {"quickstart": "gradient check passed",
          "ode_sensitivity": "gradient check passed; parameters recovered",
          "dask_logistic_regression": "coefficients recovered"}
# The examples run one after the other in one Python process (tests/run_examples.py) rather
# than one process each, each as its script would (`__main__`, its own argv, a fresh default
# graph); its output and failure are its own test's.  They share the interpreter's start,
# numgrad's import, Numba's first compile and the kernels they have in common, and they compile
# at once (NUMGRAD_INTERPRET_CALLS=0, as the rest of the suite): with the user's defaults a
# plan's first calls run with the NumPy interpreter while worker processes compile its kernels
# (NUMGRAD_BACKGROUND_COMPILE), and those workers' start-up is paid again for every plan.  Cold
# cache, 8 examples, CPU s: one process each 27-28 (the user's defaults, but ode_sensitivity
# and pinn_burgers compiling at once), one process with the defaults ~30 with ode and pinn, one
# process compiling at once 22-25.  The user's defaults stay checked end to end by the
# quickstart, which runs alone with them (as a user's first run would), and by the unit tests
# of the interpreted first calls (tests/test_tiering.py, tests/test_background_compile.py).
# The Dask example runs alone too: it starts worker processes of its own.
ALONE = {"quickstart", "dask_logistic_regression"}
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


def _runs(path):
    """Whether the example runs in this run (not skipped as already run under the default)."""
    return DEFAULT_BACKEND or path.stem in EVERY_BACKEND or bool(config.get("NUMGRAD_SLOW"))


def _param(path):
    marks = [] if path.stem in EVERY_BACKEND or DEFAULT_BACKEND else slow
    return pytest.param(path, marks=marks, id=path.stem)


RUNNER = pathlib.Path(__file__).resolve().parent / "run_examples.py"


def _group(path):
    return "alone:" + path.stem if path.stem in ALONE else "together"


def _environment(path, user_env):
    if path.stem in ALONE:
        return user_env
    return dict(user_env, NUMGRAD_INTERPRET_CALLS="0")


def _selected(session, group):
    """This group's examples among the tests this session runs, in their order."""
    paths = [item.callspec.params["path"] for item in session.items
             if item.nodeid.split("::")[0].endswith("test_examples.py")
             and item.originalname == "test_example_runs"]
    return [p for p in paths if _group(p) == group and _runs(p)]


@pytest.fixture(scope="module")
def ran():
    return {}       # stem -> {"ok", "stdout", "stderr"}, filled a group at a time


def _run_group(paths, env, tmp):
    if len(paths) == 1 and paths[0].stem in ALONE:
        (path,) = paths
        done = subprocess.run([sys.executable, str(path), *ARGS.get(path.stem, [])],
                              capture_output=True, text=True,
                              timeout=TIMEOUT.get(path.stem, 120), env=env)
        return {path.stem: {"ok": done.returncode == 0, "stdout": done.stdout,
                            "stderr": done.stderr}}
    command = [sys.executable, str(RUNNER), str(tmp)]
    for path in paths:
        command += [str(path), *ARGS.get(path.stem, []), "--"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env,
                              timeout=sum(TIMEOUT.get(p.stem, 120) for p in paths))
        trouble = done.stdout + done.stderr
    except subprocess.TimeoutExpired as e:
        trouble = f"the group's process ran past its timeout ({e.timeout} s)"
    results = json.loads(tmp.read_text(encoding="utf-8")) if tmp.exists() else {}
    missing = {"ok": False, "stdout": "", "stderr": "the example did not finish: " + trouble}
    return {p.stem: results.get(p.stem, missing) for p in paths}


@pytest.mark.parametrize("path", [_param(p) for p in EXAMPLES])
def test_example_runs(path, user_env, ran, request, tmp_path):
    if path.stem not in ran:
        group = _selected(request.session, _group(path))
        group += [] if path in group else [path]
        ran.update(_run_group(group, _environment(path, user_env), tmp_path / "ran.json"))
    done = ran[path.stem]
    assert done["ok"], done["stdout"] + done["stderr"]
    assert done["stdout"].strip(), "an example must print what it did"
    assert PASSED.get(path.stem, "check passed") in done["stdout"]
