"""Many small gradient checks built into one graph and run by one pair of plans.

Each check (a "case": its own placeholders, its own output y) is compiled separately when it
has a graph of its own: one plan for y's gradients, one for y, each with its kernels.  A
`GradientBatch` builds every case into one graph instead, so the two plans hold every case and
the compiler fuses them into a few kernels (12 unary ops: 22 kernels and 3.3 CPU s alone,
2 kernels and 1.4 CPU s batched).  The cases stay independent: each has its own placeholders,
its own gradient call and its own results, so a test per case asserts on its own Jacobians and
a failure names its case.

The Jacobians are computed as `ng.test.compute_gradient` computes them (one-hot seeds for the
analytic one, central differences for the numerical one), for every case at once: seed j is
fed to every case whose y has an element j, and element k of every case's m-th input moves
together, since no case's y depends on another case's inputs.  A case whose graph or gradient
fails to build keeps its exception; if the batched run fails, each case runs again alone, so
the exception goes to the case that raised it (and to every case if none fails alone: the
batching itself failed).

With ``reference_backend="numpy"`` the central differences run y on the NumPy backend: the
gradients of the backend under test are checked against a reference that shares none of its
compiled code, and no plan is compiled for y.
"""
import numpy as np

import numgrad as ng


class _Case:
    def __init__(self, xs, inits, y, y_shape, dy, grads):
        self.xs, self.inits, self.y, self.y_shape = xs, inits, y, y_shape
        self.dy, self.grads = dy, grads


class GradientBatch:
    """Gradient checks sharing one graph: `add` each case, then `jacobians()`."""

    def __init__(self, dtype=ng.float64, delta=1e-5, reference_backend=None):
        self.graph = ng.Graph()
        self.dtype, self.delta = dtype, delta
        self.reference_backend = reference_backend    # y's backend for central differences
        self.cases = {}           # name -> _Case
        self.errors = {}          # name -> the exception that building the case raised

    def add(self, name, inits, build, *, ph_shapes=None, y_shape=None):
        """Case `name`: placeholders fed `inits` (shapes `ph_shapes`, default the inits'
        shapes), y = build(*placeholders), checked with y's shape (or `y_shape` where y's
        static shape is not fully defined)."""
        if name in self.cases or name in self.errors:
            raise ValueError(f"GradientBatch: case {name!r} added twice")
        inits = [np.asarray(a, dtype=self.dtype.np) for a in inits]
        ph_shapes = ph_shapes or [a.shape for a in inits]
        try:
            with self.graph.as_default(), ng.name_scope(_scope(name)):
                xs = [ng.placeholder(self.dtype, s) for s in ph_shapes]
                y = ng.convert_to_tensor(build(*xs))
                shape = tuple(y.shape.as_list()) if y_shape is None else tuple(y_shape)
                dy = ng.placeholder(y.dtype, shape, name="dy")
                grads = ng.gradients(y, xs, grad_ys=dy)
        except Exception as e:  # noqa: BLE001 -- the case's own test raises it
            self.errors[name] = e
            return
        self.cases[name] = _Case(xs, inits, y, shape, dy, grads)

    def jacobians(self):
        """{name: [(analytic, numerical) per input] or the exception the case raised}; each
        Jacobian is (x size, y size), as ng.test.compute_gradient gives it."""
        out = dict(self.errors)
        with ng.Session(graph=self.graph) as sess:
            try:
                out.update(self._run(sess, list(self.cases.items())))
            except Exception as batched:  # noqa: BLE001 -- find the case(s) that raise
                alone = {}
                for item in self.cases.items():
                    try:
                        alone.update(self._run(sess, [item]))
                    except Exception as e:  # noqa: BLE001
                        alone[item[0]] = e
                # If every case runs alone, the batch itself failed: every case reports it.
                failed = any(isinstance(v, BaseException) for v in alone.values())
                out.update(alone if failed else dict.fromkeys(alone, batched))
        return out

    def _run(self, sess, items):
        cases = [case for _, case in items]
        xs = [x for case in cases for x in case.xs]
        inits = [a for case in cases for a in case.inits]
        analytic = self._analytic(sess, cases, xs, inits)
        if self.reference_backend is None:
            numerical = self._numerical(sess, cases, xs, inits)
        else:
            with ng.Session(graph=self.graph, backend=self.reference_backend) as ref:
                numerical = self._numerical(ref, cases, xs, inits)
        return {name: list(zip(analytic[i], numerical[i])) for i, (name, _) in enumerate(items)}

    def _analytic(self, sess, cases, xs, inits):
        live = [(i, m) for i, case in enumerate(cases)
                for m, g in enumerate(case.grads) if g is not None]
        seeds = [np.zeros(case.y_shape, case.y.dtype.np) for case in cases]
        jts = [[np.zeros((a.size, seed.size)) for a in case.inits]
               for case, seed in zip(cases, seeds)]
        if not live:
            return jts
        run = sess.make_callable([cases[i].grads[m] for i, m in live],
                                 xs + [case.dy for case in cases])
        for j in range(max(seed.size for seed in seeds)):
            for seed in seeds:
                seed.reshape(-1)[:] = 0
                if j < seed.size:
                    seed.reshape(-1)[j] = 1
            values = run(*inits, *seeds)
            for (i, m), g in zip(live, values):
                if j < seeds[i].size:
                    jts[i][m][:, j] = _dense(g, cases[i].inits[m].shape).reshape(-1)
        return jts

    def _numerical(self, sess, cases, xs, inits):
        run_y = sess.make_callable([case.y for case in cases], xs)
        jns = [[np.zeros((a.size, int(np.prod(case.y_shape)))) for a in case.inits]
               for case in cases]
        values = [a.copy() for a in inits]
        slots = [(i, m, sum(len(c.inits) for c in cases[:i]) + m)
                 for i, case in enumerate(cases) for m in range(len(case.inits))]
        for m in range(max(len(case.inits) for case in cases)):
            moved = [(i, k) for i, mm, k in slots if mm == m]
            for e in range(max(values[k].size for _, k in moved)):
                ys = {}
                for sign in (1, -1):
                    for _, k in moved:
                        if e < values[k].size:
                            values[k].reshape(-1)[e] = inits[k].reshape(-1)[e] + sign * self.delta
                    ys[sign] = run_y(*values)
                    for _, k in moved:
                        if e < values[k].size:
                            values[k].reshape(-1)[e] = inits[k].reshape(-1)[e]
                for i, k in moved:
                    if e < values[k].size:
                        jns[i][m][e, :] = (np.asarray(ys[1][i], np.float64).reshape(-1)
                                           - np.asarray(ys[-1][i], np.float64).reshape(-1)) \
                            / (2 * self.delta)
        return jns


def _scope(name):
    """A name scope for case `name` (graph names take letters, digits and ._-)."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "case"


def _dense(v, shape):
    if isinstance(v, ng.IndexedSlicesValue):
        out = np.zeros(tuple(int(d) for d in v.dense_shape), v.values.dtype)
        np.add.at(out, np.asarray(v.indices).reshape(-1), v.values)
        return out
    return np.broadcast_to(v, shape)


def assert_jacobians(result, *, tol, nonzero=True):
    """Each (analytic, numerical) pair of a case agrees within `tol`; with `nonzero`, some
    numerical entry is not ~0 (else the check would test nothing).  `result` is a case's entry
    of `GradientBatch.jacobians()`: an exception there is raised."""
    if isinstance(result, BaseException):
        raise result
    for i, (jt, jn) in enumerate(result):
        assert jt.shape == jn.shape
        assert np.all(np.isfinite(jt)), f"non-finite analytic Jacobian for input {i}"
        np.testing.assert_allclose(jt, jn, rtol=0, atol=tol,
                                   err_msg=f"Jacobian mismatch for input {i}")
    if nonzero:
        assert max(np.abs(jn).max(initial=0.0) for _, jn in result) > 1e-3, \
            "degenerate check: numerical Jacobian is zero"
    return result
