"""Metric-learning losses: contrastive loss on distances, Circle loss on embeddings."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from jaxloss import _checks
from jaxloss._primitives import logsumexp, safe_mul, softplus


def contrastive(distances: ArrayLike, labels: ArrayLike, *, margin: ArrayLike = 1.0) -> jax.Array:
    r"""Elementwise contrastive loss on pair distances (Hadsell et al. 2006).

    .. math:: \ell = y\, d^2 + (1 - y) \max(\mathrm{margin} - d, 0)^2

    with ``y = 1`` for similar pairs (pulled together) and ``y = 0`` for
    dissimilar ones (pushed beyond ``margin``). tflearn's
    ``contrastive_loss`` is ``sum(loss) / 2``. A term whose coefficient is 0
    is dropped even where its square overflows, so ``d = 1e30`` gives 0 for a
    dissimilar pair, not ``0 * inf = nan``.

    Args:
      distances: float array of non-negative distances.
      labels: similarity labels in ``[0, 1]`` (any real dtype), broadcastable
        with ``distances``.
      margin: ``>= 0``.

    Returns:
      The elementwise loss, the broadcast shape; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.contrastive(jnp.array([0.5, 0.5, 2.0]), jnp.array([1.0, 0.0, 0.0]))
      Array([0.25, 0.25, 0.  ], dtype=float32)

    References:
      Hadsell, Chopra and LeCun, "Dimensionality Reduction by Learning an
      Invariant Mapping", CVPR 2006.
    """
    _checks.check_range(margin, "margin", 0.0)
    d, y = _checks.floats((distances, "distances"), targets=[(labels, "labels")])
    shape = _checks.elementwise_shape(d, y, "distances", "labels")
    d, y = jnp.broadcast_to(d, shape), jnp.broadcast_to(y, shape)
    margin = jnp.asarray(margin, d.dtype)
    similar = safe_mul(y, jnp.square(d))
    dissimilar = safe_mul(1.0 - y, jnp.square(jnp.maximum(margin - d, 0.0)))
    return similar + dissimilar


def _circle_labels(labels: Any, rows: int, name: str, embeddings_name: str) -> jax.Array:
    labels = _checks.as_numeric(labels, name)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.shape != (rows,):
        raise _checks.error(
            ValueError,
            f"`{name}` must have shape ({rows},) (or ({rows}, 1)), one label per row of "
            f"`{embeddings_name}`, got {tuple(labels.shape)}.",
        )
    return labels


def _circle_embeddings(x: Any, name: str) -> jax.Array:
    x = _checks.as_float(x, name)
    if x.ndim != 2:
        raise _checks.error(ValueError, f"`{name}` must be a [rows, dim] matrix, got shape {tuple(x.shape)}.")
    return x


def circle(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    ref_embeddings: ArrayLike | None = None,
    ref_labels: ArrayLike | None = None,
    gamma: ArrayLike = 80.0,
    margin: ArrayLike = 0.4,
    remove_diagonal: bool = True,
) -> jax.Array:
    r"""Circle loss per query embedding (Sun et al. 2020), as Keras 3 computes it.

    With cosine distances ``d_ij = max(1 - e_i . r_j, 0)`` to the reference
    embeddings, positives ``P_i`` (same label; ``j != i`` when
    ``remove_diagonal``) and negatives ``N_i`` (other labels):

    .. math:: \ell_i = \mathrm{softplus}\Big(
              \log\sum_{j \in P_i} e^{-\gamma\, a^p_{ij} (m - d_{ij})}
              + \log\sum_{j \in N_i} e^{\gamma\, a^n_{ij} (1 - m - d_{ij})}\Big)

    with ``a^p = max(m + d, 0)`` and ``a^n = max(1 + m - d, 0)``: the values
    and the gradients of ``keras.losses.circle`` (Keras, unlike the paper,
    does not stop the gradient through the weights ``a``; neither do we).
    The embeddings are **not** normalised here, as in Keras (whose ``Circle``
    expects a ``UnitNormalization`` layer before it): pass unit vectors. A row
    without any positive or any negative gives 0 (Keras: ``softplus(-inf)``)
    with zero, finite gradients. The log-sums are computed stably.

    Args:
      embeddings: float ``[N, D]`` L2-normalised query embeddings.
      labels: ``[N]`` (or ``[N, 1]``) class identities, any real dtype,
        compared for equality (Keras casts them to int32 first).
      ref_embeddings: optional ``[M, D]`` L2-normalised reference embeddings;
        ``embeddings`` when ``None``.
      ref_labels: optional ``[M]`` labels of the references; ``labels`` when
        ``None``.
      gamma: the scale, ``>= 0``.
      margin: the relaxation ``m``.
      remove_diagonal: leave the pairs ``(i, i)`` out of the positives (a
        query is its own reference when ``ref_embeddings`` is ``None``).

    Returns:
      The loss per query, ``[N]``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> e = jnp.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
      >>> jaxloss.circle(e, jnp.array([0, 0, 1, 2]), gamma=1.0)
      Array([0.9718, 1.04348, 0. , 0. ], dtype=float32)

    References:
      Sun et al., "Circle Loss: A Unified Perspective of Pair Similarity
      Optimization", CVPR 2020.
    """
    _checks.check_range(gamma, "gamma", 0.0)
    _checks.check_range(margin, "margin")
    _checks.check_bool(remove_diagonal, "remove_diagonal")
    emb = _circle_embeddings(embeddings, "embeddings")
    ref = emb if ref_embeddings is None else _circle_embeddings(ref_embeddings, "ref_embeddings")
    if ref.shape[1] != emb.shape[1]:
        raise _checks.error(
            ValueError,
            f"`ref_embeddings` must have the dimension of `embeddings`, {emb.shape[1]}, got shape {tuple(ref.shape)}.",
        )
    labels = _circle_labels(labels, emb.shape[0], "labels", "embeddings")
    if ref_labels is None:
        ref_labels = labels
        ref_labels_name = "labels"
    else:
        ref_labels = _circle_labels(ref_labels, ref.shape[0], "ref_labels", "ref_embeddings")
        ref_labels_name = "ref_labels"
    if ref_labels.shape[0] != ref.shape[0]:
        raise _checks.error(
            ValueError,
            f"`{ref_labels_name}` has {ref_labels.shape[0]} labels but `ref_embeddings` has "
            f"{ref.shape[0]} rows; pass `ref_labels` with `ref_embeddings`.",
        )
    dtype = _checks.compute_dtype(emb, ref)
    emb, ref = emb.astype(dtype), ref.astype(dtype)

    similarity = jnp.matmul(emb, ref.T, precision=lax.Precision.HIGHEST)
    dist = jnp.maximum(1.0 - similarity, 0.0)
    label_dtype = _checks.result_type(labels.dtype, ref_labels.dtype)
    positive = labels[:, None].astype(label_dtype) == ref_labels[None, :].astype(label_dtype)
    negative = ~positive
    if remove_diagonal:
        positive = positive & ~jnp.eye(emb.shape[0], ref.shape[0], dtype=bool)
    gamma = jnp.asarray(gamma, dtype)
    margin = jnp.asarray(margin, dtype)
    pos_weights = jnp.maximum((margin + dist) * positive.astype(dtype), 0.0)
    neg_weights = jnp.maximum((1.0 + margin - dist) * negative.astype(dtype), 0.0)
    pos_logits = -gamma * pos_weights * (margin - dist)
    neg_logits = gamma * neg_weights * ((1.0 - margin) - dist)
    # Our logsumexp drops masked entries before touching them and gives -inf
    # with a zero gradient for an empty row.
    pos_term = logsumexp(pos_logits, axis=1, where=positive)
    neg_term = logsumexp(neg_logits, axis=1, where=negative)
    # Double where: a row without positives or negatives is 0, and its -inf
    # never reaches softplus or any gradient.
    valid = jnp.any(positive, axis=1) & jnp.any(negative, axis=1)
    z = jnp.where(valid, pos_term + neg_term, 0.0)
    return jnp.where(valid, softplus(z), 0.0)
