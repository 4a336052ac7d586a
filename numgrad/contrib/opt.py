"""``ng.contrib.opt.ScipyOptimizerInterface``: minimise a loss over variables with
``scipy.optimize.minimize`` (L-BFGS-B by default), as TF1's contrib interface does.

Each evaluation of the loss and its gradient is one call of the compiled plan of
``[loss] + gradients`` (a ``make_callable`` function fed with the variables' trial values:
feeding a variable overrides it for that call).  The variables are packed into one float64
vector for SciPy, in ``var_list`` order, and the final point is stored in the session's
variables at the end.  TF 2.21 no longer ships this interface; numgrad keeps it because
scientific TF1 scripts (physics-informed networks above all) finish their training with it.

SciPy is an optional dependency: ``pip install "numgrad[scipy]"``.
"""
import numpy as np

from ..blas_threads import one_thread_for_scipy_blas
from ..tf_logging import info

__all__ = ["ScipyOptimizerInterface", "ExternalOptimizerInterface"]


def _import_scipy_optimize():
    try:
        import scipy.optimize
    except ImportError as e:
        raise ImportError("ScipyOptimizerInterface needs SciPy, an optional dependency of "
                          "numgrad: pip install \"numgrad[scipy]\" (or pip install scipy)") from e
    return scipy.optimize


class ExternalOptimizerInterface:
    """Base class: packs variables into a vector and evaluates loss, gradient and
    constraints for an external minimiser (subclasses implement `_minimize`)."""

    def __init__(self, loss, var_list=None, equalities=None, inequalities=None,
                 var_to_bounds=None, **optimizer_kwargs):
        from ..gradients import gradients
        from ..ops.array import zeros_like
        from ..variables import trainable_variables
        self._loss = loss
        self._equalities = list(equalities or [])
        self._inequalities = list(inequalities or [])
        self._vars = list(var_list) if var_list is not None else trainable_variables()
        if not self._vars:
            raise ValueError("No variables to optimize.")
        for v in self._vars:
            if not v.shape.is_fully_defined():
                raise ValueError(f"Variable '{v.op.name}' must have a fully defined shape, "
                                 f"got {v.shape}")
        if loss.shape.rank not in (0, None) and loss.shape.num_elements() != 1:
            raise ValueError(f"The loss must be a scalar, got shape {loss.shape}")
        self._shapes = [v.shape.as_list() for v in self._vars]
        sizes = [int(np.prod(s, dtype=np.int64)) for s in self._shapes]
        self._slices = []
        start = 0
        for n in sizes:
            self._slices.append(slice(start, start + n))
            start += n
        self._size = start
        self._optimizer_kwargs = optimizer_kwargs

        def grads_of(y):
            gs = gradients(y, self._vars)
            return [zeros_like(v) if g is None else g for g, v in zip(gs, self._vars)]
        self._loss_grads = grads_of(loss)
        self._eq_grads = [grads_of(c) for c in self._equalities]
        self._ineq_grads = [grads_of(c) for c in self._inequalities]
        self._bounds = self._packed_bounds(var_to_bounds)

    def _packed_bounds(self, var_to_bounds):
        if not var_to_bounds:
            return None
        low = np.full(self._size, -np.inf)
        high = np.full(self._size, np.inf)
        known = set(self._vars)
        for var, (lo, hi) in var_to_bounds.items():
            if var not in known:
                raise ValueError(f"var_to_bounds names variable '{var.op.name}', which is not "
                                 "in var_list")
            i = self._vars.index(var)
            sl, shape = self._slices[i], self._shapes[i]
            low[sl] = np.broadcast_to(np.asarray(-np.inf if lo is None else lo, float),
                                      shape).ravel()
            high[sl] = np.broadcast_to(np.asarray(np.inf if hi is None else hi, float),
                                       shape).ravel()
        return [(None if np.isneginf(lo) else lo, None if np.isposinf(hi) else hi)
                for lo, hi in zip(low, high)]

    def _pack(self, arrays):
        return np.concatenate([np.asarray(a, np.float64).ravel() for a in arrays]) \
            if arrays else np.zeros(0)

    def _unpack(self, x):
        return [np.array(x[sl].reshape(shape), dtype=v.dtype.np)
                for sl, shape, v in zip(self._slices, self._shapes, self._vars)]

    def minimize(self, session=None, feed_dict=None, fetches=None, step_callback=None,
                 loss_callback=None, **run_kwargs):
        """Minimise the loss in `session` (default: the default session), starting from the
        variables' current values, then store the solution in them.

        `feed_dict` feeds the loss's placeholders; `loss_callback(*fetched)` is called after
        each evaluation with the values of `fetches`; `step_callback(x)` after each step of
        the minimiser with the packed variables."""
        from ..session import get_default_session
        session = session or get_default_session()
        if session is None:
            raise ValueError("ScipyOptimizerInterface.minimize needs a session: pass one or "
                             "use `with sess.as_default():`")
        feed_dict = dict(feed_dict or {})
        fetches = list(fetches or [])
        keys = list(feed_dict)
        fixed = [feed_dict[k] for k in keys]
        nv = len(self._vars)

        def callable_for(targets):
            call = session.make_callable(targets, feed_list=list(self._vars) + keys)

            def evaluate(x):
                return call(*self._unpack(x), *fixed)
            return evaluate

        loss_eval = callable_for([self._loss] + self._loss_grads + fetches)

        def loss_grad(x):
            out = loss_eval(x)
            if loss_callback is not None:
                loss_callback(*out[1 + nv:])
            return float(out[0]), self._pack(out[1:1 + nv])

        constraints = []
        for kind, cs, gs in (("eq", self._equalities, self._eq_grads),
                             ("ineq", self._inequalities, self._ineq_grads)):
            for c, g in zip(cs, gs):
                ev = callable_for([c] + g)
                constraints.append({
                    "type": kind,
                    "fun": (lambda x, ev=ev: np.atleast_1d(np.asarray(ev(x)[0], np.float64))),
                    "jac": (lambda x, ev=ev: np.atleast_2d(self._pack(ev(x)[1:])))})
        x0 = self._pack(session.run(self._vars))
        x = self._minimize(x0, loss_grad, constraints, self._bounds, step_callback,
                           self._optimizer_kwargs)
        for v, value in zip(self._vars, self._unpack(x)):
            v.load(value, session)

    def _minimize(self, initial_val, loss_grad_func, constraints, packed_bounds,
                  step_callback, optimizer_kwargs):
        raise NotImplementedError


class ScipyOptimizerInterface(ExternalOptimizerInterface):
    """tf.contrib.opt.ScipyOptimizerInterface: `method` (default 'L-BFGS-B') and `options`
    go to scipy.optimize.minimize."""

    _DEFAULT_METHOD = "L-BFGS-B"

    def __init__(self, loss, var_list=None, equalities=None, inequalities=None,
                 var_to_bounds=None, **optimizer_kwargs):
        _import_scipy_optimize()        # fail early, with the install hint
        super().__init__(loss, var_list, equalities, inequalities, var_to_bounds,
                         **optimizer_kwargs)

    def _minimize(self, initial_val, loss_grad_func, constraints, packed_bounds,
                  step_callback, optimizer_kwargs):
        optimize = _import_scipy_optimize()
        kwargs = dict(optimizer_kwargs)
        method = kwargs.pop("method", self._DEFAULT_METHOD)
        options = kwargs.pop("options", {})
        minimize_kwargs = {"jac": True, "callback": step_callback, "method": method,
                           "bounds": packed_bounds, "options": options}
        if constraints:
            minimize_kwargs["constraints"] = constraints
        minimize_kwargs.update(kwargs)
        with one_thread_for_scipy_blas():
            result = optimize.minimize(loss_grad_func, initial_val, **minimize_kwargs)
        info("Optimization terminated with:\n  Message: %s\n  Objective function value: %f\n"
             "  Number of iterations: %s\n  Number of functions evaluations: %s",
             result.message, result.fun, getattr(result, "nit", "?"),
             getattr(result, "nfev", "?"))
        return result.x
