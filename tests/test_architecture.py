"""tools/check_architecture.py passes on the repository, and fails on what it must catch."""
import importlib.util
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "check_architecture.py"


def _load():
    spec = importlib.util.spec_from_file_location("check_architecture", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_check_architecture_passes():
    out = subprocess.run([sys.executable, str(TOOL)], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "known long functions" in out.stdout  # the debt is printed (none left today)
    assert "check_architecture: ok" in out.stdout


def test_check_catches_offenders(tmp_path, monkeypatch):
    mod = _load()
    root = tmp_path / "repo"
    (root / "numgrad" / "sub").mkdir(parents=True)
    (root / "tools").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(mod.MAX_LINES))
    env = "NUMGRAD" + "_"            # (not spelled out: this file is scanned too)
    (root / "numgrad" / "config.py").write_text(f'import os\nv = os.environ.get("{env}X")\n')
    (root / "numgrad" / "sub" / "m.py").write_text(
        "import os\n"
        "from ..config import _hidden\n"
        "from . import public as _alias\n"
        f'a = os.environ.get("{env}LANES", "1")\n'
        f"b = os.getenv('{env}SLOW')\n"
        f'c = os.environ["{env}BACKEND"]\n'
        f'os.environ["{env}BACKEND"] = "cpu"\n'
        f"def long_one():\n{body}\n")
    monkeypatch.setattr(mod, "ROOT", root)
    monkeypatch.setattr(mod, "KNOWN_OP_KEYED", {})
    problems, notes = mod.check()
    text = "\n".join(problems)
    assert "numgrad/sub/m.py:4:" in text and "numgrad/sub/m.py:5:" in text
    assert "numgrad/sub/m.py:6:" in text and "numgrad/sub/m.py:7:" not in text
    assert "numgrad/config.py:" not in text
    assert f"numgrad/sub/m.py::long_one: {mod.MAX_LINES + 1} lines" in text
    assert "numgrad/sub/m.py: from ..config import _hidden" in text and "_alias" not in text
    # a known long function may not grow
    monkeypatch.setattr(mod, "KNOWN_LONG", {"numgrad/sub/m.py::long_one": mod.MAX_LINES})
    problems, _ = mod.check()
    assert any("ceiling 150" in p for p in problems)
    monkeypatch.setattr(mod, "KNOWN_LONG", {"numgrad/sub/m.py::long_one": mod.MAX_LINES + 1})
    monkeypatch.setattr(mod, "KNOWN_PRIVATE_IMPORTS",
                        {"numgrad/sub/m.py: from ..config import _hidden"})
    problems, _ = mod.check()
    assert all("long" not in p and "private" not in p for p in problems), problems
    # a paid-off debt entry must leave the list
    monkeypatch.setattr(mod, "KNOWN_PRIVATE_IMPORTS",
                        {"numgrad/sub/m.py: from ..config import _hidden",
                         "numgrad/sub/m.py: from ..config import _gone"})
    problems, _ = mod.check()
    assert "private imports paid off (drop them from KNOWN_PRIVATE_IMPORTS):" in problems
    assert "  numgrad/sub/m.py: from ..config import _gone" in problems


_TABLES = """\
import numpy as np
SCALE = {"Exp": 1.0, "Log": 2.0}                  # 2: a dict keyed by two op types
ONE = {"Exp": 1.0}                                 # one op type: not a table
ORDER = ("Sum", "Mean", "cpu")                     # 4: a tuple of op types
KINDS = frozenset({"Sum", "Max"})                  # 5
BY_CALL = dict(Exp="exp", Tanh="tanh")             # 6: dict() keywords
WORDS = {"alpha": 1, "beta": 2}                    # no op types


def f(node):
    if node.type == "Reshape":                     # 11: a special case by op type
        return 1
    if node.type in ("Mean", "Sum"):               # 13
        return 2
    return node.type != "elementwise"              # not an op type
"""


def test_check_catches_op_keyed_tables(tmp_path, monkeypatch):
    mod = _load()
    root = tmp_path / "repo"
    for d in ("numgrad/compiler", "numgrad/ops", "numgrad/gradients/rules", "tools"):
        (root / d).mkdir(parents=True)
    (root / "numgrad" / "compiler" / "m.py").write_text(_TABLES)
    (root / "numgrad" / "batching.py").write_text('RULES = {"Exp": 1, "Sum": 2}\n')
    # where op facts are declared, tables are fine
    (root / "numgrad" / "ops" / "decl.py").write_text(_TABLES)
    (root / "numgrad" / "gradients" / "rules" / "math.py").write_text(_TABLES)
    monkeypatch.setattr(mod, "ROOT", root)
    monkeypatch.setattr(mod, "KNOWN_OP_KEYED", {})
    monkeypatch.setattr(mod, "op_type_names",
                        lambda: frozenset({"Exp", "Log", "Sum", "Mean", "Max", "Tanh",
                                           "Reshape"}))
    found = mod.op_keyed()
    lines = sorted(int(k.split(":")[1]) for k in found if k.startswith("numgrad/compiler/m.py"))
    assert lines == [2, 4, 5, 6, 11, 13], found
    assert any(k.startswith("numgrad/batching.py:1:") for k in found)
    assert not any("ops/" in k or "rules/" in k for k in found), found
    problems, _ = mod.check()
    assert "  numgrad/compiler/m.py:11: compares with op type(s) Reshape" in problems
    # known debt: a file may keep its count, not grow it, and a paid-off entry must go
    monkeypatch.setattr(mod, "KNOWN_OP_KEYED", {"numgrad/compiler/m.py": 6,
                                                "numgrad/batching.py": 1})
    problems, notes = mod.check()
    assert not any("op-keyed" in p or "op type" in p for p in problems), problems
    assert "  numgrad/compiler/m.py: 6" in notes
    monkeypatch.setattr(mod, "KNOWN_OP_KEYED", {"numgrad/compiler/m.py": 5,
                                                "numgrad/batching.py": 1,
                                                "numgrad/compiler/gone.py": 2})
    problems, _ = mod.check()
    assert "  numgrad/compiler/m.py: 6, ceiling 5:" in problems
    assert "op-keyed debt paid off (drop them from KNOWN_OP_KEYED):" in problems
    assert "  numgrad/compiler/gone.py" in problems


def test_op_type_names_are_the_registry():
    mod = _load()
    names = mod.op_type_names()
    assert {"Exp", "Atan2", "TopKV2", "Reshape"} <= names and "exp" not in names
