"""W6's peers: the Burgers PINN of numgrad/bench_train.py in PyTorch, TF and JAX, two calls each.

``python -m numgrad.bench_w6`` (and the W6 section of ``python -m numgrad.bench``) time them
beside numgrad at 1 and 2 threads, each thread count in its own process
(numgrad/bench_w6.py).  This is the peer libraries' code, so, like bench_peers.py, it lives
with the benchmarks and not in the installed package; the libraries are imported inside
functions only, so importing this module never fails.

Every peer computes the same formulas from the same weights and data (bench_train.problem):
u(t, x) = MLP [2, 20 x 8, 1] with tanh, float32; u_t, u_x the derivatives of u w.r.t. the inputs
and u_xx the derivative of u_x w.r.t. x; f = u_t + u u_x - (0.01/pi) u_xx;
loss = mean((u - u_data)^2) + mean(f^2).  ``make(peer, weights, data)`` returns
``Calls(grads, train, to_numpy)``:

* ``grads()``: the loss and its gradients w.r.t. the 18 weights and biases (W0, b0, ... W8,
  b8: numgrad's order), computed (it blocks);
* ``train()``: one Adam step (lr 1e-3, betas 0.9 / 0.999, eps 1e-8) returning the loss before
  the update; the weights the two calls share change with each step;
* ``to_numpy(out)``: a call's outputs as NumPy arrays (the checks only; not timed).

Peers, in the order one process makes them (PyTorch before TensorFlow: made after TensorFlow
in one process, its first step crashed, SIGSEGV, torch 2.14 cpu beside tensorflow-cpu 2.21):

* ``"torch"``: PyTorch eager; ``torch.autograd.grad(..., create_graph=True)`` for u_t, u_x and
  u_xx; ``torch.optim.Adam``.
* ``"torch.compile"``: the eager formulation under ``torch.compile(fullgraph=True)`` with
  ``torch._dynamo.config.trace_autograd_ops = True``, the option Dynamo's error names for
  ``torch.autograd.grad``, the loss returned detached and the weights handed back as leaves
  (each as Dynamo's next error asks; without them the default with graph breaks, compiled
  autograd and fullgraph alone all fail on the double backward, docs/benchmarks.md quotes
  how); Adam written out in the compiled step.
* ``"torch.compile-func"``: the formulation written for ``torch.func`` (``vmap`` of ``grad`` of
  the network at one point, ``grad_and_value`` over the weights), Adam written out in the same
  compiled function.
* ``"tf1"``: TF's ``tf.compat.v1`` graph mode: the graph bench_train.build_numgrad builds,
  ``tf.compat.v1.gradients``, ``AdamOptimizer``, ``Session.run``.
* ``"tf-xla"``: TF 2 ``tf.function(jit_compile=True)``, nested ``GradientTape``, Adam written out
  on ``tf.Variable``s.
* ``"jax"``: ``jax.jit`` of ``value_and_grad`` (``vmap`` of ``grad`` of the network at one point),
  Adam written out.

``limit_threads(n, peers)`` sets each library to n threads before it starts (see there);
numgrad/bench_w6.py checks that it held by each system's CPU time over wall time.
"""
import collections
import importlib
import importlib.util
import os
import sys

import numpy as np

from numgrad import bench_train as bt

PEERS = ("torch", "torch.compile", "torch.compile-func", "tf1", "tf-xla", "jax")
PACKAGE = {"torch": "torch", "torch.compile": "torch", "torch.compile-func": "torch",
           "tf1": "tensorflow", "tf-xla": "tensorflow", "jax": "jax"}
BATCH = ("t_u", "x_u", "u", "t_f", "x_f")

Calls = collections.namedtuple("Calls", "grads train to_numpy")


def available_peers():
    """The peers whose package is installed here (found, not imported), in PEERS order."""
    return [p for p in PEERS if importlib.util.find_spec(PACKAGE[p]) is not None]


def limit_threads(n, peers):
    """Set the libraries `peers` use to `n` threads, each before it starts; returns what is set.
    PyTorch: intra- and inter-op threads, here; TensorFlow: intra- and inter-op parallelism
    when its first peer is made (``_tensorflow``; the Session's ConfigProto too, in _tf1): it
    must not even be imported before PyTorch has run (see above: torch's lazy imports of
    triton then crash); JAX: XLA_FLAGS (no Eigen thread pool at one thread), set when its peer
    is made, after TensorFlow's XLA has read its own flags."""
    _THREADS["n"] = n
    done = {"tensorflow": f"intra-op and inter-op {n}", "jax": _xla_flags(n)}
    if "torch" in {PACKAGE[p] for p in peers}:
        torch = importlib.import_module("torch")
        torch.set_num_threads(n)
        torch.set_num_interop_threads(n)
        done["torch"] = (torch.get_num_threads(), torch.get_num_interop_threads())
    return {PACKAGE[p]: done[PACKAGE[p]] for p in peers}


_THREADS = {"n": None}


def _xla_flags(n):
    flags = f"intra_op_parallelism_threads={n}"
    return "--xla_cpu_multi_thread_eigen=false " + flags if n == 1 else flags


def _tensorflow():
    """TensorFlow, its threads set to limit_threads' count on first use."""
    fresh = "tensorflow" not in sys.modules
    tf = importlib.import_module("tensorflow")
    if fresh and _THREADS["n"]:
        tf.config.threading.set_intra_op_parallelism_threads(_THREADS["n"])
        tf.config.threading.set_inter_op_parallelism_threads(_THREADS["n"])
    return tf


def _import_jax():
    if "jax" not in sys.modules and _THREADS["n"]:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " "
                                   + _xla_flags(_THREADS["n"])).strip()
    return importlib.import_module("jax")


def _adam(p, m, v, g, lr_t):
    """One Adam update written out: (p, m, v) after gradient g (any array namespace)."""
    m = bt.BETA1 * m + (1 - bt.BETA1) * g
    v = bt.BETA2 * v + (1 - bt.BETA2) * g * g
    return p - lr_t * m / ((v ** 0.5) + bt.EPS), m, v


# --- PyTorch ------------------------------------------------------------------------------------
def _torch_setup(weights, data):
    torch = importlib.import_module("torch")
    params = [torch.tensor(a, requires_grad=True) for pair in weights for a in pair]
    batch = {k: torch.tensor(v) for k, v in data.items()}
    return torch, params, batch


def _torch_net(torch, params, t, x):
    h = torch.cat([t, x], 1)
    for i in range(0, len(params) - 2, 2):
        h = torch.tanh(h @ params[i] + params[i + 1])
    return h @ params[-2] + params[-1]


def _torch_loss(torch, params, batch, t, x):
    """The loss, with u_t, u_x and u_xx by torch.autograd.grad of the collocation inputs t, x
    (tensors that require grad)."""
    u = _torch_net(torch, params, t, x)
    u_t, u_x = torch.autograd.grad(u.sum(), [t, x], create_graph=True)
    u_xx = torch.autograd.grad(u_x.sum(), x, create_graph=True)[0]
    f = u_t + u * u_x - bt.NU * u_xx
    u_pred = _torch_net(torch, params, batch["t_u"], batch["x_u"])
    return torch.mean((batch["u"] - u_pred) ** 2) + torch.mean(f ** 2)


def _torch_numpy(out):
    return [o.detach().numpy() for o in out]


def _torch(weights, data):
    torch, params, batch = _torch_setup(weights, data)

    def loss_fn():
        t = batch["t_f"].clone().requires_grad_(True)
        x = batch["x_f"].clone().requires_grad_(True)
        return _torch_loss(torch, params, batch, t, x)

    opt = torch.optim.Adam(params, lr=bt.LR, betas=(bt.BETA1, bt.BETA2), eps=bt.EPS)

    def train():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        return loss.detach()

    def grads():
        loss = loss_fn()
        return [loss.detach()] + list(torch.autograd.grad(loss, params))
    return Calls(grads, train, _torch_numpy)


def _torch_adam_state(torch, params):
    return ([torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params],
            torch.tensor(0.0))


def _torch_adam_step(torch, params, ms, vs, count, grads):
    count = count + 1
    lr_t = bt.LR * torch.sqrt(1 - bt.BETA2 ** count) / (1 - bt.BETA1 ** count)
    new = [_adam(p, m, v, g, lr_t) for p, m, v, g in zip(params, ms, vs, grads)]
    return [n[0] for n in new], [n[1] for n in new], [n[2] for n in new], count


def _torch_compiled(grads_of, params, torch):
    """Calls of `grads_of(params) -> (loss, grads)` and of an Adam step around it, each
    compiled whole (fullgraph=True); the step's state is carried from call to call."""
    def grads_fn(ps):
        loss, g = grads_of(ps)
        return [loss] + list(g)

    def step_fn(ps, ms, vs, count):
        loss, g = grads_of(ps)
        return _torch_adam_step(torch, ps, ms, vs, count, g) + (loss,)

    cgrads = torch.compile(grads_fn, fullgraph=True, dynamic=False)
    cstep = torch.compile(step_fn, fullgraph=True, dynamic=False)
    state = [params, *_torch_adam_state(torch, params)]

    leaves = params[0].requires_grad

    def train():
        out = cstep(*state)
        # the new weights as leaves again (out of the compiled step they carry its grad_fn,
        # which torch.autograd.grad in the next compiled call cannot trace through)
        state[:] = [[p.detach().requires_grad_(leaves) for p in out[0]], *out[1:4]]
        return out[4].detach()
    return Calls(lambda: cgrads(state[0]), train, _torch_numpy)


def _torch_compile(weights, data):
    """The eager formulation compiled: torch.autograd.grad traced (trace_autograd_ops)."""
    torch, params, batch = _torch_setup(weights, data)
    torch._dynamo.reset()
    torch._dynamo.config.trace_autograd_ops = True
    t = batch["t_f"].clone().requires_grad_(True)
    x = batch["x_f"].clone().requires_grad_(True)

    def grads_of(ps):
        loss = _torch_loss(torch, ps, batch, t, x)
        # detached, as Dynamo's error asks: returned, it would need the graph autograd.grad
        # consumes
        return loss.detach(), torch.autograd.grad(loss, ps)
    return _torch_compiled(grads_of, params, torch)


def _torch_compile_func(weights, data):
    """torch.func: the network at one point, its input derivatives by grad, batched by vmap."""
    torch, params, batch = _torch_setup(weights, data)
    torch._dynamo.reset()
    from torch.func import grad, grad_and_value, vmap

    def u_at(ps, t, x):
        h = torch.stack([t, x])[None]
        for i in range(0, len(ps) - 2, 2):
            h = torch.tanh(h @ ps[i] + ps[i + 1])
        return (h @ ps[-2] + ps[-1])[0, 0]

    du = grad(u_at, argnums=(1, 2))
    d2 = grad(grad(u_at, argnums=2), argnums=2)

    def residual(ps, t, x):
        u_t, u_x = du(ps, t, x)
        return u_t + u_at(ps, t, x) * u_x - bt.NU * d2(ps, t, x)

    def loss_fn(ps):
        u_pred = vmap(u_at, (None, 0, 0))(ps, batch["t_u"][:, 0], batch["x_u"][:, 0])
        f = vmap(residual, (None, 0, 0))(ps, batch["t_f"][:, 0], batch["x_f"][:, 0])
        return torch.mean((batch["u"][:, 0] - u_pred) ** 2) + torch.mean(f ** 2)

    gv = grad_and_value(loss_fn)

    def grads_of(ps):
        g, loss = gv(ps)
        return loss, g
    return _torch_compiled(grads_of, [p.detach() for p in params], torch)


# --- TensorFlow ---------------------------------------------------------------------------------
def _tf_numpy(out):
    return [np.asarray(o) for o in out]


def _tf1(weights, data):
    tf = _tensorflow()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        loss, variables, ph = bt.build_numgrad(bt._TFNamespace(v1), weights)
        grads = v1.gradients(loss, variables)
        train = v1.train.AdamOptimizer(bt.LR, bt.BETA1, bt.BETA2, bt.EPS).minimize(loss)
        n = _THREADS["n"] or 0                  # 0: TF's default
        config = v1.ConfigProto(intra_op_parallelism_threads=n, inter_op_parallelism_threads=n)
        sess = v1.Session(graph=graph, config=config)
        sess.run(v1.global_variables_initializer())
    feed = {ph[k]: data[k] for k in ph}
    fetch_grads = [loss] + grads
    return Calls(lambda: sess.run(fetch_grads, feed),
                 lambda: sess.run([train, loss], feed)[1], _tf_numpy)


def _tf_xla(weights, data):
    tf = _tensorflow()
    params = [tf.Variable(a) for pair in weights for a in pair]
    ms = [tf.Variable(tf.zeros_like(p)) for p in params]
    vs = [tf.Variable(tf.zeros_like(p)) for p in params]
    count = tf.Variable(0.0)
    batch = {k: tf.constant(v) for k, v in data.items()}

    def net(t, x):
        h = tf.concat([t, x], 1)
        for i in range(0, len(params) - 2, 2):
            h = tf.tanh(h @ params[i] + params[i + 1])
        return h @ params[-2] + params[-1]

    def loss_fn():
        t, x = batch["t_f"], batch["x_f"]
        with tf.GradientTape() as g2:
            g2.watch(x)
            with tf.GradientTape(persistent=True) as g1:
                g1.watch([t, x])
                u = net(t, x)
            u_t, u_x = g1.gradient(u, [t, x])
        u_xx = g2.gradient(u_x, x)
        f = u_t + u * u_x - bt.NU * u_xx
        u_pred = net(batch["t_u"], batch["x_u"])
        return tf.reduce_mean(tf.square(batch["u"] - u_pred)) + tf.reduce_mean(tf.square(f))

    def grads_fn():
        with tf.GradientTape() as tape:
            loss = loss_fn()
        return [loss] + tape.gradient(loss, params)

    def step_fn():
        with tf.GradientTape() as tape:
            loss = loss_fn()
        g = tape.gradient(loss, params)
        count.assign_add(1.0)
        lr_t = bt.LR * tf.sqrt(1 - bt.BETA2 ** count) / (1 - bt.BETA1 ** count)
        for p, m, v, gi in zip(params, ms, vs, g):
            p_new, m_new, v_new = _adam(p, m, v, gi, lr_t)
            m.assign(m_new)
            v.assign(v_new)
            p.assign(p_new)
        return loss

    cgrads = tf.function(grads_fn, jit_compile=True)
    cstep = tf.function(step_fn, jit_compile=True)
    return Calls(cgrads, cstep, _tf_numpy)


# --- JAX ----------------------------------------------------------------------------------------
def _jax(weights, data):
    jax = _import_jax()
    jnp = jax.numpy

    def u_at(params, t, x):
        h = jnp.stack([t, x])[None, :]
        for i in range(0, len(params) - 2, 2):
            h = jnp.tanh(h @ params[i] + params[i + 1])
        return (h @ params[-2] + params[-1])[0, 0]

    du = jax.grad(u_at, argnums=(1, 2))
    d2 = jax.grad(jax.grad(u_at, argnums=2), argnums=2)

    def loss_fn(params, t_u, x_u, u, t_f, x_f):
        u_pred = jax.vmap(u_at, (None, 0, 0))(params, t_u[:, 0], x_u[:, 0])

        def residual(t, x):
            u_t, u_x = du(params, t, x)
            return u_t + u_at(params, t, x) * u_x - bt.NU * d2(params, t, x)
        f = jax.vmap(residual)(t_f[:, 0], x_f[:, 0])
        return jnp.mean((u[:, 0] - u_pred) ** 2) + jnp.mean(f ** 2)

    value_and_grad = jax.value_and_grad(loss_fn)

    @jax.jit
    def grads_fn(params, batch):
        loss, g = value_and_grad(params, *batch)
        return [loss] + list(g)

    @jax.jit
    def step(params, ms, vs, count, batch):
        loss, g = value_and_grad(params, *batch)
        count = count + 1
        lr_t = bt.LR * jnp.sqrt(1 - bt.BETA2 ** count) / (1 - bt.BETA1 ** count)
        new = [_adam(p, m, v, gi, lr_t) for p, m, v, gi in zip(params, ms, vs, g)]
        return [n[0] for n in new], [n[1] for n in new], [n[2] for n in new], count, loss

    params = [jnp.asarray(a) for pair in weights for a in pair]
    zeros = [jnp.zeros_like(p) for p in params]
    batch = tuple(jnp.asarray(data[k]) for k in BATCH)
    state = [params, zeros, zeros, jnp.float32(0.0)]

    def train():
        out = step(*state, batch)
        state[:] = out[:4]
        return out[4].block_until_ready()
    return Calls(lambda: jax.block_until_ready(grads_fn(state[0], batch)), train, _tf_numpy)


_MAKERS = {"torch": _torch, "torch.compile": _torch_compile,
           "torch.compile-func": _torch_compile_func, "tf1": _tf1, "tf-xla": _tf_xla,
           "jax": _jax}


def make(peer, weights, data):
    """The Calls of `peer` on W6 with these initial weights and data."""
    if peer not in _MAKERS:
        raise ValueError(f"unknown W6 peer {peer!r}; known: {PEERS}")
    return _MAKERS[peer](weights, data)


def versions(peers):
    """{package: version} of the packages `peers` use (imported already)."""
    out = {}
    for p in peers:
        mod = importlib.import_module(PACKAGE[p])
        out[PACKAGE[p]] = getattr(mod, "__version__", "?")
    return out
