"""Structural checks of the cpu backend's compiled plans, for tests (issue 15, item 4).

Tests that care how a graph compiles (how many fused kernels, what each fused, row stages,
lanes, opaque ops, thread choices, tiers) check the plan's own data structures here -- the
CompiledPlan's ``steps`` (compiler groups and single nodes) and ``runners``
(backends/cpu_runners.py) -- instead of the text of ``ng.explain`` / ``plan_summary``, whose
wording may change.  The summary text is built from the same fields, so these checks are as
strong as the text ones.

    plan = check_plan(fetches, feed, kernels=1, steps=1, has_kernel=dict(reductions=1))
    assert plan.kernel(space=(130, 130, 3)).lanes == 3

Only tests of the summary/explain feature itself (tests/test_diagnostics.py,
tests/test_graph_tools.py) read the text.
"""
import collections
import dataclasses

import numgrad as ng
from numgrad.backends import cpu, cpu_runners
from numgrad.compiler.emit_cpu import emit_group

__all__ = ["Kernel", "Single", "Plan", "describe", "compiled_plans", "plan_of", "check_plan"]


@dataclasses.dataclass
class Kernel:
    """A fused kernel step (compiler group) and how it runs."""
    index: int                  # the step's position in the plan
    space: tuple                # the iteration space
    ops: list                   # the fused ops' types, in the group's order
    loads: int                  # arrays it reads
    outputs: int                # arrays it writes (elementwise outputs)
    reductions: int
    stages: int                 # row stages (compiler/pipeline.py); 1 for a plain kernel
    row_buffers: int            # row-sized temporaries of a pipeline
    lanes: object               # the lane count of a lane kernel (compiler/lanes.py), else None
    gathers: int                # gathers fused into its loads
    row_blocks: bool            # runs flat over blocks of rows (emit_cpu._row_blocked)
    parallel: bool              # big enough to run chunked on threads
    threads_pay: object         # None (not measured) or (threads, whether they were faster)
    compiled: bool              # its Numba kernel is compiled (not only interpreted yet)
    cache_hits: object          # Numba dispatcher cache hits/misses; None if not loaded
    cache_misses: object
    group: object = dataclasses.field(repr=False, default=None)
    runner: object = dataclasses.field(repr=False, default=None)

    @property
    def threads_faster(self):
        """True/False once threads were measured faster/slower, None before (or serial)."""
        return None if not self.parallel or self.threads_pay is None else self.threads_pay[1]


@dataclasses.dataclass
class Single:
    """A step that runs one node: an opaque op, or a Reshape view."""
    index: int
    type: str
    name: str
    view: bool
    output_shapes: list
    node: object = dataclasses.field(repr=False, default=None)


@dataclasses.dataclass
class Plan:
    """A CompiledPlan, described: its steps in order, as Kernel and Single."""
    compiled: object = dataclasses.field(repr=False)
    n_ops: int
    steps: list
    interpret_calls: int        # calls run by the NumPy interpreter first (tiering)
    calls: int

    @property
    def kernels(self):
        return [s for s in self.steps if isinstance(s, Kernel)]

    @property
    def opaque(self):
        """The opaque steps' op types, in plan order (views left out)."""
        return [s.type for s in self.steps if isinstance(s, Single) and not s.view]

    @property
    def views(self):
        return [s for s in self.steps if isinstance(s, Single) and s.view]

    @property
    def stages(self):
        """Row-stage counts of the kernels, in order (1 for a kernel that is not a pipeline)."""
        return [k.stages for k in self.kernels]

    def kernel(self, **fields):
        """The one kernel whose fields have these values (AssertionError if not exactly one)."""
        found = [k for k in self.kernels if _matches(k, fields)]
        assert len(found) == 1, f"{len(found)} kernels with {fields} in {self}"
        return found[0]


def _matches(kernel, fields):
    for name, want in fields.items():
        got = getattr(kernel, name)
        if name == "ops":
            got, want = list(got), list(want)
        elif name == "space":
            got, want = tuple(got), tuple(want)
        if got != want:
            return False
    return True


def describe(cp):
    """A Plan of a cpu CompiledPlan (the fields plan_summary reports, as data)."""
    assert isinstance(cp, cpu.CompiledPlan), f"not a compiled cpu plan: {cp!r}"
    steps = []
    for i, (st, run) in enumerate(zip(cp.steps, cp.runners)):
        if st.kind == "group":
            kernel = getattr(run, "_kernel", None)
            stats = getattr(kernel, "stats", None)
            steps.append(Kernel(
                index=i, space=tuple(st.space), ops=[n.type for n in st.nodes],
                loads=len(st.loads), outputs=len(st.outputs), reductions=len(st.reductions),
                stages=len(st.stage_nodes) if st.stage_nodes else 1,
                row_buffers=len(st.row_temps) if st.stage_nodes else 0,
                lanes=run.lanes if isinstance(run, cpu_runners.LaneRunner) else None,
                gathers=len(st.gathered) if st.gathered else 0,
                row_blocks=_row_blocked(st, run),
                parallel=bool(run.parallel), threads_pay=run.threads_pay,
                compiled=bool(getattr(run, "compiled", False)),
                cache_hits=sum(stats.cache_hits.values()) if stats is not None else None,
                cache_misses=sum(stats.cache_misses.values()) if stats is not None else None,
                group=st, runner=run))
        else:
            n = st.node
            steps.append(Single(index=i, type=n.type, name=n.name, view=n.type == "Reshape",
                                output_shapes=[o.shape for o in n.outputs], node=n))
    return Plan(compiled=cp, n_ops=cp.n_ops, steps=steps, interpret_calls=cp.interpret_calls,
                calls=cp.calls)


def _row_blocked(group, run):
    """Whether the kernel of `group` is row-blocked: the emitter's spec of it says so (the
    emitter is deterministic, so this is the spec the runner's kernel was made from)."""
    if isinstance(run, cpu_runners.LaneRunner):
        return False
    return emit_group(group).row_blocked


def compiled_plans(sess):
    """Every cpu CompiledPlan a session has made so far (one per fetches x feed signature)."""
    return [cp for p in sess._plans.values() for cp in getattr(p, "_compiled", {}).values()
            if isinstance(cp, cpu.CompiledPlan)]


def plan_of(fetches, feed=None, session=None):
    """Run `fetches` once in `session` (default: a new cpu Session on their graph, as
    ng.explain does) and describe the compiled plan of that feed signature."""
    if session is None:
        from numgrad.fetch_mapper import graph_of_fetches
        session = ng.Session(graph=graph_of_fetches(fetches), backend="cpu")
    cp = session._compiled_plan(fetches, feed)
    assert not isinstance(cp, str), cp
    return describe(cp)


def check_plan(fetches, feed=None, *, session=None, steps=None, kernels=None, opaque=None,
               stages=None, fused=None, has_kernel=None):
    """Compile and run `fetches` once (see plan_of), check its plan, and return the Plan.

    steps, kernels: the number of steps, of fused kernels.
    opaque: the opaque ops' types, as a multiset (views left out).
    stages: the kernels' row-stage counts, in plan order.
    fused: op-type lists; each must be exactly the ops of one of the kernels.
    has_kernel: a dict of Kernel fields (or a list of them); a kernel must match each.
    """
    plan = plan_of(fetches, feed, session)
    if steps is not None:
        assert len(plan.steps) == steps, f"{len(plan.steps)} steps, not {steps}: {plan}"
    if kernels is not None:
        assert len(plan.kernels) == kernels, \
            f"{len(plan.kernels)} kernels, not {kernels}: {plan}"
    if opaque is not None:
        assert collections.Counter(plan.opaque) == collections.Counter(opaque), \
            f"opaque steps {plan.opaque}, not {list(opaque)}: {plan}"
    if stages is not None:
        assert plan.stages == list(stages), f"row stages {plan.stages}, not {stages}: {plan}"
    for ops in fused or ():
        assert any(k.ops == list(ops) for k in plan.kernels), \
            f"no kernel fuses exactly {list(ops)}: {[k.ops for k in plan.kernels]}"
    if has_kernel is not None:
        for fields in [has_kernel] if isinstance(has_kernel, dict) else has_kernel:
            assert any(_matches(k, fields) for k in plan.kernels), \
                f"no kernel with {fields}: {plan}"
    return plan
