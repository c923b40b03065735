"""Losses between distributions: Kullback-Leibler divergence, Poisson NLL."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss import _checks
from jaxloss._primitives import exp_minus_mul, poisson_deviance_log, poisson_deviance_rate, safe_mul, xlogx


def kl_divergence(
    log_predictions: ArrayLike,
    targets: ArrayLike,
    *,
    axis: int = -1,
    log_targets: bool = False,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Kullback-Leibler divergence ``KL(t || p)`` from log-predictions.

    .. math:: \ell = \sum_c t_c (\log t_c - \log p_c)

    summed over ``axis``. A class with ``t_c == 0`` contributes exactly 0 to
    the value and to the gradients, also where ``log p_c == -inf`` (a masked
    or impossible class): ``optax.kl_divergence`` returns ``nan`` there.
    Per element this is ``torch.nn.functional.kl_div(log_predictions,
    targets, reduction="none", log_target=log_targets)``, summed over ``axis``.

    With ``log_targets=True`` ``targets`` holds ``log t`` and ``-inf`` means
    ``t == 0``. The derivative in ``targets`` at ``t == 0`` (non-log form) is
    the one-sided ``log(tiny) + 1 - log p``, finite unless ``log p`` is
    ``-inf``, where the term is dropped altogether.

    Args:
      log_predictions: float array ``[..., C, ...]`` of log-probabilities.
      targets: probabilities (or log-probabilities with ``log_targets``),
        broadcastable to ``log_predictions``.
      axis: the class axis to sum over.
      log_targets: whether ``targets`` are given in log space.
      where: optional boolean mask broadcastable to ``log_predictions``;
        masked classes contribute 0 even if they hold ``nan``.

    Returns:
      The divergence per example: ``log_predictions`` without ``axis``;
      float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> log_p = jnp.log(jnp.array([[0.5, 0.5, 0.0]]))
      >>> jaxloss.kl_divergence(log_p, jnp.array([[0.5, 0.5, 0.0]]))
      Array([0.], dtype=float32)
      >>> jaxloss.kl_divergence(jnp.log(jnp.array([0.25, 0.75])), jnp.array([1.0, 0.0])).round(4)
      Array(1.3863, dtype=float32)

    References:
      Kullback and Leibler, "On Information and Sufficiency", Ann. Math.
      Statist. 22(1), 1951.
    """
    _checks.check_bool(log_targets, "log_targets")
    log_p, t = _checks.floats((log_predictions, "log_predictions"), targets=[(targets, "targets")])
    ax = _checks.check_axis(log_p, axis, "log_predictions")
    _checks.check_broadcastable_to(t, log_p.shape, "targets", "log_predictions")
    t = jnp.broadcast_to(t, log_p.shape)
    mask = _checks.as_mask(where, log_p.shape, "log_predictions")
    if mask is not None:
        # First where of the double-where: masked entries may hold nan/inf.
        log_p = jnp.where(mask, log_p, 0.0)
        t = jnp.where(mask, t, -jnp.inf if log_targets else 0.0)
    if log_targets:
        # t = exp(log t). A -inf log target (t == 0) is replaced before the
        # subtraction, where -inf - (-inf) would be nan; safe_mul drops the
        # term when exp underflows to 0 and log p is -inf.
        absent = t == -jnp.inf
        safe_lt = jnp.where(absent, 0.0, t)
        safe_lp = jnp.where(absent, 0.0, log_p)
        terms = jnp.where(absent, 0.0, safe_mul(jnp.exp(safe_lt), safe_lt - safe_lp))
    else:
        # xlogx(0) = 0 and safe_mul(0, -inf) = 0: zero-mass classes vanish.
        terms = xlogx(t) - safe_mul(t, log_p)
    if mask is not None:
        terms = jnp.where(mask, terms, 0.0)
    return jnp.sum(terms, axis=ax)


def poisson_nll(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    log_input: bool = True,
    full: bool = False,
    epsilon: float = 1e-8,
) -> jax.Array:
    r"""Elementwise Poisson negative log-likelihood, as PyTorch computes it.

    With ``log_input`` the predictions are log-rates ``x``:

    .. math:: \ell = e^x - t\,x

    otherwise they are rates ``r``: :math:`\ell = r - t \log(r + \epsilon)`.
    With ``full`` the Stirling approximation of :math:`\log t!`,
    :math:`t \log t - t + \tfrac12 \log(2\pi t)`, is added where ``t > 1``
    (0 elsewhere, as in PyTorch). This is
    ``torch.nn.functional.poisson_nll_loss(..., reduction="none")``, except
    that a zero target times an infinite log-term gives 0 where PyTorch gives
    ``nan`` (``x = -inf`` with ``log_input``, ``r = -epsilon`` without).

    Args:
      predictions: float array of log-rates (``log_input``) or rates.
      targets: counts (any real dtype), broadcastable with ``predictions``.
      log_input: whether ``predictions`` are log-rates.
      full: add the Stirling term for ``t > 1``.
      epsilon: added to rates before the log when ``log_input=False``,
        ``>= 0``.

    Returns:
      The elementwise loss, the broadcast shape of the inputs; float32 for
      16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.poisson_nll(jnp.array([0.0, 1.0]), jnp.array([1.0, 0.0])).round(4)
      Array([1.    , 2.7183], dtype=float32)
    """
    _checks.check_bool(log_input, "log_input")
    _checks.check_bool(full, "full")
    _checks.check_range(epsilon, "epsilon", 0.0)
    x, t = _checks.floats((predictions, "predictions"), targets=[(targets, "targets")])
    shape = _checks.elementwise_shape(x, t, "predictions", "targets")
    x, t = jnp.broadcast_to(x, shape), jnp.broadcast_to(t, shape)
    if log_input:
        # t == 0 with x == -inf is the limit 0, not 0 * inf = nan; and where
        # exp(x) and t * x both overflow, no inf - inf.
        loss = exp_minus_mul(x, t)
    else:
        # t * log(r + eps), 0 where t == 0 and the log is -inf. The log's
        # argument is replaced there (double-where) so no gradient sees
        # 0 / 0; elsewhere plain autodiff keeps second derivatives symmetric
        # (xlogy's custom rule drops the mixed term at t == 0).
        y = x + jnp.asarray(epsilon, x.dtype)
        drop = (t == 0) & (y <= 0)
        loss = x - t * jnp.where(drop, 0.0, jnp.log(jnp.where(drop, 1.0, y)))
    if full:
        big = t > 1
        safe_t = jnp.where(big, t, 2.0)  # double-where: log(t <= 0) never reaches a gradient
        half_log = 0.5 * (math.log(2 * math.pi) + jnp.log(safe_t))  # 2 pi t would overflow at 1e38
        # With Stirling's t log t - t added, the NLL is the Poisson deviance
        # (plus half_log): written as such, its large terms (t x and t log t,
        # 1e40 at t = 1e38) neither cancel nor overflow against each other.
        if log_input:
            loss = jnp.where(big, poisson_deviance_log(x, safe_t) + half_log, loss)
        else:
            eps = jnp.asarray(epsilon, x.dtype)
            ok = big & (x + eps > 0)
            rate = jnp.where(ok, x + eps, safe_t)
            deviance = poisson_deviance_rate(rate, safe_t) - eps + half_log
            stirling = safe_t * jnp.log(safe_t) - safe_t + half_log
            # A non-positive rate keeps the plain formula (and PyTorch's nan).
            loss = jnp.where(ok, deviance, loss + jnp.where(big, stirling, 0.0))
    return loss


def convex_kl_divergence(
    log_predictions: ArrayLike,
    targets: ArrayLike,
    *,
    axis: int = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Generalised (convex) Kullback-Leibler divergence for unnormalised distributions.

    .. math:: \ell = \sum_c t_c (\log t_c - \log p_c) + \sum_c (p_c - t_c)

    summed over ``axis``: the Bregman divergence of ``x log x - x``, equal
    to :func:`kl_divergence` when both sum to 1. The values of
    ``optax.losses.convex_kl_divergence`` (optax's
    ``generalized_kl_divergence``). As in :func:`kl_divergence`, a class with
    ``t_c == 0`` contributes only ``p_c`` (0 when ``log p_c == -inf``), with
    finite gradients, where optax gives ``nan``.

    Args:
      log_predictions: float array ``[..., C, ...]`` of log-values ``log p``.
      targets: non-negative values ``t``, broadcastable to
        ``log_predictions``.
      axis: the class axis to sum over.
      where: optional boolean mask broadcastable to ``log_predictions``;
        masked classes contribute 0 to the value and every gradient, even if
        they hold ``nan``.

    Returns:
      The divergence per example: ``log_predictions`` without ``axis``;
      float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> log_p = jnp.log(jnp.array([[0.5, 1.0], [2.0, 0.0]]))
      >>> jaxloss.convex_kl_divergence(log_p, jnp.array([[1.0, 1.0], [1.0, 0.0]]))
      Array([0.19314718, 0.30685282], dtype=float32)
    """
    kl = kl_divergence(log_predictions, targets, axis=axis, where=where)
    # kl_divergence has checked the arguments; what is left is sum(p - t).
    log_p, t = _checks.floats((log_predictions, "log_predictions"), targets=[(targets, "targets")])
    t = jnp.broadcast_to(t, log_p.shape)
    ax = _checks.check_axis(log_p, axis, "log_predictions")
    mask = _checks.as_mask(where, log_p.shape, "log_predictions")
    if mask is not None:
        log_p = jnp.where(mask, log_p, -jnp.inf)  # first where: exp(-inf) = 0, zero gradient
        t = jnp.where(mask, t, 0.0)
    return kl + jnp.sum(jnp.exp(log_p) - t, axis=ax).astype(kl.dtype)
