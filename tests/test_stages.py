"""compiler/stages.py: the ordered stage lists the backends compile by."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.backends import cpu
from numgrad.backends.numpy import prune
from numgrad.compiler import rewrites, stages

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

CPU_ORDER = ["prune", "lower", "graph_rewrites", "gathers", "fuse", "row_pipelines", "lanes",
             "emit"]


def test_cpu_stage_list():
    table = stages.table(stages.cpu_stages())
    assert [name for name, *_ in table] == CPU_ORDER
    by_name = {name: (switch, rules) for name, switch, rules, _ in table}
    assert by_name["gathers"][0] == "NUMGRAD_FUSE_GATHERS"
    assert by_name["row_pipelines"][0] == "NUMGRAD_ROW_PIPELINES"
    assert by_name["lanes"][0] == "NUMGRAD_LANES"
    assert list(by_name["lower"][1]) + list(by_name["graph_rewrites"][1]) == rewrites.names()
    assert all(doc for *_, doc in table)
    assert [s.name for s in cpu.STAGES] == CPU_ORDER


def test_cuda_stage_list_is_a_subset_in_order():
    names = [s.name for s in stages.cuda_stages()]
    assert names == ["prune", "lower", "graph_rewrites", "fuse", "emit"]


def test_compile_signature_is_what_the_cpu_plan_runs():
    x = ng.placeholder(ng.float64, [None, 3])
    y = ng.reduce_sum(ng.exp(x) * 2.0, axis=1)
    v = np.random.default_rng(0).standard_normal((5, 3))
    sess = ng.Session(backend="cpu")
    np.testing.assert_allclose(sess.run(y, {x: v}), np.exp(v).sum(1) * 2.0)
    c = stages.Compilation(prune([y], [], [x]), [y], [x], (((5, 3), np.dtype(np.float64)),),
                           options={"gathers": True})
    stages.compile_signature(stages.cpu_stages(), c)
    assert [s.kind for s in c.steps] == ["group"] and set(c.kernels) == {0}
    assert c.lane_groups == {}


def test_planning_passes_do_not_import_the_emitter():
    import ast
    import pathlib
    root = pathlib.Path(stages.__file__).parent
    for mod in ("pipeline.py", "lanes.py", "fuse.py", "lower.py", "rewrites.py", "layout.py",
                "stages.py"):
        tree = ast.parse((root / mod).read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = {n.module for n in top if isinstance(n, ast.ImportFrom)}
        assert not any(m and m.startswith("emit") for m in names), mod
