"""Numba's compiler pipeline for numgrad's functions, less the passes that would do nothing.

Numba runs every function through the same ~25 passes.  Some of them look for constructs that
numgrad's generated sources never have and walk the whole IR to find out: two of them cost
about 7% of a generated kernel's compile (15 distinct step kernels of W1-W5, vecmath wrappers
cached: InlineClosureLikes 0.106 s, NopythonRewrites 0.108 s of 2.85 CPU s).

:class:`Compiler` is Numba's own pipeline with three passes replaced by guarded copies.  Each
guard is a scan of the function's IR that proves the pass would leave it as it is; where the
scan finds anything the pass could act on, Numba's pass runs as before.  So the IR that
reaches typing and lowering is the IR Numba's pipeline makes, for any source (the machine
code of W1-W6's kernels hashes the same: tests/test_kernel_compile_cost.py).

- ``with_lifting``: acts on ``with`` blocks; skipped when the IR has no ``EnterWith``.
- ``inline_closure_likes``: inlines calls of closures, lambdas and comprehensions
  (``make_function``), ``functools.reduce``, stencils, and list-building loops
  (``build_list``); skipped when the IR has none of those.
- ``nopython_rewrites``: the after-typing rewrites Numba registers (array expressions:
  operators and ufunc calls whose result is an array; indexing by a string literal;
  ``np.array`` of a constant list); skipped
  when no such expression or index is typed, and only while those are the registered rewrites
  (an extension that adds one gets the pass as it is).  A kernel's scratch buffers
  (``vm._empty``: an intrinsic's call typed as an array) are no array expression.

:func:`install` hooks Numba's ``compiler.compile_extra`` once a process, as numba_gc.py does:
a compile of numgrad's own function (numba_hooks.numgrads) that asks for Numba's default
pipeline gets :class:`Compiler`; a user's functions and explicit ``pipeline_class`` choices
compile as Numba does them.  NUMGRAD_LEAN_PIPELINE=0 leaves Numba's pipeline in place (A/B).
"""
from . import config, numba_hooks

__all__ = ["install", "Compiler", "ENABLED"]

ENABLED = config.get("NUMGRAD_LEAN_PIPELINE")

# the after-inference rewrites the nopython_rewrites guard knows (module, class name)
_KNOWN_REWRITES = {("numba.core.rewrites.static_getitem", "RewriteStringLiteralGetitems"),
                   ("numba.core.rewrites.static_getitem", "RewriteStringLiteralSetitems"),
                   ("numba.np.ufunc.array_exprs", "RewriteArrayExprs"),
                   ("numba.core.inline_closurecall", "RewriteArrayOfConsts")}

Compiler = None


def _assigns(func_ir):
    from numba.core import ir
    for block in func_ir.blocks.values():
        for stmt in block.body:
            if isinstance(stmt, ir.Assign):
                yield stmt


def has_with(func_ir):
    """Whether the IR has a ``with`` block (what WithLifting lifts)."""
    from numba.core import ir
    return any(isinstance(stmt, ir.EnterWith)
               for block in func_ir.blocks.values() for stmt in block.body)


def has_closure_likes(func_ir):
    """Whether InlineClosureCallPass could act on the IR: a closure, lambda or comprehension
    (``make_function``), a list built in a loop (``build_list``: its array-call inlining),
    a reference to ``functools.reduce`` or a stencil."""
    import functools

    from numba.core import ir
    for stmt in _assigns(func_ir):
        value = stmt.value
        if isinstance(value, ir.Expr) and value.op in ("make_function", "build_list"):
            return True
        if isinstance(value, (ir.Global, ir.FreeVar)):
            v = value.value
            if v is functools.reduce or type(v).__name__ == "StencilFunc":
                return True
    return False


def known_rewrites_only():
    """Whether Numba's after-inference rewrites are exactly the ones the guard knows."""
    from numba.core import rewrites
    registered = rewrites.rewrite_registry.rewrites.get("after-inference", [])
    return {(c.__module__, c.__name__) for c in registered} <= _KNOWN_REWRITES


def has_typed_rewrites(func_ir, typemap):
    """Whether a registered after-inference rewrite could match: an operator typed as an
    array, or a call of a NumPy or Numba ufunc typed as one (array expressions, Numba's
    criteria), a list display (``build_list``: ``np.array`` of a constant list), or a
    value typed as a string literal (indexing by one).  A call of anything else that
    returns an array (a scratch buffer) is no array expression."""
    import numpy as np
    from numba.core import ir, types
    from numba.np.ufunc.dufunc import DUFunc
    if any(isinstance(t, types.StringLiteral) for t in typemap.values()):
        return True
    for stmt in _assigns(func_ir):
        value = stmt.value
        if isinstance(value, ir.Expr) and value.op == "build_list":
            return True
        if not (isinstance(value, ir.Expr)
                and isinstance(typemap.get(stmt.target.name), types.Array)):
            continue
        if value.op in ("unary", "binop", "inplace_binop"):
            return True
        if value.op == "call":
            callee = typemap.get(value.func.name)
            key = getattr(callee, "typing_key", None)
            if not isinstance(callee, types.Function) or isinstance(key, (np.ufunc, DUFunc)):
                return True
    return False


def _define():
    """Build the guarded passes and :class:`Compiler` (imports Numba's compiler)."""
    from numba.core import compiler, typed_passes, untyped_passes
    from numba.core.compiler_machinery import PassManager, register_pass

    @register_pass(mutates_CFG=True, analysis_only=False)
    class GuardedWithLifting(untyped_passes.WithLifting):
        _name = "numgrad_with_lifting"

        def run_pass(self, state):
            return has_with(state.func_ir) and super().run_pass(state)

    @register_pass(mutates_CFG=True, analysis_only=False)
    class GuardedInlineClosureLikes(untyped_passes.InlineClosureLikes):
        _name = "numgrad_inline_closure_likes"

        def run_pass(self, state):
            return has_closure_likes(state.func_ir) and super().run_pass(state)

    @register_pass(mutates_CFG=True, analysis_only=False)
    class GuardedNopythonRewrites(typed_passes.NopythonRewrites):
        _name = "numgrad_nopython_rewrites"

        def run_pass(self, state):
            if known_rewrites_only() and not has_typed_rewrites(state.func_ir,
                                                                state.typemap):
                return False
            return super().run_pass(state)

    swaps = {untyped_passes.WithLifting: GuardedWithLifting,
             untyped_passes.InlineClosureLikes: GuardedInlineClosureLikes,
             typed_passes.NopythonRewrites: GuardedNopythonRewrites}

    class LeanCompiler(compiler.CompilerBase):
        """Numba's nopython pipeline with the guarded passes; anything else (object mode,
        parallel=True) gets Numba's own pipelines."""

        def define_pipelines(self):
            flags = self.state.flags
            if flags.force_pyobject or flags.auto_parallel.enabled:
                return compiler.Compiler.define_pipelines(self)
            numbas = compiler.DefaultPassBuilder.define_nopython_pipeline(self.state)
            pm = PassManager(numbas.pipeline_name)
            for cls, desc in numbas.passes:
                pm.add_pass(swaps.get(cls, cls), desc)
            pm.finalize()
            return [pm]

    return LeanCompiler


@numba_hooks.once
def install():
    """Wrap Numba's ``compiler.compile_extra`` (once a process; cheap afterwards)."""
    global Compiler
    if not ENABLED:
        return
    try:
        from numba.core import compiler
        Compiler = _define()
    except (ImportError, AttributeError):      # another Numba: its own pipeline
        return
    real = getattr(compiler, "compile_extra", None)
    default = getattr(compiler, "Compiler", None)
    if real is None or default is None:
        return

    def compile_extra(typingctx, targetctx, func, *args, **kwargs):
        if (kwargs.get("pipeline_class", default) is default
                and numba_hooks.numgrads(getattr(func, "__module__", None))):
            kwargs["pipeline_class"] = Compiler
        return real(typingctx, targetctx, func, *args, **kwargs)

    compile_extra.__wrapped__ = real
    compiler.compile_extra = compile_extra
