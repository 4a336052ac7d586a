"""numgrad.llvm_jit: LLVM IR text to callable machine code, with an on-disk object cache.

Each test builds its own small module (llvmlite.ir) with function names of its own: the
process-wide engine may not see two strong definitions of one name, and a fresh name is a
fresh cache key.  The on-disk tests point NUMGRAD_CACHE_DIR at tmp_path."""
import ctypes
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from llvmlite import ir

from numgrad import llvm_jit

pytestmark = pytest.mark.backend_independent

F64, I64 = ir.DoubleType(), ir.IntType(64)
I8P = ir.IntType(8).as_pointer()
SIG = (ctypes.c_double, [ctypes.c_void_p, ctypes.c_int64, ctypes.c_double])


def _loop(builder, n, body):
    """for i in range(n): body(builder, i), as a counted loop."""
    fn = builder.function
    head, step, done = fn.append_basic_block(), fn.append_basic_block(), fn.append_basic_block()
    start = builder.block
    builder.branch(head)
    builder.position_at_end(head)
    i = builder.phi(I64)
    i.add_incoming(I64(0), start)
    builder.cbranch(builder.icmp_signed("<", i, n), step, done)
    builder.position_at_end(step)
    body(builder, i)
    i.add_incoming(builder.add(i, I64(1)), builder.block)
    builder.branch(head)
    builder.position_at_end(done)


def kernel_ir(name, helper_linkage="internal", scale=1.0):
    """double name(double* x, i64 n, double a): scratch = malloc(8 n); scratch[i] =
    fma(x[i], a, exp(helper(x[i]))); the sum of scratch in order; free(scratch).
    helper(v) = v * scale has `helper_linkage` and the same name in every module."""
    m = ir.Module(name=name)
    fma = m.declare_intrinsic("llvm.fma", [F64], ir.FunctionType(F64, [F64] * 3))
    exp = m.declare_intrinsic("llvm.exp", [F64])
    malloc = ir.Function(m, ir.FunctionType(I8P, [I64]), "malloc")
    free = ir.Function(m, ir.FunctionType(ir.VoidType(), [I8P]), "free")
    helper = ir.Function(m, ir.FunctionType(F64, [F64]), "helper")
    helper.linkage = helper_linkage
    b = ir.IRBuilder(helper.append_basic_block())
    b.ret(b.fmul(helper.args[0], F64(scale)))

    fn = ir.Function(m, ir.FunctionType(F64, [F64.as_pointer(), I64, F64]), name)
    x, n, a = fn.args
    b = ir.IRBuilder(fn.append_basic_block())
    scratch = b.bitcast(b.call(malloc, [b.mul(n, I64(8))]), F64.as_pointer())

    def fill(b, i):
        v = b.load(b.gep(x, [i]))
        b.store(b.call(fma, [v, a, b.call(exp, [b.call(helper, [v])])]), b.gep(scratch, [i]))
    _loop(b, n, fill)
    acc = b.alloca(F64)
    b.store(F64(0.0), acc)
    _loop(b, n, lambda b, i: b.store(b.fadd(b.load(acc), b.load(b.gep(scratch, [i]))), acc))
    b.call(free, [b.bitcast(scratch, I8P)])
    b.ret(b.load(acc))
    return str(m)


def expected(x, a, scale=1.0):
    return float(np.sum(x * a + np.exp(x * scale)))


def call(ir_text, name, x, a):
    f = llvm_jit.cfunc(llvm_jit.function_addresses(ir_text, [name])[name], *SIG)
    return f(x.ctypes.data, x.size, a)


def unique(prefix="kernel"):
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def cache_dir(tmp_path, switches):
    switches(NUMGRAD_CACHE_DIR=str(tmp_path))
    return tmp_path


def test_compiles_and_matches_numpy(cache_dir):
    name = unique()
    text = kernel_ir(name)
    x = np.linspace(-2, 2, 1001)
    assert call(text, name, x, 0.75) == pytest.approx(expected(x, 0.75), rel=1e-13)
    assert call(text, name, x[:0], 0.75) == 0.0
    entry = (cache_dir / "llvm" / (llvm_jit.key(text) + ".ngo")).read_bytes()
    undefined, strong, _weak, _local = llvm_jit.elf_symbols(entry[len(llvm_jit._MAGIC) + 64:])
    assert {"malloc", "free", "exp"} <= undefined         # libc and libm from the process
    assert strong == {name}                                 # the helper is internal


def test_same_code_as_numba(cache_dir):
    """The optimised IR is what Numba's JIT code library makes of the same IR text, and the
    target machines make the same assembly of it.  (White-box: Numba's library is stopped
    after its module passes, before MCJIT's code generation rewrites the module in place.)"""
    import llvmlite.binding as ll
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.registry import cpu_target

    name = unique()
    text = kernel_ir(name, helper_linkage="linkonce_odr")
    codegen = cpu_target.target_context.codegen()
    library = codegen.create_library(name)
    module = ll.parse_assembly(text)
    module.triple = ll.get_process_triple()
    library.add_llvm_module(module)
    with global_compiler_lock:
        library._optimize_final_module()
    numbas = str(library._final_module)

    def body(ir_text):
        return [line for line in ir_text.splitlines() if not line.startswith("; ModuleID")]

    ours = llvm_jit.optimized_ir(text)
    assert body(ours) == body(numbas)
    asm = [llvm_jit._target().tm.emit_assembly(ll.parse_assembly(ours)),
           codegen._tm.emit_assembly(ll.parse_assembly(numbas))]
    assert asm[0] == asm[1]


HIT = textwrap.dedent("""
    import sys
    import numpy as np
    from numgrad import llvm_jit

    def no_optimizer(*args):
        raise AssertionError("the optimiser ran on a cache hit")

    assert llvm_jit._TARGET is None         # importing built no target machine
    llvm_jit.optimize_and_emit = no_optimizer
    name, x = sys.argv[2], np.linspace(-2, 2, 1001)
    address = llvm_jit.function_addresses(open(sys.argv[1]).read(), [name])[name]
    f = llvm_jit.cfunc(address, llvm_jit.ctypes.c_double,
                       [llvm_jit.ctypes.c_void_p, llvm_jit.ctypes.c_int64,
                        llvm_jit.ctypes.c_double])
    print(repr(f(x.ctypes.data, x.size, 0.75)))
    counts = llvm_jit.cpu_seconds_breakdown()
    print(counts["disk_hits"], counts["compiles"])
""")


def test_second_process_loads_without_optimizing(cache_dir):
    name = unique()
    text = kernel_ir(name)
    x = np.linspace(-2, 2, 1001)
    here = call(text, name, x, 0.75)
    (cache_dir / "k.ll").write_text(text)
    out = subprocess.run([sys.executable, "-c", HIT, str(cache_dir / "k.ll"), name],
                         env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result, counts = out.stdout.split("\n")[:2]
    assert float(result) == here                            # the same machine code
    assert counts == "1 0"


def test_memory_hit_does_not_optimize(cache_dir, monkeypatch):
    name = unique()
    text = kernel_ir(name)
    first = llvm_jit.function_addresses(text, [name])

    def no_optimizer(*args):
        raise AssertionError("optimised twice")
    monkeypatch.setattr(llvm_jit, "optimize_and_emit", no_optimizer)
    assert llvm_jit.function_addresses(text, [name]) == first
    with pytest.raises(KeyError):
        llvm_jit.function_addresses(text, ["helper"])     # internal: no external address


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_entry_is_recompiled(cache_dir, damage):
    name = unique()
    text = kernel_ir(name)
    k = llvm_jit.key(text)
    path = cache_dir / "llvm" / (k + ".ngo")
    llvm_jit._write(k, llvm_jit.optimize_and_emit(text))   # a good entry, not loaded yet
    good = path.read_bytes()
    path.write_bytes(good[:len(good) // 2] if damage == "truncated" else b"\x7fELF" + good[:40])
    compiles = llvm_jit.cpu_seconds_breakdown()["compiles"]
    x = np.linspace(-1, 1, 33)
    with pytest.warns(RuntimeWarning, match="corrupt"):
        assert call(text, name, x, 2.0) == pytest.approx(expected(x, 2.0), rel=1e-13)
    assert llvm_jit.cpu_seconds_breakdown()["compiles"] == compiles + 1
    assert path.read_bytes() == good                        # rewritten
    assert not [p for p in os.listdir(path.parent) if p.startswith(".tmp-")]


def test_unwritable_directory_warns_once_and_works(tmp_path, switches):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    switches(NUMGRAD_CACHE_DIR=str(blocker / "cache"))      # below a file: never creatable
    x = np.linspace(-1, 1, 17)
    names = [unique(), unique()]
    with pytest.warns(RuntimeWarning, match="unusable") as record:
        for name in names:
            assert call(kernel_ir(name), name, x, 3.0) == pytest.approx(expected(x, 3.0),
                                                                       rel=1e-13)
    assert len([w for w in record if "unusable" in str(w.message)]) == 1


def scalar_ir(name, helper, linkage="internal", scale=1.0, define=True):
    """double name(double v) = helper(v), helper(v) = v * scale (noinline, `linkage`; only
    declared if not `define`)."""
    m = ir.Module()
    h = ir.Function(m, ir.FunctionType(F64, [F64]), helper)
    if define:
        h.linkage = linkage
        h.attributes.add("noinline")
        b = ir.IRBuilder(h.append_basic_block())
        b.ret(b.fmul(h.args[0], F64(scale)))
    fn = ir.Function(m, ir.FunctionType(F64, [F64]), name)
    b = ir.IRBuilder(fn.append_basic_block())
    b.ret(b.call(h, [fn.args[0]]))
    return str(m)


def scalar_call(text, name, v):
    address = llvm_jit.function_addresses(text, [name])[name]
    return llvm_jit.cfunc(address, ctypes.c_double, [ctypes.c_double])(v)


def test_two_modules_side_by_side(cache_dir):
    """Modules with their own kernel and a helper of the same name work side by side; names
    the engine would link to another module's symbols are refused before LLVM sees them."""
    x = np.linspace(-1, 1, 65)
    one, two = unique(), unique()
    assert call(kernel_ir(one), one, x, 1.5) == pytest.approx(expected(x, 1.5), rel=1e-13)
    assert call(kernel_ir(two, scale=0.5), two, x, 1.5) == \
        pytest.approx(expected(x, 1.5, 0.5), rel=1e-13)
    with pytest.raises(ValueError, match="already defines"):         # `one` again
        llvm_jit.function_addresses(kernel_ir(one, scale=2.0), [one])

    helper, f = unique("helper"), [unique() for _ in range(5)]
    assert scalar_call(scalar_ir(f[0], helper, scale=3.0), f[0], 2.0) == 6.0
    assert scalar_call(scalar_ir(f[1], helper, scale=5.0), f[1], 2.0) == 10.0
    assert scalar_call(scalar_ir(f[0], helper, scale=3.0), f[0], 1.0) == 3.0
    for name, text in ((f[2], scalar_ir(f[2], helper, "linkonce_odr", 7.0)),  # f[1]'s
                       (f[3], scalar_ir(f[3], helper, define=False))):
        with pytest.raises(ValueError, match=helper):
            llvm_jit.function_addresses(text, [name])
    odr = unique("helper")                  # linkonce_odr twice, the same function: shared
    assert scalar_call(scalar_ir(f[2], odr, "linkonce_odr", 7.0), f[2], 1.0) == 7.0
    assert scalar_call(scalar_ir(f[3], odr, "linkonce_odr", 7.0), f[3], 2.0) == 14.0
    assert scalar_call(scalar_ir(f[4], odr, define=False), f[4], 3.0) == 21.0   # linked


def test_threads_compile_once_and_call_at_once(cache_dir):
    name = unique()
    text = kernel_ir(name)
    compiles = llvm_jit.cpu_seconds_breakdown()["compiles"]
    barrier = threading.Barrier(4)

    def address(_):
        barrier.wait()
        return llvm_jit.function_addresses(text, [name])[name]
    with ThreadPoolExecutor(4) as pool:
        addresses = set(pool.map(address, range(4)))
    assert len(addresses) == 1
    assert llvm_jit.cpu_seconds_breakdown()["compiles"] == compiles + 1
    f = llvm_jit.cfunc(addresses.pop(), *SIG)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(20_000) for _ in range(8)]
    want = [f(x.ctypes.data, x.size, 0.5) for x in inputs]  # one thread: the reference
    assert want[0] == pytest.approx(expected(inputs[0], 0.5), rel=1e-12)

    def run(i):
        return [f(inputs[i].ctypes.data, inputs[i].size, 0.5) for _ in range(20)]
    with ThreadPoolExecutor(4) as pool:
        for i, results in enumerate(pool.map(run, range(8))):
            assert results == [want[i]] * 20


def test_missing_symbol_is_an_error_not_an_abort(cache_dir):
    m = ir.Module()
    ext = ir.Function(m, ir.FunctionType(F64, [F64]), unique("numgrad_no_such_symbol"))
    fn = ir.Function(m, ir.FunctionType(F64, [F64]), unique())
    b = ir.IRBuilder(fn.append_basic_block())
    b.ret(b.call(ext, [fn.args[0]]))
    with pytest.raises(RuntimeError, match="numgrad_no_such_symbol"):
        llvm_jit.function_addresses(str(m), [fn.name])





@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_forked_child_compiles_and_links(cache_dir):
    """The locks are held across fork (never inherited held): a child compiles a module of
    its own and calls the parent's."""
    parent = unique()
    x = np.linspace(-1, 1, 9)
    want = call(kernel_ir(parent), parent, x, 2.0)
    pid = os.fork()
    if pid == 0:                                            # the child: no pytest from here
        ok = False
        try:
            child = unique()
            ok = (call(kernel_ir(child), child, x, 2.0) == want
                  and call(kernel_ir(parent), parent, x, 2.0) == want)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("text", ["define double @f() {\n  ret i32 0\n}\n",         # parse
                                  "define void @bad_self_ref() {\nentry:\n"           # verify
                                  "  %x = add i32 %x, 1\n  ret void\n}\n"])
def test_invalid_ir_raises_and_leaves_the_process_sound(cache_dir, text):
    import gc
    with pytest.raises(RuntimeError):
        llvm_jit.function_addresses(text, ["f"])
    gc.collect()                        # no module outlives its context
    name = unique()
    x = np.linspace(-1, 1, 5)
    assert call(kernel_ir(name), name, x, 1.0) == pytest.approx(expected(x, 1.0), rel=1e-13)
