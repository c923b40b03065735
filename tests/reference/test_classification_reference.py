"""The classification losses against torch, optax, Keras 3 and TensorFlow.

Values (and, for torch, gradients) on random and edge inputs, float32,
relative tolerance 1e-6 unless a comment says why. Then each documented
failure of another library, asserting both its failure and our behaviour, so
that the test fails if either changes.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F
from jax.experimental import checkify

import jaxloss
from tests.helpers import EXTREME_LOGITS, assert_all_finite

B, C = 6, 5
RTOL = 1e-6
# A softmax cross-entropy near 0 is logsumexp(z) - z_y, a difference of
# numbers the size of the logits: its absolute rounding error is ~1e-7 * |z|
# whichever library computes it, and each rounds differently. Values far
# from 0 are held to RTOL.
CE_ATOL = 1e-6


def _rng(seed):
    return np.random.default_rng(seed)


def _logits(rng, shape, scale=3.0):
    return (rng.normal(size=shape) * scale).astype(np.float32)


def _soft(rng, shape):
    y = rng.random(shape) + 0.05
    return (y / y.sum(-1, keepdims=True)).astype(np.float32)


def _t(x):
    return torch.from_numpy(np.ascontiguousarray(x))


def _edge_rows():
    """Logit rows at every magnitude (pairs from EXTREME_LOGITS, last logit 0)."""
    a, b = np.meshgrid(EXTREME_LOGITS, EXTREME_LOGITS, indexing="ij")
    return np.stack([a.ravel(), b.ravel(), np.zeros(a.size, np.float32)], -1).astype(np.float32)


def _assert_close(actual, desired, rtol, atol, msg=""):
    """assert_allclose with an elementwise ``atol`` array."""
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    bad = ~(np.abs(actual - desired) <= atol + rtol * np.abs(desired))
    assert not np.any(bad), f"{msg}: {actual[bad]} != {desired[bad]}"


def _np_weighted_bce(z, y, q=None):
    z, y = np.float64(z), np.float64(y)
    q = 1.0 if q is None else np.float64(q)
    return q * y * np.logaddexp(0.0, -z) + (1 - y) * np.logaddexp(0.0, z)


# --------------------------------------------------------------------------
# torch
# --------------------------------------------------------------------------


TORCH_SPARSE_OPTIONS = [
    {},
    {"weight": True},
    {"ignore_index": -100},
    {"ignore_index": 2},
    {"label_smoothing": 0.15},
    {"weight": True, "ignore_index": -100, "label_smoothing": 0.3},
]


@pytest.mark.parametrize("opts", TORCH_SPARSE_OPTIONS, ids=lambda o: "-".join(o) or "plain")
def test_sparse_matches_torch_cross_entropy_values_and_grads(opts):
    rng = _rng(0)
    z = _logits(rng, (B, C))
    labels = rng.integers(0, C, B)
    ignore = opts.get("ignore_index")
    if ignore is not None:
        labels[[1, 4]] = ignore
    w = np.linspace(0.5, 2.0, C).astype(np.float32) if opts.get("weight") else None
    smoothing = opts.get("label_smoothing", 0.0)

    zt = _t(z).requires_grad_(True)
    torch_kw = {"reduction": "none", "label_smoothing": smoothing}
    if w is not None:
        torch_kw["weight"] = _t(w)
    if ignore is not None:
        torch_kw["ignore_index"] = ignore
    ref = F.cross_entropy(zt, _t(labels).long(), **torch_kw)
    ref.sum().backward()

    f = functools.partial(
        jaxloss.sparse_softmax_cross_entropy,
        labels=labels,
        class_weights=w,
        ignore_index=ignore,
        label_smoothing=smoothing,
    )
    out = f(z)
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=RTOL, atol=CE_ATOL)
    g = jax.grad(lambda a: jnp.sum(f(a)))(z)
    np.testing.assert_allclose(g, zt.grad.numpy(), rtol=1e-5, atol=1e-7)
    # On a class axis that is not last (torch's [N, C, d] layout).
    z3 = _logits(rng, (2, C, 3))
    l3 = rng.integers(0, C, (2, 3))
    ref3 = F.cross_entropy(_t(z3), _t(l3).long(), **torch_kw).numpy()
    out3 = jaxloss.sparse_softmax_cross_entropy(
        z3, l3, axis=1, class_weights=w, ignore_index=ignore, label_smoothing=smoothing
    )
    np.testing.assert_allclose(out3, ref3, rtol=RTOL, atol=CE_ATOL)


def test_sparse_matches_torch_at_edge_logits():
    z = _edge_rows()
    labels = np.arange(len(z)) % 3
    w = np.array([0.5, 1.0, 2.0], np.float32)
    zt = _t(z).requires_grad_(True)
    ref = F.cross_entropy(zt, _t(labels).long(), weight=_t(w), label_smoothing=0.1, reduction="none")
    ref.sum().backward()
    f = lambda a: jaxloss.sparse_softmax_cross_entropy(a, labels, class_weights=w, label_smoothing=0.1)
    out = f(z)
    assert_all_finite(out)
    # Values up to 2e30: RTOL; small values differ by rounding of logits ~1e4.
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=RTOL, atol=1e-3)
    g = jax.grad(lambda a: jnp.sum(f(a)))(z)
    np.testing.assert_allclose(g, zt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_dense_matches_torch_probability_targets(smoothing):
    rng = _rng(1)
    z, y = _logits(rng, (B, C)), _soft(rng, (B, C))
    zt = _t(z).requires_grad_(True)
    ref = F.cross_entropy(zt, _t(y), label_smoothing=smoothing, reduction="none")
    ref.sum().backward()
    out = jaxloss.softmax_cross_entropy(z, y, label_smoothing=smoothing)
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=RTOL, atol=CE_ATOL)
    g = jax.grad(lambda a: jnp.sum(jaxloss.softmax_cross_entropy(a, y, label_smoothing=smoothing)))(z)
    np.testing.assert_allclose(g, zt.grad.numpy(), rtol=1e-5, atol=1e-7)
    # Probability targets with per-class weights: weak_cross_entropy_2d with
    # epsilon 0 is -sum(w * y * log_softmax(z)), torch's weighted form.
    w = np.linspace(0.5, 2.0, C).astype(np.float32)
    ref_w = F.cross_entropy(_t(z), _t(y), weight=_t(w), reduction="none").numpy()
    np.testing.assert_allclose(
        jaxloss.weak_cross_entropy_2d(z, y, epsilon=0.0, class_weights=w), ref_w, rtol=RTOL, atol=CE_ATOL
    )


@pytest.mark.parametrize("pos_weight", [None, 3.0, "per_class"])
def test_sigmoid_matches_torch_bce_with_logits(pos_weight):
    rng = _rng(2)
    z = np.concatenate([_logits(rng, (B, C)), np.tile(EXTREME_LOGITS[:, None], (1, C))], 0)
    y = rng.random(z.shape).astype(np.float32)
    y[:3] = rng.integers(0, 2, (3, C))
    if pos_weight == "per_class":
        pw = rng.uniform(0.5, 3.0, C).astype(np.float32)
    elif pos_weight is None:
        pw = None
    else:
        pw = np.float32(pos_weight)
    zt = _t(z).requires_grad_(True)
    ref = F.binary_cross_entropy_with_logits(
        zt, _t(y), pos_weight=None if pw is None else torch.tensor(pw), reduction="none"
    )
    ref.sum().backward()
    f = lambda a: jaxloss.sigmoid_binary_cross_entropy(a, y, pos_weight=pw)
    out = f(z)
    assert_all_finite(out)
    # torch computes (1 - y) z + (1 + (q - 1) y) softplus(-z), whose two terms
    # cancel for large |z|: its absolute error is ~eps * |z| (seen: 1.7e-6
    # relative at z = -1e30, y = 0.07). Ours is held to the float64 formula.
    _assert_close(out, ref.detach().numpy(), RTOL, 1e-6 + 2.4e-7 * np.abs(z))
    np.testing.assert_allclose(out, _np_weighted_bce(z, y, pw), rtol=RTOL, atol=1e-7)
    g = jax.grad(lambda a: jnp.sum(f(a)))(z)
    np.testing.assert_allclose(g, zt.grad.numpy(), rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------
# optax
# --------------------------------------------------------------------------


def test_matches_optax_softmax_cross_entropies():
    rng = _rng(3)
    z, y = _logits(rng, (B, C)), _soft(rng, (B, C))
    labels = rng.integers(0, C, B)
    np.testing.assert_allclose(
        jaxloss.softmax_cross_entropy(z, y), optax.softmax_cross_entropy(z, y), rtol=RTOL, atol=CE_ATOL
    )
    np.testing.assert_allclose(
        jaxloss.sparse_softmax_cross_entropy(z, labels),
        optax.softmax_cross_entropy_with_integer_labels(z, labels),
        rtol=RTOL,
        atol=CE_ATOL,
    )
    # Another axis and a mask (no -inf, so optax is defined there).
    z3, y3 = _logits(rng, (2, C, 3)), _soft(rng, (2, 3, C)).transpose(0, 2, 1)
    np.testing.assert_allclose(
        jaxloss.softmax_cross_entropy(z3, y3, axis=1),
        optax.softmax_cross_entropy(z3, y3, axis=1),
        rtol=RTOL,
        atol=CE_ATOL,
    )
    mask = rng.random((B, C)) > 0.3
    mask[:, 0] = True
    ym = np.where(mask, y, 0.0).astype(np.float32)
    np.testing.assert_allclose(
        jaxloss.softmax_cross_entropy(z, ym, where=mask),
        optax.softmax_cross_entropy(z, ym, where=mask),
        rtol=RTOL,
        atol=CE_ATOL,
    )
    lm = np.zeros(B, int)  # class 0 is never masked
    np.testing.assert_allclose(
        jaxloss.sparse_softmax_cross_entropy(z, lm, where=mask),
        optax.softmax_cross_entropy_with_integer_labels(z, lm, where=mask),
        rtol=RTOL,
        atol=CE_ATOL,
    )
    # Edge logits.
    ze = _edge_rows()
    le = np.arange(len(ze)) % 3
    np.testing.assert_allclose(
        jaxloss.sparse_softmax_cross_entropy(ze, le),
        optax.softmax_cross_entropy_with_integer_labels(ze, le),
        rtol=RTOL,
        atol=1e-3,
    )
    ye = np.eye(3, dtype=np.float32)[le]
    np.testing.assert_allclose(
        jaxloss.softmax_cross_entropy(ze, ye), optax.softmax_cross_entropy(ze, ye), rtol=RTOL, atol=1e-3
    )


def test_matches_optax_sigmoid_losses():
    rng = _rng(4)
    z = np.concatenate([_logits(rng, (B, C)), np.tile(EXTREME_LOGITS[:, None], (1, C))], 0)
    y = rng.random(z.shape).astype(np.float32)
    y[::2] = np.round(y[::2])
    np.testing.assert_allclose(
        jaxloss.sigmoid_binary_cross_entropy(z, y), optax.sigmoid_binary_cross_entropy(z, y), rtol=RTOL, atol=1e-7
    )
    for kw in ({}, {"alpha": 0.25}, {"alpha": 0.6, "gamma": 0.5}, {"gamma": 0.0}, {"gamma": 3.0}):
        ours = jaxloss.sigmoid_focal_loss(z, y, **kw)
        ref = optax.sigmoid_focal_loss(z, y, **kw)
        assert_all_finite(ours)
        # optax takes log(1 - p_t) as a logsumexp with weights b = (1 - y, y);
        # ours drops the zero-weight terms first: same value, other rounding.
        np.testing.assert_allclose(ours, ref, rtol=2e-6, atol=1e-7, err_msg=str(kw))
        g = jax.grad(lambda a, kw=kw: jnp.sum(jaxloss.sigmoid_focal_loss(a, y[:B], **kw)))(z[:B])
        g_ref = jax.grad(lambda a, kw=kw: jnp.sum(optax.sigmoid_focal_loss(a, y[:B], **kw)))(z[:B])
        np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-7, err_msg=str(kw))


@pytest.mark.parametrize("epsilon", [2.0, 1.0, -0.5])
def test_matches_optax_poly_loss(epsilon):
    rng = _rng(5)
    z, y = _logits(rng, (B, C)), _soft(rng, (B, C))
    np.testing.assert_allclose(
        jaxloss.poly1_cross_entropy(z, y, epsilon=epsilon),
        optax.losses.poly_loss_cross_entropy(z, y, epsilon=epsilon),
        rtol=RTOL,
        atol=CE_ATOL,
    )
    oh = np.eye(C, dtype=np.float32)[rng.integers(0, C, B)]
    np.testing.assert_allclose(
        jaxloss.poly1_cross_entropy(z, oh, epsilon=epsilon),
        optax.losses.poly_loss_cross_entropy(z, oh, epsilon=epsilon),
        rtol=RTOL,
        atol=CE_ATOL,
    )


# --------------------------------------------------------------------------
# Keras 3 (JAX backend) and TensorFlow
# --------------------------------------------------------------------------


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_matches_keras_binary_crossentropy(smoothing):
    rng = _rng(6)
    z = _logits(rng, (B, C))
    y = rng.random((B, C)).astype(np.float32)
    y[0] = np.round(y[0])
    # Keras's function is the mean over the last axis of the elementwise loss.
    ref = keras.losses.binary_crossentropy(y, z, from_logits=True, label_smoothing=smoothing)
    ours = jnp.mean(jaxloss.sigmoid_binary_cross_entropy(z, y, label_smoothing=smoothing), -1)
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=1e-7)
    p = np.array(jax.nn.sigmoid(z))
    p[1, :3] = [0.0, 1.0, 0.5]
    ref = keras.losses.binary_crossentropy(y, p, from_logits=False, label_smoothing=smoothing)
    ours = jnp.mean(jaxloss.binary_cross_entropy(p, y, label_smoothing=smoothing), -1)
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=1e-7)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_matches_keras_categorical_crossentropy(smoothing):
    rng = _rng(7)
    z, y = _logits(rng, (B, C)), _soft(rng, (B, C))
    y[0] = np.eye(C)[2]
    ref = keras.losses.categorical_crossentropy(y, z, from_logits=True, label_smoothing=smoothing)
    np.testing.assert_allclose(
        jaxloss.softmax_cross_entropy(z, y, label_smoothing=smoothing), ref, rtol=RTOL, atol=CE_ATOL
    )
    p = np.array(jax.nn.softmax(z, -1)) * 1.7  # unnormalised: both renormalise
    p[1] = [0.0, 1.0, 0.0, 0.0, 0.0]
    p[2, 2:] = 0.0
    ref = keras.losses.categorical_crossentropy(y, p, from_logits=False, label_smoothing=smoothing)
    np.testing.assert_allclose(
        jaxloss.categorical_cross_entropy(p, y, label_smoothing=smoothing), ref, rtol=RTOL, atol=1e-7
    )
    # The class axis elsewhere. (Keras's label smoothing divides by the size of
    # the last axis whatever `axis` is, so compare without smoothing there.)
    ref = keras.losses.categorical_crossentropy(y.T, p.T, axis=0)
    np.testing.assert_allclose(jaxloss.categorical_cross_entropy(p.T, y.T, axis=0), ref, rtol=RTOL, atol=1e-7)


def test_matches_keras_sparse_categorical_crossentropy():
    rng = _rng(8)
    z = _logits(rng, (B, C))
    labels = rng.integers(0, C, B)
    ref = keras.losses.sparse_categorical_crossentropy(labels, z, from_logits=True)
    np.testing.assert_allclose(jaxloss.sparse_softmax_cross_entropy(z, labels), ref, rtol=RTOL, atol=CE_ATOL)
    # From probabilities: Keras clips then takes the log; our categorical
    # cross-entropy on the one-hot labels is the same computation.
    p = np.array(jax.nn.softmax(z, -1))
    p[0] = np.eye(C)[(labels[0] + 1) % C]  # the label's probability is exactly 0
    ref = keras.losses.sparse_categorical_crossentropy(labels, p, from_logits=False)
    ours = jaxloss.categorical_cross_entropy(p, np.eye(C, dtype=np.float32)[labels])
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=1e-7)
    # ignore_class is Keras's ignore_index.
    labels_ig = labels.copy()
    labels_ig[[2, 3]] = -1
    ref = keras.losses.sparse_categorical_crossentropy(labels_ig, z, from_logits=True, ignore_class=-1)
    np.testing.assert_allclose(
        jaxloss.sparse_softmax_cross_entropy(z, labels_ig, ignore_index=-1), ref, rtol=RTOL, atol=CE_ATOL
    )


def test_matches_tensorflow_sigmoid_cross_entropies():
    rng = _rng(9)
    z = np.concatenate([_logits(rng, (B, C)), np.tile(EXTREME_LOGITS[:, None], (1, C))], 0)
    y = rng.random(z.shape).astype(np.float32)
    y[::3] = np.round(y[::3])
    # TF computes max(z, 0) - z y + log1p(exp(-|z|)) and, with pos_weight,
    # (1 - y) z + (1 + (q - 1) y) softplus(-z): terms that cancel for large
    # |z|, so its absolute error is ~eps * |z| (seen: 1e-5 relative at
    # z = -30, q = 0.3). Ours is also held to the float64 formula.
    tf_atol = 1e-6 + 2.4e-7 * np.abs(z)
    ref = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z).numpy()
    ours = jaxloss.sigmoid_binary_cross_entropy(z, y)
    _assert_close(ours, ref, RTOL, tf_atol)
    np.testing.assert_allclose(ours, _np_weighted_bce(z, y), rtol=RTOL, atol=1e-7)
    for q in (0.3, 1.0, 4.0):
        ref = tf.nn.weighted_cross_entropy_with_logits(labels=y, logits=z, pos_weight=q).numpy()
        ours = jaxloss.sigmoid_binary_cross_entropy(z, y, pos_weight=q)
        _assert_close(ours, ref, RTOL, tf_atol * max(q, 1.0), f"pos_weight={q}")
        np.testing.assert_allclose(ours, _np_weighted_bce(z, y, q), rtol=RTOL, atol=1e-7, err_msg=f"pos_weight={q}")


# --------------------------------------------------------------------------
# documented failures of the other libraries
# --------------------------------------------------------------------------


def test_a_optax_nan_for_minus_inf_logit_with_zero_label_mass():
    z = np.array([[2.0, -np.inf, 0.5], [-np.inf, 1.0, 3.0]], np.float32)
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.4, 0.6]], np.float32)
    # optax: 0 * log_softmax(-inf) = 0 * -inf = nan.
    assert np.all(np.isnan(np.asarray(optax.softmax_cross_entropy(z, y))))
    # Ours: the finite value of the classes that remain, and a finite gradient
    # that is 0 on the -inf class.
    out = jaxloss.softmax_cross_entropy(z, y)
    assert_all_finite(out)
    finite = np.isfinite(z)
    expected = [optax.softmax_cross_entropy(z[i, finite[i]], y[i, finite[i]]) for i in range(2)]
    np.testing.assert_allclose(out, expected, rtol=RTOL)
    g = jax.grad(lambda a: jnp.sum(jaxloss.softmax_cross_entropy(a, y)))(z)
    assert_all_finite(g, "gradient")
    np.testing.assert_array_equal(np.asarray(g)[~finite], 0.0)
    g_sub = jax.grad(lambda a: optax.softmax_cross_entropy(a, y[0, finite[0]]))(z[0, finite[0]])
    np.testing.assert_allclose(np.asarray(g)[0, finite[0]], g_sub, rtol=1e-6)


def test_b_keras_zero_gradient_at_probabilities_zero_and_one():
    p = np.array([[0.0, 1.0, 0.0, 1.0]], np.float32)
    y = np.array([[1.0, 1.0, 0.0, 0.0]], np.float32)
    # Keras's binary_crossentropy is the mean over the last axis.
    g_keras = jax.grad(lambda a: jnp.sum(keras.losses.binary_crossentropy(y, a)))(p)
    np.testing.assert_array_equal(g_keras, 0.0)
    ours = lambda a: jnp.sum(jnp.mean(jaxloss.binary_cross_entropy(a, y), -1))
    np.testing.assert_allclose(ours(p), jnp.sum(keras.losses.binary_crossentropy(y, p)), rtol=RTOL)
    g = np.asarray(jax.grad(ours)(p))
    assert_all_finite(g, "gradient")
    assert np.all(g != 0.0)
    # Label 1 pulls the probability up (negative gradient), label 0 down.
    np.testing.assert_array_equal(np.sign(g), [[-1.0, -1.0, 1.0, 1.0]])

    pc = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], np.float32)
    yc = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], np.float32)
    g_keras = jax.grad(lambda a: jnp.sum(keras.losses.categorical_crossentropy(yc, a)))(pc)
    np.testing.assert_array_equal(g_keras, 0.0)
    np.testing.assert_allclose(
        jaxloss.categorical_cross_entropy(pc, yc), keras.losses.categorical_crossentropy(yc, pc), rtol=RTOL
    )
    g = np.asarray(jax.grad(lambda a: jnp.sum(jaxloss.categorical_cross_entropy(a, yc)))(pc))
    assert_all_finite(g, "gradient")
    # Row 0: the label's class at probability 0 is pulled up.
    assert g[0, 0] < 0
    # Row 1 is already right: p_0 = 1 cannot grow after renormalisation (its
    # own derivative is 0), but the wrong classes are pushed down.
    assert np.all(g[1, 1:] > 0)


def _bf16_case(num_classes, rows=4, seed=10):
    rng = _rng(seed)
    z = jnp.asarray(rng.normal(size=(rows, num_classes)) * 2.0, jnp.bfloat16)
    labels = jnp.asarray(rng.integers(0, num_classes, rows))
    # The exact loss of the same bfloat16 inputs, in float64.
    z64 = np.asarray(z.astype(jnp.float32), np.float64)
    m = z64.max(-1, keepdims=True)
    log_p = (z64 - m) - np.log(np.exp(z64 - m).sum(-1, keepdims=True))
    ref = -np.take_along_axis(log_p, np.asarray(labels)[:, None], -1)[:, 0]
    return z, labels, ref


def _rel_err(out, ref):
    return float(np.max(np.abs(np.asarray(out, np.float64) - ref) / np.abs(ref)))


def test_c_optax_bfloat16_cross_entropy_at_131072_classes():
    z, labels, ref = _bf16_case(131072)
    one_hot = jax.nn.one_hot(labels, z.shape[-1], dtype=jnp.bfloat16)
    optax_sparse = optax.softmax_cross_entropy_with_integer_labels(z, labels)
    optax_dense = optax.softmax_cross_entropy(z, one_hot)
    assert optax_sparse.dtype == jnp.bfloat16
    # Measured (this seed, max over the 4 rows): optax 5.8e-3 with integer
    # labels and with one-hot labels (rows: 5.8e-3, 4.0e-3, 6.7e-4, 1.2e-3);
    # ours ~1e-7. Other seeds gave optax 1.7e-3 to 5.9e-3.
    assert _rel_err(optax_sparse, ref) > 1e-3
    assert _rel_err(optax_dense, ref) > 1e-3
    ours_sparse = jaxloss.sparse_softmax_cross_entropy(z, labels)
    ours_dense = jaxloss.softmax_cross_entropy(z, one_hot)
    assert ours_sparse.dtype == jnp.float32 and ours_dense.dtype == jnp.float32
    assert _rel_err(ours_sparse, ref) < 1e-5
    assert _rel_err(ours_dense, ref) < 1e-5


def test_d_keras_silent_zero_for_out_of_range_label():
    z = np.array([[1.0, 2.0, 0.5], [0.3, 0.1, 0.2], [0.0, 1.0, 2.0]], np.float32)
    labels = np.array([0, 5, 2])
    ref = np.asarray(keras.losses.sparse_categorical_crossentropy(labels, z, from_logits=True))
    assert np.all(np.isfinite(ref))  # Keras: no sign of the bad label
    assert ref[1] == 0.0
    ours = np.asarray(jaxloss.sparse_softmax_cross_entropy(z, labels))
    assert np.isnan(ours[1])
    np.testing.assert_allclose(ours[[0, 2]], ref[[0, 2]], rtol=RTOL)
    checked = jax.jit(checkify.checkify(jaxloss.sparse_softmax_cross_entropy, errors=checkify.user_checks))
    err, _ = checked(z, labels)
    assert err.get() is not None
    with pytest.raises(Exception, match="labels"):
        err.throw()
    err, _ = checked(z, np.array([0, 1, 2]))
    assert err.get() is None
