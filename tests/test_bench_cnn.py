"""W9 (numgrad/bench_cnn.py) on a tiny problem: numgrad's loss against a NumPy forward pass
written with this directory's direct-loop convolution, the dense bias gradient in closed form,
and the peers (when installed) against numgrad."""
import numpy as np
import pytest

from numgrad import bench_cnn as bc
from test_conv_ops import conv_loops, pool_loops

TINY = dict(batch=3, size=6)


def _numpy_forward(p, x, labels):
    h = np.maximum(conv_loops(x, p["w1"], (1, 1), (1, 1), "SAME") + p["b1"], 0)
    h = np.maximum(conv_loops(h, p["w2"], (1, 1), (1, 1), "SAME") + p["b2"], 0)
    h = pool_loops(h, (2, 2), (2, 2), "VALID", "MAX")
    logits = h.reshape(len(x), -1) @ p["wd"] + p["bd"]
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return -np.mean(np.sum(labels * logp, -1)), np.exp(logp)


def test_loss_and_bias_gradient_match_numpy():
    params, x, labels = bc.problem(**TINY)
    out = bc.numgrad_call(params, x, labels)()
    assert len(out) == 1 + len(bc.ORDER)
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    loss, probs = _numpy_forward(p64, x.astype(np.float64), labels)
    np.testing.assert_allclose(out[0], loss, rtol=1e-5)
    np.testing.assert_allclose(out[-1], (probs - labels).mean(0), rtol=1e-4, atol=1e-6)
    for g, k in zip(out[1:], bc.ORDER):
        assert g.shape == params[k].shape


def test_run_table_without_peers():
    best = bc.run(**TINY, repeats=1, peers=(), out=lambda s: None)
    assert list(best) == ["numgrad"] and best["numgrad"] > 0


@pytest.mark.parametrize("peer", ["tf1", "jax", "torch"])
def test_peers_agree_with_numgrad(peer):
    pytest.importorskip({"tf1": "tensorflow", "jax": "jax", "torch": "torch"}[peer])
    params, x, labels = bc.problem(**TINY)
    results = {"numgrad": bc.numgrad_call(params, x, labels)(),
               peer: bc.PEERS[peer](params, x, labels)()}
    bc.check(results)
