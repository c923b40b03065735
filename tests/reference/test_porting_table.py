"""Every row of the porting tables in ``docs/porting.md``, checked against the real library.

Each case computes a call of Keras 3, ``tf.compat.v1.losses`` (graph mode),
tflearn 0.5.0, optax or PyTorch and the jaxloss call the table gives for it,
on the same float32 inputs, and asserts they agree to 1e-5. A row changed in
the docs should be changed here too (the case names follow the tables).
"""

from __future__ import annotations

import pathlib
import re
import warnings

import jax
import jax.numpy as jnp
import keras  # KERAS_BACKEND=jax is set by conftest; a missing library fails, never skips
import numpy as np
import optax
import pytest
import torch

import jaxloss

F = torch.nn.functional
RTOL, ATOL = 1e-5, 1e-5

_rng = np.random.default_rng(20240611)
B, C = 6, 5
Z = (_rng.normal(size=(B, C)) * 2.0).astype(np.float32)  # logits
P = np.asarray(jax.nn.softmax(Z), np.float32)  # probabilities
SOFT = _rng.random((B, C)).astype(np.float32) + 0.05
SOFT = (SOFT / SOFT.sum(-1, keepdims=True)).astype(np.float32)  # soft labels
K = _rng.integers(0, C, size=B).astype(np.int64)  # integer labels
K_IGN = K.copy()
K_IGN[[1, 4]] = -100  # torch's default ignore_index
ONE_HOT = np.eye(C, dtype=np.float32)[K]
Y01 = _rng.integers(0, 2, size=(B, C)).astype(np.float32)
YPM = 2.0 * Y01 - 1.0
X = _rng.normal(size=(B, C)).astype(np.float32)
T = (_rng.normal(size=(B, C)) * 1.5).astype(np.float32)
RATE = (_rng.random((B, C)) * 3.0 + 0.2).astype(np.float32)
COUNTS = _rng.poisson(2.0, size=(B, C)).astype(np.float32)
W_CLASS = (_rng.random(C) + 0.3).astype(np.float32)
W_EX = (_rng.random(B) + 0.1).astype(np.float32)
W_EX[2] = 0.0
DIST = (_rng.random(B) * 2.0).astype(np.float32)
SAME = _rng.integers(0, 2, size=B).astype(np.float32)
SCORES = _rng.normal(size=B).astype(np.float32)
POS = np.array([1, 0, 1, 1, 0, 0], np.float32)


def _t(x):
    return torch.from_numpy(np.array(x))


def _c(x):
    """A TensorFlow constant (tflearn calls ``get_shape()`` on its inputs)."""
    import tensorflow as tf

    return tf.constant(x)


def _without_warning(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with its UserWarning silenced (torch warns about kl_div's "mean")."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args, **kwargs)


def _close(ours, theirs):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


def _ctc_case(seed=3, batch=4, time=12, classes=5, max_labels=4):
    rng = np.random.default_rng(seed)
    log_probs = np.asarray(jax.nn.log_softmax(rng.normal(size=(batch, time, classes)) * 2.0), np.float32)
    labels = rng.integers(1, classes, size=(batch, max_labels))
    input_lengths = np.array([12, 10, 9, 12])
    target_lengths = np.array([4, 2, 3, 1])
    frame_pad = (np.arange(time)[None] >= input_lengths[:, None]).astype(np.float32)
    label_pad = (np.arange(max_labels)[None] >= target_lengths[:, None]).astype(np.float32)
    return log_probs, labels, input_lengths, target_lengths, frame_pad, label_pad


# --- Keras 3: keras.losses.X(...)(y_true, y_pred) -----------------------------------------

UNIT = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)  # embeddings
CIRCLE_LABELS = np.array([0, 1, 0, 2, 1, 0])
KERAS_CTC_LOGITS = (_rng.normal(size=(3, 10, C)) * 2.0).astype(np.float32)
KERAS_CTC_LABELS = np.array([[1, 2, 2, 0], [3, 0, 0, 0], [4, 1, 3, 2]])  # 0: Keras's padding and blank

KERAS = {
    "CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)": (
        lambda: keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(SOFT, Z),
        lambda: jaxloss.Loss(jaxloss.softmax_cross_entropy, label_smoothing=0.1)(Z, SOFT),
    ),
    "CategoricalCrossentropy() on probabilities": (
        lambda: keras.losses.CategoricalCrossentropy()(SOFT, P),
        lambda: jaxloss.Loss(jaxloss.categorical_cross_entropy)(P, SOFT),
    ),
    "SparseCategoricalCrossentropy(from_logits=True)": (
        lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True)(K, Z),
        lambda: jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy)(Z, K),
    ),
    "SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100)": (
        lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100)(K_IGN, Z),
        lambda: jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, ignore_index=-100)(Z, K_IGN),
    ),
    "BinaryCrossentropy(from_logits=True)": (
        lambda: keras.losses.BinaryCrossentropy(from_logits=True)(Y01, Z),
        lambda: jaxloss.Loss(jaxloss.sigmoid_binary_cross_entropy)(Z, Y01),
    ),
    "BinaryCrossentropy() on probabilities": (
        lambda: keras.losses.BinaryCrossentropy()(Y01, P),
        lambda: jaxloss.Loss(jaxloss.binary_cross_entropy)(P, Y01),
    ),
    "BinaryFocalCrossentropy(from_logits=True, gamma=2)": (
        lambda: keras.losses.BinaryFocalCrossentropy(from_logits=True, gamma=2.0)(Y01, Z),
        lambda: jaxloss.Loss(jaxloss.sigmoid_focal_loss, gamma=2.0)(Z, Y01),
    ),
    "BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.25, from_logits=True)": (
        lambda: keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.25, from_logits=True)(Y01, Z),
        lambda: jaxloss.Loss(jaxloss.sigmoid_focal_loss, alpha=0.25, gamma=2.0)(Z, Y01),
    ),
    "CategoricalFocalCrossentropy(alpha=0.25, gamma=2) on probabilities": (
        lambda: keras.losses.CategoricalFocalCrossentropy(alpha=0.25, gamma=2.0)(ONE_HOT, P),
        lambda: jaxloss.Loss(jaxloss.categorical_focal_cross_entropy, alpha=0.25, gamma=2.0)(P, ONE_HOT),
    ),
    "CategoricalFocalCrossentropy(alpha=0.25, gamma=2, from_logits=True)": (
        lambda: keras.losses.CategoricalFocalCrossentropy(alpha=0.25, gamma=2.0, from_logits=True)(ONE_HOT, Z),
        lambda: jaxloss.Loss(jaxloss.softmax_focal_loss, alpha=0.25, gamma=2.0)(Z, ONE_HOT),
    ),
    "MeanSquaredError()": (
        lambda: keras.losses.MeanSquaredError()(T, X),
        lambda: jaxloss.Loss(jaxloss.squared_error)(X, T),
    ),
    "MeanSquaredError()(sample_weight=w)": (
        lambda: keras.losses.MeanSquaredError()(T, X, sample_weight=W_EX),
        lambda: jaxloss.Loss(jaxloss.squared_error)(X, T, weights=W_EX[:, None]),
    ),
    "MeanSquaredError(reduction='sum')(sample_weight=w)": (
        lambda: keras.losses.MeanSquaredError(reduction="sum")(T, X, sample_weight=W_EX),
        lambda: jaxloss.Loss(jaxloss.squared_error, reduction="sum")(X, T, weights=W_EX[:, None]) / C,
    ),
    "MeanSquaredError(reduction='mean_with_sample_weight')(sample_weight=w)": (
        lambda: keras.losses.MeanSquaredError(reduction="mean_with_sample_weight")(T, X, sample_weight=W_EX),
        lambda: jaxloss.Loss(jaxloss.squared_error, reduction="weighted_mean")(X, T, weights=W_EX[:, None]),
    ),
    "MeanSquaredError(reduction=None)": (
        lambda: keras.losses.MeanSquaredError(reduction=None)(T, X),
        lambda: jnp.mean(jaxloss.squared_error(X, T), axis=-1),
    ),
    "MeanAbsoluteError()": (
        lambda: keras.losses.MeanAbsoluteError()(T, X),
        lambda: jaxloss.Loss(jaxloss.absolute_error)(X, T),
    ),
    "MeanAbsolutePercentageError()": (
        lambda: keras.losses.MeanAbsolutePercentageError()(T, X),
        lambda: jaxloss.Loss(jaxloss.absolute_percentage_error)(X, T),
    ),
    "MeanSquaredLogarithmicError()": (
        lambda: keras.losses.MeanSquaredLogarithmicError()(RATE, COUNTS),
        lambda: jaxloss.Loss(jaxloss.squared_log_error)(COUNTS, RATE),
    ),
    "Huber(delta=0.5)": (
        lambda: keras.losses.Huber(delta=0.5)(T, X),
        lambda: jaxloss.Loss(jaxloss.huber, delta=0.5)(X, T),
    ),
    "LogCosh()": (
        lambda: keras.losses.LogCosh()(T, X),
        lambda: jaxloss.Loss(jaxloss.log_cosh)(X, T),
    ),
    "CosineSimilarity()": (
        lambda: keras.losses.CosineSimilarity()(T, X),
        lambda: jaxloss.Loss(jaxloss.cosine_distance)(X, T) - 1.0,
    ),
    "Hinge() with 0/1 labels": (
        lambda: keras.losses.Hinge()(Y01, X),
        lambda: jaxloss.Loss(jaxloss.hinge)(X, 2.0 * Y01 - 1.0),
    ),
    "SquaredHinge() with -1/1 labels": (
        lambda: keras.losses.SquaredHinge()(YPM, X),
        lambda: jaxloss.Loss(jaxloss.squared_hinge)(X, YPM),
    ),
    "CategoricalHinge()": (
        lambda: keras.losses.CategoricalHinge()(ONE_HOT, X),
        lambda: jaxloss.Loss(jaxloss.categorical_hinge)(X, ONE_HOT),
    ),
    "Poisson()": (
        lambda: keras.losses.Poisson()(COUNTS, RATE),
        lambda: jaxloss.Loss(jaxloss.poisson_nll, log_input=False, epsilon=1e-7)(RATE, COUNTS),
    ),
    "KLDivergence()": (
        lambda: keras.losses.KLDivergence()(SOFT, P),
        lambda: jaxloss.Loss(jaxloss.kl_divergence)(jnp.log(P), SOFT),
    ),
    "Dice()": (
        lambda: keras.losses.Dice()(Y01, P),
        lambda: jaxloss.dice(P, Y01, axis=None),
    ),
    "categorical_generalized_cross_entropy(y, p, q=0.5)": (
        lambda: keras.losses.categorical_generalized_cross_entropy(K, P, q=0.5),
        lambda: jaxloss.generalized_cross_entropy(P, K, q=0.5),
    ),
    "tversky(y, p, alpha=0.7, beta=0.2)": (
        lambda: keras.losses.tversky(Y01, P, alpha=0.7, beta=0.2),
        lambda: jaxloss.tversky(P, Y01, alpha=0.2, beta=0.7, axis=None),
    ),
    "circle(y, e)": (
        lambda: keras.losses.circle(CIRCLE_LABELS, UNIT),
        lambda: jaxloss.circle(UNIT, CIRCLE_LABELS),
    ),
    "ctc(y, z)": (
        lambda: keras.losses.ctc(KERAS_CTC_LABELS, KERAS_CTC_LOGITS),
        lambda: jaxloss.ctc(KERAS_CTC_LOGITS, KERAS_CTC_LABELS, label_paddings=(KERAS_CTC_LABELS == 0)),
    ),
}


@pytest.mark.parametrize("case", list(KERAS))
def test_keras_row(case):
    theirs, ours = KERAS[case]
    _close(ours(), theirs())


# --- TensorFlow 1: tf.compat.v1.losses.X(labels, predictions) -------------------------------


def _tf1():
    import tensorflow as tf

    return tf.compat.v1.losses


TF1 = {
    "softmax_cross_entropy(onehot, logits, weights=w, label_smoothing=0.1)": (
        lambda tf: tf.softmax_cross_entropy(ONE_HOT, Z, weights=W_EX, label_smoothing=0.1),
        lambda: jaxloss.Loss(jaxloss.softmax_cross_entropy, label_smoothing=0.1, reduction="sum_by_nonzero_weights")(
            Z, ONE_HOT, weights=W_EX
        ),
    ),
    "sparse_softmax_cross_entropy(labels, logits, weights=w)": (
        lambda tf: tf.sparse_softmax_cross_entropy(K, Z, weights=W_EX),
        lambda: jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, reduction="sum_by_nonzero_weights")(
            Z, K, weights=W_EX
        ),
    ),
    "sigmoid_cross_entropy(labels, logits, label_smoothing=0.1)": (
        lambda tf: tf.sigmoid_cross_entropy(Y01, Z, label_smoothing=0.1),
        lambda: jaxloss.Loss(
            jaxloss.sigmoid_binary_cross_entropy, label_smoothing=0.1, reduction="sum_by_nonzero_weights"
        )(Z, Y01),
    ),
    "sigmoid_cross_entropy(labels, logits, weights=w[:, None])": (
        lambda tf: tf.sigmoid_cross_entropy(Y01, Z, weights=W_EX[:, None]),
        lambda: jaxloss.Loss(jaxloss.sigmoid_binary_cross_entropy, reduction="sum_by_nonzero_weights")(
            Z, Y01, weights=W_EX[:, None]
        ),
    ),
    "log_loss(labels, predictions)": (
        lambda tf: tf.log_loss(Y01, P),
        lambda: jaxloss.Loss(jaxloss.log_loss, reduction="sum_by_nonzero_weights")(P, Y01),
    ),
    "hinge_loss(labels, logits) with 0/1 labels": (
        lambda tf: tf.hinge_loss(Y01, X),
        lambda: jaxloss.Loss(jaxloss.hinge, reduction="sum_by_nonzero_weights")(X, 2.0 * Y01 - 1.0),
    ),
    "huber_loss(labels, predictions, delta=0.5)": (
        lambda tf: tf.huber_loss(T, X, delta=0.5),
        lambda: jaxloss.Loss(jaxloss.huber, delta=0.5, reduction="sum_by_nonzero_weights")(X, T),
    ),
    "mean_squared_error(labels, predictions, weights=w[:, None])": (
        lambda tf: tf.mean_squared_error(T, X, weights=W_EX[:, None]),
        lambda: jaxloss.Loss(jaxloss.squared_error, reduction="sum_by_nonzero_weights")(X, T, weights=W_EX[:, None]),
    ),
    "absolute_difference(labels, predictions)": (
        lambda tf: tf.absolute_difference(T, X),
        lambda: jaxloss.Loss(jaxloss.absolute_error, reduction="sum_by_nonzero_weights")(X, T),
    ),
    "cosine_distance(labels, predictions, axis=1) on unit vectors": (
        lambda tf: tf.cosine_distance(
            T / np.linalg.norm(T, axis=1, keepdims=True), X / np.linalg.norm(X, axis=1, keepdims=True), axis=1
        ),
        lambda: jaxloss.Loss(jaxloss.cosine_distance, normalize=False, reduction="sum_by_nonzero_weights")(
            X / np.linalg.norm(X, axis=1, keepdims=True), T / np.linalg.norm(T, axis=1, keepdims=True)
        ),
    ),
    "mean_pairwise_squared_error(labels, predictions)": (
        lambda tf: tf.mean_pairwise_squared_error(T, X),
        lambda: jaxloss.Loss(jaxloss.pairwise_squared_error, reduction="sum")(X, T),
    ),
    "compute_weighted_loss(losses, w, reduction=MEAN)": (
        lambda tf: tf.compute_weighted_loss(T, W_EX[:, None], reduction=tf.Reduction.MEAN),
        lambda: jaxloss.reduce(T, W_EX[:, None], reduction="weighted_mean"),
    ),
    "compute_weighted_loss(losses, w, reduction=SUM_OVER_BATCH_SIZE)": (
        lambda tf: tf.compute_weighted_loss(T, W_EX[:, None], reduction=tf.Reduction.SUM_OVER_BATCH_SIZE),
        lambda: jaxloss.reduce(T, W_EX[:, None], reduction="mean"),
    ),
    "compute_weighted_loss(losses, w, reduction=SUM)": (
        lambda tf: tf.compute_weighted_loss(T, W_EX[:, None], reduction=tf.Reduction.SUM),
        lambda: jaxloss.reduce(T, W_EX[:, None], reduction="sum"),
    ),
}


@pytest.mark.parametrize("case", list(TF1))
def test_tf1_row(case, tf1):
    theirs, ours = TF1[case]
    _close(ours(), tf1(lambda: theirs(_tf1())))


# --- tflearn 0.5.0: objectives.X(y_pred, y_true) -----------------------------------------

SEG_LOGITS = (_rng.normal(size=(2, 3, 3, C)) * 2.0).astype(np.float32)
SEG_LABELS = np.eye(C, dtype=np.float32)[_rng.integers(0, C, size=(2, 3, 3))]

TFLEARN = {
    "softmax_categorical_crossentropy(logits, y)": (
        lambda o: o.softmax_categorical_crossentropy(_c(Z), _c(SOFT)),
        lambda: jaxloss.reduce(jaxloss.softmax_cross_entropy(Z, SOFT)),
    ),
    "categorical_crossentropy(probs, y)": (
        lambda o: o.categorical_crossentropy(_c(P), _c(SOFT)),
        lambda: jaxloss.reduce(jaxloss.categorical_cross_entropy(P, SOFT, epsilon=1e-10)),
    ),
    "binary_crossentropy(logits, y)": (
        lambda o: o.binary_crossentropy(_c(Z), _c(Y01)),
        lambda: jaxloss.reduce(jaxloss.sigmoid_binary_cross_entropy(Z, Y01)),
    ),
    "weighted_crossentropy(logits, y, weight=3)": (
        lambda o: o.weighted_crossentropy(_c(Z), _c(Y01), weight=3.0),
        lambda: jaxloss.reduce(jaxloss.sigmoid_binary_cross_entropy(Z, Y01, pos_weight=3.0)),
    ),
    "mean_square(predictions, targets)": (
        lambda o: o.mean_square(_c(X), _c(T)),
        lambda: jaxloss.reduce(jaxloss.squared_error(X, T)),
    ),
    "hinge_loss(scores, -1/1 targets)": (
        lambda o: o.hinge_loss(_c(X), _c(YPM)),
        lambda: jaxloss.reduce(jaxloss.hinge(X, YPM)),
    ),
    "roc_auc_score(scores, y)": (
        lambda o: o.roc_auc_score(_c(SCORES), _c(POS)),
        lambda: jaxloss.wmw_auc_loss(SCORES, POS),
    ),
    "contrastive_loss(distances, y, margin=1.5)": (
        lambda o: o.contrastive_loss(_c(DIST), _c(SAME), margin=1.5),
        lambda: jaxloss.reduce(jaxloss.contrastive(DIST, SAME, margin=1.5), reduction="sum") / 2,
    ),
    "weak_cross_entropy_2d(logits, y, head=w)": (
        lambda o: o.weak_cross_entropy_2d(_c(SEG_LOGITS), _c(SEG_LABELS), head=_c(W_CLASS)),
        lambda: jaxloss.reduce(jaxloss.weak_cross_entropy_2d(SEG_LOGITS, SEG_LABELS, class_weights=W_CLASS)),
    ),
}


@pytest.mark.parametrize("case", list(TFLEARN))
def test_tflearn_row(case, tflearn, tf1):
    theirs, ours = TFLEARN[case]
    _close(ours(), tf1(lambda: theirs(tflearn)))


# --- optax: optax.losses.X(predictions, targets), per-example ----------------------------

OL = optax.losses
CTC = _ctc_case()

OPTAX = {
    "softmax_cross_entropy(logits, labels)": (
        lambda: OL.softmax_cross_entropy(Z, SOFT),
        lambda: jaxloss.softmax_cross_entropy(Z, SOFT),
    ),
    "softmax_cross_entropy(logits, smooth_labels(labels, 0.1))": (
        lambda: OL.softmax_cross_entropy(Z, optax.smooth_labels(jnp.asarray(ONE_HOT), 0.1)),
        lambda: jaxloss.softmax_cross_entropy(Z, ONE_HOT, label_smoothing=0.1),
    ),
    "softmax_cross_entropy_with_integer_labels(logits, labels)": (
        lambda: OL.softmax_cross_entropy_with_integer_labels(Z, K),
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, K),
    ),
    "sigmoid_binary_cross_entropy(logits, labels)": (
        lambda: OL.sigmoid_binary_cross_entropy(Z, Y01),
        lambda: jaxloss.sigmoid_binary_cross_entropy(Z, Y01),
    ),
    "sigmoid_focal_loss(logits, labels, alpha=0.25, gamma=2)": (
        lambda: OL.sigmoid_focal_loss(Z, Y01, alpha=0.25, gamma=2.0),
        lambda: jaxloss.sigmoid_focal_loss(Z, Y01, alpha=0.25, gamma=2.0),
    ),
    "poly_loss_cross_entropy(logits, labels)": (
        lambda: OL.poly_loss_cross_entropy(Z, ONE_HOT),
        lambda: jaxloss.poly1_cross_entropy(Z, ONE_HOT, epsilon=2.0),
    ),
    "kl_divergence(log_predictions, targets)": (
        lambda: OL.kl_divergence(jnp.log(P), SOFT),
        lambda: jaxloss.kl_divergence(jnp.log(P), SOFT),
    ),
    "kl_divergence_with_log_targets(log_p, log_t)": (
        lambda: OL.kl_divergence_with_log_targets(jnp.log(P), jnp.log(SOFT)),
        lambda: jaxloss.kl_divergence(jnp.log(P), jnp.log(SOFT), log_targets=True),
    ),
    "squared_error(p, t)": (
        lambda: OL.squared_error(X, T),
        lambda: jaxloss.squared_error(X, T),
    ),
    "l2_loss(p, t)": (
        lambda: OL.l2_loss(X, T),
        lambda: 0.5 * jaxloss.squared_error(X, T),
    ),
    "huber_loss(p, t, delta=0.5)": (
        lambda: OL.huber_loss(X, T, delta=0.5),
        lambda: jaxloss.huber(X, T, delta=0.5),
    ),
    "log_cosh(p, t)": (
        lambda: OL.log_cosh(X, T),
        lambda: jaxloss.log_cosh(X, T),
    ),
    "cosine_distance(p, t)": (
        lambda: OL.cosine_distance(X, T),
        lambda: jaxloss.cosine_distance(X, T),
    ),
    "cosine_similarity(p, t)": (
        lambda: OL.cosine_similarity(X, T),
        lambda: 1.0 - jaxloss.cosine_distance(X, T),
    ),
    "hinge_loss(scores, -1/1 targets)": (
        lambda: OL.hinge_loss(X, YPM),
        lambda: jaxloss.hinge(X, YPM),
    ),
    "multiclass_hinge_loss(scores, labels)": (
        lambda: OL.multiclass_hinge_loss(X, K),
        lambda: jaxloss.multiclass_hinge(X, K),
    ),
    "ctc_loss(logits, logit_paddings, labels, label_paddings)": (
        lambda: OL.ctc_loss(CTC[0], CTC[4], CTC[1], CTC[5]),
        lambda: jaxloss.ctc(CTC[0], CTC[1], logit_paddings=CTC[4], label_paddings=CTC[5]),
    ),
    "softmax_cross_entropy_with_integer_labels(...).mean()": (
        lambda: OL.softmax_cross_entropy_with_integer_labels(Z, K).mean(),
        lambda: jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy)(Z, K),
    ),
}


@pytest.mark.parametrize("case", list(OPTAX))
def test_optax_row(case):
    theirs, ours = OPTAX[case]
    _close(ours(), theirs())


# --- PyTorch: torch.nn.functional.X(input, target) ---------------------------------------

CTC_LP, CTC_LABELS, CTC_IL, CTC_TL, CTC_FRAME_PAD, CTC_LABEL_PAD = CTC
Z3 = np.ascontiguousarray(np.moveaxis(Z.reshape(2, 3, C), -1, 1))  # torch's [N, C, d1] layout
K3 = K.reshape(2, 3)


def _torch_ctc(reduction):
    return F.ctc_loss(_t(CTC_LP).transpose(0, 1), _t(CTC_LABELS), _t(CTC_IL), _t(CTC_TL), reduction=reduction)


TORCH = {
    "cross_entropy(logits, labels)": (
        lambda: F.cross_entropy(_t(Z), _t(K)),
        lambda: jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, ignore_index=-100)(Z, K),
    ),
    "cross_entropy(logits, labels) with -100 labels": (
        lambda: F.cross_entropy(_t(Z), _t(K_IGN)),
        lambda: jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, ignore_index=-100)(Z, K_IGN),
    ),
    "cross_entropy(..., reduction='none') with -100 labels": (
        lambda: F.cross_entropy(_t(Z), _t(K_IGN), reduction="none"),
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, K_IGN, ignore_index=-100),
    ),
    "cross_entropy(..., reduction='sum', label_smoothing=0.1)": (
        lambda: F.cross_entropy(_t(Z), _t(K_IGN), reduction="sum", label_smoothing=0.1),
        lambda: jaxloss.Loss(
            jaxloss.sparse_softmax_cross_entropy, ignore_index=-100, label_smoothing=0.1, reduction="sum"
        )(Z, K_IGN),
    ),
    "cross_entropy(..., weight=w)": (
        lambda: F.cross_entropy(_t(Z), _t(K), weight=_t(W_CLASS)),
        lambda: jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, class_weights=W_CLASS, reduction="weighted_mean")(
            Z, K
        ),
    ),
    "cross_entropy(..., weight=w) with -100 labels": (
        lambda: F.cross_entropy(_t(Z), _t(K_IGN), weight=_t(W_CLASS)),
        lambda: jaxloss.Loss(
            jaxloss.sparse_softmax_cross_entropy, class_weights=W_CLASS, ignore_index=-100, reduction="weighted_mean"
        )(Z, K_IGN),
    ),
    "cross_entropy(..., weight=w, label_smoothing=0.1) with -100 labels": (
        lambda: F.cross_entropy(_t(Z), _t(K_IGN), weight=_t(W_CLASS), label_smoothing=0.1),
        lambda: jaxloss.Loss(
            jaxloss.sparse_softmax_cross_entropy,
            class_weights=W_CLASS,
            ignore_index=-100,
            label_smoothing=0.1,
            reduction="weighted_mean",
        )(Z, K_IGN),
    ),
    "cross_entropy(..., weight=w, reduction='none')": (
        lambda: F.cross_entropy(_t(Z), _t(K_IGN), weight=_t(W_CLASS), reduction="none"),
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, K_IGN, class_weights=W_CLASS, ignore_index=-100),
    ),
    "cross_entropy on [N, C, d1] logits": (
        lambda: F.cross_entropy(_t(Z3), _t(K3)),
        lambda: jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, axis=1, ignore_index=-100)(Z3, K3),
    ),
    "cross_entropy(logits, probability targets)": (
        lambda: F.cross_entropy(_t(Z), _t(SOFT)),
        lambda: jaxloss.Loss(jaxloss.softmax_cross_entropy)(Z, SOFT),
    ),
    "nll_loss(log_softmax(logits), labels)": (
        lambda: F.nll_loss(F.log_softmax(_t(Z), 1), _t(K_IGN)),
        lambda: jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, ignore_index=-100)(jax.nn.log_softmax(Z), K_IGN),
    ),
    "binary_cross_entropy_with_logits(logits, y, pos_weight=p)": (
        lambda: F.binary_cross_entropy_with_logits(_t(Z), _t(Y01), pos_weight=_t(W_CLASS)),
        lambda: jaxloss.Loss(jaxloss.sigmoid_binary_cross_entropy, pos_weight=W_CLASS)(Z, Y01),
    ),
    "binary_cross_entropy_with_logits(logits, y, weight=w)": (
        lambda: F.binary_cross_entropy_with_logits(_t(Z), _t(Y01), weight=_t(W_EX[:, None])),
        lambda: jaxloss.Loss(jaxloss.sigmoid_binary_cross_entropy)(Z, Y01, weights=W_EX[:, None]),
    ),
    "binary_cross_entropy(probs, y)": (
        lambda: F.binary_cross_entropy(_t(P), _t(Y01)),
        lambda: jaxloss.Loss(jaxloss.binary_cross_entropy, epsilon=0.0)(P, Y01),
    ),
    "soft_margin_loss(scores, -1/1 targets)": (
        lambda: F.soft_margin_loss(_t(X), _t(YPM)),
        lambda: jaxloss.Loss(jaxloss.sigmoid_binary_cross_entropy)(X, (YPM + 1.0) / 2.0),
    ),
    "kl_div(log_p, t, reduction='batchmean')": (
        lambda: F.kl_div(_t(np.log(P)), _t(SOFT), reduction="batchmean"),
        lambda: jaxloss.reduce(jaxloss.kl_divergence(jnp.log(P), SOFT), reduction="sum") / B,
    ),
    "kl_div(log_p, log_t, reduction='batchmean', log_target=True)": (
        lambda: F.kl_div(_t(np.log(P)), _t(np.log(SOFT)), reduction="batchmean", log_target=True),
        lambda: jaxloss.reduce(jaxloss.kl_divergence(jnp.log(P), jnp.log(SOFT), log_targets=True), reduction="sum") / B,
    ),
    "kl_div(log_p, t) (reduction='mean': every element)": (
        lambda: _without_warning(F.kl_div, _t(np.log(P)), _t(SOFT), reduction="mean"),
        lambda: jaxloss.reduce(jaxloss.kl_divergence(jnp.log(P), SOFT), reduction="sum") / (B * C),
    ),
    "kl_div(log_p, t, reduction='none')": (
        lambda: F.kl_div(_t(np.log(P)), _t(SOFT), reduction="none").sum(-1),
        lambda: jaxloss.kl_divergence(jnp.log(P), SOFT),
    ),
    "poisson_nll_loss(log_rate, counts)": (
        lambda: F.poisson_nll_loss(_t(X), _t(COUNTS)),
        lambda: jaxloss.Loss(jaxloss.poisson_nll)(X, COUNTS),
    ),
    "poisson_nll_loss(rate, counts, log_input=False, full=True)": (
        lambda: F.poisson_nll_loss(_t(RATE), _t(COUNTS), log_input=False, full=True),
        lambda: jaxloss.Loss(jaxloss.poisson_nll, log_input=False, full=True)(RATE, COUNTS),
    ),
    "mse_loss(x, t)": (
        lambda: F.mse_loss(_t(X), _t(T)),
        lambda: jaxloss.Loss(jaxloss.squared_error)(X, T),
    ),
    "l1_loss(x, t)": (
        lambda: F.l1_loss(_t(X), _t(T)),
        lambda: jaxloss.Loss(jaxloss.absolute_error)(X, T),
    ),
    "l1_loss(x, t, reduction='sum')": (
        lambda: F.l1_loss(_t(X), _t(T), reduction="sum"),
        lambda: jaxloss.Loss(jaxloss.absolute_error, reduction="sum")(X, T),
    ),
    "huber_loss(x, t, delta=0.5)": (
        lambda: F.huber_loss(_t(X), _t(T), delta=0.5),
        lambda: jaxloss.Loss(jaxloss.huber, delta=0.5)(X, T),
    ),
    "smooth_l1_loss(x, t, beta=0.5, reduction='none')": (
        lambda: F.smooth_l1_loss(_t(X), _t(T), beta=0.5, reduction="none"),
        lambda: jaxloss.huber(X, T, delta=0.5) / 0.5,
    ),
    "smooth_l1_loss(x, t, beta=0.5)": (
        lambda: F.smooth_l1_loss(_t(X), _t(T), beta=0.5),
        lambda: (jaxloss.Loss(jaxloss.huber, delta=0.5) / 0.5)(X, T),
    ),
    "smooth_l1_loss(x, t) (beta=1)": (
        lambda: F.smooth_l1_loss(_t(X), _t(T)),
        lambda: jaxloss.Loss(jaxloss.huber)(X, T),
    ),
    "cosine_similarity(x1, x2)": (
        lambda: F.cosine_similarity(_t(X), _t(T)),
        lambda: 1.0 - jaxloss.cosine_distance(X, T),
    ),
    "ctc_loss(log_probs, targets, input_lengths, target_lengths) (reduction='mean')": (
        lambda: _torch_ctc("mean"),
        lambda: jaxloss.reduce(
            jaxloss.ctc(CTC_LP, CTC_LABELS, logit_paddings=CTC_FRAME_PAD, label_paddings=CTC_LABEL_PAD),
            1.0 / np.maximum(CTC_TL, 1).astype(np.float32),
        ),
    ),
    "ctc_loss(..., reduction='sum')": (
        lambda: _torch_ctc("sum"),
        lambda: jaxloss.reduce(
            jaxloss.ctc(CTC_LP, CTC_LABELS, logit_paddings=CTC_FRAME_PAD, label_paddings=CTC_LABEL_PAD), reduction="sum"
        ),
    ),
}


@pytest.mark.parametrize("case", list(TORCH))
def test_torch_row(case):
    theirs, ours = TORCH[case]
    with torch.no_grad():
        expected = theirs().numpy()
    _close(ours(), expected)


def test_torch_ignore_index_must_be_passed():
    """torch ignores label -100 by default; jaxloss ignores nothing unless told (a -100 label is out of range)."""
    torch_value = F.cross_entropy(_t(Z), _t(K_IGN)).item()
    without = np.asarray(jaxloss.sparse_softmax_cross_entropy(Z, K_IGN))
    assert np.isnan(without[[1, 4]]).all() and np.isfinite(np.delete(without, [1, 4])).all()
    assert np.isnan(float(jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy)(Z, K_IGN)))
    _close(jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, ignore_index=-100)(Z, K_IGN), torch_value)


def test_smooth_l1_equals_huber_over_beta_with_gradients():
    """torch's SmoothL1Loss(beta) is huber(delta=beta) / beta, gradients included, on both sides of beta."""
    for beta in (0.25, 1.0, 3.0):
        x = _t(X * 2.0).requires_grad_(True)
        F.smooth_l1_loss(x, _t(T), beta=beta, reduction="sum").backward()
        ours = jax.grad(lambda p, beta=beta: jnp.sum(jaxloss.huber(p, T, delta=beta)) / beta)(X * 2.0)
        _close(ours, x.grad.numpy())


def test_weighted_mean_denominator_is_the_kept_class_weights():
    """torch's weighted mean divides by sum(w[y]) over the non-ignored targets, as "weighted_mean" does."""
    kept = K_IGN != -100
    per_example = np.asarray(jaxloss.sparse_softmax_cross_entropy(Z, K_IGN, class_weights=W_CLASS, ignore_index=-100))
    by_hand = per_example.sum() / W_CLASS[K_IGN[kept]].sum()
    ours = jaxloss.Loss(
        jaxloss.sparse_softmax_cross_entropy, class_weights=W_CLASS, ignore_index=-100, reduction="weighted_mean"
    )(Z, K_IGN)
    _close(ours, by_hand)
    _close(ours, F.cross_entropy(_t(Z), _t(K_IGN), weight=_t(W_CLASS)).item())


HIDDEN = _rng.normal(size=(B, 3)).astype(np.float32)
HEAD = _rng.normal(size=(3, C)).astype(np.float32)


def test_ignored_examples_are_in_no_denominator_in_loss_reduce_and_fused():
    """torch's default-ignored mean: Loss, reduce given the mask, and the fused head alike."""
    logits = HIDDEN @ HEAD
    torch_value = F.cross_entropy(_t(logits), _t(K_IGN)).item()
    per_example = jaxloss.sparse_softmax_cross_entropy(logits, K_IGN, ignore_index=-100)
    _close(jaxloss.Loss(jaxloss.sparse_softmax_cross_entropy, ignore_index=-100)(logits, K_IGN), torch_value)
    _close(jaxloss.reduce(per_example, where=K_IGN != -100), torch_value)
    _close(jaxloss.fused_linear_cross_entropy(HIDDEN, HEAD, K_IGN, ignore_index=-100, reduction="mean"), torch_value)


def test_fused_class_weights_weighted_mean_is_torch_weighted_mean():
    """The fused head's class_weights and weighted_mean follow Loss's rules: torch's cross_entropy(weight=w)."""
    logits = HIDDEN @ HEAD
    expected = F.cross_entropy(_t(logits), _t(K_IGN), weight=_t(W_CLASS), label_smoothing=0.1).item()
    ours = jaxloss.fused_linear_cross_entropy(
        HIDDEN, HEAD, K_IGN, class_weights=W_CLASS, ignore_index=-100, label_smoothing=0.1, reduction="weighted_mean"
    )
    _close(ours, expected)


def _namespace_table() -> list[list[str]]:
    """The rows of the porting page's table of every torch loss (its cells, backquotes and links removed)."""
    text = (pathlib.Path(__file__).parents[2] / "docs" / "porting.md").read_text()
    section = text.split("### The drop-in namespace", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    clean = [re.sub(r"[`\[]", "", re.sub(r"\]\[[\w.]+\]", "", row)) for row in rows]
    return [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in clean]


def test_the_porting_page_lists_every_torch_loss_with_its_twins_and_core():
    """Every loss of torch 2.13 (functions and classes) is a row: its twins exist, the class calls the function."""
    from jaxloss.compat import torch as twins

    rows = _namespace_table()
    functions = sorted(
        name
        for name in dir(F)
        if name.endswith("_loss")
        or name
        in {
            "cross_entropy",
            "binary_cross_entropy",
            "binary_cross_entropy_with_logits",
            "kl_div",
            "linear_cross_entropy",
        }
    )
    classes = sorted(set(torch.nn.modules.loss.__all__) - {"NLLLoss2d"})  # deprecated: NLLLoss on [N, C, H, W]
    assert sorted(r[0] for r in rows) == functions
    assert sorted(r[2] for r in rows) == classes
    assert sorted(twins.__all__) == sorted(functions + classes)
    for torch_name, function, cls, core in rows:
        assert function == torch_name
        assert getattr(twins, cls).function is getattr(twins, function), cls
        for name in re.findall(r"(\w+)(?: \(|,|$)", core):
            assert callable(getattr(jaxloss, name)), (torch_name, name)
