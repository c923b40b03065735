"""Ranking losses: the Wilcoxon-Mann-Whitney surrogate of the ROC AUC."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss import _checks
from jaxloss._primitives import log_softmax, safe_mul


def wmw_auc_loss(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    gamma: float = 0.2,
    p: float = 3,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Wilcoxon-Mann-Whitney surrogate of ``1 - AUC`` over all pairs (a scalar).

    Inputs of any shape are flattened. Elements whose label is nonzero are
    positives, the others negatives. Over every positive/negative pair, with
    ``d = s_pos - s_neg - gamma``,

    .. math:: \ell = \sum_{(i, j):\ d_{ij} < 0} (-d_{ij})^p

    the value of tflearn 0.5.0's ``roc_auc_score`` objective (Yan et al.'s
    ``R_2``). The pairs are a static ``[n, n]`` matrix masked by the labels
    and ``where`` (no boolean indexing), so the function is ``jit``-able with
    a fixed cost of ``n**2`` in time and memory. With no positives or no
    negatives the loss is 0. Values grow like ``|d|**p``: for ``|d|`` beyond
    about ``1e12`` a float32 value overflows to ``inf`` (never ``nan``).

    Args:
      scores: float array of any shape.
      labels: array of the same shape; nonzero (including ``nan``) means
        positive.
      gamma: the margin a positive must clear, ``>= 0`` (the paper uses
        ``0 < gamma <= 1``).
      p: the exponent, ``> 0`` (``> 1`` for a continuous derivative).
      where: optional boolean mask broadcastable to ``scores``; masked
        elements take part in no pair, even if they hold ``nan``.

    Returns:
      A scalar; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> scores = jnp.array([0.9, 0.1, 0.5, 0.6])
      >>> labels = jnp.array([1, 0, 1, 0])
      >>> jaxloss.wmw_auc_loss(scores, labels, gamma=0.0, p=1)
      Array(0.1, dtype=float32)

    References:
      Yan, Dodier, Mozer and Wolniewicz, "Optimizing Classifier Performance
      via an Approximation to the Wilcoxon-Mann-Whitney Statistic", ICML 2003.
    """
    _checks.check_range(gamma, "gamma", 0.0)
    _checks.check_range(p, "p", 0.0, low_open=True)
    s = _checks.as_float(scores, "scores")
    y = _checks.as_numeric(labels, "labels")
    _checks.check_same_shape(s, y, "scores", "labels")
    mask = _checks.as_mask(where, s.shape, "scores")
    s = s.astype(_checks.compute_dtype(s)).ravel()
    positive = y.astype(bool).ravel()  # tf.cast(labels, tf.bool): nonzero (and nan) is True
    if mask is not None:
        valid = mask.ravel()
        s = jnp.where(valid, s, 0.0)  # first where: a masked nan never enters a pair
        is_pos, is_neg = positive & valid, ~positive & valid
    else:
        is_pos, is_neg = positive, ~positive
    # d[i, j] = s_j - s_i - gamma for negative i and positive j (tflearn's layout).
    d = (s[None, :] - s[:, None]) - jnp.asarray(gamma, s.dtype)
    active = is_neg[:, None] & is_pos[None, :] & (d < 0)
    # Double where: inactive pairs see a base of 1, never 0 ** (p - 1) = inf or
    # a negative base, in the derivative.
    base = jnp.where(active, -d, 1.0)
    return jnp.sum(jnp.where(active, base**p, 0.0))


def ranking_softmax(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    where: ArrayLike | None = None,
    weights: ArrayLike | None = None,
) -> jax.Array:
    r"""Listwise softmax loss, one value per list (the last axis holds the items).

    .. math:: \ell = -\sum_i w_i\, y_i \log \frac{e^{s_i}}{\sum_{j \in V} e^{s_j}}

    summed over the valid items ``V`` of each list (``where``), with relevance
    labels ``y`` and optional item weights ``w``: the values of
    ``optax.losses.ranking_softmax_loss(logits, labels, where=where,
    weights=weights, reduce_fn=None)`` (pass ``jaxloss.reduce`` for optax's
    default mean; optax's mean leaves out lists with no valid item, which
    ``reduce(..., where=jnp.any(where, axis=-1))`` does too). A list with no
    valid item gives 0 with zero gradients, and an item with label 0 whose
    logit is ``-inf`` contributes nothing (optax: ``nan``, from ``0 * inf``).

    Args:
      logits: float ``[..., list_size]`` item scores.
      labels: relevance labels (any real dtype), broadcastable to ``logits``.
      where: optional boolean mask broadcastable to ``logits``: the valid
        items. A masked item contributes 0 to the value and to every
        gradient, even if its logit, label or weight is ``nan``.
      weights: optional per-item weights broadcastable to ``logits``
        (multiplied into the labels).

    Returns:
      The loss per list, ``logits.shape[:-1]``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> scores = jnp.array([[2.0, 1.0, 3.0], [1.0, 0.5, 1.5]])
      >>> labels = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
      >>> jaxloss.ranking_softmax(scores, labels)
      Array([1.4076059 , 0.68026966], dtype=float32)

    References:
      Cao, Qin, Liu, Tsai and Li, "Learning to Rank: From Pairwise Approach
      to Listwise Approach", ICML 2007.
    """
    s, y = _checks.floats((logits, "logits"), targets=[(labels, "labels")])
    if s.ndim == 0:
        raise _checks.error(ValueError, "`logits` must have at least one dimension (the list axis), got a scalar.")
    _checks.check_broadcastable_to(y, s.shape, "labels", "logits")
    y = jnp.broadcast_to(y, s.shape)
    if weights is not None:
        w = _checks.as_numeric(weights, "weights")
        _checks.check_broadcastable_to(w, s.shape, "weights", "logits")
        y = y * jnp.broadcast_to(w.astype(s.dtype), s.shape)
    mask = _checks.as_mask(where, s.shape, "logits")
    if mask is not None:
        # First where of the double-where: a masked label or weight (even nan)
        # becomes 0; log_softmax turns a masked logit into -inf, zero gradient.
        y = jnp.where(mask, y, 0.0)
    log_p = log_softmax(s, axis=-1, where=mask)
    terms = safe_mul(y, log_p)
    if mask is not None:
        terms = jnp.where(mask, terms, 0.0)
    return -jnp.sum(terms, axis=-1)
