"""The named rewrites of numgrad/compiler/rewrites.py: each rule's effect on the lowered IR
(which nodes remain), and the same results with the rule off (cpu backend against the NumPy
reference); the power rules against np.power on special values and in ulps."""
import collections

import numpy as np
import pytest

import numgrad as ng
from numgrad import config
from numgrad.backends.numpy import prune
from numgrad.compiler import rewrites
from numgrad.compiler.lower import lower
from numgrad.ops.array import sum_to_shape
from numgrad.ops.core import make_op

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def lowered(fetches, feed_dict, disabled=()):
    """(live node type counts, fetch Values) of the fetches lowered with `disabled` off."""
    feeds = list(feed_dict)
    sig = [(np.shape(a), np.asarray(a).dtype) for a in feed_dict.values()]
    L, fetch_values, _ = lower(prune(fetches, [], feeds), fetches, feeds, sig,
                               disabled=disabled)
    counts, seen, stack = collections.Counter(), set(), [v.node for v in fetch_values]
    while stack:
        n = stack.pop()
        if n is None or n.id in seen:
            continue
        seen.add(n.id)
        counts[n.type] += 1
        stack.extend(v.node for v in n.inputs)
    counts.all_nodes = len(L.nodes)         # live or not (unused_nodes drops the others)
    return counts, fetch_values


def _inputs_of(fetch_values, op_type):
    out = []
    stack, seen = [v.node for v in fetch_values], set()
    while stack:
        n = stack.pop()
        if n is None or n.id in seen:
            continue
        seen.add(n.id)
        if n.type == op_type:
            out.extend(n.inputs)
        stack.extend(v.node for v in n.inputs)
    return out


def _has_splat_input(fetch_values, op_type):
    return any(v.is_splat for v in _inputs_of(fetch_values, op_type))


def _x(shape=(4,), dtype=np.float64, seed=0):
    x = ng.placeholder(dtype, [None] * len(shape))
    v = (np.random.default_rng(seed).uniform(0.5, 2.0, shape)).astype(dtype)
    return x, v


BIG = (1 << 21) + 3          # above the elementwise folding limit


# rule -> (build() -> (fetch, feed_dict), check(counts, fetch_values, on) -> bool)
def _case_identity():
    x, v = _x()
    return ng.exp(ng.identity(x)) + ng.stop_gradient(x), {x: v}


def _case_like_splat():
    x, v = _x()
    return (ng.ones_like(x) * 3.0 + ng.zeros_like(x)) * x, {x: v}


def _case_fill_splat():
    x, v = _x()
    return ng.fill([4], ng.constant(2.0, ng.float64)) * x, {x: v}


def _case_broadcast_same_shape():
    x, v = _x()
    return ng.exp(ng.broadcast_to(x, [4])), {x: v}


def _case_broadcast_scalar_splat():
    x, v = _x()
    return ng.broadcast_to(ng.constant(2.0, ng.float64), [4]) * x, {x: v}


def _case_view_same_shape():
    x, v = _x()
    return ng.exp(ng.reshape(x, [4])), {x: v}


def _case_view_of_const():
    x, v = _x((64, 128))
    c = ng.constant(np.arange(64 * 128, dtype=np.float64))
    return ng.reshape(c, [64, 128]) * x, {x: v}


def _case_reshape_chain():
    x, v = _x()
    return ng.exp(ng.reshape(ng.reshape(x, [2, 2]), [4, 1])), {x: v}


def _case_sum_to_same_shape():
    x, v = _x()
    return ng.exp(sum_to_shape(x * 2.0, ng.shape(x))), {x: v}


def _case_single_add_n():
    x, v = _x()
    return ng.exp(make_op("AddN", [x]).outputs[0]), {x: v}


def _case_splat_fold():
    x, v = _x((BIG,))
    return ng.fill([BIG], ng.constant(2.0, ng.float64)) * 3.0 + x, {x: v}


def _case_constant_fold():
    x, v = _x()
    return ng.constant([1.0, 2.0, 3.0, 4.0], ng.float64) * ng.constant(
        [2.0, 3.0, 4.0, 5.0], ng.float64) + x, {x: v}


def _case_mul_one():
    x, v = _x()
    return ng.exp(x * 1.0) + ng.sin(1.0 * x), {x: v}


def _case_div_one():
    x, v = _x()
    return ng.exp(x / 1.0), {x: v}


def _case_add_zero():
    x, v = _x()
    return ng.exp(x + 0.0) + ng.sin(0.0 + x), {x: v}


def _case_sub_zero():
    x, v = _x()
    return ng.exp(x - 0.0), {x: v}


def _case_negated_dividend():
    x, v = _x()
    return (-2.0) / x, {x: v}


def _case_reciprocal_squared():
    x, v = _x()
    return (1.0 / x) / x + 1.0 / x, {x: v}


def _pow_case(c):
    def build():
        x, v = _x()
        return x ** c, {x: v}
    return build


def _case_matmul_outer():
    x, v = _x((4, 1))
    return ng.exp(ng.matmul(x, ng.constant([[1.0, -2.0, 3.0]], ng.float64))), {x: v}


def _case_diagonal_constants():
    x, v = _x((64, 64))
    return x * (1.0 - np.eye(64)), {x: v}


def _case_view_of_reduction():
    x, v = _x((4, 3))
    return ng.exp(ng.expand_dims(ng.reduce_mean(x, 1), 1)), {x: v}


def _case_slice_of_everything():
    x, v = _x()
    return ng.exp(x[:, None]), {x: v}


def _case_slice_grad_of_everything():
    x, v = _x()
    return ng.gradients(ng.reduce_sum(ng.exp(x[:, None])), x)[0], {x: v}


def _case_view_through_scalar_op():
    x, v = _x((4, 3))
    return ng.exp(ng.reshape(ng.reduce_sum(x, 1) / 3.0, [4, 1])), {x: v}


def _case_unused_nodes():
    # view_through_scalar_op leaves the (4,) sum and quotient unread
    x, v = _x((4, 3))
    return ng.exp(ng.expand_dims(ng.reduce_sum(x, 1) / 3.0, 1)), {x: v}


def _case_softplus_terms():
    x, v = _x()
    return ng.nn.softplus(x), {x: v - 1.0}


def _case_sigmoid_of_shared_exp():
    x, v = _x()
    y = ng.nn.softplus(x)
    return y + ng.gradients(ng.reduce_sum(y * 3.0), x)[0], {x: v - 1.0}


def _case_kept_reduction_shared():
    # the row sum read as it is (m * m) and through a view (the keepdims sum)
    x, v = _x((4, 3))
    m = ng.reduce_sum(x, 1)
    return ng.exp(ng.expand_dims(m, 1)) * ng.reduce_sum(m * m), {x: v}


CASES = {
    "identity": (_case_identity,
                 lambda k, f, on: (k["Identity"] + k["StopGradient"] == 0) == on),
    "like_splat": (_case_like_splat, lambda k, f, on: _has_splat_input(f, "Mul") == on),
    "fill_splat": (_case_fill_splat, lambda k, f, on: _has_splat_input(f, "Mul") == on),
    "broadcast_same_shape": (_case_broadcast_same_shape,
                             lambda k, f, on: (k["BroadcastTo"] == 0) == on),
    "broadcast_scalar_splat": (_case_broadcast_scalar_splat,
                               lambda k, f, on: _has_splat_input(f, "Mul") == on),
    "view_same_shape": (_case_view_same_shape, lambda k, f, on: (k["Reshape"] == 0) == on),
    "view_of_const": (_case_view_of_const, lambda k, f, on: (k["Reshape"] == 0) == on),
    "reshape_chain": (_case_reshape_chain, lambda k, f, on: k["Reshape"] == (1 if on else 2)),
    "sum_to_same_shape": (_case_sum_to_same_shape, lambda k, f, on: (k["Sum"] == 0) == on),
    "single_add_n": (_case_single_add_n, lambda k, f, on: (k["AddN"] == 0) == on),
    "splat_fold": (_case_splat_fold, lambda k, f, on: (k["Mul"] == 0) == on),
    "constant_fold": (_case_constant_fold, lambda k, f, on: (k["Mul"] == 0) == on),
    "mul_one": (_case_mul_one, lambda k, f, on: (k["Mul"] == 0) == on),
    "div_one": (_case_div_one, lambda k, f, on: (k["RealDiv"] == 0) == on),
    "add_zero": (_case_add_zero, lambda k, f, on: (k["AddV2"] == 1) == on),
    "sub_zero": (_case_sub_zero, lambda k, f, on: (k["Sub"] == 0) == on),
    "negated_dividend": (_case_negated_dividend, lambda k, f, on: (k["Neg"] == 1) == on),
    "reciprocal_squared": (_case_reciprocal_squared,
                           lambda k, f, on: (k["RealDiv"], k["Square"]) == ((1, 1) if on else (2, 0))),
    "pow_one": (_pow_case(1.0), lambda k, f, on: (k["Pow"] == 0) == on),
    "pow_two": (_pow_case(2.0), lambda k, f, on: (k["Square"], k["Pow"]) == ((1, 0) if on else (0, 1))),
    "pow_zero": (_pow_case(0.0), lambda k, f, on: (not k and f[0].is_splat) if on else k["Pow"] == 1),
    "pow_integer": (_pow_case(-3.0), lambda k, f, on: dict(k) == (
        {"Square": 1, "Mul": 1, "Reciprocal": 1} if on else {"Pow": 1})),
    "pow_half": (_pow_case(0.5), lambda k, f, on: dict(k) == ({"Sqrt": 1} if on else {"Pow": 1})),
    "pow_minus_half": (_pow_case(-0.5),
                       lambda k, f, on: (k["Rsqrt"], k["Pow"]) == ((1, 0) if on else (0, 1))),
    "pow_three_halves": (_pow_case(1.5), lambda k, f, on: (
        k["Sqrt"], k["Mul"], k["Pow"]) == ((1, 1, 0) if on else (0, 0, 1))),
    "matmul_outer": (_case_matmul_outer,
                     lambda k, f, on: (k["MatMul"], k["Mul"]) == ((0, 1) if on else (1, 0))),
    "diagonal_constants": (_case_diagonal_constants,
                           lambda k, f, on: (k["SelectV2"] == 1) == on),
    "view_of_reduction": (_case_view_of_reduction,
                          lambda k, f, on: (k["Reshape"], k["Mean"]) == ((0, 1) if on else (1, 1))),
    "slice_of_everything": (_case_slice_of_everything, lambda k, f, on: (
        k["StridedSlice"], k["Reshape"]) == ((0, 1) if on else (1, 0))),
    "slice_grad_of_everything": (_case_slice_grad_of_everything, lambda k, f, on: (
        k["StridedSliceGrad"] == 0) == on),
    "view_through_scalar_op": (_case_view_through_scalar_op, lambda k, f, on: (
        k["Reshape"], k["RealDiv"], k["Sum"]) == ((0, 1, 1) if on else (1, 1, 1))),
    "softplus_terms": (_case_softplus_terms, lambda k, f, on: (
        k["Softplus"], k["Log1p"]) == ((0, 1) if on else (1, 0))),
    "sigmoid_of_shared_exp": (_case_sigmoid_of_shared_exp, lambda k, f, on: (
        k["Exp"], k["RealDiv"]) == ((1, 0) if on else (2, 1))),
    "kept_reduction_shared": (_case_kept_reduction_shared,
                              lambda k, f, on: k["Sum"] == (2 if on else 3)),
    "unused_nodes": (_case_unused_nodes,
                     lambda k, f, on: (k.all_nodes == sum(k.values())) == on),
}


def test_every_rule_has_a_case_and_a_one_line_doc():
    assert sorted(CASES) == sorted(rewrites.names())
    for name, when, doc in rewrites.table():
        assert doc and "->" in doc, name
        assert when in ("early", "op", "graph")


@pytest.mark.parametrize("name", list(CASES))
def test_rule_structure_and_results(name):
    build, check = CASES[name]
    fetch, feed = build()
    counts_on, f_on = lowered([fetch], feed)
    counts_off, f_off = lowered([fetch], feed, disabled=(name,))
    assert check(counts_on, f_on, True), (name, dict(counts_on))
    assert check(counts_off, f_off, False), (name, dict(counts_off))
    ref = ng.Session(backend="numpy").run(fetch, feed)
    outs = {}
    for off in (False, True):
        with rewrites.disabled_rules(*((name,) if off else ())):
            outs[off] = ng.Session(backend="cpu").run(fetch, feed)
    for out in outs.values():
        assert out.dtype == ref.dtype and out.shape == ref.shape
        np.testing.assert_allclose(out, ref, rtol=1e-13, atol=0)


def test_switch_and_context_manager():
    with config.override(NUMGRAD_DISABLE_REWRITES="mul_one, pow_two"):
        assert rewrites.disabled_names() == {"mul_one", "pow_two"}
        with rewrites.disabled_rules("add_zero"):
            assert rewrites.disabled_names() == {"mul_one", "pow_two", "add_zero"}
            assert "add_zero" not in {r.name for r in rewrites.active()["op"]}
        assert rewrites.disabled_names() == {"mul_one", "pow_two"}
    assert rewrites.disabled_names() == set()
    with pytest.raises(ValueError, match="mul_onr"):
        rewrites.disabled_names("mul_onr")
    x, v = _x()
    with rewrites.disabled_rules("mul_one"):        # the backend reads it at planning time
        sess = ng.Session(backend="cpu")
        sess.run(ng.exp(x * 1.0), {x: v})


# --- power algebra: special values and ulps against np.power --------------------------------

EXPONENTS = [0, 1, 2, 3, 4, 5, 7, 8, 15, 16, -1, -2, -3, -4, -7, -16, 0.5, -0.5, 1.5]
SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.7, -3.7, 1e-30, -1e-30, 1e30, -1e30,
           np.inf, -np.inf, np.nan]


def _run_pows(values, exponents):
    """x_k ** c_k for each exponent c_k, x_k fed values[k], all in one graph
    and one cpu plan: the exponents' loops fuse into one kernel per shape instead of one each."""
    feeds = {}                  # one placeholder per distinct input array
    for v in values:
        if id(v) not in feeds:
            feeds[id(v)] = (ng.placeholder(v.dtype, [None]), v)
    fetches = [feeds[id(v)][0] ** c for v, c in zip(values, exponents)]
    return ng.Session(backend="cpu").run(fetches, dict(feeds.values()))


def _each_exponent(check, exponents, outs, values):
    """check(out, c, v) for each exponent c, its result and its input; every failure, named
    by its exponent."""
    failures = []
    for c, out, v in zip(exponents, outs, values):
        try:
            check(out, c, v)
        except AssertionError as e:
            failures.append(f"x ** {c!r}: {e}")
    assert not failures, "\n".join(failures)


def _special_values_check(out, c, v):
    with np.errstate(all="ignore"):
        ref = np.power(v, v.dtype.type(c))
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(ref))
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(np.signbit(out[~np.isnan(ref)]), np.signbit(ref[~np.isnan(ref)]))
    np.testing.assert_allclose(out[finite], ref[finite], rtol=8 * np.finfo(v.dtype).eps, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pow_special_values_match_np_power(dtype):
    v = np.array(SPECIAL, dtype)
    values = [v] * len(EXPONENTS)
    _each_exponent(_special_values_check, EXPONENTS, _run_pows(values, EXPONENTS), values)


def ulps(out, ref):
    return np.abs(out.astype(np.float64) - ref.astype(np.float64)) / np.spacing(
        np.abs(ref)).astype(np.float64)


# the documented bounds (rewrites.py, docs/cpu-backend.md)
ULP_BOUND = {0.5: 0, -0.5: 2, 1.5: 2, 3: 2, -3: 2, 4: 3, -4: 3, 5: 3}
_ULP_EXPONENTS = [c for c in EXPONENTS if c not in (0, 1)]


def _ulp_values(dtype, c):
    rng = np.random.default_rng(7)
    # magnitudes whose results stay normal: |x|**|c| within the dtype's normal range
    lim = np.log2(np.finfo(dtype).max) / 4 / max(abs(c), 1)
    v = (rng.choice([-1, 1], 20000) * np.exp2(rng.uniform(-lim, lim, 20000))).astype(dtype)
    return np.abs(v) if c != int(c) else v


def _ulp_check(out, c, v):
    with np.errstate(all="ignore"):
        ref = np.power(v, v.dtype.type(c))
    bound = ULP_BOUND.get(c, 2 if abs(c) <= 2 else 5 if abs(c) <= rewrites.POW_MAX else 1)
    assert ulps(out, ref).max() <= bound


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pow_within_a_few_ulp_of_np_power(dtype):
    values = [_ulp_values(dtype, c) for c in _ULP_EXPONENTS]
    _each_exponent(_ulp_check, _ULP_EXPONENTS, _run_pows(values, _ULP_EXPONENTS), values)


_GRADIENT_EXPONENTS = [3.0, -2.0, 0.5, 1.5, -0.5, 2.5, 3.3]


@pytest.fixture(scope="module")
def pow_gradients():
    """{y: (gradient of sum(x ** y) on the cpu backend, on the NumPy reference)}: every
    exponent on its own placeholder, in one graph and one cpu plan."""
    graph = ng.Graph()
    with graph.as_default():
        grads, feed = [], {}
        for y in _GRADIENT_EXPONENTS:
            x, v = _x()
            grads += ng.gradients(ng.reduce_sum(x ** y), [x])
            feed[x] = v
        got = ng.Session(backend="cpu").run(grads, feed)
        want = ng.Session(backend="numpy").run(grads, feed)
    return dict(zip(_GRADIENT_EXPONENTS, zip(got, want)))


@pytest.mark.parametrize("y", _GRADIENT_EXPONENTS)
def test_pow_gradient_uses_the_rules(y, pow_gradients):
    """TF's Pow gradient is y * pow(x, y - 1): y - 1 folds, then the power rules apply."""
    x, v = _x()
    z = ng.reduce_sum(x ** y)
    g, = ng.gradients(z, [x])
    counts, _ = lowered([g], {x: v})
    assert counts["Pow"] == (1 if y in (-0.5, 3.3) else 0), dict(counts)   # -1.5, 2.3 stay
    got, ref = pow_gradients[y]
    np.testing.assert_allclose(got, ref, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softplus_gradient_special_values(dtype):
    # sigmoid_of_shared_exp's stable sigmoid against TF's g / (exp(-x) + 1): the same values at
    # +-0, +-inf and NaN, within 3 ulp elsewhere; where exp(-x) overflows (x < -88 in float32)
    # TF's form gives 0 and the stable form the true, subnormal value
    x = ng.placeholder(dtype, [None])
    grad = ng.gradients(ng.reduce_sum(ng.nn.softplus(x) * 3.0), x)[0]
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype)
    rest = np.linspace(-80, 80, 1001).astype(dtype)
    with config.override(NUMGRAD_INTERPRET_CALLS=0):
        got = ng.Session(backend="cpu").run(grad, {x: np.concatenate([special, rest])})
    np.testing.assert_array_equal(got[:5], np.array([1.5, 1.5, 3.0, 0.0, np.nan], dtype))
    r = rest.astype(np.float64)
    want = 3.0 / (np.exp(-r) + 1.0)
    np.testing.assert_allclose(got[5:], want, rtol=4 * np.finfo(dtype).eps, atol=0)


def test_kept_reduction_shared_when_the_keepdims_one_comes_first():
    # the keepdims sum built before the plain one (as reduce_logsumexp builds it): one sum,
    # the same values (tests/test_math_ops.py::test_reduce_logsumexp_values caught the rule
    # moving the keepdims sum after its readers there)
    x, v = _x((4, 3))
    kept = ng.reduce_sum(x, 1, keepdims=True)
    m = ng.reduce_sum(x, 1)
    fetch = ng.exp(kept) * ng.reduce_sum(m * m)
    counts, _ = lowered([fetch], {x: v})
    assert counts["Sum"] == 2
    got = ng.Session(backend="cpu").run(fetch, {x: v})
    np.testing.assert_allclose(got, ng.Session(backend="numpy").run(fetch, {x: v}), rtol=1e-13)


def test_a_lowering_asks_each_op_type_for_its_rules_once_in_table_order():
    from numgrad.compiler.lower import Lowering
    from numgrad.ops.registry import op_types
    some = [r.name for r in rewrites.RULES if r.when == "op"][:2]
    for disabled in ((), some):
        L = Lowering(rewrites.active(disabled))
        for op_type in op_types():
            for when in ("early", "op"):
                got = L.rules_for(when, op_type)
                assert got == [r for r in rewrites.RULES if r.when == when and
                               r.name not in disabled and r.looks_at(op_type)]
                assert L.rules_for(when, op_type) is got        # asked once
