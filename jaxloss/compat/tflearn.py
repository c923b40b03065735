"""Drop-in twins of tflearn 0.5.0's ``tflearn.objectives``.

Every function takes ``(y_pred, y_true)`` in tflearn's order, returns the
scalar tflearn returns (a mean over every element, or a sum for
``roc_auc_score`` and ``contrastive_loss``) and uses tflearn's own epsilon
(``1e-10``). The math lives in the core functions of :mod:`jaxloss`; these
twins only map arguments onto them and apply tflearn's final mean or sum, so
a port changes only the import::

    # from tflearn import objectives
    from jaxloss.compat import tflearn as objectives

Where tflearn gives ``nan`` or a zero gradient, the twins give the same value
but a finite, useful gradient:

* ``categorical_crossentropy`` clips probabilities to ``[1e-10, 1 - 1e-10]``;
  tflearn's clip makes the gradient exactly 0 at probabilities of 0 or 1,
  ours is the derivative of the formula at the clipped point. A row of zeros
  gives ``-sum(y) * log(1e-10)`` where tflearn gives ``nan``.
* ``weak_cross_entropy_2d`` takes ``log(softmax(.))`` in tflearn, which is
  ``-inf`` (and ``nan`` once multiplied by a zero label) for logits far apart;
  ours stays finite.
* ``roc_auc_score`` selects positives and negatives with boolean masks in
  tflearn (data-dependent shapes); ours sums over every pair with static
  shapes, so it works under ``jax.jit`` and ``jax.vmap``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

import jaxloss
from jaxloss import _checks
from jaxloss.compat._twin import twin

__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "contrastive_loss",
    "hinge_loss",
    "mean_square",
    "roc_auc_score",
    "softmax_categorical_crossentropy",
    "weak_cross_entropy_2d",
    "weighted_crossentropy",
]


# tflearn/config.py
_EPSILON = 1e-10

# Core argument names in this library's spelling: every public function runs
# with them in force, so a core error names `y_pred`, not the core's name.
_NAMES = dict(
    predictions="y_pred",
    probs="y_pred",
    logits="y_pred",
    scores="y_pred",
    distances="y_pred",
    targets="y_true",
    labels="y_true",
)


@twin(_NAMES)
def softmax_categorical_crossentropy(y_pred: ArrayLike, y_true: ArrayLike) -> jax.Array:
    """Softmax cross-entropy between logits and label distributions, averaged.

    ``mean(softmax_cross_entropy_with_logits(logits=y_pred, labels=y_true))``
    as tflearn computes it. As in ``tf.compat.v1.nn.softmax_cross_entropy_with_logits``
    no gradient flows into ``y_true``.

    Args:
      y_pred: unscaled logits ``[batch_size, num_classes]`` (do not pass the
        output of a softmax).
      y_true: one-hot or soft labels, broadcastable to ``y_pred``.

    Returns:
      The mean loss over the batch, a scalar.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tflearn
      >>> y_pred = jnp.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.0]])
      >>> y_true = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
      >>> tflearn.softmax_categorical_crossentropy(y_pred, y_true)
      Array(0.30688, dtype=float32)
    """
    losses = jaxloss.softmax_cross_entropy(y_pred, jax.lax.stop_gradient(jnp.asarray(y_true)))
    return jnp.mean(losses)


@twin(_NAMES, probabilities="y_pred")
def categorical_crossentropy(y_pred: ArrayLike, y_true: ArrayLike) -> jax.Array:
    """Cross-entropy from probabilities, averaged over the batch.

    tflearn renormalises ``y_pred`` along the last axis, clips it to
    ``[1e-10, 1 - 1e-10]`` and returns ``mean(-sum(y_true * log(y_pred), -1))``.
    The values are tflearn's; where tflearn's clip makes the gradient exactly
    0 (a probability of exactly 0 or 1), ours is the derivative of the formula
    at the clipped point. Note that ``1 - 1e-10`` rounds to ``1.0`` in float32,
    so in float32 only the lower clip acts, as in tflearn.

    Args:
      y_pred: probabilities ``[batch_size, num_classes]`` (need not sum to 1).
      y_true: one-hot or soft labels, broadcastable to ``y_pred``.

    Returns:
      The mean loss over the batch, a scalar.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxloss.compat import tflearn
      >>> y_pred = jnp.array([[0.0, 1.0, 0.0], [0.2, 0.7, 0.1]])
      >>> y_true = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
      >>> tflearn.categorical_crossentropy(y_pred, y_true)
      Array(11.6913, dtype=float32)
      >>> bool(jax.grad(tflearn.categorical_crossentropy)(y_pred, y_true)[0, 0] < 0)
      True
    """
    losses = jaxloss.categorical_cross_entropy(y_pred, y_true, epsilon=_EPSILON)
    return jnp.mean(losses)


@twin(_NAMES)
def binary_crossentropy(y_pred: ArrayLike, y_true: ArrayLike) -> jax.Array:
    """Sigmoid cross-entropy from logits, averaged over every element.

    ``mean(max(x, 0) - x * z + log(1 + exp(-|x|)))`` with ``x = y_pred`` and
    ``z = y_true``: ``tf.nn.sigmoid_cross_entropy_with_logits`` averaged.

    Args:
      y_pred: float logits.
      y_true: float targets in ``[0, 1]``, same shape (broadcastable).

    Returns:
      The mean loss, a scalar.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tflearn
      >>> tflearn.binary_crossentropy(jnp.array([[2.0, -1.0]]), jnp.array([[1.0, 0.0]]))
      Array(0.22009, dtype=float32)
    """
    return jnp.mean(jaxloss.sigmoid_binary_cross_entropy(y_pred, y_true))


@twin(_NAMES, non_negative=("weight",))
def weighted_crossentropy(y_pred: ArrayLike, y_true: ArrayLike, weight: ArrayLike = 1.0) -> jax.Array:
    """Sigmoid cross-entropy with a weight on the positive term, averaged.

    ``mean(tf.nn.weighted_cross_entropy_with_logits(targets=y_true,
    logits=y_pred, pos_weight=weight))``: with ``x`` the logits, ``z`` the
    targets and ``q`` the weight,
    ``q * z * -log(sigmoid(x)) + (1 - z) * -log(1 - sigmoid(x))``.

    Args:
      y_pred: float logits.
      y_true: float targets in ``[0, 1]``, same shape (broadcastable).
      weight: coefficient of the positive examples (scalar or broadcastable).

    Returns:
      The mean loss, a scalar.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tflearn
      >>> tflearn.weighted_crossentropy(jnp.array([[2.0, -1.0]]), jnp.array([[1.0, 0.0]]), weight=3.0)
      Array(0.34702, dtype=float32)
    """
    return jnp.mean(jaxloss.sigmoid_binary_cross_entropy(y_pred, y_true, pos_weight=weight))


@twin(_NAMES)
def mean_square(y_pred: ArrayLike, y_true: ArrayLike) -> jax.Array:
    """Mean squared error over every element: ``mean((y_pred - y_true) ** 2)``.

    Args:
      y_pred: float predictions.
      y_true: float targets, broadcastable with ``y_pred``.

    Returns:
      The mean loss, a scalar.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tflearn
      >>> tflearn.mean_square(jnp.array([1.0, 2.0, 4.0]), jnp.array([1.0, 0.0, 1.0]))
      Array(4.33333, dtype=float32)
    """
    return jnp.mean(jaxloss.squared_error(y_pred, y_true))


@twin(_NAMES)
def hinge_loss(y_pred: ArrayLike, y_true: ArrayLike) -> jax.Array:
    """Hinge loss over every element: ``mean(max(1 - y_true * y_pred, 0))``.

    As in tflearn the targets are used as given: pass them in ``{-1, 1}``
    (labels in ``{0, 1}`` are *not* converted, unlike Keras's ``hinge``).

    Args:
      y_pred: float scores.
      y_true: float targets, broadcastable with ``y_pred``.

    Returns:
      The mean loss, a scalar.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tflearn
      >>> tflearn.hinge_loss(jnp.array([0.5, -2.0, 0.3]), jnp.array([1.0, -1.0, -1.0]))
      Array(0.6, dtype=float32)
    """
    return jnp.mean(jaxloss.hinge(y_pred, y_true))


@twin(_NAMES)
def roc_auc_score(y_pred: ArrayLike, y_true: ArrayLike) -> jax.Array:
    """The Wilcoxon-Mann-Whitney surrogate of 1 - AUC (Yan et al. 2003), summed.

    With ``gamma = 0.2`` and ``p = 3``, tflearn returns
    ``sum over positive i, negative j of max(0, gamma - (y_pred_i - y_pred_j)) ** p``,
    a loss to minimise (not an AUC). As in tflearn an element is positive
    when its ``y_true`` is non-zero (``tf.cast(y_true, tf.bool)``): a label of
    ``0.5`` or ``-1`` counts as positive. ``y_true`` has the shape of
    ``y_pred`` (the usual case: every element is scored against every element
    of the other class) or a leading part of it (``y_pred`` ``[N, K]`` and
    ``y_true`` ``[N]``: each of the ``K`` columns is scored separately and the
    results are summed, as tflearn's ``boolean_mask`` does). tflearn's
    boolean masks make shapes depend on the data; ours scores every pair with
    static shapes, so it works under ``jax.jit`` and ``jax.vmap``.

    Args:
      y_pred: float scores.
      y_true: labels, non-zero for positives; the shape of ``y_pred`` or a
        leading part of it.

    Returns:
      The surrogate loss, a scalar (0 when a class is empty).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxloss.compat import tflearn
      >>> y_pred = jnp.array([0.9, 0.3, 0.4, 0.1])
      >>> y_true = jnp.array([1.0, 0.0, 1.0, 0.0])
      >>> jax.jit(tflearn.roc_auc_score)(y_pred, y_true)
      Array(0.001, dtype=float32)

    References:
      Yan, Dodier, Mozer & Wolniewicz, "Optimizing Classifier Performance via
      an Approximation to the Wilcoxon-Mann-Whitney Statistic", ICML 2003.
    """
    (scores,) = _checks.floats((y_pred, "y_pred"))
    labels = _checks.as_numeric(y_true, "y_true")
    if labels.ndim == 0 or tuple(scores.shape[: labels.ndim]) != tuple(labels.shape):
        raise _checks.error(
            ValueError,
            f"`y_true` must have the shape of `y_pred` or a leading part of it (as "
            f"tf.boolean_mask requires), got `y_true` of shape {tuple(labels.shape)} and "
            f"`y_pred` of shape {tuple(scores.shape)}.",
        )
    # tf.cast(y_true, tf.bool): every non-zero label is a positive.
    nonzero = labels if labels.dtype == jnp.bool_ else labels != 0
    positive = nonzero.ravel().astype(scores.dtype)
    columns = scores.reshape(positive.shape[0], -1)
    if columns.shape[1] == 1:
        return jaxloss.wmw_auc_loss(columns[:, 0], positive, gamma=0.2, p=3)
    per_column = jax.vmap(lambda s: jaxloss.wmw_auc_loss(s, positive, gamma=0.2, p=3), in_axes=1)
    return jnp.sum(per_column(columns))


@twin(_NAMES, non_negative=("head",))
def weak_cross_entropy_2d(
    y_pred: ArrayLike,
    y_true: ArrayLike,
    num_classes: int | None = None,
    epsilon: float = 0.0001,
    head: ArrayLike | None = None,
) -> jax.Array:
    """Per-pixel softmax cross-entropy for segmentation, averaged (tflearn's weak form).

    Both inputs are reshaped to ``[-1, num_classes]``, ``epsilon`` is added to
    the logits, and tflearn returns
    ``mean(-sum(head * y_true * log(softmax(y_pred + epsilon)), 1))``. tflearn
    takes ``log(softmax(.))``, which is ``-inf`` (and ``nan`` after
    multiplying a zero label) for logits about 100 apart in float32; ours uses
    a log-softmax and stays finite.

    Args:
      y_pred: float logits ``[batch_size, width, height, num_classes]``.
      y_true: one-hot labels of the same shape (any numeric dtype).
      num_classes: the number of classes; by default ``y_true.shape[-1]``.
        Both inputs are reshaped to ``[-1, num_classes]`` as in tflearn.
      epsilon: added to the logits before the softmax.
      head: optional ``[num_classes]`` per-class weights.

    Returns:
      The mean loss over every pixel, a scalar.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tflearn
      >>> y_pred = jnp.zeros((1, 2, 2, 3))
      >>> y_true = jnp.zeros((1, 2, 2, 3)).at[..., 0].set(1.0)
      >>> tflearn.weak_cross_entropy_2d(y_pred, y_true, head=jnp.array([2.0, 1.0, 1.0]))
      Array(2.19722, dtype=float32)
    """
    (logits,) = _checks.floats((y_pred, "y_pred"))
    labels = _checks.as_numeric(y_true, "y_true")
    if num_classes is None:
        if labels.ndim == 0:
            raise _checks.error(ValueError, "`y_true` must have a class axis to infer `num_classes`, got a scalar.")
        num_classes = labels.shape[-1]
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes < 1:
        raise _checks.error(ValueError, f"`num_classes` must be a positive int, got {num_classes!r}.")
    for x, name in ((logits, "y_pred"), (labels, "y_true")):
        if x.size % num_classes:
            raise _checks.error(
                ValueError,
                f"`{name}` of shape {tuple(x.shape)} cannot be reshaped to (-1, {num_classes}) "
                f"(`num_classes`={num_classes}).",
            )
    logits = logits.reshape(-1, num_classes)
    labels = labels.reshape(-1, num_classes)
    losses = jaxloss.weak_cross_entropy_2d(logits, labels, epsilon=epsilon, class_weights=head)
    return jnp.mean(losses)


@twin(_NAMES)
def contrastive_loss(y_pred: ArrayLike, y_true: ArrayLike, margin: float = 1.0) -> jax.Array:
    """Contrastive loss (Chopra, Hadsell & LeCun 2005), summed and halved.

    tflearn returns
    ``sum(y_true * y_pred ** 2 + (1 - y_true) * max(margin - y_pred, 0) ** 2) / 2``
    with ``y_pred`` the distances: a sum over the batch, not a mean.

    Args:
      y_pred: float distances between the two embeddings of each pair.
      y_true: 1 for similar pairs, 0 for dissimilar ones.
      margin: the distance beyond which dissimilar pairs cost nothing.

    Returns:
      The loss, a scalar.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxloss.compat import tflearn
      >>> tflearn.contrastive_loss(jnp.array([0.5, 0.2, 2.0]), jnp.array([1.0, 0.0, 0.0]))
      Array(0.445, dtype=float32)

    References:
      Chopra, Hadsell & LeCun, "Learning a Similarity Metric Discriminatively,
      with Application to Face Verification", CVPR 2005.
    """
    return jnp.sum(jaxloss.contrastive(y_pred, y_true, margin=margin)) / 2.0
