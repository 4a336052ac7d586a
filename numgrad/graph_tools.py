"""Looking at graphs: ``ng.summary`` (what a graph holds, and what the cpu compiler fuses) and
``ng.to_dot`` (Graphviz DOT of the subgraph that computes some fetches).

Neither changes the graph.  The fusion information is the cpu backend's own plan
(numgrad/backends/cpu.py ``CompiledPlan``), built for the feed shapes but not run, so no
kernel is compiled.

Gradient ops are recognised by name: everything ``ng.gradients`` builds lives under a
``gradients`` name scope (``gradients/``, ``gradients_1/``, ``hessians/gradients/``, ...).
Gradients built with another ``name=`` count as forward ops.
"""
import collections
import re

import numpy as np

from .errors import OpError
from .fetch_mapper import graph_of_fetches, resolve_fetches
from .graph import Graph, Operation, Tensor, get_default_graph
from .indexed_slices import IndexedSlices

__all__ = ["summary", "graph_stats", "to_dot", "is_gradient_op", "fusion_plan"]

_GRAD_SCOPE = re.compile(r"gradients(_\d+)?")


def is_gradient_op(op):
    """Whether `op` was built by ``ng.gradients`` (it lives under a ``gradients`` scope)."""
    return any(_GRAD_SCOPE.fullmatch(part) for part in op.name.split("/")[:-1])


# --- which ops to look at ---------------------------------------------------------------------
def _looks_like_fetches(x):
    return isinstance(x, (Tensor, Operation, IndexedSlices, list, tuple, dict, str))


def _pruned_ops(tensors, targets, feeds):
    from .backends.numpy import prune
    return prune(tensors, targets, feeds)


# --- the cpu compiler's plan --------------------------------------------------------------------
def fusion_plan(fetches, feed_dict=None, graph=None):
    """How the cpu backend would run `fetches`: a dict with ``steps`` (each ``{"kind":
    "kernel"|"opaque"|"view", "ops": [op names], "types": [...], "space": shape,
    "parallel": bool}``), ``removed`` (op names folded to constants, aliases such as Identity
    and StopGradient, common subexpressions) and ``note`` (why there is no plan, else None).

    Placeholders missing from `feed_dict` are planned at their static shape when it is
    fully known.  Nothing is run or compiled and the graph is not changed.
    """
    graph = graph or graph_of_fetches(fetches)
    tensors, targets, feeds, values = resolve_fetches(graph, fetches, feed_dict)
    return _fusion_plan(graph, tensors, targets, feeds, values)


def _fusion_plan(graph, tensors, targets, feeds, values):
    from .backends.cpu import CompiledPlan, CpuPlan
    out = {"steps": [], "removed": [], "note": None, "feeds": {}}
    ops = _pruned_ops(tensors, targets, feeds)
    feeds, values = list(feeds), list(values)
    fed = set(feeds)
    for op in ops:
        if op.type == "Placeholder" and op.outputs[0] not in fed:
            p = op.outputs[0]
            if not p.shape.is_fully_defined():
                out["note"] = (f"no plan: placeholder '{op.name}' has shape {p.shape}; pass a "
                               "feed_dict to plan for concrete shapes")
                return out
            feeds.append(p)           # planned at its static shape; the values are unused
            values.append(np.zeros(p.shape.as_list(), p.dtype.np))
    out["feeds"] = {t.name: tuple(v.shape) for t, v in zip(feeds, values)}
    try:
        plan = CpuPlan(tensors, targets, feeds).compiled(values)
    except (OpError, ValueError, TypeError) as e:
        out["note"] = f"no plan: planning raised {type(e).__name__}: {e}"
        return out
    if not isinstance(plan, CompiledPlan):
        out["note"] = "no plan: shapes depend on data, the graph is interpreted with NumPy"
        return out
    by_name = {op.name: op for op in ops}

    def graph_op(node_name):
        # Nodes the lowering adds for an op are named "<op name>/<what>".
        name = node_name
        while name not in by_name and "/" in name:
            name = name.rsplit("/", 1)[0]
        return by_name.get(name)

    seen = set()
    for st, run in zip(plan.steps, plan.runners):
        nodes = st.nodes if st.kind == "group" else [st.node]
        names = []
        for n in nodes:
            op = graph_op(n.name)
            if op is not None and op.name not in names:
                names.append(op.name)
                seen.add(op.name)
        if st.kind == "group":
            step = {"kind": "kernel", "space": tuple(st.space), "parallel": bool(run.parallel)}
        else:
            step = {"kind": "view" if st.node.type == "Reshape" else "opaque",
                    "space": tuple(st.node.outputs[0].shape) if st.node.outputs else ()}
            step["parallel"] = False
        step["ops"] = names
        step["types"] = [by_name[n].type for n in names]
        out["steps"].append(step)
    out["removed"] = [op.name for op in ops if op.name not in seen and op.type not in
                      ("Const", "Placeholder", "NoOp")]
    return out


# --- summary ----------------------------------------------------------------------------------
def _tensor_bytes(t):
    n = t.shape.num_elements()
    return None if n is None else (n, n * t.dtype.np.itemsize)


def graph_stats(graph=None, fetches=None, feed_dict=None):
    """The numbers behind ``ng.summary`` as a dict: ``ops``, ``ops_by_type``, ``forward_ops``,
    ``gradient_ops``, ``tensors``, ``known_size_tensors``, ``elements``, ``bytes``,
    ``unknown_size_tensors`` and, when `fetches` are given, ``fusion`` (see `fusion_plan`).

    With `fetches`, only the ops needed to compute them are counted."""
    if graph is not None and not isinstance(graph, Graph) and _looks_like_fetches(graph):
        graph, fetches = None, graph            # summary(loss) reads naturally too
    fusion = None
    if fetches is not None:
        graph = graph or graph_of_fetches(fetches)
        tensors, targets, feeds, values = resolve_fetches(graph, fetches, feed_dict)
        ops = _pruned_ops(tensors, targets, feeds)
        fusion = _fusion_plan(graph, tensors, targets, feeds, values)
    else:
        graph = graph or get_default_graph()
        ops = graph.get_operations()
    by_type = collections.Counter(op.type for op in ops)
    n_grad = sum(1 for op in ops if is_gradient_op(op))
    tensors = [t for op in ops for t in op.outputs]
    sizes = [_tensor_bytes(t) for t in tensors]
    known = [s for s in sizes if s is not None]
    return {
        "ops": len(ops),
        "ops_by_type": dict(sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))),
        "forward_ops": len(ops) - n_grad,
        "gradient_ops": n_grad,
        "tensors": len(tensors),
        "known_size_tensors": len(known),
        "elements": sum(n for n, _ in known),
        "bytes": sum(b for _, b in known),
        "unknown_size_tensors": len(sizes) - len(known),
        "fusion": fusion,
    }


def _fmt_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def summary(graph=None, fetches=None, feed_dict=None):
    """A readable account of a graph: ops by type, forward vs gradient ops, tensors and their
    known sizes; with `fetches` (the subgraph computing them), also which ops the cpu
    compiler fuses into which kernel, which run as their own (opaque) steps and which the
    simplifier removes.  ``summary(loss)`` is ``summary(fetches=loss)``.

    The graph is not changed and nothing is run; see `graph_stats` for the numbers as a dict.
    """
    s = graph_stats(graph, fetches, feed_dict)
    what = "subgraph of the fetches" if s["fusion"] is not None else "graph"
    lines = [f"{what}: {s['ops']} ops ({s['forward_ops']} forward, {s['gradient_ops']} "
             f"gradient), {s['tensors']} tensors",
             f"  sizes: {s['known_size_tensors']} tensors of known size hold {s['elements']:,} "
             f"elements ({_fmt_bytes(s['bytes'])}); {s['unknown_size_tensors']} of unknown size",
             "  ops by type: " + ", ".join(f"{t} {n}" for t, n in s["ops_by_type"].items())]
    f = s["fusion"]
    if f is not None:
        if f["note"]:
            lines.append(f"cpu compiler: {f['note']}")
        else:
            kinds = collections.Counter(st["kind"] for st in f["steps"])
            feeds = ", ".join(f"{k} {v}" for k, v in f["feeds"].items()) or "none"
            lines.append(f"cpu compiler (feeds: {feeds}): {kinds['kernel']} fused kernels, "
                         f"{kinds['opaque']} opaque steps, {kinds['view']} views; "
                         f"{len(f['removed'])} ops folded or removed")
            for i, st in enumerate(f["steps"]):
                ops = ", ".join(f"{t} '{n}'" for n, t in zip(st["ops"], st["types"]))
                if st["kind"] == "kernel":
                    lines.append(f"  [{i}] kernel over {st['space']} "
                                 f"{'parallel' if st['parallel'] else 'serial'}, "
                                 f"{len(st['ops'])} ops: {ops}")
                else:
                    lines.append(f"  [{i}] {st['kind']}: {ops}")
            if f["removed"]:
                lines.append("  folded or removed: " + ", ".join(f["removed"]))
    return "\n".join(lines)


# --- DOT ------------------------------------------------------------------------------------
_FORWARD_COLOR = "#cfe2f3"
_GRADIENT_COLOR = "#f4cccc"
_SOURCE_COLOR = "#eeeeee"


def _q(s):
    """A DOT double-quoted string."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape_str(shape):
    if shape.rank is None:
        return "<unknown>"
    dims = ["?" if d is None else str(d) for d in shape.as_list()]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def to_dot(fetches, path=None, feed_dict=None, fused=True):
    """Graphviz DOT text for the subgraph that computes `fetches` (what Session.run would
    run); written to `path` too when given.

    One node per op (label: name and type), forward ops and gradient ops filled in different
    colours (sources grey), data edges labelled with the tensor's shape and dtype, control
    edges dashed.  With `fused` (default), the ops the cpu compiler fuses into one kernel are
    drawn together as ``subgraph cluster_k``.  Render with ``dot -Tsvg graph.dot -o g.svg``.
    The graph is not changed.
    """
    graph = graph_of_fetches(fetches)
    tensors, targets, feeds, values = resolve_fetches(graph, fetches, feed_dict)
    ops = _pruned_ops(tensors, targets, feeds)
    pruned = set(ops)
    included = set(ops)
    for op in list(ops):                  # fed tensors' producers: drawn as inputs
        for t in op.inputs:
            if t.op not in included:
                included.add(t.op)
                ops.append(t.op)
    ids = {op: f"n{i}" for i, op in enumerate(ops)}
    fed_ops = {t.op for t in feeds}

    clusters = []
    if fused:
        plan = _fusion_plan(graph, tensors, targets, feeds, values)
        placed = set()
        for st in plan["steps"]:
            if st["kind"] != "kernel":
                continue
            members = [graph.get_operation_by_name(n) for n in st["ops"]]
            members = [op for op in members if op in ids and op not in placed]
            if members:
                placed.update(members)
                clusters.append((st, members))
    in_cluster = {op for _, members in clusters for op in members}

    def node_line(op, indent):
        if is_gradient_op(op):
            color = _GRADIENT_COLOR
        elif op.type in ("Const", "Placeholder") or op in fed_ops:
            color = _SOURCE_COLOR
        else:
            color = _FORWARD_COLOR
        shape = "box" if op.type in ("Const", "Placeholder") or op in fed_ops else "ellipse"
        label = f"{op.name}\n{op.type}" + ("\n(fed)" if op in fed_ops else "")
        return (f"{indent}{ids[op]} [label={_q(label)}, shape={shape}, style=filled, "
                f"fillcolor={_q(color)}];")

    lines = ["digraph numgrad {", "  rankdir=TB;",
             '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=8];']
    for k, (st, members) in enumerate(clusters):
        lines.append(f"  subgraph cluster_{k} {{")
        label = f"kernel {k}: {len(members)} ops over {st['space']}"
        lines.append(f"    label={_q(label)};")
        lines.append('    style="rounded,dashed"; color="#666666";')
        for op in members:
            lines.append(node_line(op, "    "))
        lines.append("  }")
    for op in ops:
        if op not in in_cluster:
            lines.append(node_line(op, "  "))
    for op in ops:
        if op not in pruned:              # a fed tensor's producer: its inputs are not run
            continue
        for t in op.inputs:
            label = f"{_shape_str(t.shape)} {t.dtype.name}"
            lines.append(f"  {ids[t.op]} -> {ids[op]} [label={_q(label)}];")
        for c in op.control_inputs:
            if c in ids:
                lines.append(f"  {ids[c]} -> {ids[op]} [style=dashed];")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    if path is not None:
        with open(path, "w") as fh:
            fh.write(text)
    return text
