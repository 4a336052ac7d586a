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
4. Op-keyed tables: a pass module (PASS_DIRS: the compiler, batching, the backends, the kernels,
   the gradient driver and control flow; not numgrad/ops/ and not numgrad/gradients/rules/,
   where op facts are declared) keeps no table keyed by op type and no special case for one:
   no dict, set, frozenset, tuple or list literal (or ``dict(...)``/``set(...)``/
   ``frozenset(...)`` call) with two or more elements or keys that are registered op type
   names, and no comparison (``==``, ``!=``, ``in``, ``not in``) with an op type name as a
   string literal.  Such a fact belongs in the op's declaration (numgrad/ops/registry.py's
   OpDef: its templates, ``vecmath``, traits, fields); a pass asks the OpDef.  A registration
   is not a table: a kernel or rule registering itself for the op types it serves, where it is
   defined (``@register_kernel("TopKV2")``, ``@batching_rule("Sum", "Mean")``, like
   ``@RegisterGradient``), names them as call arguments, which this rule does not count.  This rule alone
   imports numgrad, for the registered op type names (op_type_names()).  Today's are counted
   per file in KNOWN_OP_KEYED as debt: a file's count may shrink (then lower it, or drop the
   entry at zero) but not grow, and no other pass module may start one.

The known debt is printed on every run so that it stays visible.
"""
import ast
import functools
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
_REPO = ROOT            # where numgrad is imported from (tests point ROOT at a fake tree)
MAX_LINES = 150
ENV_SCAN = ("numgrad", "tests", "examples", "benchmarks", "tools")
ENV_EXEMPT = ("numgrad/config.py", "tests/test_config.py")

# "path::qualified name": its length in lines today (a ceiling).
KNOWN_LONG = {}

# "path: from <module> import <name>" as written (relative modules keep their dots).
KNOWN_PRIVATE_IMPORTS = set()

# where passes live (files or folders under numgrad/), and what under them declares op facts
PASS_DIRS = ("numgrad/compiler", "numgrad/batching.py", "numgrad/backends", "numgrad/kernels",
             "numgrad/gradients", "numgrad/control")
PASS_EXEMPT = ("numgrad/gradients/rules",)

# "path": how many op-keyed tables and op-type comparisons it has today (a ceiling).
KNOWN_OP_KEYED = {}

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


@functools.lru_cache(maxsize=None)
def op_type_names():
    """The registered op type names (numgrad's registry after ``import numgrad``, from this
    checkout)."""
    if str(_REPO) not in sys.path:
        sys.path.insert(0, str(_REPO))
    import numgrad  # noqa: F401  (registers every op)
    from numgrad.ops.registry import op_types
    return frozenset(op_types())


def _pass_files():
    for p in _py_files("numgrad"):
        rel = _rel(p)
        if any(rel == d or rel.startswith(d + "/") for d in PASS_DIRS) and \
                not any(rel.startswith(d + "/") for d in PASS_EXEMPT):
            yield p


def _op_names_in(node, names):
    """The op type names among the string constants that make up the literal `node`: a dict's
    keys, a set/tuple/list's elements, or a dict/set/frozenset call's keywords or argument."""
    if isinstance(node, ast.Dict):
        elts = [k for k in node.keys if k is not None]
    elif isinstance(node, (ast.Set, ast.Tuple, ast.List)):
        elts = node.elts
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id in ("dict", "set", "frozenset"):
        found = [k.arg for k in node.keywords if k.arg in names]
        for arg in node.args:
            found += _op_names_in(arg, names)
        return found
    else:
        return []
    return [e.value for e in elts if isinstance(e, ast.Constant) and e.value in names]


def op_keyed(names=None):
    """'path:line: what' of each op-keyed table or op-type comparison in a pass module."""
    names = op_type_names() if names is None else names
    out = []
    for p in _pass_files():
        tree = ast.parse(p.read_text(encoding="utf-8"), str(p))
        seen = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                for side in [node.left] + node.comparators:
                    hit = ([side.value] if isinstance(side, ast.Constant)
                           and side.value in names else _op_names_in(side, names))
                    if hit:
                        out.append(f"{_rel(p)}:{node.lineno}: compares with op type(s) "
                                   f"{', '.join(sorted(set(hit)))}")
                        seen.update(id(n) for n in ast.walk(side))
            elif id(node) not in seen:
                hit = _op_names_in(node, names)
                if len(set(hit)) >= 2:
                    out.append(f"{_rel(p)}:{node.lineno}: table keyed by op types "
                               f"{', '.join(sorted(set(hit))[:4])}"
                               f"{', ...' if len(set(hit)) > 4 else ''}")
                    seen.update(id(n) for n in ast.walk(node))
    return sorted(set(out), key=lambda s: (s.split(":")[0], int(s.split(":")[1])))


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

    keyed = op_keyed()
    per_file = {}
    for k in keyed:
        per_file.setdefault(k.split(":")[0], []).append(k)
    over = sorted(f for f, ks in per_file.items() if len(ks) > KNOWN_OP_KEYED.get(f, 0))
    if over:
        problems.append("op-keyed tables or op-type comparisons in pass modules (declare the "
                        "fact with the op, numgrad/ops/registry.py's OpDef, and ask it):")
        for f in over:
            if f in KNOWN_OP_KEYED:
                problems.append(f"  {f}: {len(per_file[f])}, ceiling {KNOWN_OP_KEYED[f]}:")
            problems += ["  " + k for k in per_file[f]]
    paid = sorted(f for f, n in KNOWN_OP_KEYED.items() if not per_file.get(f))
    if paid:
        problems.append("op-keyed debt paid off (drop them from KNOWN_OP_KEYED):")
        problems += ["  " + f for f in paid]
    notes.append(f"known op-keyed tables and comparisons in pass modules (debt, ceiling in "
                 f"KNOWN_OP_KEYED): {len(keyed)}")
    for f, ceiling in sorted(KNOWN_OP_KEYED.items()):
        now = len(per_file.get(f, ()))
        notes.append(f"  {f}: {now}" + (f" (ceiling {ceiling}: lower it)" if now < ceiling
                                          else ""))
    return problems, notes


def op_keyed_counts():
    """Today's op-keyed tables and comparisons per pass module, as KNOWN_OP_KEYED's text (for
    ``--op-keyed-debt``: paste it after moving files, e.g. after a module is split)."""
    counts = {}
    for k in op_keyed():
        f = k.split(":")[0]
        counts[f] = counts.get(f, 0) + 1
    return "KNOWN_OP_KEYED = {\n" + "".join(f'    "{f}": {n},\n'
                                            for f, n in sorted(counts.items())) + "}"


def main():
    if "--op-keyed-debt" in sys.argv[1:]:
        print(op_keyed_counts())
        return 0
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
