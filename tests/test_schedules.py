"""ng.train learning-rate schedules against NumPy versions of TF's formulas."""
import math

import numpy as np
import pytest

import numgrad as ng

STEPS = [0, 1, 3, 7, 10, 15, 25]
F32 = np.float32


def _run_at(make, dtype=ng.int64):
    step = ng.placeholder(dtype, [])
    lr = make(step)
    with ng.Session() as s:
        return np.array([s.run(lr, {step: t}) for t in STEPS])


def _close(got, want):
    np.testing.assert_allclose(got, np.array(want, dtype=np.float64), rtol=2e-6, atol=1e-9)


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase):
    got = _run_at(lambda g: ng.train.exponential_decay(0.1, g, 4, 0.5, staircase=staircase))
    p = [t / 4 for t in STEPS]
    _close(got, [0.1 * 0.5 ** (math.floor(q) if staircase else q) for q in p])
    assert got.dtype == np.float32


@pytest.mark.parametrize("staircase", [False, True])
def test_natural_exp_and_inverse_time_decay(staircase):
    f = math.floor if staircase else (lambda q: q)
    got = _run_at(lambda g: ng.train.natural_exp_decay(0.2, g, 5, 0.3, staircase=staircase))
    _close(got, [0.2 * math.exp(-0.3 * f(t / 5)) for t in STEPS])
    got = _run_at(lambda g: ng.train.inverse_time_decay(0.2, g, 5, 0.3, staircase=staircase))
    _close(got, [0.2 / (1 + 0.3 * f(t / 5)) for t in STEPS])


@pytest.mark.parametrize("cycle", [False, True])
@pytest.mark.parametrize("power", [1.0, 0.5])
def test_polynomial_decay(cycle, power):
    got = _run_at(lambda g: ng.train.polynomial_decay(0.1, g, 10, end_learning_rate=0.01,
                                                      power=power, cycle=cycle))
    want = []
    for t in STEPS:
        steps = 10
        if cycle:
            steps = 10 * (1.0 if t == 0 else math.ceil(t / 10))
        else:
            t = min(t, 10)
        want.append((0.1 - 0.01) * (1 - t / steps) ** power + 0.01)
    _close(got, want)


@pytest.mark.parametrize("alpha", [0.0, 0.2])
def test_cosine_decay(alpha):
    got = _run_at(lambda g: ng.train.cosine_decay(0.3, g, 12, alpha=alpha))
    want = [0.3 * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * min(t, 12) / 12)) + alpha)
            for t in STEPS]
    _close(got, want)


def test_float64_learning_rate_keeps_dtype():
    got = _run_at(lambda g: ng.train.exponential_decay(np.float64(0.1), g, 3, 0.9))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, [0.1 * F32(0.9).astype(np.float64) ** (t / 3)
                                     for t in STEPS], rtol=1e-12)


def test_piecewise_constant():
    got = _run_at(lambda g: ng.train.piecewise_constant(g, [3, 10], [1.0, 0.5, 0.1]))
    want = [1.0 if t <= 3 else 0.5 if t <= 10 else 0.1 for t in STEPS]
    _close(got, want)
    got = _run_at(lambda g: ng.train.piecewise_constant(g, [3.5], [2.0, 1.0]), ng.float32)
    _close(got, [2.0 if t <= 3.5 else 1.0 for t in STEPS])
    x = ng.placeholder(ng.int64, [])
    with pytest.raises(ValueError, match="must have the same dtype"):
        ng.train.piecewise_constant(x, [1.5], [1.0, 2.0])
    with pytest.raises(ValueError, match="1 less than"):
        ng.train.piecewise_constant(x, [1, 2], [1.0, 2.0])
    with pytest.raises(ValueError, match="same dtype"):
        ng.train.piecewise_constant(x, [1], [1.0, np.float64(2.0)])


@pytest.mark.parametrize("fn,args", [
    (ng.train.exponential_decay, (0.1, None, 10, 0.5)),
    (ng.train.natural_exp_decay, (0.1, None, 10, 0.5)),
    (ng.train.inverse_time_decay, (0.1, None, 10, 0.5)),
    (ng.train.polynomial_decay, (0.1, None, 10)),
    (ng.train.cosine_decay, (0.1, None, 10))])
def test_global_step_required(fn, args):
    with pytest.raises(ValueError, match=f"^global_step is required for {fn.__name__}.$"):
        fn(*args)


def test_with_global_step_variable():
    gs = ng.train.get_or_create_global_step()
    lr = ng.train.exponential_decay(0.1, gs, 2, 0.5, staircase=True)
    inc = gs.assign_add(1)
    with ng.Session() as s:
        s.run(ng.global_variables_initializer())
        seen = []
        for _ in range(5):
            seen.append(s.run(lr))
            s.run(inc)
    _close(seen, [0.1, 0.1, 0.05, 0.05, 0.025])
