"""Textual inlining of vecmath's scalar kernels into generated loop bodies.

Numba's IR-level `inline="always"` deep-copies and re-types the callee at every call site,
which made a fused W1 kernel take ~6 s to compile.  The emitter instead pastes the callee's
statements straight into the loop body (locals renamed, nested vecmath calls expanded,
module globals read as ``vm.NAME``): Numba then types one flat function, and LLVM still sees
straight-line, branch-free code that it vectorises.
"""
import ast
import builtins
import copy
import inspect
import itertools
import re
import textwrap

from ..kernels import vecmath

_MODULES = {"math", "np"}
_COUNTER = itertools.count()
_PARSED = {}
_TEMPLATES = {}     # (name, number of args) -> (lines, result, copies) with placeholders
# Placeholders in a memoised expansion: copy k of a pasted function, and argument i.
_COPY, _ARG = re.compile(r"QQ(\d+)QQ"), re.compile(r"QA(\d+)QA")


def _function(name):
    fn = _PARSED.get(name)
    if fn is None:
        obj = getattr(vecmath, name)
        py = getattr(obj, "py_func", obj)
        tree = ast.parse(textwrap.dedent(inspect.getsource(py)))
        fn = _PARSED[name] = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    return fn


def _inlinable(name):
    obj = getattr(vecmath, name, None)
    return getattr(obj, "targetoptions", {}) is not None and hasattr(obj, "py_func") and \
        name.startswith("_") and name.endswith(("_f32", "_f64")) or name.startswith("_sincos")


class _Rewriter(ast.NodeTransformer):
    def __init__(self, prefix, local_names, out, counter, copy_label):
        self.prefix = prefix
        self.locals = local_names
        self.out = out          # statements hoisted before the current one
        self.counter = counter
        self.copy_label = copy_label

    def visit_Name(self, node):
        if node.id in self.locals:
            return ast.copy_location(ast.Name(f"{self.prefix}{node.id}", node.ctx), node)
        if node.id in _MODULES or hasattr(builtins, node.id):
            return node
        return ast.copy_location(
            ast.Attribute(ast.Name("vm", ast.Load()), node.id, node.ctx), node)

    def visit_Call(self, node):
        node = self.generic_visit(node)
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "vm" \
                and hasattr(vecmath, f.attr) and _inlinable(f.attr):
            args = [ast.unparse(a) for a in node.args]
            stmts, result = _expand(f.attr, args, self.counter, self.copy_label)
            self.out.extend(stmts)
            return ast.parse(result, mode="eval").body
        return node


def inline_call(name, args, counter=None):
    """Statements (source lines) computing vecmath.`name`(*args), and the result variable.

    `counter` numbers the inlined copies; one kernel passes its own (itertools.count()), so
    the kernel's source, and with it its cache key, does not depend on what was emitted
    before it in the process.  The AST expansion of each function is done once per process
    and memoised with placeholders (it cost ~10 ms per call, 0.15 s of a W1 warm start)."""
    counter = _COUNTER if counter is None else counter
    key = (name, len(args))
    template = _TEMPLATES.get(key)
    if template is None:
        copies = itertools.count()
        lines, result = _expand(name, [f"QA{i}QA" for i in range(len(args))], copies,
                                copy_label=lambda k: f"QQ{k}QQ")
        template = _TEMPLATES[key] = (lines, result, next(copies))
    lines, result, n_copies = template
    base = next(counter)
    for _ in range(n_copies - 1):       # the copies this expansion numbers after the first
        next(counter)

    def fill(text):
        text = _COPY.sub(lambda m: str(base + int(m.group(1))), text)
        return _ARG.sub(lambda m: args[int(m.group(1))], text)
    return [fill(ln) for ln in lines], fill(result)


def _expand(name, args, counter, copy_label=str):
    fn = copy.deepcopy(_function(name))      # the rewriter edits the tree in place
    prefix = f"_{name.strip('_')}{copy_label(next(counter))}_"
    params = [a.arg for a in fn.args.args]
    local_names = set(params)
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            local_names.add(node.id)
    lines = [f"{prefix}{p} = {a}" for p, a in zip(params, args)]
    result = None
    for stmt in fn.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue                                   # docstring
        hoisted = []
        rw = _Rewriter(prefix, local_names, hoisted, counter, copy_label)
        if isinstance(stmt, ast.Return):
            value = rw.visit(stmt.value)
            lines.extend(hoisted)
            result = f"{prefix}ret"
            lines.append(f"{result} = {ast.unparse(value)}")
        else:
            new = rw.visit(stmt)
            lines.extend(hoisted)
            lines.append(ast.unparse(new))
    if result is None:
        raise ValueError(f"vecmath.{name} has no return statement")
    return lines, result
