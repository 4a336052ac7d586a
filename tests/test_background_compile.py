"""A big cpu plan whose kernels are not cached runs the NumPy interpreter while worker
processes compile them into the cache, then switches (NUMGRAD_BACKGROUND_COMPILE,
numgrad/compile_workers.py).

Each scenario runs in a fresh process with its own cache directory: a process that has
compiled a kernel once would find it in its in-memory cache and start no workers.  The rest
of the suite compiles at once (NUMGRAD_INTERPRET_CALLS=0 in conftest.py), which turns the
background compile off; these scripts set the defaults back.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import numgrad as ng
from numgrad import cache, config
from numgrad.compiler.layout import PARALLEL_MIN

import budget
from plan_checks import compiled_plans

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A plan with kernels big enough for threads (so not interpreted for INTERPRET_CALLS calls),
# compiled quickly (no transcendental functions); float64 so that the interpreted and the
# compiled results can be compared closely.
PRELUDE = """
import os, sys, time
import numpy as np
import numgrad as ng
from numgrad import cache
from numgrad.backends import cpu, cpu_runners

N = 40000
a = ng.placeholder(ng.float64, [N], name="a")
b = ng.placeholder(ng.float64, [N], name="b")
loss = ng.reduce_sum(a * b * b + 0.5 * a * a - b)
fetches = [loss] + ng.gradients(loss, [a, b])
rng = np.random.default_rng(0)
va, vb = rng.standard_normal(N), rng.standard_normal(N)
want = [np.sum(va * vb * vb + 0.5 * va * va - vb), vb * vb + va, 2 * va * vb - 1]
sess = ng.Session(backend="cpu")
fn = sess.make_callable(fetches, [a, b])

def plan():
    cp, = [cp for p in sess._plans.values() for cp in p._compiled.values()
           if isinstance(cp, cpu.CompiledPlan)]
    return cp

def check(got, rtol=1e-12):
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-9)

def kernel_stats(cp):
    return [(sum(r._kernel.stats.cache_hits.values()), sum(r._kernel.stats.cache_misses.values()))
            for r in cp.runners if isinstance(r, cpu_runners.GroupRunner)]
"""


def _run(script, cache_dir, timeout=300, env=None):
    # The worker processes compile what Numba compiles: with NUMGRAD_LLVM_KERNELS on, a big
    # plan's step kernels are translated in a thread instead (tests/test_llvm_kernels.py),
    # and workers get only the plan functions and what the translator refuses.
    env = {**os.environ, "NUMGRAD_CACHE_DIR": str(cache_dir), "NUMGRAD_INTERPRET_CALLS": "",
           "NUMGRAD_BACKGROUND_COMPILE": "", "NUMGRAD_LLVM_KERNELS": "0", "PYTHONPATH": ROOT,
           **(env or {})}
    out = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(script)],
                         capture_output=True, text=True, env=env, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


SWITCH = """
first = fn(va, vb)                      # interpreted; the workers start
cp = plan()
job = cp.compile_job
assert job and job.running() and cp.background_calls == 1, (job, cp.background_calls)
assert not any(r.compiled for r in cp.runners if isinstance(r, cpu_runners.GroupRunner))
check(first)
# the same loss over other tensors: the same kernels, which the first plan's workers compile
a2 = ng.placeholder(ng.float64, [N])
b2 = ng.placeholder(ng.float64, [N])
loss2 = ng.reduce_sum(a2 * b2 * b2 + 0.5 * a2 * a2 - b2)
fn2 = sess.make_callable([loss2] + ng.gradients(loss2, [a2, b2]), [a2, b2])
check(fn2(va, vb))
cp2, = [c for p in sess._plans.values() for c in p._compiled.values() if c is not cp]
assert cp2.compile_job.procs == [] and cp2.compile_job.waits_for == [job]
assert job.wait(240) and not cp2.compile_job.running()
check(fn2(va, vb))
assert all(hits > 0 and misses == 0 for hits, misses in kernel_stats(cp2))
assert [p.returncode for p, _ in job.procs] == [0] * len(job.procs), job.failed
compiled = fn(va, vb)                   # the kernels the workers saved, loaded
assert all(r.compiled for r in cp.runners if isinstance(r, cpu_runners.GroupRunner))
stats = kernel_stats(cp)
assert stats and all(hits > 0 and misses == 0 for hits, misses in stats), stats
check(compiled)
for x, y in zip(first, compiled):       # the two tiers agree to rounding
    np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-12)
assert fn(va, vb)[0] == compiled[0]     # and compiled calls repeat bit for bit
print(cp.summary().splitlines()[1])
"""


# a small plan: past FUSED_CALL_AFTER calls its one-dispatch function compiles in a worker;
# the calls go on interpreted meanwhile, then run it (after `cp = plan()`, the big plan)
SMALL = """
from numgrad import config
with config.override(NUMGRAD_INTERPRET_CALLS=3, NUMGRAD_FUSED_CALL_AFTER=3):
    x = ng.placeholder(ng.float64, [16])
    y = ng.reduce_sum(x * x * 3.0 - x)
    fx = sess.make_callable([y, ng.gradients(y, x)[0]], [x])
    xv = np.linspace(-1, 1, 16)
    want_x = [np.sum(xv * xv * 3.0 - xv), 6 * xv - 1]
    small = None
    for call in range(1, 6):
        got = fx(xv)
        for g, w in zip(got, want_x):
            np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-13)
        small, = [c for p in sess._plans.values() for c in p._compiled.values()
                  if c is not cp]
        assert not small.fused_call, call       # interpreted, then waiting for the worker
    job = small.compile_job
    assert job and small.background_calls >= 2 and job.procs and job.wait(240)
    assert not job.failed, job.failed
    again = fx(xv)
    assert small.fused_call
    for g, w in zip(again, got):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-13)
"""


def test_big_plan_interprets_while_workers_compile_then_switches(tmp_path):
    """Then a new process finds every kernel in the cache; in it, a small plan whose kernels
    are not cached (SMALL) compiles its plan function in a worker."""
    out = _run(SWITCH, tmp_path / "c")
    assert "in the background" in out
    # a new process finds every kernel in the cache: it starts no workers, compiles nothing
    out = _run(textwrap.dedent("""
        check(fn(va, vb))
        cp = plan()
        assert cp.compile_job is False and cp.background_calls == 0
        stats = kernel_stats(cp)
        assert stats and all(hits > 0 and misses == 0 for hits, misses in stats), stats
        """) + SMALL + 'print("ok")\n', tmp_path / "c")
    assert out.strip() == "ok"


KILL = """
fn(va, vb)
job = plan().compile_job
time.sleep(DELAY)
job.kill()                              # SIGKILL, wherever the workers are
assert not job.running()
check(fn(va, vb))                       # what the workers did not save compiles here
"""


# In a process whose plan's kernels are all cached: another big plan, of kernels the cache
# lacks, whose workers run while the process forks.  The child does not own its parent's
# workers (neither waits for nor kills them): its plan compiles on its own; the parent's
# workers finish and the parent switches.
FORK = """
import signal
sess = ng.Session(backend="cpu")                # plan() and check() now mean this plan
loss = ng.reduce_sum(a * a * b - 2.0 * b)
fn = sess.make_callable([loss] + ng.gradients(loss, [a, b]), [a, b])
want = [np.sum(va * va * vb - 2.0 * vb), 2 * va * vb, va * va - 2.0]
fn(va, vb)
job = plan().compile_job
assert job.running()
pid = os.fork()
if pid == 0:
    code = 1
    try:
        signal.alarm(200)
        assert not job.running()            # not the child's to wait for
        check(fn(va, vb))                   # compiles in the child
        code = 0
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0
assert job.wait(240) and not job.failed, job.failed
check(fn(va, vb))
assert all(r.compiled for r in plan().runners if isinstance(r, cpu_runners.GroupRunner))
"""


# Each kill starts two processes that compile from an empty cache (~15 s on two busy cores): the
# default run kills the workers mid-compile, NUMGRAD_SLOW=1 also at once and late.  The second
# process, which loads the cache the kill left, then runs FORK (a process fewer).
@pytest.mark.parametrize("delay", [0.05, 0.8, 1.6] if budget.SLOW else [0.8])
def test_a_worker_killed_mid_compile_leaves_a_whole_cache_then_a_fork(tmp_path, delay):
    d = tmp_path / "c"
    _run(f"DELAY = {delay}\n" + KILL, d)
    assert not list(d.glob(".tmp-*")), "a temporary file was left behind"
    for p in d.glob("numgrad_k_*.py"):
        compile(p.read_text(), str(p), "exec")      # every entry is whole, valid Python
    out = _run(textwrap.dedent("""
        import warnings
        warnings.simplefilter("error", RuntimeWarning)   # an unreadable entry warns
        check(fn(va, vb))
        stats = kernel_stats(plan())
        assert all(misses == 0 for hits, misses in stats), stats
        """) + FORK + 'print("ok")\n', d)
    assert out.strip() == "ok"


def test_stable_plans_and_compile_at_once_start_no_workers(rng, switches):
    switches(INTERPRET_CALLS=100, BACKGROUND_COMPILE=True)
    x = ng.placeholder(ng.float64, [PARALLEL_MIN + 1])
    y = ng.reduce_sum(x * x * 3.0)
    xv = rng.standard_normal(PARALLEL_MIN + 1)
    with ng.Session(backend="cpu-stable") as s:
        s.run(y, {x: xv})
        cp, = compiled_plans(s)
    assert not cp.background and cp.compile_job is None
    switches(INTERPRET_CALLS=0)
    with ng.Session(backend="cpu") as s:
        s.run(y, {x: xv})
        cp, = compiled_plans(s)
    assert not cp.background and cp.compile_job is None


def test_the_cache_knows_which_kernels_have_machine_code(tmp_path):
    c = 1.0 + os.getpid() % 997 / 1024
    src = f"from numba import njit\n\n\n@njit(cache=True)\ndef kernel(a):\n    return a * {c!r}\n"
    key = cache.source_key(src)
    with config.override(NUMGRAD_CACHE_DIR=str(tmp_path)):
        assert cache.compiled([src]) == set()
        kernel = cache.load(src, "kernel")
        assert cache.compiled([src]) == set()           # loaded, not compiled yet
        np.testing.assert_array_equal(kernel(np.arange(3.0)), np.arange(3.0) * c)
        assert cache.compiled([src]) == {src}
        cache._LOADED.pop(key)                          # as another process sees it: on disk
        assert cache.compiled([src]) == {src}
    sys.modules.pop(f"numgrad_k_{key}", None)


def test_loop_bodies_and_a_native_loop_compile_in_workers_while_the_loops_run(tmp_path):
    """One process, two loops (a process costs ~1.5 CPU s before it compiles anything).
    With native loops off, a loop's body and cond plan functions compile in workers after
    NUMGRAD_FUNCTION_COMPILE_AFTER calls while the iterations go on interpreted, then load:
    one dispatch per iteration.  With them on, a loop due to go native (its body ran
    NUMGRAD_FUNCTION_COMPILE_AFTER iterations) gets its whole-loop function from a worker:
    the calls meanwhile loop in Python, later ones natively, with the same results.  The
    second loop's function is a source the first part never compiled (it ran no native
    loop), so it is not in the cache either."""
    out = _run("""
        from numgrad import compile_workers, config
        from numgrad.control.native_loop import loop_status
        x = ng.placeholder(ng.float64, [8])
        xv = np.linspace(-1, 1, 8)
        # the per-iteration path: the cond and body compiled into plan functions by workers
        # (the forward loop alone: each function a gradient adds is a job, a process)
        with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=2, NUMGRAD_NATIVE_LOOPS=False):
            _, y = ng.while_loop(lambda i, v: i < 50, lambda i, v: (i + 1, v * 0.9 + ng.sin(v)),
                                 [ng.constant(0), x])
            fetch = [ng.reduce_sum(y * y), y]
            with ng.Session(backend="numpy") as s0:
                want_y = s0.run(fetch, {x: xv})
            first = sess.run(fetch, {x: xv})        # the plan functions: workers
            assert compile_workers.wait_all() >= 1
            second = sess.run(fetch, {x: xv})       # ... loaded: one dispatch per iteration
            bodies = [cp for p in list(cpu._PLANS) if isinstance(p, cpu.FunctionPlan)
                      for cp in p._compiled.values() if isinstance(cp, cpu.CompiledPlan)]
            assert any(cp.fused_call and cp.compile_job for cp in bodies)
            for got in (first, second):
                for g, w in zip(got, want_y):
                    np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
            assert not loop_status(y.op)            # no native loop was tried
        # a native loop: its function compiled by a worker
        with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=3):
            _, y = ng.while_loop(lambda i, v: i < 60, lambda i, v: (i + 1, v * 0.9 + ng.sin(v)),
                                 [ng.constant(0), x])
            loss = ng.reduce_sum(y * y)
            with ng.Session(backend="numpy") as s0:
                want = s0.run(loss, {x: xv})
            first = sess.run(loss, {x: xv})     # due after 3 iterations: a worker compiles it
            (kind, facts), = loop_status(y.op)
            assert kind == "native" and facts["compiling"] and facts["calls"] == 0, facts
            assert compile_workers.wait_all() >= 1
            second = sess.run(loss, {x: xv})
            (kind, facts), = loop_status(y.op)
            assert kind == "native" and not facts["compiling"] and facts["calls"] == 1, facts
            for got in (first, second):
                np.testing.assert_allclose(got, want, rtol=1e-12)
        print("ok")
        """, tmp_path / "c")
    assert out.strip() == "ok"
