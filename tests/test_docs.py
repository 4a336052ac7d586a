"""Every ```python block in docs/*.md runs without error, on the backend NUMGRAD_BACKEND selects.

The blocks of one file run in order in one namespace (later blocks use the names earlier ones
define), on a fresh default graph.  Expected values are `assert` statements inside the blocks."""
import pathlib
import re

import pytest

import numgrad as ng

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(path):
    """(line number, source) of each ```python block in the file."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in _BLOCK.finditer(text)]


def test_docs_exist():
    names = {p.name for p in DOCS.glob("*.md")}
    assert {"gradients.md", "cpu-backend.md"} <= names, names
    assert python_blocks(DOCS / "gradients.md"), "docs/gradients.md has no python blocks"


@pytest.mark.parametrize("path", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_python_blocks_run(path):
    namespace = {"__name__": "__docs__"}
    ng.reset_default_graph()
    for line, source in python_blocks(path):
        code = compile(source, f"{path.name}:{line}", "exec")
        exec(code, namespace)  # noqa: S102  (the repository's own documentation)


@pytest.mark.backend_independent
def test_ci_runs_the_readme_test_command():
    """.ci/run ends with the README's test command, and CONTRIBUTING.md gives the same one."""
    root = DOCS.parent
    ci_lines = (root / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    command = ci_lines[-1]
    assert command.startswith("python -m pytest"), ci_lines[-1]
    for name in ("README.md", "CONTRIBUTING.md"):
        text = (root / name).read_text(encoding="utf-8")
        assert f"```bash\n{command}\n```" in text, f"{name} does not give .ci/run's test command"
