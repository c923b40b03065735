"""The generalized cross-entropy, percentage, log-error, segmentation, metric,
CTC and focal twins of ``jaxloss.compat.keras`` against Keras 3 (JAX backend).

``CategoricalGeneralizedCrossEntropy``, ``MeanAbsolutePercentageError``,
``MeanSquaredLogarithmicError``, ``Dice``, ``Tversky``, ``Circle``, ``CTC``
and the focal cross-entropies from probabilities (``from_logits=False``):
every class under every reduction with every kind of ``sample_weight``
(zeros and other ranks included), every function on random and edge inputs
(probabilities exactly 0 and 1, zero vectors), to rtol 1e-5; Keras's errors;
``get_config``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras  # noqa: E402  (a missing reference library fails, never skips)
import numpy as np
import pytest

from jaxloss.compat import keras as jk  # noqa: E402
from tests.helpers import jit_grad
from tests.reference.test_compat_keras_classification import (  # noqa: E402
    REDUCTIONS,
    _close,
    _keras_or_error,
    assert_config_like_keras,
)

TOL = {"rtol": 1e-5}
# Where a loss is a difference of near-equal float32 terms (Keras's
# 1 - p_t, 1 - ratio), a loss near 0 only agrees to float32 rounding.
TOL_ABS = {"rtol": 1e-5, "atol": 1e-7}

_RNG = np.random.default_rng(11)
B, K = 4, 5


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


# probabilities with exact 0 and 1 entries
PROBS = _RNG.uniform(0.0, 1.0, (B, K)).astype(np.float32)
PROBS[0] = [0.0, 1.0, 0.0, 0.0, 0.0]
PROBS[2, 3] = 0.0
SIMPLEX = (PROBS / PROBS.sum(-1, keepdims=True)).astype(np.float32)
LABELS = np.array([1, 3, 3, 0])
ONE_HOT = np.eye(K, dtype=np.float32)[LABELS]
BINARY = (_RNG.random((B, K)) > 0.5).astype(np.float32)
BINARY[1] = 0.0  # an all-zero target row
TARGET = _RNG.normal(size=(B, K)).astype(np.float32)
TARGET[0, :2] = 0.0  # zero targets: MAPE divides by epsilon
PRED = _RNG.normal(size=(B, K)).astype(np.float32)
POS_TARGET = np.abs(TARGET) * 3
POS_PRED = np.abs(PRED) * 3
POS_PRED[1, :2] = [0.0, -0.5]  # below MSLE's floor
# 3-D masks for Dice/Tversky with an axis per sample
MASK3 = (_RNG.random((B, 3, K)) > 0.5).astype(np.float32)
MASK3[2] = 0.0
PROB3 = _RNG.uniform(0.0, 1.0, (B, 3, K)).astype(np.float32)
PROB3[2] = 0.0  # an all-zero sample: loss 1
PROB3[0, 0] = MASK3[0, 0]
# embeddings and labels for Circle: class 3 is a singleton (no positive)
N, D = 6, 4
EMB = _unit(_RNG.normal(size=(N, D)))
EMB_LABELS = np.array([0, 1, 0, 1, 2, 3])
# CTC: logits [B, T, C], labels right-padded with 0
T, C = 7, 4
CTC_LOGITS = (2.0 * _RNG.normal(size=(B, T, C))).astype(np.float32)
CTC_LABELS = np.array([[1, 2, 2], [3, 0, 0], [1, 1, 0], [2, 3, 1]])

# name -> (class name, constructor kwargs, y_true, y_pred, tolerance)
CONFIGS = {
    "gce": ("CategoricalGeneralizedCrossEntropy", {}, LABELS, SIMPLEX, TOL),
    "gce_q": ("CategoricalGeneralizedCrossEntropy", {"q": 0.2}, LABELS.astype(np.float32), SIMPLEX, TOL),
    "mape": ("MeanAbsolutePercentageError", {}, TARGET, PRED, TOL),
    "msle": ("MeanSquaredLogarithmicError", {}, POS_TARGET, POS_PRED, TOL),
    "dice": ("Dice", {}, BINARY, PROBS, TOL_ABS),
    "dice_axis": ("Dice", {"axis": (1, 2)}, MASK3, PROB3, TOL_ABS),
    "dice_last": ("Dice", {"axis": -1}, BINARY, PROBS, TOL_ABS),
    "tversky": ("Tversky", {}, BINARY, PROBS, TOL_ABS),
    "tversky_axis": ("Tversky", {"alpha": 0.7, "beta": 0.2, "axis": (1, 2)}, MASK3, PROB3, TOL_ABS),
    "tversky_last": ("Tversky", {"alpha": 0.1, "beta": 0.9, "axis": -1}, BINARY, PROBS, TOL_ABS),
    "circle": ("Circle", {}, EMB_LABELS, EMB, TOL),
    "circle_small": ("Circle", {"gamma": 2.0, "margin": 0.25, "remove_diagonal": False}, EMB_LABELS, EMB, TOL),
    "ctc": ("CTC", {}, CTC_LABELS, CTC_LOGITS, TOL),
    "bfce_probs": ("BinaryFocalCrossentropy", {}, BINARY, PROBS, TOL_ABS),
    "bfce_probs_balanced": (
        "BinaryFocalCrossentropy",
        {"apply_class_balancing": True, "alpha": 0.35, "gamma": 1.5, "label_smoothing": 0.1},
        BINARY,
        PROBS,
        TOL_ABS,
    ),
    "cfce_probs": ("CategoricalFocalCrossentropy", {}, ONE_HOT, PROBS, TOL_ABS),
    "cfce_probs_alpha": (
        "CategoricalFocalCrossentropy",
        {"alpha": [0.1, 0.4, 0.2, 0.2, 0.1], "gamma": 3.0, "label_smoothing": 0.2},
        ONE_HOT,
        PROBS,
        TOL_ABS,
    ),
}


def _weights(n):
    return {
        "none": None,
        "scalar": 2.5,
        "per_sample": _RNG.uniform(0.0, 2.0, n).astype(np.float32),
        "zeros": np.zeros(n, np.float32),
        "some_zero": np.where(np.arange(n) % 2 == 0, 0.0, 1.5).astype(np.float32),
        "trailing_1": _RNG.uniform(0.0, 2.0, (n, 1)).astype(np.float32),
        "higher_rank": _RNG.uniform(0.0, 2.0, (3, n)).astype(np.float32),
    }


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_class_matches_keras(config, reduction):
    name, kwargs, y_true, y_pred, tol = CONFIGS[config]
    k_loss = getattr(keras.losses, name)(reduction=reduction, **kwargs)
    j_loss = getattr(jk, name)(reduction=reduction, **kwargs)
    weights = _weights(len(y_pred))
    if name == "CTC":
        # Every eager call retraces both scans (slow): the weight kinds that
        # take distinct paths (none, zeros, other ranks) are enough here.
        weights = {k: weights[k] for k in ("none", "some_zero", "zeros", "higher_rank")}
    for sw in weights.values():
        theirs, err = _keras_or_error(k_loss, y_true, y_pred, sample_weight=sw)
        if err is not None:
            with pytest.raises((ValueError, TypeError)):
                j_loss(y_true, y_pred, sample_weight=sw)
            continue
        _close(j_loss(y_true, y_pred, sample_weight=sw), theirs, **tol)


def test_circle_mask_counts_nonzero_losses():
    # Keras masks the per-query losses that are 0: a batch where half the
    # queries have no positive divides by the other half.
    labels = np.array([0, 0, 1, 2, 3, 4])
    for reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
        for sw in (None, np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], np.float32)):
            theirs = keras.losses.Circle(reduction=reduction)(labels, EMB, sample_weight=sw)
            ours = jk.Circle(reduction=reduction)(labels, EMB, sample_weight=sw)
            _close(ours, theirs, **TOL)
    # every loss 0: Keras's divide_no_nan gives 0
    theirs = keras.losses.Circle()(np.arange(N), EMB)
    _close(jk.Circle()(np.arange(N), EMB), theirs)


# --------------------------------------------------------------------------
# functions: random and edge inputs
# --------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.5, 0.1, 0.9, 1.0])
def test_generalized_cross_entropy(q):
    x3 = _RNG.uniform(0.0, 1.0, (3, 2, K)).astype(np.float32)
    x3[0, 0] = [0.0, 1.0, 0.0, 0.0, 0.0]
    labels3 = np.array([[1, 0], [4, 2], [3, 3]])
    cases = [
        (LABELS, PROBS),
        (LABELS, SIMPLEX),
        (labels3, x3),
        (np.array([1.7, 3.2, 0.0, 4.9], np.float32), PROBS),  # float labels are truncated
        (LABELS.reshape(B, 1), PROBS),  # Keras broadcasts the one-hot: [B, B]
        (np.array(2), PROBS),
    ]
    for y_true, y_pred in cases:
        theirs = keras.losses.categorical_generalized_cross_entropy(y_true, y_pred, q=q)
        _close(jk.categorical_generalized_cross_entropy(y_true, y_pred, q=q), theirs, **TOL)


def test_regression_functions():
    big = np.array([[1e30, 0.0, -3.0], [0.0, 0.0, 0.0], [1e-30, 5.0, 2.0]], np.float32)
    other = np.array([[1.0, 0.0, 3.0], [1e-8, -1.0, 0.0], [0.0, 5.0, 1e30]], np.float32)
    x3_true = np.abs(_RNG.normal(size=(2, 3, 4))).astype(np.float32)
    x3_pred = np.abs(_RNG.normal(size=(2, 3, 1))).astype(np.float32)
    cases = [
        (TARGET, PRED),
        (POS_TARGET, POS_PRED),
        (big, other),
        (other, big),
        (x3_true, x3_pred),  # broadcast along the last axis
        (x3_true[..., 0], x3_pred),  # rank off by one with a trailing 1
        (np.float32(2.0), np.array([1.0, 3.0], np.float32)),
    ]
    for fn in ("mean_absolute_percentage_error", "mean_squared_logarithmic_error"):
        for y_true, y_pred in cases:
            theirs = getattr(keras.losses, fn)(y_true, y_pred)
            _close(getattr(jk, fn)(y_true, y_pred), theirs, **TOL)


@pytest.mark.parametrize("axis", [None, -1, 0, 1, (1, 2), (0, 2)])
def test_dice_and_tversky(axis):
    x = PROB3
    y = MASK3
    edge_p = np.zeros((B, 3, K), np.float32)
    edge_p[0] = 1.0
    edge_p[1, :, 0] = 1.0
    edge_t = np.zeros((B, 3, K), np.float32)
    edge_t[0] = 1.0
    edge_t[3, :, 1] = 1.0
    soft = _RNG.uniform(0.0, 1.0, (B, 3, K)).astype(np.float32)
    for y_true, y_pred in ((y, x), (soft, x), (edge_t, edge_p), (np.zeros_like(x), np.zeros_like(x))):
        _close(jk.dice(y_true, y_pred, axis=axis), keras.losses.dice(y_true, y_pred, axis=axis), **TOL_ABS)
        for alpha, beta in ((0.5, 0.5), (0.7, 0.3), (0.0, 1.0), (2.0, 0.1)):
            theirs = keras.losses.tversky(y_true, y_pred, alpha=alpha, beta=beta, axis=axis)
            ours = jk.tversky(y_true, y_pred, alpha=alpha, beta=beta, axis=axis)
            _close(ours, theirs, **TOL_ABS)


def test_dice_and_tversky_empty_batch():
    empty = np.zeros((0, K), np.float32)
    _close(jk.dice(empty, empty), keras.losses.dice(empty, empty), **TOL)
    _close(jk.tversky(empty, empty), keras.losses.tversky(empty, empty), **TOL)


def test_tversky_argument_names_follow_keras():
    # Keras's alpha weighs sum((1 - y_pred) * y_true): a missed positive.
    y_true, y_pred = np.array([[1.0, 1.0, 0.0]], np.float32), np.array([[1.0, 0.0, 0.0]], np.float32)
    heavy_alpha = jk.tversky(y_true, y_pred, alpha=0.9, beta=0.1, axis=-1)
    heavy_beta = jk.tversky(y_true, y_pred, alpha=0.1, beta=0.9, axis=-1)
    assert float(heavy_alpha[0]) > float(heavy_beta[0])
    _close(heavy_alpha, keras.losses.tversky(y_true, y_pred, alpha=0.9, beta=0.1, axis=-1), **TOL)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"gamma": 1.0},
        {"gamma": 4.0, "margin": 0.1},
        {"remove_diagonal": False, "gamma": 10.0},
    ],
)
def test_circle(kwargs):
    ref = _unit(_RNG.normal(size=(5, D)))
    ref_labels = np.array([0, 1, 1, 2, 5])
    cases = [
        ({}, EMB_LABELS, EMB),
        ({}, EMB_LABELS.reshape(N, 1), EMB),
        ({}, EMB_LABELS.astype(np.float32) + 0.3, EMB),  # truncated to int32
        ({"ref_labels": ref_labels, "ref_embeddings": ref}, EMB_LABELS, EMB),
        ({}, np.zeros(N, np.int32), EMB),  # no negatives anywhere: 0
        ({}, np.array([0, 0, 1, 1, 0, 1]), np.repeat(EMB[:2], 3, axis=0)),  # duplicate embeddings
    ]
    for extra, y_true, y_pred in cases:
        theirs = keras.losses.circle(y_true, y_pred, **extra, **kwargs)
        _close(jk.circle(y_true, y_pred, **extra, **kwargs), theirs, **TOL)


# Keras's ctc (JAX backend) retraces and recompiles its scans on every eager
# call; compiled once per shape instead. Same numbers: it is a jax function.
_keras_ctc = jax.jit(keras.losses.ctc)


def test_ctc():
    cases = [
        (CTC_LABELS, CTC_LOGITS),
        (CTC_LABELS.astype(np.float32), CTC_LOGITS),  # the class casts labels to float32 first
        (np.array([[1, 0, 2], [0, 0, 0], [3, 3, 3], [2, 1, 0]]), CTC_LOGITS),  # interior 0, empty label, repeats
        (np.zeros((B, 1), np.int32) + 2, np.zeros((B, 3, C), np.float32)),
        (CTC_LABELS, (10.0 * _RNG.normal(size=(B, T, C))).astype(np.float32)),
    ]
    for y_true, y_pred in cases:
        _close(jk.ctc(y_true, y_pred), _keras_ctc(y_true, y_pred), **TOL)


@pytest.mark.parametrize(
    "dtype, num_classes, rows",
    [
        # int8 labels with more than 127 classes
        (np.int8, 150, [[127, 3, 100], [1, 0, 0], [126, 126, 0], [5, 127, 1]]),
        # uint8 labels above 127 (and 156, which is -100 modulo 256)
        (np.uint8, 300, [[255, 156, 200], [128, 0, 0], [255, 255, 0], [1, 2, 3]]),
        (np.int16, 40000, [[32767, 129, 20000], [39, 0, 0], [300, 300, 0], [32767, 1, 2]]),
    ],
)
def test_ctc_integer_label_dtypes(dtype, num_classes, rows):
    rng = np.random.default_rng(12)
    y_pred = (2.0 * rng.normal(size=(B, 7, num_classes))).astype(np.float32)
    narrow = np.array(rows, dtype)
    wide = narrow.astype(np.int32)
    assert np.array_equal(wide, rows)
    ours = jk.ctc(narrow, y_pred)
    assert np.all(np.isfinite(ours))
    np.testing.assert_array_equal(ours, jk.ctc(wide, y_pred))
    _close(ours, _keras_ctc(wide, y_pred), **TOL)
    _close(ours, _keras_ctc(narrow, y_pred), **TOL)
    loss = jk.CTC(reduction="sum")
    _close(loss(narrow, y_pred), loss(wide, y_pred), rtol=0)
    _close(loss(narrow, y_pred), keras.losses.CTC(reduction="sum")(wide, y_pred), **TOL)
    grad = jax.jit(jax.grad(lambda z, y: jnp.sum(jk.ctc(y, z))))
    np.testing.assert_array_equal(grad(y_pred, narrow), grad(y_pred, wide))


def test_ctc_infeasible_is_inf():
    # Three labels with two repeats need 5 frames; there are 4. Keras's JAX
    # code writes log 0 as -1e5 and returns a large finite number.
    y_true = np.array([[1, 1, 1]])
    y_pred = np.zeros((1, 4, 3), np.float32)
    theirs = float(_keras_ctc(y_true, y_pred)[0])
    assert np.isfinite(theirs) and theirs > 1e4
    assert np.isinf(float(jk.ctc(y_true, y_pred)[0]))


# --------------------------------------------------------------------------
# focal cross-entropies from probabilities
# --------------------------------------------------------------------------

X3_PROBS = _RNG.uniform(0.0, 1.0, (3, 4, K)).astype(np.float32)
X3_PROBS[0, 0] = [0.0, 1.0, 0.0, 0.0, 0.0]
X3_PROBS[1, 2, 1] = 1.0
X3_PROBS[2, 3, 4] = 0.0


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"gamma": 0.0},
        {"gamma": 0.5, "label_smoothing": 0.3},
        {"apply_class_balancing": True},
        {"apply_class_balancing": True, "alpha": 0.8, "gamma": 4.0, "label_smoothing": 0.1},
    ],
)
def test_binary_focal_from_probabilities(kwargs, axis):
    labels = (_RNG.random(X3_PROBS.shape) > 0.5).astype(np.float32)
    labels[0, 0] = [0.0, 1.0, 1.0, 0.0, 0.0]  # exact hits and misses on 0/1 probabilities
    soft = _RNG.random(X3_PROBS.shape).astype(np.float32)
    for y_true in (labels, soft):
        theirs = keras.losses.binary_focal_crossentropy(y_true, X3_PROBS, axis=axis, **kwargs)
        _close(jk.binary_focal_crossentropy(y_true, X3_PROBS, axis=axis, **kwargs), theirs, **TOL_ABS)


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"gamma": 0.0, "alpha": 1.0},
        {"gamma": 0.5, "label_smoothing": 0.3},
        {"alpha": 0.9, "gamma": 4.0, "label_smoothing": 0.1},
    ],
)
def test_categorical_focal_from_probabilities(kwargs, axis):
    n = X3_PROBS.shape[axis]
    index = _RNG.integers(0, n, np.delete(X3_PROBS.shape, axis))
    one_hot = np.moveaxis(np.eye(n, dtype=np.float32)[index], -1, axis)
    soft = _RNG.random(X3_PROBS.shape).astype(np.float32)
    for y_true in (one_hot, soft):
        theirs = keras.losses.categorical_focal_crossentropy(y_true, X3_PROBS, axis=axis, **kwargs)
        _close(jk.categorical_focal_crossentropy(y_true, X3_PROBS, axis=axis, **kwargs), theirs, **TOL_ABS)


def test_categorical_focal_from_probabilities_per_class_alpha():
    for alpha in ([0.1, 0.4, 0.2, 0.2, 0.1], np.array([0.3, 0.1, 0.2, 0.2, 0.2], np.float32), [0.5]):
        for y_true, y_pred in ((ONE_HOT, PROBS), (ONE_HOT[0], PROBS[1]), (ONE_HOT, SIMPLEX)):
            theirs = keras.losses.categorical_focal_crossentropy(y_true, y_pred, alpha=alpha)
            _close(jk.categorical_focal_crossentropy(y_true, y_pred, alpha=alpha), theirs, **TOL_ABS)


def test_gradients_finite_where_keras_clips():
    # Probabilities of exactly 0 and 1: Keras's clip gives a zero gradient;
    # the twin's is the formula's derivative at the clipped point.
    y_true = jnp.array([[1.0, 0.0, 1.0, 0.0]])
    y_pred = jnp.array([[0.0, 1.0, 1.0, 0.0]])
    for fn in (jk.binary_focal_crossentropy, jk.categorical_focal_crossentropy):
        g = jit_grad(lambda p, fn=fn: jnp.sum(fn(y_true, p)))(y_pred)
        assert np.all(np.isfinite(g)) and float(g[0, 0]) < 0, fn
    for fn in (jk.dice, jk.tversky, jk.mean_squared_logarithmic_error, jk.mean_absolute_percentage_error):
        g = jit_grad(lambda p, fn=fn: jnp.sum(fn(y_true, p)))(y_pred)
        assert np.all(np.isfinite(g)), fn
        g0 = jit_grad(lambda p, fn=fn: jnp.sum(fn(jnp.zeros(4), p)))(jnp.zeros(4))
        assert np.all(np.isfinite(g0)), fn
    g = jit_grad(lambda p: jnp.sum(jk.categorical_generalized_cross_entropy(LABELS, p, q=0.5)))(PROBS)
    assert np.all(np.isfinite(g))
    g = jit_grad(lambda e: jnp.sum(jk.circle(EMB_LABELS, e)))(EMB)
    assert np.all(np.isfinite(g)) and np.any(g != 0)
    g = jax.grad(lambda z: jnp.sum(jk.ctc(CTC_LABELS, z)))(CTC_LOGITS)
    theirs = jit_grad(lambda z: jnp.sum(keras.losses.ctc(CTC_LABELS, z)))(CTC_LOGITS)
    np.testing.assert_allclose(g, theirs, rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------
# errors, configuration, jit
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn, args, kwargs",
    [
        ("ctc", (np.zeros((2, 3, 1)), np.zeros((2, 5, 4), np.float32)), {}),
        ("ctc", (np.zeros((2, 3)), np.zeros((2, 5), np.float32)), {}),
        ("mean_absolute_percentage_error", (np.zeros((2, 3)), np.zeros((2, 4), np.float32)), {}),
        ("mean_squared_logarithmic_error", (np.zeros((2, 3)), np.zeros((2, 4), np.float32)), {}),
        ("categorical_generalized_cross_entropy", (np.zeros(3), np.zeros((2, 4), np.float32)), {"q": 0.5}),
        ("circle", (np.zeros((4, 2)), np.zeros((4, 3), np.float32)), {}),
        ("circle", (np.zeros(4), np.zeros((4, 3), np.float32)), {"ref_embeddings": np.zeros((2, 2), np.float32)}),
    ],
)
def test_errors_where_keras_raises(fn, args, kwargs):
    _, err = _keras_or_error(getattr(keras.losses, fn), *args, **kwargs)
    assert err is not None
    with pytest.raises((ValueError, TypeError)):
        getattr(jk, fn)(*args, **kwargs)


@pytest.mark.parametrize("q", [0.0, 1.0, -0.5, 1.5])
def test_generalized_cross_entropy_class_q(q):
    with pytest.raises(ValueError, match="q must be"):
        keras.losses.CategoricalGeneralizedCrossEntropy(q=q)
    with pytest.raises(ValueError, match="q must be"):
        jk.CategoricalGeneralizedCrossEntropy(q=q)


def test_our_extra_errors():
    # Keras sums y_true, y_pred and their broadcast product separately; the
    # twin refuses shapes that differ. Negative Tversky weights likewise.
    with pytest.raises(ValueError, match="same shape"):
        jk.dice(np.ones((2, 3), np.float32), np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match="same shape"):
        jk.tversky(np.ones((2, 3), np.float32), np.ones(3, np.float32))
    with pytest.raises(ValueError, match="alpha"):
        jk.tversky(BINARY, PROBS, alpha=-0.1)
    # An out-of-range label: Keras's one-hot gives 1 / q silently, the twin nan.
    theirs = keras.losses.categorical_generalized_cross_entropy(np.array([7]), PROBS[:1], q=0.5)
    np.testing.assert_allclose(theirs, [2.0])
    assert np.isnan(float(jk.categorical_generalized_cross_entropy(np.array([7]), PROBS[:1], q=0.5)[0]))


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("CategoricalGeneralizedCrossEntropy", {}),
        ("CategoricalGeneralizedCrossEntropy", {"q": 0.3, "reduction": "sum", "name": "g"}),
        ("MeanAbsolutePercentageError", {}),
        ("MeanAbsolutePercentageError", {"reduction": None}),
        ("MeanSquaredLogarithmicError", {}),
        ("MeanSquaredLogarithmicError", {"reduction": "mean_with_sample_weight", "name": "m"}),
        ("Dice", {}),
        ("Dice", {"axis": (1, 2), "reduction": "none"}),
        ("Tversky", {}),
        ("Tversky", {"alpha": 0.3, "beta": 0.7, "axis": -1, "reduction": "mean"}),
        ("Circle", {}),
        ("Circle", {"gamma": 16.0, "margin": 0.2, "remove_diagonal": False, "name": "c"}),
        ("CTC", {}),
        ("CTC", {"reduction": "sum", "dtype": "float64"}),
    ],
)
def test_get_config(name, kwargs):
    assert_config_like_keras(name, kwargs)


def test_name_none():
    for name in ("CategoricalGeneralizedCrossEntropy", "Dice", "Tversky", "Circle", "CTC"):
        assert getattr(jk, name)(name=None).name == getattr(keras.losses, name)(name=None).name


def test_jit():
    for config in ("gce", "mape", "msle", "dice_axis", "tversky_axis", "circle", "ctc", "cfce_probs_alpha"):
        name, kwargs, y_true, y_pred, _ = CONFIGS[config]
        loss = getattr(jk, name)(**kwargs)
        sw = _weights(len(y_pred))["per_sample"]
        _close(jax.jit(loss)(y_true, y_pred, sw), loss(y_true, y_pred, sample_weight=sw), rtol=1e-6, atol=1e-7)
