"""An op's declaration and the facts kept elsewhere agree (numgrad/ops/registry.py).

* A gradient rule may be declared with the op (``register_op(..., gradient=fn)``): the gradient
  registry finds it, refuses a second rule under the same name, and NOT_DIFFERENTIABLE works
  as NotDifferentiable does.  (The declared rules' values are checked with the ops' other
  gradients, in tests/test_math_ops.py: finite differences and TF's numbers.)
* Every function an elementwise template calls exists where the generated kernels look it up:
  ``numgrad/kernels/cpu/scalar.py`` (its ``__all__``) and ``numgrad/kernels/cuda/scalar.py``
  (read as source: importing it needs numba.cuda).
* Every op type has a gradient rule, NotDifferentiable, or is one of those TF leaves without
  either.
* The compiler facts declared with an op (registry.Template's forms, the vectorised forms,
  traits such as `commutative`) hold, and a bad declaration is refused when it is registered.
"""
import ast
import builtins
import pathlib
import re
from types import SimpleNamespace

import numpy as np
import pytest

import numgrad as ng
from numgrad.gradients import registry as grad_registry
from numgrad.kernels.cpu import scalar as cpu_scalar
from numgrad.ops import registry
from numgrad.ops.math import BINARY

pytestmark = pytest.mark.backend_independent

ROOT = pathlib.Path(__file__).resolve().parent.parent
# op types without any gradient entry, as in TF (a LookupError there too), and numgrad's own
# shape helper that only gradient graphs build
NO_GRADIENT_ENTRY = {"TruncateMod", "VariableV2", "ReducedShape"}
# template names the emitters handle themselves (Cast's template is rewritten per dtype)
EMITTER_HANDLED = {"cast"}


def _declared_family():
    return [row[0] for row in BINARY if len(row) > 6]


def test_declared_gradients_are_found():
    family = _declared_family()
    assert {"Atan2", "Xlogy", "Zeta"} <= set(family)
    g = ng.Graph()
    with g.as_default():
        y = ng.placeholder(ng.float64, [3])
        x = ng.placeholder(ng.float64, [1])
        op = ng.atan2(y, x).op
    fn = grad_registry.get_gradient_function(op)
    assert fn is registry.get_op_def("Atan2").gradient and callable(fn)
    for t in family:
        assert registry.declared_gradient(t) is not None and grad_registry.has_rule(t), t
    with pytest.raises(KeyError, match="Registering two gradient with name 'Atan2'"):
        ng.RegisterGradient("Atan2")(lambda op, grad: [grad, grad])
    assert registry.declared_gradient("Square") is None     # registered apart, in rules/


def test_not_differentiable_and_bad_gradients_in_a_declaration(monkeypatch):
    infer = lambda inputs, attrs: [(inputs[0].dtype, inputs[0].shape)]    # noqa: E731
    compute = lambda vals, attrs: [vals[0]]                                # noqa: E731
    name = "DeclaredNoGradientForTest"
    op_def = registry.OpDef(name, infer, compute, gradient=registry.NOT_DIFFERENTIABLE)
    monkeypatch.setitem(registry._OPS, name, op_def)
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(ng.float64, [2])
        y = g.create_op(name, [x]).outputs[0]
        assert grad_registry.declared_not_differentiable(y.op)
        assert grad_registry.get_gradient_function(y.op) is None
        assert ng.gradients(y, x) == [None]
    with pytest.raises(TypeError, match="gradient must be a function"):
        registry.register_op("BadGradientForTest", infer, compute, gradient="zero")
    assert "BadGradientForTest" not in registry.op_types()


def _called_names(template):
    """Names of the functions a scalar template calls (parsed as the Python it is)."""
    tree = ast.parse(re.sub(r"\{(\d+)\}", r"a\1", template), mode="eval")
    return {n.func.id for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def _cuda_scalar_names():
    tree = ast.parse((ROOT / "numgrad" / "kernels" / "cuda" / "scalar.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _numgrad_op_types():
    """Op types numgrad declares (not the user ops other tests register in this process)."""
    return [t for t in registry.op_types()
            if registry.get_op_def(t).compute.__module__.startswith("numgrad.")]


def test_every_template_function_exists_for_cpu_and_cuda():
    """The generic, integer and bool forms run in both backends' loops; the complex forms only
    in the cpu's (the cuda emitter fuses no complex values)."""
    cpu, cuda = set(cpu_scalar.__all__), _cuda_scalar_names()
    both = (("kernels/cpu/scalar.py __all__", cpu), ("kernels/cuda/scalar.py", cuda))
    missing = []
    for t in _numgrad_op_types():
        forms = registry.get_op_def(t).forms
        if forms is None:
            continue
        for form, where_all in ((forms.text, both), (forms.int, both), (forms.bool, both),
                                (forms.complex, both[:1])):
            if not form:
                continue
            for name in _called_names(form) - EMITTER_HANDLED:
                if hasattr(builtins, name):
                    continue
                for where, names in where_all:
                    if name not in names:
                        missing.append(f"{t}: {name}() not in {where}")
    assert not missing, "\n".join(missing)


def test_every_vecmath_form_names_vecmath_functions():
    """A declared ``vecmath=`` name has vecmath's two widths, takes as many operands as the
    template, and the wrapper module (compiler/vecmath_calls.py) defines it; a vecmath_expr
    calls only wrapped functions."""
    from numgrad.compiler import vecmath_calls
    from numgrad.kernels import vecmath
    wrapped = vecmath_calls.functions()
    assert wrapped["atan2"] == 2 and wrapped["exp"] == 1
    source = vecmath_calls.source()
    for name, arity in wrapped.items():
        for width in ("f32", "f64"):
            assert hasattr(vecmath, f"_{name}_{width}"), name
            args = ", ".join("xyzw"[:arity])
            assert f"def {name}_{width}({args}):" in source
    exprs = [(t, registry.get_op_def(t).forms.vecmath_expr) for t in _numgrad_op_types()
             if registry.get_op_def(t).forms is not None
             and registry.get_op_def(t).forms.vecmath_expr is not None]
    assert {"Softplus", "Xlogy", "Sinh"} <= {t for t, _ in exprs}
    for t, expr in exprs:
        called = set(re.findall(r"vmc\.(\w+)_\{w\}", expr))
        assert called and called <= set(wrapped), (t, called - set(wrapped))


def test_commutative_ops_give_bit_identical_results_swapped():
    """The `commutative` trait lets CSE share a*b and b*a: it must hold bit for bit, signed
    zeros and NaNs included.  Maximum and Minimum do not have it (the sign of a zero result
    depends on the order), and this test shows why."""
    vals = np.array([0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan, 3e-310], np.float64)
    a, b = np.meshgrid(vals, vals)
    declared = registry.op_types_with("commutative")
    assert {"AddV2", "Mul", "Equal"} <= declared and "Sub" not in declared
    for t in sorted(declared):
        compute = registry.get_op_def(t).compute
        x, y = (a != 0, b != 0) if t.startswith("Logical") else (a, b)
        with np.errstate(invalid="ignore"):     # inf - inf: NaN either way
            r1, = compute([x, y], {})
            r2, = compute([y, x], {})
        assert np.array_equal(np.asarray(r1).view(np.uint8), np.asarray(r2).view(np.uint8)), t
    r1, = registry.get_op_def("Maximum").compute([a, b], {})
    r2, = registry.get_op_def("Maximum").compute([b, a], {})
    assert "Maximum" not in declared
    assert not np.array_equal(np.signbit(r1), np.signbit(r2))


def test_declarations_are_checked_when_registered():
    before = registry.op_types()
    with pytest.raises(KeyError, match="unknown trait.*'?fast_path"):
        registry.register_op("TestOnlyBadTrait", lambda i, a: [], lambda v, a: [],
                             traits=("fast_path",))
    with pytest.raises(TypeError, match="template must be a string or a Template"):
        registry.register_op("TestOnlyBadTemplate", lambda i, a: [], lambda v, a: [],
                             kind="elementwise", template=registry.Template(text=3))
    with pytest.raises(ValueError, match="combine must be add, mul, max or min"):
        registry.Reduction("mean")
    with pytest.raises(KeyError, match="Unknown op trait 'fused'"):
        registry.get_op_def("Mul").has_trait("fused")
    assert registry.op_types() == before
    assert registry.get_op_def("Mean").reduction == registry.Reduction("add", True, True)
    assert registry.get_op_def("Fill").data_inputs == (1,)


def test_every_op_type_has_a_gradient_entry():
    types = _numgrad_op_types()
    assert len(types) > 150
    without = {t for t in types if not grad_registry.has_rule(t)}
    assert without <= NO_GRADIENT_ENTRY, sorted(without - NO_GRADIENT_ENTRY)


def test_plan_code_facts_are_declared_with_the_ops():
    """The plan code's facts (cpu schedule, interpreter, native loops) come from traits."""
    assert registry.op_types_with("control_flow") == {"If", "While"}
    assert registry.op_types_with("loop") == {"While"}
    assert {"Print", "PrintV2", "PyFunc", "PyFuncStateless", "StatefulInput", "If",
            "While"} <= registry.op_types_with("serial")
    assert not registry.has_trait("Add", "serial") and not registry.has_trait("NoSuchOp", "loop")
    with pytest.raises(KeyError, match="Unknown op trait 'fused'"):
        registry.has_trait("Add", "fused")


def test_plan_singles_register_their_forms_once():
    from numgrad.compiler import plan_singles
    from numgrad.compiler.emit_plan import fresh_single, native_single
    for t, fresh in [("Roll", True), ("GatherV2", False), ("UnsortedSegmentSum", True),
                     ("TensorArrayRead", False), ("TensorArrayWrite", True)]:
        assert plan_singles.registered(t) is not None and fresh_single(t) == fresh, t
    assert plan_singles.registered("Reshape") is None and not fresh_single("MatMul")
    with pytest.raises(KeyError, match="'Roll' already has a plan-function form"):
        plan_singles.plan_single("Roll", lambda node: True)(lambda *a: [])
    # a form counts only where its `fits` says so: a gather of one row along axis 0 only
    def gather(axis, index_shape):
        ins = [SimpleNamespace(shape=(3, 4)), SimpleNamespace(shape=index_shape)]
        return SimpleNamespace(type="GatherV2", attrs={"axis": axis}, inputs=ins)
    assert native_single(gather(0, ()))
    assert not native_single(gather(1, ())) and not native_single(gather(0, (2,)))
