"""Classification losses: from logits (softmax, sigmoid) and from probabilities."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from jaxloss import _checks
from jaxloss._primitives import (
    clip_straight_through,
    log1mexp,
    log_clipped,
    log_softmax,
    log_sum_exp_shifted,
    normalize,
    poly1_cross_entropy_rows,
    power,
    row_max,
    safe_mul,
    sigmoid_focal_weight,
    softplus,
)

# --------------------------------------------------------------------------
# shared plumbing
# --------------------------------------------------------------------------


def _check_smoothing(label_smoothing: Any) -> None:
    _checks.check_range(label_smoothing, "label_smoothing", 0.0, 1.0)


def _is_zero(value: Any) -> bool:
    """True only for a static zero, so a traced option always takes the general path."""
    return not isinstance(value, jax.core.Tracer) and jnp.ndim(value) == 0 and float(value) == 0.0


def _dense_inputs(logits, labels, axis, where, *, pred_name="logits"):
    """Validates a ``[..., C]`` prediction and same-shaped labels; moves ``axis`` last."""
    logits, labels = _checks.floats((logits, pred_name), targets=[(labels, "labels")])
    ax = _checks.check_axis(logits, axis, pred_name)
    _checks.check_broadcastable_to(labels, logits.shape, "labels", pred_name)
    labels = jnp.broadcast_to(labels, logits.shape)
    mask = _checks.as_mask(where, logits.shape, pred_name)
    logits = jnp.moveaxis(logits, ax, -1)
    labels = jnp.moveaxis(labels, ax, -1)
    if mask is not None:
        mask = jnp.moveaxis(mask, ax, -1)
        # First where of the double-where: masked labels may hold nan.
        labels = jnp.where(mask, labels, 0.0)
    return logits, labels, mask


def _class_count(logits: jax.Array, mask: jax.Array | None) -> jax.Array | int:
    """Classes taking part per row: all of them, or the unmasked ones."""
    if mask is None:
        return logits.shape[-1]
    return jnp.sum(mask, axis=-1, keepdims=True).astype(logits.dtype)


def _smooth_dense(labels, label_smoothing, num_classes, mask):
    if _is_zero(label_smoothing):
        return labels
    k = jnp.maximum(num_classes, 1) if mask is not None else num_classes
    smoothed = labels * (1.0 - label_smoothing) + label_smoothing / k
    return smoothed if mask is None else jnp.where(mask, smoothed, 0.0)


def _along_last(value: jax.Array, ndim: int) -> jax.Array:
    """A scalar or per-class vector shaped to broadcast against a ``[..., C]`` array."""
    # Explicit, so that no implicit rank promotion happens (users may run with
    # jax_numpy_rank_promotion="raise").
    return value if value.ndim == 0 else value.reshape((1,) * (ndim - 1) + value.shape)


# --------------------------------------------------------------------------
# softmax family
# --------------------------------------------------------------------------


def softmax_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    axis: int = -1,
    label_smoothing: float = 0.0,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Softmax cross-entropy between logits and label distributions.

    .. math:: \ell = -\sum_c y_c \log \mathrm{softmax}(z)_c

    Labels may be one-hot or soft; with ``label_smoothing`` ``a`` they become
    ``y * (1 - a) + a / K`` (``K`` the number of classes, or of unmasked
    classes when ``where`` is given). A class with zero label mass may have a
    ``-inf`` logit (masked vocabularies, constrained decoding): it contributes
    0 to the value and the gradient, where ``optax.softmax_cross_entropy``
    returns ``nan``. A row whose classes are all masked gives 0.

    Args:
      logits: float array ``[..., C, ...]``.
      labels: label distributions, broadcastable to ``logits``.
      axis: the class axis.
      label_smoothing: in ``[0, 1]``.
      where: optional boolean mask broadcastable to ``logits``; masked classes
        are left out of the softmax and of the sum.

    Returns:
      The loss per example: ``logits`` without ``axis``; float32 for 16-bit
      inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[2.0, -jnp.inf, 0.0]])
      >>> labels = jnp.array([[1.0, 0.0, 0.0]])
      >>> jaxloss.softmax_cross_entropy(logits, labels)
      Array([0.12693], dtype=float32)
    """
    _check_smoothing(label_smoothing)
    logits, labels, mask = _dense_inputs(logits, labels, axis, where)
    labels = _smooth_dense(labels, label_smoothing, _class_count(logits, mask), mask)
    log_p = log_softmax(logits, -1, where=mask)
    # 0 * -inf is dropped: a zero-mass class with a -inf logit adds nothing.
    return -jnp.sum(safe_mul(labels, log_p), axis=-1)


@_checks.declare(
    targets="class_indices",
    labels="labels",
    classes_in="logits",
    class_axis="axis",
    ignore_index="ignore_index",
    class_weights="class_weights",
    non_negative=("class_weights",),
)
def sparse_softmax_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    axis: int = -1,
    label_smoothing: float = 0.0,
    class_weights: ArrayLike | None = None,
    ignore_index: int | None = None,
    z_loss: float = 0.0,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Softmax cross-entropy with integer labels, without building a one-hot.

    With ``lse = logsumexp(z)``, ``w`` the class weights (1 when absent) and
    ``a`` the label smoothing over ``K`` classes, per example

    .. math:: \ell = (1 - a)\, w_y (\mathrm{lse} - z_y)
              + \frac{a}{K} \sum_c w_c (\mathrm{lse} - z_c)
              + \lambda_z\, \mathrm{lse}^2

    which is ``torch.nn.functional.cross_entropy(..., reduction="none")`` with
    the same ``weight``, ``ignore_index`` and ``label_smoothing``, plus the
    z-loss of PaLM. An example whose label is ``ignore_index`` gives 0 (value
    and gradient). A label outside ``[0, C)`` that is not ``ignore_index``
    gives ``nan`` for that example, never a silent 0; under
    ``jax.experimental.checkify.checkify(..., errors=checkify.user_checks)``
    it raises instead. Classes masked by ``where`` (or with a ``-inf`` logit)
    are left out of the normaliser and of the smoothing sum (``K`` counts the
    rest); a row with every class masked gives 0.

    16-bit logits are computed in float32 (fused by XLA, no float32 copy of
    the logits is kept for the backward pass beyond what autodiff needs).

    Args:
      logits: float array ``[..., C, ...]``.
      labels: integer array, ``logits.shape`` without ``axis``.
      axis: the class axis of ``logits``.
      label_smoothing: in ``[0, 1]``.
      class_weights: optional ``[C]`` weights (torch's ``weight``).
      ignore_index: optional label value whose examples give 0.
      z_loss: coefficient of ``logsumexp(logits) ** 2``, ``>= 0``.
      where: optional boolean mask broadcastable to ``logits`` (masks classes).

    Returns:
      The loss per example, shaped like ``labels``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
      >>> jaxloss.sparse_softmax_cross_entropy(logits, jnp.array([0, -100]), ignore_index=-100)
      Array([0.41703, 0.     ], dtype=float32)
    """
    logits = _checks.as_float(logits, "logits")
    labels = _checks.as_integer(labels, "labels")
    ax = _checks.check_sparse_labels(logits, labels, axis, "logits")
    _check_smoothing(label_smoothing)
    _checks.check_range(z_loss, "z_loss", 0.0)
    ignore_index = _checks.check_ignore_index(ignore_index)
    dtype = _checks.compute_dtype(logits)
    mask = _checks.as_mask(where, logits.shape, "logits")
    x = jnp.moveaxis(logits.astype(dtype), ax, -1)
    num_classes = x.shape[-1]
    if mask is not None:
        x = jnp.where(jnp.moveaxis(mask, ax, -1), x, -jnp.inf)

    in_range = (labels >= 0) & (labels < num_classes)
    ignored = (labels == ignore_index) if ignore_index is not None else jnp.zeros(labels.shape, bool)
    _checks.check_labels_in_range(labels, num_classes, ~ignored)
    if ignore_index is not None:
        # First where of the double where: an ignored example's logits (which
        # may hold nan or inf) become 0 before anything reads them, so its
        # value and every derivative are exactly 0.
        x = jnp.where(ignored[..., None], jnp.zeros((), x.dtype), x)

    # With m the row max and log_s = log(sum(exp(z - m))): lse = m + log_s and
    # nll = log_s - (z_y - m). Subtracting m from the target logit first keeps
    # full precision when the target dominates (lse - z_y would cancel).
    shift = row_max(x, -1)
    # Keep the exponentials for the gradient unless x is a float32 copy of
    # 16-bit logits (which would make them a second [..., C] temporary).
    log_s = log_sum_exp_shifted(x, shift, -1, logits.dtype == dtype)[..., 0]
    shift = shift[..., 0]
    row_ok = log_s > -jnp.inf  # at least one class is not masked
    safe_log_s = jnp.where(row_ok, log_s, 0.0)
    safe_lse = shift + safe_log_s
    # The target logit by a gather of one element per example (its transpose
    # is an in-place scatter into the gradient): no one-hot, and no [..., C]
    # temporary, which a select-and-sum would materialise.
    safe_labels = jnp.where(in_range, labels, 0)
    target_logit = jnp.take_along_axis(x, safe_labels[..., None], axis=-1, mode="promise_in_bounds")[..., 0]
    nll = safe_log_s - (target_logit - shift)

    if class_weights is not None:
        cw = _checks.class_vector(class_weights, "class_weights", num_classes, dtype)
        w_y = jnp.take(jnp.broadcast_to(cw, (num_classes,)), safe_labels)
        loss = w_y * nll
    else:
        cw = None
        loss = nll
    if not _is_zero(label_smoothing):
        kept = x > -jnp.inf
        # sum_c w_c (lse - z_c) over kept classes; masked z_c = -inf never
        # enters the product (double where).
        gap = jnp.where(kept, safe_log_s[..., None] - (jnp.where(kept, x, 0.0) - shift[..., None]), 0.0)
        if cw is not None:
            gap = gap * _along_last(cw, gap.ndim)
        k = jnp.maximum(jnp.sum(kept, axis=-1), 1).astype(dtype)
        loss = (1.0 - label_smoothing) * loss + label_smoothing * jnp.sum(gap, axis=-1) / k
    if not _is_zero(z_loss):
        loss = loss + z_loss * jnp.square(safe_lse)

    keep = row_ok & ~ignored
    loss = jnp.where(keep, loss, 0.0)
    return jnp.where(in_range | ignored, loss, jnp.nan)


@_checks.declare(targets="distributions", non_negative=("alpha",))
def softmax_focal_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    alpha: ArrayLike | None = None,
    gamma: float = 2.0,
    axis: int = -1,
    label_smoothing: float = 0.0,
) -> jax.Array:
    r"""Focal loss over a softmax (Lin et al. 2017), with per-class ``alpha``.

    .. math:: \ell = -\sum_c \alpha_c (1 - p_c)^\gamma\, y_c \log p_c,
              \quad p = \mathrm{softmax}(z)

    ``(1 - p)^gamma`` is computed as ``exp(gamma * log1mexp(log p))``, so its
    gradient stays finite when ``p`` rounds to exactly 1 and is exactly 1 when
    ``gamma == 0`` (plain cross-entropy).

    Args:
      logits: float array ``[..., C, ...]``.
      labels: one-hot or soft labels, broadcastable to ``logits``.
      alpha: ``None`` (1), a scalar or a ``[C]`` array of class weights.
      gamma: focusing parameter, ``>= 0``.
      axis: the class axis.
      label_smoothing: in ``[0, 1]``, as in :func:`softmax_cross_entropy`.

    Returns:
      The loss per example (``logits`` without ``axis``).

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[3.0, 0.0, -1.0]])
      >>> labels = jnp.array([[1.0, 0.0, 0.0]])
      >>> jaxloss.softmax_focal_loss(logits, labels, gamma=2.0)
      Array([0.00026784], dtype=float32)

    References:
      Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.
    """
    _check_smoothing(label_smoothing)
    _checks.check_range(gamma, "gamma", 0.0)
    logits, labels, _ = _dense_inputs(logits, labels, axis, None)
    labels = _smooth_dense(labels, label_smoothing, logits.shape[-1], None)
    log_p = log_softmax(logits, -1)
    modulating = jnp.exp(safe_mul(jnp.asarray(gamma, logits.dtype), log1mexp(log_p)))
    per_class = modulating * safe_mul(labels, log_p)
    if alpha is not None:
        alpha = _checks.class_vector(alpha, "alpha", logits.shape[-1], logits.dtype)
        per_class = per_class * _along_last(alpha, per_class.ndim)
    return -jnp.sum(per_class, axis=-1)


def poly1_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    epsilon: float = 1.0,
    axis: int = -1,
    label_smoothing: float = 0.0,
) -> jax.Array:
    r"""Poly-1 cross-entropy (PolyLoss): cross-entropy plus ``epsilon * (1 - p_t)``.

    .. math:: \ell = \mathrm{CE}(z, y) + \epsilon \sum_c y_c (1 - p_c)

    the form optax's ``poly_loss_cross_entropy`` uses (``p_t = sum(y * p)`` for
    normalised labels). Labels are smoothed first when ``label_smoothing`` is
    set. Note optax's default ``epsilon`` is 2.0; the paper's and ours is 1.0.

    Args:
      logits: float array ``[..., C, ...]``.
      labels: one-hot or soft labels, broadcastable to ``logits``.
      epsilon: coefficient of the poly-1 term (may be negative, ``>= -1`` keeps
        the loss monotone).
      axis: the class axis.
      label_smoothing: in ``[0, 1]``.

    Returns:
      The loss per example (``logits`` without ``axis``).

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.poly1_cross_entropy(jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 0.0]]))
      Array([0.58220], dtype=float32)

    References:
      Leng et al., "PolyLoss: A Polynomial Expansion Perspective of
      Classification Loss Functions", ICLR 2022.
    """
    _check_smoothing(label_smoothing)
    _checks.check_range(epsilon, "epsilon")
    logits, labels, _ = _dense_inputs(logits, labels, axis, None)
    labels = _smooth_dense(labels, label_smoothing, logits.shape[-1], None)
    return poly1_cross_entropy_rows(logits, labels, float(epsilon))


@_checks.declare(targets="distributions", class_weights="class_weights", non_negative=("class_weights",))
def weak_cross_entropy_2d(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    epsilon: float = 1e-4,
    class_weights: ArrayLike | None = None,
) -> jax.Array:
    r"""Per-pixel softmax cross-entropy for segmentation (tflearn's weak form).

    .. math:: \ell = -\sum_c h_c\, y_c \log \mathrm{softmax}(z + \epsilon)_c

    ``labels`` are one-hot ``[..., C]``; ``class_weights`` ``h`` (tflearn's
    ``head``) weight each class. tflearn adds ``epsilon`` to the logits before
    the softmax, which changes nothing but rounding; it is kept for identical
    values. Unlike tflearn's ``log(softmax(.))``, ``log_softmax`` keeps the
    value finite for logits far apart.

    Args:
      logits: float array ``[..., C]`` (e.g. ``[batch, height, width, C]``).
      labels: one-hot labels of the same shape (any numeric dtype).
      epsilon: added to the logits, as in tflearn.
      class_weights: optional ``[C]`` weights.

    Returns:
      The loss per pixel, ``logits.shape[:-1]``.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.zeros((1, 2, 2, 3))
      >>> labels = jnp.zeros((1, 2, 2, 3)).at[..., 0].set(1.0)
      >>> jaxloss.weak_cross_entropy_2d(logits, labels).shape
      (1, 2, 2)
    """
    logits, labels, _ = _dense_inputs(logits, labels, -1, None)
    _checks.check_range(epsilon, "epsilon")
    log_p = log_softmax(logits + epsilon, -1)
    weighted = labels
    if class_weights is not None:
        cw = _checks.class_vector(class_weights, "class_weights", logits.shape[-1], logits.dtype)
        weighted = labels * _along_last(cw, labels.ndim)
    return -jnp.sum(safe_mul(weighted, log_p), axis=-1)


# --------------------------------------------------------------------------
# sigmoid family
# --------------------------------------------------------------------------


def _binary_inputs(logits, labels, label_smoothing, pred_name="logits"):
    _check_smoothing(label_smoothing)
    logits, labels = _checks.floats((logits, pred_name), targets=[(labels, "labels")])
    shape = _checks.elementwise_shape(logits, labels, pred_name, "labels")
    # Explicit broadcast: no implicit rank promotion in the formulas below.
    logits, labels = jnp.broadcast_to(logits, shape), jnp.broadcast_to(labels, shape)
    if not _is_zero(label_smoothing):
        labels = labels * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return logits, labels


@_checks.declare(non_negative=("pos_weight",))
def sigmoid_binary_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    label_smoothing: float = 0.0,
    pos_weight: ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise sigmoid cross-entropy from logits.

    .. math:: \ell = q\, y\, \mathrm{softplus}(-z) + (1 - y)\, \mathrm{softplus}(z)

    which is ``tf.nn.weighted_cross_entropy_with_logits`` with ``pos_weight``
    ``q`` (1 when absent) and ``tf.nn.sigmoid_cross_entropy_with_logits``
    without. Labels are smoothed towards 1/2: ``y * (1 - a) + a / 2``. Logits
    of ``+-inf`` give 0 or ``inf``, never ``nan``; finite logits of any
    magnitude give finite values and gradients.

    Args:
      logits: float array.
      labels: targets in ``[0, 1]``, broadcastable with ``logits``.
      label_smoothing: in ``[0, 1]``.
      pos_weight: optional weight of the positive term, broadcastable.

    Returns:
      The elementwise loss, the broadcast shape of the inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.sigmoid_binary_cross_entropy(jnp.array([-18.6, 0.51, 2.94, -12.8]),
      ...                                      jnp.array([0.0, 1.0, 0.0, 0.0]))
      Array([8.358e-09, 4.703e-01, 2.992e+00, 2.761e-06], dtype=float32)
    """
    logits, labels = _binary_inputs(logits, labels, label_smoothing)
    positive = labels
    if pos_weight is not None:
        pos_weight = _checks.as_numeric(pos_weight, "pos_weight").astype(logits.dtype)
        _checks.elementwise_shape(logits, pos_weight, "logits", "pos_weight")
        shape = np.broadcast_shapes(logits.shape, pos_weight.shape)
        logits, labels = jnp.broadcast_to(logits, shape), jnp.broadcast_to(labels, shape)
        positive = labels * jnp.broadcast_to(pos_weight, shape)
    # softplus(-z) = -log(sigmoid(z)), softplus(z) = -log(1 - sigmoid(z));
    # safe_mul drops the infinite softplus of a +-inf logit when its label
    # coefficient is 0, so the value is 0 or inf, not nan.
    return safe_mul(positive, softplus(-logits)) + safe_mul(1.0 - labels, softplus(logits))


def sigmoid_focal_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    alpha: float | None = None,
    gamma: float = 2.0,
    label_smoothing: float = 0.0,
) -> jax.Array:
    r"""Elementwise sigmoid focal loss (Lin et al. 2017), as optax computes it.

    .. math:: \ell = \alpha_t\, (1 - p_t)^\gamma\, \mathrm{BCE}(z, y),\quad
              1 - p_t = y\,\sigma(-z) + (1 - y)\,\sigma(z)

    with ``alpha_t = alpha * y + (1 - alpha) * (1 - y)`` when ``alpha`` is
    given. ``(1 - p_t)^gamma`` is computed in log space from log-sigmoids, so
    the value and gradient stay finite (and exact) for logits of any
    magnitude and for ``gamma`` below 1.

    Args:
      logits: float array.
      labels: targets in ``[0, 1]``, broadcastable with ``logits``.
      alpha: optional weight of the positive class in ``[0, 1]``.
      gamma: focusing parameter, ``>= 0``.
      label_smoothing: in ``[0, 1]``, towards 1/2.

    Returns:
      The elementwise loss.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.sigmoid_focal_loss(jnp.array([2.0, -1.0]), jnp.array([1.0, 1.0]), alpha=0.25)
      Array([0.00045, 0.17547], dtype=float32)

    References:
      Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.
    """
    _checks.check_range(gamma, "gamma", 0.0)
    if alpha is not None:
        _checks.check_range(alpha, "alpha", 0.0, 1.0)
    logits, labels = _binary_inputs(logits, labels, label_smoothing)
    ce = safe_mul(labels, softplus(-logits)) + safe_mul(1.0 - labels, softplus(logits))
    # (1 - p_t) ** gamma from log-sigmoids, with a derivative that stays
    # finite where the cross-entropy is ~1e38.
    modulating = sigmoid_focal_weight(logits, labels, jnp.asarray(gamma, logits.dtype))
    loss = safe_mul(modulating, ce)
    if alpha is not None:
        loss = (alpha * labels + (1.0 - alpha) * (1.0 - labels)) * loss
    return loss


# --------------------------------------------------------------------------
# from probabilities (Keras values, gradients that survive the clip)
# --------------------------------------------------------------------------


@_checks.declare(probabilities="probs")
def categorical_cross_entropy(
    probs: ArrayLike,
    labels: ArrayLike,
    *,
    axis: int = -1,
    label_smoothing: float = 0.0,
    epsilon: float = 1e-7,
) -> jax.Array:
    r"""Categorical cross-entropy from probabilities, with Keras's values.

    The probabilities are renormalised along ``axis`` and clipped to
    ``[epsilon, 1 - epsilon]`` exactly as ``keras.losses.categorical_crossentropy``
    does, so values agree; but where Keras's clip makes the gradient exactly 0
    (probabilities of exactly 0 or 1, and training stalls), ours is the
    derivative of the formula at the clipped point: finite and of the right
    sign. A row of zeros (``sum == 0``) is not renormalised and gives
    ``-sum(y) * log(epsilon)``, not ``nan``.

    Args:
      probs: float probabilities ``[..., C, ...]`` (need not sum to 1).
      labels: one-hot or soft labels, broadcastable to ``probs``.
      axis: the class axis.
      label_smoothing: in ``[0, 1]``: ``y * (1 - a) + a / C``.
      epsilon: the clip, ``0 <= epsilon < 0.5`` (Keras's default 1e-7).

    Returns:
      The loss per example (``probs`` without ``axis``).

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> y_true = jnp.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
      >>> y_pred = jnp.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
      >>> jaxloss.categorical_cross_entropy(y_pred, y_true)
      Array([0.05129, 2.30259 ], dtype=float32)
    """
    _check_smoothing(label_smoothing)
    _checks.check_range(epsilon, "epsilon", 0.0, 0.5, high_open=True)
    probs, labels, _ = _dense_inputs(probs, labels, axis, None, pred_name="probs")
    labels = _smooth_dense(labels, label_smoothing, probs.shape[-1], None)
    probs = normalize(probs, -1)
    # safe_mul: with epsilon == 0 a zero label meets log(0) = -inf.
    return -jnp.sum(safe_mul(labels, log_clipped(probs, epsilon)), axis=-1)


@_checks.declare(probabilities="probs")
def binary_cross_entropy(
    probs: ArrayLike,
    labels: ArrayLike,
    *,
    label_smoothing: float = 0.0,
    epsilon: float = 1e-7,
) -> jax.Array:
    r"""Elementwise binary cross-entropy from probabilities, with Keras's values.

    .. math:: \ell = -y \log \bar p - (1 - y) \log(1 - \bar p),\quad
              \bar p = \mathrm{clip}(p, \epsilon, 1 - \epsilon)

    The same formula and clip as Keras (so the same values), but the gradient
    at a clipped probability is the derivative of the formula at the clipped
    point instead of Keras's exact 0. Labels are smoothed towards 1/2.

    Args:
      probs: float probabilities.
      labels: targets in ``[0, 1]``, broadcastable with ``probs``.
      label_smoothing: in ``[0, 1]``.
      epsilon: the clip, ``0 <= epsilon < 0.5``.

    Returns:
      The elementwise loss (Keras's function also means over the last axis;
      :mod:`jaxloss.compat.keras` does that).

    Examples:
      >>> import jax, jax.numpy as jnp, jaxloss
      >>> jaxloss.binary_cross_entropy(jnp.array([0.6, 0.4]), jnp.array([0.0, 1.0]))
      Array([0.91629, 0.91629 ], dtype=float32)
      >>> float(jax.grad(lambda p: jaxloss.binary_cross_entropy(p, 1.0))(1.0))  # Keras: 0.0
      -1.0000001
    """
    _checks.check_range(epsilon, "epsilon", 0.0, 0.5, high_open=True)
    probs, labels = _binary_inputs(probs, labels, label_smoothing, pred_name="probs")
    return _clipped_binary_cross_entropy(probs, labels, epsilon)


def _clipped_binary_cross_entropy(probs: jax.Array, labels: jax.Array, epsilon: float) -> jax.Array:
    """Keras's BCE on probabilities clipped to ``[eps, 1 - eps]``; the clip passes its tangent through."""
    one = jnp.asarray(1.0, probs.dtype)
    eps = jnp.asarray(epsilon, probs.dtype)
    clipped = clip_straight_through(probs, eps, one - eps)
    return -(safe_mul(labels, jnp.log(clipped)) + safe_mul(1.0 - labels, jnp.log(1.0 - clipped)))


@_checks.declare(probabilities="probs")
def log_loss(
    probs: ArrayLike,
    labels: ArrayLike,
    *,
    epsilon: float = 1e-7,
) -> jax.Array:
    r"""Elementwise log loss with an additive epsilon (TensorFlow's form).

    .. math:: \ell = -y \log(p + \epsilon) - (1 - y) \log(1 - p + \epsilon)

    the values of ``tf.compat.v1.losses.log_loss`` (and scikit-learn's
    smoothing by addition rather than clipping). Unlike
    :func:`binary_cross_entropy` nothing is clipped, so the derivative is the
    formula's everywhere on ``[0, 1]``: finite at probabilities of exactly 0
    and 1 for ``epsilon > 0``.

    Args:
      probs: float probabilities in ``[0, 1]``.
      labels: targets in ``[0, 1]``, broadcastable with ``probs``.
      epsilon: added inside both logs, ``>= 0``.

    Returns:
      The elementwise loss, the broadcast shape; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.log_loss(jnp.array([0.8, 1.0]), jnp.array([1.0, 0.0]))
      Array([ 0.22314, 16.11810 ], dtype=float32)
    """
    _checks.check_range(epsilon, "epsilon", 0.0)
    probs, labels = _binary_inputs(probs, labels, 0.0, pred_name="probs")
    # safe_mul keeps a zero-label term at 0 when epsilon == 0 and its log is -inf.
    # TF rounds 1 - p before adding epsilon; the barrier stops XLA from folding
    # (1 - p) + eps into (1 + eps) - p under jit (16.12 vs 15.94 at p = 1).
    complement = lax.optimization_barrier(1.0 - probs)
    return -(safe_mul(labels, jnp.log(probs + epsilon)) + safe_mul(1.0 - labels, jnp.log(complement + epsilon)))


# --------------------------------------------------------------------------
# powers of probabilities, focal and generalized cross-entropies
# --------------------------------------------------------------------------


@_checks.declare(targets="class_indices", labels="labels", classes_in="probs", class_axis="axis", probabilities="probs")
def generalized_cross_entropy(
    probs: ArrayLike,
    labels: ArrayLike,
    *,
    q: ArrayLike = 0.5,
    axis: int = -1,
) -> jax.Array:
    r"""Generalized cross-entropy (Zhang & Sabuncu 2018) from probabilities.

    .. math:: \ell = \frac{1 - p_y^{\,q}}{q}

    with ``p_y`` the probability of the integer label ``y``, the value of
    ``keras.losses.categorical_generalized_cross_entropy`` (no
    renormalisation, no clip). ``q -> 0`` tends to cross-entropy, ``q = 1`` is
    ``1 - p_y`` (MAE on a one-hot). The derivative ``-p_y**(q - 1)`` is
    infinite at ``p_y == 0`` for ``q < 1``; there it is taken at
    ``p_y = sqrt(tiny)`` (about 1e-19 in float32), finite to the Hessian,
    and exact for every larger ``p_y``. Labels outside ``[0, C)`` give ``nan``
    (Keras's one-hot silently gives ``1 / q``); under
    ``jax.experimental.checkify.checkify(..., errors=checkify.user_checks)``
    they raise.

    Args:
      probs: float probabilities ``[..., C, ...]`` in ``[0, 1]``.
      labels: integer labels, the shape of ``probs`` without ``axis``.
      q: in ``(0, 1]``.
      axis: the class axis of ``probs``.

    Returns:
      The loss per example, shaped like ``labels``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> probs = jnp.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
      >>> jaxloss.generalized_cross_entropy(probs, jnp.array([0, 1]), q=0.5)
      Array([0.32668, 1.36754 ], dtype=float32)

    References:
      Zhang and Sabuncu, "Generalized Cross Entropy Loss for Training Deep
      Neural Networks with Noisy Labels", NeurIPS 2018.
    """
    probs = _checks.as_float(probs, "probs")
    labels = _checks.as_integer(labels, "labels")
    ax = _checks.check_sparse_labels(probs, labels, axis, "probs")
    _checks.check_range(q, "q", 0.0, 1.0, low_open=True)
    dtype = _checks.compute_dtype(probs)
    x = jnp.moveaxis(probs.astype(dtype), ax, -1)
    num_classes = x.shape[-1]
    in_range = (labels >= 0) & (labels < num_classes)
    _checks.check_labels_in_range(labels, num_classes, jnp.ones(labels.shape, bool))
    safe_labels = jnp.where(in_range, labels, 0)
    p_y = jnp.take_along_axis(x, safe_labels[..., None], axis=-1, mode="promise_in_bounds")[..., 0]
    q = jnp.asarray(q, dtype)
    loss = (1.0 - power(p_y, q)) / q
    return jnp.where(in_range, loss, jnp.nan)


@_checks.declare(probabilities="probs")
def binary_focal_cross_entropy(
    probs: ArrayLike,
    labels: ArrayLike,
    *,
    alpha: float | None = None,
    gamma: float = 2.0,
    label_smoothing: float = 0.0,
    epsilon: float = 1e-7,
) -> jax.Array:
    r"""Elementwise binary focal cross-entropy from probabilities, with Keras's values.

    .. math:: \ell = \alpha_t\,(1 - p_t)^\gamma\, \mathrm{BCE}(\bar p, y),\quad
              p_t = y\,p + (1 - y)(1 - p),\quad
              \bar p = \mathrm{clip}(p, \epsilon, 1 - \epsilon)

    exactly as ``keras.losses.binary_focal_crossentropy`` computes it before
    its mean over the last axis: labels smoothed towards 1/2 first, the
    cross-entropy on the clipped probability, the modulating factor on the
    **unclipped** one. ``alpha=None`` applies no class balancing; a number
    gives ``alpha_t = y alpha + (1 - y)(1 - alpha)`` (Keras's
    ``apply_class_balancing=True`` with that ``alpha``). Where Keras's clip
    makes the gradient 0 (probabilities of exactly 0 or 1), ours is the
    formula's derivative at the clipped point; the derivative of
    ``(1 - p_t)**gamma`` is finite at ``p_t == 1`` for any ``gamma >= 0``.

    Args:
      probs: float probabilities in ``[0, 1]``.
      labels: targets in ``[0, 1]``, broadcastable with ``probs``.
      alpha: ``None``, or the weight of the positive class in ``[0, 1]``.
      gamma: focusing parameter, ``>= 0``.
      label_smoothing: in ``[0, 1]``, towards 1/2.
      epsilon: the clip, ``0 <= epsilon < 0.5``.

    Returns:
      The elementwise loss, the broadcast shape; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> jaxloss.binary_focal_cross_entropy(jnp.array([0.6, 0.4]), jnp.array([0.0, 1.0]))
      Array([0.32987, 0.32987], dtype=float32)

    References:
      Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.
    """
    _checks.check_range(gamma, "gamma", 0.0)
    _checks.check_range(epsilon, "epsilon", 0.0, 0.5, high_open=True)
    if alpha is not None:
        _checks.check_range(alpha, "alpha", 0.0, 1.0)
    probs, labels = _binary_inputs(probs, labels, label_smoothing, pred_name="probs")
    bce = _clipped_binary_cross_entropy(probs, labels, epsilon)
    p_t = labels * probs + (1.0 - labels) * (1.0 - probs)
    loss = power(1.0 - p_t, jnp.asarray(gamma, probs.dtype)) * bce
    if alpha is not None:
        loss = (labels * alpha + (1.0 - labels) * (1.0 - alpha)) * loss
    return loss


@_checks.declare(probabilities="probs", non_negative=("alpha",))
def categorical_focal_cross_entropy(
    probs: ArrayLike,
    labels: ArrayLike,
    *,
    alpha: ArrayLike | None = None,
    gamma: float = 2.0,
    axis: int = -1,
    label_smoothing: float = 0.0,
    epsilon: float = 1e-7,
) -> jax.Array:
    r"""Categorical focal cross-entropy from probabilities, with Keras's values.

    .. math:: \ell = -\sum_c \alpha_c\,(1 - \bar p_c)^\gamma\, y_c \log \bar p_c,\quad
              \bar p = \mathrm{clip}(p / \textstyle\sum p, \epsilon, 1 - \epsilon)

    as ``keras.losses.categorical_focal_crossentropy`` computes it (labels
    smoothed as ``y (1 - a) + a / C``, probabilities renormalised along
    ``axis`` and clipped, the modulating factor on the clipped probability).
    ``alpha=None`` means no alpha factor (Keras always multiplies by its
    ``alpha``, 0.25 by default, which :mod:`jaxloss.compat.keras` passes).
    A per-class ``alpha`` and the ``C`` of the smoothing run along ``axis``
    (Keras uses the last axis of the tensor for both whatever its ``axis``;
    the two agree for ``axis=-1``). A row of zeros is not renormalised (Keras
    gives ``nan``). Where Keras's clip makes the gradient 0, ours is the
    formula's derivative at the clipped point.

    Args:
      probs: float probabilities ``[..., C, ...]`` (need not sum to 1).
      labels: one-hot or soft labels, broadcastable to ``probs``.
      alpha: ``None``, a scalar or a ``[C]`` array of class weights, ``>= 0``.
      gamma: focusing parameter, ``>= 0``.
      axis: the class axis.
      label_smoothing: in ``[0, 1]``.
      epsilon: the clip, ``0 <= epsilon < 0.5``.

    Returns:
      The loss per example (``probs`` without ``axis``); float32 for 16-bit
      inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> y_true = jnp.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
      >>> y_pred = jnp.array([[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]])
      >>> jaxloss.categorical_focal_cross_entropy(y_pred, y_true, alpha=0.25)
      Array([2.634e-04, 6.759e-01], dtype=float32)

    References:
      Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.
    """
    _check_smoothing(label_smoothing)
    _checks.check_range(gamma, "gamma", 0.0)
    _checks.check_range(epsilon, "epsilon", 0.0, 0.5, high_open=True)
    probs, labels, _ = _dense_inputs(probs, labels, axis, None, pred_name="probs")
    num_classes = probs.shape[-1]
    labels = _smooth_dense(labels, label_smoothing, num_classes, None)
    probs = normalize(probs, -1)
    one = jnp.asarray(1.0, probs.dtype)
    eps = jnp.asarray(epsilon, probs.dtype)
    clipped = clip_straight_through(probs, eps, one - eps)
    # safe_mul: with epsilon == 0 a zero label meets log(0) = -inf.
    cce = -safe_mul(labels, jnp.log(clipped))
    per_class = power(1.0 - clipped, jnp.asarray(gamma, probs.dtype)) * cce
    if alpha is not None:
        alpha = _checks.class_vector(alpha, "alpha", num_classes, probs.dtype)
        per_class = per_class * _along_last(alpha, per_class.ndim)
    return jnp.sum(per_class, axis=-1)


@_checks.declare(
    targets="class_indices",
    labels="labels",
    classes_in="log_probs",
    class_axis="axis",
    ignore_index="ignore_index",
    class_weights="class_weights",
    non_negative=("class_weights",),
)
def nll(
    log_probs: ArrayLike,
    labels: ArrayLike,
    *,
    axis: int = -1,
    class_weights: ArrayLike | None = None,
    ignore_index: int | None = None,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Negative log-likelihood of integer labels given log-probabilities.

    .. math:: \ell = -w_y \log p_y

    with ``w`` the class weights (1 when absent). Equals
    ``torch.nn.functional.nll_loss(..., reduction='none')`` with the same
    ``weight`` and ``ignore_index``, except that the class axis is ``axis``
    (last by default; torch's is 1). ``log_probs`` are used as given (apply
    ``jax.nn.log_softmax`` first, or use :func:`sparse_softmax_cross_entropy`
    on logits). Only the target entry of each row is read (a gather, no
    one-hot): an example whose label is ``ignore_index``, or whose target
    entry is masked by ``where``, gives 0 with a zero gradient even when its
    entries hold ``nan``. A zero weight gives 0 also for a ``-inf`` target
    log-probability. A label outside ``[0, C)`` that is not ``ignore_index``
    gives ``nan`` for that example; under
    ``jax.experimental.checkify.checkify(..., errors=checkify.user_checks)``
    it raises instead.

    Args:
      log_probs: float array ``[..., C, ...]`` of log-probabilities.
      labels: integer array (any integer dtype), ``log_probs.shape`` without
        ``axis``.
      axis: the class axis of ``log_probs``.
      class_weights: optional ``[C]`` weights (torch's ``weight``), ``>= 0``.
      ignore_index: optional label value whose examples give 0.
      where: optional boolean mask broadcastable to ``log_probs``; an
        example whose target entry is masked gives 0.

    Returns:
      The loss per example, shaped like ``labels``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> lp = jnp.log(jnp.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]))
      >>> jaxloss.nll(lp, jnp.array([0, -100]), ignore_index=-100)
      Array([0.69315, 0.     ], dtype=float32)
    """
    lp = _checks.as_float(log_probs, "log_probs")
    labels = _checks.as_integer(labels, "labels")
    ax = _checks.check_sparse_labels(lp, labels, axis, "log_probs")
    ignore_index = _checks.check_ignore_index(ignore_index)
    dtype = _checks.compute_dtype(lp)
    mask = _checks.as_mask(where, lp.shape, "log_probs")
    x = jnp.moveaxis(lp.astype(dtype), ax, -1)
    num_classes = x.shape[-1]
    in_range = (labels >= 0) & (labels < num_classes)
    ignored = (labels == ignore_index) if ignore_index is not None else jnp.zeros(labels.shape, bool)
    _checks.check_labels_in_range(labels, num_classes, ~ignored)
    safe_labels = jnp.where(in_range, labels, 0)[..., None]
    keep = ~ignored
    if mask is not None:
        keep = keep & jnp.take_along_axis(jnp.moveaxis(mask, ax, -1), safe_labels, axis=-1)[..., 0]
    # Only the target entry is gathered, so no other entry reaches a
    # gradient; a dropped example's entry is replaced before it is used.
    target = jnp.take_along_axis(x, safe_labels, axis=-1, mode="promise_in_bounds")[..., 0]
    target = jnp.where(keep, target, 0.0)
    if class_weights is not None:
        cw = _checks.class_vector(class_weights, "class_weights", num_classes, dtype)
        w_y = jnp.take(jnp.broadcast_to(cw, (num_classes,)), safe_labels[..., 0])
        loss = safe_mul(w_y, -target)
    else:
        loss = -target
    loss = jnp.where(keep, loss, 0.0)
    return jnp.where(in_range | ignored, loss, jnp.nan)
