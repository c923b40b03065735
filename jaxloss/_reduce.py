"""Reductions of per-example losses (API section 3)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxloss import _checks
from jaxloss._primitives import safe_mul

REDUCTIONS = ("none", "sum", "mean", "weighted_mean", "sum_by_nonzero_weights")


def check_reduction(reduction: Any) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise _checks.error(ValueError, f"`reduction` must be one of {REDUCTIONS}, got {reduction!r}.")
    return reduction


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    # A zero denominator (every weight or mask 0) gives 0, not nan, and a zero
    # gradient: the denominator is replaced before the division.
    zero = den == 0
    return jnp.where(zero, 0.0, num / jnp.where(zero, 1.0, den))


def reduce(
    losses: jax.Array,
    weights: jax.Array | float | None = None,
    *,
    reduction: str = "mean",
    where: jax.Array | None = None,
) -> jax.Array:
    """Reduces per-example losses with optional weights and a mask.

    With ``w = broadcast(weights, losses.shape) * where`` (1 where absent):

    ========================== =============================================
    ``"none"``                 ``losses * w``
    ``"sum"``                  ``sum(losses * w)``
    ``"mean"``                 ``sum(losses * w) / n`` with ``n`` the number of
                               unmasked entries (``losses.size`` without ``where``)
    ``"weighted_mean"``        ``sum(losses * w) / sum(w)``
    ``"sum_by_nonzero_weights"`` ``sum(losses * w) / count_nonzero(w)``
    ========================== =============================================

    A zero denominator gives 0, not ``nan``. Masked entries contribute exactly
    0 to the value and to every gradient even if they hold ``nan`` or ``inf``.
    Computation is in float32 for 16-bit inputs.

    Args:
      losses: per-example losses, any shape.
      weights: optional weights broadcastable to ``losses``.
      reduction: one of ``"none"``, ``"sum"``, ``"mean"``, ``"weighted_mean"``,
        ``"sum_by_nonzero_weights"``.
      where: optional boolean mask broadcastable to ``losses``.

    Returns:
      A scalar, or an array shaped like ``losses`` for ``"none"``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> losses = jnp.array([1.0, 2.0, 3.0, 4.0])
      >>> float(jaxloss.reduce(losses, jnp.array([1.0, 1.0, 0.0, 2.0]), reduction="weighted_mean"))
      2.75
      >>> float(jaxloss.reduce(losses, where=jnp.array([True, True, False, False])))
      1.5
    """
    return reduce_applied(losses, weights, reduction=reduction, where=where)


def reduce_applied(
    losses: jax.Array,
    weights: jax.Array | float | None = None,
    *,
    reduction: str = "mean",
    where: jax.Array | None = None,
    applied: jax.Array | None = None,
) -> jax.Array:
    """:func:`reduce` of losses that already carry per-example weights ``applied``.

    A loss with ``class_weights`` has multiplied each example by the weight of
    its target class (its declaration says so, see
    :func:`jaxloss._checks.loss_report`); those weights are not applied again,
    but they are weights: ``"weighted_mean"`` divides by ``sum(w * applied)``
    and ``"sum_by_nonzero_weights"`` counts the nonzero ``w * applied``.
    ``applied=None`` is :func:`reduce` itself.
    """
    check_reduction(reduction)
    losses = _checks.as_float(losses, "losses")
    dtype = _checks.compute_dtype(losses)
    losses = losses.astype(dtype)
    shape = losses.shape
    mask = _checks.as_mask(where, shape, target="losses")
    if weights is None:
        w = jnp.ones(shape, dtype)
    else:
        weights = _checks.as_numeric(weights, "weights").astype(dtype)
        _checks.check_broadcastable_to(weights, shape, "weights", "losses")
        w = jnp.broadcast_to(weights, shape)
    if mask is not None:
        # Double where: nan/inf in masked losses or weights never reach the
        # product, so they cannot reach the value or the gradient either.
        w = jnp.where(mask, w, 0.0)
        losses = jnp.where(mask, losses, 0.0)
    # A zero weight drops its entry completely (0 * inf would be nan).
    weighted = safe_mul(w, losses)
    if reduction == "none":
        return weighted
    total = jnp.sum(weighted)
    if reduction == "sum":
        return total
    if reduction == "mean":
        n = jnp.asarray(losses.size, dtype) if mask is None else jnp.sum(mask).astype(dtype)
        return _safe_div(total, n)
    if applied is not None:
        applied = jnp.broadcast_to(jnp.asarray(applied, dtype), shape)
        w = w * (applied if mask is None else jnp.where(mask, applied, 0.0))
    if reduction == "weighted_mean":
        return _safe_div(total, jnp.sum(w))
    return _safe_div(total, jnp.count_nonzero(w).astype(dtype))
