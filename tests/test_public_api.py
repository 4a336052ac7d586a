"""Every public name of numgrad has a docstring (issue 5).

Walks the non-underscore attributes of ``ng``, ``ng.nn`` and ``ng.test`` (submodules are skipped:
their own public names are re-exported and checked where they are exported). Each callable or
class must have a non-empty docstring, and so must every public method or property that a public
class defines itself (``vars(cls)``; inherited ones are checked on the class that defines them).
"""
import inspect
import types

import pytest

import numgrad as ng

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

_NAMESPACES = (("ng", ng), ("ng.nn", ng.nn), ("ng.test", ng.test))


def _own_doc(obj):
    """The docstring written on `obj` itself (a class does not inherit one from its base)."""
    if isinstance(obj, type):
        doc = vars(obj).get("__doc__")
    else:
        doc = getattr(obj, "__doc__", None)
    return doc.strip() if isinstance(doc, str) else ""


def _public_names():
    """(qualified name, object) for every public callable/class in the checked namespaces."""
    for prefix, module in _NAMESPACES:
        for name in sorted(vars(module)):
            if name.startswith("_"):
                continue
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType):
                continue
            if isinstance(obj, type) or callable(obj):
                yield f"{prefix}.{name}", obj


def _public_members(cls):
    """(name, member) for each public method/property that `cls` defines itself."""
    for name, member in sorted(vars(cls).items()):
        if name.startswith("_"):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if isinstance(member, property) or inspect.isroutine(member):
            yield name, member


def test_public_names_exist():
    names = [n for n, _ in _public_names()]
    # The walk must actually see the API (guards against a broken walker passing vacuously).
    for expected in ("ng.gradients", "ng.Session", "ng.Tensor", "ng.nn.relu",
                     "ng.test.compute_gradient"):
        assert expected in names


def test_every_public_callable_and_class_has_a_docstring():
    missing = [name for name, obj in _public_names() if not _own_doc(obj)]
    assert not missing, "public names without a docstring:\n  " + "\n  ".join(missing)


def test_every_public_method_of_public_classes_has_a_docstring():
    seen, missing = set(), []
    for qualname, obj in _public_names():
        if not isinstance(obj, type) or obj in seen:
            continue
        seen.add(obj)
        for name, member in _public_members(obj):
            if not _own_doc(member):
                missing.append(f"{qualname}.{name}")
    assert not missing, "public methods without a docstring:\n  " + "\n  ".join(missing)


def test_import_numgrad_imports_no_optional_dependency():
    """SciPy, Dask, numba-cuda, TF, JAX and torch are optional: `import numgrad` loads none of
    them (Numba itself imports the top-level `scipy` package to check its version, when
    installed: only SciPy's submodules are numgrad's business)."""
    import subprocess
    import sys
    code = ("import sys, numgrad\n"
            "top = {m.split('.')[0] for m in sys.modules}\n"
            "bad = sorted(top & {'dask', 'distributed', 'tensorflow', 'jax', 'torch', "
            "'matplotlib', 'threadpoolctl', 'numba_cuda'})\n"
            "bad += sorted(m for m in sys.modules if m.startswith('scipy.') and "
            "m.split('.')[1] in ('linalg', 'optimize', 'special', 'stats', 'sparse'))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"import numgrad imported {out.stdout.strip()}"
