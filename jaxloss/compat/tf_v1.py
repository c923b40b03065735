"""Drop-in twins of ``tf.compat.v1.losses`` (TensorFlow 1 graph-mode semantics).

Same names, argument order, defaults, reductions and errors as
``tf.compat.v1.losses``, so that a port changes only the import::

    # loss = tf.compat.v1.losses.sigmoid_cross_entropy(labels, logits, weights=w)
    from jaxloss.compat import tf_v1
    loss = tf_v1.sigmoid_cross_entropy(labels, logits, weights=w)

The math lives in :mod:`jaxloss` (the core losses and :func:`jaxloss.reduce`);
these twins only check and map the arguments. ``scope`` and
``loss_collection`` are accepted and ignored: JAX has no graph collections,
use the returned value.

Weights follow TensorFlow's limited broadcasting rule
(``weights_broadcast_ops.assert_broadcastable``): ``weights`` is a scalar, or
has the rank of the per-example losses with every dimension either 1 or the
losses' dimension; anything else (including a ``[batch]`` vector for
``sigmoid_cross_entropy``, whose losses are ``[batch, num_classes]``) is a
``ValueError``. ``weights=None`` is a ``ValueError``, as in TensorFlow.

Known differences, all deliberate:

* TensorFlow upcasts the losses to float32 before weighting and casts the
  result back to the input dtype: float64 inputs get a float32-rounded
  result and 16-bit inputs a 16-bit one. Ours computes float64 in float64,
  and 16-bit inputs in float32 with a float32 result (the package's dtype
  policy).
* A zero weight on an infinite loss gives 0 here, ``nan`` in TensorFlow.
* ``label_smoothing`` above 1 raises ``ValueError`` (TensorFlow builds labels
  outside ``[0, 1]``); a negative ``label_smoothing`` is ignored, as in
  TensorFlow (it only smooths when ``label_smoothing > 0``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

import jaxloss
from jaxloss import _checks

__all__ = [
    "Reduction",
    "compute_weighted_loss",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
]

ArrayLike = Any

# The value of tf.compat.v1.GraphKeys.LOSSES; accepted and ignored.
_LOSSES_COLLECTION = "losses"


class Reduction:
    """Types of loss reduction, with TensorFlow's string values.

    * ``NONE``: un-reduced weighted losses, the shape of the losses.
    * ``SUM``: scalar sum of the weighted losses.
    * ``MEAN``: ``SUM`` divided by the sum of the (broadcast) weights.
    * ``SUM_OVER_BATCH_SIZE``: ``SUM`` divided by the number of elements of
      the losses.
    * ``SUM_BY_NONZERO_WEIGHTS`` (the default of every loss here): ``SUM``
      divided by the number of non-zero (broadcast) weights.
    * ``SUM_OVER_NONZERO_WEIGHTS``: the same as ``SUM_BY_NONZERO_WEIGHTS``.

    A zero denominator gives 0.

    Examples:
      >>> from jaxloss.compat import tf_v1
      >>> tf_v1.Reduction.SUM_BY_NONZERO_WEIGHTS
      'weighted_sum_by_nonzero_weights'
      >>> tf_v1.Reduction.validate("weighted_mean")
      >>> len(tf_v1.Reduction.all())
      6
    """

    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls) -> tuple[str, ...]:
        """Every reduction key, in TensorFlow's order (the last two are equal)."""
        return (
            cls.NONE,
            cls.SUM,
            cls.MEAN,
            cls.SUM_OVER_BATCH_SIZE,
            cls.SUM_OVER_NONZERO_WEIGHTS,
            cls.SUM_BY_NONZERO_WEIGHTS,
        )

    @classmethod
    def validate(cls, key: Any) -> None:
        """Raises ``ValueError`` unless ``key`` is one of :meth:`all`."""
        if key not in cls.all():
            raise ValueError(f"Invalid Reduction Key {key}. Key should be one of {cls.all()}.")


# TF v1 reduction key -> jaxloss.reduce reduction (API section 3).
_TO_CORE = {
    Reduction.NONE: "none",
    Reduction.SUM: "sum",
    Reduction.MEAN: "weighted_mean",
    Reduction.SUM_OVER_BATCH_SIZE: "mean",
    Reduction.SUM_BY_NONZERO_WEIGHTS: "sum_by_nonzero_weights",
}


def _not_none(value: Any, name: str) -> None:
    if value is None:
        raise ValueError(f"Argument `{name}` must not be None.")


def _check_weights(weights: Any, losses_shape: tuple[int, ...]) -> jax.Array:
    """TensorFlow's ``assert_broadcastable``: rank 0, or same rank with dims 1 or equal."""
    if weights is None:
        raise ValueError(
            "`weights` must not be None (TensorFlow: 'None values not supported'); "
            "pass weights=1.0 for unweighted losses."
        )
    weights = _checks.as_numeric(weights, "weights")
    if weights.ndim == 0:
        return weights
    if weights.ndim != len(losses_shape):
        raise ValueError(
            f"`weights` can not be broadcast to the losses: `weights` must be a scalar or "
            f"have the rank of the losses, {len(losses_shape)}, got weights.shape="
            f"{tuple(weights.shape)} and losses.shape={tuple(losses_shape)}."
        )
    for dim, (w, v) in enumerate(zip(weights.shape, losses_shape, strict=True)):
        if w not in (1, v):
            raise ValueError(
                f"`weights` can not be broadcast to the losses: mismatch at dim {dim}, "
                f"weights.shape={tuple(weights.shape)}, losses.shape={tuple(losses_shape)} "
                f"(each dimension of `weights` must be 1 or that of the losses)."
            )
    return weights


def _check_same_shape(logits: jax.Array, labels: jax.Array, labels_name: str) -> None:
    # logits.get_shape().assert_is_compatible_with(labels.get_shape())
    if tuple(logits.shape) != tuple(labels.shape):
        raise ValueError(
            f"`logits` and `{labels_name}` must have the same shape, got shapes "
            f"{tuple(logits.shape)} and {tuple(labels.shape)} (incompatible)."
        )


def _smoothing(label_smoothing: Any) -> Any:
    """TensorFlow smooths only ``if label_smoothing > 0``; anything else means none."""
    if isinstance(label_smoothing, jax.core.Tracer):
        return label_smoothing
    return label_smoothing if label_smoothing > 0 else 0.0


def compute_weighted_loss(
    losses: ArrayLike,
    weights: ArrayLike = 1.0,
    scope: Any = None,
    loss_collection: Any = _LOSSES_COLLECTION,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Weights and reduces per-example losses as ``tf.compat.v1.losses`` does.

    Args:
      losses: per-example losses ``[batch_size, d1, ... dN]``.
      weights: a scalar, or an array of the rank of ``losses`` whose every
        dimension is 1 or that of ``losses``.
      scope: accepted and ignored.
      loss_collection: accepted and ignored.
      reduction: a :class:`Reduction` key.

    Returns:
      The weighted losses (shape of ``losses``) for ``Reduction.NONE``, else a
      scalar.

    Raises:
      ValueError: ``weights`` is None or cannot be broadcast to ``losses``, or
        ``reduction`` is unknown.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tf_v1
      >>> losses = jnp.array([[1.0, 2.0], [3.0, 4.0]])
      >>> tf_v1.compute_weighted_loss(losses, jnp.array([[0.0], [2.0]]))
      Array(7., dtype=float32)
      >>> tf_v1.compute_weighted_loss(losses, 2.0, reduction=tf_v1.Reduction.MEAN)
      Array(2.5, dtype=float32)
    """
    del scope, loss_collection
    Reduction.validate(reduction)
    _not_none(losses, "losses")
    losses = _checks.as_numeric(losses, "losses")
    if not jnp.issubdtype(losses.dtype, jnp.floating):
        # TensorFlow casts the losses to float32 before weighting them.
        losses = losses.astype(jnp.float32)
    weights = _check_weights(weights, tuple(losses.shape))
    return jaxloss.reduce(losses, weights, reduction=_TO_CORE[reduction])


def sigmoid_cross_entropy(
    multi_class_labels: ArrayLike,
    logits: ArrayLike,
    weights: ArrayLike = 1.0,
    label_smoothing: float = 0,
    scope: Any = None,
    loss_collection: Any = _LOSSES_COLLECTION,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Sigmoid cross-entropy from logits, weighted and reduced as in TF1.

    ``weights`` scales the elementwise loss: a scalar scales all of it; an
    array must have the rank of ``logits`` with every dimension 1 or that of
    ``logits`` (so per-example weights are ``[batch_size, 1]``; a
    ``[batch_size]`` vector is a ``ValueError``, as in TensorFlow). With
    ``label_smoothing > 0`` the labels become
    ``labels * (1 - label_smoothing) + 0.5 * label_smoothing``.

    Args:
      multi_class_labels: ``[batch_size, num_classes]`` targets in ``{0, 1}``
        (any numeric dtype, cast to that of ``logits``).
      logits: float ``[batch_size, num_classes]`` logits, the shape of
        ``multi_class_labels``.
      weights: see above.
      label_smoothing: smoothing towards 1/2 when greater than 0.
      scope: accepted and ignored.
      loss_collection: accepted and ignored.
      reduction: a :class:`Reduction` key.

    Returns:
      The weighted loss, of ``logits``'s shape for ``Reduction.NONE``, else a
      scalar.

    Raises:
      ValueError: ``logits`` and ``multi_class_labels`` differ in shape, the
        shape of ``weights`` is invalid, ``weights`` is None, or
        ``multi_class_labels`` or ``logits`` is None.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tf_v1
      >>> labels = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> logits = jnp.array([[2.0, -1.0], [0.5, 3.0]])
      >>> tf_v1.sigmoid_cross_entropy(labels, logits, weights=jnp.array([[1.0], [0.0]]))
      Array(0.22009, dtype=float32)
    """
    del scope, loss_collection
    _not_none(multi_class_labels, "multi_class_labels")
    _not_none(logits, "logits")
    Reduction.validate(reduction)
    logits = _checks.as_float(logits, "logits")
    labels = _checks.as_numeric(multi_class_labels, "multi_class_labels")
    _check_same_shape(logits, labels, "multi_class_labels")
    weights = _check_weights(weights, tuple(logits.shape))
    losses = jaxloss.sigmoid_binary_cross_entropy(
        logits, labels.astype(logits.dtype), label_smoothing=_smoothing(label_smoothing)
    )
    return jaxloss.reduce(losses, weights, reduction=_TO_CORE[reduction])


def softmax_cross_entropy(
    onehot_labels: ArrayLike,
    logits: ArrayLike,
    weights: ArrayLike = 1.0,
    label_smoothing: float = 0,
    scope: Any = None,
    loss_collection: Any = _LOSSES_COLLECTION,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Softmax cross-entropy from logits, weighted and reduced as in TF1.

    The loss of each example is taken over the last axis, so the losses are
    ``[batch_size]`` for ``[batch_size, num_classes]`` logits and ``weights``
    is a scalar or ``[batch_size]`` (``[batch_size, 1]`` is a ``ValueError``,
    as in TensorFlow). With ``label_smoothing > 0`` the labels become
    ``labels * (1 - label_smoothing) + label_smoothing / num_classes``. As in
    TensorFlow, no gradient flows into the labels.

    Args:
      onehot_labels: one-hot (or soft) labels, the shape of ``logits``.
      logits: float logits ``[batch_size, num_classes]``.
      weights: a scalar or an array broadcastable to the ``[batch_size]``
        losses under TensorFlow's rule (same rank, dimensions 1 or equal).
      label_smoothing: smoothing towards ``1 / num_classes`` when greater
        than 0.
      scope: accepted and ignored.
      loss_collection: accepted and ignored.
      reduction: a :class:`Reduction` key.

    Returns:
      The weighted loss, ``[batch_size]`` for ``Reduction.NONE``, else a
      scalar.

    Raises:
      ValueError: ``logits`` and ``onehot_labels`` differ in shape, the shape
        of ``weights`` is invalid, ``weights`` is None, or ``onehot_labels``
        or ``logits`` is None.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tf_v1
      >>> y_true = jnp.array([[0, 1, 0], [0, 0, 1]])
      >>> y_pred = jnp.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
      >>> tf_v1.softmax_cross_entropy(y_true, y_pred, weights=jnp.array([0.3, 0.7]),
      ...                             label_smoothing=0.2)
      Array(0.57618, dtype=float32)
    """
    del scope, loss_collection
    _not_none(onehot_labels, "onehot_labels")
    _not_none(logits, "logits")
    Reduction.validate(reduction)
    logits = _checks.as_float(logits, "logits")
    labels = _checks.as_numeric(onehot_labels, "onehot_labels")
    _check_same_shape(logits, labels, "onehot_labels")
    _checks.check_axis(logits, -1, "logits")
    weights = _check_weights(weights, tuple(logits.shape[:-1]))
    # TensorFlow stops the gradient into the (smoothed) labels.
    labels = jax.lax.stop_gradient(labels.astype(logits.dtype))
    losses = jaxloss.softmax_cross_entropy(logits, labels, label_smoothing=_smoothing(label_smoothing))
    return jaxloss.reduce(losses, weights, reduction=_TO_CORE[reduction])
