"""The regression, hinge and focal twins of ``jaxloss.compat.keras`` against Keras 3.

Keras runs on the JAX backend (set by conftest). Values agree to rtol 1e-6
where Keras and the core evaluate the same formula, 1e-5 where they round
differently; the focal losses also get a small absolute tolerance where
Keras's ``1 - p`` in float32 loses the digits of a near-zero loss.
"""

from __future__ import annotations

import warnings

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

_RNG = np.random.default_rng(7)
B, K = 4, 5
PRED = _RNG.normal(size=(B, K)).astype(np.float32)
TARGET = _RNG.normal(size=(B, K)).astype(np.float32)
BINARY = (_RNG.random((B, K)) > 0.5).astype(np.float32)
SIGNS = 2 * BINARY - 1
LOGITS = (2.0 * _RNG.normal(size=(B, K))).astype(np.float32)
ONE_HOT = np.eye(K, dtype=np.float32)[np.array([0, 3, 1, 4])]
ALPHA = [0.1, 0.4, 0.2, 0.2, 0.1]

# name -> (class name, constructor kwargs, y_true, y_pred, tolerance)
EXACT = {"rtol": 1e-6}
ROUNDED = {"rtol": 1e-5}
FOCAL = {"rtol": 1e-5, "atol": 3e-7}
CONFIGS = {
    "mse": ("MeanSquaredError", {}, TARGET, PRED, EXACT),
    "mae": ("MeanAbsoluteError", {}, TARGET, PRED, EXACT),
    "huber": ("Huber", {"delta": 0.7}, TARGET, PRED, ROUNDED),
    "log_cosh": ("LogCosh", {}, TARGET, PRED, ROUNDED),
    "cosine": ("CosineSimilarity", {}, TARGET, PRED, ROUNDED),
    "hinge_01": ("Hinge", {}, BINARY, PRED, EXACT),
    "hinge_signs": ("Hinge", {}, SIGNS, PRED, EXACT),
    "squared_hinge": ("SquaredHinge", {}, BINARY, PRED, EXACT),
    "categorical_hinge": ("CategoricalHinge", {}, ONE_HOT, PRED, EXACT),
    "bfce": ("BinaryFocalCrossentropy", {"from_logits": True}, BINARY, LOGITS, FOCAL),
    "bfce_balanced_smooth": (
        "BinaryFocalCrossentropy",
        {"from_logits": True, "apply_class_balancing": True, "alpha": 0.3, "gamma": 1.5, "label_smoothing": 0.1},
        BINARY,
        LOGITS,
        FOCAL,
    ),
    "cfce": ("CategoricalFocalCrossentropy", {"from_logits": True}, ONE_HOT, LOGITS, FOCAL),
    "cfce_alpha_smooth": (
        "CategoricalFocalCrossentropy",
        {"from_logits": True, "alpha": ALPHA, "gamma": 3.0, "label_smoothing": 0.2},
        ONE_HOT,
        LOGITS,
        FOCAL,
    ),
}

WEIGHTS = {
    "none": None,
    "scalar": 2.5,
    "per_sample": _RNG.uniform(0.0, 2.0, B).astype(np.float32),
    "zeros": np.zeros(B, np.float32),
    "some_zero": np.array([0.0, 1.5, 0.0, 0.5], np.float32),
    "trailing_1": _RNG.uniform(0.0, 2.0, (B, 1)).astype(np.float32),
    "higher_rank": _RNG.uniform(0.0, 2.0, (3, B)).astype(np.float32),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_class_matches_keras(config, reduction):
    name, kwargs, y_true, y_pred, tol = CONFIGS[config]
    k_loss = getattr(keras.losses, name)(reduction=reduction, **kwargs)
    j_loss = getattr(jk, name)(reduction=reduction, **kwargs)
    for sw in WEIGHTS.values():
        _close(j_loss(y_true, y_pred, sample_weight=sw), k_loss(y_true, y_pred, sample_weight=sw), **tol)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_rank_fixes_and_weight_shapes(reduction):
    names = ("MeanSquaredError", "Huber", "LogCosh", "MeanAbsoluteError", "CosineSimilarity")
    # y_true one rank short of y_pred (Keras squeezes y_pred): losses of shape (2,).
    y_pred = _RNG.normal(size=(2, 3, 1)).astype(np.float32)
    y_true = _RNG.normal(size=(2, 3)).astype(np.float32)
    # Inputs (2, 3, 4): losses of shape (2, 3), weights of lower, equal and higher rank.
    x_pred = _RNG.normal(size=(2, 3, 4)).astype(np.float32)
    x_true = _RNG.normal(size=(2, 3, 4)).astype(np.float32)
    cases = [
        (y_true, y_pred, sw)
        for sw in (None, np.float32(0.5), np.array([1.0, 0.0], np.float32), np.ones((2, 1), np.float32))
    ] + [
        (x_true, x_pred, sw)
        for sw in (
            np.array([1.0, 0.0, 2.0], np.float32),
            _RNG.uniform(0, 2, (2, 3, 1)).astype(np.float32),
            _RNG.uniform(0, 2, (2, 1)).astype(np.float32),
            _RNG.uniform(0, 2, (4, 2, 3)).astype(np.float32),
        )
    ]
    for name in names:
        for a, b, sw in cases:
            theirs = getattr(keras.losses, name)(reduction=reduction)(a, b, sample_weight=sw)
            ours = getattr(jk, name)(reduction=reduction)(a, b, sample_weight=sw)
            _close(ours, theirs, rtol=1e-5, atol=1e-7)
    # A weight Keras cannot broadcast against the losses.
    for a, b, bad in ((y_true, y_pred, np.ones(3, np.float32)), (x_true, x_pred, np.ones(2, np.float32))):
        _, err = _keras_or_error(keras.losses.MeanSquaredError(reduction=reduction), a, b, sample_weight=bad)
        assert err is not None
        with pytest.raises(ValueError, match="broadcast"):
            jk.MeanSquaredError(reduction=reduction)(a, b, sample_weight=bad)


# --------------------------------------------------------------------------
# functions: random and edge inputs
# --------------------------------------------------------------------------

X3_PRED = (3.0 * _RNG.normal(size=(3, 4, K))).astype(np.float32)
X3_TARGET = (3.0 * _RNG.normal(size=(3, 4, K))).astype(np.float32)
EDGE_PRED = np.array([[0.0, 1e30, -1e30, 5.0], [1.0, 1.7, -0.3, 0.0], [2.0, 0.0, 0.0, -2.0]], np.float32)
EDGE_TARGET = np.array([[0.0, 0.0, 0.0, 5.0], [0.0, 1.0, -1.3, 0.0], [1.0, 0.0, 0.0, 1e30]], np.float32)


@pytest.mark.parametrize(
    "fn, kwargs, tol",
    [
        ("mean_squared_error", {}, EXACT),
        ("mean_absolute_error", {}, EXACT),
        ("huber", {}, ROUNDED),
        ("huber", {"delta": 2.5}, ROUNDED),
        ("log_cosh", {}, ROUNDED),
    ],
)
def test_regression_functions(fn, kwargs, tol):
    for y_true, y_pred in (
        (X3_TARGET, X3_PRED),
        (X3_TARGET[0], X3_PRED),  # broadcasts
        (X3_TARGET[..., :1], X3_PRED),  # last axis of size 1 broadcasts
        (X3_TARGET[:, :, 0], X3_PRED[:, :, :1]),  # rank off by one: expanded
        (np.round(X3_TARGET), X3_PRED.astype(np.float64)),
    ):
        _close(getattr(jk, fn)(y_true, y_pred, **kwargs), getattr(keras.losses, fn)(y_true, y_pred, **kwargs), **tol)
    if fn != "mean_squared_error":  # (1e30)^2 overflows in both
        theirs = getattr(keras.losses, fn)(EDGE_TARGET, EDGE_PRED, **kwargs)
        _close(getattr(jk, fn)(EDGE_TARGET, EDGE_PRED, **kwargs), theirs)


def test_huber_at_delta_and_integer_inputs():
    # |error| == delta exactly (the quadratic branch in both).
    y_true, y_pred = np.array([[0, 0, 0], [1, 2, 3]]), np.array([[1, -1, 2], [1, 0, 5]])
    for delta in (1.0, 2.0, 0.5):
        theirs = keras.losses.huber(y_true.astype(np.float32), y_pred.astype(np.float32), delta=delta)
        _close(jk.huber(y_true, y_pred, delta=delta), theirs)
    # Integer inputs: Keras's mean of an integer square is float32 too. (Its
    # huber computes in integers, delta and 1/2 truncated; the twin in float32.)
    _close(jk.mean_squared_error(y_true, y_pred), keras.losses.mean_squared_error(y_true, y_pred))
    _close(jk.mean_absolute_error(y_true, y_pred), keras.losses.mean_absolute_error(y_true, y_pred))


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_cosine_similarity(axis):
    y_pred, y_true = X3_PRED.copy(), X3_TARGET.copy()
    y_pred[0, 0, :] = 0.0  # zero vectors: similarity 0
    y_true[1, 1, :] = 0.0
    y_pred[2, 2, :] = 1e-3 * y_true[2, 2, :]  # parallel, small
    y_pred[2, 3, :] = -y_true[2, 3, :]
    kw = {"axis": axis}
    _close(
        jk.cosine_similarity(y_true, y_pred, **kw),
        keras.losses.cosine_similarity(y_true, y_pred, **kw),
        rtol=1e-5,
        atol=1e-7,
    )
    if axis == -1:  # broadcasting along other axes
        _close(
            jk.cosine_similarity(y_true[0], y_pred, **kw),
            keras.losses.cosine_similarity(y_true[0], y_pred, **kw),
            rtol=1e-5,
            atol=1e-7,
        )
    else:  # Keras normalises y_true[0] along a different dimension: refused
        with pytest.raises(ValueError, match="before broadcasting"):
            jk.cosine_similarity(y_true[0], y_pred, **kw)
    with pytest.raises(ValueError, match="before broadcasting"):  # broadcast along the vector axis
        jk.cosine_similarity(y_true[:, :1, :1], y_pred, axis=1)
    # Tiny vectors: both norms floored at 1e-7 the same way.
    tiny = np.array([[1e-9, 0.0], [3e-8, 4e-8], [0.0, 0.0]], np.float32)
    _close(jk.cosine_similarity(tiny, tiny[::-1]), keras.losses.cosine_similarity(tiny, tiny[::-1]), rtol=1e-5)


def test_cosine_similarity_doc_example():
    # keras.losses.cosine_similarity's docstring: [-0., -0.99999994, 0.99999994]
    y_true = [[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]]
    y_pred = [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]]
    ours = jk.cosine_similarity(y_true, y_pred, axis=-1)
    np.testing.assert_allclose(ours, [0.0, -1.0, 1.0], atol=1e-7)
    _close(ours, keras.losses.cosine_similarity(y_true, y_pred, axis=-1), rtol=1e-6, atol=1e-7)


def test_regression_doc_examples():
    # Printed in Keras's docstrings: huber 0.155 (the class), log_cosh 0.108.
    assert abs(float(jk.Huber()([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])) - 0.155) <= 1e-3
    assert abs(float(jk.LogCosh()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])) - 0.108) <= 1e-3


@pytest.mark.parametrize("fn", ["hinge", "squared_hinge"])
def test_hinge_functions(fn):
    y_pred = X3_PRED
    labels01 = (_RNG.random(y_pred.shape) > 0.5).astype(np.float32)
    cases = [
        labels01,  # all in {0, 1}: converted to {-1, 1}
        2 * labels01 - 1,  # {-1, 1}: as given
        np.where(labels01 > 0, 1.0, 0.0).astype(np.int32),  # integer {0, 1}
        np.zeros_like(y_pred),  # all 0: all -1
        np.ones_like(y_pred),  # all 1: no change either way
        np.where(labels01 > 0, 1.0, 0.5).astype(np.float32),  # not binary: unconverted
        labels01[0, 0],  # broadcasts
    ]
    for y_true in cases:
        _close(getattr(jk, fn)(y_true, y_pred), getattr(keras.losses, fn)(y_true, y_pred))
    # jitted, the conversion is a traced value test
    jitted = jax.jit(getattr(jk, fn))
    for y_true in cases[:2]:
        _close(jitted(y_true, y_pred), getattr(keras.losses, fn)(y_true, y_pred))
    _close(getattr(jk, fn)(EDGE_TARGET > 0, EDGE_PRED), getattr(keras.losses, fn)(EDGE_TARGET > 0, EDGE_PRED))


def test_categorical_hinge_function():
    index = _RNG.integers(0, K, (3, 4))
    one_hot = np.eye(K, dtype=np.float32)[index]
    for y_true, y_pred in (
        (one_hot, X3_PRED),
        (one_hot[0], X3_PRED),
        (one_hot, -np.abs(X3_PRED)),
        (2 * one_hot - 1, X3_PRED),
    ):
        _close(jk.categorical_hinge(y_true, y_pred), keras.losses.categorical_hinge(y_true, y_pred))
    edge_true = np.eye(4, dtype=np.float32)[[1, 0, 3]]
    _close(jk.categorical_hinge(edge_true, EDGE_PRED), keras.losses.categorical_hinge(edge_true, EDGE_PRED))


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
def test_binary_focal_crossentropy(kwargs, axis):
    kw = {"from_logits": True, "axis": axis, **kwargs}
    y_pred = (X3_PRED / 1.5).astype(np.float32)  # |logit| < 15: below Keras's clip
    labels = (_RNG.random(y_pred.shape) > 0.5).astype(np.float32)
    soft = _RNG.random(y_pred.shape).astype(np.float32)
    for y_true in (labels, soft):
        theirs = keras.losses.binary_focal_crossentropy(y_true, y_pred, **kw)
        _close(jk.binary_focal_crossentropy(y_true, y_pred, **kw), theirs, **FOCAL)


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
def test_categorical_focal_crossentropy(kwargs, axis):
    # With axis 0 or 1 Keras still smooths with the size of the last axis (5).
    kw = {"from_logits": True, "axis": axis, **kwargs}
    y_pred = X3_PRED
    n = y_pred.shape[axis]
    index = _RNG.integers(0, n, np.delete(y_pred.shape, axis))
    one_hot = np.moveaxis(np.eye(n, dtype=np.float32)[index], -1, axis)
    soft = _RNG.random(y_pred.shape).astype(np.float32)
    for y_true in (one_hot, soft):
        theirs = keras.losses.categorical_focal_crossentropy(y_true, y_pred, **kw)
        _close(jk.categorical_focal_crossentropy(y_true, y_pred, **kw), theirs, **FOCAL)


def test_categorical_focal_per_class_alpha():
    for alpha in (ALPHA, np.array(ALPHA, np.float32), [0.5]):
        for y_true in (ONE_HOT, ONE_HOT[0]):
            kw = {"from_logits": True, "alpha": alpha}
            theirs = keras.losses.categorical_focal_crossentropy(y_true, LOGITS, **kw)
            _close(jk.categorical_focal_crossentropy(y_true, LOGITS, **kw), theirs, **FOCAL)


def test_focal_edge_logits():
    # Logits of +-15 (just inside Keras's clip of the probabilities), -inf on
    # an unlabelled class, ties.
    logits = np.array([[15.0, -15.0, 0.0, 3.0], [-5.0, 14.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
    labels = np.array([[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]], np.float32)
    for kw in ({}, {"apply_class_balancing": True, "label_smoothing": 0.2}):
        theirs = keras.losses.binary_focal_crossentropy(labels, logits, from_logits=True, **kw)
        _close(jk.binary_focal_crossentropy(labels, logits, from_logits=True, **kw), theirs, rtol=1e-4, atol=1e-7)
    one_hot = np.eye(4, dtype=np.float32)[[0, 1, 3]]
    cat_logits = logits.copy()
    cat_logits[0, 1] = -np.inf
    theirs = keras.losses.categorical_focal_crossentropy(one_hot, cat_logits, from_logits=True)
    _close(jk.categorical_focal_crossentropy(one_hot, cat_logits, from_logits=True), theirs, **FOCAL)


# --------------------------------------------------------------------------
# gradients: where Keras's clip of sigmoid/softmax gives exactly 0
# --------------------------------------------------------------------------


def test_focal_gradient_survives_keras_clip():
    # A confidently wrong logit (-20 for a positive label): Keras's sigmoid is
    # clipped to 1e-7, so its loss saturates and its gradient is (nearly) 0.
    y_true, z = jnp.array([[1.0, 0.0]]), jnp.array([[-20.0, -3.0]])
    theirs = jit_grad(lambda p: jnp.sum(keras.losses.binary_focal_crossentropy(y_true, p, from_logits=True)))(z)
    ours = jit_grad(lambda p: jnp.sum(jk.binary_focal_crossentropy(y_true, p, from_logits=True)))(z)
    assert abs(float(theirs[0, 0])) < 1e-6  # only the focal factor's tiny slope is left
    assert np.all(np.isfinite(ours)) and float(ours[0, 0]) < -0.1
    # the twin's value there is the exact one (20, not Keras's -log(1e-7) ~ 16.1)
    np.testing.assert_allclose(jk.binary_focal_crossentropy(y_true, z, from_logits=True)[0], 10.0, rtol=1e-4)

    y_true, z = jnp.array([[1.0, 0.0, 0.0]]), jnp.array([[-20.0, 5.0, 0.0]])
    theirs = jit_grad(lambda p: jnp.sum(keras.losses.categorical_focal_crossentropy(y_true, p, from_logits=True)))(z)
    ours = jit_grad(lambda p: jnp.sum(jk.categorical_focal_crossentropy(y_true, p, from_logits=True)))(z)
    assert np.max(np.abs(theirs)) < 1e-6  # only rounding noise through the renormalisation
    assert np.all(np.isfinite(ours)) and float(ours[0, 0]) < -0.1


def test_gradients_finite_at_edges():
    def total(fn, y_true, **kw):
        return jax.grad(lambda p: jnp.sum(getattr(jk, fn)(y_true, p, **kw)))

    for fn in (
        "huber",
        "log_cosh",
        "mean_absolute_error",
        "cosine_similarity",
        "hinge",
        "squared_hinge",
        "categorical_hinge",
    ):
        g = total(fn, (EDGE_TARGET > 0).astype(np.float32))(EDGE_PRED)
        assert np.all(np.isfinite(g)), fn
    g = total("cosine_similarity", np.ones((2, 3), np.float32))(jnp.zeros((2, 3)))
    assert np.all(np.isfinite(g)) and np.any(g != 0)


# --------------------------------------------------------------------------
# errors where Keras raises, and the configurations not available
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn, args, kwargs",
    [
        ("mean_squared_error", (np.zeros((2, 3)), np.zeros((2, 4), np.float32)), {}),
        ("mean_absolute_error", (np.zeros((2, 3)), np.zeros((2, 4), np.float32)), {}),
        ("huber", (np.zeros((2, 3)), np.zeros((2, 4), np.float32)), {}),
        ("log_cosh", (np.zeros((2, 3)), np.zeros((2, 4), np.float32)), {}),
        ("cosine_similarity", (np.zeros((2, 3)), np.zeros((2, 4), np.float32)), {}),
        ("hinge", (np.zeros((2, 3)), np.zeros((2, 4), np.float32)), {}),
        ("squared_hinge", (np.zeros((2, 3)), np.zeros((2, 4), np.float32)), {}),
        ("categorical_hinge", (np.zeros((2, 3)), np.zeros((2, 4), np.float32)), {}),
        ("binary_focal_crossentropy", (np.zeros((2, 3)), np.zeros((2, 4), np.float32)), {"from_logits": True}),
        ("binary_focal_crossentropy", (np.zeros((2, 1)), np.zeros((2, 3), np.float32)), {"from_logits": True}),
        ("categorical_focal_crossentropy", (np.zeros((2, 3)), np.zeros((2, 4), np.float32)), {"from_logits": True}),
        ("categorical_focal_crossentropy", (np.zeros(3), np.zeros(3, np.float32)), {"axis": True}),
        (
            "categorical_focal_crossentropy",
            (np.zeros((2, 3)), np.zeros((2, 3), np.float32)),
            {"from_logits": True, "alpha": [0.1, 0.2]},
        ),
    ],
)
def test_errors_where_keras_raises(fn, args, kwargs):
    _, err = _keras_or_error(getattr(keras.losses, fn), *args, **kwargs)
    assert err is not None
    with pytest.raises(ValueError):
        getattr(jk, fn)(*args, **kwargs)


def test_our_extra_errors():
    # Keras accepts these silently; the twin refuses them (documented).
    with pytest.raises(ValueError, match="delta"):
        jk.huber(TARGET, PRED, delta=0.0)
    with pytest.raises(ValueError, match="gamma"):
        jk.binary_focal_crossentropy(BINARY, LOGITS, from_logits=True, gamma=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        jk.binary_focal_crossentropy(BINARY, LOGITS, from_logits=True, apply_class_balancing=True, alpha=1.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        jk.categorical_focal_crossentropy(ONE_HOT, LOGITS, from_logits=True, label_smoothing=2.0)
    # A per-class alpha with a class axis that is not the last one: Keras
    # multiplies alpha along the last axis, which the core does not express.
    x = np.zeros((5, 5, 5), np.float32)
    with pytest.raises(ValueError, match="last"):
        jk.categorical_focal_crossentropy(x, x, from_logits=True, alpha=ALPHA, axis=1)


@pytest.mark.parametrize("name", ["BinaryFocalCrossentropy", "CategoricalFocalCrossentropy"])
def test_focal_from_probabilities_default(name):
    # from_logits=False is the default: Keras's formula on clipped
    # probabilities (the full comparison is in test_compat_keras_segmentation_metric_ctc.py).
    y_true = BINARY if name.startswith("Binary") else ONE_HOT
    probs = np.asarray(jax.nn.sigmoid(LOGITS) if name.startswith("Binary") else jax.nn.softmax(LOGITS))
    for reduction in REDUCTIONS:
        theirs = getattr(keras.losses, name)(reduction=reduction)(y_true, probs)
        _close(getattr(jk, name)(reduction=reduction)(y_true, probs), theirs, **FOCAL)
    fn = "binary_focal_crossentropy" if name.startswith("Binary") else "categorical_focal_crossentropy"
    _close(getattr(jk, fn)(y_true, probs), getattr(keras.losses, fn)(y_true, probs), **FOCAL)


def test_categorical_focal_single_class_warns():
    y = np.ones((3, 1), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = keras.losses.categorical_focal_crossentropy(y, y, from_logits=True)
    with pytest.warns(SyntaxWarning):
        ours = jk.categorical_focal_crossentropy(y, y, from_logits=True)
    # Keras: 0.25 * (1e-7)^2 * -log(1 - 1e-7) ~ 4e-22 from its clip; exactly 0 here.
    _close(ours, theirs, atol=1e-20)


# --------------------------------------------------------------------------
# configuration, jit
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("MeanSquaredError", {}),
        ("MeanSquaredError", {"reduction": "sum", "name": "m"}),
        ("MeanAbsoluteError", {"reduction": None}),
        ("Huber", {}),
        ("Huber", {"delta": 2.0, "reduction": "mean"}),
        ("LogCosh", {"reduction": "none"}),
        ("CosineSimilarity", {}),
        ("CosineSimilarity", {"axis": 0, "reduction": "mean_with_sample_weight"}),
        ("Hinge", {}),
        ("SquaredHinge", {"name": "sh"}),
        ("CategoricalHinge", {}),
        ("BinaryFocalCrossentropy", {}),
        (
            "BinaryFocalCrossentropy",
            {
                "apply_class_balancing": True,
                "alpha": 0.4,
                "gamma": 1.0,
                "from_logits": True,
                "label_smoothing": 0.1,
                "axis": 0,
                "reduction": "sum",
            },
        ),
        ("CategoricalFocalCrossentropy", {}),
        (
            "CategoricalFocalCrossentropy",
            {"alpha": ALPHA, "gamma": 3.0, "from_logits": True, "label_smoothing": 0.2, "axis": 1},
        ),
    ],
)
def test_get_config(name, kwargs):
    assert_config_like_keras(name, kwargs)


def test_name_none():
    for name in ("MeanSquaredError", "Huber", "LogCosh", "CategoricalFocalCrossentropy"):
        assert getattr(jk, name)(name=None).name == getattr(keras.losses, name)(name=None).name


def test_jit_and_vmap():
    sw = WEIGHTS["per_sample"]
    for config in ("huber", "cosine", "hinge_01", "bfce_balanced_smooth", "cfce_alpha_smooth"):
        name, kwargs, y_true, y_pred, tol = CONFIGS[config]
        loss = getattr(jk, name)(**kwargs)
        eager = loss(y_true, y_pred, sample_weight=sw)
        _close(jax.jit(loss)(y_true, y_pred, sw), eager, rtol=1e-6)
    per_row = jax.vmap(jk.hinge)(BINARY, PRED)
    # each row alone is all-binary too, so the conversion is the same
    _close(per_row, jk.hinge(BINARY, PRED))
