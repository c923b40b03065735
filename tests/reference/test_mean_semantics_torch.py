"""One meaning of "mean" and "weighted_mean": Loss, reduce with the ignore mask and the fused head equal torch.

torch's ``cross_entropy(reduction="mean")`` averages over the targets that
are not ``ignore_index``; with ``weight=w`` it divides by the sum of the
weights of those targets. ``Loss``, ``reduce`` given the mask and
``fused_linear_cross_entropy`` must give the same numbers (and gradients).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxloss

N, D, V = 12, 6, 7
RNG = np.random.default_rng(7)
HIDDEN = RNG.normal(size=(N, D)).astype(np.float32)
KERNEL = RNG.normal(size=(D, V)).astype(np.float32)
LOGITS = HIDDEN @ KERNEL
LABELS = RNG.integers(0, V, N)
LABELS[[1, 4, 9]] = -100
CLASS_WEIGHTS = (RNG.random(V) + 0.25).astype(np.float32)


def _torch(weight=None, label_smoothing=0.0):
    logits = torch.tensor(LOGITS, dtype=torch.float64, requires_grad=True)
    w = None if weight is None else torch.tensor(weight, dtype=torch.float64)
    out = torch.nn.functional.cross_entropy(
        logits, torch.tensor(LABELS), weight=w, ignore_index=-100, label_smoothing=label_smoothing, reduction="mean"
    )
    out.backward()
    return out.item(), logits.grad.numpy()


CASES = [
    # (our reduction, class weights, smoothing)
    ("mean", None, 0.0),
    ("weighted_mean", None, 0.0),
    ("weighted_mean", CLASS_WEIGHTS, 0.0),
    ("mean", None, 0.2),
    ("weighted_mean", CLASS_WEIGHTS, 0.2),
]


@pytest.mark.parametrize(("reduction", "class_weights", "smoothing"), CASES)
def test_loss_reduce_and_fused_equal_torch(reduction, class_weights, smoothing):
    want, want_grad = _torch(class_weights, smoothing)
    options = dict(ignore_index=-100, label_smoothing=smoothing, class_weights=class_weights)
    labels = jnp.asarray(LABELS)

    loss = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, reduction=reduction, **options)
    value, grad = jax.value_and_grad(lambda z: loss(z, labels))(jnp.asarray(LOGITS))
    np.testing.assert_allclose(value, want, rtol=1e-5)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-4, atol=1e-6)

    # reduce given the ignore mask: the class weights of the targets are the weights.
    per = jaxloss.sparse_softmax_cross_entropy(LOGITS, labels, ignore_index=-100, label_smoothing=smoothing)
    keep = labels != -100
    target_weight = None if class_weights is None else jnp.asarray(class_weights)[jnp.where(keep, labels, 0)]
    if class_weights is not None and smoothing == 0.0:
        got = jaxloss.reduce(per, target_weight, reduction=reduction, where=keep)
        np.testing.assert_allclose(got, want, rtol=1e-5)
    if class_weights is None:
        np.testing.assert_allclose(jaxloss.reduce(per, reduction=reduction, where=keep), want, rtol=1e-5)

    fused = lambda h, w: jaxloss.fused_linear_cross_entropy(h, w, labels, reduction=reduction, **options)
    value, (dh, dw) = jax.value_and_grad(fused, argnums=(0, 1))(jnp.asarray(HIDDEN), jnp.asarray(KERNEL))
    np.testing.assert_allclose(value, want, rtol=1e-5)
    np.testing.assert_allclose(dh, want_grad @ KERNEL.T, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(dw, HIDDEN.T @ want_grad, rtol=1e-4, atol=1e-6)


def test_the_issue_probe_mean_is_the_same_everywhere():
    # Before: with 2 of 8 tokens ignored, Loss gave sum/6 and the fused loss sum/8.
    rng = np.random.default_rng(0)
    h = rng.normal(size=(8, 4)).astype(np.float32)
    w = rng.normal(size=(4, 5)).astype(np.float32)
    y = rng.integers(0, 5, 8)
    y[[2, 5]] = -100
    loss = jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, ignore_index=-100)(h @ w, jnp.asarray(y))
    fused = jaxloss.fused_linear_cross_entropy(h, w, jnp.asarray(y), ignore_index=-100, reduction="mean")
    ref = torch.nn.functional.cross_entropy(torch.tensor(h @ w), torch.tensor(y), ignore_index=-100)
    np.testing.assert_allclose([loss, fused], [ref.item()] * 2, rtol=1e-5)
