"""Segmentation, metric, generalized CE, focal and regression core functions vs Keras 3 and TF1 graph mode."""

from __future__ import annotations

import keras  # KERAS_BACKEND=jax is set by conftest; a missing library fails, never skips
import numpy as np
import pytest
import tensorflow as tf

import jaxloss

RTOL = 1e-5


def _close(ours, ref, rtol=RTOL, atol=1e-7):
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=rtol, atol=atol)


def _probs(rng, shape):
    p = rng.random(shape).astype(np.float32) + 0.01
    return (p / p.sum(-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("axis", [None, (1, 2), -1])
def test_dice_and_tversky_vs_keras(rng, axis):
    p = rng.random((3, 4, 5)).astype(np.float32)
    t = (rng.random((3, 4, 5)) > 0.5).astype(np.float32)
    _close(jaxloss.dice(p, t, axis=axis), keras.losses.dice(t, p, axis=axis))
    # Keras's alpha multiplies its "fp" = sum((1 - y_pred) y_true), our FN: swap.
    _close(
        jaxloss.tversky(p, t, alpha=0.7, beta=0.3, axis=axis),
        keras.losses.tversky(t, p, alpha=0.3, beta=0.7, axis=axis),
    )  # noqa: E501
    z = np.zeros((2, 3), np.float32)
    _close(jaxloss.dice(z, z, axis=None), keras.losses.dice(z, z))


@pytest.mark.parametrize("opts", [{}, {"gamma": 2.0, "margin": 0.25}, {"gamma": 10.0, "remove_diagonal": False}])
def test_circle_vs_keras(rng, opts):
    e = rng.normal(size=(10, 6))
    e = (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32)
    y = rng.integers(0, 4, 10)
    y[-1] = 7  # a row without positives: 0 in both
    _close(jaxloss.circle(e, y, **opts), keras.losses.circle(y, e, **opts), rtol=1e-4, atol=1e-5)
    r = e[:5][::-1]
    ry = y[:5][::-1]
    _close(
        jaxloss.circle(e, y, ref_embeddings=r, ref_labels=ry, **opts),
        keras.losses.circle(y, e, ref_labels=ry, ref_embeddings=r, **opts),
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize("q", [0.1, 0.5, 1.0])
def test_generalized_cross_entropy_vs_keras(rng, q):
    p = _probs(rng, (6, 4))
    p[0] = [0.0, 1.0, 0.0, 0.0]
    y = rng.integers(0, 4, 6)
    y[0] = 0
    _close(jaxloss.generalized_cross_entropy(p, y, q=q), keras.losses.categorical_generalized_cross_entropy(y, p, q=q))


@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"apply_class_balancing": True, "alpha": 0.3},
        {"gamma": 0.5, "label_smoothing": 0.2},
        {"apply_class_balancing": True, "alpha": 0.8, "gamma": 0.0},
    ],
)
def test_binary_focal_vs_keras(rng, opts):
    p = rng.random((4, 6)).astype(np.float32)
    p[0, :4] = [0.0, 1.0, 0.0, 1.0]
    y = (rng.random((4, 6)) > 0.5).astype(np.float32)
    y[0, :4] = [1.0, 0.0, 0.0, 1.0]
    alpha = opts.get("alpha") if opts.get("apply_class_balancing") else None
    ours = jaxloss.binary_focal_cross_entropy(
        p, y, alpha=alpha, gamma=opts.get("gamma", 2.0), label_smoothing=opts.get("label_smoothing", 0.0)
    )
    _close(np.mean(ours, -1), keras.losses.binary_focal_crossentropy(y, p, **opts))


@pytest.mark.parametrize(
    "opts", [{}, {"alpha": [0.1, 0.5, 1.0, 2.0], "gamma": 0.5}, {"gamma": 3.0, "label_smoothing": 0.1, "alpha": 1.0}]
)
def test_categorical_focal_vs_keras(rng, opts):
    p = _probs(rng, (5, 4))
    p[0] = [0.0, 1.0, 0.0, 0.0]
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 5)]
    kopts = dict(opts)
    kopts.setdefault("alpha", 0.25)
    ours_opts = dict(opts)
    ours_opts.setdefault("alpha", 0.25)
    _close(
        jaxloss.categorical_focal_cross_entropy(p, y, **ours_opts),
        keras.losses.categorical_focal_crossentropy(y, p, **kopts),
    )  # noqa: E501


def test_percentage_and_log_errors_vs_keras(rng):
    p = (rng.normal(size=(4, 5)) * 2).astype(np.float32)
    t = (rng.normal(size=(4, 5)) * 2).astype(np.float32)
    t[0, 0] = 0.0
    _close(np.mean(jaxloss.absolute_percentage_error(p, t), -1), keras.losses.mean_absolute_percentage_error(t, p))
    pa, ta = np.abs(p), np.abs(t)
    pa[1, 1] = 0.0
    _close(np.mean(jaxloss.squared_log_error(p, t), -1), keras.losses.mean_squared_logarithmic_error(t, p))
    _close(np.mean(jaxloss.squared_log_error(pa, ta), -1), keras.losses.mean_squared_logarithmic_error(ta, pa))


@pytest.mark.parametrize("weights_kind", ["scalar", "per_example", "full_with_zeros"])
def test_pairwise_squared_error_vs_tf1_graph(tf1, rng, weights_kind):
    labels = rng.normal(size=(3, 2, 4)).astype(np.float32)
    preds = rng.normal(size=(3, 2, 4)).astype(np.float32)
    w = {
        "scalar": np.float32(2.0),
        "per_example": rng.random((3, 1, 1)).astype(np.float32),
        "full_with_zeros": (rng.random((3, 2, 4)) > 0.4).astype(np.float32) * 1.5,
    }[weights_kind]
    ref = tf1(lambda a, b, c: tf.compat.v1.losses.mean_pairwise_squared_error(a, b, weights=c), labels, preds, w)
    axes = (1, 2)
    count = np.sum(np.broadcast_to(w != 0, labels.shape), axis=axes)
    per_example = jaxloss.pairwise_squared_error(preds, labels, axis=axes, count=count)
    ours = np.sum(
        np.broadcast_to(np.asarray(per_example)[:, None, None], np.broadcast_shapes((3, 1, 1), np.shape(w))) * w
    )  # noqa: E501
    _close(ours, ref, rtol=1e-5, atol=1e-6)


def test_cosine_distance_unnormalised_vs_tf1_graph(tf1, rng):
    labels = rng.normal(size=(4, 3)).astype(np.float32)
    preds = rng.normal(size=(4, 3)).astype(np.float32)
    ref = tf1(
        lambda a, b: tf.compat.v1.losses.cosine_distance(a, b, axis=1, reduction=tf.compat.v1.losses.Reduction.NONE),
        labels,
        preds,
    )
    _close(jaxloss.cosine_distance(preds, labels, axis=1, normalize=False)[:, None], ref, atol=1e-6)
