"""Metric-learning losses: contrastive loss on distances, Circle loss on embeddings."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from jaxloss import _checks, _primitives
from jaxloss._primitives import inverse_scale, logsumexp, safe_mul, softplus


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


def ntxent(embeddings: ArrayLike, labels: ArrayLike, *, temperature: float = 0.07) -> jax.Array:
    r"""NT-Xent, the normalised temperature-scaled cross-entropy (Chen et al. 2020); a scalar.

    With cosine similarities ``s_ij = u_i . u_j / temperature`` of the
    normalised embeddings ``u_i = e_i / sqrt(max(|e_i|^2, eps))`` (``eps``
    the machine epsilon of the compute dtype: float32's for 16-bit inputs,
    as for float32 ones), positives ``P`` (pairs ``i != j`` with
    equal labels) and negatives ``N_i`` (other labels):

    .. math:: \ell = \frac{1}{|P|} \sum_{(i, j) \in P}
              -\log \frac{e^{s_{ij}}}{e^{s_{ij}} + \sum_{k \in N_i} e^{s_{ik}}}
              = \frac{1}{|P|} \sum_{(i, j) \in P}
              \mathrm{softplus}\Big(\log\sum_{k \in N_i} e^{s_{ik}} - s_{ij}\Big)

    the value of ``optax.losses.ntxent(embeddings, labels, temperature)``
    (the mean over positive pairs is the loss's definition). Written as a
    softplus of a masked log-sum-exp, so a small temperature (``1e-3``) keeps
    finite gradients where optax's are ``nan``; a row without negatives
    contributes 0 (counted in ``|P|``), and a batch without positive pairs
    gives 0 with zero gradients (optax: ``nan``). Zero vectors have similarity
    0 and finite gradients. Rows are rescaled by a power of two before the
    norm, so embeddings of any magnitude give their exact cosines.

    Args:
      embeddings: float ``[N, D]`` embeddings (not necessarily normalised).
      labels: ``[N]`` group identities (any real dtype), compared for
        equality: rows with equal labels are positive pairs.
      temperature: the scale, ``> 0``.

    Returns:
      A scalar; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> e = jnp.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
      >>> jaxloss.ntxent(e, jnp.array([0, 0, 1, 1]), temperature=1.0).round(4)
      Array(0.6736, dtype=float32)

    References:
      Chen, Kornblith, Norouzi and Hinton, "A Simple Framework for Contrastive
      Learning of Visual Representations", ICML 2020.
    """
    _checks.check_range(temperature, "temperature", 0.0, low_open=True)
    emb = _circle_embeddings(embeddings, "embeddings")
    labels = _circle_labels(labels, emb.shape[0], "labels", "embeddings")
    if jnp.issubdtype(labels.dtype, jnp.integer):
        labels = labels.astype(_checks.label_dtype(labels.dtype))
    x = emb.astype(_checks.compute_dtype(emb))
    eps = jnp.finfo(x.dtype).eps  # optax's clip of |x|^2, in the compute dtype
    # A power of two brings rows longer than 1 into [1, 2) (exact; the
    # cosine is unchanged and |x|^2 cannot overflow); shorter rows keep their
    # scale, so optax's clip of |x|^2 at eps applies to them as there.
    r = inverse_scale(jnp.maximum(jnp.max(jnp.abs(x), axis=1, keepdims=True), 1.0))
    x = x * r
    unit = x / jnp.sqrt(jnp.maximum(jnp.sum(jnp.square(x), axis=1, keepdims=True), jnp.asarray(eps, x.dtype)))
    sim = jnp.matmul(unit, unit.T, precision=lax.Precision.HIGHEST) / jnp.asarray(temperature, x.dtype)
    n = emb.shape[0]
    same = labels[:, None] == labels[None, :]
    positive = same & ~jnp.eye(n, dtype=bool)
    negative = ~same
    # -inf with a zero gradient for a row without negatives (logsumexp's rule).
    lse = logsumexp(sim, axis=1, where=negative)
    has_negative = jnp.any(negative, axis=1, keepdims=True)
    z = jnp.where(has_negative, lse[:, None], 0.0) - sim
    active = positive & has_negative
    terms = jnp.where(active, softplus(jnp.where(active, z, 0.0)), 0.0)
    count = jnp.sum(positive).astype(x.dtype)
    return jnp.sum(terms) / jnp.maximum(count, 1.0)


def _clamp_min_zero(z: jax.Array) -> jax.Array:
    """``max(z, 0)`` with torch's ``clamp_min`` derivative: 1 where ``z >= 0`` (also at 0)."""
    return jnp.where(z < 0, 0.0, z)


def _unit_scale(x: jax.Array) -> jax.Array:
    """A power of two (no gradient) that brings a row whose largest entry exceeds 1 into ``[1, 2)``; else 1."""
    m = jnp.max(jnp.abs(x), axis=-1, keepdims=True)
    return jnp.where(m > 1, _primitives.inverse_scale(m), jnp.ones((), x.dtype))


def cosine_embedding(
    x1: ArrayLike, x2: ArrayLike, targets: ArrayLike, *, margin: float = 0.0, axis: int = -1
) -> jax.Array:
    r"""Cosine embedding loss per pair, ``y`` in {-1, 1}.

    .. math:: \ell = \begin{cases} 1 - \cos(x_1, x_2) & y = 1 \\
              \max(0,\ \cos(x_1, x_2) - m) & y = -1 \end{cases}

    with ``cos = x1 . x2 / sqrt((|x1|^2 + 1e-12) (|x2|^2 + 1e-12))`` along
    ``axis``: the values of ``torch.nn.functional.cosine_embedding_loss(...,
    reduction='none')`` (0 for any other label, as there), including its
    derivative at a margin of exactly 0. A zero vector has cosine 0 and
    finite gradients; rows with entries above 1 are rescaled by an exact
    power of two first, so ``1e30`` entries do not overflow.

    Args:
      x1: float array ``[..., D, ...]``.
      x2: float array broadcastable to ``x1``.
      targets: labels in {-1, 1} (any real dtype), broadcastable to ``x1``
        without ``axis``.
      margin: the margin ``m`` (torch suggests ``[-1, 1]``).
      axis: the feature axis.

    Returns:
      The loss per pair, ``x1`` without ``axis``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> a = jnp.array([[1.0, 0.0], [1.0, 1.0]])
      >>> b = jnp.array([[1.0, 1.0], [1.0, 0.0]])
      >>> jaxloss.cosine_embedding(a, b, jnp.array([1.0, -1.0]), margin=0.5)
      Array([0.29289, 0.20711], dtype=float32)
    """
    _checks.check_range(margin, "margin")
    a, b, y = _checks.floats((x1, "x1"), (x2, "x2"), targets=[(targets, "targets")])
    ax = _checks.check_axis(a, axis, "x1")
    _checks.check_broadcastable_to(b, a.shape, "x2", "x1")
    b = jnp.moveaxis(jnp.broadcast_to(b, a.shape), ax, -1)
    a = jnp.moveaxis(a, ax, -1)
    out_shape = a.shape[:-1]
    try:
        ok = tuple(jnp.broadcast_shapes(tuple(y.shape), out_shape)) == out_shape
    except ValueError:
        ok = False
    if not ok:
        raise _checks.error(
            ValueError,
            f"`targets` of shape {tuple(y.shape)} must broadcast to the shape of `x1` without axis {axis}, "
            f"{out_shape}.",
        )
    y = jnp.broadcast_to(y, out_shape)
    r1, r2 = _unit_scale(a), _unit_scale(b)
    a, b = a * r1, b * r2
    eps = 1e-12
    prod = jnp.sum(a * b, axis=-1)
    mag1 = jnp.sum(a * a, axis=-1) + eps * jnp.square(r1[..., 0])
    mag2 = jnp.sum(b * b, axis=-1) + eps * jnp.square(r2[..., 0])
    cos = prod / jnp.sqrt(mag1 * mag2)
    pos = 1.0 - cos
    neg = _clamp_min_zero(cos - jnp.asarray(margin, cos.dtype))
    return jnp.where(y == 1, pos, 0.0) + jnp.where(y == -1, neg, 0.0)


def triplet_margin(
    anchor: ArrayLike,
    positive: ArrayLike,
    negative: ArrayLike,
    *,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    distance_fn: Any = None,
    axis: int = -1,
) -> jax.Array:
    r"""Triplet margin loss per triplet (Balntas et al. 2016).

    .. math:: \ell = \max(0,\ m + d(a, p) - d(a, n))

    with ``d(u, v) = ||u - v + eps||_p`` along ``axis`` (torch's
    ``pairwise_distance``), and with ``swap`` ``d(a, n)`` replaced by
    ``min(d(a, n), d(p, n))``. Equals
    ``torch.nn.functional.triplet_margin_loss(..., reduction='none')``, and
    with ``distance_fn`` ``triplet_margin_with_distance_loss``: then
    ``distance_fn(u, v)`` (called on the full arrays, returning one
    distance per triplet) replaces ``d`` and ``p``, ``eps`` and ``axis`` are
    not used. With ``eps=0`` and ``p=2`` it equals
    ``optax.losses.triplet_margin_loss(..., eps=0)``; optax adds its ``eps``
    inside the root instead (``(sum (u - v)**2 + eps) ** 0.5``): pass that
    as ``distance_fn`` for optax's values with any ``eps``. The derivative
    at a margin of exactly 0 is torch's (that of the linear piece); equal
    vectors with ``eps=0`` give distance 0 with a zero (finite) gradient,
    and huge entries do not overflow (exact power-of-two rescaling).

    Args:
      anchor: float array ``[..., D, ...]``.
      positive: float array broadcastable to ``anchor``.
      negative: float array broadcastable to ``anchor``.
      margin: the margin ``m``.
      p: the norm degree, ``> 0``.
      eps: added to each difference, ``>= 0``.
      swap: use the distance swap of Balntas et al.
      distance_fn: optional callable ``(u, v) -> distances``.
      axis: the feature axis.

    Returns:
      The loss per triplet, ``anchor`` without ``axis``; float32 for 16-bit
      inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> a = jnp.array([[0.0, 0.0], [0.0, 0.0]])
      >>> pos = jnp.array([[1.0, 0.0], [0.0, 3.0]])
      >>> neg = jnp.array([[0.0, 1.5], [2.0, 0.0]])
      >>> jaxloss.triplet_margin(a, pos, neg, eps=0.0)
      Array([0.5, 2. ], dtype=float32)

    References:
      Balntas et al., "Learning local feature descriptors with triplets and
      shallow convolutional neural networks", BMVC 2016.
    """
    _checks.check_range(margin, "margin")
    _checks.check_range(p, "p", 0.0, low_open=True)
    _checks.check_range(eps, "eps", 0.0)
    _checks.check_bool(swap, "swap")
    if distance_fn is not None and not callable(distance_fn):
        raise _checks.error(TypeError, f"`distance_fn` must be a callable or None, got {distance_fn!r}.")
    a, pos, neg = _checks.floats((anchor, "anchor"), (positive, "positive"), (negative, "negative"))
    ax = _checks.check_axis(a, axis, "anchor")
    _checks.elementwise_shape(a, pos, "anchor", "positive")
    _checks.elementwise_shape(a, neg, "anchor", "negative")
    pos, neg = jnp.broadcast_to(pos, a.shape), jnp.broadcast_to(neg, a.shape)
    out_shape = a.shape[:ax] + a.shape[ax + 1 :]
    if distance_fn is None:
        p_, eps_ = float(p), jnp.asarray(eps, a.dtype)

        def dist(u: jax.Array, v: jax.Array) -> jax.Array:
            return _primitives.p_norm(u - v + eps_, p_, ax)
    else:

        def dist(u: jax.Array, v: jax.Array) -> jax.Array:
            d = jnp.asarray(distance_fn(u, v))
            if tuple(d.shape) != tuple(out_shape) or not jnp.issubdtype(d.dtype, jnp.floating):
                raise _checks.error(
                    ValueError,
                    f"`distance_fn` must return one float distance per triplet, shape {tuple(out_shape)}, "
                    f"got {_checks._describe(d)}.",
                )
            return d.astype(a.dtype)

    d_ap = dist(a, pos)
    d_an = dist(a, neg)
    if swap:
        d_an = jnp.minimum(d_an, dist(pos, neg))
    return _clamp_min_zero(jnp.asarray(margin, a.dtype) + d_ap - d_an)
