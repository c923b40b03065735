"""Shapes: an elementwise loss never widens its predictions (a ``[B, 1]`` vs ``[B]`` mistake raises).

This module runs with ``jax_numpy_rank_promotion`` at JAX's default
("allow"), as users do: the root conftest's "raise" would hide an implicit
``[B, 1] x [B] -> [B, B]`` broadcast inside a loss, which is exactly the bug
these tests guard against.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from jaxloss.compat import keras, tflearn

B = 4
RNG = np.random.default_rng(0)
PRED = RNG.normal(size=(B, 1)).astype(np.float32)
PROB = (RNG.random((B, 1)) * 0.8 + 0.1).astype(np.float32)
TARGET = RNG.normal(size=B).astype(np.float32)
BINARY = np.array([0.0, 1.0, 1.0, 0.0], np.float32)
SIGNS = np.array([-1.0, 1.0, 1.0, -1.0], np.float32)
POSITIVE = np.abs(TARGET) + 0.5

# (name, loss, predictions [B, 1], targets [B])
ELEMENTWISE = [
    ("squared_error", jaxloss.squared_error, PRED, TARGET),
    ("absolute_error", jaxloss.absolute_error, PRED, TARGET),
    ("huber", jaxloss.huber, PRED, TARGET),
    ("log_cosh", jaxloss.log_cosh, PRED, TARGET),
    ("absolute_percentage_error", jaxloss.absolute_percentage_error, PRED, TARGET),
    ("squared_log_error", jaxloss.squared_log_error, np.abs(PRED), POSITIVE),
    ("hinge", jaxloss.hinge, PRED, SIGNS),
    ("squared_hinge", jaxloss.squared_hinge, PRED, SIGNS),
    ("sigmoid_binary_cross_entropy", jaxloss.sigmoid_binary_cross_entropy, PRED, BINARY),
    ("sigmoid_focal_loss", jaxloss.sigmoid_focal_loss, PRED, BINARY),
    ("binary_cross_entropy", jaxloss.binary_cross_entropy, PROB, BINARY),
    ("binary_focal_cross_entropy", jaxloss.binary_focal_cross_entropy, PROB, BINARY),
    ("log_loss", jaxloss.log_loss, PROB, BINARY),
    ("poisson_nll", jaxloss.poisson_nll, PRED, POSITIVE),
    ("contrastive", jaxloss.contrastive, np.abs(PRED), BINARY),
]


@pytest.fixture(autouse=True)
def _rank_promotion_allowed():
    with jax.numpy_rank_promotion("allow"):
        yield


@pytest.mark.parametrize(("name", "fn", "pred", "target"), ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_column_against_row_raises(name, fn, pred, target):
    with pytest.raises(
        ValueError,
        match=r"of shape \(4,\) must broadcast to the shape of `\w+`, \(4, 1\) "
        r"\(they would broadcast to \(4, 4\)\)",
    ):
        fn(pred, target)


@pytest.mark.parametrize(("name", "fn", "pred", "target"), ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_matching_and_scalar_targets_are_fine(name, fn, pred, target):
    column = fn(pred, target[:, None])
    assert column.shape == (B, 1)
    flat = fn(pred[:, 0], target)
    np.testing.assert_allclose(np.asarray(column)[:, 0], np.asarray(flat), rtol=1e-6)
    # A scalar target broadcasts to the predictions (it never widens them).
    assert fn(pred, target[0]).shape == (B, 1)


def test_the_issue_probes():
    # Before: the [4, 1] x [4] broadcast gave means over 16 pairs (1.8913 and 0.9923 on the issue's data).
    pred = jnp.array([[0.5], [-1.0], [2.0], [0.0]])
    target = jnp.array([1.0, 0.0, -1.0, 2.0])
    with pytest.raises(ValueError, match="`targets` of shape"):
        jaxloss.squared_error(pred, target)
    right = float(jnp.mean(jaxloss.squared_error(pred[:, 0], target)))
    assert right == pytest.approx((0.25 + 1.0 + 9.0 + 4.0) / 4)


def test_per_element_option_shapes_follow_the_rule():
    with pytest.raises(ValueError, match="`pos_weight` of shape"):
        jaxloss.sigmoid_binary_cross_entropy(PRED, BINARY[:, None], pos_weight=np.ones(B, np.float32))


def test_twins_keep_their_originals_broadcasting():
    # Keras and tflearn broadcast both ways (NumPy rules); the twins do too.
    y_true = np.ones((B, 3), np.float32)
    y_pred = np.full((B, 1), 0.5, np.float32)
    np.testing.assert_allclose(keras.mean_squared_error(y_true, y_pred), np.full(B, 0.25), rtol=1e-6)
    assert float(tflearn.mean_square(y_pred, y_true)) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="do not broadcast together"):
        keras.mean_squared_error(np.ones((B, 3), np.float32), np.ones((B, 2), np.float32))
