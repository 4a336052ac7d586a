"""numgrad/config.py: the one registry of NUMGRAD_* switches, its parsing, defaults, errors,
override/switches, the README table generated from it, and that nothing else reads them."""
import os
import pathlib
import re

import pytest

from numgrad import config

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

ROOT = pathlib.Path(__file__).resolve().parent.parent
BEGIN = "<!-- numgrad-switches:begin"
END = "<!-- numgrad-switches:end -->"


def test_readme_table_is_generated_from_the_registry():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1, "README lacks the switch markers"
    start = text.index("\n", text.index(BEGIN)) + 1
    table = text[start:text.index(END)]
    assert table == config.markdown_table(), (
        "README.md's switch table is out of date; replace it with "
        "numgrad.config.markdown_table()'s output")


def test_every_switch_is_declared_once_with_help():
    assert list(config.SWITCHES) == [s.name for s in config.SWITCHES.values()]
    for s in config.SWITCHES.values():
        assert s.name.startswith("NUMGRAD_") and s.name == s.name.upper()
        assert s.type in ("bool", "int", "str", "choice", "auto_count")
        assert s.timing in ("import", "use") and s.scope in ("package", "tests", "examples")
        assert s.help and "\n" not in s.help and "|" not in s.help
        assert (s.mirror is not None) == (s.timing == "import" and s.scope == "package")
        assert s.parse(None) == s.default and s.parse("") == s.default


def test_every_switch_used_in_the_repository_is_declared():
    used = set()
    for d in ("numgrad", "tests", "examples", "benchmarks", "tools", ".ci"):
        for p in (ROOT / d).rglob("*"):
            if p.is_file() and p.suffix in (".py", "") and "__pycache__" not in p.parts:
                used |= set(re.findall(r"NUMGRAD_[A-Z0-9_]+", p.read_text(errors="replace")))
    used.discard("NUMGRAD_")
    assert used <= set(config.SWITCHES), used - set(config.SWITCHES)


@pytest.mark.parametrize("name, text, value", [
    ("NUMGRAD_LANES", "0", False), ("NUMGRAD_LANES", "1", True), ("NUMGRAD_LANES", "off", False),
    ("NUMGRAD_LANES", " TRUE ", True), ("NUMGRAD_LANES", "", True), ("NUMGRAD_SLOW", None, False),
    ("NUMGRAD_SLOW", "yes", True), ("NUMGRAD_FUSED_CALL_AFTER", "7", 7),
    ("NUMGRAD_FUSED_CALL_AFTER", None, 100), ("NUMGRAD_INTERPRET_CALLS", " 0 ", 0),
    ("NUMGRAD_BACKEND", " numpy ", "numpy"), ("NUMGRAD_BACKEND", "", "cpu"),
    ("NUMGRAD_CACHE_DIR", None, None), ("NUMGRAD_CACHE_DIR", "/tmp/a b", "/tmp/a b"),
])
def test_parse(name, text, value):
    assert config.SWITCHES[name].parse(text) == value


@pytest.mark.parametrize("name, text", [
    ("NUMGRAD_LANES", "maybe"), ("NUMGRAD_SLOW", "2"), ("NUMGRAD_FUSED_CALL_AFTER", "ten"),
    ("NUMGRAD_INTERPRET_CALLS", "1.5"), ("NUMGRAD_INTERPRET_CALLS", "-1"),
])
def test_bad_values_name_the_variable(name, text, monkeypatch):
    with pytest.raises(ValueError, match=name):
        config.SWITCHES[name].parse(text)
    monkeypatch.setenv(name, text)
    with pytest.raises(ValueError, match=name):
        config.get(name)


def test_choice_switch():
    s = config.Switch("NUMGRAD_" + "TEST_CHOICE", "choice", "a", "test", choices=("a", "b"))
    assert s.parse("b") == "b" and s.parse(None) == "a"
    with pytest.raises(ValueError, match="TEST_CHOICE.*one of a, b"):
        s.parse("c")


def test_get_reads_the_environment_now(monkeypatch):
    monkeypatch.delenv("NUMGRAD_BACKEND", raising=False)
    assert config.get("NUMGRAD_BACKEND") == "cpu" == config.get("BACKEND") == config.BACKEND
    monkeypatch.setenv("NUMGRAD_BACKEND", "numpy")
    assert config.get("NUMGRAD_BACKEND") == "numpy" == config.NUMGRAD_BACKEND
    with pytest.raises(KeyError, match="NO_SUCH"):
        config.get("NO_SUCH")
    with pytest.raises(AttributeError):
        config.NO_SUCH_SWITCH  # noqa: B018


def test_import_time_globals_are_filled_from_config():
    import importlib
    for s in config.SWITCHES.values():
        if s.mirror:
            module = importlib.import_module(s.mirror[0])
            assert getattr(module, s.mirror[1]) == config.get(s.name), s.name


def test_override_sets_and_restores_environment_and_globals(monkeypatch):
    from numgrad.backends import cpu
    from numgrad.compiler import lanes, pipeline
    monkeypatch.setenv("NUMGRAD_BACKEND", "cpu")
    monkeypatch.delenv("NUMGRAD_FUZZ_LOG", raising=False)
    before = (cpu.FUSED_CALL_AFTER, lanes.ENABLED, pipeline.ENABLED, cpu.FUSE_GATHERS,
              os.environ.get("NUMGRAD_LANES"), os.environ.get("NUMGRAD_FUSED_CALL_AFTER"))
    with config.override(NUMGRAD_FUSED_CALL_AFTER=2, NUMGRAD_LANES=False,
                         NUMGRAD_BACKEND="numpy", NUMGRAD_FUZZ_LOG="/tmp/x"):
        assert cpu.FUSED_CALL_AFTER == 2 and lanes.ENABLED is False
        assert os.environ["NUMGRAD_FUSED_CALL_AFTER"] == "2" and os.environ["NUMGRAD_LANES"] == "0"
        assert config.get("NUMGRAD_BACKEND") == "numpy" and config.FUZZ_LOG == "/tmp/x"
        with config.switches(LANES=True, ROW_PIPELINES="0", BACKEND=None):
            assert lanes.ENABLED is True and pipeline.ENABLED is False
            assert "NUMGRAD_BACKEND" not in os.environ and config.BACKEND == "cpu"
        assert lanes.ENABLED is False and pipeline.ENABLED == before[2]
        assert config.get("NUMGRAD_BACKEND") == "numpy"
    after = (cpu.FUSED_CALL_AFTER, lanes.ENABLED, pipeline.ENABLED, cpu.FUSE_GATHERS,
             os.environ.get("NUMGRAD_LANES"), os.environ.get("NUMGRAD_FUSED_CALL_AFTER"))
    assert after == before
    assert os.environ["NUMGRAD_BACKEND"] == "cpu" and "NUMGRAD_FUZZ_LOG" not in os.environ


def test_override_restores_after_an_exception_and_rejects_bad_values_first():
    from numgrad.backends import cpu
    old = cpu.INTERPRET_CALLS
    with pytest.raises(RuntimeError):
        with config.override(NUMGRAD_INTERPRET_CALLS=5):
            assert cpu.INTERPRET_CALLS == 5
            raise RuntimeError
    assert cpu.INTERPRET_CALLS == old
    env = dict(os.environ)
    with pytest.raises(ValueError, match="NUMGRAD_LANES"):
        with config.override(NUMGRAD_FUSED_CALL_AFTER=1, NUMGRAD_LANES="sometimes"):
            pass
    assert dict(os.environ) == env
    with pytest.raises(KeyError):
        with config.switches(NO_SUCH=1):
            pass


def test_switches_fixture(switches):
    from numgrad.backends import cpu
    switches(FUSED_CALL_AFTER=4)
    assert cpu.FUSED_CALL_AFTER == 4


def test_switches_fixture_restored():
    from numgrad.backends import cpu
    assert cpu.FUSED_CALL_AFTER == config.get("NUMGRAD_FUSED_CALL_AFTER")


_READ = re.compile(r"""os\.(?:environ\.get|getenv|environ\.pop|environ\.setdefault)\(\s*["']NUMGRAD_"""
                   r"""|os\.environ\[\s*["']NUMGRAD_[A-Z0-9_]*["']\s*\](?!\s*=[^=])""")


def test_only_config_reads_numgrad_variables():
    offenders = []
    for p in sorted((ROOT / "numgrad").rglob("*.py")):
        if p.name == "config.py" and p.parent.name == "numgrad":
            continue
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if _READ.search(line):
                offenders.append(f"{p.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "read NUMGRAD_* switches through numgrad.config:\n" + "\n".join(offenders)


def test_auto_count_switch():
    s = config.SWITCHES["NUMGRAD_BLAS_THREADS"]
    assert s.parse("auto") is None and s.parse(" AUTO ") is None and s.parse("3") == 3
    assert s.format(None) == "auto" and s.format(2) == "2"
    for bad in ("0", "-1", "lots", "1.5"):
        with pytest.raises(ValueError, match="NUMGRAD_BLAS_THREADS must be 'auto' or an integer"):
            s.parse(bad)
    from numgrad import blas_threads
    with config.override(NUMGRAD_BLAS_THREADS=2):
        assert blas_threads.SETTING == 2
    assert blas_threads.SETTING is None or os.environ.get("NUMGRAD_BLAS_THREADS")
