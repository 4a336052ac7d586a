"""The compiler's stages, in order, one list per target: the backends compile by running it.

    for stage in cpu_stages():
        print(stage.name, stage.switch, stage.doc)

A stage is a function of one :class:`Compilation` (the graph, the feed signature, and what
earlier stages made of them), which it extends.  `switch` names the NUMGRAD_* variable that
turns a stage off (the stage then passes its input through), `rules` the named rewrites it
applies (compiler/rewrites.py), `per` whether it runs once per plan ("plan": pruning, done
by the NumPy reference plan every compiled plan keeps, backends/numpy.py) or once per feed
signature ("signature": everything else, run by :func:`compile_signature`).

The emitters are imported only by the emit stages, on first use: planning passes never
import them (compiler/layout.py holds what both need).
"""
from dataclasses import dataclass, field

from . import lanes, rewrites
from .fuse import fuse, virtual_gathers
from .lower import lower_ops
from .pipeline import pipeline_rows


@dataclass
class Compilation:
    """What the stages read and write for one feed signature."""
    ops: list                   # the pruned graph ops, in run order
    fetches: list
    feeds: list
    signature: tuple            # ((shape, dtype) per feed)
    options: dict = field(default_factory=dict)   # the backend's: gathers, tpb
    L: object = None            # the Lowering (IR values and nodes)
    fetch_values: list = None
    feed_values: list = None
    rules: dict = None          # rewrites.active(): the enabled rules by `when`
    virtual: dict = None        # gathers read in place (value id -> (params, indices, n))
    steps: list = None          # fuse's Groups and Singles, in run order
    lane_groups: dict = None    # step index -> lanes.LaneGroup
    kernels: dict = None        # step index -> the emitter's kernel spec


@dataclass(frozen=True)
class Stage:
    name: str
    run: object                 # run(Compilation) -> None
    switch: str = None          # the NUMGRAD_* variable that turns it off, if any
    rules: tuple = ()           # the named rewrites it applies
    per: str = "signature"      # "plan" (once per fetches/feeds) or "signature"

    @property
    def doc(self):
        return " ".join((self.run.__doc__ or "").strip().split("\n\n")[0].split())


def _prune(c):
    """Keep the ops the fetches and targets need (backends/numpy.py's prune, done once per
    plan by the reference NumpyPlan)."""
    from ..backends.numpy import prune
    c.ops = prune(c.fetches, c.options.get("targets", ()), c.feeds)


def _lower(c):
    """Build the IR with concrete shapes, applying the op rewrites as each op is lowered
    (CSE included)."""
    c.rules = rewrites.active()
    c.L, c.fetch_values, c.feed_values = lower_ops(
        c.ops, c.fetches, c.feeds, c.signature, c.rules,
        runtime_sized=c.options.get("runtime_sized", False))


def _graph_rewrites(c):
    """Apply the graph rewrites once over the lowered IR."""
    rewrites.apply_graph(c.rules["graph"], c.L, c.fetch_values)


def _gathers(c):
    """Find the axis-0 gathers that fused loops can read in place (fuse consumes them)."""
    c.virtual = virtual_gathers(c.L.nodes, c.fetch_values) if c.options.get("gathers") else {}


def _fuse(c):
    """Group elementwise ops and reductions into loop nests; the rest are single steps."""
    c.steps = fuse(c.L.nodes, c.fetch_values, virtual=c.virtual)


def _fuse_cpu(c):
    """Group elementwise ops (complex ones too) and reductions into loop nests; the rest are
    single steps."""
    c.steps = fuse(c.L.nodes, c.fetch_values, virtual=c.virtual, complex_ok=True)


def _row_pipelines(c):
    """Chain loop nests that read an earlier nest's row reductions into one row pipeline."""
    c.steps = pipeline_rows(c.steps, c.L.nodes, c.fetch_values)


def _lanes(c):
    """Run big loops over a tiny last dim as lanes over lane-major copies."""
    c.lane_groups = {}
    if lanes.ENABLED:
        for i, s in enumerate(c.steps):
            if s.kind == "group":
                lane_group = lanes.expand(s)
                if lane_group is not None:
                    c.lane_groups[i] = lane_group


def _emit_cpu(c):
    """Write each loop nest's Numba kernel source (compiled or loaded from the cache by the
    runner)."""
    from .emit_cpu import emit_group
    c.kernels = {}
    for i, s in enumerate(c.steps):
        if s.kind == "group":
            lane_group = (c.lane_groups or {}).get(i)
            c.kernels[i] = emit_group(lane_group.group if lane_group is not None else s)


def _emit_cuda(c):
    """Write each loop nest's CUDA kernel source (numba.cuda)."""
    from .emit_cuda import emit_group_cuda
    c.kernels = {i: emit_group_cuda(s, c.options["tpb"])
                 for i, s in enumerate(c.steps) if s.kind == "group"}


def cpu_stages():
    """The cpu backend's stages, in order."""
    return [
        Stage("prune", _prune, per="plan"),
        Stage("lower", _lower, switch="NUMGRAD_DISABLE_REWRITES",
              rules=tuple(r.name for r in rewrites.RULES if r.when != "graph")),
        Stage("graph_rewrites", _graph_rewrites, switch="NUMGRAD_DISABLE_REWRITES",
              rules=tuple(r.name for r in rewrites.RULES if r.when == "graph")),
        Stage("gathers", _gathers, switch="NUMGRAD_FUSE_GATHERS"),
        Stage("fuse", _fuse_cpu, switch="NUMGRAD_FUSE_COMPLEX"),
        Stage("row_pipelines", _row_pipelines, switch="NUMGRAD_ROW_PIPELINES"),
        Stage("lanes", _lanes, switch="NUMGRAD_LANES"),
        Stage("emit", _emit_cpu),
    ]


def cuda_stages():
    """The cuda backend's stages, in order: the cpu backend's planning without in-place
    gathers, row pipelines and lanes (its emitter has none of them)."""
    cpu = {s.name: s for s in cpu_stages()}
    return [cpu["prune"], cpu["lower"], cpu["graph_rewrites"], Stage("fuse", _fuse),
            Stage("emit", _emit_cuda)]


def compile_signature(stages, compilation):
    """Run the per-signature stages of `stages` in order; returns `compilation`."""
    for stage in stages:
        if stage.per == "signature":
            stage.run(compilation)
    return compilation


def table(stages):
    """(name, switch, rules, what it does) of each stage: docs and tests read this."""
    return [(s.name, s.switch, s.rules, s.doc) for s in stages]
