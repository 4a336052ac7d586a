"""The tf.compat.v1.train optimizers, with TF1's update formulas.

Each ``_dense_update`` is the CPU functor of tensorflow/core/kernels/training_ops.cc written as
graph ops (the same operations in the same order), with the Python side of
tensorflow/python/training/<name>.py: hyperparameters called if callable, converted to tensors
(a Python float becomes float32) and cast to the variable's dtype; slot names and initial values
as TF's ``_create_slots``.  Sparse gradients: see numgrad/train/sparse.py; RMSProp uses the
``SparseApply*`` kernel's own arrangement of the formula, Adam and gradient descent TF1's Python
sparse paths.
"""
from ..ops.math import maximum, pow as _pow, rsqrt, sign, sqrt, where
from ..ops.math import abs as _abs
from ..ops.array import zeros_like
from ..ops.control import group
from ..graph import control_dependencies
from .optimizer import Optimizer

__all__ = ["GradientDescentOptimizer", "MomentumOptimizer", "AdamOptimizer",
           "RMSPropOptimizer", "AdagradOptimizer", "AdadeltaOptimizer", "FtrlOptimizer"]


class GradientDescentOptimizer(Optimizer):
    """var -= lr * grad (tf.compat.v1.train.GradientDescentOptimizer)."""

    def __init__(self, learning_rate, use_locking=False, name="GradientDescent"):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._learning_rate_tensor = None

    def _prepare(self):
        self._learning_rate_tensor = self._hyper(self._learning_rate, "learning_rate")

    def _dense_update(self, grad, var):
        lr = self._cast(self._learning_rate_tensor, var)
        return [(var, var - grad * lr)]

    def _sparse_update(self, summed, present, var):
        # TF1: scatter_sub(var, IndexedSlices(values * lr, ...)); an absent row subtracts 0
        lr = self._cast(self._learning_rate_tensor, var)
        return [(var, var - summed * lr)]


class MomentumOptimizer(Optimizer):
    """accum = accum * momentum + grad; var -= lr * accum (Nesterov: var -= grad * lr +
    accum * momentum * lr) (tf.compat.v1.train.MomentumOptimizer)."""

    def __init__(self, learning_rate, momentum, use_locking=False, name="Momentum",
                 use_nesterov=False):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._momentum = momentum
        self._use_nesterov = use_nesterov

    def _create_slots(self, var_list):
        for v in var_list:
            self._zeros_slot(v, "momentum", self._name)

    def _prepare(self):
        self._learning_rate_tensor = self._hyper(self._learning_rate, "learning_rate")
        self._momentum_tensor = self._hyper(self._momentum, "momentum")

    def _dense_update(self, grad, var):
        lr = self._cast(self._learning_rate_tensor, var)
        mom = self._cast(self._momentum_tensor, var)
        accum = self.get_slot(var, "momentum")
        accum_t = accum * mom + grad
        if self._use_nesterov:
            var_t = var - (grad * lr + accum_t * mom * lr)
        else:
            var_t = var - accum_t * lr
        return [(accum, accum_t), (var, var_t)]


class AdamOptimizer(Optimizer):
    """Adam as TF1 (tf.compat.v1.train.AdamOptimizer): lr_t = lr * sqrt(1 - beta2^t) /
    (1 - beta1^t); m += (g - m) * (1 - beta1); v += (g^2 - v) * (1 - beta2);
    var -= m * lr_t / (sqrt(v) + epsilon); then beta1_power *= beta1, beta2_power *= beta2."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 use_locking=False, name="Adam"):
        super().__init__(use_locking, name)
        self._lr = learning_rate
        self._beta1 = beta1
        self._beta2 = beta2
        self._epsilon = epsilon
        self._lr_t = self._beta1_t = self._beta2_t = self._epsilon_t = None

    def _get_beta_accumulators(self, graph=None):
        from ..graph import get_default_graph
        graph = graph or get_default_graph()
        return (self._get_non_slot_variable("beta1_power", graph=graph),
                self._get_non_slot_variable("beta2_power", graph=graph))

    def _create_slots(self, var_list):
        first_var = min(var_list, key=lambda x: x.name)
        self._create_non_slot_variable(initial_value=self._beta1, name="beta1_power",
                                       colocate_with=first_var)
        self._create_non_slot_variable(initial_value=self._beta2, name="beta2_power",
                                       colocate_with=first_var)
        for v in var_list:
            self._zeros_slot(v, "m", self._name)
            self._zeros_slot(v, "v", self._name)

    def _prepare(self):
        self._lr_t = self._hyper(self._lr, "learning_rate")
        self._beta1_t = self._hyper(self._beta1, "beta1")
        self._beta2_t = self._hyper(self._beta2, "beta2")
        self._epsilon_t = self._hyper(self._epsilon, "epsilon")

    def _scalars(self, var):
        beta1_power, beta2_power = self._get_beta_accumulators(var.graph)
        c = self._cast
        return (c(beta1_power, var), c(beta2_power, var), c(self._lr_t, var),
                c(self._beta1_t, var), c(self._beta2_t, var), c(self._epsilon_t, var))

    def _dense_update(self, grad, var):
        b1p, b2p, lr, b1, b2, eps = self._scalars(var)
        m, v = self.get_slot(var, "m"), self.get_slot(var, "v")
        alpha = lr * sqrt(1 - b2p) / (1 - b1p)
        m_t = m + (grad - m) * (1 - b1)
        v_t = v + (grad * grad - v) * (1 - b2)
        var_t = var - (m_t * alpha) / (sqrt(v_t) + eps)
        return [(m, m_t), (v, v_t), (var, var_t)]

    def _sparse_update(self, summed, present, var):
        # adam.py _apply_sparse_shared: m = m * beta1 then scatter_add((1 - beta1) * g), so
        # every row decays; var -= lr * m_t / (sqrt(v_t) + epsilon) on every row.
        b1p, b2p, lr_t, b1, b2, eps = self._scalars(var)
        m, v = self.get_slot(var, "m"), self.get_slot(var, "v")
        lr = lr_t * sqrt(1 - b2p) / (1 - b1p)
        m_t = m * b1 + summed * (1 - b1)
        v_t = v * b2 + (summed * summed) * (1 - b2)
        var_t = var - lr * m_t / (sqrt(v_t) + eps)
        return [(m, m_t), (v, v_t), (var, var_t)]

    def _finish(self, update_ops, name_scope):
        graph = update_ops[0].graph if update_ops else None
        with control_dependencies(update_ops):
            beta1_power, beta2_power = self._get_beta_accumulators(graph)
            update_beta1 = beta1_power.assign(beta1_power * self._beta1_t,
                                              use_locking=self._use_locking)
            update_beta2 = beta2_power.assign(beta2_power * self._beta2_t,
                                              use_locking=self._use_locking)
        return group(*update_ops + [update_beta1, update_beta2], name=name_scope)


class RMSPropOptimizer(Optimizer):
    """RMSProp as TF1 (tf.compat.v1.train.RMSPropOptimizer): ms += (g^2 - ms) * (1 - decay);
    mom = mom * momentum + g * lr / sqrt(ms + epsilon); var -= mom.  Centered: also
    mg += (g - mg) * (1 - decay) and the denominator sqrt(ms - mg^2 + epsilon).  The 'rms'
    slot starts at ones."""

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10, use_locking=False,
                 centered=False, name="RMSProp"):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._decay = decay
        self._momentum = momentum
        self._epsilon = epsilon
        self._centered = centered

    def _create_slots(self, var_list):
        for v in var_list:
            self._slot_variable(v, "rms", 1, self._name)
            if self._centered:
                self._zeros_slot(v, "mg", self._name)
            self._zeros_slot(v, "momentum", self._name)

    def _prepare(self):
        self._learning_rate_tensor = self._hyper(self._learning_rate, "learning_rate")
        self._decay_tensor = self._hyper(self._decay, "decay")
        self._momentum_tensor = self._hyper(self._momentum, "momentum")
        self._epsilon_tensor = self._hyper(self._epsilon, "epsilon")

    def _scalars(self, var):
        c = self._cast
        return (c(self._learning_rate_tensor, var), c(self._decay_tensor, var),
                c(self._momentum_tensor, var), c(self._epsilon_tensor, var))

    def _dense_update(self, grad, var):
        lr, rho, momentum, eps = self._scalars(var)
        ms, mom = self.get_slot(var, "rms"), self.get_slot(var, "momentum")
        ms_t = ms + (grad * grad - ms) * (1 - rho)
        out = [(ms, ms_t)]
        if self._centered:
            mg = self.get_slot(var, "mg")
            mg_t = mg + (grad - mg) * (1 - rho)
            denom = (ms_t - mg_t * mg_t) + eps
            out.append((mg, mg_t))
        else:
            denom = ms_t + eps
        mom_t = mom * momentum + (grad * lr) / sqrt(denom)
        return out + [(mom, mom_t), (var, var - mom_t)]

    def _sparse_update(self, summed, present, var):
        # SparseApplyRMSProp / SparseApplyCenteredRMSProp arrange the formula differently
        lr, rho, momentum, eps = self._scalars(var)
        grad = summed
        ms, mom = self.get_slot(var, "rms"), self.get_slot(var, "momentum")
        ms_t = ms * rho + grad * grad * (1 - rho)
        out = [(ms, ms_t)]
        if self._centered:
            mg = self.get_slot(var, "mg")
            mg_t = mg * rho + grad * (1 - rho)
            denom = ms_t + eps - mg_t * mg_t
            out.append((mg, mg_t))
        else:
            denom = ms_t + eps
        mom_t = mom * momentum + rsqrt(denom) * lr * grad
        out += [(mom, mom_t), (var, var - mom_t)]
        return [(s, where(present, new, s)) for s, new in out]


class AdagradOptimizer(Optimizer):
    """accum += g^2; var -= g * lr * rsqrt(accum) (tf.compat.v1.train.AdagradOptimizer)."""

    def __init__(self, learning_rate, initial_accumulator_value=0.1, use_locking=False,
                 name="Adagrad"):
        if initial_accumulator_value <= 0.0:
            raise ValueError("initial_accumulator_value must be positive: %s"
                             % initial_accumulator_value)
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._initial_accumulator_value = initial_accumulator_value

    def _create_slots(self, var_list):
        for v in var_list:
            self._slot_variable(v, "accumulator", self._initial_accumulator_value, self._name)

    def _prepare(self):
        self._learning_rate_tensor = self._hyper(self._learning_rate, "learning_rate")

    def _dense_update(self, grad, var):
        lr = self._cast(self._learning_rate_tensor, var)
        acc = self.get_slot(var, "accumulator")
        acc_t = acc + grad * grad
        return [(acc, acc_t), (var, var - grad * lr * rsqrt(acc_t))]

    def _sparse_update(self, summed, present, var):
        # SparseApplyAdagrad: v -= lr * g * rsqrt(a)
        lr = self._cast(self._learning_rate_tensor, var)
        acc = self.get_slot(var, "accumulator")
        acc_t = acc + summed * summed
        var_t = var - lr * summed * rsqrt(acc_t)
        return [(acc, where(present, acc_t, acc)), (var, where(present, var_t, var))]


class AdadeltaOptimizer(Optimizer):
    """Adadelta as TF1 (tf.compat.v1.train.AdadeltaOptimizer)."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-8, use_locking=False,
                 name="Adadelta"):
        super().__init__(use_locking, name)
        self._lr = learning_rate
        self._rho = rho
        self._epsilon = epsilon

    def _create_slots(self, var_list):
        for v in var_list:
            self._zeros_slot(v, "accum", self._name)
            self._zeros_slot(v, "accum_update", self._name)

    def _prepare(self):
        self._lr_t = self._hyper(self._lr, "lr")
        self._rho_t = self._hyper(self._rho, "rho")
        self._epsilon_t = self._hyper(self._epsilon, "epsilon")

    def _dense_update(self, grad, var):
        lr, rho, eps = (self._cast(t, var) for t in (self._lr_t, self._rho_t, self._epsilon_t))
        accum, accum_update = self.get_slot(var, "accum"), self.get_slot(var, "accum_update")
        accum_t = accum * rho + grad * grad * (1 - rho)
        update = sqrt(accum_update + eps) * rsqrt(accum_t + eps) * grad
        var_t = var - update * lr
        accum_update_t = accum_update * rho + update * update * (1 - rho)
        return [(accum, accum_t), (accum_update, accum_update_t), (var, var_t)]


class FtrlOptimizer(Optimizer):
    """FTRL-Proximal as TF1 (tf.compat.v1.train.FtrlOptimizer; ApplyFtrl, or ApplyFtrlV2 with
    l2_shrinkage_regularization_strength > 0); `beta` is folded into the l2 strength as
    l2 + beta / (2 * max(lr, 1e-36))."""

    def __init__(self, learning_rate, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 use_locking=False, name="Ftrl", accum_name=None, linear_name=None,
                 l2_shrinkage_regularization_strength=0.0, beta=None):
        super().__init__(use_locking, name)
        if initial_accumulator_value < 0.0:
            raise ValueError("initial_accumulator_value %f needs to be positive or zero"
                             % initial_accumulator_value)
        if learning_rate_power > 0.0:
            raise ValueError("learning_rate_power %f needs to be negative or zero"
                             % learning_rate_power)
        if l1_regularization_strength < 0.0:
            raise ValueError("l1_regularization_strength %f needs to be positive or zero"
                             % l1_regularization_strength)
        if l2_regularization_strength < 0.0:
            raise ValueError("l2_regularization_strength %f needs to be positive or zero"
                             % l2_regularization_strength)
        if l2_shrinkage_regularization_strength < 0.0:
            raise ValueError("l2_shrinkage_regularization_strength %f needs to be positive or "
                             "zero" % l2_shrinkage_regularization_strength)
        self._learning_rate = learning_rate
        self._learning_rate_power = learning_rate_power
        self._initial_accumulator_value = initial_accumulator_value
        self._l1_regularization_strength = l1_regularization_strength
        self._l2_regularization_strength = l2_regularization_strength
        self._beta = 0.0 if beta is None else beta
        self._l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self._accum_name = accum_name
        self._linear_name = linear_name

    def _create_slots(self, var_list):
        for v in var_list:
            self._slot_variable(v, "accum", self._initial_accumulator_value,
                                self._accum_name or self._name)
            self._zeros_slot(v, "linear", self._linear_name or self._name)

    def _prepare(self):
        lr = self._hyper(self._learning_rate, "learning_rate")
        self._learning_rate_tensor = lr
        self._l1_regularization_strength_tensor = self._hyper(
            self._l1_regularization_strength, "l1_regularization_strength")
        self._adjusted_l2_regularization_strength_tensor = (
            self._l2_regularization_strength + self._beta / (2. * maximum(lr, 1e-36)))
        self._l2_shrinkage_regularization_strength_tensor = self._hyper(
            self._l2_shrinkage_regularization_strength, "l2_shrinkage_regularization_strength")
        self._learning_rate_power_tensor = self._hyper(self._learning_rate_power,
                                                       "learning_rate_power")

    def _dense_update(self, grad, var):
        c = self._cast
        lr = c(self._learning_rate_tensor, var)
        l1 = c(self._l1_regularization_strength_tensor, var)
        l2 = c(self._adjusted_l2_regularization_strength_tensor, var)
        lr_power = c(self._learning_rate_power_tensor, var)
        accum, linear = self.get_slot(var, "accum"), self.get_slot(var, "linear")
        if self._l2_shrinkage_regularization_strength <= 0.0:
            g_lin = grad
        else:   # ApplyFtrlV2
            shrink = c(self._l2_shrinkage_regularization_strength_tensor, var)
            g_lin = grad + 2 * shrink * var
        new_accum = accum + grad * grad
        if isinstance(self._learning_rate_power, (int, float)) and \
                self._learning_rate_power == -0.5:
            new_p, old_p = sqrt(new_accum), sqrt(accum)
        else:
            new_p, old_p = _pow(new_accum, -lr_power), _pow(accum, -lr_power)
        linear_t = linear + (g_lin - (new_p - old_p) / lr * var)
        x = l1 * sign(linear_t) - linear_t
        y = new_p / lr + 2 * l2
        var_t = where(_abs(linear_t) > l1, x / y, zeros_like(var))
        return [(linear, linear_t), (var, var_t), (accum, new_accum)]
