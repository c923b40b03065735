"""Bad calls fail at trace time with a message naming the argument and what was expected.

One row per bad call: ``(id, call, exception type, message regex)``. Every
regex requires the argument's name and the expectation (an interval, a
shape, a dtype, the list of valid values), so a vaguer message fails here.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import jaxloss
from jaxloss.compat import keras, tf_v1, tflearn

Z = jnp.zeros((2, 3))
ONE_HOT = jnp.eye(3)[:2]
LABELS = jnp.array([0, 1])
H = jnp.ones((2, 4))
W = jnp.ones((4, 3))

BAD_CALLS = [
    # --- shapes -------------------------------------------------------------
    (
        "shape/elementwise",
        lambda: jaxloss.squared_error(jnp.zeros(3), jnp.zeros(4)),
        ValueError,
        r"`targets` of shape \(4,\) must broadcast to the shape of `predictions`, \(3,\)",
    ),
    (
        "shape/dense-labels",
        lambda: jaxloss.softmax_cross_entropy(Z, jnp.zeros((2, 4))),
        ValueError,
        r"`labels` of shape \(2, 4\) must broadcast to the shape of `logits`, \(2, 3\)",
    ),
    (
        "shape/sparse-labels",
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, jnp.array([0, 1, 2])),
        ValueError,
        r"`labels` must have the shape of `logits` without axis -1, \(2,\), got \(3,\)",
    ),
    (
        "shape/wmw",
        lambda: jaxloss.wmw_auc_loss(jnp.zeros(3), jnp.zeros(4)),
        ValueError,
        r"`scores` and `labels` must have the same shape, got \(3,\) and \(4,\)",
    ),
    (
        "shape/fused-weight",
        lambda: jaxloss.fused_linear_cross_entropy(H, jnp.ones((5, 3)), LABELS),
        ValueError,
        r"`weight` must be a \[D, V\] kernel .*D = hidden.shape\[-1\] = 4, got shape \(5, 3\)",
    ),
    (
        "shape/class_weights",
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, LABELS, class_weights=jnp.ones(4)),
        ValueError,
        r"`class_weights` must be a scalar or have shape \(3,\).*got shape \(4,\)",
    ),
    (
        "shape/reduce-weights",
        lambda: jaxloss.reduce(jnp.ones(3), jnp.ones(4)),
        ValueError,
        r"`weights` of shape \(4,\) must broadcast to the shape of `losses`, \(3,\)",
    ),
    (
        "shape/axis-out-of-range",
        lambda: jaxloss.softmax_cross_entropy(Z, ONE_HOT, axis=2),
        ValueError,
        r"`axis`=2 is out of range for `logits` with 2 dimension\(s\)",
    ),
    (
        "shape/tf_v1",
        lambda: tf_v1.mean_squared_error(jnp.zeros((2, 3)), jnp.zeros((2, 4))),
        ValueError,
        r"`predictions` and `labels` must have the same shape, got shapes \(2, 4\) and \(2, 3\)",
    ),
    (
        "shape/keras-function",
        lambda: keras.mean_squared_error(jnp.zeros((2, 4)), jnp.zeros((2, 3))),
        ValueError,
        r"`y_pred` of shape \(2, 3\) and `y_true` of shape \(2, 4\) do not broadcast together",
    ),
    (
        "shape/keras-class",
        lambda: keras.Huber()(jnp.zeros((2, 4)), jnp.zeros((2, 3))),
        ValueError,
        r"`y_pred` of shape \(2, 3\) and `y_true` of shape \(2, 4\) do not broadcast together",
    ),
    (
        "shape/keras-focal",
        lambda: keras.categorical_focal_crossentropy(jnp.zeros((2, 4)), jnp.zeros((2, 3))),
        ValueError,
        r"`y_true` of shape \(2, 4\) must broadcast to the shape of `y_pred`, \(2, 3\)",
    ),
    (
        "shape/tflearn",
        lambda: tflearn.mean_square(jnp.zeros((2, 3)), jnp.zeros((2, 4))),
        ValueError,
        r"`y_pred` of shape \(2, 3\) and `y_true` of shape \(2, 4\) do not broadcast together",
    ),
    (
        "shape/tf_v1-weights",
        lambda: tf_v1.mean_squared_error(ONE_HOT, Z, weights=jnp.ones(3)),
        ValueError,
        r"`weights` can not be broadcast.*must be a scalar or have the rank of the losses, 2",
    ),
    # --- dtypes -------------------------------------------------------------
    (
        "dtype/integer-logits",
        lambda: jaxloss.softmax_cross_entropy(jnp.zeros((2, 3), jnp.int32), ONE_HOT),
        TypeError,
        r"`logits` must be a floating-point array .*got an array of dtype int32",
    ),
    (
        "dtype/integer-logits-sparse",
        lambda: jaxloss.sparse_softmax_cross_entropy(jnp.zeros((2, 3), jnp.int32), LABELS),
        TypeError,
        r"`logits` must be a floating-point array .*got an array of dtype int32",
    ),
    (
        "dtype/integer-losses",
        lambda: jaxloss.reduce(jnp.ones(3, jnp.int32)),
        TypeError,
        r"`losses` must be a floating-point array .*dtype int32",
    ),
    (
        "dtype/float-sparse-labels",
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, jnp.array([0.0, 1.0])),
        TypeError,
        r"`labels` must be an integer array of class indices, got an array of dtype float32",
    ),
    (
        "dtype/float-multiclass-labels",
        lambda: jaxloss.multiclass_hinge(Z, jnp.array([0.0, 1.0])),
        TypeError,
        r"`labels` must be an integer array of class indices",
    ),
    (
        "dtype/complex-targets",
        lambda: jaxloss.squared_error(Z, ONE_HOT.astype(jnp.complex64)),
        TypeError,
        r"`targets` must be a real numeric array, got an array of dtype complex64",
    ),
    (
        "dtype/None-predictions",
        lambda: jaxloss.squared_error(None, ONE_HOT),
        TypeError,
        r"`predictions` must be a floating-point array, got None",
    ),
    (
        "dtype/tf_v1-float-sparse-labels",
        lambda: tf_v1.sparse_softmax_cross_entropy(jnp.array([0.0, 1.0]), Z),
        TypeError,
        r"`labels` must be an integer array of class indices",
    ),
    # --- reductions ---------------------------------------------------------
    (
        "reduction/reduce",
        lambda: jaxloss.reduce(jnp.ones(3), reduction="avg"),
        ValueError,
        r"`reduction` must be one of \('none', 'sum', 'mean', 'weighted_mean', 'sum_by_nonzero_weights'\), got 'avg'",
    ),
    (
        "reduction/Loss",
        lambda: jaxloss.Loss(jaxloss.squared_error, reduction="avg"),
        ValueError,
        r"`reduction` must be one of .*got 'avg'",
    ),
    (
        "reduction/fused",
        lambda: jaxloss.fused_linear_cross_entropy(H, W, LABELS, reduction="avg"),
        ValueError,
        r"`reduction` must be one of .*got 'avg'",
    ),
    (
        "reduction/keras",
        lambda: keras.MeanSquaredError(reduction="avg"),
        ValueError,
        r"argument `reduction`. Expected one of .*'sum_over_batch_size'.*Received: reduction='avg'",
    ),
    (
        "reduction/tf_v1",
        lambda: tf_v1.mean_squared_error(ONE_HOT, Z, reduction="avg"),
        ValueError,
        r"Invalid Reduction Key 'avg' for argument `reduction`: expected one of .*'weighted_sum_by_nonzero_weights'",
    ),
    # --- option ranges ------------------------------------------------------
    (
        "range/label_smoothing-1.5",
        lambda: jaxloss.softmax_cross_entropy(Z, ONE_HOT, label_smoothing=1.5),
        ValueError,
        r"`label_smoothing` must lie in \[0, 1\], got 1.5",
    ),
    (
        "range/label_smoothing-sparse",
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, LABELS, label_smoothing=-0.1),
        ValueError,
        r"`label_smoothing` must lie in \[0, 1\], got -0.1",
    ),
    (
        "range/label_smoothing-keras",
        lambda: keras.categorical_crossentropy(ONE_HOT, Z, label_smoothing=1.5),
        ValueError,
        r"`label_smoothing` must lie in \[0, 1\], got 1.5",
    ),
    (
        "range/label_smoothing-tf_v1",
        lambda: tf_v1.softmax_cross_entropy(ONE_HOT, Z, label_smoothing=1.5),
        ValueError,
        r"`label_smoothing` must lie in \[0, 1\], got 1.5",
    ),
    (
        "range/negative-gamma-sigmoid",
        lambda: jaxloss.sigmoid_focal_loss(Z, ONE_HOT, gamma=-1.0),
        ValueError,
        r"`gamma` must lie in \[0, inf\], got -1.0",
    ),
    (
        "range/negative-gamma-softmax",
        lambda: jaxloss.softmax_focal_loss(Z, ONE_HOT, gamma=-1.0),
        ValueError,
        r"`gamma` must lie in \[0, inf\], got -1.0",
    ),
    (
        "range/negative-gamma-keras",
        lambda: keras.binary_focal_crossentropy(ONE_HOT, Z, gamma=-1.0, from_logits=True),
        ValueError,
        r"`gamma` must lie in \[0, inf\], got -1.0",
    ),
    (
        "range/alpha",
        lambda: jaxloss.sigmoid_focal_loss(Z, ONE_HOT, alpha=2.0),
        ValueError,
        r"`alpha` must lie in \[0, 1\], got 2.0",
    ),
    (
        "range/epsilon",
        lambda: jaxloss.categorical_cross_entropy(Z, ONE_HOT, epsilon=0.6),
        ValueError,
        r"`epsilon` must lie in \[0, 0.5\), got 0.6",
    ),
    (
        "range/delta",
        lambda: jaxloss.huber(Z, ONE_HOT, delta=0.0),
        ValueError,
        r"`delta` must lie in \(0, inf\], got 0.0",
    ),
    (
        "range/delta-keras",
        lambda: keras.huber(ONE_HOT, Z, delta=-1.0),
        ValueError,
        r"`delta` must lie in \(0, inf\], got -1.0",
    ),
    (
        "range/margin",
        lambda: jaxloss.contrastive(Z, ONE_HOT, margin=-1.0),
        ValueError,
        r"`margin` must lie in \[0, inf\], got -1.0",
    ),
    (
        "range/z_loss",
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, LABELS, z_loss=-1.0),
        ValueError,
        r"`z_loss` must lie in \[0, inf\], got -1.0",
    ),
    (
        "range/wmw-p",
        lambda: jaxloss.wmw_auc_loss(jnp.zeros(3), jnp.zeros(3), p=0),
        ValueError,
        r"`p` must lie in \(0, inf\], got 0",
    ),
    (
        "range/fused-chunk_size",
        lambda: jaxloss.fused_linear_cross_entropy(H, W, LABELS, chunk_size=0),
        ValueError,
        r"`chunk_size` must be >= 1, got 0",
    ),
    (
        "range/fused-soft-cap",
        lambda: jaxloss.fused_linear_cross_entropy(H, W, LABELS, logit_soft_cap=0.0),
        ValueError,
        r"`logit_soft_cap` must lie in \(0, inf\], got 0.0",
    ),
    (
        "range/fused-layout",
        lambda: jaxloss.fused_linear_cross_entropy(H, W, LABELS, weight_layout="XY"),
        ValueError,
        r"`weight_layout` must be 'DV' .* or 'VD' .*got 'XY'",
    ),
    # --- option types -------------------------------------------------------
    (
        "type/axis",
        lambda: jaxloss.softmax_cross_entropy(Z, ONE_HOT, axis=1.0),
        TypeError,
        r"`axis` must be an int, got 1.0",
    ),
    (
        "type/log_targets",
        lambda: jaxloss.kl_divergence(Z, ONE_HOT, log_targets=1),
        TypeError,
        r"`log_targets` must be a bool, got 1",
    ),
    (
        "type/ignore_index-float",
        lambda: jaxloss.sparse_softmax_cross_entropy(Z, LABELS, ignore_index=-1.0),
        TypeError,
        r"`ignore_index` must be an int or None, got -1.0",
    ),
    (
        "type/ignore_index-float-fused",
        lambda: jaxloss.fused_linear_cross_entropy(H, W, LABELS, ignore_index=-1.0),
        TypeError,
        r"`ignore_index` must be an int or None, got -1.0",
    ),
    ("type/Loss-fn", lambda: jaxloss.Loss(3), TypeError, r"`fn` must be a callable loss, got 3"),
    # --- where masks --------------------------------------------------------
    (
        "where/not-broadcasting",
        lambda: jaxloss.softmax_cross_entropy(Z, ONE_HOT, where=jnp.ones((3, 2), bool)),
        ValueError,
        r"`where` of shape \(3, 2\) must broadcast to the shape of `logits`, \(2, 3\)",
    ),
    (
        "where/not-broadcasting-reduce",
        lambda: jaxloss.reduce(jnp.ones(3), where=jnp.ones(4, bool)),
        ValueError,
        r"`where` of shape \(4,\) must broadcast to the shape of `losses`, \(3,\)",
    ),
    (
        "where/float-mask",
        lambda: jaxloss.softmax_cross_entropy(Z, ONE_HOT, where=jnp.ones((2, 3))),
        TypeError,
        r"`where` must be a boolean array, got an array of dtype float32",
    ),
    # --- compat twins given arguments of another API -------------------------
    (
        "twin/keras-function-scope",
        lambda: keras.categorical_crossentropy(ONE_HOT, Z, scope="loss"),
        TypeError,
        r"unexpected keyword argument 'scope'",
    ),
    (
        "twin/keras-class-scope",
        lambda: keras.CategoricalCrossentropy(scope="loss"),
        TypeError,
        r"unexpected keyword argument 'scope'",
    ),
    (
        "twin/keras-weights",
        lambda: keras.mean_squared_error(ONE_HOT, Z, weights=1.0),
        TypeError,
        r"unexpected keyword argument 'weights'",
    ),
    (
        "twin/tf_v1-from_logits",
        lambda: tf_v1.softmax_cross_entropy(ONE_HOT, Z, from_logits=True),
        TypeError,
        r"unexpected keyword argument 'from_logits'",
    ),
    (
        "twin/tflearn-weights",
        lambda: tflearn.mean_square(Z, ONE_HOT, weights=1.0),
        TypeError,
        r"unexpected keyword argument 'weights'",
    ),
    (
        "twin/tf_v1-weights-None",
        lambda: tf_v1.mean_squared_error(ONE_HOT, Z, weights=None),
        ValueError,
        r"`weights` must not be None .*pass weights=1.0",
    ),
    ("twin/tf_v1-labels-None", lambda: tf_v1.mean_squared_error(None, Z), ValueError, r"`labels` must not be None"),
]


@pytest.mark.parametrize(("call", "error", "message"), [row[1:] for row in BAD_CALLS], ids=[r[0] for r in BAD_CALLS])
def test_bad_call_raises_naming_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(("call", "error", "message"), [row[1:] for row in BAD_CALLS], ids=[r[0] for r in BAD_CALLS])
def test_bad_call_raises_at_trace_time_under_jit(call, error, message):
    # The same error is raised while tracing: no value-dependent branching.
    with pytest.raises(error, match=message):
        jax.jit(call)()


def test_ids_are_unique():
    ids = [r[0] for r in BAD_CALLS]
    assert len(ids) == len(set(ids))
