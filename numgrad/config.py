"""Every ``NUMGRAD_*`` environment switch, declared in one place.

Each switch has a name, a type (``bool``, ``int``, ``str`` or ``choice``), a default, a
one-line help text and a *timing*:

* ``import``: read once, when the module that uses it is imported, into a module global
  (``mirror``); changing the environment afterwards does nothing, except through
  :func:`override`, which also sets that global.
* ``use``: read from the environment each time it is needed.

An unset or empty variable means the default.  Booleans accept ``1/0``, ``true/false``,
``yes/no``, ``on/off``; a value that does not parse raises ``ValueError`` naming the variable.

    from numgrad import config
    config.get("NUMGRAD_BACKEND")         # or config.BACKEND, or config.get("BACKEND")
    with config.override(NUMGRAD_FUSED_CALL_AFTER=2):    # tests: set for a block, then restore
        ...
    with config.switches(LANES=False):    # the same, without the prefix
        ...

Only this module reads ``NUMGRAD_*`` variables (tools/check_architecture.py checks it).  The
README's switch table is :func:`markdown_table`'s output (tests/test_config.py checks it).
"""
import contextlib
import importlib
import os
from dataclasses import dataclass

PREFIX = "NUMGRAD_"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Switch:
    name: str
    type: str                   # "bool", "int", "str", "choice" or "auto_count"
    default: object             # the parsed value used when the variable is unset or empty
    help: str
    timing: str = "use"         # "import" (copied into `mirror` at import) or "use"
    mirror: tuple = None        # (module, global) holding an import-time switch's value
    scope: str = "package"      # "package", "tests" or "examples": who reads it
    choices: tuple = ()         # the allowed values of a "choice" switch
    minimum: int = None         # the smallest allowed value of an "int" switch
    strip: bool = False         # a "str" value loses surrounding spaces (paths keep them)

    def parse(self, text):
        """The value of `text` (the variable's string; None or "" means the default)."""
        if text is None or text.strip() == "":
            return self.default
        s = text.strip()
        if self.type == "bool":
            if s.lower() in _TRUE:
                return True
            if s.lower() in _FALSE:
                return False
            raise ValueError(f"{self.name}={text!r}: expected a boolean "
                             f"(1/0, true/false, yes/no, on/off)")
        if self.type == "int":
            try:
                v = int(s)
            except ValueError:
                raise ValueError(f"{self.name}={text!r}: expected an integer") from None
            if self.minimum is not None and v < self.minimum:
                raise ValueError(f"{self.name}={text!r}: expected an integer >= {self.minimum}")
            return v
        if self.type == "auto_count":     # "auto" -> None, else an integer >= 1
            if s.lower() == "auto":
                return None
            try:
                v = int(s)
            except ValueError:
                v = 0
            if v < 1:
                raise ValueError(f"{self.name} must be 'auto' or an integer >= 1, got {text!r}")
            return v
        if self.type == "choice":
            if s not in self.choices:
                raise ValueError(f"{self.name}={text!r}: expected one of "
                                 f"{', '.join(self.choices)}")
            return s
        return s if self.strip else text

    def format(self, value):
        """The environment string that parses to `value`."""
        if self.type == "bool":
            return "1" if value else "0"
        if self.type == "auto_count" and value is None:
            return "auto"
        return str(value)


SWITCHES = {s.name: s for s in [
    Switch("NUMGRAD_BACKEND", "str", "cpu",
           "Backend of every `Session()` that names none: `cpu`, `numpy` or `cuda`.", strip=True),
    Switch("NUMGRAD_CACHE_DIR", "str", None,
           "Directory of the on-disk kernel cache (unset: `$XDG_CACHE_HOME/numgrad` or "
           "`~/.cache/numgrad`)."),
    Switch("NUMGRAD_INTERPRET_CALLS", "int", 100,
           "A small cpu plan's first calls run with the NumPy interpreter before it compiles; "
           "0 compiles on the first call.",
           timing="import", mirror=("numgrad.backends.cpu", "INTERPRET_CALLS"), minimum=0),
    Switch("NUMGRAD_BACKGROUND_COMPILE", "bool", True,
           "Worker processes compile what a cpu plan needs and the on-disk cache lacks (a big "
           "plan's kernels, the plan function of a small plan or a loop body) while its calls "
           "run the NumPy interpreter (only while `NUMGRAD_INTERPRET_CALLS` > 0).",
           timing="import", mirror=("numgrad.backends.cpu", "BACKGROUND_COMPILE")),
    Switch("NUMGRAD_FUSED_CALL_AFTER", "int", 100,
           "After this many calls a small cpu plan is compiled into one Numba plan function.",
           timing="import", mirror=("numgrad.backends.cpu", "FUSED_CALL_AFTER"), minimum=0),
    Switch("NUMGRAD_RUN_GUARDS", "bool", True,
           "`Session.run` recognises the call it ran last (same fetch structure and feed keys) "
           "with a check generated for it, instead of building the call's key every time; off: "
           "the key every time (`python -m numgrad.bench_fetch` compares the two).",
           timing="import", mirror=("numgrad.session", "RUN_GUARDS")),
    Switch("NUMGRAD_FUNCTION_COMPILE_AFTER", "int", 100,
           "On the cpu backend a control-flow function (a while_loop body or cond, a cond "
           "branch) runs with the NumPy interpreter for this many calls, then compiled into one "
           "Numba plan function where it can be.",
           timing="import", mirror=("numgrad.control.func_graph", "COMPILE_AFTER"), minimum=0),
    Switch("NUMGRAD_NATIVE_LOOPS", "bool", True,
           "On the cpu backend a while_loop whose cond and body compile to plan functions runs "
           "as one Numba function (the loop itself native, history buffers preallocated) once "
           "its body has run NUMGRAD_FUNCTION_COMPILE_AFTER iterations; 0 keeps the loop in "
           "Python, one plan call per iteration.",
           timing="import", mirror=("numgrad.control.native_loop", "NATIVE_LOOPS")),
    Switch("NUMGRAD_LOOPS_IN_PLAN", "bool", True,
           "A cpu plan whose steps are fused kernels and native while_loops runs as one Numba "
           "plan function that calls the loops' native functions itself, once they are "
           "compiled (no Python between its steps); 0 calls each loop from Python.  Read when "
           "a plan builds its plan function."),
    Switch("NUMGRAD_NATIVE_NESTED_GRAD", "bool", True,
           "A native loop may hold the gradient of a loop inside it (the inner loop's recording "
           "copy, its history in buffers the outer function keeps, and its backward loop): the "
           "backward loop of a nested loop runs natively; 0 keeps such a loop in Python, one "
           "plan call per iteration (for comparison; read when the native loop is built)."),
    Switch("NUMGRAD_MAP_FN_THREAD_ROWS", "int", 2048,
           "A native map_fn loop runs ranges of its elements at once on numgrad's threads when "
           "each thread gets at least this many elements (results bit-identical to one thread); "
           "0 keeps every map_fn loop on one thread.",
           minimum=0),
    Switch("NUMGRAD_LOOP_GRAD_LEAN", "bool", True,
           "The gradient of a while_loop records only the loop vars its backward iteration "
           "reads (not a map_fn's accumulators) and adds a gathered row's gradient into its row "
           "of the sum; 0 records every loop var and adds dense gradients (for comparison; "
           "read when the gradient is built)."),
    Switch("NUMGRAD_FUSE_GATHERS", "bool", True,
           "Fused loops read an axis-0 gather in place instead of copying its rows out.",
           timing="import", mirror=("numgrad.backends.cpu", "FUSE_GATHERS")),
    Switch("NUMGRAD_FUSE_COMPLEX", "bool", True,
           "Complex elementwise ops join fused cpu loops (off: each runs as a NumPy step).",
           timing="import", mirror=("numgrad.compiler.fuse", "FUSE_COMPLEX")),
    Switch("NUMGRAD_FUSE_CHAINS", "bool", True,
           "A fused loop recomputes a chain of up to 3 cheap elementwise nodes from values "
           "in memory (W6's 1 - h*h from its stored h, -(a * b) where it reads a and b) "
           "instead of reading the chain's result from an earlier loop (off: only single "
           "nodes whose inputs are in memory).",
           timing="import", mirror=("numgrad.compiler.fuse", "CHAINS")),
    Switch("NUMGRAD_ROW_PIPELINES", "bool", True,
           "Chain loop nests that read an earlier nest's row reductions into one row pipeline.",
           timing="import", mirror=("numgrad.compiler.pipeline", "ENABLED")),
    Switch("NUMGRAD_LANES", "bool", True,
           "Run big loops over a tiny last dim (<= 4) as lanes over lane-major copies.",
           timing="import", mirror=("numgrad.compiler.lanes", "ENABLED")),
    Switch("NUMGRAD_LLVM_KERNELS", "bool", True,
           "Compile fused kernels from their source straight to LLVM IR (no Numba front "
           "end; a kernel the translator refuses still compiles with Numba).",
           timing="import", mirror=("numgrad.backends.cpu_llvm", "ENABLED")),
    Switch("NUMGRAD_REGISTER_SUMS", "bool", True,
           "Fused sums accumulate in vector registers (off: per-block buffers).",
           timing="import", mirror=("numgrad.compiler.emit_cpu", "REGISTER_SUMS")),
    Switch("NUMGRAD_ROW_BLOCKS", "bool", True,
           "Run big 2-D elementwise loops over a short inner dim (not a whole number of "
           "vectors) flat over blocks of rows.",
           timing="import", mirror=("numgrad.compiler.emit_cpu", "ROW_BLOCKS")),
    Switch("NUMGRAD_DISABLE_REWRITES", "str", None,
           "Comma-separated names of lowering rewrites to turn off (numgrad/compiler/"
           "rewrites.py, e.g. `mul_one,pow_integer`); an unknown name raises ValueError.",
           strip=True),
    Switch("NUMGRAD_BLAS_THREADS", "auto_count", None,
           "Threads of NumPy's BLAS in numgrad's matmuls: `auto` (one for small products, "
           "measured for large ones) or an integer >= 1.",
           timing="import", mirror=("numgrad.blas_threads", "SETTING")),
    Switch("NUMGRAD_INTEROP", "choice", "auto",
           "Independent steps of a cpu plan run at once on numgrad's threads: `auto` (when a "
           "measured trial shows it pays), `on` (always, with two or more threads) or `off`.",
           timing="import", mirror=("numgrad.backends.cpu_schedule", "MODE"),
           choices=("auto", "on", "off")),
    Switch("NUMGRAD_LEAN_WRAPPERS", "bool", True,
           "numgrad's generated kernels get a lean CPython wrapper (arrays read straight from "
           "the ndarray, no Numba MemInfo per argument: less to compile, numgrad/"
           "numba_wrapper.py); off: Numba's own. Kernels already in the on-disk cache keep "
           "the wrapper they were compiled with.",
           timing="import", mirror=("numgrad.numba_wrapper", "ENABLED")),
    Switch("NUMGRAD_LEAN_PIPELINE", "bool", True,
           "numgrad's functions compile through Numba's pipeline less the passes a scan of "
           "the function shows would change nothing (closure inlining, with-lifting, the "
           "after-typing rewrites: numgrad/numba_pipeline.py), and their operators on plain "
           "numbers are typed once a process (numgrad/numba_typing.py); off: Numba's own "
           "pipeline and typing. The typed IR and the machine code are the same either way.",
           timing="import", mirror=("numgrad.numba_pipeline", "ENABLED")),
    Switch("NUMGRAD_NATIVE_BLAS", "bool", True,
           "Native code calls the BLAS library NumPy bundles (an OpenBLAS with 64-bit "
           "integers, looked up once): plans with matmuls may then run whole in Numba "
           "(`NUMGRAD_NATIVE_PLAN`). Off, or with another BLAS, their matmuls run in NumPy.",
           timing="import", mirror=("numgrad.kernels.cpu.blas_call", "ENABLED")),
    Switch("NUMGRAD_BLOCKED_WGRAD", "bool", True,
           "A cpu plan computes a weight gradient X^T @ dY with few outputs and a long inner "
           "dimension as a sum of gemms over blocks of it (faster with NumPy's OpenBLAS; "
           "step runner and native lanes alike). Off: one gemm, np.matmul's bits.",
           timing="import", mirror=("numgrad.kernels.cpu.blas_call", "BLOCKED")),
    Switch("NUMGRAD_NATIVE_PLAN", "choice", "auto",
           "A cpu plan whose steps are all fused kernels, matmuls, views, concats and splits "
           "runs as native lanes (one nogil Numba function per lane, no Python between "
           "steps): `auto` (when a measured trial shows it pays), `on` (always) or `off`.",
           timing="import", mirror=("numgrad.backends.cpu_native", "MODE"),
           choices=("auto", "on", "off")),
    Switch("NUMGRAD_ROW_LANES", "choice", "auto",
           "A cpu plan whose steps over its many rows are all row-local or sums over the "
           "rows runs as row blocks: the threads take blocks of a few hundred rows in turn, "
           "their intermediates in cache, each block keeping partial sums, added in block "
           "order at the end: `auto` (when a measured trial against the step runner shows "
           "it pays; native lanes are built only where row blocks lose), `on` (always where "
           "it can) or `off`.",
           timing="import", mirror=("numgrad.backends.cpu_rowblock", "MODE"),
           choices=("auto", "on", "off")),
    Switch("NUMGRAD_ROW_COLUMNS", "bool", True,
           "Row-block plans keep each block of a row value column by column (columns x "
           "rows), so that the block's products X @ W run as W^T @ X^T with the rows as "
           "BLAS's vector dimension (faster with NumPy's OpenBLAS); off: row by row.",
           timing="import", mirror=("numgrad.backends.cpu_rowblock", "COLUMNS")),
    Switch("NUMGRAD_MALLOC_TUNING", "bool", True,
           "On glibc, the first cpu plan run step by step raises malloc's mmap and trim "
           "thresholds (32 MiB, 256 MiB), so freed intermediates are reused instead of being "
           "returned to the OS and faulted in again (not in cpu-stable plans, which Dask "
           "workers run: their memory manager watches the resident size).",
           timing="use"),
    Switch("NUMGRAD_DASK_PAUSE_GRACE", "int", 10,
           "Seconds a run on a Dask cluster waits while every worker is paused (memory above "
           "its pause threshold) before it cancels its tasks and raises "
           "`ng.scaleout.ClusterPaused`; 0 waits for ever.", minimum=0),
    Switch("NUMGRAD_SLOW", "bool", False,
           "Run the slow tests (exhaustive vecmath sweeps, long fuzzing, more property-test "
           "examples (tests/budget.py), peer benchmarks, the PINN example on a non-default "
           "backend).",
           scope="tests"),
    Switch("NUMGRAD_FUZZ_EXAMPLES", "int", 0,
           "Graphs tried by tests/test_random_graphs.py (0: 40, or 1000 for the slow run).",
           timing="import", scope="tests", minimum=0),
    Switch("NUMGRAD_FUZZ_LOG", "str", None,
           "File the slow fuzz run appends each graph it tries to.", scope="tests"),
    Switch("NUMGRAD_EXAMPLE_OUT", "str", None,
           "Directory for examples/mlp_classifier.py's plot (unset: the temp directory).",
           scope="examples"),
]}


def _switch(name):
    full = name if name.startswith(PREFIX) else PREFIX + name
    try:
        return SWITCHES[full]
    except KeyError:
        raise KeyError(f"unknown numgrad switch {name!r}; known: "
                       f"{', '.join(SWITCHES)}") from None


def get(name):
    """The switch's value parsed from the environment now (`name` with or without the prefix).

    For an import-time switch this is what the environment says, which is what its module
    global holds unless the environment changed after the import."""
    s = _switch(name)
    return s.parse(os.environ.get(s.name))


def __getattr__(attr):          # config.BACKEND, config.NUMGRAD_BACKEND
    try:
        return get(attr)
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {attr!r}") from None


@contextlib.contextmanager
def override(**values):
    """Set switches for a block, then restore them: ``override(NUMGRAD_LANES=False)``.

    A value is a Python value of the switch's type (or its environment string); None unsets
    the variable.  The environment is set, and the module global of an import-time switch is
    set to the parsed value (importing its module if needed); both are restored on exit."""
    plan = []
    for name, value in values.items():
        s = _switch(name)
        text = None if value is None else (value if isinstance(value, str) else s.format(value))
        plan.append((s, text, s.parse(text)))     # parse first: a bad value changes nothing
    saved_env, saved_globals = [], []
    try:
        for s, text, parsed in plan:
            saved_env.append((s.name, os.environ.get(s.name)))
            if text is None:
                os.environ.pop(s.name, None)
            else:
                os.environ[s.name] = text
            if s.mirror:
                module = importlib.import_module(s.mirror[0])
                saved_globals.append((module, s.mirror[1], getattr(module, s.mirror[1])))
                setattr(module, s.mirror[1], parsed)
        yield
    finally:
        for module, attr, old in reversed(saved_globals):
            setattr(module, attr, old)
        for name, old in reversed(saved_env):
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def switches(**values):
    """:func:`override` with names with or without the prefix: ``switches(LANES=False)``."""
    return override(**values)


def markdown_table():
    """The README's table of switches (between its ``numgrad-switches`` markers)."""
    rows = ["| variable | type | default | read | used by | what it does |",
            "|---|---|---|---|---|---|"]
    for s in SWITCHES.values():
        kind = s.type if s.type != "choice" else "one of " + ", ".join(s.choices)
        default = "unset" if s.default is None and s.type != "auto_count" else \
            f"`{s.format(s.default)}`"
        read = "at import" if s.timing == "import" else "at each use"
        rows.append(f"| `{s.name}` | {kind} | {default} | {read} | {s.scope} | {s.help} |")
    return "\n".join(rows) + "\n"
