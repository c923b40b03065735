"""Margin losses: binary, squared, categorical and multiclass hinge."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from jaxloss import _checks, _primitives
from jaxloss._primitives import safe_mul, sparse_plus, sparsemax_fy_loss


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


def binary_sparsemax(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    r"""Elementwise binary sparsemax loss (Blondel et al. 2020, Sec. 4.4).

    .. math:: \ell = \mathrm{sparse\_plus}(-z) \text{ if } y \ne 0
              \text{ else } \mathrm{sparse\_plus}(z),\quad
              \mathrm{sparse\_plus}(u) = \begin{cases} 0 & u \le -1 \\
              (u + 1)^2 / 4 & |u| < 1 \\ u & u \ge 1 \end{cases}

    zero exactly when ``jax.nn.sparse_sigmoid(logits) == labels``: the values
    of ``optax.losses.sparsemax_loss(logits, labels)`` (a nonzero label,
    ``nan`` included, counts as positive, as there). Logits of ``+-inf`` give
    ``inf`` or 0 with the derivatives ``+-1`` or 0, where optax's are ``nan``.

    Args:
      logits: float array of scores.
      labels: labels in {0, 1} (any real dtype), broadcastable to ``logits``.

    Returns:
      The elementwise loss, ``logits``' shape; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.binary_sparsemax(jnp.array([2.0, 0.0, -0.5]), jnp.array([1, 1, 0]))
      Array([0.    , 0.25  , 0.0625], dtype=float32)

    References:
      Blondel, Martins and Niculae, "Learning with Fenchel-Young Losses",
      JMLR 21, 2020.
    """
    z, y = _checks.floats((logits, "logits"), targets=[(labels, "labels")])
    shape = _checks.elementwise_shape(z, y, "logits", "labels")
    z, y = jnp.broadcast_to(z, shape), jnp.broadcast_to(y, shape)
    return sparse_plus(jnp.where(y != 0, -z, z))


def _class_scores(scores: ArrayLike, labels: ArrayLike, axis: int):
    """Checked scores (class axis last, compute dtype), widened labels and the in-range mask."""
    s = _checks.as_float(scores, "scores")
    labels = _checks.as_integer(labels, "labels")
    ax = _checks.check_sparse_labels(s, labels, axis, "scores")
    x = jnp.moveaxis(s.astype(_checks.compute_dtype(s)), ax, -1)
    num_classes = x.shape[-1]
    _checks.check_labels_in_range(labels, num_classes, jnp.ones(labels.shape, bool))
    in_range = (labels >= 0) & (labels < num_classes)
    if jnp.iinfo(labels.dtype).bits < 32:  # an iota over C classes must fit the dtype
        labels = labels.astype(jnp.int32)
    return x, labels, in_range


@_checks.declare(targets="class_indices", labels="labels", classes_in="scores", class_axis="axis")
def multiclass_sparsemax(scores: ArrayLike, labels: ArrayLike, *, axis: int = -1) -> jax.Array:
    r"""Multiclass sparsemax loss with integer labels (Martins and Astudillo 2016).

    .. math:: \ell = \langle p, s - s_y \rangle + \tfrac12 (1 - \lVert p \rVert^2),
              \quad p = \mathrm{sparsemax}(s)

    the Fenchel-Young loss of the Gini entropy: 0 exactly when
    ``sparsemax(s)`` is the one-hot of ``y``; its gradient is
    ``sparsemax(s) - onehot(y)``. The values of
    ``optax.losses.multiclass_sparsemax_loss(scores, labels)`` (which takes
    ``[B, C]`` only), here along any ``axis`` with any batch shape. A score
    of ``-inf`` (a class outside the support) contributes 0 to the value and
    to every derivative; the projection is computed on ``s - max(s)``, so
    huge scores keep their precision. A label outside
    ``[0, C)`` gives ``nan`` for that example (``checkify`` with
    ``user_checks`` raises instead).

    Args:
      scores: float array ``[..., C, ...]``.
      labels: integer array (any integer dtype), ``scores.shape`` without
        ``axis``.
      axis: the class axis of ``scores``.

    Returns:
      The loss per example, shaped like ``labels``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.multiclass_sparsemax(jnp.array([[2.0, 0.5, 0.0], [0.0, 0.5, 0.0]]), jnp.array([0, 2])).round(4)
      Array([0.    , 0.5833], dtype=float32)

    References:
      Martins and Astudillo, "From Softmax to Sparsemax: A Sparse Model of
      Attention and Multi-Label Classification", ICML 2016.
    """
    x, labels, in_range = _class_scores(scores, labels, axis)
    loss = sparsemax_fy_loss(x, jnp.where(in_range, labels, 0))
    return jnp.where(in_range, loss, jnp.nan)


@_checks.declare(targets="class_indices", labels="labels", classes_in="scores", class_axis="axis")
def multiclass_perceptron(scores: ArrayLike, labels: ArrayLike, *, axis: int = -1) -> jax.Array:
    r"""Multiclass perceptron loss with integer labels (Collins 2002).

    .. math:: \ell = \max_j s_j - s_y

    the values and gradients of ``optax.losses.multiclass_perceptron_loss``
    (ties in the maximum share its gradient equally, as ``jnp.max``'s do);
    here along any ``axis``. A ``-inf`` score of a class other than ``y``
    contributes nothing (optax: ``nan``, from ``0 * inf`` in its one-hot
    product). A label outside ``[0, C)`` gives ``nan`` for that example.

    Args:
      scores: float array ``[..., C, ...]``.
      labels: integer array (any integer dtype), ``scores.shape`` without
        ``axis``.
      axis: the class axis of ``scores``.

    Returns:
      The loss per example, shaped like ``labels``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.multiclass_perceptron(jnp.array([[2.0, 1.5, 0.0], [0.0, 1.0, 3.0]]), jnp.array([0, 1]))
      Array([0., 2.], dtype=float32)

    References:
      Collins, "Discriminative Training Methods for Hidden Markov Models:
      Theory and Experiments with Perceptron Algorithms", EMNLP 2002.
    """
    x, labels, in_range = _class_scores(scores, labels, axis)
    is_target = labels[..., None] == lax.broadcasted_iota(labels.dtype, x.shape, x.ndim - 1)
    target = jnp.sum(jnp.where(is_target, x, 0.0), axis=-1)
    loss = jnp.max(x, axis=-1) - target
    return jnp.where(in_range, loss, jnp.nan)


def _clamp_min_zero(z: jax.Array) -> jax.Array:
    """``max(z, 0)`` with torch's ``clamp_min`` derivative: 1 where ``z >= 0`` (also at 0); ``nan`` stays ``nan``."""
    return jnp.where(z < 0, 0.0, z)


def _positive_part(z: jax.Array) -> jax.Array:
    """``max(z, 0)`` with derivative 1 only where ``z > 0`` (torch's ``if (z > 0)`` kernels)."""
    return jnp.where(z <= 0, 0.0, z)


def soft_margin(scores: ArrayLike, labels: ArrayLike) -> jax.Array:
    r"""Elementwise soft-margin (logistic) loss :math:`\log(1 + e^{-y s})` for labels in {-1, 1}.

    Equals ``torch.nn.functional.soft_margin_loss(..., reduction='none')``,
    computed as a stable softplus (no overflow for large ``-y s``).

    Args:
      scores: float array of decision values.
      labels: labels in {-1, 1} (any real dtype), broadcastable to ``scores``.

    Returns:
      The elementwise loss, the shape of ``scores``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.soft_margin(jnp.array([2.0, 0.0, -1.0]), jnp.array([1.0, 1.0, 1.0]))
      Array([0.126928 , 0.6931472, 1.3132617], dtype=float32)
    """
    s, y = _checks.floats((scores, "scores"), targets=[(labels, "labels")])
    shape = _checks.elementwise_shape(s, y, "scores", "labels")
    return _primitives.softplus(-(jnp.broadcast_to(y, shape) * s))


def multilabel_soft_margin(
    scores: ArrayLike, labels: ArrayLike, *, class_weights: ArrayLike | None = None, axis: int = -1
) -> jax.Array:
    r"""Multi-label one-versus-all logistic loss, averaged over the class axis.

    .. math:: \ell = -\frac1C \sum_c w_c \big(y_c \log\sigma(s_c)
              + (1 - y_c) \log\sigma(-s_c)\big)

    Equals ``torch.nn.functional.multilabel_soft_margin_loss(...,
    reduction='none')`` with the same ``weight``, the class axis being
    ``axis`` (last by default). Labels are in ``[0, 1]`` (multi-hot or soft);
    a term whose coefficient is 0 is dropped even at an infinite score.

    Args:
      scores: float array ``[..., C, ...]``.
      labels: targets in ``[0, 1]`` (any real dtype), broadcastable to
        ``scores``.
      class_weights: optional ``[C]`` weights of each class's term (torch's
        ``weight``), ``>= 0``.
      axis: the class axis.

    Returns:
      The loss per example, ``scores`` without ``axis``; float32 for 16-bit
      inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.multilabel_soft_margin(jnp.array([[2.0, -1.0, 0.0]]), jnp.array([[1.0, 0.0, 1.0]]))
      Array([0.37778], dtype=float32)
    """
    s, y = _checks.floats((scores, "scores"), targets=[(labels, "labels")])
    ax = _checks.check_axis(s, axis, "scores")
    _checks.check_broadcastable_to(y, s.shape, "labels", "scores")
    y = jnp.moveaxis(jnp.broadcast_to(y, s.shape), ax, -1)
    s = jnp.moveaxis(s, ax, -1)
    num_classes = s.shape[-1]
    term = safe_mul(y, _primitives.log_sigmoid(s)) + safe_mul(1.0 - y, _primitives.log_sigmoid(-s))
    if class_weights is not None:
        cw = _checks.class_vector(class_weights, "class_weights", num_classes, s.dtype)
        term = term * jnp.broadcast_to(cw, (num_classes,)).reshape((1,) * (term.ndim - 1) + (num_classes,))
    return -jnp.sum(term, axis=-1) / num_classes


def multilabel_margin(scores: ArrayLike, labels: ArrayLike, *, axis: int = -1) -> jax.Array:
    r"""Multi-label hinge loss with torch's padded lists of target classes.

    ``labels`` has the shape of ``scores``; along ``axis`` it lists the
    target classes of the example, ended by the first negative entry (torch
    pads with ``-1``). With ``J`` those classes,

    .. math:: \ell = \frac1C \sum_{j \in J} \sum_{i \notin J}
              \max(0,\ 1 - (s_j - s_i))

    which equals ``torch.nn.functional.multilabel_margin_loss(...,
    reduction='none')`` (a class listed twice counts twice, as in torch); at
    a margin of exactly 0 the derivative is 0, as in torch's kernel. A listed
    class outside ``[0, C)`` gives ``nan`` for that example (torch raises).
    Static shapes throughout: no data-dependent indexing.

    Args:
      scores: float array ``[..., C, ...]``.
      labels: integer array (any integer dtype) of the shape of ``scores``.
      axis: the class axis of ``scores`` and ``labels``.

    Returns:
      The loss per example, ``scores`` without ``axis``; float32 for 16-bit
      inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.multilabel_margin(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([[3, 0, -1, 1]]))
      Array([0.85], dtype=float32)
    """
    s = _checks.as_float(scores, "scores")
    labels = _checks.as_integer(labels, "labels")
    ax = _checks.check_axis(s, axis, "scores")
    _checks.check_same_shape(s, labels, "scores", "labels")
    x = jnp.moveaxis(s.astype(_checks.compute_dtype(s)), ax, -1)
    lab = jnp.moveaxis(labels, ax, -1)
    num_classes = x.shape[-1]
    # Entries before the first negative one are the listed classes.
    listed = jnp.cumprod((lab >= 0).astype(jnp.int32), axis=-1) > 0
    bad = jnp.any(listed & (lab >= num_classes), axis=-1)
    safe = jnp.where(listed & (lab < num_classes), lab, 0)
    classes = lax.broadcasted_iota(safe.dtype, x.shape, x.ndim - 1)
    # is_target[..., i]: class i is listed (any position k).
    is_target = jnp.any(listed[..., :, None] & (safe[..., :, None] == classes[..., None, :]), axis=-2)
    listed_score = jnp.take_along_axis(x, safe, axis=-1)  # [..., K]
    z = 1.0 - (listed_score[..., :, None] - x[..., None, :])  # [..., K, C]
    pair = listed[..., :, None] & ~is_target[..., None, :]
    h = jnp.where(pair, _positive_part(z), 0.0)
    loss = jnp.sum(h, axis=(-2, -1)) / num_classes
    return jnp.where(bad, jnp.nan, loss)


@_checks.declare(
    targets="class_indices",
    labels="labels",
    classes_in="scores",
    class_axis="axis",
    class_weights="class_weights",
    non_negative=("class_weights",),
)
def multi_margin(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    p: int = 1,
    margin: float = 1.0,
    class_weights: ArrayLike | None = None,
    axis: int = -1,
) -> jax.Array:
    r"""Multi-class hinge loss summed over the wrong classes (Weston-Watkins), integer labels.

    .. math:: \ell = \frac{w_y}{C} \sum_{i \ne y} \max(0,\ m - s_y + s_i)^p

    Equals ``torch.nn.functional.multi_margin_loss(..., reduction='none')``
    with the same ``p``, ``margin`` and ``weight``, the class axis being
    ``axis`` (last by default). At a margin of exactly 0 the derivative is
    0, as in torch's kernel. A label outside ``[0, C)`` gives ``nan`` for
    that example; under
    ``jax.experimental.checkify.checkify(..., errors=checkify.user_checks)``
    it raises instead. Compare :func:`multiclass_hinge` (the largest wrong
    class only).

    Args:
      scores: float array ``[..., C, ...]``.
      labels: integer array (any integer dtype), ``scores.shape`` without
        ``axis``.
      p: 1 or 2, the power of each hinge.
      margin: the margin ``m``.
      class_weights: optional ``[C]`` weights (torch's ``weight``): an
        example is weighted by its target class's weight.
      axis: the class axis of ``scores``.

    Returns:
      The loss per example, shaped like ``labels``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.multi_margin(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([3]))
      Array([0.325], dtype=float32)
    """
    p = _checks.check_int(p, "p")
    if p not in (1, 2):
        raise _checks.error(ValueError, f"`p` must be 1 or 2, got {p!r}.")
    _checks.check_range(margin, "margin")
    s = _checks.as_float(scores, "scores")
    labels = _checks.as_integer(labels, "labels")
    ax = _checks.check_sparse_labels(s, labels, axis, "scores")
    dtype = _checks.compute_dtype(s)
    x = jnp.moveaxis(s.astype(dtype), ax, -1)
    num_classes = x.shape[-1]
    _checks.check_labels_in_range(labels, num_classes, jnp.ones(labels.shape, bool))
    in_range = (labels >= 0) & (labels < num_classes)
    safe = jnp.where(in_range, labels, 0)
    target = jnp.take_along_axis(x, safe[..., None], axis=-1, mode="promise_in_bounds")
    is_target = safe[..., None] == lax.broadcasted_iota(safe.dtype, x.shape, x.ndim - 1)
    h = _positive_part(jnp.asarray(margin, dtype) - target + x)
    if p == 2:
        h = jnp.square(h)
    loss = jnp.sum(jnp.where(is_target, 0.0, h), axis=-1)
    if class_weights is not None:
        cw = _checks.class_vector(class_weights, "class_weights", num_classes, dtype)
        loss = loss * jnp.take(jnp.broadcast_to(cw, (num_classes,)), safe)
    loss = loss / num_classes
    return jnp.where(in_range, loss, jnp.nan)


def margin_ranking(x1: ArrayLike, x2: ArrayLike, targets: ArrayLike, *, margin: float = 0.0) -> jax.Array:
    r"""Elementwise margin ranking loss :math:`\max(0,\ -y (x_1 - x_2) + m)`, ``y`` in {-1, 1}.

    ``y = 1`` asks for ``x1`` to rank above ``x2`` by ``margin``. Equals
    ``torch.nn.functional.margin_ranking_loss(..., reduction='none')``,
    including torch's derivative at a margin of exactly 0 (that of the
    linear piece).

    Args:
      x1: float array of scores.
      x2: float array broadcastable to ``x1``.
      targets: labels in {-1, 1} (any real dtype), broadcastable to ``x1``.
      margin: the margin ``m``.

    Returns:
      The elementwise loss, the shape of ``x1``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> x1, x2 = jnp.array([1.0, 0.2, 0.5]), jnp.array([0.0, 0.5, 0.5])
      >>> jaxloss.margin_ranking(x1, x2, jnp.array([1.0, 1.0, -1.0]), margin=0.1)
      Array([0. , 0.4, 0.1], dtype=float32)
    """
    _checks.check_range(margin, "margin")
    a, b, y = _checks.floats((x1, "x1"), (x2, "x2"), targets=[(targets, "targets")])
    shape = _checks.elementwise_shape(a, b, "x1", "x2")
    _checks.elementwise_shape(a, y, "x1", "targets")
    z = -jnp.broadcast_to(y, shape) * (a - jnp.broadcast_to(b, shape)) + jnp.asarray(margin, a.dtype)
    return _clamp_min_zero(z)


def hinge_embedding(predictions: ArrayLike, targets: ArrayLike, *, margin: float = 1.0) -> jax.Array:
    r"""Elementwise hinge embedding loss on (typically) distances, ``y`` in {-1, 1}.

    .. math:: \ell = \begin{cases} x & y = 1 \\ \max(0,\ m - x) & y = -1 \end{cases}

    Equals ``torch.nn.functional.hinge_embedding_loss(...,
    reduction='none')``, also for other label values (torch then adds both
    pieces) and at a margin of exactly 0 (derivative of the linear piece).

    Args:
      predictions: float array (e.g. pair distances).
      targets: labels in {-1, 1} (any real dtype), broadcastable to
        ``predictions``.
      margin: the margin ``m``.

    Returns:
      The elementwise loss, the shape of ``predictions``; float32 for 16-bit
      inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.hinge_embedding(jnp.array([0.3, 0.3, 2.0]), jnp.array([1.0, -1.0, -1.0]))
      Array([0.3, 0.7, 0. ], dtype=float32)
    """
    _checks.check_range(margin, "margin")
    x, y = _checks.floats((predictions, "predictions"), targets=[(targets, "targets")])
    shape = _checks.elementwise_shape(x, y, "predictions", "targets")
    y = jnp.broadcast_to(y, shape)
    pushed = _clamp_min_zero(jnp.asarray(margin, x.dtype) - x)
    return jnp.where(y != 1, pushed, 0.0) + jnp.where(y != -1, x, 0.0)
