"""ng.summary / graph_stats / fusion_plan and ng.to_dot (numgrad/graph_tools.py)."""
import collections
import re
import shutil
import subprocess

import numpy as np
import pytest

import numgrad as ng
from numgrad.backends.numpy import prune
from numgrad.graph_tools import fusion_plan, graph_stats, is_gradient_op

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def _model():
    """A small forward graph, its gradient, and a MatMul (an opaque kernel)."""
    x = ng.placeholder(ng.float32, [4, 3], name="x")
    w = ng.constant(np.arange(6, dtype=np.float32).reshape(3, 2) / 10, name="w")
    h = ng.tanh(ng.matmul(x, w, name="mm") * 2.0 + 1.0, name="h")
    loss = ng.reduce_sum(ng.square(h), name="loss")
    gx, = ng.gradients(loss, x)
    return x, loss, gx


def _snapshot(graph):
    return len(graph.get_operations()), graph.version


def test_is_gradient_op_by_scope():
    x, loss, gx = _model()
    ng.gradients(loss, x, name="gradients")           # a second call: gradients_1/
    ng.hessians(ng.reduce_sum(x * x), x)
    names = {op.name: is_gradient_op(op) for op in ng.get_default_graph().get_operations()}
    assert names["loss"] is False and names["x"] is False
    assert any(n.startswith("gradients_1/") and g for n, g in names.items())
    assert is_gradient_op(gx.op)
    assert any(n.startswith("hessians/gradients/") and g for n, g in names.items())
    assert not any(g for n, g in names.items() if not re.search(r"(^|/)gradients(_\d+)?/", n))


def test_graph_stats_counts_match_the_graph_and_do_not_change_it():
    x, loss, gx = _model()
    graph = ng.get_default_graph()
    before = _snapshot(graph)
    s = graph_stats()
    ops = graph.get_operations()
    assert _snapshot(graph) == before
    assert s["ops"] == len(ops)
    assert s["ops_by_type"] == dict(collections.Counter(op.type for op in ops))
    n_grad = sum(1 for op in ops if op.name.startswith("gradients/"))
    assert (s["forward_ops"], s["gradient_ops"]) == (len(ops) - n_grad, n_grad)
    tensors = [t for op in ops for t in op.outputs]
    known = [t for t in tensors if t.shape.is_fully_defined()]
    assert s["tensors"] == len(tensors)
    assert s["unknown_size_tensors"] == len(tensors) - len(known)
    assert s["elements"] == sum(int(np.prod(t.shape.as_list())) for t in known)
    assert s["bytes"] == sum(int(np.prod(t.shape.as_list())) * t.dtype.np.itemsize
                             for t in known)
    text = ng.summary()
    assert f"{len(ops)} ops ({len(ops) - n_grad} forward, {n_grad} gradient)" in text
    counts = collections.Counter(op.type for op in ops)
    assert f"MatMul {counts['MatMul']}" in text and "Tanh 1" in text
    assert _snapshot(graph) == before


def test_summary_of_fetches_reports_the_cpu_fusion():
    x, loss, gx = _model()
    graph = ng.get_default_graph()
    before = _snapshot(graph)
    feed = {x: np.ones((4, 3), np.float32)}
    f = fusion_plan([loss, gx], feed)
    assert _snapshot(graph) == before
    assert f["note"] is None
    kinds = [st["kind"] for st in f["steps"]]
    kernels = [st for st in f["steps"] if st["kind"] == "kernel"]
    # the forward matmul is opaque; the elementwise chain after it (mul, add, tanh, square,
    # the sum and the backward elementwise ops) is fused
    mm_step = next(st for st in f["steps"] if "mm" in st["ops"])
    assert mm_step["kind"] == "opaque"
    h_step = next(st for st in kernels if "h" in st["ops"])
    assert {"Tanh", "Mul", "AddV2"} <= set(h_step["types"])
    assert any(is_gradient_op(graph.get_operation_by_name(n)) for st in kernels
               for n in st["ops"])
    text = ng.summary(fetches=[loss, gx], feed_dict=feed)
    assert f"{kinds.count('kernel')} fused kernels" in text
    assert "Tanh 'h'" in text and "opaque: MatMul 'mm'" in text
    assert _snapshot(graph) == before
    # the same plan the cpu session runs: as many kernels as its own plan summary lists
    with ng.Session(backend="cpu") as sess:
        plan_text = sess.plan_summary([loss, gx], feed)
    assert len(re.findall(r"\] kernel space=", plan_text)) == len(kernels)


def test_summary_plans_fully_defined_placeholders_without_feeds_else_explains():
    x = ng.placeholder(ng.float32, [5], name="x")
    y = ng.exp(x) + 1.0
    assert fusion_plan(y)["feeds"] == {"x:0": (5,)}
    assert fusion_plan(y)["note"] is None
    z = ng.placeholder(ng.float32, [None], name="z")
    f = fusion_plan(ng.exp(z))
    assert f["steps"] == [] and "placeholder 'z'" in f["note"] and "feed_dict" in f["note"]
    assert "kernel" in ng.summary(fetches=ng.exp(z), feed_dict={z: np.ones(2, np.float32)})
    assert "summary" not in ng.summary(ng.exp(x))         # summary(fetches) positional works
    assert "subgraph of the fetches: 2 ops" in ng.summary(ng.exp(x))


def _parse_dot(text):
    """Structural check of DOT text: (declared node ids, edges, cluster names)."""
    assert text.count("{") == text.count("}")
    depth = 0
    for ch in text:
        depth += ch == "{"
        depth -= ch == "}"
        assert depth >= 0
    assert depth == 0 and text.startswith("digraph ")
    nodes = set(re.findall(r"^\s*(n\d+) \[label=", text, re.M))
    edges = re.findall(r"^\s*(n\d+) -> (n\d+)", text, re.M)
    clusters = re.findall(r"subgraph (cluster_\d+) \{", text)
    return nodes, edges, clusters


def test_to_dot_structure_colours_and_clusters(tmp_path):
    x, loss, gx = _model()
    graph = ng.get_default_graph()
    before = _snapshot(graph)
    feed = {x: np.ones((4, 3), np.float32)}
    path = tmp_path / "g.dot"
    text = ng.to_dot([loss, gx], path=str(path), feed_dict=feed)
    assert path.read_text() == text
    assert _snapshot(graph) == before
    nodes, edges, clusters = _parse_dot(text)
    pruned = prune([loss, gx], [], [x])
    assert len(nodes) == len(pruned) + 1                 # + the fed placeholder x
    for a, b in edges:
        assert a in nodes and b in nodes
    assert len(edges) == sum(len(op.inputs) for op in pruned)
    assert clusters                                       # a fused graph has kernels
    assert 'fillcolor="#cfe2f3"' in text and 'fillcolor="#f4cccc"' in text
    assert '"(4, 3) float32"' in text and '"(3, 2) float32"' in text
    grad_line = next(line for line in text.splitlines() if "gradients/" in line and "label" in line)
    assert "#f4cccc" in grad_line
    # without fusion: no clusters, same nodes
    plain = ng.to_dot([loss, gx], feed_dict=feed, fused=False)
    n2, e2, c2 = _parse_dot(plain)
    assert c2 == [] and n2 == nodes and len(e2) == len(edges)


def test_to_dot_control_edges_are_dashed():
    a = ng.placeholder(ng.float32, [2], name="a")
    b = ng.exp(a, name="b")
    with ng.control_dependencies([b]):
        c = ng.log(a, name="c")
    text = ng.to_dot(c, feed_dict={a: np.ones(2, np.float32)}, fused=False)
    nodes, edges, _ = _parse_dot(text)
    ids = dict(re.findall(r'^\s*(n\d+) \[label="([^\\"]+)', text, re.M))
    by_name = {v: k for k, v in ids.items()}
    assert f"{by_name['b']} -> {by_name['c']} [style=dashed];" in text
    assert (by_name["a"], by_name["c"]) in edges


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_to_dot_renders_with_graphviz(tmp_path):
    x, loss, gx = _model()
    src = tmp_path / "g.dot"
    ng.to_dot([loss, gx], path=str(src), feed_dict={x: np.ones((4, 3), np.float32)})
    out = tmp_path / "g.svg"
    r = subprocess.run(["dot", "-Tsvg", str(src), "-o", str(out)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "<svg" in out.read_text()
