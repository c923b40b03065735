"""Segmentation overlap losses: Dice and Tversky."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxloss import _checks
from jaxloss._primitives import inverse_scale, ratio, softmax


def _overlap_inputs(predictions, targets, axis, epsilon):
    """Checks and casts the inputs; returns them scaled into [-2, 2] with the scale.

    ``s`` is the power of two with ``max(1, max|p|, max|t|) / s`` in
    ``[1, 2)`` over the reduced axes, held constant: every overlap sum is a
    polynomial in ``p`` and ``t``, so scaling them by ``1 / s`` first keeps
    ``sum(p * t)`` from overflowing at ``1e30`` while the formula (and hence
    its derivative) is unchanged. The scaling is exact, and a product (XLA
    turns a division by ``s`` into a product with ``1 / s``, which flushes to
    0 for ``s`` near the float maximum). For probabilities ``s == 1`` and
    the arithmetic is Keras's own.
    """
    _checks.check_range(epsilon, "epsilon", 0.0)
    p, t = _checks.floats((predictions, "predictions"), targets=[(targets, "targets")])
    _checks.check_broadcastable_to(t, p.shape, "targets", "predictions")
    t = jnp.broadcast_to(t, p.shape)
    axes = _checks.reduce_axes(p, axis, "predictions")
    # initial=1 is the max(1, ...) of the scale, and gives an empty reduction
    # (a batch of 0 reduced over every axis) the scale 1.
    m = jnp.maximum(
        jnp.max(jnp.abs(p), axis=axes, keepdims=True, initial=1.0),
        jnp.max(jnp.abs(t), axis=axes, keepdims=True, initial=1.0),
    )
    r = inverse_scale(m)
    return p * r, t * r, jnp.squeeze(1.0 / r, axis=axes), axes


def _one_minus_ratio(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    """``1 - numerator / denominator``, and 1 with zero gradients where the denominator is 0."""
    # Double where: a zero denominator (zero vectors with epsilon == 0) never
    # reaches the division, so neither the value nor a gradient sees 0 / 0.
    ok = denominator != 0
    return jnp.where(ok, 1.0 - ratio(numerator, jnp.where(ok, denominator, 1.0)), 1.0)


def dice(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    axis: int | tuple[int, ...] | None = -1,
    epsilon: float = 1e-7,
) -> jax.Array:
    r"""Dice loss: one minus the soft Dice coefficient over ``axis``.

    .. math:: \ell = 1 - \frac{2 \sum p\,t}{\sum t + \sum p + \epsilon}

    the formula of ``keras.losses.dice`` (whose default ``axis`` is ``None``,
    every axis; ours is the last axis, so that the result is per example).
    Zero vectors give 1 with zero gradients, also for ``epsilon == 0``, where
    the ratio ``0 / 0`` is defined as 0 (the limit along ``p = t -> 0``).
    Inputs of any magnitude are scaled into ``[-1, 1]`` before the products
    (the formula is unchanged), so ``1e30`` does not overflow ``sum(p * t)``.

    Args:
      predictions: float array, typically probabilities in ``[0, 1]``.
      targets: array broadcastable to ``predictions`` (binary or soft masks).
      axis: an int, a tuple of ints, or ``None`` for all axes: the axes
        reduced.
      epsilon: added to the denominator, ``>= 0`` (Keras's
        ``backend.epsilon()``, 1e-7).

    Returns:
      The loss, ``predictions`` without ``axis``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> p = jnp.array([[0.9, 0.1, 0.8], [0.0, 0.0, 0.0]])
      >>> t = jnp.array([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
      >>> jaxloss.dice(p, t)
      Array([0.10526, 1.     ], dtype=float32)

    References:
      Milletari, Navab and Ahmadi, "V-Net: Fully Convolutional Neural Networks
      for Volumetric Medical Image Segmentation", 3DV 2016.
    """
    p, t, s, axes = _overlap_inputs(predictions, targets, axis, epsilon)
    # With p = s p' and t = s t': 2 s^2 sum(p' t') / (s (sum t' + sum p') + eps).
    intersection = jnp.sum(t * p, axis=axes)
    total = jnp.sum(t, axis=axes) + jnp.sum(p, axis=axes) + epsilon / s
    return _one_minus_ratio(2.0 * s * intersection, total)


def tversky(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    axis: int | tuple[int, ...] | None = -1,
    epsilon: float = 1e-7,
) -> jax.Array:
    r"""Tversky loss over ``axis`` (Salehi et al. 2017), standard naming.

    .. math:: \ell = 1 - \frac{TP}{TP + \alpha\,FP + \beta\,FN + \epsilon},\quad
              TP = \sum p\,t,\; FP = \sum p\,(1 - t),\; FN = \sum (1 - p)\,t

    ``alpha`` weighs false positives and ``beta`` false negatives, as in the
    paper. **Keras names them the other way round**: the ``alpha`` of
    ``keras.losses.tversky`` multiplies ``sum((1 - y_pred) * y_true)`` (our
    FN), so Keras's ``tversky(y_true, y_pred, alpha=a, beta=b)`` is our
    ``tversky(y_pred, y_true, alpha=b, beta=a)`` (which
    :mod:`jaxloss.compat.keras` does). With ``alpha = beta = 0.5`` it is
    :func:`dice`. Zero vectors give 1 with zero gradients, also for
    ``epsilon == 0``; inputs of any magnitude are scaled before the products.

    Args:
      predictions: float array, typically probabilities in ``[0, 1]``.
      targets: array broadcastable to ``predictions`` (binary or soft masks).
      alpha: weight of the false positives, ``>= 0``.
      beta: weight of the false negatives, ``>= 0``.
      axis: an int, a tuple of ints, or ``None`` for all axes.
      epsilon: added to the denominator, ``>= 0``.

    Returns:
      The loss, ``predictions`` without ``axis``; float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> p = jnp.array([[0.9, 0.6, 0.0]])
      >>> t = jnp.array([[1.0, 0.0, 1.0]])
      >>> jaxloss.tversky(p, t, alpha=0.3, beta=0.7)
      Array([0.51351], dtype=float32)

    References:
      Salehi, Erdogmus and Gholipour, "Tversky loss function for image
      segmentation using 3D fully convolutional deep networks", MLMI 2017.
    """
    _checks.check_range(alpha, "alpha", 0.0)
    _checks.check_range(beta, "beta", 0.0)
    p, t, s, axes = _overlap_inputs(predictions, targets, axis, epsilon)
    # With p = s p' and t = s t': p (1 - t) = s^2 p' (1/s - t'), and every term
    # of the ratio carries s^2, which cancels.
    one = 1.0 / jnp.expand_dims(s, axes)
    tp = jnp.sum(t * p, axis=axes)
    fp = jnp.sum(p * (one - t), axis=axes)
    fn = jnp.sum((one - p) * t, axis=axes)
    return _one_minus_ratio(tp, tp + alpha * fp + beta * fn + epsilon / jnp.square(s))


def generalized_dice(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    smooth: float = 1.0,
    apply_softmax: bool = True,
    ignore_background: bool = False,
) -> jax.Array:
    r"""Generalised Dice loss with class weights from the batch (Sudre et al. 2017), per example.

    For ``[B, ..., C]`` inputs, with probabilities ``p`` (a softmax over the
    last axis of the logits, a sigmoid when ``C == 1``, or the predictions
    themselves with ``apply_softmax=False``), sums over the spatial axes
    (every axis but the first and the last) ``I = sum p t``, ``P = sum p``,
    ``T = sum t``, and class weights from the class frequencies of the whole
    batch ``f_c = sum t_c`` (every axis but the last):

    .. math:: \ell_b = \frac{1}{|K|} \sum_{c \in K} w_c
              \Big(1 - \frac{I_{bc} + \mathrm{smooth}}{(P_{bc} + T_{bc}) / 2 + \mathrm{smooth}}\Big),
              \quad w_c = C\,\frac{1 / (f_c^2 + 10^{-7})}{\sum_k 1 / (f_k^2 + 10^{-7})}

    with ``K`` every class, or every class but 0 with ``ignore_background``.
    ``jnp.mean(generalized_dice(p, t))`` is
    ``optax.losses.multiclass_generalized_dice_loss(p, t, ...)`` (a scalar
    there; here one value per example, the mean over classes, since the
    weights already couple the batch). A 1-D input is one example: the
    result is a scalar. Where the denominator is 0 (``smooth == 0`` and no
    mass) the class term is ``w_c`` (a ratio ``0 / 0`` taken as 0) with
    zero gradients, not ``nan``. The probabilities are not checked to sum to
    1 with ``apply_softmax=False`` (optax checks, which cannot run under
    ``jit``).

    Args:
      predictions: float ``[B, ..., C]`` logits (or probabilities with
        ``apply_softmax=False``).
      targets: one-hot (or soft) targets broadcastable to ``predictions``.
      smooth: added to the numerator and the denominator, ``>= 0``.
      apply_softmax: turn logits into probabilities first.
      ignore_background: leave class 0 out of the mean (its weight still
        enters the normalisation, as in optax).

    Returns:
      The loss per example, ``predictions.shape[:1]`` (a scalar for 1-D
      inputs); float32 for 16-bit inputs.

    Examples:
      >>> import jax.numpy as jnp, jaxloss
      >>> logits = jnp.array([[[2.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [3.0, 0.0]]])
      >>> targets = jnp.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])
      >>> jaxloss.generalized_dice(logits, targets)
      Array([0.09717226, 0.13863117], dtype=float32)

    References:
      Sudre, Li, Vercauteren, Ourselin and Cardoso, "Generalised Dice overlap
      as a deep learning loss function for highly unbalanced segmentations",
      DLMIA 2017.
    """
    _checks.check_range(smooth, "smooth", 0.0)
    _checks.check_bool(apply_softmax, "apply_softmax")
    _checks.check_bool(ignore_background, "ignore_background")
    p, t = _checks.floats((predictions, "predictions"), targets=[(targets, "targets")])
    if p.ndim == 0:
        raise _checks.error(
            ValueError, "`predictions` must have at least one dimension (the class axis), got a scalar."
        )
    _checks.check_broadcastable_to(t, p.shape, "targets", "predictions")
    t = jnp.broadcast_to(t, p.shape)
    num_classes = p.shape[-1]
    if apply_softmax:
        p = jax.nn.sigmoid(p) if num_classes == 1 else softmax(p, axis=-1)
    frequencies = jnp.sum(t, axis=tuple(range(t.ndim - 1)))
    inverse = 1.0 / (jnp.square(frequencies) + 1e-7)
    total = jnp.sum(inverse)
    # Double where: if every frequency overflows its square, the weights are 1.
    ok = total > 0
    class_weights = jnp.where(ok, inverse / jnp.where(ok, total, 1.0) * num_classes, 1.0)
    spatial = tuple(range(1, p.ndim - 1))
    intersection = jnp.sum(p * t, axis=spatial)
    denominator = 0.5 * (jnp.sum(p, axis=spatial) + jnp.sum(t, axis=spatial)) + smooth
    per_class = _one_minus_ratio(intersection + smooth, denominator)
    per_class = per_class * class_weights.reshape((1,) * (per_class.ndim - 1) + (num_classes,))
    if ignore_background and num_classes > 1:
        per_class = per_class[..., 1:]
    return jnp.mean(per_class, axis=-1)
