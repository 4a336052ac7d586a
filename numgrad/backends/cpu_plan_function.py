"""The one-dispatch plan function of a small cpu plan: one njit function running every step.

CompiledPlan (backends/cpu.py) builds it once a plan has been called often enough
(NUMGRAD_FUSED_CALL_AFTER): emit_plan_function writes its source from the plan's steps and
their `hot` runners (hot_runners; the lines come from compiler/emit_plan.py), final_results
generates make_callable's hot path around it, pick_result picks a fetch from its results.
"""
import numpy as np

from ..compiler.canonical import canonical
from ..compiler.emit_cpu import emit_group
from ..compiler.emit_plan import PlanEmitter, loop_call_lines
from ..compiler.njit_options import jit_options
from .cpu_runners import GroupRunner

__all__ = ["hot_runners", "emit_plan_function", "final_results", "pick_result"]


def _emit_hot(group, inline=False):
    """The `hot` kernel spec of `group` (emit_group; `inline`: forceinline), its value names
    canonical; only the plan function or native loop calls it (no CPython wrapper)."""
    spec = emit_group(group, hot=True, inline=inline, njit_only=True)
    spec.source = canonical(spec.source)
    return spec


def hot_runners(plan, inline=False):
    """Serial runners of a CompiledPlan's steps for a plan function: its kernels re-emitted
    `hot` (vectorised vecmath, canonical names), other steps' runners as they are.
    `inline`: the kernels are declared forceinline (for a native loop, which calls them
    every iteration; a plan function calls each once a call, and compiles faster)."""
    return [GroupRunner(st, _emit_hot(st, inline)) if st.kind == "group" else run
            for st, run in zip(plan.steps, plan.runners)]


def pick_result(outs, given, i, fresh, const, scalar):
    """Fetch (i, fresh, const, scalar) of out_ids from a plan function's returned tuple
    `outs` (i >= 0), the arrays `given` to it (i <= -2: given[-2 - i]), or a constant."""
    if i <= -2:
        return given[-2 - i]
    if fresh:
        return np.array(outs[i], scalar) if scalar else outs[i]
    return np.array(outs[i] if i >= 0 else const)


def final_results(fn, const_args, out_ids, out_allocs=(), steps=None):
    """The hot path of make_callable, for plans whose fetches are all arrays the plan
    function allocates or fills: contiguous feeds of the right dtypes and validated shapes
    in, Session.run's results out (NumPy scalars for 0-d arrays).  None for other plans.
    (Fetch i is the plan function's returned value out_ids[i][0], or the output array
    given to it, see pick_result.)  `steps(feeds)` (if given) runs a call whose plan
    function met an index out of range (a one-row gather, a native loop's) step by step,
    which raises TF's error."""
    if not all(fresh for _, fresh, _, _ in out_ids):
        return None
    # The function is generated for this plan's fetches (no loop, no list copy): a W4-size
    # plan spends ~1.5 us per call in Python around the plan function's ~5 us.
    env = {"fn": fn, "consts": tuple(const_args), "array": np.array, "empty": np.empty,
           "steps": steps}
    allocs = []
    for k, (shape, dtype) in enumerate(out_allocs):
        env[f"d{k}"] = np.dtype(dtype)
        allocs.append(f"    o{k} = empty({tuple(shape)!r}, d{k})\n")
    picks = []
    for i, _, _, scalar in out_ids:
        if i <= -2:
            picks.append(f"o{-2 - i}")
        elif scalar:
            env[f"s{i}"] = scalar
            picks.append(f"s{i}(r[{i}])")
        else:
            picks.append(f"r[{i}]")
    more = (", *consts" if const_args else "") + "".join(f", o{k}" for k in range(len(out_allocs)))
    call = ("    try:\n"
            f"        r = fn(*args{more})\n"
            "    except TypeError:\n"
            "        # Not the types of fn's explicit signature: unaligned arrays pass the\n"
            "        # caller's checks and are copied here; anything else raises again.\n"
            f"        r = fn(*[array(a, order='C') for a in args]{more})\n")
    if steps is not None:
        call = ("    try:\n" + "".join("    " + ln + "\n" for ln in call.splitlines()) +
                "    except IndexError:\n"
                "        return steps(args)\n")
    source = ("def fast(args):\n" + "".join(allocs) + call +
              f"    return [{', '.join(picks)}]\n")
    exec(compile(source, "<numgrad plan results>", "exec"), env)
    return env["fast"]


def emit_plan_function(plan, runners, loops=None):
    """Source of one njit function running every step of a small plan (cache.load compiles
    it, with the explicit signature, as it loads it).  `loops` maps the node id of each
    While step to the native loop it calls (control/native_loop.py plan_call: its loaded
    function `fn`, `consts`, `box` and `history`).

    Returns the source, its constant arguments, per fetch (index in the returned tuple,
    -1 for a constant or -2 - k for output array k, whether that array is freshly allocated
    by the function, the constant or None, the scalar type of a 0-d result), and the
    (shape, dtype) of each output array the caller allocates and passes last.

    A fetched array that a kernel writes is such an output array: the caller allocates it
    and the function only fills it.  Numba spends ~1.3 us returning an array (boxing it,
    even one it was given), NumPy ~0.15 us allocating a small one."""
    em = PlanEmitter()
    for i, v in enumerate(plan._feed_values):
        em.bind(v, f"f{i}")
        em.params.append(f"f{i}")
    fetch_count = {}
    for v in plan._fetch_values:
        fetch_count[v.id] = fetch_count.get(v.id, 0) + 1
    given = {}                  # value id -> index of the output array the caller passes
    out_allocs = []

    def alloc(vid, shape, dtype):
        if fetch_count.get(vid) == 1 and shape != ():
            given[vid] = len(out_allocs)
            out_allocs.append((shape, dtype))
            return f"o{given[vid]}"
        return f"c_empty({shape!r}, np.{dtype.name})"
    def special(em, node):          # a While step: a call of its native loop
        loop = loops[node.id]
        return loop_call_lines(em, node, loop.module, loop.consts, loop.box,
                               loop.history)
    body = em.steps(plan.steps, runners, alloc, special=special if loops else None)
    params, const_args, imports, fresh = em.params, em.const_args, em.imports, em.fresh
    out_ids, rets = [], []
    returned = set()
    for v in plan._fetch_values:
        if v.const is not None:
            out_ids.append((-1, False, v.const_array(), None))
        else:
            # A value fetched twice, or a view of another fetched value, is not fresh twice.
            own = v.id in fresh and v.id not in returned
            returned.add(v.id)
            ret = em.arg(v)
            # A fresh 0-d result comes back as a Python scalar, made a NumPy one by the
            # caller: boxing a new array costs Numba ~0.9 us, a float nothing.
            scalar = v.dtype.type if own and v.shape == () else None
            if own and v.id in given:
                out_ids.append((-2 - given[v.id], True, None, None))
                continue
            out_ids.append((len(rets), own, None, scalar))
            rets.append(f"c_view({ret}, (1,))[0]" if scalar else ret)
    # The signature is explicit, so the dispatcher never compiles another specialisation:
    # feeds of other dtypes, layouts or ranks raise TypeError before anything runs, and
    # other shapes raise FeedSignatureMiss.  make_callable's hot path relies on both to call
    # the plan without checking its arguments in Python first.  Feeds are typed read-only
    # (mutable arrays convert to that, the plan never writes them).
    arrays = [(v.dtype, len(v.shape)) for v in plan._feed_values]
    arrays += [(a.dtype, a.ndim) for _, a in const_args]
    sig = [f"nt.Array(from_dtype(np.dtype({np.dtype(d).str!r})), {nd}, 'C', readonly=True)"
           for d, nd in arrays]
    # mutable state the function updates (a native loop's box), passed after the constants
    sig += ["nt.Array(nt.int64, 1, 'C')" for _ in em.state_args]
    params += [name for name, _ in em.state_args]
    sig += [f"nt.Array(from_dtype(np.dtype({np.dtype(d).str!r})), {len(shape)}, 'C')"
            for shape, d in out_allocs]
    params += [f"o{k}" for k in range(len(out_allocs))]
    checks = [f"f{i}.shape[{k}] != {n}" for i, v in enumerate(plan._feed_values)
              for k, n in enumerate(v.shape)]
    guard = (f"    if {' or '.join(checks)}:\n        raise FeedSignatureMiss()\n" if checks
             else "")
    source = ("import numpy as np\nfrom numba import njit, types as nt\n"
              "from numba.np.numpy_support import from_dtype\n"
              "from numgrad.errors import FeedSignatureMiss\n"
              "from numgrad.kernels.cpu.views import c_view, c_part, c_empty, c_copy, c_zero\n"
              + "\n".join(imports) + "\n\n\n"
              f"@njit(({', '.join(sig)}{',' if len(sig) == 1 else ''}), {jit_options()})\n"
              f"def plan({', '.join(params)}):\n" + guard + "\n".join(body) +
              f"\n    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})\n")
    return source, [a for _, a in const_args + em.state_args], out_ids, out_allocs

