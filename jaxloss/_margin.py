"""Margin losses: binary, squared, categorical and multiclass hinge."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from jaxloss import _checks
from jaxloss._primitives import safe_mul


def _margins(scores: ArrayLike, labels: ArrayLike) -> jax.Array:
    """``1 - labels * scores`` after the checks, in the compute dtype."""
    s, y = _checks.floats((scores, "scores"), targets=[(labels, "labels")])
    shape = _checks.elementwise_shape(s, y, "scores", "labels")
    return 1.0 - jnp.broadcast_to(y, shape) * jnp.broadcast_to(s, shape)


def hinge(scores: ArrayLike, labels: ArrayLike) -> jax.Array:
    r"""Elementwise hinge loss :math:`\max(0, 1 - y s)` for labels in {-1, 1}.

    Keras ``hinge`` is its mean over the last axis after Keras converts
    {0, 1} labels to {-1, 1}; here labels are taken as given (convert with
    ``2 * y - 1``). Equals ``optax.hinge_loss``.

    Args:
      scores: float array of decision values.
      labels: labels in {-1, 1} (any real dtype), broadcastable with
        ``scores``.

    Returns:
      The elementwise loss, the broadcast shape; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.hinge(jnp.array([2.0, 0.5, -0.5]), jnp.array([1.0, 1.0, 1.0]))
      Array([0. , 0.5, 1.5], dtype=float32)
    """
    return jnp.maximum(_margins(scores, labels), 0.0)


def squared_hinge(scores: ArrayLike, labels: ArrayLike) -> jax.Array:
    r"""Elementwise squared hinge loss :math:`\max(0, 1 - y s)^2`, labels in {-1, 1}.

    Keras ``squared_hinge`` is its mean over the last axis (after Keras's
    {0, 1} to {-1, 1} label conversion, which is not done here).

    Args:
      scores: float array of decision values.
      labels: labels in {-1, 1}, broadcastable with ``scores``.

    Returns:
      The elementwise loss, the broadcast shape; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.squared_hinge(jnp.array([2.0, 0.5, -0.5]), jnp.array([1.0, 1.0, 1.0]))
      Array([0.  , 0.25, 2.25], dtype=float32)
    """
    return jnp.square(jnp.maximum(_margins(scores, labels), 0.0))


def categorical_hinge(scores: ArrayLike, labels: ArrayLike, *, axis: int = -1) -> jax.Array:
    r"""Categorical hinge loss with one-hot labels, the Keras formula.

    .. math:: \ell = \max(0,\ \max_c (1 - y_c) s_c - \sum_c y_c s_c + 1)

    Note that the true class enters the first maximum as 0 (Keras's form), so
    when every other score is negative the "best wrong score" is 0, unlike
    :func:`multiclass_hinge` (Crammer-Singer). A score of ``-inf`` whose
    coefficient is 0 is dropped (not ``0 * inf = nan``).

    Args:
      scores: float array ``[..., C, ...]``.
      labels: one-hot labels (any real dtype), broadcastable to ``scores``.
      axis: the class axis.

    Returns:
      The loss per example: ``scores`` without ``axis``; float32 for 16-bit
      inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.categorical_hinge(jnp.array([[2.0, 1.5, 0.0]]), jnp.array([[1.0, 0.0, 0.0]]))
      Array([0.5], dtype=float32)
    """
    s, y = _checks.floats((scores, "scores"), targets=[(labels, "labels")])
    ax = _checks.check_axis(s, axis, "scores")
    _checks.check_broadcastable_to(y, s.shape, "labels", "scores")
    y = jnp.broadcast_to(y, s.shape)
    pos = jnp.sum(safe_mul(y, s), axis=ax)
    neg = jnp.max(safe_mul(1.0 - y, s), axis=ax)
    return jnp.maximum(neg - pos + 1.0, 0.0)


@_checks.declare(targets="class_indices", labels="labels", classes_in="scores", class_axis="axis")
def multiclass_hinge(scores: ArrayLike, labels: ArrayLike, *, axis: int = -1) -> jax.Array:
    r"""Multiclass (Crammer-Singer) hinge loss with integer labels.

    .. math:: \ell = \max(0,\ 1 + \max_{j \ne y} s_j - s_y)

    the values of ``optax.multiclass_hinge_loss``. With a single class the
    loss is 0. A label outside ``[0, C)`` gives ``nan`` for that example
    (never a silent value); under
    ``jax.experimental.checkify.checkify(..., errors=checkify.user_checks)``
    it raises instead.

    Args:
      scores: float array ``[..., C, ...]``.
      labels: integer array, ``scores.shape`` without ``axis``.
      axis: the class axis of ``scores``.

    Returns:
      The loss per example, shaped like ``labels``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.multiclass_hinge(jnp.array([[2.0, 1.5, 0.0], [0.0, 1.0, 3.0]]), jnp.array([0, 1]))
      Array([0.5, 3. ], dtype=float32)

    References:
      Crammer and Singer, "On the Algorithmic Implementation of Multiclass
      Kernel-based Vector Machines", JMLR 2, 2001.
    """
    s = _checks.as_float(scores, "scores")
    labels = _checks.as_integer(labels, "labels")
    ax = _checks.check_sparse_labels(s, labels, axis, "scores")
    x = jnp.moveaxis(s.astype(_checks.compute_dtype(s)), ax, -1)
    num_classes = x.shape[-1]
    _checks.check_labels_in_range(labels, num_classes, jnp.ones(labels.shape, bool))
    in_range = (labels >= 0) & (labels < num_classes)
    if jnp.iinfo(labels.dtype).bits < 32:  # an iota over C classes must fit the dtype
        labels = labels.astype(jnp.int32)
    is_target = labels[..., None] == lax.broadcasted_iota(labels.dtype, x.shape, x.ndim - 1)
    target = jnp.sum(jnp.where(is_target, x, 0.0), axis=-1)
    # The best wrong score; -inf (loss 0) when there is no other class.
    other = jnp.max(jnp.where(is_target, -jnp.inf, x), axis=-1)
    loss = jnp.maximum(1.0 + other - target, 0.0)
    return jnp.where(in_range, loss, jnp.nan)
