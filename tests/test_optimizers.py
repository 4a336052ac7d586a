"""ng.train optimizers against independent NumPy implementations of TF1's update formulas
(tensorflow/core/kernels/training_ops.cc, tensorflow/python/training/*.py), dense and sparse,
float32 and float64; slots, names, global step, errors; clip ops."""
import numpy as np
import pytest

import numgrad as ng

from budget import cover
from gradient_batch import GradientBatch, assert_jacobians

F32, F64 = np.float32, np.float64
STEPS = 6
W0 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75], [-2.0, 1.0, 0.1], [0.3, -0.6, 1.2]])
TARGET = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5], [0.0, -1.0, 2.0], [1.0, 1.0, -1.0]])
COEF = np.array([[1.0, 2.0, 0.5], [1.5, 1.0, 3.0], [0.7, 1.2, 2.0], [1.0, 0.3, 0.9]])
IDS = np.array([1, 3, 1, 0], np.int32)          # row 2 absent, row 1 repeated


def hp(x, dt):
    """A Python-float hyperparameter as TF1 sees it: a float32 tensor cast to var's dtype."""
    return dt(F32(x))


# --- NumPy references: each `rowwise` formula acts on arrays of rows (all rows: the dense
# kernel; one row at a time: the SparseApply kernel after deduplication) ---------------------
class Ref:
    allrows_sparse = False       # TF1's sparse path touches every row (Adam, GD)

    def __init__(self, w, dt):
        self.dt = dt
        self.s = {"var": w.astype(dt)}
        self.init_slots()

    def init_slots(self):
        pass

    def step(self, g, rows=None):
        if rows is None or self.allrows_sparse:
            self.apply(self.s, g, slice(None), rows)
        else:
            for r in rows:
                self.apply(self.s, g[r], r, rows)
        self.finish()

    def apply(self, s, g, r, rows):
        new = self.rowwise({k: v[r] for k, v in s.items()}, g)
        for k, v in new.items():
            s[k][r] = v

    def finish(self):
        pass


class GDRef(Ref):
    def __init__(self, w, dt, lr):
        self.lr = hp(lr, dt)
        super().__init__(w, dt)

    def rowwise(self, s, g):
        return {"var": s["var"] - g * self.lr}


class MomentumRef(Ref):
    def __init__(self, w, dt, lr, momentum, nesterov=False):
        self.lr, self.m, self.nesterov = hp(lr, dt), hp(momentum, dt), nesterov
        super().__init__(w, dt)

    def init_slots(self):
        self.s["momentum"] = np.zeros_like(self.s["var"])

    def rowwise(self, s, g):
        a = s["momentum"] * self.m + g
        if self.nesterov:
            v = s["var"] - (g * self.lr + a * self.m * self.lr)
        else:
            v = s["var"] - a * self.lr
        return {"momentum": a, "var": v}


class AdamRef(Ref):
    allrows_sparse = True

    def __init__(self, w, dt, lr=0.001, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = (hp(x, dt) for x in (lr, b1, b2, eps))
        self.b1_32, self.b2_32 = F32(b1), F32(b2)
        self.b1p, self.b2p = F32(b1), F32(b2)          # float32 variables in TF1
        super().__init__(w, dt)

    def init_slots(self):
        self.s["m"] = np.zeros_like(self.s["var"])
        self.s["v"] = np.zeros_like(self.s["var"])

    def step(self, g, rows=None):
        dt, s, one = self.dt, self.s, self.dt(1)
        b1p, b2p = dt(self.b1p), dt(self.b2p)
        if rows is None:       # ApplyAdam
            alpha = self.lr * np.sqrt(one - b2p) / (one - b1p)
            s["m"] = s["m"] + (g - s["m"]) * (one - self.b1)
            s["v"] = s["v"] + (g * g - s["v"]) * (one - self.b2)
            s["var"] = s["var"] - (s["m"] * alpha) / (np.sqrt(s["v"]) + self.eps)
        else:                  # adam.py _apply_sparse_shared
            lr = self.lr * np.sqrt(one - b2p) / (one - b1p)
            m = s["m"] * self.b1
            v = s["v"] * self.b2
            for r in rows:
                m[r] += g[r] * (one - self.b1)
                v[r] += (g[r] * g[r]) * (one - self.b2)
            s["m"], s["v"] = m, v
            s["var"] = s["var"] - lr * m / (np.sqrt(v) + self.eps)
        self.b1p = F32(self.b1p * self.b1_32)
        self.b2p = F32(self.b2p * self.b2_32)


class RMSPropRef(Ref):
    def __init__(self, w, dt, lr, decay=0.9, momentum=0.0, eps=1e-10, centered=False):
        self.lr, self.rho, self.mom, self.eps = (hp(x, dt) for x in (lr, decay, momentum, eps))
        self.centered = centered
        self.sparse = False
        super().__init__(w, dt)

    def init_slots(self):
        self.s["rms"] = np.ones_like(self.s["var"])
        self.s["momentum"] = np.zeros_like(self.s["var"])
        if self.centered:
            self.s["mg"] = np.zeros_like(self.s["var"])

    def step(self, g, rows=None):
        self.sparse = rows is not None
        super().step(g, rows)

    def rowwise(self, s, g):
        one = self.dt(1)
        out = {}
        if not self.sparse:         # ApplyRMSProp / ApplyCenteredRMSProp
            ms = s["rms"] + (g * g - s["rms"]) * (one - self.rho)
            if self.centered:
                mg = s["mg"] + (g - s["mg"]) * (one - self.rho)
                denom = (ms - mg * mg) + self.eps
                out["mg"] = mg
            else:
                denom = ms + self.eps
            mom = s["momentum"] * self.mom + (g * self.lr) / np.sqrt(denom)
        else:                       # SparseApplyRMSProp / SparseApplyCenteredRMSProp
            ms = s["rms"] * self.rho + g * g * (one - self.rho)
            if self.centered:
                mg = s["mg"] * self.rho + g * (one - self.rho)
                denom = ms + self.eps - mg * mg
                out["mg"] = mg
            else:
                denom = ms + self.eps
            mom = s["momentum"] * self.mom + one / np.sqrt(denom) * self.lr * g
        out.update(rms=ms, momentum=mom, var=s["var"] - mom)
        return out


class AdagradRef(Ref):
    def __init__(self, w, dt, lr, init=0.1):
        self.lr, self.init = hp(lr, dt), dt(init)
        super().__init__(w, dt)

    def init_slots(self):
        self.s["accumulator"] = np.full_like(self.s["var"], self.init)

    def rowwise(self, s, g):
        acc = s["accumulator"] + g * g
        return {"accumulator": acc, "var": s["var"] - g * self.lr / np.sqrt(acc)}


class AdadeltaRef(Ref):
    def __init__(self, w, dt, lr=0.001, rho=0.95, eps=1e-8):
        self.lr, self.rho, self.eps = (hp(x, dt) for x in (lr, rho, eps))
        super().__init__(w, dt)

    def init_slots(self):
        self.s["accum"] = np.zeros_like(self.s["var"])
        self.s["accum_update"] = np.zeros_like(self.s["var"])

    def rowwise(self, s, g):
        one = self.dt(1)
        accum = s["accum"] * self.rho + g * g * (one - self.rho)
        update = np.sqrt(s["accum_update"] + self.eps) / np.sqrt(accum + self.eps) * g
        var = s["var"] - update * self.lr
        au = s["accum_update"] * self.rho + update * update * (one - self.rho)
        return {"accum": accum, "accum_update": au, "var": var}


class FtrlRef(Ref):
    def __init__(self, w, dt, lr, lr_power=-0.5, init=0.1, l1=0.0, l2=0.0, shrink=0.0,
                 beta=0.0):
        self.lr, self.lr_power, self.l1 = hp(lr, dt), hp(lr_power, dt), hp(l1, dt)
        # l2 + beta / (2 * max(lr, 1e-36)): a float32 tensor in TF1
        self.l2 = dt(F32(F32(l2) + F32(beta) / (F32(2.0) * max(F32(lr), F32(1e-36)))))
        self.shrink, self.init = hp(shrink, dt), dt(init)
        super().__init__(w, dt)

    def init_slots(self):
        self.s["accum"] = np.full_like(self.s["var"], self.init)
        self.s["linear"] = np.zeros_like(self.s["var"])

    def rowwise(self, s, g):
        dt = self.dt
        var, accum = s["var"], s["accum"]
        g_lin = g + dt(2) * self.shrink * var if self.shrink > 0 else g
        new_accum = accum + g * g
        if self.lr_power == dt(-0.5):
            pn, po = np.sqrt(new_accum), np.sqrt(accum)
        else:
            pn, po = new_accum ** -self.lr_power, accum ** -self.lr_power
        linear = s["linear"] + (g_lin - (pn - po) / self.lr * var)
        x = self.l1 * np.sign(linear) - linear
        y = pn / self.lr + dt(2) * self.l2
        var = np.where(np.abs(linear) > self.l1, x / y, dt(0)).astype(dt)
        return {"linear": linear, "var": var, "accum": new_accum}


CASES = {
    "gd": (lambda: ng.train.GradientDescentOptimizer(0.1), lambda w, dt: GDRef(w, dt, 0.1)),
    "momentum": (lambda: ng.train.MomentumOptimizer(0.05, 0.9),
                 lambda w, dt: MomentumRef(w, dt, 0.05, 0.9)),
    "nesterov": (lambda: ng.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
                 lambda w, dt: MomentumRef(w, dt, 0.05, 0.9, nesterov=True)),
    "adam": (lambda: ng.train.AdamOptimizer(0.1), lambda w, dt: AdamRef(w, dt, 0.1)),
    "rmsprop": (lambda: ng.train.RMSPropOptimizer(0.01, momentum=0.5),
                lambda w, dt: RMSPropRef(w, dt, 0.01, momentum=0.5)),
    "rmsprop_centered": (lambda: ng.train.RMSPropOptimizer(0.01, decay=0.8, momentum=0.3,
                                                           epsilon=1e-6, centered=True),
                         lambda w, dt: RMSPropRef(w, dt, 0.01, 0.8, 0.3, 1e-6, centered=True)),
    "adagrad": (lambda: ng.train.AdagradOptimizer(0.3), lambda w, dt: AdagradRef(w, dt, 0.3)),
    "adadelta": (lambda: ng.train.AdadeltaOptimizer(1.0, rho=0.9, epsilon=1e-6),
                 lambda w, dt: AdadeltaRef(w, dt, 1.0, 0.9, 1e-6)),
    "ftrl": (lambda: ng.train.FtrlOptimizer(0.5, l1_regularization_strength=0.3,
                                            l2_regularization_strength=0.1),
             lambda w, dt: FtrlRef(w, dt, 0.5, l1=0.3, l2=0.1)),
    "ftrl_v2": (lambda: ng.train.FtrlOptimizer(0.5, learning_rate_power=-0.7,
                                               initial_accumulator_value=0.2,
                                               l1_regularization_strength=0.1,
                                               l2_shrinkage_regularization_strength=0.2,
                                               beta=0.4),
                lambda w, dt: FtrlRef(w, dt, 0.5, lr_power=-0.7, init=0.2, l1=0.1, shrink=0.2,
                                      beta=0.4)),
}


def _loss(w, dt, sparse):
    if sparse:
        e = ng.gather(w, ng.constant(IDS))
        return 0.5 * ng.reduce_sum(ng.constant(COEF[IDS].astype(dt))
                                   * ng.square(e - ng.constant(TARGET[IDS].astype(dt))))
    return 0.5 * ng.reduce_sum(ng.constant(COEF.astype(dt))
                               * ng.square(w - ng.constant(TARGET.astype(dt))))


def _np_grad(w, dt, sparse):
    if sparse:
        vals = COEF[IDS].astype(dt) * (w[IDS] - TARGET[IDS].astype(dt))
        g = np.zeros_like(w)
        for i, r in enumerate(IDS):          # deduplication: summed in index order
            g[r] += vals[i]
        return g, sorted(set(IDS.tolist()))
    return COEF.astype(dt) * (w - TARGET.astype(dt)), None


def _trajectory(case, dt, sparse, backend=None, steps=STEPS):
    make_opt, _ = CASES[case]
    w = ng.Variable(W0.astype(dt), name="w")
    opt = make_opt()
    loss = _loss(w, dt, sparse)
    gv = opt.compute_gradients(loss)
    assert isinstance(gv[0][0], ng.IndexedSlices) == sparse
    train = opt.apply_gradients(gv)
    slots = {n: opt.get_slot(w, n) for n in opt.get_slot_names()}
    out = []
    with ng.Session(backend=backend) as s:
        s.run(ng.global_variables_initializer())
        for _ in range(steps):
            s.run(train)
            vals = s.run({"var": w, **slots})
            out.append(vals)
    return out


# Each cell builds and compiles its own update: the default run takes every optimizer both
# dense and sparse, one in float32 and the other in float64 (alternating from one optimizer to
# the next), NUMGRAD_SLOW=1 all four.
_TRAJECTORY_CELLS = [(case, sparse, dt) for case, (sparse, dt) in cover(
    sorted(CASES), [(False, F32), (True, F64), (False, F64), (True, F32)], per_row=2)]


@pytest.mark.parametrize("case,sparse,dt", _TRAJECTORY_CELLS, ids=[
    f"{c}-{'sparse' if s else 'dense'}-{np.dtype(d).name}" for c, s, d in _TRAJECTORY_CELLS])
def test_trajectory_matches_numpy(case, sparse, dt):
    got = _trajectory(case, dt, sparse)
    ref = CASES[case][1](W0, dt)
    tol = dict(rtol=2e-5, atol=1e-6) if dt is F32 else dict(rtol=1e-12, atol=1e-13)
    for step, vals in enumerate(got):
        g, rows = _np_grad(ref.s["var"], dt, sparse)
        ref.step(g, rows)
        assert set(vals) == set(ref.s), (case, sorted(vals))
        for k, v in vals.items():
            assert v.dtype == dt
            np.testing.assert_allclose(v, ref.s[k], err_msg=f"{case} step {step} {k}", **tol)
    if sparse and case not in ("adam", "gd"):
        np.testing.assert_array_equal(got[-1]["var"][2], W0[2].astype(dt))  # absent row kept


@pytest.mark.parametrize("case", ["adam", "ftrl", "rmsprop_centered"])
def test_backends_agree(case):
    a = _trajectory(case, F32, True, backend="numpy", steps=4)
    ng.reset_default_graph()
    b = _trajectory(case, F32, True, backend="cpu", steps=4)
    for x, y in zip(a, b):
        for k in x:
            np.testing.assert_allclose(x[k], y[k], rtol=1e-6, atol=1e-7, err_msg=k)


def test_adam_slots_names_and_variables():
    w = ng.Variable(W0.astype(F32), name="w")
    b = ng.Variable(np.zeros(3, F32), name="b")
    opt = ng.train.AdamOptimizer(0.1)
    train = opt.minimize(ng.reduce_sum(ng.square(w)) + ng.reduce_sum(ng.square(b)))
    assert isinstance(train, ng.Operation)
    assert opt.get_name() == "Adam"
    assert opt.get_slot_names() == ["m", "v"]
    assert opt.get_slot(w, "m").name == "w/Adam:0"
    assert opt.get_slot(w, "v").name == "w/Adam_1:0"
    assert opt.get_slot(b, "m").name == "b/Adam:0"
    assert opt.get_slot(w, "nope") is None
    names = [v.name for v in opt.variables()]
    assert names == sorted(["beta1_power:0", "beta2_power:0", "w/Adam:0", "w/Adam_1:0",
                            "b/Adam:0", "b/Adam_1:0"])
    beta1 = [v for v in opt.variables() if v.name == "beta1_power:0"][0]
    assert beta1.dtype == ng.float32 and beta1.shape.rank == 0
    trainable = set(v.name for v in ng.trainable_variables())
    assert trainable == {"w:0", "b:0"}
    assert set(names) <= set(v.name for v in ng.global_variables())
    assert opt.get_slot(w, "m").shape == w.shape and opt.get_slot(w, "m").dtype == w.dtype
    # applying again creates no more variables
    opt.minimize(ng.reduce_sum(ng.square(w)))
    assert len(opt.variables()) == 6
    assert train in ng.get_collection(ng.GraphKeys.TRAIN_OP)


@pytest.mark.parametrize("centered,expect", [
    (False, {"rms": "w/RMSProp:0", "momentum": "w/RMSProp_1:0"}),
    (True, {"rms": "w/RMSProp:0", "mg": "w/RMSProp_1:0", "momentum": "w/RMSProp_2:0"})])
def test_rmsprop_slot_names_and_initial_values(centered, expect):
    w = ng.Variable(W0.astype(F32), name="w")
    opt = ng.train.RMSPropOptimizer(0.1, centered=centered)
    opt.minimize(ng.reduce_sum(w))
    assert {n: opt.get_slot(w, n).name for n in opt.get_slot_names()} == expect
    with ng.Session() as s:
        s.run(ng.global_variables_initializer())
        np.testing.assert_array_equal(s.run(opt.get_slot(w, "rms")), np.ones_like(W0))
        np.testing.assert_array_equal(s.run(opt.get_slot(w, "momentum")), np.zeros_like(W0))


@pytest.mark.parametrize("make,names", [
    (lambda: ng.train.GradientDescentOptimizer(0.1), []),
    (lambda: ng.train.MomentumOptimizer(0.1, 0.9), ["momentum"]),
    (lambda: ng.train.AdagradOptimizer(0.1), ["accumulator"]),
    (lambda: ng.train.AdadeltaOptimizer(), ["accum", "accum_update"]),
    (lambda: ng.train.FtrlOptimizer(0.1), ["accum", "linear"])])
def test_slot_names(make, names):
    w = ng.Variable(W0.astype(F32), name="w")
    opt = make()
    opt.minimize(ng.reduce_sum(w))
    assert opt.get_slot_names() == names
    assert [v.name for v in opt.variables()] == sorted(
        f"w/{opt.get_name()}{'' if i == 0 else f'_{i}'}:0" for i in range(len(names)))
    for v in opt.variables():
        assert not v.trainable and v in ng.global_variables()


def test_global_step_and_var_list():
    assert ng.train.get_global_step() is None
    gs = ng.train.get_or_create_global_step()
    assert gs.op.name == "global_step" and gs.dtype == ng.int64 and gs.shape.rank == 0
    assert not gs.trainable
    assert ng.get_collection(ng.GraphKeys.GLOBAL_STEP) == [gs]
    assert gs in ng.global_variables() and gs not in ng.trainable_variables()
    assert ng.train.get_or_create_global_step() is gs and ng.train.get_global_step() is gs
    with pytest.raises(ValueError, match='"global_step" already exists.'):
        ng.train.create_global_step()
    w = ng.Variable(np.ones(3, F32), name="w")
    u = ng.Variable(np.ones(3, F32), name="u")
    loss = ng.reduce_sum(ng.square(w)) + ng.reduce_sum(ng.square(u))
    train = ng.train.GradientDescentOptimizer(0.25).minimize(loss, global_step=gs,
                                                            var_list=[w])
    with ng.Session() as s:
        s.run(ng.global_variables_initializer())
        assert ng.train.global_step(s, gs) == 0
        for i in range(3):
            s.run(train)
            assert ng.train.global_step(s, gs) == i + 1
        np.testing.assert_allclose(s.run(w), np.full(3, 0.5 ** 3, F32))
        np.testing.assert_array_equal(s.run(u), np.ones(3, F32))


def test_schedule_drives_learning_rate_before_increment():
    gs = ng.train.get_or_create_global_step()
    lr = ng.train.exponential_decay(1.0, gs, 1, 0.5)       # 1, .5, .25 at steps 0, 1, 2
    w = ng.Variable(np.zeros((), F64), name="w")
    train = ng.train.GradientDescentOptimizer(lr).minimize(-w, global_step=gs)
    with ng.Session() as s:
        s.run(ng.global_variables_initializer())
        for _ in range(3):
            s.run(train)
        assert s.run(w) == pytest.approx(1.75)
        assert ng.train.global_step(s, gs) == 3


def test_hyperparameters_tensors_and_callables():
    w = ng.Variable(np.ones(2, F64), name="w")
    lr = ng.constant(0.5, dtype=ng.float32)
    train = ng.train.MomentumOptimizer(lr, lambda: 0.5).minimize(ng.reduce_sum(w))
    with ng.Session() as s:
        s.run(ng.global_variables_initializer())
        s.run(train)
        s.run(train)
        np.testing.assert_allclose(s.run(w), 1 - 0.5 - 0.5 * 1.5)


def test_callable_loss_builds_the_graph():
    w = ng.Variable(np.ones(2, F32), name="w")
    train = ng.train.GradientDescentOptimizer(0.5).minimize(lambda: ng.reduce_sum(w * w))
    with ng.Session() as s:
        s.run(ng.global_variables_initializer())
        s.run(train)
        np.testing.assert_allclose(s.run(w), np.zeros(2))


def test_errors():
    opt = ng.train.GradientDescentOptimizer(0.1)
    with pytest.raises(ValueError, match="^No variables to optimize.$"):
        opt.minimize(ng.constant(1.0))
    w = ng.Variable(np.ones(2, F32), name="w")
    u = ng.Variable(np.ones(2, F32), name="u")
    with pytest.raises(ValueError) as e:
        opt.minimize(ng.reduce_sum(w), var_list=[u])
    assert str(e.value).startswith(
        "No gradients provided for any variable, check your graph for ops that do not support "
        "gradients, between variables [")
    assert "u:0" in str(e.value) and " and loss " in str(e.value)
    with pytest.raises(ValueError, match="^No variables provided.$"):
        opt.apply_gradients([])
    with pytest.raises(TypeError, match="Gradient must be"):
        opt.apply_gradients([(object(), w)])
    with pytest.raises(ValueError, match="No gradients provided for any variable"):
        opt.apply_gradients([(None, w)])
    with pytest.raises(ValueError, match="gate_gradients must be one of"):
        opt.compute_gradients(ng.reduce_sum(w), gate_gradients=7)
    with pytest.raises(ValueError, match="Invalid type"):
        opt.compute_gradients(ng.constant(1, dtype=ng.int32), var_list=[w])
    with pytest.raises(ValueError, match="initial_accumulator_value must be positive"):
        ng.train.AdagradOptimizer(0.1, initial_accumulator_value=0.0)


def test_compute_gradients_keeps_none_and_gates():
    w = ng.Variable(np.ones(2, F32), name="w")
    u = ng.Variable(np.ones(2, F32), name="u")
    opt = ng.train.AdamOptimizer()
    for gate in (opt.GATE_NONE, opt.GATE_OP, opt.GATE_GRAPH):
        gv = opt.compute_gradients(ng.reduce_sum(w * w), gate_gradients=gate)
        assert [v for _, v in gv] == [w, u] and gv[1][0] is None and gv[0][0] is not None


# --- clip ops ---------------------------------------------------------------------------------
def _np_clip_by_norm(t, c, axes=None):
    l2 = np.sqrt(np.sum(t * t, axis=axes, keepdims=True))
    return t * c / np.maximum(l2, c)


@pytest.mark.parametrize("axes", [None, 1])
@pytest.mark.parametrize("c", [0.5, 100.0])
def test_clip_by_norm(axes, c):
    x = W0.astype(F32)
    got = ng.Session().run(ng.clip_by_norm(ng.constant(x), c, axes=axes))
    np.testing.assert_allclose(got, _np_clip_by_norm(x, F32(c), axes), rtol=1e-6)
    z = ng.Session().run(ng.clip_by_norm(ng.zeros((2, 2)), 1.0))
    np.testing.assert_array_equal(z, np.zeros((2, 2)))


def test_clip_by_global_norm_and_global_norm():
    a, b = W0.astype(F32), TARGET[:2].astype(F32)
    norm = np.sqrt(np.sum(a * a) + np.sum(b * b))
    ts = [ng.constant(a), None, ng.constant(b)]
    clipped, gn = ng.clip_by_global_norm(ts, 2.0)
    assert clipped[1] is None
    with ng.Session() as s:
        ca, cb, n, n2 = s.run([clipped[0], clipped[2], gn, ng.global_norm(ts)])
    assert n == pytest.approx(norm, rel=1e-6) and n2 == pytest.approx(norm, rel=1e-6)
    np.testing.assert_allclose(ca, a * 2.0 / norm, rtol=1e-6)
    np.testing.assert_allclose(cb, b * 2.0 / norm, rtol=1e-6)
    big, _ = ng.clip_by_global_norm([ng.constant(a)], 1e3)       # below the limit: unchanged
    np.testing.assert_allclose(ng.Session().run(big[0]), a, rtol=1e-6)
    inf, _ = ng.clip_by_global_norm([ng.constant(np.array([1.0, np.inf], F32))], 1.0)
    assert np.isnan(ng.Session().run(inf[0])).all()
    with pytest.raises(TypeError, match="should be a sequence"):
        ng.global_norm(ng.constant(a))


def test_clip_indexed_slices_and_optimizer():
    w = ng.Variable(W0.astype(F32), name="w")
    loss = _loss(w, F32, True)
    opt = ng.train.GradientDescentOptimizer(1.0)
    gv = opt.compute_gradients(loss)
    (g,), norm = ng.clip_by_global_norm([gv[0][0]], 0.5)
    assert isinstance(g, ng.IndexedSlices)
    gn = ng.clip_by_norm(gv[0][0], 0.5)
    assert isinstance(gn, ng.IndexedSlices)
    train = opt.apply_gradients([(g, w)])
    dense, rows = _np_grad(W0.astype(F32), F32, True)
    vals = COEF[IDS] * (W0[IDS] - TARGET[IDS])
    n = np.sqrt(np.sum(vals * vals))
    with ng.Session() as s:
        s.run(ng.global_variables_initializer())
        assert s.run(norm) == pytest.approx(n, rel=1e-6)
        s.run(train)
        np.testing.assert_allclose(s.run(w), W0 - dense * 0.5 / n, rtol=1e-5, atol=1e-6)


def test_gradient_through_clip_by_global_norm():
    """The gradients of the backend under test against central differences of the numpy
    backend's y (tests/gradient_batch.py), both cases in one graph."""
    def global_norm(x, y):
        (cx, cy), _ = ng.clip_by_global_norm([x * 1.0, y * 2.0], 1.5)
        return ng.reduce_sum(cx * ng.constant(COEF[:2])) + ng.reduce_sum(cy * cy)

    batch = GradientBatch(ng.float64, delta=1e-6, reference="numpy")
    batch.add("clip_by_global_norm", [W0[:2], TARGET[2]], global_norm)
    batch.add("clip_by_norm", [W0[:2]], lambda x: ng.reduce_sum(
        ng.clip_by_norm(x, 0.7, axes=[1]) * ng.constant(COEF[:2])))
    for result in batch.jacobians().values():
        assert_jacobians(result, tol=1e-6)


def test_train_public_names_have_docstrings():
    missing = []
    for name in ng.train.__all__ + ["clip_by_norm", "clip_by_global_norm", "global_norm"]:
        obj = getattr(ng.train, name)
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        if isinstance(obj, type):
            missing += [f"{name}.{m}" for m, f in vars(obj).items()
                        if not m.startswith("_") and callable(f) and not (f.__doc__ or "").strip()]
    assert not missing
