"""Differential test of numgrad against TensorFlow's tf.compat.v1 graph mode (issue 22).

NOT PART OF CI: it needs TensorFlow (not a numgrad dependency).  Run it by hand:

    python tools/tf_diff.py --n 2000 --seed 1 --backend numpy
    python tools/tf_diff.py --n 300 --seed 2 --backend cpu
    python tools/tf_diff.py --only 17 --seed 1 --show       # print one program and both answers

It generates random programs written against a module ``m`` -- the same source runs with
``m = tf.compat.v1`` and with ``m = numgrad`` -- of 5-25 ops over the ops both libraries have
(elementwise math, comparisons, where/select, reductions, shape ops, indexing, gather, matmul,
cumsum/cumprod, softmax/log_softmax and the cross-entropies, clip_by_value, add_n, cast,
stop_gradient, the divisions ...), on float32/float64 (some int32/bool) placeholders of small
random shapes, then ``m.gradients(ys, xs, grad_ys=..., stop_gradients=...,
unconnected_gradients=...)`` with random options and sometimes a second derivative.  Each
program runs in both; compared are: error vs no error (at build or at run time, with the error
class), the None-vs-tensor pattern of the gradients, dense vs IndexedSlices, dtypes, static
shapes, run-time shapes and values (rtol 1e-4 float32 / 1e-9 float64, plus an absolute
tolerance of rtol * the largest magnitude in the array; NaN == NaN, inf == inf).  A program
that differs is shrunk (drop ops, drop options, simplify) to a minimal repro that still shows
a difference of the same kind, and printed as plain Python source.

Deterministic: program i of ``--seed s`` depends only on (s, i).

Classifying what it prints (issue 22's runs):
* round-off: float32 values within a few ulps that a discontinuous op (floor, cast to int,
  //, %) amplifies, e.g. floor(tanh(8.0)): TF's float32 tanh(8) is 1.0, NumPy's 0.99999976;
  exact zeros against values ~1e-8 (float32) / ~1e-16 (float64) from cancellation.
* TF bugs (not numgrad's): softmax_cross_entropy_with_logits_v2 with a negative axis other
  than -1 fails to build (the generator uses non-negative axes); fetching sigmoid(x) with
  sigmoid_cross_entropy_with_logits(labels=sigmoid(x), logits=x) fails in grappler; a None y
  raises AttributeError; float64 erf(+-inf) is NaN (float32: +-1); softmax of a row holding
  NaN keeps the finite entries' 0 ([1, nan] -> [0, nan]) while log_softmax gives all NaN;
  grappler gives the gradient of expand_dims(x_scalar, -1) through tile() shape () instead
  of (1,) (right with the meta-optimizer off; --no-grappler); softmax_cross_entropy_with_logits_v2
  (axis=1) of (0, 0) logits fails at run time in its Reshape_2 (numgrad: a (0,) loss).
* both reject, at different times: numgrad checks a grad_ys shape against its (connected) y
  when gradients() is called; TF never checks it, and fails later -- at build, at run time
  (InvalidArgumentError), or not at all when no op consumes it (y is one of the xs).
* m.select is not in TF 2.21's compat.v1, and a Python number as the *first* argument of a
  binary op (m.multiply(0.5, x64)) is a TypeError in TF (the number fixes T to float32);
  the generator avoids both.
"""
import argparse
import contextlib
import io
import os
import random
import sys
import traceback

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("NUMGRAD_INTERPRET_CALLS", "0")

FLOATS = ("float32", "float64")
NO_GRAPPLER = False


# ----------------------------------------------------------------------------- program model --
class Program:
    """Source lines over `m`, the placeholders' feeds, and the names of what to fetch."""

    def __init__(self, lines, feeds, fetch):
        self.lines = list(lines)      # [(name or None, source)]
        self.feeds = dict(feeds)      # placeholder name -> np.ndarray
        self.fetch = list(fetch)      # names of tensors (or lists of gradients) to fetch

    def source(self):
        out = []
        for name, src in self.lines:
            out.append(f"{name} = {src}" if name else src)
        feed = ", ".join(f"{k}: np.array({_lit(v)}, np.{v.dtype.name})"
                         for k, v in self.feeds.items())
        out.append(f"feed = {{{feed}}}")
        out.append(f"fetch = [{', '.join(self.fetch)}]")
        return "\n".join(out)


def _lit(a):
    """Nested-list literal of `a` with each float's shortest round-trip repr in its dtype."""
    if a.ndim == 0:
        return str(a[()]) if a.dtype.kind == "f" else repr(a[()].item())
    return "[" + ", ".join(_lit(x) for x in a) + "]"


class Gen:
    def __init__(self, rng):
        self.r = rng
        self.lines = []
        self.feeds = {}
        self.vars = []        # (name, shape tuple, dtype)
        self.n = 0

    # helpers
    def new(self, src, shape, dtype, prefix="t"):
        name = f"{prefix}{self.n}"
        self.n += 1
        self.lines.append((name, src))
        self.vars.append((name, tuple(shape), dtype))
        return name

    def pick(self, dtypes=FLOATS, pred=None, recent=True):
        c = [v for v in self.vars if v[2] in dtypes and (pred is None or pred(v))]
        if not c:
            return None
        if recent and self.r.random() < 0.6:
            c = c[-3:]
        return self.r.choice(c)

    def const(self, shape, dtype, lo=-2.0, hi=2.0):
        if dtype == "bool":
            v = self.r_np().random(shape) < 0.5
            return f"m.constant({v.tolist()!r})"
        if dtype == "int32":
            v = self.r_np().integers(-4, 5, size=shape)
            return f"m.constant({v.tolist()!r}, m.int32)"
        v = np.round(self.r_np().uniform(lo, hi, size=shape), 2)
        return f"m.constant({v.tolist()!r}, m.{dtype})"

    def r_np(self):
        return np.random.default_rng(self.r.randrange(2 ** 31))

    def bshape(self, shape):
        """A shape that broadcasts against `shape` (to `shape`)."""
        k = self.r.random()
        if k < 0.45:
            return tuple(shape)
        if k < 0.6:
            return ()
        if k < 0.8:
            return tuple(1 if self.r.random() < 0.5 else d for d in shape)
        return tuple(shape[self.r.randrange(len(shape) + 1):])

    # ops --------------------------------------------------------------------------------
    def op_unary(self):
        v = self.pick()
        if v is None:
            return
        a, s, d = v
        f = self.r.choice([
            "m.abs({a})", "m.negative({a})", "m.sin({a})", "m.cos({a})", "m.tanh({a})",
            "m.sigmoid({a})", "m.exp({a})", "m.square({a})", "m.sign({a})", "m.floor({a})",
            "m.erf({a})", "m.expm1({a})", "m.log1p(m.abs({a}))", "m.log(m.abs({a}) + 0.5)",
            "m.sqrt(m.abs({a}))", "m.rsqrt(m.abs({a}) + 0.5)", "m.reciprocal(m.abs({a}) + 0.5)",
            "m.nn.relu({a})", "m.nn.sigmoid({a})", "m.nn.tanh({a})", "m.identity({a})",
            "m.stop_gradient({a})", "-{a}", "abs({a})", "m.tan(m.tanh({a}))",
            "m.scalar_mul(2.5, {a})", "m.clip_by_value({a}, -0.5, 0.7)",
            "m.zeros_like({a})", "m.ones_like({a})"])
        self.new(f.format(a=a), s, d)

    def op_binary(self):
        v = self.pick()
        if v is None:
            return
        a, s, d = v
        bs = self.bshape(s)
        w = self.pick(dtypes=(d,), pred=lambda u: u[1] == bs)
        if w is not None and self.r.random() < 0.7:
            b = w[0]
        elif self.r.random() < 0.15:
            b = repr(round(self.r.uniform(-2, 2), 2))
            bs = ()
        else:
            b = self.const(bs, d)
        if self.r.random() < 0.3 and not b[:1].isdigit() and not b.startswith("-"):
            # (a Python number only second: m.multiply(0.5, x64) is a TypeError in TF -- the
            # number fixes T to float32 first -- while numgrad takes x's dtype; reported)
            a, b, s, bs = b, a, bs, s
        out = np.broadcast_shapes(s, bs)
        f = self.r.choice([
            "m.add({a}, {b})", "m.subtract({a}, {b})", "m.multiply({a}, {b})",
            "m.maximum({a}, {b})", "m.minimum({a}, {b})", "m.squared_difference({a}, {b})",
            "m.pow(m.abs({a}) + 0.5, {b})", "m.truediv({a}, m.abs({b}) + 0.5)",
            "m.div({a}, {b})", "m.divide({a}, {b})", "m.realdiv({a}, {b})",
            "m.floordiv({a}, {b})", "m.mod({a}, {b})", "m.floormod({a}, {b})",
            "m.div_no_nan({a}, {b})", "{a} + {b}", "{a} - {b}", "{a} * {b}", "{a} / {b}",
            "{a} // {b}", "{a} % {b}", "m.add_n([{a}, {a}, {a}])",
            "m.where(m.greater({a}, {b}), {a} * 2.0, m.ones_like({a}))"])
        if "add_n" in f or "where" in f:
            if s != tuple(out):
                f = "m.add({a}, {b})"
        if not (isinstance(b, str) and b[:1].isdigit() or b.startswith("-")):
            pass
        # a Python-number `a` with a method form is fine; with operators both sides need a tensor
        if (a[:1].isdigit() or a.startswith("-")) and f.startswith("{a}"):
            f = "m.add({a}, {b})"
        self.new(f.format(a=a, b=b), out, d)

    def op_int(self):
        v = self.pick()
        if v is None:
            return
        a, s, d = v
        if self.r.random() < 0.5 or not any(u[2] == "int32" for u in self.vars):
            ia = self.new(f"m.cast({a} * 3.0, m.int32)", s, "int32")
        else:
            ia, s, _ = self.pick(dtypes=("int32",))
        bs = self.bshape(s)
        b = self.const(bs, "int32")
        f = self.r.choice(["m.floordiv({a}, {b})", "m.mod({a}, {b})", "m.div({a}, {b})",
                           "m.truediv({a}, {b})", "m.maximum({a}, {b})", "{a} * {b}",
                           "{a} - {b}", "m.floormod({a}, {b})", "m.abs({a})",
                           "m.reduce_sum({a})", "m.square({a})"])
        if "/" in f or "div" in f or "mod" in f:
            b = f"(m.abs({b}) + 1)"
        out = np.broadcast_shapes(s, bs) if "{b}" in f else s
        if "reduce_sum" in f:
            out = ()
        dt = "float64" if "truediv" in f else "int32"
        t = self.new(f.format(a=ia, b=b), out, dt)
        if dt != d:
            self.new(f"m.cast({t}, m.{d})", out, d)

    def op_compare(self):
        v = self.pick()
        if v is None:
            return
        a, s, d = v
        bs = self.bshape(s)
        b = self.const(bs, d)
        out = tuple(np.broadcast_shapes(s, bs))
        f = self.r.choice(["m.greater", "m.less", "m.greater_equal", "m.less_equal",
                           "m.equal", "m.not_equal"])
        c = self.new(f"{f}({a}, {b})", out, "bool")
        k = self.r.random()
        if k < 0.3:
            c2 = self.new(self.r.choice([f"m.logical_not({c})",
                                         f"m.logical_and({c}, m.less({a}, 1.0))",
                                         f"m.logical_or({c}, m.less({a}, -1.0))"]),
                          out, "bool") if out == s else c
            c = c2
        k = self.r.random()
        x = self.pick(dtypes=(d,), pred=lambda u: u[1] == out)
        if k < 0.35 and x is not None:
            y = self.pick(dtypes=(d,), pred=lambda u: u[1] == out) or x
            fn = self.r.choice(["m.where", "m.where_v2"])   # m.select: not in TF 2.21's compat.v1
            self.new(f"{fn}({c}, {x[0]}, {y[0]})", out, d)
        elif k < 0.5:
            ws = self.bshape(out)
            y = self.const(ws, d)
            self.new(f"m.where_v2({c}, {a}, {y})", np.broadcast_shapes(out, ws, s), d)
        else:
            self.new(f"m.cast({c}, m.{d})", out, d)

    def axes(self, s):
        r = len(s)
        k = self.r.random()
        if r == 0 or k < 0.25:
            return None, ()
        if k < 0.6:
            ax = self.r.randrange(-r, r)
            return ax, (ax % r,)
        n = self.r.randrange(1, r + 1)
        ax = sorted(self.r.sample(range(r), n))
        if self.r.random() < 0.3:
            ax = [a - r for a in ax]
        return ax, tuple(a % r for a in ax)

    def op_reduce(self):
        v = self.pick()
        if v is None:
            return
        a, s, d = v
        ax, axs = self.axes(s)
        keep = self.r.random() < 0.4
        if ax is None:
            axs = tuple(range(len(s)))
        out = tuple((1 if i in axs else n) for i, n in enumerate(s) if keep or i not in axs)
        f = self.r.choice(["reduce_sum", "reduce_mean", "reduce_max", "reduce_min",
                           "reduce_prod"])
        kw = f", keepdims={keep}" if keep or self.r.random() < 0.3 else ""
        axa = f", axis={ax!r}" if ax is not None else ""
        self.new(f"m.{f}({a}{axa}{kw})", out, d)

    def op_nn(self):
        v = self.pick(pred=lambda u: len(u[1]) >= 1)
        if v is None:
            return
        a, s, d = v
        r = len(s)
        k = self.r.random()
        if k < 0.35:
            f = self.r.choice(["m.nn.softmax", "m.nn.log_softmax"])
            if self.r.random() < 0.5:
                self.new(f"{f}({a})", s, d)
            else:
                ax = self.r.randrange(-r, r)
                self.new(f"{f}({a}, axis={ax})", s, d)
            return
        b = self.pick(dtypes=(d,), pred=lambda u: u[1] == s and u[0] != a)
        lab = b[0] if b is not None else self.const(s, d)
        if k < 0.6:
            self.new(f"m.nn.sigmoid_cross_entropy_with_logits(labels=m.sigmoid({lab}), "
                     f"logits={a})", s, d)
        else:
            ax = -1
            if self.r.random() < 0.3 and r >= 2:
                # a negative axis other than -1 is a TF bug (the v2 op fails to build: its
                # _move_dim_to_end builds range(axis + 1, rank)), so only non-negative ones
                ax = self.r.randrange(0, r)
            out = tuple(n for i, n in enumerate(s) if i != ax % r)
            axa = f", axis={ax}" if ax != -1 else ""
            if self.r.random() < 0.7:
                self.new(f"m.nn.softmax_cross_entropy_with_logits_v2(labels=m.nn.softmax("
                         f"{lab}, axis={ax}), logits={a}{axa})", out, d)
            else:
                dim = f", dim={ax}" if ax != -1 else ""
                lb = f"m.nn.softmax({lab}, axis={ax})"
                if self.r.random() < 0.5:
                    lb = f"m.stop_gradient({lb})"
                self.new(f"m.nn.softmax_cross_entropy_with_logits(labels={lb}, logits={a}{dim})",
                         out, d)

    def op_shape(self):
        v = self.pick(dtypes=FLOATS + ("int32",) if self.r.random() < 0.1 else FLOATS)
        if v is None:
            return
        a, s, d = v
        r = len(s)
        k = self.r.randrange(13)
        R = self.r
        if k == 0:                                    # reshape
            n = int(np.prod(s))
            shapes = [[n], [-1]] + ([[1, n], [n, 1], [-1, 1]] if n else [])
            shapes += [[f, n // f] for f in range(2, n) if n % f == 0]
            if len(s) >= 2:
                shapes.append([s[0], -1])
            ns = list(R.choice(shapes))
            real = [n // max(1, int(np.prod([x for x in ns if x != -1]))) if x == -1 else x
                    for x in ns]
            self.new(f"m.reshape({a}, {ns!r})", real, d)
        elif k == 1 and r >= 1:                       # transpose
            perm = list(range(r))
            R.shuffle(perm)
            if R.random() < 0.3:
                self.new(f"m.transpose({a})", s[::-1], d)
            else:
                self.new(f"m.transpose({a}, {perm!r})", [s[p] for p in perm], d)
        elif k == 2 and r < 4:                        # expand_dims
            ax = R.randrange(-r - 1, r + 1)
            o = list(s)
            o.insert(ax % (r + 1), 1)
            self.new(f"m.expand_dims({a}, {ax})", o, d)
        elif k == 3 and 1 in s:                       # squeeze
            ones = [i for i, n in enumerate(s) if n == 1]
            if R.random() < 0.4:
                self.new(f"m.squeeze({a})", [n for n in s if n != 1], d)
            else:
                ax = R.choice(ones)
                self.new(f"m.squeeze({a}, [{ax - r if R.random() < 0.3 else ax}])",
                         [n for i, n in enumerate(s) if i != ax], d)
        elif k == 4 and r >= 1:                       # concat
            ax = R.randrange(r)
            o = list(s)
            extra = R.randrange(1, 3)
            o2 = list(s)
            o2[ax] = extra
            b = self.pick(dtypes=(d,), pred=lambda u: list(u[1]) == o2)
            b = b[0] if b is not None and R.random() < 0.5 else self.const(o2, d)
            o[ax] += extra
            axa = ax - r if R.random() < 0.3 else ax
            self.new(f"m.concat([{a}, {b}], {axa})", o, d)
        elif k == 5 and r < 4:                        # stack
            ax = R.randrange(-r - 1, r + 1)
            b = self.pick(dtypes=(d,), pred=lambda u: u[1] == s)
            o = list(s)
            o.insert(ax % (r + 1), 2)
            self.new(f"m.stack([{a}, {b[0]}], axis={ax})", o, d)
        elif k == 6 and r >= 1:                       # tile
            mult = [R.randrange(1, 3) for _ in s]
            self.new(f"m.tile({a}, {mult!r})", [x * y for x, y in zip(s, mult)], d)
        elif k == 7 and r >= 1:                       # slice
            b = [R.randrange(0, n) if n else 0 for n in s]
            z = [R.choice([-1, R.randrange(0, n - bb + 1)]) for n, bb in zip(s, b)]
            self.new(f"m.slice({a}, {b!r}, {z!r})",
                     [n - bb if zz == -1 else zz for n, bb, zz in zip(s, b, z)], d)
        elif k == 8 and r >= 1:                       # python indexing (strided slice)
            parts, o = [], []
            for n in s:
                kk = R.random()
                if kk < 0.25 and n:
                    i = R.randrange(-n, n)
                    parts.append(str(i))
                elif kk < 0.5:
                    parts.append(":")
                    o.append(n)
                else:
                    st = R.choice([1, 2, -1])
                    b0 = R.choice([None, R.randrange(-n - 1, n + 2)])
                    e0 = R.choice([None, R.randrange(-n - 1, n + 2)])
                    parts.append(f"{'' if b0 is None else b0}:{'' if e0 is None else e0}"
                                 f"{'' if st == 1 else ':' + str(st)}")
                    o.append(len(range(n)[slice(b0, e0, st)]))
            if R.random() < 0.2:
                parts.insert(R.randrange(len(parts) + 1), "None")
                o.insert(parts.index("None") - sum(1 for p in parts[:parts.index("None")]
                                                   if ":" not in p and p != "None"), 1)
            self.new(f"{a}[{', '.join(parts)}]", o, d)
        elif k == 9 and r >= 1:                       # gather
            ax = R.randrange(r)
            if s[ax] == 0:
                return
            ni = R.randrange(1, 4)
            idx = [R.randrange(s[ax]) for _ in range(ni)]
            o = list(s[:ax]) + [ni] + list(s[ax + 1:])
            if ax == 0 and R.random() < 0.5:
                self.new(f"m.gather({a}, {idx!r})", o, d)
            else:
                self.new(f"m.gather({a}, {idx!r}, axis={ax})", o, d)
        elif k == 10 and r >= 1:                      # cumsum / cumprod
            ax = R.randrange(-r, r)
            f = R.choice(["m.cumsum", "m.cumprod"])
            ex, rv = R.random() < 0.3, R.random() < 0.3
            self.new(f"{f}({a}, axis={ax}, exclusive={ex}, reverse={rv})", s, d)
        elif k == 11 and r >= 1:                      # reverse
            ax = R.randrange(-r, r)
            self.new(f"m.reverse({a}, [{ax}])", s, d)
        elif k == 12:                                 # cast to the other float
            d2 = "float64" if d == "float32" else "float32"
            if d == "int32":
                d2 = R.choice(FLOATS)
            self.new(f"m.cast({a}, m.{d2})", s, d2)

    def op_matmul(self):
        v = self.pick(pred=lambda u: len(u[1]) in (2, 3))
        if v is None:
            return
        a, s, d = v
        ta, tb = self.r.random() < 0.3, self.r.random() < 0.3
        if len(s) == 2:
            mm, kk = (s[1], s[0]) if ta else s
            n = self.r.randrange(1, 4)
            bs = (n, kk) if tb else (kk, n)
            out = (mm, n)
        else:
            if ta:
                ta = False
            mm, kk = s[1], s[2]
            n = self.r.randrange(1, 4)
            bs = (s[0], n, kk) if tb else (s[0], kk, n)
            out = (s[0], mm, n)
        w = self.pick(dtypes=(d,), pred=lambda u: u[1] == bs)
        b = w[0] if w is not None and self.r.random() < 0.6 else self.const(bs, d)
        flags = (", transpose_a=True" if ta else "") + (", transpose_b=True" if tb else "")
        self.new(f"m.matmul({a}, {b}{flags})", out, d)

    def op_multi(self):
        v = self.pick()
        if v is None:
            return
        a, s, d = v
        c = [u[0] for u in self.vars if u[1] == s and u[2] == d]
        k = self.r.random()
        if k < 0.5:
            xs = [self.r.choice(c) for _ in range(self.r.randrange(1, 4))]
            self.new(f"m.add_n([{', '.join(xs)}])", s, d)
        else:
            self.new(f"m.clip_by_value({a}, {self.r.choice(c)}, {self.r.choice(c)} + 1.0)",
                     s, d)


OPS = [("op_unary", 5), ("op_binary", 6), ("op_int", 1), ("op_compare", 2), ("op_reduce", 2),
       ("op_nn", 2), ("op_shape", 5), ("op_matmul", 1), ("op_multi", 1)]


def generate(seed, index):
    R = random.Random(f"{seed}/{index}")
    g = Gen(R)
    fd = R.choice(FLOATS)
    for i in range(R.randrange(1, 4)):
        r = R.choice([0, 1, 1, 2, 2, 2, 3])
        shape = tuple(R.choice([1, 2, 3, 4]) for _ in range(r))
        dims = [None if R.random() < 0.1 else n for n in shape]
        name = f"x{i}"
        g.lines.append((name, f"m.placeholder(m.{fd}, {dims!r})"))
        g.vars.append((name, shape, fd))
        g.feeds[name] = np.round(g.r_np().normal(0, 1.2, size=shape), 3).astype(fd)
    n_ops = R.randrange(5, 26)
    names, weights = zip(*OPS)
    tries = 0
    while g.n < n_ops and tries < 200:
        tries += 1
        getattr(g, R.choices(names, weights)[0])()
    floats = [v for v in g.vars if v[2] in FLOATS]
    ops = [v for v in floats if v[0].startswith("t")] or floats
    ys = [ops[-1][0]]
    for _ in range(R.randrange(0, 3)):
        ys.append(R.choice(floats)[0])
    ys = list(dict.fromkeys(ys))
    xs = [v[0] for v in floats if v[0].startswith("x")]
    for _ in range(R.randrange(0, 3)):
        xs.append(R.choice(floats)[0])
    xs = list(dict.fromkeys(xs))
    R.shuffle(xs)
    info = {v[0]: v for v in g.vars}
    args = [f"[{', '.join(ys)}]" if len(ys) > 1 or R.random() < 0.5 else ys[0],
            f"[{', '.join(xs)}]"]
    if R.random() < 0.35:
        gys = []
        for y in ys:
            _, s, d = info[y]
            gys.append("None" if R.random() < 0.2 else g.const(s, d, 0.5, 1.5))
        args.append(f"grad_ys=[{', '.join(gys)}]")
    if R.random() < 0.3:
        sg = R.sample([v[0] for v in floats], min(len(floats), R.randrange(1, 3)))
        args.append(f"stop_gradients=[{', '.join(sg)}]")
    if R.random() < 0.4:
        args.append("unconnected_gradients=" + R.choice(
            ["'zero'", "'none'", "m.UnconnectedGradients.ZERO", "m.UnconnectedGradients.NONE"]))
    g.lines.append(("g", f"m.gradients({', '.join(args)})"))
    fetch = ["g"] + [v[0] for v in g.vars if v[0].startswith("t")]
    if R.random() < 0.3:
        xs2 = [x for x in xs if x.startswith("x")][:2]
        g.lines.append(("g2", "m.gradients([m.reduce_sum(q * q) for q in g if q is not None "
                        f"and not isinstance(q, m.IndexedSlices)], [{', '.join(xs2)}])"))
        fetch.insert(1, "g2")
    return Program(g.lines, g.feeds, fetch)


# ------------------------------------------------------------------------------- execution --
def _tf():
    import tensorflow as tf
    tf.compat.v1.disable_eager_execution()
    return tf.compat.v1


def _describe(x):
    """(kind, dtype, value) of one fetched value."""
    if x is None:
        return ("None", None, None)
    if hasattr(x, "indices") and hasattr(x, "values"):
        vals = np.asarray(x.values)
        shape = tuple(int(n) for n in np.asarray(x.dense_shape))
        dense = np.zeros(shape, vals.dtype)
        np.add.at(dense, np.asarray(x.indices), vals)
        return ("IndexedSlices", vals.dtype.name, dense)
    a = np.asarray(x)
    return ("Tensor", a.dtype.name, a)


def _static(t):
    if t is None:
        return None
    if hasattr(t, "indices") and hasattr(t, "values"):
        t = t.values
    try:
        return tuple(t.shape.as_list()) if t.shape.rank is not None else "?"
    except Exception:
        return "?"


def execute(prog, lib, backend="numpy"):
    """Runs `prog` with m = tf.compat.v1 ('tf') or numgrad ('ng'); returns a result dict."""
    if lib == "tf":
        m = _tf()
        import tensorflow as tf
        graph = tf.Graph()
    else:
        import numgrad as m
        graph = m.Graph()
    ns = {"m": m, "np": np}
    with graph.as_default():
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                for name, src in prog.lines:
                    if name:
                        ns[name] = eval(src, ns)
                    else:
                        exec(src, ns)
        except Exception as e:                                  # noqa: BLE001
            return {"error": ("build", type(e).__name__, str(e).splitlines()[0][:200] if str(e)
                              else "")}
        flat, where = [], []
        static = {}
        for f in prog.fetch:
            v = ns[f]
            items = list(v) if isinstance(v, (list, tuple)) else [v]
            for i, t in enumerate(items):
                key = f"{f}[{i}]" if isinstance(v, (list, tuple)) else f
                static[key] = (_static(t), None if t is None else t.dtype.name)
                where.append((key, t is None))
                if t is not None:
                    flat.append(t)
        feeds = {ns[k]: v for k, v in prog.feeds.items()}
        try:
            if lib == "tf":
                cfg = None
                if NO_GRAPPLER:         # --no-grappler: tells TF's optimiser's bugs apart
                    cfg = m.ConfigProto()
                    cfg.graph_options.rewrite_options.disable_meta_optimizer = True
                with m.Session(graph=graph, config=cfg) as s:
                    vals = s.run(flat, feeds)
            else:
                with m.Session(graph=graph, backend=backend) as s:
                    vals = s.run(flat, feeds)
        except Exception as e:                                  # noqa: BLE001
            return {"error": ("run", type(e).__name__, str(e).splitlines()[0][:200] if str(e)
                              else "")}
    out, it = {}, iter(vals)
    for key, none in where:
        out[key] = _describe(None if none else next(it))
    return {"values": out, "static": static}


def _close(a, b, dtype):
    rtol = 1e-4 if dtype in ("float32", "float16") else 1e-9
    if a.shape != b.shape:
        return False
    if a.dtype.kind not in "fc":
        return np.array_equal(a, b)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    fin = np.isfinite(a64)
    if not np.array_equal(np.isnan(a64), np.isnan(b64)):
        return False
    inf = np.isinf(a64) | np.isinf(b64)
    if not np.array_equal(a64[inf], b64[inf]):
        return False
    ok = fin & np.isfinite(b64)
    if not ok.any():
        return True
    scale = np.max(np.abs(a64[ok])) if ok.any() else 0.0
    # absolute floor: 100 ulps of 1 (a difference of cancellation round-off near zero)
    floor = 100 * np.finfo(np.float32 if rtol > 1e-6 else np.float64).eps
    return np.allclose(a64[ok], b64[ok], rtol=rtol, atol=max(rtol * scale, floor))


def compare(rt, rn, low="float64"):
    """A list of (kind, detail) differences, kind in error / pattern / sparse / dtype / shape /
    static / value."""
    if "error" in rt or "error" in rn:
        if "error" in rt and "error" in rn:
            if rt["error"][1] != rn["error"][1] and not (
                    {rt["error"][1], rn["error"][1]} <= {"ValueError", "InvalidArgumentError",
                                                         "TypeError"} and False):
                return [("error-type", f"tf {rt['error']} | ng {rn['error']}")]
            return []
        return [("error", f"tf {rt.get('error')} | ng {rn.get('error')}")]
    diffs = []
    for key, (kt, dt, vt) in rt["values"].items():
        kn, dn, vn = rn["values"][key]
        if (kt == "None") != (kn == "None"):
            diffs.append(("pattern", f"{key}: tf {kt} ng {kn}"))
            continue
        if kt == "None":
            continue
        if kt != kn:
            diffs.append(("sparse", f"{key}: tf {kt} ng {kn}"))
        if dt != dn:
            diffs.append(("dtype", f"{key}: tf {dt} ng {dn}"))
            continue
        if vt.shape != vn.shape:
            diffs.append(("shape", f"{key}: tf {vt.shape} ng {vn.shape}"))
            continue
        if not _close(vt, vn, low if dt == "float64" else dt):
            with np.errstate(all="ignore"):
                err = np.nanmax(np.abs(vt.astype(float) - vn.astype(float))) if vt.size else 0
            diffs.append(("value", f"{key}: max abs diff {err:.3g}; tf {_short(vt)} "
                                   f"ng {_short(vn)}"))
    for key, (st, _) in rt["static"].items():
        sn = rn["static"][key][0]
        if st is not None and sn is not None and st != "?" and sn != "?" and st != sn:
            if not all(a is None or b is None or a == b for a, b in zip(st, sn)) \
                    or len(st) != len(sn):
                diffs.append(("static-shape", f"{key}: tf {st} ng {sn}"))
    return diffs


def _short(a):
    s = np.array2string(np.asarray(a), precision=6, threshold=12)
    return s.replace("\n", "")


def run_one(prog, backend):
    rt = execute(prog, "tf")
    rn = execute(prog, "ng", backend)
    # a float64 value computed from float32 ones is only as exact as float32
    low = "float32" if "float32" in "".join(s for _, s in prog.lines) else "float64"
    return rt, rn, compare(rt, rn, low)


# ------------------------------------------------------------------------------- shrinking --
def _uses(src, name):
    import re
    return re.search(rf"\b{name}\b", src) is not None


def _variants(prog):
    """Smaller programs: drop a fetch, drop an op line (rewiring users to a same-shaped earlier
    tensor is left to the next step), drop gradient options, drop ys / xs entries."""
    import re
    lines = prog.lines
    # fewer fetches
    for i in range(len(prog.fetch)):
        if len(prog.fetch) > 1:
            yield Program(lines, prog.feeds, prog.fetch[:i] + prog.fetch[i + 1:])
    # drop lines nobody uses (and unfetched)
    for i, (name, src) in enumerate(lines):
        if name and name not in ("g",) and not any(_uses(s, name) for _, s in lines[i + 1:]) \
                and name not in prog.fetch:
            feeds = {k: v for k, v in prog.feeds.items() if k != name}
            yield Program(lines[:i] + lines[i + 1:], feeds, prog.fetch)
    # replace a tensor by one of the names its line uses (bypass the op)
    for i, (name, src) in enumerate(lines):
        if not name or not name.startswith("t"):
            continue
        for cand in dict.fromkeys(re.findall(r"\b([tx]\d+)\b", src)):
            new = [(n, re.sub(rf"\b{name}\b", cand, s)) for n, s in lines[i + 1:]]
            yield Program(lines[:i] + new, prog.feeds,
                          [cand if f == name else f for f in prog.fetch])
    # simplify the gradients call
    for i, (name, src) in enumerate(lines):
        if name not in ("g", "g2"):
            continue
        for pat in [r", grad_ys=\[[^\]]*\]", r", stop_gradients=\[[^\]]*\]",
                    r", unconnected_gradients=[^,)]*"]:
            s2 = re.sub(pat, "", src)
            if s2 != src:
                yield Program(lines[:i] + [(name, s2)] + lines[i + 1:], prog.feeds, prog.fetch)
        m_ = re.match(r"m\.gradients\((\[[^\]]*\]|[tx]\d+), (\[[^\]]*\])(.*)$", src)
        if m_ and name == "g":
            ys, xs, rest = m_.groups()
            ysl = ys.strip("[]").split(", ")
            xsl = xs.strip("[]").split(", ")
            for j in range(len(xsl)):
                if len(xsl) > 1:
                    x2 = "[" + ", ".join(xsl[:j] + xsl[j + 1:]) + "]"
                    yield Program(lines[:i] + [(name, f"m.gradients({ys}, {x2}{rest})")]
                                  + lines[i + 1:], prog.feeds, prog.fetch)
            if "grad_ys" not in rest:
                for j in range(len(ysl)):
                    if len(ysl) > 1:
                        y2 = "[" + ", ".join(ysl[:j] + ysl[j + 1:]) + "]"
                        yield Program(lines[:i] + [(name, f"m.gradients({y2}, {xs}{rest})")]
                                      + lines[i + 1:], prog.feeds, prog.fetch)


def shrink(prog, kinds, backend, budget=300):
    """Greedy: keep any smaller variant that still shows a difference of one of `kinds`."""
    steps = 0
    changed = True
    while changed and steps < budget:
        changed = False
        for cand in _variants(prog):
            steps += 1
            if steps > budget:
                break
            try:
                for _, src in cand.lines:
                    compile(src, "<line>", "eval")
                _, _, d = run_one(cand, backend)
            except Exception:                                     # noqa: BLE001
                continue
            if d and {k for k, _ in d} & kinds:
                prog = cand
                changed = True
                break
    return prog


# ------------------------------------------------------------------------------------- main --
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--backend", default="numpy")
    p.add_argument("--only", type=int, default=None, help="run program INDEX only")
    p.add_argument("--show", action="store_true", help="print every program run")
    p.add_argument("--no-shrink", action="store_true")
    p.add_argument("--log", default=None, help="append failing repros here")
    p.add_argument("--no-grappler", action="store_true",
                   help="run TF with its graph optimiser (grappler) off")
    a = p.parse_args(argv)
    global NO_GRAPPLER
    NO_GRAPPLER = a.no_grappler
    _tf()
    idx = [a.only] if a.only is not None else range(a.start, a.start + a.n)
    counts, failing = {}, 0
    log = open(a.log, "a") if a.log else None
    for i in idx:
        if i % 100 == 0:
            print(f"# at program {i}: {failing} with differences so far", flush=True)
        prog = generate(a.seed, i)
        try:
            rt, rn, diffs = run_one(prog, a.backend)
        except Exception:                                         # noqa: BLE001
            diffs = [("harness", traceback.format_exc().splitlines()[-1])]
            rt = rn = None
        if a.show:
            print(f"# --- program {i}\n{prog.source()}\n# tf: {rt}\n# ng: {rn}\n")
        if not diffs:
            continue
        failing += 1
        kinds = {k for k, _ in diffs}
        for k in kinds:
            counts[k] = counts.get(k, 0) + 1
        small = prog if a.no_shrink or "harness" in kinds else shrink(prog, kinds, a.backend)
        _, _, d2 = run_one(small, a.backend) if small is not prog else (None, None, diffs)
        text = (f"# === seed {a.seed} program {i} ({a.backend}): {sorted(kinds)}\n"
                f"{small.source()}\n" + "".join(f"#   {k}: {t}\n" for k, t in d2) + "\n")
        print(text, flush=True)
        if log:
            log.write(text)
            log.flush()
    total = len(idx)
    print(f"# {total} programs, {failing} with differences: {counts}")
    return 0 if not failing else 1


if __name__ == "__main__":
    sys.exit(main())
