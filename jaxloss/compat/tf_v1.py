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
* ``huber_loss`` needs ``delta > 0``; ``log_loss`` needs ``epsilon >= 0``.
* ``sparse_softmax_cross_entropy`` gives ``nan`` for a label outside
  ``[0, num_classes)`` (TensorFlow on CPU raises when the graph runs).
* At a kink the derivative follows JAX: ``hinge_loss`` at a margin of
  exactly 1 has slope 1/2 (TensorFlow's ``relu``: 0).
* ``mean_pairwise_squared_error`` returns TensorFlow 1 graph-mode values;
  TensorFlow 2 eager mode gives another value for scalar weights.
* ``label_smoothing`` above 1 raises ``ValueError`` (TensorFlow builds labels
  outside ``[0, 1]``); a negative ``label_smoothing`` is ignored, as in
  TensorFlow (it only smooths when ``label_smoothing > 0``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

import jaxloss
from jaxloss import _checks
from jaxloss.compat._twin import twin

__all__ = [
    "Reduction",
    "absolute_difference",
    "compute_weighted_loss",
    "cosine_distance",
    "hinge_loss",
    "huber_loss",
    "log_loss",
    "mean_pairwise_squared_error",
    "mean_squared_error",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
]


# The value of tf.compat.v1.GraphKeys.LOSSES; accepted and ignored.
_LOSSES_COLLECTION = "losses"

# Core argument names in this library's spelling: every public function runs
# with them in force, so a core error names `labels`, not the core's name.
_NAMES = dict(targets="labels", probs="predictions", scores="logits")


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
            raise _checks.error(
                ValueError,
                f"Invalid Reduction Key {key!r} for argument `reduction`: expected one of {cls.all()} "
                "(the tf_v1.Reduction members).",
            )


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
        raise _checks.error(ValueError, f"Argument `{name}` must not be None.")


def _check_weights(weights: Any, losses_shape: tuple[int, ...]) -> jax.Array:
    """TensorFlow's ``assert_broadcastable``: rank 0, or same rank with dims 1 or equal."""
    if weights is None:
        raise _checks.error(
            ValueError,
            "`weights` must not be None (TensorFlow: 'None values not supported'); "
            "pass weights=1.0 for unweighted losses.",
        )
    weights = _checks.as_numeric(weights, "weights")
    if weights.ndim == 0:
        return weights
    if weights.ndim != len(losses_shape):
        raise _checks.error(
            ValueError,
            f"`weights` can not be broadcast to the losses: `weights` must be a scalar or "
            f"have the rank of the losses, {len(losses_shape)}, got weights.shape="
            f"{tuple(weights.shape)} and losses.shape={tuple(losses_shape)}.",
        )
    for dim, (w, v) in enumerate(zip(weights.shape, losses_shape, strict=True)):
        if w not in (1, v):
            raise _checks.error(
                ValueError,
                f"`weights` can not be broadcast to the losses: mismatch at dim {dim}, "
                f"weights.shape={tuple(weights.shape)}, losses.shape={tuple(losses_shape)} "
                f"(each dimension of `weights` must be 1 or that of the losses).",
            )
    return weights


def _check_same_shape(logits: jax.Array, labels: jax.Array, labels_name: str, logits_name: str = "logits") -> None:
    # logits.get_shape().assert_is_compatible_with(labels.get_shape())
    if tuple(logits.shape) != tuple(labels.shape):
        raise _checks.error(
            ValueError,
            f"`{logits_name}` and `{labels_name}` must have the same shape, got shapes "
            f"{tuple(logits.shape)} and {tuple(labels.shape)} (incompatible).",
        )


def _smoothing(label_smoothing: Any) -> Any:
    """TensorFlow smooths only ``if label_smoothing > 0``; anything else means none."""
    if isinstance(label_smoothing, jax.core.Tracer):
        return label_smoothing
    return label_smoothing if label_smoothing > 0 else 0.0


@twin(_NAMES, non_negative=("weights",))
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


@twin(_NAMES, non_negative=("weights",))
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


@twin(_NAMES, non_negative=("weights",))
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


def _as_float(x: ArrayLike, name: str) -> jax.Array:
    """TensorFlow casts predictions and labels to float32; non-float inputs do here too."""
    x = _checks.as_numeric(x, name)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def _pair(
    labels: ArrayLike, predictions: ArrayLike, reduction: str, predictions_name: str = "predictions"
) -> tuple[jax.Array, jax.Array]:
    """The checks every elementwise twin starts with, in TensorFlow's order."""
    _not_none(labels, "labels")
    _not_none(predictions, predictions_name)
    Reduction.validate(reduction)
    predictions = _as_float(predictions, predictions_name)
    labels = _as_float(labels, "labels")
    _check_same_shape(predictions, labels, "labels", predictions_name)
    return labels, predictions


@twin(_NAMES, labels="labels", classes_in="logits", non_negative=("weights",))
def sparse_softmax_cross_entropy(
    labels: ArrayLike,
    logits: ArrayLike,
    weights: ArrayLike = 1.0,
    scope: Any = None,
    loss_collection: Any = _LOSSES_COLLECTION,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Softmax cross-entropy with integer labels, weighted and reduced as in TF1.

    ``labels`` has the shape of ``logits`` without the last (class) axis.
    As in TensorFlow, a trailing dimension of size 1 is squeezed where the
    ranks call for it: ``labels`` of the rank of ``logits`` ending in 1
    (``[batch_size, 1]``), then ``weights`` one rank above ``labels`` ending
    in 1 (so ``[batch_size, 1]`` weights fit ``[batch_size]`` labels here,
    unlike in :func:`softmax_cross_entropy`). A label outside
    ``[0, num_classes)`` gives ``nan`` for its example (TensorFlow on CPU
    raises when the graph runs); see :func:`jaxloss.sparse_softmax_cross_entropy`
    for turning it into an error.

    Args:
      labels: int32/int64 class indices ``[d_0, ..., d_{r-1}]``.
      logits: float logits ``[d_0, ..., d_{r-1}, num_classes]``.
      weights: a scalar, or an array of the rank of ``labels`` whose every
        dimension is 1 or that of ``labels``.
      scope: accepted and ignored.
      loss_collection: accepted and ignored.
      reduction: a :class:`Reduction` key.

    Returns:
      The weighted loss, shaped like ``labels`` for ``Reduction.NONE``, else a
      scalar.

    Raises:
      ValueError: ``labels``, ``logits`` or ``weights`` is None, the shapes
        of ``labels``, ``logits`` and ``weights`` do not fit, or ``reduction``
        is unknown.
      TypeError: ``labels`` is not an integer array.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tf_v1
      >>> logits = jnp.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
      >>> tf_v1.sparse_softmax_cross_entropy(jnp.array([0, 1]), logits, weights=jnp.array([1.0, 0.0]))
      Array(0.41703, dtype=float32)
    """
    del scope, loss_collection
    _not_none(labels, "labels")
    _not_none(logits, "logits")
    Reduction.validate(reduction)
    logits = _checks.as_float(logits, "logits")
    labels = _checks.as_integer(labels, "labels")
    # _remove_squeezable_dimensions(labels, logits, weights, expected_rank_diff=1).
    rank_diff = logits.ndim - labels.ndim
    if rank_diff == 2 and logits.shape[-1] == 1:
        logits = logits[..., 0]
    elif rank_diff == 0 and labels.ndim > 0 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if weights is not None:
        weights = _checks.as_numeric(weights, "weights")
        if weights.ndim - labels.ndim == 1:
            if weights.shape[-1] != 1:
                raise _checks.error(
                    ValueError,
                    f"`weights` of shape {tuple(weights.shape)} has one dimension more than "
                    f"`labels` {tuple(labels.shape)}, so its last dimension is squeezed and must be 1.",
                )
            weights = weights[..., 0]
    if logits.ndim == 0 or tuple(labels.shape) != tuple(logits.shape[:-1]):
        raise _checks.error(
            ValueError,
            f"`labels` must have the shape of `logits` without the last (class) dimension, got "
            f"labels.shape={tuple(labels.shape)} and logits.shape={tuple(logits.shape)}.",
        )
    weights = _check_weights(weights, tuple(labels.shape))
    losses = jaxloss.sparse_softmax_cross_entropy(logits, labels)
    return jaxloss.reduce(losses, weights, reduction=_TO_CORE[reduction])


def _elementwise(core, labels, predictions, weights, reduction, **options) -> jax.Array:
    """The body every elementwise twin shares: checks, the core loss, TF1's reduction."""
    labels, predictions = _pair(labels, predictions, reduction)
    weights = _check_weights(weights, tuple(labels.shape))
    return jaxloss.reduce(core(predictions, labels, **options), weights, reduction=_TO_CORE[reduction])


@twin(_NAMES, probabilities="predictions", non_negative=("weights",))
def log_loss(
    labels: ArrayLike,
    predictions: ArrayLike,
    weights: ArrayLike = 1.0,
    epsilon: float = 1e-7,
    scope: Any = None,
    loss_collection: Any = _LOSSES_COLLECTION,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Log loss (binary cross-entropy from probabilities), weighted and reduced as in TF1.

    Computed by :func:`jaxloss.log_loss`:
    ``-y log(p + epsilon) - (1 - y) log(1 - p + epsilon)``, TensorFlow's formula.

    Args:
      labels: targets in ``[0, 1]``, the shape of ``predictions``.
      predictions: probabilities.
      weights: a scalar, or an array of the rank of ``labels`` whose every
        dimension is 1 or that of ``labels``.
      epsilon: added inside both logs, ``>= 0``.
      scope: accepted and ignored.
      loss_collection: accepted and ignored.
      reduction: a :class:`Reduction` key.

    Returns:
      The weighted loss, shaped like ``labels`` for ``Reduction.NONE``, else a
      scalar.

    Raises:
      ValueError: ``labels``, ``predictions`` or ``weights`` is None, the
        shapes do not fit, ``epsilon`` is negative or ``reduction`` is
        unknown.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tf_v1
      >>> tf_v1.log_loss(jnp.array([1.0, 0.0]), jnp.array([0.8, 0.4]), reduction=tf_v1.Reduction.SUM)
      Array(0.73397, dtype=float32)
    """
    del scope, loss_collection
    return _elementwise(jaxloss.log_loss, labels, predictions, weights, reduction, epsilon=epsilon)


@twin(_NAMES, non_negative=("weights",))
def hinge_loss(
    labels: ArrayLike,
    logits: ArrayLike,
    weights: ArrayLike = 1.0,
    scope: Any = None,
    loss_collection: Any = _LOSSES_COLLECTION,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Hinge loss ``max(0, 1 - (2 y - 1) logits)``, weighted and reduced as in TF1.

    As in TensorFlow, labels in ``{0, 1}`` are converted to ``{-1, 1}`` as
    ``2 * labels - 1`` before :func:`jaxloss.hinge`.

    Args:
      labels: targets in ``{0, 1}``, the shape of ``logits``.
      logits: float decision values (positive means class 1).
      weights: a scalar, or an array of the rank of ``labels`` whose every
        dimension is 1 or that of ``labels``.
      scope: accepted and ignored.
      loss_collection: accepted and ignored.
      reduction: a :class:`Reduction` key.

    Returns:
      The weighted loss, shaped like ``labels`` for ``Reduction.NONE``, else a
      scalar.

    Raises:
      ValueError: ``labels``, ``logits`` or ``weights`` is None, the shapes do
        not fit, or ``reduction`` is unknown.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tf_v1
      >>> tf_v1.hinge_loss(jnp.array([1.0, 0.0, 1.0]), jnp.array([2.0, 0.5, -0.5]),
      ...                  reduction=tf_v1.Reduction.NONE)
      Array([0. , 1.5, 1.5], dtype=float32)
    """
    del scope, loss_collection
    labels, logits = _pair(labels, logits, reduction, "logits")
    weights = _check_weights(weights, tuple(labels.shape))
    # TensorFlow's {0, 1} -> {-1, 1} label conversion (exact in any float dtype).
    signs = 2.0 * labels.astype(_checks.compute_dtype(logits)) - 1.0
    losses = jaxloss.hinge(logits, signs)
    return jaxloss.reduce(losses, weights, reduction=_TO_CORE[reduction])


@twin(_NAMES, non_negative=("weights",))
def huber_loss(
    labels: ArrayLike,
    predictions: ArrayLike,
    weights: ArrayLike = 1.0,
    delta: float = 1.0,
    scope: Any = None,
    loss_collection: Any = _LOSSES_COLLECTION,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Huber loss, weighted and reduced as in TF1.

    ``0.5 e**2`` for ``|e| <= delta`` and ``0.5 delta**2 + delta (|e| - delta)``
    beyond, with ``e = predictions - labels`` (:func:`jaxloss.huber`, the same
    computation as TensorFlow's). ``delta`` must be positive (TensorFlow
    accepts any value; ``delta = 0`` gives 0 there).

    Args:
      labels: targets, the shape of ``predictions``.
      predictions: predicted values.
      weights: a scalar, or an array of the rank of ``labels`` whose every
        dimension is 1 or that of ``labels``.
      delta: the switch point from quadratic to linear, ``> 0``.
      scope: accepted and ignored.
      loss_collection: accepted and ignored.
      reduction: a :class:`Reduction` key.

    Returns:
      The weighted loss, shaped like ``labels`` for ``Reduction.NONE``, else a
      scalar.

    Raises:
      ValueError: ``labels``, ``predictions`` or ``weights`` is None, the
        shapes do not fit, ``delta <= 0`` or ``reduction`` is unknown.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tf_v1
      >>> tf_v1.huber_loss(jnp.array([0.0, 0.0]), jnp.array([0.5, 3.0]))
      Array(1.3125, dtype=float32)
    """
    del scope, loss_collection
    return _elementwise(jaxloss.huber, labels, predictions, weights, reduction, delta=delta)


@twin(_NAMES, non_negative=("weights",))
def mean_squared_error(
    labels: ArrayLike,
    predictions: ArrayLike,
    weights: ArrayLike = 1.0,
    scope: Any = None,
    loss_collection: Any = _LOSSES_COLLECTION,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Squared error ``(predictions - labels)**2``, weighted and reduced as in TF1.

    Args:
      labels: targets, the shape of ``predictions``.
      predictions: predicted values.
      weights: a scalar, or an array of the rank of ``labels`` whose every
        dimension is 1 or that of ``labels``.
      scope: accepted and ignored.
      loss_collection: accepted and ignored.
      reduction: a :class:`Reduction` key.

    Returns:
      The weighted loss, shaped like ``labels`` for ``Reduction.NONE``, else a
      scalar.

    Raises:
      ValueError: ``labels``, ``predictions`` or ``weights`` is None, the
        shapes do not fit, or ``reduction`` is unknown.

    Examples:
      TensorFlow's own example (zero weights drop out of the default mean):

      >>> from jaxloss.compat import tf_v1
      >>> tf_v1.mean_squared_error([1, 2, 3], [1, 3, 5], weights=[0, 1, 0.25])
      Array(1., dtype=float32)
      >>> tf_v1.mean_squared_error([1, 2, 3], [1, 3, 5], weights=[0, 1, 0.25],
      ...                          reduction=tf_v1.Reduction.SUM_OVER_BATCH_SIZE)
      Array(0.66667, dtype=float32)
    """
    del scope, loss_collection
    return _elementwise(jaxloss.squared_error, labels, predictions, weights, reduction)


@twin(_NAMES, non_negative=("weights",))
def absolute_difference(
    labels: ArrayLike,
    predictions: ArrayLike,
    weights: ArrayLike = 1.0,
    scope: Any = None,
    loss_collection: Any = _LOSSES_COLLECTION,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> jax.Array:
    """Absolute error ``|predictions - labels|``, weighted and reduced as in TF1.

    Args:
      labels: targets, the shape of ``predictions``.
      predictions: predicted values.
      weights: a scalar, or an array of the rank of ``labels`` whose every
        dimension is 1 or that of ``labels``.
      scope: accepted and ignored.
      loss_collection: accepted and ignored.
      reduction: a :class:`Reduction` key.

    Returns:
      The weighted loss, shaped like ``labels`` for ``Reduction.NONE``, else a
      scalar.

    Raises:
      ValueError: ``labels``, ``predictions`` or ``weights`` is None, the
        shapes do not fit, or ``reduction`` is unknown.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tf_v1
      >>> tf_v1.absolute_difference(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]),
      ...                           weights=jnp.array([1.0, 0.5]), reduction=tf_v1.Reduction.MEAN)
      Array(1.33333, dtype=float32)
    """
    del scope, loss_collection
    return _elementwise(jaxloss.absolute_error, labels, predictions, weights, reduction)


@twin(_NAMES, non_negative=("weights",))
def cosine_distance(
    labels: ArrayLike,
    predictions: ArrayLike,
    axis: int | None = None,
    weights: ArrayLike = 1.0,
    scope: Any = None,
    loss_collection: Any = _LOSSES_COLLECTION,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
    dim: int | None = None,
) -> jax.Array:
    """TF1's cosine distance ``1 - sum(labels * predictions, axis)``, weighted and reduced.

    As in TensorFlow, the inputs are assumed unit-normalised and are **not**
    normalised here (:func:`jaxloss.cosine_distance` with
    ``normalize=False``), and ``axis`` is kept with size 1: the losses of
    ``[batch_size, d]`` inputs with ``axis=1`` are ``[batch_size, 1]``, so
    per-example weights are ``[batch_size, 1]``.

    Args:
      labels: targets, the shape of ``predictions``.
      predictions: unit vectors along ``axis``.
      axis: the vector axis; required.
      weights: a scalar, or an array of the rank of the losses whose every
        dimension is 1 or that of the losses.
      scope: accepted and ignored.
      loss_collection: accepted and ignored.
      reduction: a :class:`Reduction` key.
      dim: deprecated name of ``axis``.

    Returns:
      The weighted loss, the shape of ``labels`` with ``axis`` of size 1 for
      ``Reduction.NONE``, else a scalar.

    Raises:
      ValueError: ``axis`` is None (or both ``axis`` and ``dim`` are given),
        ``labels``, ``predictions`` or ``weights`` is None, the shapes do not
        fit, or ``reduction`` is unknown.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tf_v1
      >>> labels = jnp.array([[1.0, 0.0], [0.6, 0.8]])
      >>> predictions = jnp.array([[0.0, 1.0], [0.6, 0.8]])
      >>> tf_v1.cosine_distance(labels, predictions, axis=1, reduction=tf_v1.Reduction.NONE)
      Array([[1.],
             [0.]], dtype=float32)
    """
    del scope, loss_collection
    if axis is not None and dim is not None:
        raise _checks.error(ValueError, "Cannot specify both 'axis' and 'dim'.")
    axis = dim if axis is None else axis
    if axis is None:
        raise _checks.error(ValueError, "You must specify argument `axis`.")
    labels, predictions = _pair(labels, predictions, reduction)
    ax = _checks.check_axis(predictions, axis, "predictions")
    losses_shape = tuple(1 if i == ax else n for i, n in enumerate(predictions.shape))
    weights = _check_weights(weights, losses_shape)
    losses = jnp.expand_dims(jaxloss.cosine_distance(predictions, labels, axis=ax, normalize=False), ax)
    return jaxloss.reduce(losses, weights, reduction=_TO_CORE[reduction])


@twin(_NAMES, non_negative=("weights",))
def mean_pairwise_squared_error(
    labels: ArrayLike,
    predictions: ArrayLike,
    weights: ArrayLike = 1.0,
    scope: Any = None,
    loss_collection: Any = _LOSSES_COLLECTION,
) -> jax.Array:
    """Mean squared difference of pairwise differences, TensorFlow 1 graph-mode values.

    For each example ``b`` (the first axis), with ``d = predictions - labels``
    over its other axes and ``n_b`` the number of non-zero ``weights`` in it
    once ``weights`` is broadcast to ``labels``::

        loss_b = 2 sum(d**2) / (n_b - 1) - 2 sum(d)**2 / (n_b (n_b - 1))

    (0 where a denominator is 0). With no zero weights this is the mean over
    the pairs ``i < j`` of ``((p_i - p_j) - (l_i - l_j))**2``. The result is
    ``sum(loss_b * weights)``, with ``loss_b`` broadcast to ``weights``
    (a full-shape ``weights`` scales ``loss_b`` by the sum of its entries in
    example ``b``); it is a sum over the batch, and 0 if every weight is 0.
    As in TensorFlow there is no ``reduction`` argument.

    TensorFlow 2 in eager mode returns a different value for scalar, non-zero
    weights: ``_num_present`` then takes a shortcut and counts every element
    of the batch instead of those of each example, so ``n_b`` is the batch's
    element count. Graph mode (TensorFlow 1, and ``tf.function``) always counts
    per example; that is the value here.

    Args:
      labels: targets ``[batch_size, d0, ..., dN]``.
      predictions: predictions, the shape of ``labels``.
      weights: a scalar, or an array of the rank of ``labels`` whose every
        dimension is 1 or that of ``labels`` (so per-example weights are
        ``[batch_size, 1, ...]``).
      scope: accepted and ignored.
      loss_collection: accepted and ignored.

    Returns:
      The scalar weighted loss.

    Raises:
      ValueError: ``labels``, ``predictions`` or ``weights`` is None, or the
        shapes do not fit.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tf_v1
      >>> labels = jnp.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
      >>> predictions = jnp.array([[0.0, 1.0, 4.0], [1.0, 1.0, 1.0]])
      >>> tf_v1.mean_pairwise_squared_error(labels, predictions)
      Array(2.66667, dtype=float32)
    """
    del scope, loss_collection
    labels, predictions = _pair(labels, predictions, Reduction.SUM)
    weights = _check_weights(weights, tuple(labels.shape))
    # TF1 counts per example only the entries with a non-zero weight, but sums
    # over all of them: the core's `count`.
    axes = tuple(range(1, labels.ndim))
    present = jnp.broadcast_to(weights != 0, jnp.broadcast_shapes(labels.shape, weights.shape))
    count = jnp.sum(present, axis=axes, dtype=jnp.int32)
    per_example = jaxloss.pairwise_squared_error(predictions, labels, axis=axes, count=count)
    per_example = jnp.expand_dims(per_example, axes)
    per_example = jnp.broadcast_to(per_example, jnp.broadcast_shapes(per_example.shape, weights.shape))
    loss = jaxloss.reduce(per_example, weights, reduction="sum")
    # TF: 0 when no weight is non-zero.
    return jnp.where(jnp.any(present), loss, jnp.zeros_like(loss))
