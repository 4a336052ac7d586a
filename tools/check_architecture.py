#!/usr/bin/env python
"""Structural rules of the numgrad source, checked from the source text alone (nothing is
imported).  Run it from anywhere: ``python tools/check_architecture.py``; it exits non-zero and
lists the offenders when a rule is broken (tests/test_architecture.py runs it).

1. Environment switches: no file in numgrad/, tests/, examples/, benchmarks/ or tools/ other
   than numgrad/config.py (and tests/test_config.py, which tests it) reads a ``NUMGRAD_*``
   variable with ``os.environ.get``, ``os.getenv`` or ``os.environ[...]``; they use
   ``numgrad.config.get``.  Writing one for a subprocess (``dict(os.environ, ...)``) is fine.
2. Function length: no function in numgrad/ is longer than MAX_LINES lines.  Today's longer
   ones are listed in KNOWN_LONG with their current length as a ceiling: they may shrink (then
   lower the ceiling, or drop the entry once under MAX_LINES) but not grow.
3. Private imports: no module in numgrad/ does ``from .x import _private`` (a name with one
   leading underscore from another numgrad module).  Today's are listed in KNOWN_PRIVATE_IMPORTS
   as debt: no new ones, and an entry that is paid off must leave the list (so the list is
   exactly the debt and cannot hide a new import that reuses an old line).

The known debt is printed on every run so that it stays visible.
"""
import ast
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_LINES = 150
ENV_SCAN = ("numgrad", "tests", "examples", "benchmarks", "tools")
ENV_EXEMPT = ("numgrad/config.py", "tests/test_config.py")

# "path::qualified name": its length in lines today (a ceiling).
KNOWN_LONG = {}

# "path: from <module> import <name>" as written (relative modules keep their dots).
KNOWN_PRIVATE_IMPORTS = set()

_ENV_READ = re.compile(r"""os\.(?:environ\.get|getenv)\(\s*["']NUMGRAD_"""
                       r"""|os\.environ\[\s*["']NUMGRAD_[A-Z0-9_]*["']\s*\](?!\s*=[^=])""")


def _py_files(*dirs):
    for d in dirs:
        yield from sorted(p for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts)


def _rel(p):
    return p.relative_to(ROOT).as_posix()


def env_reads():
    """'path:line: text' of each NUMGRAD_* read outside numgrad/config.py."""
    out = []
    for p in _py_files(*ENV_SCAN):
        if _rel(p) in ENV_EXEMPT:
            continue
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if _ENV_READ.search(line):
                out.append(f"{_rel(p)}:{n}: {line.strip()}")
    return out


def function_lengths():
    """{'path::qualname': lines} of every function in numgrad/ (nested ones included)."""
    out = {}

    def walk(node, path, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                out[f"{path}::{name}"] = child.end_lineno - child.lineno + 1
                walk(child, path, name + ".<locals>.")
            elif isinstance(child, ast.ClassDef):
                walk(child, path, prefix + child.name + ".")
            else:
                walk(child, path, prefix)

    for p in _py_files("numgrad"):
        walk(ast.parse(p.read_text(encoding="utf-8"), str(p)), _rel(p), "")
    return out


def private_imports():
    """'path: from module import _name' of every private name imported from a numgrad module."""
    out = set()
    for p in _py_files("numgrad"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"), str(p))):
            if not isinstance(node, ast.ImportFrom):
                continue
            module = "." * node.level + (node.module or "")
            if node.level == 0 and not module.startswith("numgrad"):
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    out.add(f"{_rel(p)}: from {module} import {alias.name}")
    return out


def check():
    """(problems, notes): lines saying what is wrong, and the known debt."""
    problems, notes = [], []
    reads = env_reads()
    if reads:
        problems.append("NUMGRAD_* variables read outside numgrad/config.py "
                        "(use numgrad.config.get):")
        problems += ["  " + r for r in reads]

    lengths = function_lengths()
    long_ = {k: v for k, v in lengths.items() if v > MAX_LINES}
    new_long = sorted(k for k in long_ if k not in KNOWN_LONG)
    grown = sorted(k for k in long_ if k in KNOWN_LONG and long_[k] > KNOWN_LONG[k])
    if new_long:
        problems.append(f"functions longer than {MAX_LINES} lines (split them):")
        problems += [f"  {k}: {long_[k]} lines" for k in new_long]
    if grown:
        problems.append("known long functions that grew (they may only shrink):")
        problems += [f"  {k}: {long_[k]} lines, ceiling {KNOWN_LONG[k]}" for k in grown]
    notes.append(f"known long functions (debt; ceiling in KNOWN_LONG, limit {MAX_LINES}):")
    for k, ceiling in sorted(KNOWN_LONG.items()):
        now = lengths.get(k)
        state = "gone or renamed: drop it from KNOWN_LONG" if now is None else (
            f"{now} lines" + (f" (ceiling {ceiling}: lower it)" if now < ceiling else ""))
        notes.append(f"  {k}: {state}")

    found = private_imports()
    new_private = sorted(found - KNOWN_PRIVATE_IMPORTS)
    if new_private:
        problems.append("private names imported from another numgrad module "
                        "(make them public or move them):")
        problems += ["  " + k for k in new_private]
    notes.append(f"known private imports (debt, KNOWN_PRIVATE_IMPORTS): "
                 f"{len(found & KNOWN_PRIVATE_IMPORTS)}")
    notes += ["  " + k for k in sorted(found & KNOWN_PRIVATE_IMPORTS)]
    gone = sorted(KNOWN_PRIVATE_IMPORTS - found)
    if gone:
        problems.append("private imports paid off (drop them from KNOWN_PRIVATE_IMPORTS):")
        problems += ["  " + k for k in gone]
    return problems, notes


def main():
    problems, notes = check()
    print("\n".join(notes))
    if problems:
        print("\ncheck_architecture: FAILED", file=sys.stderr)
        print("\n".join(problems), file=sys.stderr)
        return 1
    print("\ncheck_architecture: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
