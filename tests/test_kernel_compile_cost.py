"""What a generated kernel's compile runs: numgrad's functions compile through Numba's
pipeline less the passes a scan shows would change nothing (numgrad/numba_pipeline.py), with
operators on plain numbers typed once a process (numgrad/numba_typing.py).  The typed IR, the
optimised LLVM IR and the machine code are those of Numba's pipeline and typing; a function
with what a skipped pass acts on (a closure, a comprehension, array expressions, ``np.array``
of a list, a ``with`` block) still gets the pass."""
import re

import numpy as np
import pytest
from numba import njit, objmode
from numba.core import compiler

import numgrad as ng
from numgrad import numba_pipeline, numba_start, numba_typing
from numgrad.backends import cpu
from numgrad.backends.cpu_runners import GroupRunner

pytestmark = pytest.mark.skipif(ng.backends.default_backend_name() != "cpu",
                                reason="cpu backend only")

GUARDED = ("numgrad_with_lifting", "numgrad_inline_closure_likes",
           "numgrad_nopython_rewrites")
NUMBAS = ("with_lifting", "inline_closure_likes", "nopython_rewrites")


class Numbas(compiler.Compiler):
    """Numba's own pipeline, named explicitly (numgrad's hook leaves explicit choices)."""


def _lean():
    numba_start.start()
    if numba_pipeline.Compiler is None:
        pytest.skip("NUMGRAD_LEAN_PIPELINE is off")
    return numba_pipeline.Compiler


def _passes(dispatcher, sig):
    """The names of the passes `dispatcher` ran for `sig`."""
    times = dispatcher.overloads[sig].metadata["pipeline_times"]
    return {re.sub(r"^\d+_", "", k) for pipe in times.values() for k in pipe}


def _step_kernels(switches, rng):
    """(py_func, signature) of the step kernels of a graph with elementwise chains, vecmath
    calls, a row sum with block buffers, a column sum into per-chunk partials and a mean, as
    Numba compiles them (NUMGRAD_LLVM_KERNELS=0, or where the translator refuses one)."""
    switches(INTERPRET_CALLS=0, FUSED_CALL_AFTER=1000, BACKGROUND_COMPILE=False,
             LLVM_KERNELS=False)
    x = ng.placeholder(ng.float32, (2048, 300))
    b = ng.placeholder(ng.float32, (300,))
    y = ng.tanh(x * b) + ng.exp(-x)
    fetches = [y, ng.reduce_sum(y, axis=1), ng.reduce_sum(y * x, axis=0),
               ng.reduce_mean(ng.square(y))]
    feed = {x: rng.standard_normal((2048, 300)).astype(np.float32),
            b: rng.standard_normal(300).astype(np.float32)}
    sess = ng.Session(backend="cpu")
    sess.run(fetches, feed)
    plans = [cp for p in sess._plans.values() for cp in p._compiled.values()
             if isinstance(cp, cpu.CompiledPlan)]
    kernels = [r._kernel for cp in plans for r in cp.runners if isinstance(r, GroupRunner)]
    assert kernels
    return [(k.py_func, k.signatures[0]) for k in kernels]


def _compiled(py_func, sig, pipeline_class):
    fn = njit(sig, cache=False, nogil=True, no_cfunc_wrapper=True, error_model="numpy",
              pipeline_class=pipeline_class)(py_func)
    return fn, fn.overloads[sig]


def _annotation(cres):
    return re.sub(r"0x[0-9a-f]+", "0x", str(cres.type_annotation))


def _code(text):
    """LLVM IR or assembly without what differs between two dispatchers of one function:
    their numbers and addresses in mangled names (and the lengths of strings holding those
    names), the hashes naming pickled constants."""
    text = re.sub(r"B\d+v\d+B", "BvB", text)
    text = re.sub(r'(\.size\s+".*BvB.*", )\d+', r"\1N", text)
    text = re.sub(r"(\[)\d+( x i8\] c\".*BvB)", r"\1N\2", text)
    text = re.sub(r"0x[0-9a-f]+", "0x", text)
    return re.sub(r"pickle(buf|data)\.[0-9a-f]+", r"pickle\1", text)


def test_step_kernels_compile_to_the_same_ir_and_machine_code(switches, rng, monkeypatch):
    """Each step kernel through numgrad's pipeline and typing table (compiled twice: the
    second types its operators from the table) and through Numba's pipeline and typing: the
    guarded passes were skipped, and the typed IR, the optimised LLVM IR and the assembly
    are the same."""
    lean = _lean()
    for py_func, sig in _step_kernels(switches, rng):
        _compiled(py_func, sig, lean)
        fn_l, ours = _compiled(py_func, sig, lean)
        with monkeypatch.context() as m:
            m.setattr(numba_typing, "_active", lambda: False)
            fn_n, numbas = _compiled(py_func, sig, Numbas)
        assert set(GUARDED) <= _passes(fn_l, sig) and not set(NUMBAS) & _passes(fn_l, sig)
        assert set(NUMBAS) <= _passes(fn_n, sig)
        assert _annotation(ours) == _annotation(numbas)
        assert _code(ours.library.get_llvm_str()) == _code(numbas.library.get_llvm_str())
        assert _code(ours.library.get_asm_str()) == _code(numbas.library.get_asm_str())


def _closure(x):
    g = lambda y: y * 2.0 + 1.0      # noqa: E731
    return g(x) + sum([x * k for k in range(3)])


def _array_expr(a, b):
    return np.sum(a * b + 1.0) + np.sum(np.exp(a))


def _const_array(x):
    return (np.array([1.0, 2.0, 3.0]) * x).sum()


def _with_objmode(x):
    with objmode(y="float64"):
        y = float(x) * 3.0
    return y + 1.0


@pytest.mark.parametrize("fn, args, same_code", [
    (_closure, (1.5,), True),
    (_array_expr, (np.arange(5.0), np.linspace(0.0, 1.0, 5)), False),
    (_const_array, (2.0,), True),
    (_with_objmode, (0.25,), False),
])
def test_what_a_skipped_pass_acts_on_still_gets_it(fn, args, same_code):
    """Functions with a closure and a comprehension, array expressions, ``np.array`` of a
    constant list and a ``with`` block: through numgrad's pipeline the guard runs Numba's
    pass, and the result is Numba's (without the pass, the closure and the ``with`` block
    fail to compile), and so is the machine code where two of Numba's own compiles of the
    function agree (array expressions and object-mode blocks name what they generate by
    counters and source lines)."""
    lean = _lean()
    ours = njit(cache=False, pipeline_class=lean)(fn)
    numbas = njit(cache=False, pipeline_class=Numbas)(fn)
    assert ours(*args) == numbas(*args) == pytest.approx(fn(*args), rel=1e-15)
    sig = ours.signatures[0]
    if same_code:
        assert _code(ours.overloads[sig].library.get_asm_str()) == \
            _code(numbas.overloads[sig].library.get_asm_str())


def test_guards_see_the_constructs():
    from numba.core import compiler as c
    from numba.core.registry import cpu_target
    from numba.core import typed_passes

    def ir_of(fn, args):
        from numba import typeof
        from numba.core.compiler import run_frontend
        func_ir = run_frontend(fn)
        typemap, _, _, _ = typed_passes.type_inference_stage(
            cpu_target.typing_context, cpu_target.target_context, func_ir,
            tuple(typeof(a) for a in args), None)
        return func_ir, typemap

    _lean()
    a = np.arange(4.0)
    assert numba_pipeline.has_closure_likes(c.run_frontend(_closure))
    fir, tm = ir_of(_array_expr, (a, a))
    assert numba_pipeline.has_typed_rewrites(fir, tm)
    assert not numba_pipeline.has_closure_likes(fir)
    fir, tm = ir_of(_const_array, (2.0,))
    assert numba_pipeline.has_typed_rewrites(fir, tm)
    assert numba_pipeline.has_with(c.run_frontend(_with_objmode))
    assert numba_pipeline.known_rewrites_only()


def test_numgrads_functions_get_the_pipeline_users_do_not():
    """A function of a ``numgrad_k_*`` module compiles through numgrad's pipeline (through
    the hook on Numba's compile_extra); a user's function, and one with an explicit
    pipeline, through Numba's."""
    _lean()
    src = "def f(x):\n    return x * 2.0 + 1.0\n"
    ns = {"__name__": "numgrad_k_pipeline_test"}
    exec(src, ns)
    user = {"__name__": "someones_module"}
    exec(src, user)
    k, u = njit(cache=False)(ns["f"]), njit(cache=False)(user["f"])
    assert k(2.0) == u(2.0) == 5.0
    assert set(GUARDED) <= _passes(k, k.signatures[0])
    assert set(NUMBAS) <= _passes(u, u.signatures[0])
    e = njit(cache=False, pipeline_class=Numbas)(ns["f"])
    assert e(2.0) == 5.0 and set(NUMBAS) <= _passes(e, e.signatures[0])


def test_operators_typed_once_for_numgrads_functions_only():
    """Operators on plain numbers in a numgrad function are typed through the table (the
    same signatures as Numba's), a user's function's are not, and literals, booleans and
    arrays never are."""
    import operator

    from numba import types
    from numba.core.registry import cpu_target
    _lean()
    ctx = cpu_target.typing_context
    src = ("def f(a, b, c, x):\n"
           "    return a % b, (a * c) < c, c - 1.5, (a > b) == (b > a), x + x\n")
    ns, user = {"__name__": "numgrad_k_typing_test"}, {"__name__": "someones_module"}
    exec(src, ns)
    exec(src, user)
    args = (np.int16(7), np.int16(3), np.float32(2.5), np.arange(3.0))
    fn_mod = ctx.resolve_value_type(operator.mod)
    key_mod = (fn_mod, (types.int16, types.int16))
    numba_typing._table.pop(key_mod, None)
    before = set(numba_typing._table)
    u = njit(cache=False)(user["f"])
    got_u = u(*args)
    assert set(numba_typing._table) == before       # a user's function: Numba's typing
    k = njit(cache=False)(ns["f"])
    got_k = k(*args)
    assert got_k[:4] == got_u[:4] == user["f"](*args)[:4]
    np.testing.assert_array_equal(got_k[4], got_u[4])
    added = set(numba_typing._table) - before
    assert key_mod in added
    for key in added:           # Numba's own answer; only plain numbers, no literal or array
        assert all(type(t) in (types.Integer, types.Float) for t in key[1])
        assert numba_typing._table[key] == ctx.resolve_function_type(key[0], key[1], {})
    lt = ctx.resolve_value_type(operator.lt)
    assert any(key[0] == lt for key in numba_typing._table)      # comparisons too
